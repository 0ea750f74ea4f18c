/**
 * The pieces of the qemu backend's initramfs: the cpio "newc" writer (format:
 * the kernel's Documentation/driver-api/early-userspace/buffer-format.rst) and
 * the module load order taken from modules.dep.
 */
import { describe, expect, it } from 'vitest';
import { newcArchive } from '../../../src/sandbox/newc.mjs';
import { moduleLoadOrder } from '../../../src/sandbox/qemu.mjs';

interface Entry {
  name: string;
  mode: number;
  nlink: number;
  data: Buffer;
}

/** An independent newc reader: every field is checked as the kernel reads it. */
function readNewc(buf: Buffer): Entry[] {
  const out: Entry[] = [];
  let off = 0;
  for (;;) {
    expect(off % 4).toBe(0);
    expect(buf.toString('ascii', off, off + 6)).toBe('070701');
    const field = (i: number): number => Number.parseInt(buf.toString('ascii', off + 6 + i * 8, off + 14 + i * 8), 16);
    const mode = field(1);
    const nlink = field(4);
    const size = field(6);
    const nameSize = field(11);
    const nameStart = off + 110;
    expect(buf[nameStart + nameSize - 1]).toBe(0);
    const name = buf.toString('utf8', nameStart, nameStart + nameSize - 1);
    const dataStart = Math.ceil((nameStart + nameSize) / 4) * 4;
    const data = buf.subarray(dataStart, dataStart + size);
    off = Math.ceil((dataStart + size) / 4) * 4;
    if (name === 'TRAILER!!!') {
      expect(off).toBe(buf.length);
      return out;
    }
    out.push({ name, mode, nlink, data: Buffer.from(data) });
  }
}

describe('newcArchive', () => {
  it('writes directories, files and symlinks that read back with their modes and contents', () => {
    const busybox = Buffer.from([0x7f, 0x45, 0x4c, 0x46, 1, 2, 3]); // 7 bytes: needs padding
    const archive = newcArchive([
      { name: 'bin', type: 'dir' },
      { name: '/bin/busybox', type: 'file', mode: 0o755, data: busybox },
      { name: 'bin/sh', type: 'symlink', target: 'busybox' },
      { name: 'init', type: 'file', mode: 0o755, data: '#!/bin/sh\necho hi\n' },
      { name: 'empty', type: 'file', data: '' },
    ]);
    const entries = readNewc(archive);
    expect(entries.map((e) => e.name)).toEqual(['bin', 'bin/busybox', 'bin/sh', 'init', 'empty']);
    expect(entries[0].mode).toBe(0o040755);
    expect(entries[0].nlink).toBe(2);
    expect(entries[1].mode).toBe(0o100755);
    expect(entries[1].data.equals(busybox)).toBe(true);
    expect(entries[2].mode).toBe(0o120777);
    expect(entries[2].data.toString()).toBe('busybox');
    expect(entries[3].data.toString()).toBe('#!/bin/sh\necho hi\n');
    expect(entries[4].mode).toBe(0o100644);
    expect(entries[4].data.length).toBe(0);
  });

  it('rejects entries without a name or of an unknown type', () => {
    expect(() => newcArchive([{ name: '/', type: 'dir' }])).toThrow(/without a name/);
    expect(() => newcArchive([{ name: 'x', type: 'fifo' as 'dir' }])).toThrow(/x: unknown type fifo/);
  });
});

// A modules.dep excerpt of Debian's 6.1 kernel (depmod output: each module's
// dependencies, the ones loaded first listed last).
const MODULES_DEP = [
  'kernel/fs/netfs/netfs.ko:',
  'kernel/fs/fscache/fscache.ko: kernel/fs/netfs/netfs.ko',
  'kernel/fs/9p/9p.ko: kernel/net/9p/9pnet.ko kernel/fs/fscache/fscache.ko kernel/fs/netfs/netfs.ko',
  'kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko',
  'kernel/drivers/virtio/virtio_ring.ko:',
  'kernel/drivers/virtio/virtio_pci_modern_dev.ko:',
  'kernel/drivers/virtio/virtio_pci_legacy_dev.ko:',
  'kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_legacy_dev.ko kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko',
  'kernel/drivers/char/hw_random/virtio-rng.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko',
  'kernel/net/9p/9pnet.ko:',
  'kernel/net/9p/9pnet_virtio.ko: kernel/net/9p/9pnet.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko',
  '',
].join('\n');

describe('moduleLoadOrder', () => {
  it('puts every dependency before its user, each module once', () => {
    const order = moduleLoadOrder(MODULES_DEP, ['virtio_pci', '9pnet_virtio', '9p', 'virtio-rng']).map((f: string) => f.replace(/^.*\//, ''));
    expect(new Set(order).size).toBe(order.length);
    expect(order).toHaveLength(11);
    const before = (a: string, b: string): void => expect(order.indexOf(a)).toBeLessThan(order.indexOf(b));
    before('virtio_ring.ko', 'virtio.ko');
    before('virtio.ko', 'virtio_pci.ko');
    before('virtio_pci_modern_dev.ko', 'virtio_pci.ko');
    before('9pnet.ko', '9pnet_virtio.ko');
    before('netfs.ko', 'fscache.ko');
    before('fscache.ko', '9p.ko');
    before('9pnet.ko', '9p.ko');
    expect(order.at(-1)).toBe('virtio-rng.ko');
  });

  it('names a module that is not there', () => {
    expect(() => moduleLoadOrder(MODULES_DEP, ['virtiofs'])).toThrow(/module virtiofs not found/);
  });
});
