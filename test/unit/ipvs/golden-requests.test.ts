// Golden requests: what the client sends, compared with what ipvsadm 1.31 sent
// the real kernel for the same operation (test/fixtures/ipvs/req-*.hex,
// captured with strace by test/fixtures/capture.sh; see the README there).
//
// Each case runs twice: once through the typed API, once through restore()
// with the very ipvsadm command line of the capture, so the rules parser is
// held to ipvsadm's semantics too.
import { afterEach, describe, expect, it } from 'vitest';
import { Ipvs } from '../../../src/ipvs/client.js';
import { commandTable, daemonTable, destinationTable, serviceTable } from '../../../src/ipvs/attributes.js';
import * as C from '../../../src/ipvs/constants.js';
import { NLM_F_ACK, NLM_F_REQUEST } from '../../../src/netlink/constants.js';
import type { NetlinkMessage } from '../../../src/netlink/message.js';
import { decodeAttributes } from '../../../src/netlink/schema.js';
import {
  CAPTURED_FAMILY_ID,
  capturedRequest,
  fakeIpvsKernel,
  fixtureNames,
  rawAttributes,
  type FakeIpvsKernel,
} from '../../fixtures/ipvs/fixtures.js';

type Compare =
  /** The whole payload (genlmsghdr + every attribute) and nlmsg_len are identical. */
  | 'payload'
  /** NEW_DEST/SET_DEST: the genlmsghdr and the whole CMD_ATTR_DEST nest are identical; the service only by its key (see below). */
  | 'dest'
  /** DEL_DEST: destination and service compared by their identifying fields. */
  | 'dest-key'
  /** DEL_SERVICE, ZERO of one service: the service compared by its identifying fields. */
  | 'service-key'
  /** DEL_DAEMON: the state. */
  | 'daemon-state';

interface Case {
  fixture: string;
  compare: Compare;
  run: (ipvs: Ipvs) => Promise<unknown>;
  /** A known difference of the rules parser from ipvsadm: that restore() case is expected to fail (it.fails) until fixed. */
  restoreBug?: string;
}

const tcp80 = { protocol: 'tcp', address: '192.0.2.10', port: 80 } as const;

