// Validation: every invalid input rejects with an InvalidArgumentError that
// names the offending field, and nothing at all reaches the kernel.
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../../src/errors.js';
import { Ipvs } from '../../../src/ipvs/client.js';
import { GENL_ID_CTRL } from '../../../src/netlink/constants.js';
import { fakeIpvsKernel, type FakeIpvsKernel } from '../../fixtures/ipvs/fixtures.js';

const svc = { protocol: 'tcp', address: '192.0.2.10', port: 80 } as const;
const svc6 = { protocol: 'tcp', address: '2001:db8::10', port: 80 } as const;

// Casts: these inputs are wrong on purpose, as they would arrive from JavaScript or JSON.
type Any = any;

interface Case {
  name: string;
  field: string;
  call: (i: Ipvs) => Promise<unknown>;
}

const CASES: Case[] = [
  // ---- service keys
  { name: 'malformed IPv4 address', field: 'service.address', call: (i) => i.addService({ ...svc, address: '192.0.2.300' }) },
  { name: 'truncated IPv4 address', field: 'service.address', call: (i) => i.addService({ ...svc, address: '192.0.2' }) },
  { name: 'malformed IPv6 address', field: 'service.address', call: (i) => i.addService({ ...svc, address: '2001:db8:::1' }) },
  { name: 'host name instead of an address', field: 'service.address', call: (i) => i.addService({ ...svc, address: 'localhost' }) },
  { name: 'address not a string', field: 'service.address', call: (i) => i.addService({ ...svc, address: 3232235530 as Any }) },
  { name: 'IPv6 address with a zone index', field: 'service.address', call: (i) => i.addService({ ...svc, address: 'fe80::1%eth0' }) },
  { name: 'port 70000', field: 'service.port', call: (i) => i.addService({ ...svc, port: 70000 }) },
  { name: 'port -1', field: 'service.port', call: (i) => i.addService({ ...svc, port: -1 }) },
  { name: 'port 1.5', field: 'service.port', call: (i) => i.addService({ ...svc, port: 1.5 }) },
  { name: 'port as a string', field: 'service.port', call: (i) => i.addService({ ...svc, port: '80' as Any }) },
  { name: 'port 0 without persistence', field: 'service.port', call: (i) => i.addService({ ...svc, port: 0 }) },
  { name: 'unknown protocol', field: 'service.protocol', call: (i) => i.addService({ ...svc, protocol: 'icmp' as Any }) },
  { name: 'fwmark 0', field: 'service.fwmark', call: (i) => i.addService({ fwmark: 0 }) },
  { name: 'fwmark 2**32', field: 'service.fwmark', call: (i) => i.addService({ fwmark: 2 ** 32 }) },
  { name: 'fwmark -1', field: 'service.fwmark', call: (i) => i.deleteService({ fwmark: -1 }) },
  { name: 'fwmark family not ipv4/ipv6', field: 'service.family', call: (i) => i.deleteService({ fwmark: 1, family: 'inet6' as Any }) },
  { name: 'key given to getService is malformed', field: 'service.address', call: (i) => i.getService({ ...svc, address: '1.2.3.4.5' }) },
  { name: 'key of listDestinations is malformed', field: 'service.port', call: (i) => i.listDestinations({ ...svc, port: 65536 }) },
  { name: 'key of zero is malformed', field: 'service.protocol', call: (i) => i.zero({ ...svc, protocol: 'TCP' as Any }) },

  // ---- service options
  { name: 'non-contiguous netmask 255.0.255.0', field: 'service.persistence.netmask', call: (i) => i.addService({ ...svc, persistence: { timeout: 60, netmask: '255.0.255.0' } }) },
  { name: 'IPv4 prefix 33', field: 'service.persistence.netmask', call: (i) => i.addService({ ...svc, persistence: { timeout: 60, netmask: 33 } }) },
  { name: 'IPv6 netmask 0', field: 'service.persistence.netmask', call: (i) => i.addService({ ...svc6, persistence: { timeout: 60, netmask: 0 } }) },
  { name: 'IPv6 netmask 129', field: 'service.persistence.netmask', call: (i) => i.addService({ ...svc6, persistence: { timeout: 60, netmask: 129 } }) },
  { name: 'IPv6 dotted netmask', field: 'service.persistence.netmask', call: (i) => i.addService({ ...svc6, persistence: { timeout: 60, netmask: '255.255.255.0' } }) },
  { name: 'persistence timeout 0', field: 'service.persistence.timeout', call: (i) => i.addService({ ...svc, persistence: { timeout: 0 } }) },
  { name: 'sh flag with a non-sh scheduler', field: 'service.schedulerFlags[0]', call: (i) => i.addService({ ...svc, scheduler: 'rr', schedulerFlags: ['sh-port'] }) },
  { name: 'mh flag with the sh scheduler', field: 'service.schedulerFlags[1]', call: (i) => i.addService({ ...svc, scheduler: 'sh', schedulerFlags: ['sh-port', 'mh-port'] }) },
  { name: 'unknown scheduler flag', field: 'service.schedulerFlags[0]', call: (i) => i.addService({ ...svc, scheduler: 'sh', schedulerFlags: ['sh-bogus' as Any] }) },
  { name: 'scheduler name of 16 characters', field: 'service.scheduler', call: (i) => i.addService({ ...svc, scheduler: 'abcdefghijklmnop' }) },
  { name: 'scheduler name with a space', field: 'service.scheduler', call: (i) => i.addService({ ...svc, scheduler: 'w rr' }) },
  { name: 'scheduler name with a slash', field: 'service.scheduler', call: (i) => i.updateService({ ...svc, scheduler: '../rr' }) },
  { name: 'empty scheduler name', field: 'service.scheduler', call: (i) => i.addService({ ...svc, scheduler: '' }) },
  { name: 'persistence engine name with bad characters', field: 'service.persistenceEngine', call: (i) => i.addService({ ...svc, persistence: { timeout: 60 }, persistenceEngine: 'si p' }) },
  { name: 'one-packet scheduling on TCP', field: 'service.onePacket', call: (i) => i.addService({ ...svc, onePacket: true }) },

  // ---- destinations
  { name: 'unknown forwarding method', field: 'destination.forward', call: (i) => i.addDestination(svc, { address: '10.0.0.2', forward: 'nat' as Any }) },
  { name: 'negative weight', field: 'destination.weight', call: (i) => i.addDestination(svc, { address: '10.0.0.2', forward: 'masq', weight: -1 }) },
  { name: 'weight 2**31', field: 'destination.weight', call: (i) => i.updateDestination(svc, { address: '10.0.0.2', forward: 'masq', weight: 2 ** 31 }) },
  {
    name: 'lowerThreshold above upperThreshold',
    field: 'destination.lowerThreshold',
    call: (i) => i.addDestination(svc, { address: '10.0.0.2', forward: 'masq', upperThreshold: 10, lowerThreshold: 20 }),
  },
  { name: 'lowerThreshold with upperThreshold 0 (no limit)', field: 'destination.lowerThreshold', call: (i) => i.addDestination(svc, { address: '10.0.0.2', forward: 'masq', upperThreshold: 0, lowerThreshold: 5 }) },
  { name: 'lowerThreshold without an upper threshold', field: 'destination.lowerThreshold', call: (i) => i.addDestination(svc, { address: '10.0.0.2', forward: 'masq', lowerThreshold: 5 }) },
  { name: 'IPv6 real server behind an IPv4 service without tunnelling', field: 'destination.address', call: (i) => i.addDestination(svc, { address: '2001:db8::2', forward: 'masq' }) },
  { name: 'IPv4 real server behind an IPv6 service with direct routing', field: 'destination.address', call: (i) => i.addDestination(svc6, { address: '10.0.0.2' }) },
  { name: 'tunnel options without tunnel forwarding', field: 'destination.tunnel', call: (i) => i.addDestination(svc, { address: '10.0.0.2', forward: 'masq', tunnel: { type: 'ipip' } }) },
  { name: 'unknown tunnel type', field: 'destination.tunnel.type', call: (i) => i.addDestination(svc, { address: '10.0.0.2', forward: 'tunnel', tunnel: { type: 'vxlan' as Any } }) },
  { name: 'GUE without a port', field: 'destination.tunnel.port', call: (i) => i.addDestination(svc, { address: '10.0.0.2', forward: 'tunnel', tunnel: { type: 'gue' } }) },
  { name: 'tunnel port on GRE', field: 'destination.tunnel.port', call: (i) => i.addDestination(svc, { address: '10.0.0.2', forward: 'tunnel', tunnel: { type: 'gre', port: 6080 } }) },
  { name: 'remote checksum offload on GRE', field: 'destination.tunnel.checksum', call: (i) => i.addDestination(svc, { address: '10.0.0.2', forward: 'tunnel', tunnel: { type: 'gre', checksum: 'remcsum' } }) },
  { name: 'checksum on IPIP', field: 'destination.tunnel.checksum', call: (i) => i.addDestination(svc, { address: '10.0.0.2', forward: 'tunnel', tunnel: { type: 'ipip', checksum: 'csum' } }) },
  { name: 'DR real server port different from the service port', field: 'destination.port', call: (i) => i.addDestination(svc, { address: '10.0.0.2', port: 8080, forward: 'route' }) },
  { name: 'tunnelled real server port different from the service port', field: 'destination.port', call: (i) => i.updateDestination(svc, { address: '10.0.0.2', port: 8080, forward: 'tunnel' }) },
  { name: 'real server address malformed', field: 'destination.address', call: (i) => i.deleteDestination(svc, { address: '10.0.0.256' }) },
  { name: 'real server port 65536', field: 'destination.port', call: (i) => i.deleteDestination(svc, { address: '10.0.0.2', port: 65536 }) },
  { name: 'real server IPv6 address with a zone', field: 'destination.address', call: (i) => i.addDestination(svc6, { address: 'fe80::2%lan0', forward: 'masq' }) },

  // ---- sync daemons
  { name: 'daemon interface name of 16 characters', field: 'daemon.interface', call: (i) => i.startDaemon({ state: 'master', interface: 'abcdefghijklmnop' }) },
  { name: 'daemon interface name with a slash', field: 'daemon.interface', call: (i) => i.startDaemon({ state: 'master', interface: 'eth0/1' }) },
  { name: 'empty daemon interface name', field: 'daemon.interface', call: (i) => i.startDaemon({ state: 'master', interface: '' }) },
  { name: 'syncId 256', field: 'daemon.syncId', call: (i) => i.startDaemon({ state: 'master', interface: 'eth0', syncId: 256 }) },
  { name: 'non-multicast IPv4 group', field: 'daemon.multicastGroup', call: (i) => i.startDaemon({ state: 'master', interface: 'eth0', multicastGroup: '10.0.0.1' }) },
  { name: 'non-multicast IPv6 group', field: 'daemon.multicastGroup', call: (i) => i.startDaemon({ state: 'backup', interface: 'eth0', multicastGroup: '2001:db8::1' }) },
  { name: 'multicast TTL 0', field: 'daemon.multicastTtl', call: (i) => i.startDaemon({ state: 'master', interface: 'eth0', multicastTtl: 0 }) },
  { name: 'multicast port 0', field: 'daemon.multicastPort', call: (i) => i.startDaemon({ state: 'master', interface: 'eth0', multicastPort: 0 }) },
  { name: 'unknown daemon state', field: 'daemon.state', call: (i) => i.startDaemon({ state: 'primary' as Any, interface: 'eth0' }) },
  { name: 'unknown state to stop', field: 'state', call: (i) => i.stopDaemon('both' as Any) },

  // ---- timeouts
  { name: 'setTimeouts({})', field: 'timeouts', call: (i) => i.setTimeouts({}) },
  { name: 'negative timeout', field: 'timeouts.tcp', call: (i) => i.setTimeouts({ tcp: -1 }) },
  { name: 'fractional timeout', field: 'timeouts.udp', call: (i) => i.setTimeouts({ udp: 0.5 }) },
  { name: 'unknown timeout key', field: 'timeouts.tcpfin', call: (i) => i.setTimeouts({ tcp: 10, tcpfin: 5 } as Any) },
];

