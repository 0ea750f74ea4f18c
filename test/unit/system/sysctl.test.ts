/**
 * Sysctl names and values: validation, mapping to /proc/sys paths, the typed
 * ranges, and reads of the test process's own namespace (read-only: unit tests
 * never write kernel parameters).
 */
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { InvalidArgumentError } from '../../../src/errors.js';
import { Sysctl, SysctlError, formatSysctlValue, interfaceNameProblem, parseSysctlName, sysctlRange } from '../../../src/system/sysctl.js';

function thrown(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an exception');
}

describe('parseSysctlName', () => {
  it('maps dotted names to /proc/sys paths', () => {
    expect(parseSysctlName('net.ipv4.ip_forward')).toEqual({ name: 'net.ipv4.ip_forward', path: '/proc/sys/net/ipv4/ip_forward' });
    expect(parseSysctlName('net.ipv4.vs.expire_nodest_conn').path).toBe('/proc/sys/net/ipv4/vs/expire_nodest_conn');
    expect(parseSysctlName('kernel.sched-x_1.A').path).toBe('/proc/sys/kernel/sched-x_1/A');
    expect(parseSysctlName('net.ipv4.vs').path).toBe('/proc/sys/net/ipv4/vs');
  });

  it('recognises the interface component of per-interface keys', () => {
    expect(parseSysctlName('net.ipv4.conf.lo.arp_ignore')).toEqual({
      name: 'net.ipv4.conf.lo.arp_ignore',
      path: '/proc/sys/net/ipv4/conf/lo/arp_ignore',
      interface: 'lo',
      interfaceDirectory: 'net.ipv4.conf.lo',
    });
    expect(parseSysctlName('net.ipv6.conf.all.forwarding').interface).toBe('all');
    expect(parseSysctlName('net.ipv4.neigh.default.gc_stale_time').path).toBe('/proc/sys/net/ipv4/neigh/default/gc_stale_time');
    expect(parseSysctlName('net.ipv6.neigh.eth0.base_reachable_time_ms').interface).toBe('eth0');
    // Characters the kernel allows in interface names but not in other components.
    expect(parseSysctlName('net.ipv4.conf.br@x+1.rp_filter').path).toBe('/proc/sys/net/ipv4/conf/br@x+1/rp_filter');
  });

  it('maps an interface name with dots to its directory, in both spellings, with one canonical name', () => {
    const dotted = parseSysctlName('net.ipv4.conf.eth0.100.rp_filter');
    const slashed = parseSysctlName('net.ipv4.conf.eth0/100.rp_filter');
    for (const n of [dotted, slashed]) {
      expect(n.path).toBe('/proc/sys/net/ipv4/conf/eth0.100/rp_filter');
      expect(n.interface).toBe('eth0.100');
      expect(n.name).toBe('net.ipv4.conf.eth0/100.rp_filter');
      expect(n.interfaceDirectory).toBe('net.ipv4.conf.eth0/100');
    }
    // The canonical name parses back to the same file.
    expect(parseSysctlName(dotted.name).path).toBe(dotted.path);
    // '...' is a valid (if odd) interface name, not a path trick.
    expect(parseSysctlName('net.ipv4.conf./...rp_filter').path).toBe('/proc/sys/net/ipv4/conf/.../rp_filter');
    // A directory whose interface has dots: written with '/'.
    expect(parseSysctlName('net.ipv4.conf.eth0/100').path).toBe('/proc/sys/net/ipv4/conf/eth0.100');
  });

  it.each([
    ['', /must not be empty/],
    ['net..ipv4', /empty component 2/],
    ['.net', /empty component 1/],
    ['net.ipv4.', /empty component 3/],
    ['net/ipv4/ip_forward', /invalid component "net\/ipv4\/ip_forward"/],
    ['../../etc/passwd', /empty component 1/],
    ['net.ipv4.ip forward', /invalid component "ip forward"/],
    ['net.ipv4.conf.a b.rp_filter', /invalid interface component.*"a b"/],
    ['net.ipv4.conf.eth0:1.rp_filter', /invalid interface component.*"eth0:1"/],
    ['net.ipv4.conf.sixteen-chars-xx.rp_filter', /16 bytes long; interface names have at most 15/],
    ['net.ipv4.conf...rp_filter', /"\." is not a valid interface name/],
    ['net.ipv4.conf....rp_filter', /"\.\." is not a valid interface name/],
    ['net.ipv4.conf.lo.arp/ignore', /invalid last component "arp\/ignore"/],
    ['net.ipv4.conf.lo.', /invalid last component ""/],
    ['net.ipv4.conf..rp_filter', /interface component.*must not be empty/],
  ])('refuses %j', (name, message) => {
    const e = thrown(() => parseSysctlName(name));
    expect(e).toBeInstanceOf(InvalidArgumentError);
    expect(e.message).toMatch(message);
    if (name) expect((e as InvalidArgumentError).field).toBe(name);
  });

  it('refuses non-strings and overlong names', () => {
    expect(thrown(() => parseSysctlName(42)).message).toBe('name: a sysctl name must be a string, got number');
    expect(thrown(() => parseSysctlName(`a.${'b'.repeat(600)}`)).message).toMatch(/^name: a sysctl name must be at most 512 characters/);
  });
});