const CASES: Case[] = [
  // ---- services: the whole CMD_ATTR_SERVICE nest, byte for byte
  { fixture: 'add-service-tcp4', compare: 'payload', run: (i) => i.addService({ ...tcp80, scheduler: 'rr' }) },
  {
    fixture: 'add-service-udp6-persistent',
    compare: 'payload',
    run: (i) => i.addService({ protocol: 'udp', address: '2001:db8::10', port: 53, scheduler: 'wlc', persistence: { timeout: 600, netmask: 64 } }),
  },
  { fixture: 'add-service-fwmark-sh', compare: 'payload', run: (i) => i.addService({ fwmark: 7, scheduler: 'sh', schedulerFlags: ['sh-fallback', 'sh-port'] }) },
  { fixture: 'add-service-fwmark6', compare: 'payload', run: (i) => i.addService({ fwmark: 8, family: 'ipv6', scheduler: 'rr' }) },
  {
    fixture: 'add-service-persistent-mask',
    compare: 'payload',
    run: (i) => i.addService({ protocol: 'tcp', address: '192.0.2.11', port: 443, scheduler: 'wrr', persistence: { timeout: 300, netmask: '255.255.255.0' } }),
  },
  {
    fixture: 'add-service-pe-sip',
    compare: 'payload',
    run: (i) => i.addService({ protocol: 'udp', address: '192.0.2.12', port: 5060, scheduler: 'rr', persistence: { timeout: 60 }, persistenceEngine: 'sip' }),
  },
  { fixture: 'add-service-ops', compare: 'payload', run: (i) => i.addService({ protocol: 'udp', address: '192.0.2.13', port: 53, scheduler: 'rr', onePacket: true }) },
  { fixture: 'add-service-sctp', compare: 'payload', run: (i) => i.addService({ protocol: 'sctp', address: '192.0.2.14', port: 2905, scheduler: 'rr' }) },
  // `-p` without a value: ipvsadm's IPVS_SVC_PERSISTENT_TIMEOUT is 6*60 = 360 s.
  { fixture: 'add-service-port0-persistent', compare: 'payload', run: (i) => i.addService({ protocol: 'tcp', address: '192.0.2.15', port: 0, scheduler: 'rr', persistence: { timeout: 360 } }) },
  { fixture: 'add-service-mh-port', compare: 'payload', run: (i) => i.addService({ protocol: 'tcp', address: '192.0.2.16', port: 80, scheduler: 'mh', schedulerFlags: ['mh-port'] }) },
  { fixture: 'edit-service', compare: 'payload', run: (i) => i.updateService({ ...tcp80, scheduler: 'wlc' }) },

  // ---- destinations: the whole CMD_ATTR_DEST nest, byte for byte
  { fixture: 'add-dest-masq', compare: 'dest', run: (i) => i.addDestination(tcp80, { address: '10.0.0.2', port: 8080, forward: 'masq', weight: 5, upperThreshold: 100, lowerThreshold: 10 }) },
  { fixture: 'add-dest-route', compare: 'dest', run: (i) => i.addDestination(tcp80, { address: '192.0.2.20', forward: 'route' }) },
  { fixture: 'add-dest-ipip', compare: 'dest', run: (i) => i.addDestination(tcp80, { address: '10.0.0.5', forward: 'tunnel' }) },
  {
    fixture: 'add-dest-gue',
    compare: 'dest',
    run: (i) => i.addDestination(tcp80, { address: '10.0.0.3', forward: 'tunnel', tunnel: { type: 'gue', port: 6080, checksum: 'csum' } }),
  },
  {
    fixture: 'add-dest-gue-remcsum',
    compare: 'dest',
    run: (i) => i.addDestination(tcp80, { address: '10.0.0.6', forward: 'tunnel', tunnel: { type: 'gue', port: 6081, checksum: 'remcsum' } }),
  },
  { fixture: 'add-dest-gre', compare: 'dest', run: (i) => i.addDestination(tcp80, { address: '10.0.0.4', forward: 'tunnel', tunnel: { type: 'gre', checksum: 'csum' } }) },
  { fixture: 'add-dest-mixed-family', compare: 'dest', run: (i) => i.addDestination(tcp80, { address: '2001:db8::20', port: 80, forward: 'tunnel' }) },
  {
    fixture: 'add-dest-udp6',
    compare: 'dest',
    run: (i) => i.addDestination({ protocol: 'udp', address: '2001:db8::10', port: 53 }, { address: '2001:db8::30', port: 5353, forward: 'masq', weight: 3 }),
  },
  { fixture: 'add-dest-fwmark', compare: 'dest', run: (i) => i.addDestination({ fwmark: 7 }, { address: '10.0.0.7', forward: 'route' }) },
  { fixture: 'add-dest-udp-masq', compare: 'dest', run: (i) => i.addDestination({ protocol: 'udp', address: '192.0.2.13', port: 53 }, { address: '10.0.0.9', forward: 'masq' }) },
  {
    fixture: 'edit-dest',
    compare: 'dest',
    run: (i) => i.updateDestination(tcp80, { address: '10.0.0.2', port: 8080, forward: 'masq', weight: 7, upperThreshold: 200, lowerThreshold: 20 }),
  },
  {
    fixture: 'del-dest',
    compare: 'dest-key',
    run: (i) => i.deleteDestination(tcp80, { address: '10.0.0.8', port: 8081 }),
    // ipvsadm forces the service port onto -g/-i real servers only for -a and -e
    // (ipvsadm.c: `if (ce.cmd == CMD_ADDDEST || ce.cmd == CMD_EDITDEST)`); -d keeps
    // the port given (8081 in the capture). parseRules also applies it to -d, where
    // the forwarding method defaults to -g, so it deletes 10.0.0.8:80 instead.
  },

  // ---- everything else
  { fixture: 'del-service', compare: 'service-key', run: (i) => i.deleteService({ protocol: 'tcp', address: '192.0.2.99', port: 25 }) },
  { fixture: 'zero-service', compare: 'service-key', run: (i) => i.zero(tcp80) },
  { fixture: 'zero-all', compare: 'payload', run: (i) => i.zero() },
  { fixture: 'flush', compare: 'payload', run: (i) => i.flush() },
  { fixture: 'set-timeouts', compare: 'payload', run: (i) => i.setTimeouts({ tcp: 100, tcpFin: 20, udp: 30 }) },
  { fixture: 'start-daemon-master', compare: 'payload', run: (i) => i.startDaemon({ state: 'master', interface: 'lan0', syncId: 7 }) },
  {
    fixture: 'start-daemon-master-mcast',
    compare: 'payload',
    run: (i) => i.startDaemon({ state: 'master', interface: 'lan0', syncId: 7, multicastGroup: '224.0.0.82', multicastPort: 8849, multicastTtl: 2, maxLength: 1400 }),
  },
  { fixture: 'start-daemon-backup-mcast6', compare: 'payload', run: (i) => i.startDaemon({ state: 'backup', interface: 'lan0', syncId: 9, multicastGroup: 'ff02::82' }) },
  { fixture: 'stop-daemon-master', compare: 'daemon-state', run: (i) => i.stopDaemon('master') },
  { fixture: 'stop-daemon-master-again', compare: 'daemon-state', run: (i) => i.stopDaemon('master') },
  { fixture: 'stop-daemon-backup', compare: 'daemon-state', run: (i) => i.stopDaemon('backup') },
];

