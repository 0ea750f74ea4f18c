// Host setup primitives against the real kernel: sysctls read and written in a
// network namespace (and only there), IPVS sysctls as a typed object, interface
// addresses over rtnetlink, and gratuitous ARP / unsolicited NA seen by a peer
// namespace across a veth pair. Every check compares with what the kernel's own
// tools (sysctl, ip, tcpdump) report. Traffic only flows inside namespaces
// created here.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidArgumentError, NetlinkError } from '../../src/errors.js';
import { Sysctl, SysctlError } from '../../src/system/sysctl.js';
import { IpvsNotLoadedError, getIpvsSysctls, ipvsSysctlName, IPVS_SYSCTL_FIELDS, setIpvsSysctls, type IpvsSysctls } from '../../src/system/ipvs-sysctl.js';
import { Addresses } from '../../src/system/addresses.js';
import { announce } from '../../src/system/announce.js';
import { createNetns, run, type Netns } from './harness.js';

const sysctlN = (ns: Netns | undefined, key: string): string =>
  (ns ? ns.exec('sysctl', ['-n', key]) : run('sysctl', ['-n', key])).trim();

describe('Sysctl in a network namespace', () => {
  let ns: Netns;
  let other: Netns;
  let sysctl: Sysctl;

  beforeAll(() => {
    ns = createNetns('sysctl');
    other = createNetns('sysctl-other');
    sysctl = Sysctl.open({ netns: ns.path });
    ns.ip('link', 'add', 'd0', 'type', 'dummy');
    ns.ip('link', 'add', 'd0.5', 'type', 'dummy');
  });
  afterAll(() => {
    ns?.destroy();
    other?.destroy();
  });

  it('reads the same values as sysctl(8) in that namespace', () => {
    for (const key of ['net.ipv4.ip_forward', 'net.ipv4.conf.lo.arp_ignore', 'net.ipv4.conf.d0.rp_filter', 'net.ipv4.vs.conn_reuse_mode', 'net.ipv4.ip_local_port_range']) {
      expect(sysctl.get(key).replace(/\s+/g, ' '), key).toBe(sysctlN(ns, key).replace(/\s+/g, ' '));
    }
    // Multi-value keys come back as the kernel prints them.
    expect(sysctl.get('net.ipv4.vs.sync_threshold')).toMatch(/^\d+\t\d+$/);
  });

  it('writes that namespace only: not another namespace, not the initial one', () => {
    const key = 'net.ipv4.conf.all.arp_ignore';
    const initialBefore = sysctlN(undefined, key);
    const otherBefore = sysctlN(other, key);
    const target = initialBefore === '1' ? 2 : 1;
    sysctl.set(key, target);
    expect(sysctlN(ns, key)).toBe(String(target));
    expect(sysctl.get(key)).toBe(String(target));
    expect(sysctlN(other, key)).toBe(otherBefore);
    expect(sysctlN(undefined, key)).toBe(initialBefore);
    // And the handle of the other namespace reads its own value.
    expect(Sysctl.open({ netns: other.path }).get(key)).toBe(otherBefore);
    sysctl.set(key, 0);
    expect(sysctlN(ns, key)).toBe('0');
  });

  it('writes per-interface keys, including an interface name with a dot (both spellings)', () => {
    sysctl.set('net.ipv4.conf.d0.arp_announce', 2);
    expect(sysctlN(ns, 'net.ipv4.conf.d0.arp_announce')).toBe('2');
    sysctl.set('net.ipv4.conf.d0/5.arp_announce', 1);
    expect(ns.exec('cat', ['/proc/sys/net/ipv4/conf/d0.5/arp_announce']).trim()).toBe('1');
    sysctl.set('net.ipv4.conf.d0.5.arp_announce', 2);
    expect(ns.exec('cat', ['/proc/sys/net/ipv4/conf/d0.5/arp_announce']).trim()).toBe('2');
    expect(sysctl.get('net.ipv4.conf.d0/5.arp_announce')).toBe('2');
    // d0's own value was not touched by the d0.5 writes.
    expect(sysctlN(ns, 'net.ipv4.conf.d0.arp_announce')).toBe('2');
    expect(sysctl.has('net.ipv4.conf.d0/5')).toBe(true);
    expect(sysctl.has('net.ipv4.conf.d9')).toBe(false);
  });

  it('snapshot() and restore() put values back, and skip unchanged ones', () => {
    const keys = ['net.ipv4.conf.lo.arp_ignore', 'net.ipv4.conf.all.arp_announce', 'net.ipv4.ip_forward', 'net.ipv4.vs.sync_threshold'];
    const saved = sysctl.snapshot(keys);
    expect(Object.keys(saved)).toEqual(keys);
    sysctl.set('net.ipv4.conf.lo.arp_ignore', 1);
    sysctl.set('net.ipv4.conf.all.arp_announce', 2);
    sysctl.set('net.ipv4.ip_forward', 1);
    sysctl.set('net.ipv4.vs.sync_threshold', [7, 70]);
    expect(sysctlN(ns, 'net.ipv4.vs.sync_threshold').split(/\s+/)).toEqual(['7', '70']);
    sysctl.restore(saved);
    for (const k of keys) expect(sysctlN(ns, k).replace(/\s+/g, ' '), k).toBe(saved[k]!.replace(/\s+/g, ' '));
    // A snapshot survives JSON.
    sysctl.restore(JSON.parse(JSON.stringify(saved)) as Record<string, string>);
    expect(sysctl.snapshot(keys)).toEqual(saved);
  });

  it('refuses malformed names before touching anything, naming them', () => {
    for (const bad of ['../../etc/passwd', 'net.ipv4..ip_forward', 'net/ipv4/ip_forward', 'net.ipv4.conf.a b.rp_filter', 'net.ipv4.conf.averyveryverylongname.rp_filter', 'net.ipv4.conf....rp_filter', '']) {
      const err = (() => {
        try {
          sysctl.get(bad);
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      expect(err, bad).toBeInstanceOf(InvalidArgumentError);
      if (bad) expect((err as Error).message, bad).toContain(bad);
    }
  });

  it('refuses out-of-range values for typed keys, naming key and value, and changes nothing', () => {
    const before = sysctlN(ns, 'net.ipv4.conf.lo.arp_ignore');
    expect(() => sysctl.set('net.ipv4.conf.lo.arp_ignore', 9)).toThrow(/net\.ipv4\.conf\.lo\.arp_ignore: value must be an integer 0\.\.8, got 9/);
    expect(() => sysctl.set('net.ipv4.conf.lo.arp_ignore', 'yes')).toThrow(InvalidArgumentError);
    expect(() => sysctl.set('net.ipv4.vs.sync_ports', 3)).toThrow(/net\.ipv4\.vs\.sync_ports: must be a power of two, got 3/);
    expect(() => sysctl.set('net.ipv4.ip_forward', '1\n0')).toThrow(InvalidArgumentError);
    expect(sysctlN(ns, 'net.ipv4.conf.lo.arp_ignore')).toBe(before);
  });

  it('reports unknown keys and interfaces by name', () => {
    expect(() => sysctl.get('net.ipv4.foo')).toThrow(new RegExp(`^no such sysctl net\\.ipv4\\.foo in network namespace ${ns.path}$`));
    try {
      sysctl.set('net.ipv4.conf.eth9.rp_filter', 1);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(SysctlError);
      expect(e).toMatchObject({ code: 'ENOENT', key: 'net.ipv4.conf.eth9.rp_filter' });
      expect((e as Error).message).toContain('no interface eth9');
    }
    expect(() => sysctl.get('net.ipv4.conf')).toThrow(/net\.ipv4\.conf is a directory of sysctls/);
  });

  it('passes on the kernel refusing a value, naming key and value', () => {
    const before = sysctlN(ns, 'net.ipv4.ip_local_port_range');
    expect(() => sysctl.set('net.ipv4.ip_local_port_range', '40000 30000')).toThrow(
      /the kernel refused value "40000 30000" for net\.ipv4\.ip_local_port_range .*EINVAL/,
    );
    expect(sysctlN(ns, 'net.ipv4.ip_local_port_range')).toBe(before);
  });

  it('fails clearly for a namespace that does not exist', () => {
    expect(() => Sysctl.open({ netns: '/run/netns/no-such-namespace' })).toThrow(/cannot enter network namespace \/run\/netns\/no-such-namespace: .*ENOENT/);
  });
});

describe('IPVS sysctls as a typed object', () => {
  let ns: Netns;
  let other: Netns;
  let sysctl: Sysctl;

  beforeAll(() => {
    ns = createNetns('ipvs-sysctl');
    other = createNetns('ipvs-sysctl-other');
    sysctl = Sysctl.open({ netns: ns.path });
  });
  afterAll(() => {
    ns?.destroy();
    other?.destroy();
  });

  it('reads every field with the type and value sysctl(8) shows', () => {
    const v = getIpvsSysctls(sysctl);
    // One sysctl(8) call for all of them: "net.ipv4.vs.am_droprate = 10" lines.
    const shown = new Map(
      ns
        .exec('sysctl', ['-a', '--pattern', '^net\\.ipv4\\.vs\\.'])
        .trim()
        .split('\n')
        .map((line) => line.split(' = ') as [string, string]),
    );
    let compared = 0;
    for (const field of IPVS_SYSCTL_FIELDS) {
      const name = ipvsSysctlName(field);
      const present = shown.has(name);
      expect(field in v, field).toBe(present);
      if (!present) continue;
      const text = shown.get(name)!;
      const value = v[field];
      if (typeof value === 'boolean') expect(value, field).toBe(text !== '0');
      else if (Array.isArray(value)) expect(value.map(String), field).toEqual(text.split(/\s+/));
      else expect(String(value), field).toBe(text);
      compared++;
    }
    expect(compared).toBeGreaterThanOrEqual(27);
    expect(v).toMatchObject({ expireNodestConn: false, connReuseMode: 1, syncVersion: 1, syncPorts: 1 });
  });

  it('writes a partial object to that namespace only', () => {
    const otherBefore = getIpvsSysctls(Sysctl.open({ netns: other.path }));
    setIpvsSysctls(sysctl, { expireNodestConn: true, expireQuiescentTemplate: true, connReuseMode: 0, conntrack: true, syncThreshold: [5, 100], syncPorts: 2 });
    expect(sysctlN(ns, 'net.ipv4.vs.expire_nodest_conn')).toBe('1');
    expect(sysctlN(ns, 'net.ipv4.vs.expire_quiescent_template')).toBe('1');
    expect(sysctlN(ns, 'net.ipv4.vs.conn_reuse_mode')).toBe('0');
    expect(sysctlN(ns, 'net.ipv4.vs.conntrack')).toBe('1');
    expect(sysctlN(ns, 'net.ipv4.vs.sync_threshold').split(/\s+/)).toEqual(['5', '100']);
    expect(sysctlN(ns, 'net.ipv4.vs.sync_ports')).toBe('2');
    expect(getIpvsSysctls(sysctl)).toMatchObject({ expireNodestConn: true, connReuseMode: 0, syncThreshold: [5, 100], syncPorts: 2 });
    expect(getIpvsSysctls(Sysctl.open({ netns: other.path }))).toEqual(otherBefore);
  });

  it('round-trips: what was read can be written back', () => {
    const saved = getIpvsSysctls(sysctl);
    setIpvsSysctls(sysctl, { backupOnly: true, syncRetries: 3, amemthresh: 2048 });
    expect(getIpvsSysctls(sysctl)).not.toEqual(saved);
    // Unchanged keys are not written: debug_level, a global that is read-only
    // outside the initial namespace, is in `saved` too.
    setIpvsSysctls(sysctl, saved);
    expect(getIpvsSysctls(sysctl)).toEqual(saved);
    if (saved.debugLevel !== undefined) {
      expect(() => setIpvsSysctls(sysctl, { debugLevel: saved.debugLevel + 1 })).toThrow(
        /cannot write net\.ipv4\.vs\.debug_level in network namespace .*: EACCES/,
      );
    }
  });

  it('refuses bad fields before writing any, naming them', () => {
    const before = getIpvsSysctls(sysctl);
    const attempts: [Partial<IpvsSysctls>, RegExp][] = [
      [{ expireQuiescentTemplate: !before.expireQuiescentTemplate, syncPorts: 3 }, /syncPorts: net\.ipv4\.vs\.sync_ports: must be a power of two, got 3/],
      [{ conntrack: 1 as unknown as boolean }, /conntrack: net\.ipv4\.vs\.conntrack takes a boolean, got 1/],
      [{ syncThreshold: [50, 5] }, /syncThreshold: .*threshold \(50\) must be below the period \(5\)/],
      [{ connReuseMode: 4 }, /connReuseMode: net\.ipv4\.vs\.conn_reuse_mode: value must be an integer 0\.\.3/],
      [{ noSuchField: 1 } as unknown as Partial<IpvsSysctls>, /noSuchField: not an IPVS sysctl field/],
    ];
    for (const [values, message] of attempts) expect(() => setIpvsSysctls(sysctl, values)).toThrow(message);
    expect(getIpvsSysctls(sysctl)).toEqual(before);
  });

  it('says ip_vs is not loaded where the IPVS sysctls do not exist', async () => {
    // A network namespace owned by a non-initial user namespace: the kernel
    // registers net.ipv4.vs there without entries, as if ip_vs were absent.
    const child: ChildProcess = spawn('unshare', ['--user', '--map-root-user', '--net', 'sh', '-c', 'echo ready; exec sleep 60'], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout!.once('data', () => resolve());
        child.once('error', reject);
        child.once('exit', (code) => reject(new Error(`unshare exited with ${code}`)));
      });
      const s = Sysctl.open({ netns: `/proc/${child.pid}/ns/net` });
      expect(() => getIpvsSysctls(s)).toThrow(IpvsNotLoadedError);
      expect(() => setIpvsSysctls(s, { conntrack: true })).toThrow(/the ip_vs module is not loaded \(modprobe ip_vs\)/);
      // The namespace is otherwise fine: ordinary keys work.
      expect(s.get('net.ipv4.ip_forward')).toMatch(/^[01]$/);
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('Addresses over rtnetlink', () => {
  let ns: Netns;
  let other: Netns;
  let addrs: Addresses;

  const ipAddr = (dev: string): string => ns.ip('-o', 'addr', 'show', 'dev', dev);

  beforeAll(() => {
    ns = createNetns('addr');
    other = createNetns('addr-other');
    ns.ip('link', 'add', 'vip0', 'type', 'dummy');
    ns.ip('link', 'set', 'vip0', 'up');
    other.ip('link', 'add', 'vip0', 'type', 'dummy');
    addrs = Addresses.open({ netns: ns.path });
  });
  afterAll(() => {
    addrs?.close();
    ns?.destroy();
    other?.destroy();
  });

  it('adds, lists and deletes an IPv4 /32 on a dummy interface, idempotently', async () => {
    expect(await addrs.add('vip0', '192.0.2.10/32')).toBe(true);
    expect(ipAddr('vip0')).toMatch(/inet 192\.0\.2\.10\/32 scope global vip0/);
    expect(await addrs.add('vip0', '192.0.2.10/32')).toBe(false);
    expect(ipAddr('vip0').match(/192\.0\.2\.10/g)).toHaveLength(1);
    const listed = await addrs.list('vip0');
    expect(listed).toContainEqual(expect.objectContaining({ interface: 'vip0', address: '192.0.2.10', prefix: 32, family: 'ipv4', scope: 0 }));
    expect(other.ip('-o', 'addr', 'show', 'dev', 'vip0')).not.toContain('192.0.2.10');
    expect(await addrs.delete('vip0', '192.0.2.10/32')).toBe(true);
    expect(ipAddr('vip0')).not.toContain('192.0.2.10');
    expect(await addrs.delete('vip0', '192.0.2.10/32')).toBe(false);
  });

  it('adds a VIP to lo (the real-server setup for direct routing)', async () => {
    expect(await addrs.add('lo', '198.51.100.7')).toBe(true);
    expect(ipAddr('lo')).toMatch(/inet 198\.51\.100\.7\/32 scope global lo/);
    const lo = await addrs.list('lo');
    expect(lo.map((a) => `${a.address}/${a.prefix}`)).toEqual(expect.arrayContaining(['127.0.0.1/8', '198.51.100.7/32', '::1/128']));
    expect(await addrs.delete('lo', '198.51.100.7/32')).toBe(true);
    expect(ipAddr('lo')).not.toContain('198.51.100.7');
  });

  it('adds, lists and deletes an IPv6 /128, idempotently, without DAD by default', async () => {
    expect(await addrs.add('vip0', '2001:db8:0:0::10/128')).toBe(true);
    expect(ipAddr('vip0')).toMatch(/inet6 2001:db8::10\/128 scope global nodad/);
    expect(await addrs.add('vip0', '2001:db8::10/128')).toBe(false);
    expect(await addrs.list('vip0')).toContainEqual(expect.objectContaining({ address: '2001:db8::10', prefix: 128, family: 'ipv6' }));
    expect(await addrs.delete('vip0', '2001:db8::10/128')).toBe(true);
    expect(ipAddr('vip0')).not.toContain('2001:db8::10');
    expect(await addrs.delete('vip0', '2001:db8::10/128')).toBe(false);
  });

  it('refuses the same IPv6 address with another prefix, saying which is there', async () => {
    await addrs.add('vip0', '2001:db8::20/64');
    await expect(addrs.add('vip0', '2001:db8::20/128')).rejects.toThrow(/2001:db8::20 is already on vip0 with prefix \/64/);
    // Deleting with the wrong prefix does nothing and says so.
    expect(await addrs.delete('vip0', '2001:db8::20/128')).toBe(false);
    expect(ipAddr('vip0')).toContain('2001:db8::20/64');
    expect(await addrs.delete('vip0', '2001:db8::20/64')).toBe(true);
  });

  it('adds an IPv4 address with a label', async () => {
    expect(await addrs.add('vip0', '192.0.2.12/32', { label: 'vip0:a' })).toBe(true);
    expect(ipAddr('vip0')).toMatch(/inet 192\.0\.2\.12\/32 scope global vip0:a/);
    expect(await addrs.list('vip0')).toContainEqual(expect.objectContaining({ address: '192.0.2.12', label: 'vip0:a' }));
    expect(await addrs.delete('vip0', '192.0.2.12/32')).toBe(true);
  });

  it('lists every interface when none is named', async () => {
    await addrs.add('vip0', '192.0.2.11/32');
    const all = await addrs.list();
    expect(all).toContainEqual(expect.objectContaining({ interface: 'lo', address: '127.0.0.1', prefix: 8 }));
    expect(all).toContainEqual(expect.objectContaining({ interface: 'vip0', address: '192.0.2.11', prefix: 32 }));
    await addrs.delete('vip0', '192.0.2.11/32');
  });

  it('brings an interface up and down, idempotently', async () => {
    ns.ip('link', 'add', 'up0', 'type', 'dummy');
    expect(ns.ip('-o', 'link', 'show', 'up0')).not.toMatch(/[<,]UP[,>]/);
    expect(await addrs.setUp('up0', true)).toBe(true);
    expect(ns.ip('-o', 'link', 'show', 'up0')).toMatch(/[<,]UP[,>]/);
    expect((await addrs.link('up0')).up).toBe(true);
    expect(await addrs.setUp('up0', true)).toBe(false);
    expect(await addrs.setUp('up0', false)).toBe(true);
    expect(ns.ip('-o', 'link', 'show', 'up0')).not.toMatch(/[<,]UP[,>]/);
    expect(other.ip('-o', 'link', 'show', 'vip0')).not.toMatch(/[<,]UP[,>]/);
  });

  it('names an unknown interface, and bad input', async () => {
    const err = await addrs.add('nope0', '192.0.2.1/32').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NetlinkError);
    expect(err).toMatchObject({ code: 'ENODEV' });
    expect((err as Error).message).toBe(`no interface named nope0 in network namespace ${ns.path}`);
    await expect(addrs.list('nope0')).rejects.toThrow(/no interface named nope0/);
    await expect(addrs.add('vip0', '192.0.2.1/33')).rejects.toThrow(/address: prefix length in "192\.0\.2\.1\/33" must be 0\.\.32/);
    await expect(addrs.add('vip0', 'not-an-ip')).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(addrs.add('bad/name', '192.0.2.1')).rejects.toThrow(/interface: .*bad\/name/);
  });
});

/** Runs tcpdump in `ns` until it has captured `count` packets matching `filter`. */
function capture(ns: Netns, dev: string, count: number, filter: string, file: string): { ready: Promise<void>; done: Promise<void>; child: ChildProcess } {
  const child = ns.spawn('tcpdump', ['-Z', 'root', '-i', dev, '-n', '-U', '-c', String(count), '-w', file, filter], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  const ready = new Promise<void>((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (stderr.includes('listening on')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`tcpdump exited (${code}) before listening: ${stderr}`)));
  });
  const done = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`tcpdump did not capture ${count} packets: ${stderr}`));
    }, 20_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`tcpdump exited with ${code}: ${stderr}`));
    });
  });
  return { ready, done, child };
}

