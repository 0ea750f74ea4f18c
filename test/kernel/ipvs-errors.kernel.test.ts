// The Ipvs client on the real kernel, part 3: every kernel error as an
// IpvsError (errno, code, operation, a message in the operation's terms);
// invalid input rejected before anything is sent, with the table unchanged;
// and one handle shared by many concurrent callers.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { DaemonSpec, DestinationSpec, Ipvs, ServiceKey, ServiceSpec } from '../../src/index.js';
import type { Netns } from './harness.js';
import { createLbNetns, expectInvalid, expectIpvsError, failureOf, openIn, rejectionOf, saveLines, sendCounter, type SendCounter, useLbNetns } from './ipvs-helpers.js';

const svc = { protocol: 'tcp', address: '192.0.2.10', port: 80 } as const;
const missing = { protocol: 'tcp', address: '192.0.2.99', port: 80 } as const;

describe('kernel errors as IpvsError', () => {
  let ns: Netns;
  let ipvs: Ipvs;
  useLbNetns('ipvs-err', (n, i) => {
    ns = n;
    ipvs = i;
  });
  beforeEach(async () => {
    await ipvs.flush();
    await ipvs.addService({ ...svc, scheduler: 'rr' });
    await ipvs.addDestination(svc, { address: '10.0.0.2', forward: 'masq' });
  });

  // EPERM (no CAP_NET_ADMIN) cannot be produced here: the tests run as root
  // in the sandbox. Its mapping is covered by the unit tests.

  it('ESRCH: every operation on a service that does not exist names it', async () => {
    const name = 'no such service TCP 192.0.2.99:80';
    const cases: [string, () => Promise<unknown>][] = [
      ['updateService', () => ipvs.updateService({ ...missing, scheduler: 'rr' })],
      ['deleteService', () => ipvs.deleteService(missing)],
      ['getService', () => ipvs.getService(missing)],
      ['listDestinations', () => ipvs.listDestinations(missing)],
      ['addDestination', () => ipvs.addDestination(missing, { address: '10.0.0.2', forward: 'masq' })],
      ['updateDestination', () => ipvs.updateDestination(missing, { address: '10.0.0.2', forward: 'masq' })],
      ['deleteDestination', () => ipvs.deleteDestination(missing, { address: '10.0.0.2' })],
      ['zero', () => ipvs.zero(missing)],
    ];
    for (const [operation, call] of cases) {
      const e = expectIpvsError(await rejectionOf(call()), 'ESRCH', 3, operation, `${operation}: ${name}`);
      expect(e.message).toBe(`${operation}: ${name}`);
    }
    expectIpvsError(await rejectionOf(ipvs.deleteService({ fwmark: 42 })), 'ESRCH', 3, 'deleteService', 'deleteService: no such service FWM 42');
    expectIpvsError(await rejectionOf(ipvs.getService({ fwmark: 42, family: 'ipv6' })), 'ESRCH', 3, 'getService', 'getService: no such service FWM 42 IPv6');
    expectIpvsError(
      await rejectionOf(ipvs.deleteService({ protocol: 'udp', address: '2001:db8::99', port: 53 })),
      'ESRCH', 3, 'deleteService', 'deleteService: no such service UDP [2001:db8::99]:53',
    );
    // The protocol is part of the key: UDP 192.0.2.10:80 is another service.
    expectIpvsError(await rejectionOf(ipvs.deleteService({ ...svc, protocol: 'udp' })), 'ESRCH', 3, 'deleteService', 'no such service UDP 192.0.2.10:80');
    expect(saveLines(ns)).toEqual(['-A -t 192.0.2.10:80 -s rr', '-a -t 192.0.2.10:80 -r 10.0.0.2:80 -m -w 1']);
  });

  it('ENOENT: an unknown scheduler or persistence engine names it', async () => {
    const e = expectIpvsError(
      await rejectionOf(ipvs.addService({ ...missing, scheduler: 'nosuchsched' })),
      'ENOENT', 2, 'addService', 'scheduler "nosuchsched" does not exist in this kernel',
    );
    expect(e.object).toBe('service TCP 192.0.2.99:80');
    expectIpvsError(await rejectionOf(ipvs.updateService({ ...svc, scheduler: 'nosuchsched' })), 'ENOENT', 2, 'updateService', 'scheduler "nosuchsched"');
    expectIpvsError(
      await rejectionOf(ipvs.addService({ ...missing, protocol: 'udp', scheduler: 'rr', persistence: { timeout: 60 }, persistenceEngine: 'nosuchpe' })),
      'ENOENT', 2, 'addService', 'persistence engine "nosuchpe"',
    );
    expect(saveLines(ns)).toEqual(['-A -t 192.0.2.10:80 -s rr', '-a -t 192.0.2.10:80 -r 10.0.0.2:80 -m -w 1']);
  });

  it('ENOENT: updating or deleting a destination that does not exist names it and its service', async () => {
    const up = expectIpvsError(
      await rejectionOf(ipvs.updateDestination(svc, { address: '10.0.0.99', forward: 'masq', weight: 3 })),
      'ENOENT', 2, 'updateDestination',
    );
    expect(up.message).toBe('updateDestination: no such destination 10.0.0.99:80 in service TCP 192.0.2.10:80');
    expect(up.object).toBe('destination 10.0.0.99:80');
    const del = expectIpvsError(await rejectionOf(ipvs.deleteDestination(svc, { address: '10.0.0.2', port: 8080 })), 'ENOENT', 2, 'deleteDestination');
    expect(del.message).toBe('deleteDestination: no such destination 10.0.0.2:8080 in service TCP 192.0.2.10:80');
    await ipvs.addService({ fwmark: 5, family: 'ipv6', scheduler: 'rr' });
    expectIpvsError(
      await rejectionOf(ipvs.deleteDestination({ fwmark: 5, family: 'ipv6' }, { address: '2001:db8::9', port: 443 })),
      'ENOENT', 2, 'deleteDestination', 'deleteDestination: no such destination [2001:db8::9]:443 in service FWM 5 IPv6',
    );
  });

  it('EEXIST: adding a service or destination twice', async () => {
    const s = expectIpvsError(await rejectionOf(ipvs.addService({ ...svc, scheduler: 'wlc' })), 'EEXIST', 17, 'addService');
    expect(s.message).toBe('addService: service TCP 192.0.2.10:80 already exists');
    const d = expectIpvsError(await rejectionOf(ipvs.addDestination(svc, { address: '10.0.0.2', forward: 'masq', weight: 9 })), 'EEXIST', 17, 'addDestination');
    expect(d.message).toBe('addDestination: destination 10.0.0.2:80 already exists in service TCP 192.0.2.10:80');
    await ipvs.addService({ fwmark: 6, scheduler: 'rr' });
    expectIpvsError(await rejectionOf(ipvs.addService({ fwmark: 6, scheduler: 'rr' })), 'EEXIST', 17, 'addService', 'addService: service FWM 6 already exists');
    // The existing entries are untouched.
    expect(saveLines(ns)).toEqual(['-A -t 192.0.2.10:80 -s rr', '-a -t 192.0.2.10:80 -r 10.0.0.2:80 -m -w 1', '-A -f 6 -s rr']);
  });

  it('ERANGE would be the kernel\'s answer to lower threshold > upper, but the library refuses it first', async () => {
    // ipvsadm lets it through and the kernel says ERANGE (also with upper 0, "no limit").
    expect(() => ns.ipvsadm('-a', '-t', '192.0.2.10:80', '-r', '10.0.0.3', '-m', '-x', '0', '-y', '5')).toThrow(/out of range/);
    expectInvalid(await failureOf(() => ipvs.addDestination(svc, { address: '10.0.0.3', forward: 'masq', upperThreshold: 0, lowerThreshold: 5 })), 'destination.lowerThreshold');
  });

  it('ESRCH stopping a daemon that is not running; ENODEV starting one on a missing interface', async () => {
    await ipvs.flush();
    const stop = expectIpvsError(await rejectionOf(ipvs.stopDaemon('master')), 'ESRCH', 3, 'stopDaemon');
    expect(stop.message).toBe('stopDaemon: no sync daemon master is running');
    const start = expectIpvsError(await rejectionOf(ipvs.startDaemon({ state: 'backup', interface: 'nosuch0', syncId: 3 })), 'ENODEV', 19, 'startDaemon');
    expect(start.message).toBe('startDaemon: no such network interface "nosuch0" in this network namespace');
    expect(await ipvs.listDaemons()).toEqual([]);
  });
});