const hex = (b: Uint8Array | undefined): string | undefined => (b ? Buffer.from(b).toString('hex') : undefined);

/** The identifying fields of the service nest (what the kernel looks the service up by). */
function serviceKeyOf(m: NetlinkMessage) {
  const s = decodeAttributes(commandTable, m.payload, 4).service;
  expect(s, 'the request has a service nest').toBeDefined();
  return s!.fwmark !== undefined && s!.fwmark !== 0
    ? { af: s!.af, fwmark: s!.fwmark }
    : { af: s!.af, protocol: s!.protocol, address: hex(s!.address), port: s!.port };
}

function destinationKeyOf(m: NetlinkMessage) {
  const d = decodeAttributes(commandTable, m.payload, 4).destination;
  expect(d, 'the request has a destination nest').toBeDefined();
  return { af: d!.af, address: hex(d!.address), port: d!.port };
}

function compare(kind: Compare, ours: NetlinkMessage, theirs: NetlinkMessage, viaStopDaemon = false): void {
  expect(ours.type).toBe(CAPTURED_FAMILY_ID);
  // REQUEST|ACK, like libipvs (one request alone in its send asks for its ACK) —
  // except DEL_DAEMON, which the GET_INFO sent after it confirms (see Ipvs.stopDaemon).
  expect(ours.flags).toBe(viaStopDaemon ? NLM_F_REQUEST : theirs.flags);
  expect(theirs.flags).toBe(NLM_F_REQUEST | NLM_F_ACK);
  // genlmsghdr: cmd, version 1, reserved 0.
  expect(hex(ours.payload.subarray(0, 4))).toBe(hex(theirs.payload.subarray(0, 4)));
  switch (kind) {
    case 'payload':
      expect(hex(ours.payload)).toBe(hex(theirs.payload));
      expect(ours.payload.length + 16).toBe(theirs.payload.length + 16);
      break;
    case 'dest': {
      const a = rawAttributes(ours.payload);
      const b = rawAttributes(theirs.payload);
      expect(hex(a.get(C.IPVS_CMD_ATTR_DEST))).toBe(hex(b.get(C.IPVS_CMD_ATTR_DEST)));
      // libipvs sends the whole service spec in dest commands (scheduler "",
      // flags 0/0xffffffff, timeout 0, netmask ~0); the kernel only looks the
      // service up by its key, which is all we send. So: identifying fields.
      expect(serviceKeyOf(ours)).toEqual(serviceKeyOf(theirs));
      expect([...a.keys()].sort()).toEqual([C.IPVS_CMD_ATTR_SERVICE, C.IPVS_CMD_ATTR_DEST]);
      break;
    }
    case 'dest-key':
      // libipvs sends a full destination (forward method, weight, thresholds,
      // tunnel settings at their defaults) to delete one; the kernel reads only
      // address, port (and family).
      expect(destinationKeyOf(ours)).toEqual(destinationKeyOf(theirs));
      expect(serviceKeyOf(ours)).toEqual(serviceKeyOf(theirs));
      break;
    case 'service-key':
      // libipvs sends the full service spec (empty scheduler) here too; the kernel reads only the key.
      expect(serviceKeyOf(ours)).toEqual(serviceKeyOf(theirs));
      expect([...rawAttributes(ours.payload).keys()]).toEqual([C.IPVS_CMD_ATTR_SERVICE]);
      break;
    case 'daemon-state': {
      // libipvs also sends MCAST_IFN "" and SYNC_ID 0; the kernel reads only the state.
      const a = decodeAttributes(commandTable, ours.payload, 4).daemon;
      const b = decodeAttributes(commandTable, theirs.payload, 4).daemon;
      expect(a?.state).toBe(b?.state);
      expect(b).toMatchObject({ interface: '', syncId: 0 });
      expect(a).toEqual({ state: b!.state });
      break;
    }
  }
}

