/**
 * The native openFile(path, flags, netns?) (native/src/file.cc) through
 * src/netlink/binding.ts: close-on-exec, error shape, and that a /proc/sys/net
 * file opened "in" a namespace belongs to that namespace. Needs the built addon;
 * the namespace cases need root (setns) and unshare(1).
 */
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { closeSync, constants, readFileSync, readSync, readdirSync, readlinkSync } from 'node:fs';
import { openFile } from '../../../src/netlink/binding.js';

const isRoot = process.getuid?.() === 0;

function readFd(fd: number): string {
  const b = Buffer.alloc(4096);
  const n = readSync(fd, b, 0, b.length, null);
  return b.subarray(0, n).toString();
}

/** open(2) flags as /proc/self/fdinfo shows them (octal). */
function fdFlags(fd: number): number {
  return parseInt(/flags:\s*([0-7]+)/.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))![1]!, 8);
}

describe('openFile', () => {
  it('opens with O_CLOEXEC added and returns a descriptor node:fs can use', () => {
    const fd = openFile('/proc/sys/net/ipv4/ip_forward', constants.O_RDONLY);
    try {
      expect(fd).toBeGreaterThan(2);
      expect(fdFlags(fd) & 0o2000000).toBe(0o2000000); // O_CLOEXEC
      expect(readFd(fd)).toBe(readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8'));
    } finally {
      closeSync(fd);
    }
  });

  it('throws errno errors with code, syscall and path', () => {
    let err: NodeJS.ErrnoException | undefined;
    try {
      openFile('/nonexistent/file', constants.O_RDONLY);
    } catch (e) {
      err = e as NodeJS.ErrnoException;
    }
    expect(err).toMatchObject({ errno: 2, code: 'ENOENT', syscall: 'open', path: '/nonexistent/file' });
    expect(err!.message).toBe('open(/nonexistent/file): ENOENT (No such file or directory)');
    expect(() => openFile('/proc/sys/net', constants.O_WRONLY)).toThrow(expect.objectContaining({ code: 'EISDIR', syscall: 'open' }));
  });

  it('refuses arguments of the wrong type', () => {
    expect(() => openFile(1 as unknown as string, 0)).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => openFile('/proc/sys/net/ipv4/ip_forward', '0' as unknown as number)).toThrow(TypeError);
    expect(() => openFile('/proc/sys/net/ipv4/ip_forward', 0, { netns: 5 as unknown as string })).toThrow(/"netns" argument must be a string/);
  });

  it('reports a namespace path that cannot be opened or entered', () => {
    expect(() => openFile('/proc/sys/net/ipv4/ip_forward', 0, { netns: '/nonexistent/ns' })).toThrow(
      expect.objectContaining({ code: 'ENOENT', syscall: 'open', path: '/nonexistent/ns' }),
    );
    // Not a namespace file: setns(2) says EINVAL.
    expect(() => openFile('/proc/sys/net/ipv4/ip_forward', 0, { netns: '/proc/self/stat' })).toThrow(
      expect.objectContaining({ code: isRoot ? 'EINVAL' : 'EPERM', syscall: 'setns' }),
    );
  });

  it.runIf(isRoot)('opens /proc/sys/net entries of the namespace it entered, leaving the main thread where it was', async () => {
    // A process in a fresh network namespace, which has only `lo`.
    const child = spawn('unshare', ['--net', 'sh', '-c', 'echo ready; exec sleep 30'], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout!.once('data', () => resolve());
        child.once('error', reject);
        child.once('exit', (code) => reject(new Error(`unshare exited with ${code}`)));
      });
      const netns = `/proc/${child.pid}/ns/net`;
      const ownBefore = readdirSync('/proc/sys/net/ipv4/conf').sort();
      const nsBefore = readlinkSync('/proc/thread-self/ns/net');
      expect(readlinkSync(netns)).not.toBe(nsBefore);
      // Its `lo` directory opens; an interface that only exists here does not.
      const other = ownBefore.find((n) => !['all', 'default', 'lo'].includes(n));
      closeSync(openFile('/proc/sys/net/ipv4/conf/lo', constants.O_RDONLY | constants.O_DIRECTORY, { netns }));
      if (other !== undefined) {
        expect(() => openFile(`/proc/sys/net/ipv4/conf/${other}/rp_filter`, constants.O_RDONLY, { netns })).toThrow(expect.objectContaining({ code: 'ENOENT' }));
        closeSync(openFile(`/proc/sys/net/ipv4/conf/${other}/rp_filter`, constants.O_RDONLY));
      }
      // A fresh namespace starts with the defaults: ip_forward 0, whatever the host says.
      const fd = openFile('/proc/sys/net/ipv4/ip_forward', constants.O_RDONLY, { netns });
      try {
        expect(readFd(fd)).toBe('0\n');
      } finally {
        closeSync(fd);
      }
      expect(readlinkSync('/proc/thread-self/ns/net')).toBe(nsBefore);
      expect(readdirSync('/proc/sys/net/ipv4/conf').sort()).toEqual(ownBefore);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