describe('interfaceNameProblem', () => {
  it('accepts what the kernel accepts', () => {
    for (const ok of ['lo', 'eth0', 'eth0.100', 'veth-a_b', 'x', 'a'.repeat(15), 'ü'.repeat(7)]) expect(interfaceNameProblem(ok), ok).toBeUndefined();
  });
  it('refuses what dev_valid_name() refuses', () => {
    expect(interfaceNameProblem('')).toBe('must not be empty');
    expect(interfaceNameProblem('a'.repeat(16))).toMatch(/16 bytes long/);
    expect(interfaceNameProblem('ü'.repeat(8))).toMatch(/16 bytes long/);
    expect(interfaceNameProblem('.')).toMatch(/not a valid interface name/);
    expect(interfaceNameProblem('..')).toMatch(/not a valid interface name/);
    for (const bad of ['a/b', 'a:b', 'a b', 'a\tb', 'a\nb', 'a\u0000b']) expect(interfaceNameProblem(bad), JSON.stringify(bad)).toMatch(/contains/);
    expect(interfaceNameProblem(undefined)).toBe('must be a string, got undefined');
  });
});

describe('formatSysctlValue', () => {
  it('writes integers, lists and text with a trailing newline', () => {
    expect(formatSysctlValue('kernel.foo', 1)).toBe('1\n');
    expect(formatSysctlValue('kernel.foo', -5)).toBe('-5\n');
    expect(formatSysctlValue('kernel.foo', [32768, 60999])).toBe('32768\t60999\n');
    expect(formatSysctlValue('kernel.foo', 'cubic')).toBe('cubic\n');
    expect(formatSysctlValue('kernel.foo', 'cubic\n')).toBe('cubic\n');
    expect(formatSysctlValue('kernel.foo', '')).toBe('\n');
  });

  it('refuses values that are not one line of text or integers', () => {
    expect(thrown(() => formatSysctlValue('kernel.foo', 1.5)).message).toBe('kernel.foo: value must be an integer, got 1.5');
    expect(thrown(() => formatSysctlValue('kernel.foo', Number.NaN)).message).toBe('kernel.foo: value must be an integer, got NaN');
    expect(thrown(() => formatSysctlValue('kernel.foo', 'a\nb')).message).toMatch(/^kernel\.foo: value must be one line of text/);
    expect(thrown(() => formatSysctlValue('kernel.foo', 'a\u0000')).message).toMatch(/one line of text/);
    expect(thrown(() => formatSysctlValue('kernel.foo', [])).message).toBe('kernel.foo: value must not be an empty list');
    expect(thrown(() => formatSysctlValue('kernel.foo', [1, 0.5])).message).toMatch(/every value must be an integer/);
    expect(thrown(() => formatSysctlValue('kernel.foo', null as unknown as string)).message).toMatch(/got null/);
    expect(thrown(() => formatSysctlValue('kernel.foo', 'x'.repeat(5000))).message).toMatch(/at most 4095/);
  });

  it('range-checks the keys it types, naming key and value', () => {
    expect(formatSysctlValue('net.ipv4.conf.lo.arp_ignore', 8)).toBe('8\n');
    expect(thrown(() => formatSysctlValue('net.ipv4.conf.lo.arp_ignore', 9)).message).toBe('net.ipv4.conf.lo.arp_ignore: value must be an integer 0..8, got 9');
    expect(thrown(() => formatSysctlValue('net.ipv4.conf.all.arp_announce', 3)).message).toMatch(/arp_announce: value must be an integer 0\.\.2, got 3/);
    expect(thrown(() => formatSysctlValue('net.ipv4.conf.eth0.rp_filter', -1)).message).toMatch(/0\.\.2, got -1/);
    expect(thrown(() => formatSysctlValue('net.ipv4.ip_forward', 2)).message).toMatch(/ip_forward: value must be an integer 0\.\.1 \(a boolean \(0 or 1\)\), got 2/);
    expect(thrown(() => formatSysctlValue('net.ipv4.conf.eth0/5.send_redirects', 'on')).message).toBe(
      'net.ipv4.conf.eth0/5.send_redirects: value must be an integer 0..1 (a boolean (0 or 1)), got "on"',
    );
    expect(thrown(() => formatSysctlValue('net.ipv6.conf.all.accept_untracked_na', 3)).message).toMatch(/0\.\.2/);
    // Strings for typed keys are parsed strictly and normalised.
    expect(formatSysctlValue('net.ipv4.conf.lo.arp_ignore', ' 1 \n')).toBe('1\n');
    expect(thrown(() => formatSysctlValue('net.ipv4.conf.lo.arp_ignore', '1 2')).message).toMatch(/got "1 2"/);
    expect(thrown(() => formatSysctlValue('net.ipv4.conf.lo.arp_ignore', '0x1')).message).toMatch(/got "0x1"/);
    // Untyped keys under the same prefixes take any value.
    expect(formatSysctlValue('net.ipv4.conf.lo.mc_forwarding', 7)).toBe('7\n');
  });

  it('knows the IPVS keys, including the pair and power-of-two ones', () => {
    expect(formatSysctlValue('net.ipv4.vs.expire_nodest_conn', 1)).toBe('1\n');
    expect(thrown(() => formatSysctlValue('net.ipv4.vs.expire_nodest_conn', 2)).message).toMatch(/expire_nodest_conn: value must be an integer 0\.\.1/);
    expect(formatSysctlValue('net.ipv4.vs.conn_reuse_mode', 3)).toBe('3\n');
    expect(thrown(() => formatSysctlValue('net.ipv4.vs.conn_reuse_mode', 4)).message).toMatch(/conn_reuse_mode: value must be an integer 0\.\.3 \(a bit map of 1 and 2\), got 4/);
    expect(thrown(() => formatSysctlValue('net.ipv4.vs.secure_tcp', 4)).message).toMatch(/defense mode/);
    expect(thrown(() => formatSysctlValue('net.ipv4.vs.sync_retries', 4)).message).toMatch(/0\.\.3, got 4/);
    expect(formatSysctlValue('net.ipv4.vs.sync_ports', 8)).toBe('8\n');
    expect(thrown(() => formatSysctlValue('net.ipv4.vs.sync_ports', 6)).message).toBe('net.ipv4.vs.sync_ports: must be a power of two, got 6');
    expect(thrown(() => formatSysctlValue('net.ipv4.vs.sync_ports', 0)).message).toMatch(/1\.\.1073741824/);
    expect(formatSysctlValue('net.ipv4.vs.sync_threshold', [3, 50])).toBe('3\t50\n');
    expect(formatSysctlValue('net.ipv4.vs.sync_threshold', '3 0')).toBe('3\t0\n');
    expect(thrown(() => formatSysctlValue('net.ipv4.vs.sync_threshold', [50, 50])).message).toMatch(/threshold \(50\) must be below the period \(50\)/);
    expect(thrown(() => formatSysctlValue('net.ipv4.vs.sync_threshold', 3)).message).toMatch(/value must be 2 integers 0\.\.2147483647 \(threshold and period\), got 3/);
    expect(formatSysctlValue('net.ipv4.vs.est_nice', -20)).toBe('-20\n');
    expect(thrown(() => formatSysctlValue('net.ipv4.vs.est_nice', 20)).message).toMatch(/-20\.\.19/);
    expect(thrown(() => formatSysctlValue('net.ipv4.vs.sync_refresh_period', -1)).message).toMatch(/seconds/);
  });

  it('sysctlRange() exposes the table', () => {
    expect(sysctlRange('net.ipv4.conf.lo.arp_ignore')).toEqual({ min: 0, max: 8, count: 1 });
    expect(sysctlRange('net.ipv4.conf.eth0.100.arp_announce')).toEqual({ min: 0, max: 2, count: 1 });
    expect(sysctlRange('net.ipv4.vs.sync_threshold')).toEqual({ min: 0, max: 2147483647, count: 2 });
    expect(sysctlRange('net.ipv4.tcp_fin_timeout')).toBeUndefined();
    // A per-interface name only matches per-interface rules.
    expect(sysctlRange('net.ipv4.conf.vs.arp_ignore')).toEqual({ min: 0, max: 8, count: 1 });
    expect(sysctlRange('net.ipv4.neigh.lo.arp_ignore')).toBeUndefined();
  });
});

