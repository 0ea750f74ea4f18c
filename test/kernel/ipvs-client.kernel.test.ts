// The Ipvs client on the real kernel, part 1: what the library writes, ipvsadm
// shows. Every command and attribute is written with the library and checked
// with ipvsadm (-Sn, -Ln --thresholds, --timeout, --daemon, --stats) in the
// same namespace, then read back with the library.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Ipvs, IpvsError, type Destination, type ServiceSpec } from '../../src/index.js';
import type { Netns } from './harness.js';
import {
  anyStats,
  createLbNetns,
  expectIpvsError,
  kernelHasModule,
  openIn,
  rejectionOf,
  saveLines,
  useLbNetns,
  zeroStats,
} from './ipvs-helpers.js';

const HASHED = 0x2; // IP_VS_SVC_F_HASHED: the kernel reports it on every service in its table

const svc80 = { protocol: 'tcp', address: '192.0.2.10', port: 80 } as const;

describe('Ipvs client → ipvsadm: services', () => {
  let ns: Netns;
  let ipvs: Ipvs;
  useLbNetns('ipvs-svc', (n, i) => {
    ns = n;
    ipvs = i;
  });
  beforeEach(async () => {
    await ipvs.flush();
    expect(ns.ipvsadm('-Sn')).toBe('');
  });

  it('adds TCP, UDP and SCTP services on IPv4 and IPv6, and fwmark services of both families', async () => {
    await ipvs.addService({ protocol: 'tcp', address: '192.0.2.30', port: 80 });
    await ipvs.addService({ protocol: 'udp', address: '192.0.2.30', port: 53, scheduler: 'rr' });
    await ipvs.addService({ protocol: 'sctp', address: '192.0.2.30', port: 3868, scheduler: 'lc' });
    // Non-canonical IPv6 text: the kernel and ipvsadm show the canonical form.
    await ipvs.addService({ protocol: 'tcp', address: '2001:DB8:0:0::30', port: 443, scheduler: 'wrr' });
    await ipvs.addService({ protocol: 'udp', address: '2001:db8::30', port: 53, scheduler: 'rr' });
    await ipvs.addService({ protocol: 'sctp', address: '2001:db8::30', port: 3868, scheduler: 'rr' });
    await ipvs.addService({ fwmark: 7, scheduler: 'rr' });
    await ipvs.addService({ fwmark: 8, family: 'ipv6', scheduler: 'lc' });
    await ipvs.addService({ fwmark: 0xffffffff, scheduler: 'rr' });
    // ipvsadm prints fwmarks with %d (4294967295 shows as -1) and sorts with a
    // wrapping subtraction, so that one comes first here.
    expect(ns.ipvsadm('-Sn')).toBe(
      [
        '-A -f -1 -s rr',
        '-A -t 192.0.2.30:80 -s wlc',
        '-A -u 192.0.2.30:53 -s rr',
        '-A --sctp-service 192.0.2.30:3868 -s lc',
        '-A -t [2001:db8::30]:443 -s wrr',
        '-A -u [2001:db8::30]:53 -s rr',
        '-A --sctp-service [2001:db8::30]:3868 -s rr',
        '-A -f 7 -s rr',
        '-A -f 8 -6 -s lc',
        '',
      ].join('\n'),
    );
    expect(await ipvs.save()).toBe(ns.ipvsadm('-Sn'));

    const common = { schedulerFlags: [], onePacket: false, flags: HASHED, stats: zeroStats };
    expect(await ipvs.getService({ protocol: 'tcp', address: '192.0.2.30', port: 80 })).toEqual({
      protocol: 'tcp', address: '192.0.2.30', port: 80, family: 'ipv4', scheduler: 'wlc', ...common,
    });
    expect(await ipvs.getService({ protocol: 'tcp', address: '2001:db8:0::30', port: 443 })).toEqual({
      protocol: 'tcp', address: '2001:db8::30', port: 443, family: 'ipv6', scheduler: 'wrr', ...common,
    });
    expect(await ipvs.getService({ protocol: 'sctp', address: '2001:db8::30', port: 3868 })).toEqual({
      protocol: 'sctp', address: '2001:db8::30', port: 3868, family: 'ipv6', scheduler: 'rr', ...common,
    });
    expect(await ipvs.getService({ fwmark: 7 })).toEqual({ fwmark: 7, family: 'ipv4', scheduler: 'rr', ...common });
    expect(await ipvs.getService({ fwmark: 8, family: 'ipv6' })).toEqual({ fwmark: 8, family: 'ipv6', scheduler: 'lc', ...common });
    // fwmark 8 exists only as IPv6: the IPv4 fwmark 8 is another service.
    expectIpvsError(await rejectionOf(ipvs.getService({ fwmark: 8 })), 'ESRCH', 3, 'getService', 'no such service FWM 8');

    const all = await ipvs.listServices();
    expect(all).toHaveLength(9);
    const names = all.map((s) => ('fwmark' in s ? `fwm ${s.fwmark} ${s.family}` : `${s.protocol} ${s.address} ${s.port} ${s.family}`)).sort();
    expect(names).toEqual(
      [
        'tcp 192.0.2.30 80 ipv4',
        'udp 192.0.2.30 53 ipv4',
        'sctp 192.0.2.30 3868 ipv4',
        'tcp 2001:db8::30 443 ipv6',
        'udp 2001:db8::30 53 ipv6',
        'sctp 2001:db8::30 3868 ipv6',
        'fwm 7 ipv4',
        'fwm 8 ipv6',
        'fwm 4294967295 ipv4',
      ].sort(),
    );
    for (const s of all) expect(s.stats).toEqual(anyStats);
  });

  it('binds every scheduler this kernel has; the others fail with ENOENT naming them', async () => {
    const schedulers = ['rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'fo', 'ovf', 'mh', 'twos'];
    const expected: string[] = [];
    const missing: string[] = [];
    for (const [i, scheduler] of schedulers.entries()) {
      const key = { protocol: 'tcp', address: '192.0.2.20', port: 8000 + i } as const;
      const p = ipvs.addService({ ...key, scheduler });
      if (kernelHasModule(`ip_vs_${scheduler}`)) {
        await p;
        expected.push(`-A -t 192.0.2.20:${8000 + i} -s ${scheduler}`);
        expect((await ipvs.getService(key)).scheduler).toBe(scheduler);
      } else {
        missing.push(scheduler);
        const e = expectIpvsError(await rejectionOf(p), 'ENOENT', 2, 'addService', `scheduler "${scheduler}"`, `ip_vs_${scheduler}`, 'does not exist in this kernel');
        expect(e.object).toBe(`service TCP 192.0.2.20:${8000 + i}`);
      }
    }
    // The kernel of the sandbox (Linux 6.1) has every scheduler but twos (added in 6.2).
    expect(expected.length).toBeGreaterThanOrEqual(13);
    expect(saveLines(ns).sort()).toEqual(expected.sort());
    // 'none' binds no scheduler at all.
    await ipvs.addService({ protocol: 'tcp', address: '192.0.2.21', port: 80, scheduler: 'none' });
    expect(saveLines(ns)).toContain('-A -t 192.0.2.21:80 -s none');
    expect((await ipvs.getService({ protocol: 'tcp', address: '192.0.2.21', port: 80 })).scheduler).toBe('none');
    if (missing.length) console.log(`schedulers missing in this kernel: ${missing.join(', ')}`);
  });

  it('rejects an unknown scheduler with IpvsError ENOENT naming it, and adds nothing', async () => {
    const e = expectIpvsError(
      await rejectionOf(ipvs.addService({ ...svc80, scheduler: 'nosuchsched' })),
      'ENOENT', 2, 'addService', 'scheduler "nosuchsched"', 'ip_vs_nosuchsched',
    );
    expect(e.message).toBe('addService: scheduler "nosuchsched" does not exist in this kernel (no ip_vs_nosuchsched module)');
    expect(ns.ipvsadm('-Sn')).toBe('');
  });

  it('sets scheduler flags: sh-fallback, sh-port, mh-fallback, mh-port, flag-1/2/3', async () => {
    await ipvs.addService({ ...svc80, scheduler: 'sh', schedulerFlags: ['sh-fallback', 'sh-port'] });
    await ipvs.addService({ protocol: 'tcp', address: '192.0.2.10', port: 81, scheduler: 'sh', schedulerFlags: ['sh-port'] });
    await ipvs.addService({ protocol: 'udp', address: '192.0.2.10', port: 80, scheduler: 'mh', schedulerFlags: ['mh-fallback', 'mh-port'] });
    await ipvs.addService({ fwmark: 6, family: 'ipv6', scheduler: 'mh', schedulerFlags: ['mh-port'] });
    await ipvs.addService({ protocol: 'tcp', address: '192.0.2.11', port: 80, scheduler: 'rr', schedulerFlags: ['flag-1', 'flag-2', 'flag-3'] });
    await ipvs.addService({ protocol: 'tcp', address: '192.0.2.11', port: 81, scheduler: 'wlc', schedulerFlags: ['flag-3'] });
    expect(ns.ipvsadm('-Sn')).toBe(
      [
        '-A -t 192.0.2.10:80 -s sh -b sh-fallback,sh-port',
        '-A -t 192.0.2.10:81 -s sh -b sh-port',
        '-A -t 192.0.2.11:80 -s rr -b flag-1,flag-2,flag-3',
        '-A -t 192.0.2.11:81 -s wlc -b flag-3',
        '-A -u 192.0.2.10:80 -s mh -b mh-fallback,mh-port',
        '-A -f 6 -6 -s mh -b mh-port',
        '',
      ].join('\n'),
    );
    expect(ns.ipvsadm('-Ln')).toContain('TCP  192.0.2.10:80 sh (sh-fallback,sh-port)');
    expect(await ipvs.save()).toBe(ns.ipvsadm('-Sn'));
    const s = await ipvs.getService(svc80);
    expect(s.schedulerFlags).toEqual(['sh-fallback', 'sh-port']);
    expect(s.flags).toBe(HASHED | 0x08 | 0x10);
    expect((await ipvs.getService({ fwmark: 6, family: 'ipv6' })).schedulerFlags).toEqual(['mh-port']);
    expect((await ipvs.getService({ protocol: 'udp', address: '192.0.2.10', port: 80 })).schedulerFlags).toEqual(['mh-fallback', 'mh-port']);
    const r = await ipvs.getService({ protocol: 'tcp', address: '192.0.2.11', port: 80 });
    expect(r.schedulerFlags).toEqual(['flag-1', 'flag-2', 'flag-3']);
    expect(r.flags).toBe(HASHED | 0x08 | 0x10 | 0x20);
  });

  it('sets persistence with timeout and netmask (IPv4 prefix or dotted, IPv6 prefix), port 0, engine sip and one-packet', async () => {
    await ipvs.addService({ protocol: 'tcp', address: '192.0.2.10', port: 443, scheduler: 'wlc', persistence: { timeout: 600, netmask: '255.255.255.0' } });
    await ipvs.addService({ protocol: 'tcp', address: '192.0.2.10', port: 444, scheduler: 'wlc', persistence: { timeout: 600, netmask: 16 } });
    await ipvs.addService({ protocol: 'tcp', address: '192.0.2.10', port: 445, scheduler: 'rr', persistence: { timeout: 1, netmask: 0 } });
    await ipvs.addService({ protocol: 'tcp', address: '192.0.2.10', port: 446, scheduler: 'rr', persistence: { timeout: 300 } });
    await ipvs.addService({ protocol: 'tcp', address: '192.0.2.10', port: 447, scheduler: 'rr', persistence: { timeout: 2678400, netmask: 32 } });
    await ipvs.addService({ protocol: 'tcp', address: '192.0.2.13', port: 0, scheduler: 'rr', persistence: { timeout: 120 } });
    await ipvs.addService({ protocol: 'tcp', address: '2001:db8::10', port: 443, scheduler: 'wlc', persistence: { timeout: 600, netmask: 64 } });
    await ipvs.addService({ protocol: 'tcp', address: '2001:db8::10', port: 444, scheduler: 'wlc', persistence: { timeout: 600, netmask: 128 } });
    await ipvs.addService({ fwmark: 9, scheduler: 'rr', persistence: { timeout: 60, netmask: 24 } });
    await ipvs.addService({ fwmark: 10, family: 'ipv6', scheduler: 'rr', persistence: { timeout: 60, netmask: 48 }, onePacket: true });
    await ipvs.addService({ protocol: 'udp', address: '192.0.2.12', port: 53, scheduler: 'rr', onePacket: true });
    await ipvs.addService({ fwmark: 5, scheduler: 'rr', onePacket: true });
    const sip = ipvs.addService({ protocol: 'udp', address: '192.0.2.10', port: 5060, scheduler: 'rr', persistence: { timeout: 300 }, persistenceEngine: 'sip' });
    let sipLine: string[] = [];
    if (kernelHasModule('ip_vs_pe_sip')) {
      await sip;
      sipLine = ['-A -u 192.0.2.10:5060 -s rr -p 300 --pe sip'];
    } else {
      expectIpvsError(await rejectionOf(sip), 'ENOENT', 2, 'addService', 'persistence engine "sip"', 'ip_vs_pe_sip');
    }
    expect(ns.ipvsadm('-Sn')).toBe(
      [
        '-A -t 192.0.2.10:443 -s wlc -p 600 -M 255.255.255.0',
        '-A -t 192.0.2.10:444 -s wlc -p 600 -M 255.255.0.0',
        '-A -t 192.0.2.10:445 -s rr -p 1 -M 0.0.0.0',
        '-A -t 192.0.2.10:446 -s rr -p 300',
        '-A -t 192.0.2.10:447 -s rr -p 2678400',
        '-A -t 192.0.2.13:0 -s rr -p 120',
        ...sipLine,
        '-A -u 192.0.2.12:53 -s rr -o',
        '-A -t [2001:db8::10]:443 -s wlc -p 600 -M 64',
        '-A -t [2001:db8::10]:444 -s wlc -p 600',
        '-A -f 5 -s rr -o',
        '-A -f 9 -s rr -p 60 -M 255.255.255.0',
        '-A -f 10 -6 -s rr -p 60 -M 48 -o',
        '',
      ].join('\n'),
    );
    expect(await ipvs.save()).toBe(ns.ipvsadm('-Sn'));
    const ln = ns.ipvsadm('-Ln');
    expect(ln).toContain('TCP  192.0.2.10:443 wlc persistent 600 mask 255.255.255.0');
    expect(ln).toContain('UDP  192.0.2.12:53 rr ops');
    if (sipLine.length) expect(ln).toContain('UDP  192.0.2.10:5060 rr persistent 300 pe sip');

    expect(await ipvs.getService({ protocol: 'tcp', address: '192.0.2.10', port: 443 })).toEqual({
      protocol: 'tcp', address: '192.0.2.10', port: 443, family: 'ipv4', scheduler: 'wlc', schedulerFlags: [],
      persistence: { timeout: 600, netmask: 24 }, onePacket: false, flags: HASHED | 0x1, stats: zeroStats,
    });
    expect((await ipvs.getService({ protocol: 'tcp', address: '192.0.2.10', port: 445 })).persistence).toEqual({ timeout: 1, netmask: 0 });
    expect((await ipvs.getService({ protocol: 'tcp', address: '192.0.2.10', port: 446 })).persistence).toEqual({ timeout: 300, netmask: 32 });
    expect((await ipvs.getService({ protocol: 'tcp', address: '2001:db8::10', port: 443 })).persistence).toEqual({ timeout: 600, netmask: 64 });
    expect((await ipvs.getService({ protocol: 'tcp', address: '2001:db8::10', port: 444 })).persistence).toEqual({ timeout: 600, netmask: 128 });
    const f10 = await ipvs.getService({ fwmark: 10, family: 'ipv6' });
    expect(f10).toMatchObject({ persistence: { timeout: 60, netmask: 48 }, onePacket: true, flags: HASHED | 0x1 | 0x4 });
    const ops = await ipvs.getService({ protocol: 'udp', address: '192.0.2.12', port: 53 });
    expect(ops.onePacket).toBe(true);
    expect(ops.persistence).toBeUndefined();
    if (sipLine.length) {
      expect(await ipvs.getService({ protocol: 'udp', address: '192.0.2.10', port: 5060 })).toMatchObject({
        persistence: { timeout: 300, netmask: 32 }, persistenceEngine: 'sip',
      });
    }
  });

  it('rejects an unknown persistence engine with ENOENT naming it', async () => {
    const e = expectIpvsError(
      await rejectionOf(ipvs.addService({ protocol: 'udp', address: '192.0.2.10', port: 5060, scheduler: 'rr', persistence: { timeout: 300 }, persistenceEngine: 'nosuchpe' })),
      'ENOENT', 2, 'addService', 'persistence engine "nosuchpe"', 'ip_vs_pe_nosuchpe',
    );
    expect(e.message).toContain('scheduler "rr"');
    expect(ns.ipvsadm('-Sn')).toBe('');
  });

  it('updates a service: scheduler, flags, persistence; omitted options take their defaults', async () => {
    await ipvs.addService({ ...svc80, scheduler: 'rr' });
    await ipvs.addDestination(svc80, { address: '10.0.0.2', forward: 'masq' });
    await ipvs.updateService({ ...svc80, scheduler: 'wrr', persistence: { timeout: 60, netmask: '255.255.0.0' } });
    expect(saveLines(ns)).toEqual(['-A -t 192.0.2.10:80 -s wrr -p 60 -M 255.255.0.0', '-a -t 192.0.2.10:80 -r 10.0.0.2:80 -m -w 1']);
    await ipvs.updateService({ ...svc80, scheduler: 'sh', schedulerFlags: ['sh-port'] });
    expect(saveLines(ns)).toEqual(['-A -t 192.0.2.10:80 -s sh -b sh-port', '-a -t 192.0.2.10:80 -r 10.0.0.2:80 -m -w 1']);
    await ipvs.updateService(svc80);
    expect(saveLines(ns)).toEqual(['-A -t 192.0.2.10:80 -s wlc', '-a -t 192.0.2.10:80 -r 10.0.0.2:80 -m -w 1']);
    await ipvs.addService({ fwmark: 3, family: 'ipv6', scheduler: 'rr' });
    await ipvs.updateService({ fwmark: 3, family: 'ipv6', scheduler: 'lc', persistence: { timeout: 30, netmask: 96 }, onePacket: true });
    expect(saveLines(ns)).toContain('-A -f 3 -6 -s lc -p 30 -M 96 -o');
    expect((await ipvs.getService({ fwmark: 3, family: 'ipv6' })).persistence).toEqual({ timeout: 30, netmask: 96 });
    expect(await ipvs.save()).toBe(ns.ipvsadm('-Sn'));
  });

  it('deletes services by address key and by fwmark', async () => {
    await ipvs.addService({ ...svc80, scheduler: 'rr' });
    await ipvs.addService({ protocol: 'udp', address: '2001:db8::5', port: 53, scheduler: 'rr' });
    await ipvs.addService({ fwmark: 4, scheduler: 'rr' });
    await ipvs.addService({ fwmark: 4, family: 'ipv6', scheduler: 'rr' });
    await ipvs.addDestination(svc80, { address: '10.0.0.2' });
    await ipvs.deleteService(svc80);
    await ipvs.deleteService({ fwmark: 4, family: 'ipv6' });
    expect(ns.ipvsadm('-Sn')).toBe('-A -u [2001:db8::5]:53 -s rr\n-A -f 4 -s rr\n');
    await ipvs.deleteService({ protocol: 'udp', address: '2001:db8:0::5', port: 53 });
    await ipvs.deleteService({ fwmark: 4 });
    expect(ns.ipvsadm('-Sn')).toBe('');
    expect(await ipvs.listServices()).toEqual([]);
    expect(await ipvs.save()).toBe('');
  });

  it('flushes the whole table', async () => {
    await ipvs.addService({ ...svc80, scheduler: 'rr' });
    await ipvs.addDestination(svc80, { address: '10.0.0.2' });
    await ipvs.addService({ fwmark: 1, family: 'ipv6', scheduler: 'rr' });
    expect(saveLines(ns)).toHaveLength(3);
    await ipvs.flush();
    expect(ns.ipvsadm('-Sn')).toBe('');
    await ipvs.flush(); // flushing an empty table is fine
    expect(await ipvs.listServices()).toEqual([]);
  });

  it('reports IPVS info: version 1.2.1 and the connection table size ipvsadm shows', async () => {
    const info = await ipvs.info();
    expect(info.version).toBe('1.2.1');
    expect(typeof info.connTableSize).toBe('number');
    const header = ns.ipvsadm('-Ln').split('\n')[0]!;
    expect(header).toBe(`IP Virtual Server version ${info.version} (size=${info.connTableSize})`);
    expect(info.connTableSize).toBeGreaterThan(0);
  });
});

describe('Ipvs client → ipvsadm: destinations', () => {
  let ns: Netns;
  let ipvs: Ipvs;
  useLbNetns('ipvs-dst', (n, i) => {
    ns = n;
    ipvs = i;
  });
  beforeEach(async () => {
    await ipvs.flush();
    await ipvs.addService({ ...svc80, scheduler: 'rr' });
  });

  const base = { upperThreshold: 0, lowerThreshold: 0, activeConnections: 0, inactiveConnections: 0, persistentConnections: 0, stats: zeroStats };
  const byAddress = (a: Destination, b: Destination) => (a.address + a.port < b.address + b.port ? -1 : 1);

  it('adds masq, route, local, bypass and tunnel (ipip, gue, gre) destinations with every option', async () => {
    await ipvs.addDestination(svc80, { address: '10.0.0.2', port: 8080, forward: 'masq', weight: 0 });
    await ipvs.addDestination(svc80, { address: '10.0.0.3', forward: 'masq', weight: 2147483647 });
    await ipvs.addDestination(svc80, { address: '10.0.0.4' }); // defaults: route, weight 1, the service port
    await ipvs.addDestination(svc80, { address: '10.0.0.5', forward: 'tunnel' });
    await ipvs.addDestination(svc80, { address: '10.0.0.6', forward: 'tunnel', weight: 3, tunnel: { type: 'gue', port: 6080, checksum: 'csum' } });
    await ipvs.addDestination(svc80, { address: '10.0.0.7', port: 80, forward: 'tunnel', tunnel: { type: 'gue', port: 6081, checksum: 'remcsum' } });
    await ipvs.addDestination(svc80, { address: '10.0.0.8', forward: 'tunnel', tunnel: { type: 'gue', port: 65535 } });
    await ipvs.addDestination(svc80, { address: '10.0.0.9', forward: 'tunnel', tunnel: { type: 'gre', checksum: 'csum' } });
    await ipvs.addDestination(svc80, { address: '10.0.0.10', forward: 'tunnel', tunnel: { type: 'gre' } });
    await ipvs.addDestination(svc80, { address: '10.0.0.11', forward: 'tunnel', tunnel: { type: 'ipip' } });
    await ipvs.addDestination(svc80, { address: '192.0.2.1', forward: 'local' });
    // An IPv6 real server behind an IPv4 service: only with tunnelling.
    await ipvs.addDestination(svc80, { address: '2001:db8::20', forward: 'tunnel', tunnel: { type: 'gue', port: 5555 } });
    await ipvs.addDestination(svc80, { address: '2001:db8::21', forward: 'tunnel' });
    const expected = [
      '-A -t 192.0.2.10:80 -s rr',
      '-a -t 192.0.2.10:80 -r 10.0.0.2:8080 -m -w 0',
      '-a -t 192.0.2.10:80 -r 10.0.0.3:80 -m -w 2147483647',
      '-a -t 192.0.2.10:80 -r 10.0.0.4:80 -g -w 1',
      '-a -t 192.0.2.10:80 -r 10.0.0.5:80 -i -w 1 --tun-type ipip',
      '-a -t 192.0.2.10:80 -r 10.0.0.6:80 -i -w 3 --tun-type gue --tun-port 6080 --tun-csum',
      '-a -t 192.0.2.10:80 -r 10.0.0.7:80 -i -w 1 --tun-type gue --tun-port 6081 --tun-remcsum',
      '-a -t 192.0.2.10:80 -r 10.0.0.8:80 -i -w 1 --tun-type gue --tun-port 65535 --tun-nocsum',
      '-a -t 192.0.2.10:80 -r 10.0.0.9:80 -i -w 1 --tun-type gre --tun-csum',
      '-a -t 192.0.2.10:80 -r 10.0.0.10:80 -i -w 1 --tun-type gre --tun-nocsum',
      '-a -t 192.0.2.10:80 -r 10.0.0.11:80 -i -w 1 --tun-type ipip',
      // ipvsadm -S writes local forwarding as -g (it has no switch for it).
      '-a -t 192.0.2.10:80 -r 192.0.2.1:80 -g -w 1',
      '-a -t 192.0.2.10:80 -r [2001:db8::20]:80 -i -w 1 --tun-type gue --tun-port 5555 --tun-nocsum',
      '-a -t 192.0.2.10:80 -r [2001:db8::21]:80 -i -w 1 --tun-type ipip',
    ];
    const lines = saveLines(ns);
    expect(lines[0]).toBe(expected[0]);
    expect([...lines].sort()).toEqual([...expected].sort());
    expect(await ipvs.save()).toBe(ns.ipvsadm('-Sn'));

    // -Ln names the forwarding method, including Local.
    const ln = ns.ipvsadm('-Ln');
    expect(ln).toMatch(/-> 192\.0\.2\.1:80 +Local +1 /);
    expect(ln).toMatch(/-> 10\.0\.0\.2:8080 +Masq +0 /);
    expect(ln).toMatch(/-> \[2001:db8::21\]:80 +Tunnel +1 /);
    const tun = ns.ipvsadm('-Ln', '--tun-info');
    expect(tun).toMatch(/-> 10\.0\.0\.6:80 +Tunnel +gue:6080:\+c +3 /);
    expect(tun).toMatch(/-> 10\.0\.0\.7:80 +Tunnel +gue:6081:r\+c +1 /);
    expect(tun).toMatch(/-> 10\.0\.0\.9:80 +Tunnel +gre:\+c +1 /);

    const dests = (await ipvs.listDestinations(svc80)).sort(byAddress);
    const v4 = { family: 'ipv4', port: 80, weight: 1, ...base } as const;
    expect(dests).toEqual(
      [
        { ...v4, address: '10.0.0.2', port: 8080, weight: 0, forward: 'masq' },
        { ...v4, address: '10.0.0.3', weight: 2147483647, forward: 'masq' },
        { ...v4, address: '10.0.0.4', forward: 'route' },
        { ...v4, address: '10.0.0.5', forward: 'tunnel', tunnel: { type: 'ipip', checksum: 'nocsum' } },
        { ...v4, address: '10.0.0.6', weight: 3, forward: 'tunnel', tunnel: { type: 'gue', port: 6080, checksum: 'csum' } },
        { ...v4, address: '10.0.0.7', forward: 'tunnel', tunnel: { type: 'gue', port: 6081, checksum: 'remcsum' } },
        { ...v4, address: '10.0.0.8', forward: 'tunnel', tunnel: { type: 'gue', port: 65535, checksum: 'nocsum' } },
        { ...v4, address: '10.0.0.9', forward: 'tunnel', tunnel: { type: 'gre', checksum: 'csum' } },
        { ...v4, address: '10.0.0.10', forward: 'tunnel', tunnel: { type: 'gre', checksum: 'nocsum' } },
        { ...v4, address: '10.0.0.11', forward: 'tunnel', tunnel: { type: 'ipip', checksum: 'nocsum' } },
        { ...v4, address: '192.0.2.1', forward: 'local' },
        { ...v4, family: 'ipv6', address: '2001:db8::20', forward: 'tunnel', tunnel: { type: 'gue', port: 5555, checksum: 'nocsum' } },
        { ...v4, family: 'ipv6', address: '2001:db8::21', forward: 'tunnel', tunnel: { type: 'ipip', checksum: 'nocsum' } },
      ].sort(byAddress as (a: unknown, b: unknown) => number),
    );
  });

  it('adds a bypass destination, which ipvsadm -S prints as "(null)"; save() does the same', async () => {
    await ipvs.addDestination(svc80, { address: '10.0.0.2', forward: 'bypass' });
    expect(ns.ipvsadm('-Sn')).toBe('-A -t 192.0.2.10:80 -s rr\n-a -t 192.0.2.10:80 -r 10.0.0.2:80 (null) -w 1\n');
    expect(await ipvs.save()).toBe(ns.ipvsadm('-Sn'));
    expect((await ipvs.listDestinations(svc80))[0]!.forward).toBe('bypass');
  });

  it('sets thresholds, shown by ipvsadm -Ln --thresholds and read back by listDestinations', async () => {
    await ipvs.addDestination(svc80, { address: '10.0.0.2', forward: 'masq', upperThreshold: 100, lowerThreshold: 50 });
    await ipvs.addDestination(svc80, { address: '10.0.0.3', forward: 'masq', upperThreshold: 10 });
    await ipvs.addDestination(svc80, { address: '10.0.0.4', forward: 'masq', upperThreshold: 4000000000, lowerThreshold: 3999999999 });
    await ipvs.addDestination(svc80, { address: '10.0.0.5', forward: 'masq', upperThreshold: 7, lowerThreshold: 7 });
    const rows = (args: string[]) =>
      ns
        .ipvsadm(...args)
        .split('\n')
        .filter((l) => l.trim().startsWith('->') && /\d+\.\d+\.\d+\.\d+:\d+/.test(l))
        .map((l) => l.trim().split(/\s+/).slice(1, 4).join(' '))
        .sort();
    const expected = ['10.0.0.2:80 100 50', '10.0.0.3:80 10 0', '10.0.0.4:80 4000000000 3999999999', '10.0.0.5:80 7 7'];
    expect(rows(['-Ln', '--thresholds'])).toEqual(expected);
    expect(rows(['-Ln', '--exact', '--thresholds'])).toEqual(expected);
    const dests = (await ipvs.listDestinations(svc80)).sort(byAddress);
    expect(dests.map((d) => [d.address, d.upperThreshold, d.lowerThreshold])).toEqual([
      ['10.0.0.2', 100, 50],
      ['10.0.0.3', 10, 0],
      ['10.0.0.4', 4000000000, 3999999999],
      ['10.0.0.5', 7, 7],
    ]);
    for (const d of dests) {
      expect(d).toMatchObject({ activeConnections: 0, inactiveConnections: 0, persistentConnections: 0, stats: zeroStats });
    }
  });

  it('updates a destination: weight, forwarding method, thresholds, tunnel; omitted fields take defaults', async () => {
    await ipvs.addDestination(svc80, { address: '10.0.0.2', port: 8080, forward: 'masq', weight: 5, upperThreshold: 9, lowerThreshold: 3 });
    await ipvs.addDestination(svc80, { address: '10.0.0.3', forward: 'tunnel', tunnel: { type: 'ipip' } });
    await ipvs.updateDestination(svc80, { address: '10.0.0.2', port: 8080, forward: 'masq', weight: 0 }); // quiesce; thresholds back to 0
    await ipvs.updateDestination(svc80, { address: '10.0.0.3', forward: 'tunnel', weight: 7, tunnel: { type: 'gue', port: 7000, checksum: 'remcsum' } });
    expect(saveLines(ns)).toEqual([
      '-A -t 192.0.2.10:80 -s rr',
      '-a -t 192.0.2.10:80 -r 10.0.0.2:8080 -m -w 0',
      '-a -t 192.0.2.10:80 -r 10.0.0.3:80 -i -w 7 --tun-type gue --tun-port 7000 --tun-remcsum',
    ]);
    let d = (await ipvs.listDestinations(svc80)).sort(byAddress);
    expect(d[0]).toMatchObject({ address: '10.0.0.2', port: 8080, weight: 0, upperThreshold: 0, lowerThreshold: 0, forward: 'masq' });
    await ipvs.updateDestination(svc80, { address: '10.0.0.3', forward: 'route', upperThreshold: 20, lowerThreshold: 10 });
    await ipvs.updateDestination(svc80, { address: '10.0.0.2', port: 8080, forward: 'masq', weight: 2147483647 });
    expect(saveLines(ns)).toEqual([
      '-A -t 192.0.2.10:80 -s rr',
      '-a -t 192.0.2.10:80 -r 10.0.0.2:8080 -m -w 2147483647',
      '-a -t 192.0.2.10:80 -r 10.0.0.3:80 -g -w 1',
    ]);
    d = (await ipvs.listDestinations(svc80)).sort(byAddress);
    expect(d[1]).toEqual({ ...base, address: '10.0.0.3', family: 'ipv4', port: 80, weight: 1, forward: 'route', upperThreshold: 20, lowerThreshold: 10 });
    expect(await ipvs.save()).toBe(ns.ipvsadm('-Sn'));
  });

  it('deletes destinations (port defaulting to the service port, or given), in address and fwmark services', async () => {
    await ipvs.addDestination(svc80, { address: '10.0.0.2', port: 8080, forward: 'masq' });
    await ipvs.addDestination(svc80, { address: '10.0.0.2', forward: 'masq' });
    await ipvs.addDestination(svc80, { address: '2001:db8::2', forward: 'tunnel' });
    await ipvs.addService({ fwmark: 12, family: 'ipv6', scheduler: 'rr' });
    await ipvs.addDestination({ fwmark: 12, family: 'ipv6' }, { address: '2001:db8::3', port: 443, forward: 'masq' });
    await ipvs.addDestination({ fwmark: 12, family: 'ipv6' }, { address: '2001:db8::4' });
    expect(saveLines(ns)).toContain('-a -f 12 -6 -r [2001:db8::4]:0 -g -w 1');
    await ipvs.deleteDestination(svc80, { address: '10.0.0.2' });
    await ipvs.deleteDestination(svc80, { address: '2001:db8:0::2' });
    await ipvs.deleteDestination({ fwmark: 12, family: 'ipv6' }, { address: '2001:db8::3', port: 443 });
    expect(saveLines(ns)).toEqual([
      '-A -t 192.0.2.10:80 -s rr',
      '-a -t 192.0.2.10:80 -r 10.0.0.2:8080 -m -w 1',
      '-A -f 12 -6 -s rr',
      '-a -f 12 -6 -r [2001:db8::4]:0 -g -w 1',
    ]);
    await ipvs.deleteDestination(svc80, { address: '10.0.0.2', port: 8080 });
    await ipvs.deleteDestination({ fwmark: 12, family: 'ipv6' }, { address: '2001:db8::4', port: 0 });
    expect(saveLines(ns)).toEqual(['-A -t 192.0.2.10:80 -s rr', '-A -f 12 -6 -s rr']);
    expect(await ipvs.listDestinations(svc80)).toEqual([]);
    expect(await ipvs.listDestinations({ fwmark: 12, family: 'ipv6' })).toEqual([]);
  });

  it('zeroes the counters of one service, then of all; counters decode as bigint', async () => {
    const a = { protocol: 'udp', address: '192.0.2.40', port: 53 } as const;
    const b = { protocol: 'udp', address: '192.0.2.41', port: 53 } as const;
    await ipvs.addService({ ...a, scheduler: 'rr' });
    await ipvs.addService({ ...b, scheduler: 'rr' });
    await ipvs.addDestination(a, { address: '10.0.0.2', forward: 'masq' });
    await ipvs.addDestination(b, { address: '10.0.0.3', forward: 'masq' });
    // Local clients go through IPVS too: one datagram to each virtual service
    // (the real servers sit behind the dummy interface, which drops them).
    ns.exec('bash', ['-c', 'printf hi > /dev/udp/192.0.2.40/53; printf hello > /dev/udp/192.0.2.41/53']);
    // The kernel folds the per-CPU counters into what it reports every 2 s.
    const deadline = Date.now() + 10_000;
    while ((await ipvs.getService(b)).stats.connections === 0n || (await ipvs.getService(a)).stats.connections === 0n) {
      if (Date.now() > deadline) throw new Error('no traffic was counted within 10 s');
      await new Promise((r) => setTimeout(r, 250));
    }
    const sa = await ipvs.getService(a);
    expect(sa.stats).toEqual(anyStats);
    expect(sa.stats).toMatchObject({ connections: 1n, inPackets: 1n, outPackets: 0n, inBytes: 30n, outBytes: 0n });
    expect((await ipvs.getService(b)).stats).toMatchObject({ connections: 1n, inPackets: 1n, inBytes: 33n });
    const [da] = await ipvs.listDestinations(a);
    expect(da!.stats).toMatchObject({ connections: 1n, inPackets: 1n, inBytes: 30n });
    expect(da!.inactiveConnections + da!.activeConnections).toBe(1);
    const statsRows = () =>
      ns
        .ipvsadm('-Ln', '--stats', '--exact')
        .split('\n')
        .filter((l) => /^(UDP|  ->) .*\d$/.test(l))
        .map((l) => l.trim().split(/\s+/).join(' '));
    expect(statsRows()).toEqual([
      'UDP 192.0.2.40:53 1 1 0 30 0',
      '-> 10.0.0.2:53 1 1 0 30 0',
      'UDP 192.0.2.41:53 1 1 0 33 0',
      '-> 10.0.0.3:53 1 1 0 33 0',
    ]);
    await ipvs.zero(a);
    expect((await ipvs.getService(a)).stats).toEqual(zeroStats);
    expect((await ipvs.listDestinations(a))[0]!.stats).toEqual(zeroStats);
    expect((await ipvs.getService(b)).stats.connections).toBe(1n);
    expect(statsRows()).toEqual([
      'UDP 192.0.2.40:53 0 0 0 0 0',
      '-> 10.0.0.2:53 0 0 0 0 0',
      'UDP 192.0.2.41:53 1 1 0 33 0',
      '-> 10.0.0.3:53 1 1 0 33 0',
    ]);
    await ipvs.zero();
    expect((await ipvs.getService(b)).stats).toEqual(zeroStats);
    expect(statsRows().every((r) => r.endsWith(' 0 0 0 0 0'))).toBe(true);
    // Zeroing a fwmark service works too.
    await ipvs.addService({ fwmark: 77, family: 'ipv6', scheduler: 'rr' });
    await ipvs.zero({ fwmark: 77, family: 'ipv6' });
  });
});

describe('Ipvs client → ipvsadm: timeouts', () => {
  let ns: Netns;
  let ipvs: Ipvs;
  useLbNetns('ipvs-tmo', (n, i) => {
    ns = n;
    ipvs = i;
  });

  const shown = () => {
    const m = /^Timeout \(tcp tcpfin udp\): (\d+) (\d+) (\d+)$/m.exec(ns.ipvsadm('-L', '--timeout'));
    expect(m).not.toBeNull();
    return { tcp: Number(m![1]), tcpFin: Number(m![2]), udp: Number(m![3]) };
  };

  it('reads the defaults ipvsadm shows, and sets some or all of them', async () => {
    expect(await ipvs.getTimeouts()).toEqual({ tcp: 900, tcpFin: 120, udp: 300 });
    expect(shown()).toEqual({ tcp: 900, tcpFin: 120, udp: 300 });
    await ipvs.setTimeouts({ tcp: 3600, udp: 60 });
    expect(shown()).toEqual({ tcp: 3600, tcpFin: 120, udp: 60 });
    await ipvs.setTimeouts({ tcpFin: 30 });
    expect(shown()).toEqual({ tcp: 3600, tcpFin: 30, udp: 60 });
    expect(await ipvs.getTimeouts()).toEqual({ tcp: 3600, tcpFin: 30, udp: 60 });
    await ipvs.setTimeouts({ tcp: 1, tcpFin: 1, udp: 1 });
    expect(shown()).toEqual({ tcp: 1, tcpFin: 1, udp: 1 });
    // What ipvsadm sets, the library reads.
    ns.ipvsadm('--set', '901', '121', '301');
    expect(await ipvs.getTimeouts()).toEqual({ tcp: 901, tcpFin: 121, udp: 301 });
  });
});

describe('Ipvs client → ipvsadm: sync daemons', () => {
  let ns: Netns;
  let ipvs: Ipvs;
  beforeAll(async () => {
    // Its own namespace: the kernel refuses sync daemons while any service has
    // a real server of the other family (and such servers while a daemon runs).
    ns = createLbNetns('ipvs-sync');
    ipvs = await openIn(ns);
  });
  afterAll(async () => {
    await ipvs?.close();
    ns?.destroy();
  });

  const daemonLines = () => ns.ipvsadm('-L', '--daemon').split('\n').filter(Boolean);
  afterEach(async () => {
    // Leave no daemon behind for the next test, whatever happened.
    for (const d of await ipvs.listDaemons()) await ipvs.stopDaemon(d.state);
    await ipvs.flush();
  });

  it('starts master and backup with every option, lists and stops them', async () => {
    expect(await ipvs.listDaemons()).toEqual([]);
    await ipvs.startDaemon({ state: 'master', interface: 'lan0', syncId: 7, maxLength: 1200, multicastGroup: '239.1.1.1', multicastPort: 9000, multicastTtl: 3 });
    await ipvs.startDaemon({ state: 'backup', interface: 'lo', syncId: 8 });
    expect(daemonLines()).toEqual([
      'master sync daemon (mcast=lan0, syncid=7, maxlen=1200, group=239.1.1.1, port=9000, ttl=3)',
      'backup sync daemon (mcast=lo, syncid=8, maxlen=65507, group=224.0.0.81, port=8848, ttl=1)',
    ]);
    expect(await ipvs.listDaemons()).toEqual([
      { state: 'master', interface: 'lan0', syncId: 7, maxLength: 1200, multicastGroup: '239.1.1.1', multicastPort: 9000, multicastTtl: 3 },
      { state: 'backup', interface: 'lo', syncId: 8, maxLength: 65507, multicastGroup: '224.0.0.81', multicastPort: 8848, multicastTtl: 1 },
    ]);
    await ipvs.stopDaemon('master');
    expect(daemonLines()).toEqual(['backup sync daemon (mcast=lo, syncid=8, maxlen=65507, group=224.0.0.81, port=8848, ttl=1)']);
    expect((await ipvs.listDaemons()).map((d) => d.state)).toEqual(['backup']);
    await ipvs.stopDaemon('backup');
    expect(daemonLines()).toEqual([]);
    expect(await ipvs.listDaemons()).toEqual([]);
  });

  it('starts a master with the defaults and one with an IPv6 group; reads what ipvsadm started', async () => {
    await ipvs.startDaemon({ state: 'master', interface: 'lan0' });
    expect(daemonLines()).toEqual(['master sync daemon (mcast=lan0, syncid=0, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)']);
    await ipvs.stopDaemon('master');
    await ipvs.startDaemon({ state: 'master', interface: 'lan0', syncId: 255, multicastGroup: 'ff02::1:2', multicastPort: 65535, multicastTtl: 255 });
    expect(daemonLines()).toEqual(['master sync daemon (mcast=lan0, syncid=255, maxlen=1452, group=ff02::1:2, port=65535, ttl=255)']);
    expect(await ipvs.listDaemons()).toEqual([
      { state: 'master', interface: 'lan0', syncId: 255, maxLength: 1452, multicastGroup: 'ff02::1:2', multicastPort: 65535, multicastTtl: 255 },
    ]);
    await ipvs.stopDaemon('master');
    ns.ipvsadm('--start-daemon', 'backup', '--mcast-interface', 'lan0', '--syncid', '9', '--sync-maxlen', '1200', '--mcast-group', '239.0.0.9', '--mcast-port', '9999', '--mcast-ttl', '9');
    expect(await ipvs.listDaemons()).toEqual([
      { state: 'backup', interface: 'lan0', syncId: 9, maxLength: 1200, multicastGroup: '239.0.0.9', multicastPort: 9999, multicastTtl: 9 },
    ]);
    await ipvs.stopDaemon('backup');
    expect(daemonLines()).toEqual([]);
    // The kernel raises a backup's maxlen to at least 1024 (a master keeps it).
    await ipvs.startDaemon({ state: 'backup', interface: 'lan0', maxLength: 1000 });
    await ipvs.startDaemon({ state: 'master', interface: 'lan0', maxLength: 1000 });
    expect(daemonLines()).toEqual([
      'master sync daemon (mcast=lan0, syncid=0, maxlen=1000, group=224.0.0.81, port=8848, ttl=1)',
      'backup sync daemon (mcast=lan0, syncid=0, maxlen=1024, group=224.0.0.81, port=8848, ttl=1)',
    ]);
    expect((await ipvs.listDaemons()).map((d) => [d.state, d.maxLength])).toEqual([['master', 1000], ['backup', 1024]]);
  });

  it('refuses a second daemon of the same role (EEXIST) and stopping one that is not running (ESRCH)', async () => {
    await ipvs.startDaemon({ state: 'backup', interface: 'lan0', syncId: 1 });
    expectIpvsError(
      await rejectionOf(ipvs.startDaemon({ state: 'backup', interface: 'lan0', syncId: 2 })),
      'EEXIST', 17, 'startDaemon', 'startDaemon: sync daemon backup is already running',
    );
    expect(daemonLines()).toEqual(['backup sync daemon (mcast=lan0, syncid=1, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)']);
    await ipvs.stopDaemon('backup');
    const e = expectIpvsError(await rejectionOf(ipvs.stopDaemon('backup')), 'ESRCH', 3, 'stopDaemon');
    expect(e.message).toBe('stopDaemon: no sync daemon backup is running');
    expectIpvsError(await rejectionOf(ipvs.stopDaemon('master')), 'ESRCH', 3, 'stopDaemon', 'no sync daemon master is running');
  });

  it('stops a daemon right after starting it (the kernel sends no answer to that stop; the library confirms it anyway)', async () => {
    // kthread_stop() of a sync thread that has not run yet returns -EINTR, and
    // netlink sends no ACK at all for -EINTR. ipvsadm never meets this: it is
    // too slow between start and stop.
    for (let i = 0; i < 6; i++) {
      await ipvs.startDaemon({ state: i % 2 ? 'backup' : 'master', interface: 'lan0', syncId: i });
      await ipvs.stopDaemon(i % 2 ? 'backup' : 'master', { timeoutMs: 5000 });
      expect(daemonLines()).toEqual([]);
    }
    expect(await ipvs.listDaemons()).toEqual([]);
    // The same through restore(), which sends its commands in batches.
    await ipvs.restore('--start-daemon master --mcast-interface lan0 --syncid 4\n--stop-daemon master\n--start-daemon backup --mcast-interface lan0\n', { signal: AbortSignal.timeout(10_000) });
    expect(daemonLines()).toEqual(['backup sync daemon (mcast=lan0, syncid=0, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)']);
    await ipvs.restore('--stop-daemon backup\n', { signal: AbortSignal.timeout(10_000) });
    expect(daemonLines()).toEqual([]);
    // A stop that ends the rules, right after its start (the case with no answer from the kernel).
    for (let i = 0; i < 4; i++) {
      await ipvs.restore('--start-daemon master --mcast-interface lan0\n--stop-daemon master\n', { signal: AbortSignal.timeout(10_000) });
      expect(daemonLines()).toEqual([]);
    }
  });

  it('rejects a daemon on a missing interface with ENODEV naming it', async () => {
    const e = expectIpvsError(await rejectionOf(ipvs.startDaemon({ state: 'master', interface: 'nosuch0' })), 'ENODEV', 19, 'startDaemon', '"nosuch0"');
    expect(e.message).toBe('startDaemon: no such network interface "nosuch0" in this network namespace');
    expect(e).toBeInstanceOf(IpvsError);
    expect(daemonLines()).toEqual([]);
  });

  it('refuses a sync daemon while a service has a real server of the other family (EINVAL), and vice versa', async () => {
    const spec: ServiceSpec = { protocol: 'tcp', address: '192.0.2.50', port: 80, scheduler: 'rr' };
    await ipvs.addService(spec);
    await ipvs.addDestination(spec, { address: '2001:db8::50', forward: 'tunnel' });
    expectIpvsError(await rejectionOf(ipvs.startDaemon({ state: 'master', interface: 'lan0' })), 'EINVAL', 22, 'startDaemon');
    await ipvs.flush();
    await ipvs.startDaemon({ state: 'master', interface: 'lan0' });
    await ipvs.addService(spec);
    expectIpvsError(await rejectionOf(ipvs.addDestination(spec, { address: '2001:db8::50', forward: 'tunnel' })), 'EINVAL', 22, 'addDestination', 'destination [2001:db8::50]:80');
  });
});
