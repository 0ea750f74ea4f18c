// Proves the kernel-test sandbox and harness, with ipvsadm/ip only: each
// network namespace has its own IPVS table, and tests never touch the table
// of the sandbox's initial namespace.
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CommandError, createNetns, requireKernel, run, type Netns } from './harness.js';

describe('kernel sandbox', () => {
  let a: Netns;
  let b: Netns;
  let initialTable: string;

  beforeAll(() => {
    initialTable = run('ipvsadm', ['-Sn']);
    a = createNetns('sandbox-a');
    b = createNetns('sandbox-b');
  });

  afterAll(() => {
    a?.destroy();
    b?.destroy();
  });

  it('runs in a kernel with IPVS', () => {
    const info = requireKernel();
    expect(['uml', 'qemu', 'netns']).toContain(info.backend);
    expect(info.kernel).toMatch(/^\d+\.\d+/);
    expect(existsSync('/proc/net/ip_vs')).toBe(true);
    expect(run('ipvsadm', ['-Ln'])).toMatch(/IP Virtual Server version/);
  });

  it('creates namespaces under /run/netns with loopback up', () => {
    expect(a.path).toBe(`/run/netns/${a.name}`);
    expect(existsSync(a.path)).toBe(true);
    expect(a.ip('-o', 'link', 'show', 'lo')).toMatch(/state UNKNOWN|LOWER_UP/);
    expect(a.exec('ip', ['-o', 'addr', 'show', 'lo'])).toContain('127.0.0.1');
  });

  it('adds a virtual service inside a namespace only', () => {
    expect(a.ipvsadm('-Sn')).toBe('');
    a.ipvsadm('-A', '-t', '10.1.1.1:80', '-s', 'rr');
    expect(a.ipvsadm('-Sn')).toContain('-A -t 10.1.1.1:80 -s rr');
    // The sandbox's initial namespace stays untouched.
    expect(run('ipvsadm', ['-Sn'])).toBe(initialTable);
    expect(initialTable).toBe('');
  });

  it('keeps namespaces isolated from each other', () => {
    b.ipvsadm('-A', '-u', '10.2.2.2:53', '-s', 'wrr');
    b.ipvsadm('-a', '-u', '10.2.2.2:53', '-r', '10.2.2.3:53', '-m', '-w', '3');
    const inA = a.ipvsadm('-Sn');
    const inB = b.ipvsadm('-Sn');
    expect(inA).toContain('10.1.1.1:80');
    expect(inA).not.toContain('10.2.2.2');
    expect(inB).toContain('-A -u 10.2.2.2:53 -s wrr');
    expect(inB).toMatch(/-a -u 10\.2\.2\.2:53 -r 10\.2\.2\.3:53 -m -w 3/);
    expect(inB).not.toContain('10.1.1.1');
  });

  it('reports failures with stderr', () => {
    let error: unknown;
    try {
      a.ipvsadm('-A', '-t', '10.1.1.1:80', '-s', 'rr'); // already exists
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(CommandError);
    expect((error as CommandError).message).toMatch(/ipvsadm -A -t 10\.1\.1\.1:80 -s rr.*in netns sandbox-a-/);
    expect((error as CommandError).message).toMatch(/exists/i);
  });

  it('destroys namespaces', () => {
    const c = createNetns('sandbox-c');
    c.ipvsadm('-A', '-t', '10.3.3.3:443', '-s', 'sh');
    c.destroy();
    c.destroy(); // idempotent
    expect(existsSync(c.path)).toBe(false);
    expect(run('ip', ['netns', 'list'])).not.toContain(c.name);
  });
});