describe('announce() across a veth pair', () => {
  let a: Netns;
  let b: Netns;
  let macA: string;
  let dir: string;

  const neigh = (addr: string): string => b.ip('neigh', 'show', addr, 'dev', 'vB').trim();

  beforeAll(() => {
    a = createNetns('garp-a');
    b = createNetns('garp-b');
    dir = mkdtempSync(join(tmpdir(), 'ipvs-ts-garp-'));
    a.ip('link', 'add', 'vA', 'type', 'veth', 'peer', 'name', 'vB', 'netns', b.name);
    // No DAD: the link-local addresses are usable (as NA sources) at once.
    a.exec('sysctl', ['-qw', 'net.ipv6.conf.vA.accept_dad=0']);
    b.exec('sysctl', ['-qw', 'net.ipv6.conf.vB.accept_dad=0']);
    a.ip('addr', 'add', '10.77.0.1/24', 'dev', 'vA');
    b.ip('addr', 'add', '10.77.0.2/24', 'dev', 'vB');
    a.ip('addr', 'add', 'fd00:77::1/64', 'dev', 'vA', 'nodad');
    b.ip('addr', 'add', 'fd00:77::2/64', 'dev', 'vB', 'nodad');
    a.ip('link', 'set', 'vA', 'up');
    b.ip('link', 'set', 'vB', 'up');
    // Learn neighbours from gratuitous ARP (not only update known ones).
    b.exec('sysctl', ['-qw', 'net.ipv4.conf.all.arp_accept=1']);
    macA = /link\/ether ([0-9a-f:]{17})/.exec(a.ip('link', 'show', 'vA'))![1]!;
  });
  afterAll(() => {
    a?.destroy();
    b?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('sends gratuitous ARP that the peer decodes and learns the VIP from', async () => {
    expect(neigh('10.77.0.100')).toBe('');
    const file = join(dir, 'garp.pcap');
    const cap = capture(b, 'vB', 3, 'arp', file);
    await cap.ready;
    const sent = await announce({ interface: 'vA', address: '10.77.0.100', count: 3, intervalMs: 20, netns: a.path });
    expect(sent).toBe(3);
    await cap.done;

    const text = run('tcpdump', ['-r', file, '-n', '-e']).trim().split('\n');
    expect(text).toHaveLength(3);
    for (const line of text) {
      expect(line).toContain(`${macA} > ff:ff:ff:ff:ff:ff, ethertype ARP (0x0806), length 42:`);
      expect(line).toMatch(/Request who-has 10\.77\.0\.100 tell 10\.77\.0\.100, length 28$/);
    }
    // Byte-exact: Ethernet header from the sockaddr_ll, then our 28-byte ARP packet.
    const hex = run('tcpdump', ['-r', file, '-n', '-xx', '-c', '1']).split('\n').slice(1).join(' ').replace(/0x[0-9a-f]+:|\s/g, '');
    const mac = macA.replace(/:/g, '');
    expect(hex).toBe(`ffffffffffff${mac}0806` + `0001080006040001${mac}0a4d0064` + '000000000000' + '0a4d0064');

    expect(neigh('10.77.0.100')).toMatch(new RegExp(`^10\\.77\\.0\\.100 lladdr ${macA} (STALE|REACHABLE|DELAY)`));
  });

  it('updates a peer neighbour entry that pointed elsewhere (the takeover case)', async () => {
    b.ip('neigh', 'replace', '10.77.0.101', 'lladdr', '02:00:00:00:00:99', 'dev', 'vB', 'nud', 'stale');
    expect(neigh('10.77.0.101')).toContain('02:00:00:00:00:99');
    expect(await announce({ interface: 'vA', address: '10.77.0.101/32', count: 1, netns: a.path })).toBe(1);
    await expect.poll(() => neigh('10.77.0.101'), { timeout: 5000 }).toContain(`lladdr ${macA}`);
  });

  it('sends an unsolicited neighbour advertisement that the peer decodes and applies', async () => {
    b.ip('neigh', 'replace', 'fd00:77::100', 'lladdr', '02:00:00:00:00:98', 'dev', 'vB', 'nud', 'stale');
    const file = join(dir, 'una.pcap');
    const cap = capture(b, 'vB', 2, 'icmp6 and ip6[40] == 136', file);
    await cap.ready;
    expect(await announce({ interface: 'vA', address: 'fd00:77::100', count: 2, intervalMs: 20, netns: a.path })).toBe(2);
    await cap.done;

    const lines = run('tcpdump', ['-r', file, '-n', '-e', '-v']).trim().split('\n');
    const text = lines.join('\n');
    expect(text.match(/neighbor advertisement/g)).toHaveLength(2);
    expect(text).toContain(`${macA} > 33:33:00:00:00:01, ethertype IPv6 (0x86dd)`);
    expect(text).toMatch(/hlim 255, next-header ICMPv6 \(58\) payload length: 32\) fe80::[0-9a-f:]+ > ff02::1: \[icmp6 sum ok\] ICMP6, neighbor advertisement, length 32, tgt is fd00:77::100, Flags \[override\]/);
    expect(text).toMatch(new RegExp(`destination link-address option \\(2\\), length 8 \\(1\\): ${macA}`));
    // The ICMPv6 message itself, byte for byte (checksum filled in by the kernel).
    const hex = run('tcpdump', ['-r', file, '-n', '-xx', '-c', '1']).split('\n').slice(1).join(' ').replace(/0x[0-9a-f]+:|\s/g, '');
    const icmp = hex.slice((14 + 40) * 2);
    expect(icmp.slice(0, 4)).toBe('8800');
    expect(icmp.slice(8)).toBe(`20000000fd000077000000000000000000000100` + `0201${macA.replace(/:/g, '')}`);

    await expect.poll(() => neigh('fd00:77::100'), { timeout: 5000 }).toContain(`lladdr ${macA}`);
  });

  it('makes a new entry on a router peer that accepts untracked NAs (RFC 9131)', async () => {
    // On 6.1 an unsolicited NA creates an entry only where forwarding=1 and
    // accept_untracked_na>=1; elsewhere it only updates existing entries.
    b.exec('sysctl', ['-qw', 'net.ipv6.conf.vB.forwarding=1', 'net.ipv6.conf.vB.accept_untracked_na=1']);
    try {
      expect(neigh('fd00:77::104')).toBe('');
      await announce({ interface: 'vA', address: 'fd00:77::104', count: 1, netns: a.path });
      await expect.poll(() => neigh('fd00:77::104'), { timeout: 5000 }).toMatch(new RegExp(`^fd00:77::104 lladdr ${macA} STALE`));
    } finally {
      b.exec('sysctl', ['-qw', 'net.ipv6.conf.vB.forwarding=0', 'net.ipv6.conf.vB.accept_untracked_na=0']);
    }
  });

  it('sets the Router flag when the interface forwards IPv6', async () => {
    a.exec('sysctl', ['-qw', 'net.ipv6.conf.vA.forwarding=1']);
    try {
      const file = join(dir, 'una-router.pcap');
      const cap = capture(b, 'vB', 1, 'icmp6 and ip6[40] == 136', file);
      await cap.ready;
      await announce({ interface: 'vA', address: 'fd00:77::102', count: 1, netns: a.path });
      await cap.done;
      expect(run('tcpdump', ['-r', file, '-n', '-v'])).toMatch(/tgt is fd00:77::102, Flags \[router, override\]/);
    } finally {
      a.exec('sysctl', ['-qw', 'net.ipv6.conf.vA.forwarding=0']);
    }
  });

  it('refuses interfaces it cannot announce on, naming them', async () => {
    await expect(announce({ interface: 'nope0', address: '10.77.0.100', netns: a.path })).rejects.toThrow(/no interface named nope0/);
    await expect(announce({ interface: 'lo', address: '10.77.0.100', count: 1, netns: a.path })).rejects.toThrow(/lo in network namespace .* is not an Ethernet-type interface/);
    a.ip('link', 'add', 'down0', 'type', 'dummy');
    await expect(announce({ interface: 'down0', address: '10.77.0.100', count: 1, netns: a.path })).rejects.toThrow(/down0 .* is down/);
  });

  it('stops when aborted', async () => {
    const ac = new AbortController();
    const p = announce({ interface: 'vA', address: '10.77.0.103', count: 10, intervalMs: 1000, netns: a.path, signal: ac.signal });
    setTimeout(() => ac.abort(), 500);
    await expect(p).rejects.toThrow(/aborted after 1 of 10 packets/);
  });
});