let open: Ipvs[] = [];
afterEach(async () => {
  for (const i of open) await i.close();
  open = [];
});

async function client(): Promise<{ ipvs: Ipvs; kernel: FakeIpvsKernel }> {
  const kernel = fakeIpvsKernel();
  const ipvs = await Ipvs.open({ socketFactory: kernel.factory });
  open.push(ipvs);
  return { ipvs, kernel };
}

describe('golden requests: the client sends what ipvsadm sends', () => {
  it('has a case for every captured request, and every capture holds one IPVS message', () => {
    const names = fixtureNames('req-').map((n) => n.slice(4));
    expect(CASES.map((c) => c.fixture).sort()).toEqual(names);
    for (const n of names) expect(capturedRequest(n).messages, n).toHaveLength(1);
  });

  for (const c of CASES) {
    const captured = capturedRequest(c.fixture);
    it(`${captured.command}  (req-${c.fixture}.hex, API)`, async () => {
      const { ipvs, kernel } = await client();
      await c.run(ipvs);
      if (c.compare === 'daemon-state') {
        // stopDaemon sends DEL_DAEMON without an ACK and a GET_INFO after it, whose
        // answer confirms the stop (the kernel sends nothing when the stop races the
        // daemon thread's start; see Ipvs.stopDaemon).
        expect(kernel.ipvsRequests).toHaveLength(2);
        expect(kernel.ipvsRequests[1]!.payload[0]).toBe(15); // IPVS_CMD_GET_INFO
      } else {
        expect(kernel.ipvsRequests).toHaveLength(1);
      }
      compare(c.compare, kernel.ipvsRequests[0]!, captured.messages[0]!, c.compare === 'daemon-state');
    });
    (c.restoreBug ? it.fails : it)(`${captured.command}  (req-${c.fixture}.hex, restore of the same command line)${c.restoreBug ? ` [known bug: ${c.restoreBug}]` : ''}`, async () => {
      const { ipvs, kernel } = await client();
      await ipvs.restore(captured.command, { atomic: false });
      // restore() too stops a daemon through stopDaemon's confirmed path.
      const stop = c.compare === 'daemon-state';
      expect(kernel.ipvsRequests).toHaveLength(stop ? 2 : 1);
      if (stop) expect(kernel.ipvsRequests[1]!.payload[0]).toBe(15); // IPVS_CMD_GET_INFO
      compare(c.compare, kernel.ipvsRequests[0]!, captured.messages[0]!, stop);
    });
  }
});