describe('invalid input rejects before anything is sent', () => {
  let ns: Netns;
  let ipvs: Ipvs;
  let counter: SendCounter;
  let table: string;
  beforeAll(async () => {
    ns = createLbNetns('ipvs-inval');
    counter = sendCounter();
    ipvs = await openIn(ns, counter.factory);
    await ipvs.addService({ ...svc, scheduler: 'rr' });
    await ipvs.addDestination(svc, { address: '10.0.0.2', forward: 'masq' });
    await ipvs.addService({ fwmark: 3, scheduler: 'rr' });
    table = ns.ipvsadm('-Sn');
    expect(table).toBe('-A -t 192.0.2.10:80 -s rr\n-a -t 192.0.2.10:80 -r 10.0.0.2:80 -m -w 1\n-A -f 3 -s rr\n');
  });
  afterAll(async () => {
    await ipvs?.close();
    ns?.destroy();
  });

  const dest = (d: Record<string, unknown>) => ({ address: '10.0.0.3', forward: 'masq', ...d }) as DestinationSpec;
  const service = (s: Record<string, unknown>) => ({ ...svc, scheduler: 'rr', ...s }) as ServiceSpec;
  const cases: [string, string, (ipvs: Ipvs) => Promise<unknown>, RegExp?][] = [
    ['malformed service address', 'service.address', (c) => c.addService(service({ address: '192.0.2.300' })), /not a valid IPv4 or IPv6 address/],
    ['malformed IPv6 service address', 'service.address', (c) => c.deleteService({ protocol: 'udp', address: '2001:db8:::1', port: 53 })],
    ['malformed destination address', 'destination.address', (c) => c.addDestination(svc, dest({ address: '10.0.0' }))],
    ['port 0 on a service that is not persistent', 'service.port', (c) => c.addService(service({ port: 0 })), /only allowed for a persistent service/],
    ['port 70000', 'service.port', (c) => c.addService(service({ port: 70000 })), /0 to 65535/],
    ['destination port 70000', 'destination.port', (c) => c.addDestination(svc, dest({ port: 70000 }))],
    ['unknown forwarding method', 'destination.forward', (c) => c.addDestination(svc, dest({ forward: 'nat' })), /unknown forwarding method "nat"/],
    ['negative weight', 'destination.weight', (c) => c.updateDestination(svc, dest({ address: '10.0.0.2', weight: -1 }))],
    ['weight above 2^31-1', 'destination.weight', (c) => c.addDestination(svc, dest({ weight: 2 ** 31 }))],
    ['lower threshold above upper', 'destination.lowerThreshold', (c) => c.addDestination(svc, dest({ upperThreshold: 10, lowerThreshold: 11 })), /must not exceed upperThreshold \(10\)/],
    ['non-contiguous IPv4 mask', 'service.persistence.netmask', (c) => c.addService(service({ persistence: { timeout: 60, netmask: '255.0.255.0' } })), /not a contiguous netmask/],
    ['IPv6 prefix 0', 'service.persistence.netmask', (c) => c.addService(service({ address: '2001:db8::10', persistence: { timeout: 60, netmask: 0 } }))],
    ['persistence timeout 0', 'service.persistence.timeout', (c) => c.addService(service({ persistence: { timeout: 0 } }))],
    ['fwmark 0', 'service.fwmark', (c) => c.addService({ fwmark: 0, scheduler: 'rr' })],
    ['fwmark 2^32', 'service.fwmark', (c) => c.deleteService({ fwmark: 2 ** 32 })],
    ['destination family differs without tunnel', 'destination.address', (c) => c.addDestination(svc, dest({ address: '2001:db8::5', forward: 'masq' })), /mixing families needs forward: 'tunnel'/],
    ['route destination on another port', 'destination.port', (c) => c.addDestination(svc, dest({ forward: 'route', port: 8080 }))],
    ['tunnel options without tunnel forwarding', 'destination.tunnel', (c) => c.addDestination(svc, dest({ tunnel: { type: 'gre' } }))],
    ['GUE without port', 'destination.tunnel.port', (c) => c.addDestination(svc, dest({ forward: 'tunnel', tunnel: { type: 'gue' } })), /required for GUE/],
    ['remote checksum on GRE', 'destination.tunnel.checksum', (c) => c.addDestination(svc, dest({ forward: 'tunnel', tunnel: { type: 'gre', checksum: 'remcsum' } }))],
    ['unknown scheduler flag', 'service.schedulerFlags[0]', (c) => c.addService(service({ schedulerFlags: ['flag-9'] }))],
    ['sh flag on another scheduler', 'service.schedulerFlags[0]', (c) => c.updateService(service({ schedulerFlags: ['sh-port'] }))],
    ['one-packet on TCP', 'service.onePacket', (c) => c.addService(service({ onePacket: true }))],
    ['scheduler name with a space', 'service.scheduler', (c) => c.addService(service({ scheduler: 'r r' }))],
    ['unknown protocol', 'service.protocol', (c) => c.addService(service({ protocol: 'icmp' }))],
    ['daemon interface name too long', 'daemon.interface', (c) => c.startDaemon({ state: 'master', interface: 'a-very-long-ifname0' }), /1 to 15 characters/],
    ['daemon state', 'daemon.state', (c) => c.startDaemon({ state: 'primary', interface: 'lan0' } as unknown as DaemonSpec)],
    ['daemon group not multicast', 'daemon.multicastGroup', (c) => c.startDaemon({ state: 'master', interface: 'lan0', multicastGroup: '10.0.0.1' })],
    ['daemon syncId 256', 'daemon.syncId', (c) => c.startDaemon({ state: 'master', interface: 'lan0', syncId: 256 })],
    ['stopDaemon state', 'state', (c) => c.stopDaemon('both' as 'master')],
    ['no timeout given', 'timeouts', (c) => c.setTimeouts({})],
    ['negative timeout', 'timeouts.udp', (c) => c.setTimeouts({ udp: -5 })],
    ['service key of both kinds', 'service', (c) => c.zero({ fwmark: 3, protocol: 'tcp', address: '192.0.2.10', port: 80 } as unknown as ServiceKey)],
  ];

  for (const [what, field, call, message] of cases) {
    it(`${what} → InvalidArgumentError on ${field}`, async () => {
      const sends = counter.sends;
      expectInvalid(await failureOf(() => call(ipvs)), field, message);
      expect(counter.sends).toBe(sends);
      expect(ns.ipvsadm('-Sn')).toBe(table);
    });
  }

  it('restore() checks every line before sending any', async () => {
    const sends = counter.sends;
    const e = expectInvalid(
      await failureOf(() => ipvs.restore('-A -t 192.0.2.11:80 -s rr\n-a -t 192.0.2.11:80 -r 10.0.0.5 -m -w 1\n-A -t 192.0.2.12:80 -s rr -q\n')),
      'line 3 -q',
    );
    expect(e.message).toContain('unknown option');
    expect(counter.sends).toBe(sends);
    expect(ns.ipvsadm('-Sn')).toBe(table);
  });

  it('still works afterwards (the counter does count real sends)', async () => {
    const sends = counter.sends;
    expect((await ipvs.getService(svc)).scheduler).toBe('rr');
    expect(counter.sends).toBeGreaterThan(sends);
  });
});