describe('Sysctl on the test process namespace (reads only)', () => {
  const sysctl = Sysctl.open();

  it('reads what /proc/sys holds, without the newline', () => {
    expect(sysctl.netns).toBeUndefined();
    expect(sysctl.get('net.ipv4.ip_forward')).toBe(readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trimEnd());
    expect(sysctl.get('net.ipv4.ip_local_port_range')).toBe(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').replace(/\n$/, ''));
    expect(sysctl.get('net.ipv4.conf.lo.arp_ignore')).toMatch(/^\d$/);
  });

  it('snapshot() reads every key under its canonical name', () => {
    const s = sysctl.snapshot(['net.ipv4.ip_forward', 'net.ipv4.conf.lo.arp_ignore']);
    expect(s).toEqual({ 'net.ipv4.ip_forward': sysctl.get('net.ipv4.ip_forward'), 'net.ipv4.conf.lo.arp_ignore': sysctl.get('net.ipv4.conf.lo.arp_ignore') });
  });

  it('restore() of unchanged values writes nothing (so even a read-only key restores)', () => {
    const s = sysctl.snapshot(['kernel.osrelease']);
    expect(() => sysctl.restore(s)).not.toThrow();
    expect(() => sysctl.restore({ 'bad..name': '1' })).toThrow(InvalidArgumentError);
    expect(() => sysctl.restore({ 'kernel.osrelease': 1 as unknown as string })).toThrow(/snapshot value must be a string/);
    expect(() => sysctl.restore({ 'kernel.osrelease': 'a\nb' })).toThrow(/one line/);
  });

  it('restore() reports every key it could not write', () => {
    const e = thrown(() => sysctl.restore({ 'kernel.osrelease': '0.0.0-not-this', 'net.ipv4.no_such_key': '1' })) as SysctlError;
    expect(e).toBeInstanceOf(SysctlError);
    expect(e.code).toBe('ERR_SYSCTL_RESTORE');
    expect(e.errors).toHaveLength(2);
    expect(e.message).toMatch(/could not restore 2 of 2 sysctls/);
    expect(e.message).toMatch(/cannot write kernel\.osrelease: EACCES/);
    expect(e.message).toMatch(/no such sysctl net\.ipv4\.no_such_key/);
  });

  it('names missing keys and interfaces, and directories', () => {
    const e = thrown(() => sysctl.get('net.ipv4.no_such_key')) as SysctlError;
    expect(e).toBeInstanceOf(SysctlError);
    expect(e).toMatchObject({ code: 'ENOENT', errno: 2, syscall: 'open', key: 'net.ipv4.no_such_key' });
    expect(e.message).toBe('no such sysctl net.ipv4.no_such_key');
    expect(thrown(() => sysctl.get('net.ipv4.conf.nosuchif0.rp_filter')).message).toBe(
      'no such sysctl net.ipv4.conf.nosuchif0.rp_filter (no interface nosuchif0 in this network namespace)',
    );
    expect(thrown(() => sysctl.get('net.ipv4.conf.lo.no_such_key')).message).toBe('no such sysctl net.ipv4.conf.lo.no_such_key');
    expect(thrown(() => sysctl.get('net.ipv4')).message).toBe('net.ipv4 is a directory of sysctls, not a sysctl');
  });

  it('has() tells keys and directories that exist', () => {
    expect(sysctl.has('net.ipv4.ip_forward')).toBe(true);
    expect(sysctl.has('net.ipv4.conf.lo')).toBe(true);
    expect(sysctl.has('net.ipv4.conf.nosuchif0')).toBe(false);
    expect(sysctl.has('net.ipv4.no_such_key')).toBe(false);
    expect(sysctl.has('net.ipv4.ip_forward.below_a_file')).toBe(false);
    // Write-only keys exist too.
    if (existsSync('/proc/sys/net/ipv4/route/flush')) expect(sysctl.has('net.ipv4.route.flush')).toBe(true);
  });

  it('open() checks the namespace path at once', () => {
    const e = thrown(() => Sysctl.open({ netns: '/nonexistent/netns' })) as SysctlError;
    expect(e).toBeInstanceOf(SysctlError);
    expect(e).toMatchObject({ code: 'ENOENT', syscall: 'open' });
    expect(e.message).toBe('cannot enter network namespace /nonexistent/netns: open(/nonexistent/netns): ENOENT (No such file or directory)');
    // Not a namespace file: setns refuses it.
    expect(thrown(() => Sysctl.open({ netns: '/proc/self/stat' }))).toMatchObject({ code: 'EINVAL', syscall: 'setns' });
    expect(thrown(() => Sysctl.open({ netns: '' }))).toBeInstanceOf(InvalidArgumentError);
  });

  it('checks values before opening anything', () => {
    expect(thrown(() => sysctl.set('net.ipv4.conf.lo.arp_ignore', 9))).toBeInstanceOf(InvalidArgumentError);
    expect(thrown(() => sysctl.set('bad..name', 1))).toBeInstanceOf(InvalidArgumentError);
  });
});