describe('what the captures show about the wire format', () => {
  const payloadOf = (name: string) => capturedRequest(name).messages[0]!.payload;

  it('ipvsadm sets NLA_F_NESTED on every nest, as our writer does', () => {
    for (const name of fixtureNames('req-').map((n) => n.slice(4))) {
      const p = payloadOf(name);
      for (let off = 4; off + 4 <= p.length; ) {
        const len = p.readUInt16LE(off);
        const type = p.readUInt16LE(off + 2);
        const nested = [C.IPVS_CMD_ATTR_SERVICE, C.IPVS_CMD_ATTR_DEST, C.IPVS_CMD_ATTR_DAEMON].includes(type & 0x3fff);
        expect(type & 0x8000, `${name}: attribute ${type & 0x3fff}`).toBe(nested ? 0x8000 : 0);
        off += (len + 3) & ~3;
      }
    }
  });

  it('netmask: IPv4 a network-order mask, IPv6 a host-order prefix length', () => {
    const svc = (name: string) => decodeAttributes(commandTable, payloadOf(name), 4).service!;
    expect(hex(svc('add-service-persistent-mask').netmask)).toBe('ffffff00');
    expect(hex(svc('add-service-tcp4').netmask)).toBe('ffffffff');
    expect(hex(svc('add-service-udp6-persistent').netmask)).toBe('40000000'); // 64, little-endian
    expect(hex(svc('add-service-fwmark6').netmask)).toBe('80000000'); // 128
  });

  it('ports: service/destination/tunnel ports big-endian, the daemon multicast port host order', () => {
    const a = decodeAttributes(commandTable, payloadOf('add-dest-gue'), 4);
    expect(a.service?.port).toBe(80);
    expect(a.destination?.tunnelPort).toBe(6080);
    expect(hex(rawAttributes(payloadOf('add-dest-gue')).get(C.IPVS_CMD_ATTR_DEST))).toContain('06000e0017c00000'); // TUN_PORT 6080 = 0x17c0
    const d = decodeAttributes(daemonTable, rawAttributes(payloadOf('start-daemon-master-mcast')).get(C.IPVS_CMD_ATTR_DAEMON)!, 4);
    expect(d.port).toBe(8849);
    expect(hex(d.group)).toBe('e0000052');
  });

  it('addresses are always the 16-byte nf_inet_addr, IPv4 in the first 4 bytes', () => {
    const s = decodeAttributes(commandTable, payloadOf('add-service-tcp4'), 4).service!;
    expect(hex(s.address)).toBe('c000020a000000000000000000000000');
    const d = decodeAttributes(destinationTable, rawAttributes(payloadOf('add-dest-mixed-family')).get(C.IPVS_CMD_ATTR_DEST)!, 4);
    expect(d.af).toBe(C.AF_INET6);
    expect(hex(d.address)).toBe('20010db8000000000000000000000020');
  });

  it('service flags are {flags, mask = 0xffffffff}, host order', () => {
    const f = (name: string) => hex(decodeAttributes(serviceTable, rawAttributes(payloadOf(name)).get(C.IPVS_CMD_ATTR_SERVICE)!, 4).flags);
    expect(f('add-service-tcp4')).toBe('00000000ffffffff');
    expect(f('add-service-fwmark-sh')).toBe('18000000ffffffff'); // SCHED1|SCHED2
    expect(f('add-service-ops')).toBe('04000000ffffffff'); // ONEPACKET
    expect(f('add-service-mh-port')).toBe('10000000ffffffff'); // SCHED2
    expect(f('add-service-udp6-persistent')).toBe('01000000ffffffff'); // PERSISTENT
  });
});