let clients: Ipvs[] = [];
afterEach(async () => {
  for (const c of clients) await c.close();
  clients = [];
});

async function client(): Promise<{ ipvs: Ipvs; kernel: FakeIpvsKernel }> {
  const kernel = fakeIpvsKernel();
  const ipvs = await Ipvs.open({ socketFactory: kernel.factory });
  clients.push(ipvs);
  return { ipvs, kernel };
}

describe('invalid input is rejected before anything is sent', () => {
  for (const c of CASES) {
    it(`${c.name} → ${c.field}`, async () => {
      const { ipvs, kernel } = await client();
      const e = await c.call(ipvs).then(
        () => {
          throw new Error('expected a rejection');
        },
        (x: unknown) => x,
      );
      expect(e).toBeInstanceOf(InvalidArgumentError);
      const err = e as InvalidArgumentError;
      expect(err.field).toBe(c.field);
      expect(err.message.startsWith(`${c.field}: `)).toBe(true);
      expect(err.code).toBe('ERR_INVALID_ARGUMENT');
      // Let anything queued get flushed, then check: only the family lookup went out.
      await new Promise((r) => setImmediate(r));
      expect(kernel.ipvsRequests).toEqual([]);
      expect(kernel.allRequests.map((m) => m.type)).toEqual([GENL_ID_CTRL]);
      // The connection still works afterwards.
      await ipvs.flush();
      expect(kernel.ipvsRequests).toHaveLength(1);
    });
  }

  it('the same checks pass for the valid neighbours of those inputs', async () => {
    const { ipvs, kernel } = await client();
    await ipvs.addService({ ...svc, port: 65535 });
    await ipvs.addService({ ...svc, port: 0, persistence: { timeout: 1 } });
    await ipvs.addService({ fwmark: 1 });
    await ipvs.addService({ fwmark: 2 ** 32 - 1, family: 'ipv6' });
    await ipvs.addService({ ...svc6, persistence: { timeout: 60, netmask: 1 } });
    await ipvs.addService({ ...svc6, persistence: { timeout: 60, netmask: 128 } });
    await ipvs.addService({ ...svc, persistence: { timeout: 60, netmask: 0 } });
    await ipvs.addService({ ...svc, scheduler: 'abcdefghijklmno' });
    await ipvs.addDestination(svc, { address: '10.0.0.2', forward: 'masq', weight: 2 ** 31 - 1, upperThreshold: 5, lowerThreshold: 5 });
    await ipvs.addDestination(svc, { address: '2001:db8::2', port: 80, forward: 'tunnel' });
    await ipvs.addDestination(svc, { address: '10.0.0.3', forward: 'tunnel', tunnel: { type: 'gue', port: 1, checksum: 'remcsum' } });
    await ipvs.addDestination(svc, { address: '10.0.0.4', port: 8080, forward: 'masq' });
    await ipvs.startDaemon({ state: 'master', interface: 'abcdefghijklmno', syncId: 255, multicastGroup: 'ff02::1', multicastTtl: 255 });
    await ipvs.setTimeouts({ tcpFin: 1 });
    expect(kernel.ipvsRequests).toHaveLength(14);
  });
});