describe('one handle, many concurrent callers', () => {
  let ns: Netns;
  let ipvs: Ipvs;
  useLbNetns('ipvs-conc', (n, i) => {
    ns = n;
    ipvs = i;
  });

  it('100 concurrent addService + addDestination pairs all land', async () => {
    const n = 100;
    const key = (i: number) => ({ protocol: i % 2 ? 'udp' : 'tcp', address: `192.0.2.${100 + (i % 50)}`, port: 1000 + i }) as const;
    await Promise.all(
      Array.from({ length: n }, async (_, i) => {
        await ipvs.addService({ ...key(i), scheduler: 'rr' });
        await ipvs.addDestination(key(i), { address: `10.1.${i >> 8}.${(i & 0xff) + 1}`, port: 2000 + i, forward: 'masq', weight: i });
      }),
    );
    const lines = saveLines(ns);
    expect(lines).toHaveLength(2 * n);
    for (let i = 0; i < n; i++) {
      const k = key(i);
      const name = `${k.protocol === 'udp' ? '-u' : '-t'} ${k.address}:${k.port}`;
      const at = lines.indexOf(`-A ${name} -s rr`);
      expect(at, name).toBeGreaterThanOrEqual(0);
      expect(lines[at + 1]).toBe(`-a ${name} -r 10.1.0.${i + 1}:${2000 + i} -m -w ${i}`);
    }
    expect(await ipvs.save()).toBe(ns.ipvsadm('-Sn'));
    // And as many concurrent reads, each answered with its own service.
    const got = await Promise.all(Array.from({ length: n }, (_, i) => ipvs.getService(key(i))));
    got.forEach((s, i) => expect(s).toMatchObject(key(i)));
    const dests = await Promise.all(Array.from({ length: n }, (_, i) => ipvs.listDestinations(key(i))));
    dests.forEach((d, i) => expect(d.map((x) => [x.address, x.port, x.weight])).toEqual([[`10.1.0.${i + 1}`, 2000 + i, i]]));
    await ipvs.flush();
  });
});
