// Reply decoding: the client over a fake socket that replays what the real
// kernel answered (test/fixtures/ipvs/rep-*.hex, captured by
// test/fixtures/capture-replies.mjs after test/fixtures/capture.sh built the
// table with ipvsadm). The expected objects are written by hand from the
// ipvsadm commands of capture.sh.
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { Ipvs } from '../../../src/ipvs/client.js';
import { commandTable } from '../../../src/ipvs/attributes.js';
import { daemonOf, destinationOf, serviceOf, statsOf } from '../../../src/ipvs/codec.js';
import * as C from '../../../src/ipvs/constants.js';
import { IpvsError } from '../../../src/ipvs/errors.js';
import type { Destination, Service, ServiceKey, Stats } from '../../../src/ipvs/types.js';
import { NLMSG_DONE } from '../../../src/netlink/constants.js';
import { parseMessages } from '../../../src/netlink/message.js';
import { decodeAttributes } from '../../../src/netlink/schema.js';
import { CAPTURED_FAMILY_ID, FIXTURE_DIR, capturedReply, fixtureNames, replayKernel, type FakeIpvsKernel } from '../../fixtures/ipvs/fixtures.js';

const ZERO: Stats = { connections: 0n, inPackets: 0n, outPackets: 0n, inBytes: 0n, outBytes: 0n, cps: 0, inPps: 0, outPps: 0, inBps: 0, outBps: 0 };
/**
 * Three 10-byte UDP datagrams sent to 192.0.2.13:53 (a one-packet service):
 * 3 connections, 3 packets, 3 * (20 + 8 + 10) bytes in. inBps is the kernel's
 * rate estimate at the moment of the capture (update it after re-capturing).
 */
const UDP_TRAFFIC: Stats = { ...ZERO, connections: 3n, inPackets: 3n, inBytes: 114n, inBps: 8 };
const HASHED = C.IP_VS_SVC_F_HASHED; // the kernel sets it on every service it reports
const PERSISTENT = C.IP_VS_SVC_F_PERSISTENT;

/** The table capture.sh built, as the client should report it. */
const SERVICES: Service[] = [
  // ipvsadm -A -t 192.0.2.10:80 -s rr; ipvsadm -E -t 192.0.2.10:80 -s wlc
  { protocol: 'tcp', address: '192.0.2.10', port: 80, family: 'ipv4', scheduler: 'wlc', schedulerFlags: [], onePacket: false, flags: HASHED, stats: ZERO },
  // ipvsadm -A -u [2001:db8::10]:53 -s wlc -p 600 -M 64
  {
    protocol: 'udp', address: '2001:db8::10', port: 53, family: 'ipv6', scheduler: 'wlc', schedulerFlags: [], onePacket: false,
    flags: HASHED | PERSISTENT, persistence: { timeout: 600, netmask: 64 }, stats: ZERO,
  },
  // ipvsadm -A -f 7 -s sh -b sh-fallback,sh-port
  { fwmark: 7, family: 'ipv4', scheduler: 'sh', schedulerFlags: ['sh-fallback', 'sh-port'], onePacket: false, flags: HASHED | C.IP_VS_SVC_F_SCHED1 | C.IP_VS_SVC_F_SCHED2, stats: ZERO },
  // ipvsadm -A -f 8 -6 -s rr
  { fwmark: 8, family: 'ipv6', scheduler: 'rr', schedulerFlags: [], onePacket: false, flags: HASHED, stats: ZERO },
  // ipvsadm -A -t 192.0.2.11:443 -s wrr -p 300 -M 255.255.255.0
  {
    protocol: 'tcp', address: '192.0.2.11', port: 443, family: 'ipv4', scheduler: 'wrr', schedulerFlags: [], onePacket: false,
    flags: HASHED | PERSISTENT, persistence: { timeout: 300, netmask: 24 }, stats: ZERO,
  },
  // ipvsadm -A -u 192.0.2.12:5060 -s rr -p 60 --pe sip
  {
    protocol: 'udp', address: '192.0.2.12', port: 5060, family: 'ipv4', scheduler: 'rr', schedulerFlags: [], onePacket: false,
    flags: HASHED | PERSISTENT, persistence: { timeout: 60, netmask: 32 }, persistenceEngine: 'sip', stats: ZERO,
  },
  // ipvsadm -A -u 192.0.2.13:53 -s rr -o  (+ the UDP traffic)
  { protocol: 'udp', address: '192.0.2.13', port: 53, family: 'ipv4', scheduler: 'rr', schedulerFlags: [], onePacket: true, flags: HASHED | C.IP_VS_SVC_F_ONEPACKET, stats: UDP_TRAFFIC },
  // ipvsadm -A --sctp-service 192.0.2.14:2905 -s rr
  { protocol: 'sctp', address: '192.0.2.14', port: 2905, family: 'ipv4', scheduler: 'rr', schedulerFlags: [], onePacket: false, flags: HASHED, stats: ZERO },
  // ipvsadm -A -t 192.0.2.15:0 -s rr -p   (ipvsadm's default persistence: 360 s)
  {
    protocol: 'tcp', address: '192.0.2.15', port: 0, family: 'ipv4', scheduler: 'rr', schedulerFlags: [], onePacket: false,
    flags: HASHED | PERSISTENT, persistence: { timeout: 360, netmask: 32 }, stats: ZERO,
  },
  // ipvsadm -A -t 192.0.2.16:80 -s mh -b mh-port
  { protocol: 'tcp', address: '192.0.2.16', port: 80, family: 'ipv4', scheduler: 'mh', schedulerFlags: ['mh-port'], onePacket: false, flags: HASHED | C.IP_VS_SVC_F_SCHED2, stats: ZERO },
];

const dest = (d: Partial<Destination> & Pick<Destination, 'address' | 'port' | 'forward'>): Destination => ({
  family: 'ipv4',
  weight: 1,
  upperThreshold: 0,
  lowerThreshold: 0,
  activeConnections: 0,
  inactiveConnections: 0,
  persistentConnections: 0,
  stats: ZERO,
  ...d,
});

/** Destinations per service, in the kernel's order (newest first). */
const DESTINATIONS: [ServiceKey, Destination[]][] = [
  [
    { protocol: 'tcp', address: '192.0.2.10', port: 80 },
    [
      // -a -r [2001:db8::20]:80 -i
      dest({ address: '2001:db8::20', family: 'ipv6', port: 80, forward: 'tunnel', tunnel: { type: 'ipip', checksum: 'nocsum' } }),
      // -a -r 10.0.0.4 -i --tun-type gre --tun-csum
      dest({ address: '10.0.0.4', port: 80, forward: 'tunnel', tunnel: { type: 'gre', checksum: 'csum' } }),
      // -a -r 10.0.0.6 -i --tun-type gue --tun-port 6081 --tun-remcsum
      dest({ address: '10.0.0.6', port: 80, forward: 'tunnel', tunnel: { type: 'gue', port: 6081, checksum: 'remcsum' } }),
      // -a -r 10.0.0.3 -i --tun-type gue --tun-port 6080 --tun-csum
      dest({ address: '10.0.0.3', port: 80, forward: 'tunnel', tunnel: { type: 'gue', port: 6080, checksum: 'csum' } }),
      // -a -r 10.0.0.5 -i
      dest({ address: '10.0.0.5', port: 80, forward: 'tunnel', tunnel: { type: 'ipip', checksum: 'nocsum' } }),
      // -a -r 192.0.2.20 -g
      dest({ address: '192.0.2.20', port: 80, forward: 'route' }),
      // -a -r 10.0.0.2:8080 -m -w 5 -x 100 -y 10, then -e ... -m -w 7 -x 200 -y 20
      dest({ address: '10.0.0.2', port: 8080, forward: 'masq', weight: 7, upperThreshold: 200, lowerThreshold: 20 }),
    ],
  ],
  [{ protocol: 'udp', address: '2001:db8::10', port: 53 }, [dest({ address: '2001:db8::30', family: 'ipv6', port: 5353, forward: 'masq', weight: 3 })]],
  [{ fwmark: 7 }, [dest({ address: '10.0.0.7', port: 0, forward: 'route' })]],
  [{ fwmark: 8, family: 'ipv6' }, []],
  [{ protocol: 'tcp', address: '192.0.2.11', port: 443 }, []],
  [{ protocol: 'udp', address: '192.0.2.12', port: 5060 }, []],
  [{ protocol: 'udp', address: '192.0.2.13', port: 53 }, [dest({ address: '10.0.0.9', port: 53, forward: 'masq', stats: UDP_TRAFFIC })]],
  [{ protocol: 'sctp', address: '192.0.2.14', port: 2905 }, []],
  [{ protocol: 'tcp', address: '192.0.2.15', port: 0 }, []],
  [{ protocol: 'tcp', address: '192.0.2.16', port: 80 }, []],
];

const keyOf = (s: Service): string => ('fwmark' in s ? `fwm ${s.family} ${s.fwmark}` : `${s.protocol} ${s.address} ${s.port}`);
const sorted = (list: Service[]): Service[] => [...list].sort((a, b) => keyOf(a).localeCompare(keyOf(b)));
const serviceKey = (s: Service): ServiceKey => ('fwmark' in s ? { fwmark: s.fwmark, family: s.family } : { protocol: s.protocol, address: s.address, port: s.port });

let clients: Ipvs[] = [];
afterEach(async () => {
  for (const c of clients) await c.close();
  clients = [];
});

async function replaying(names?: string[]): Promise<{ ipvs: Ipvs; kernel: FakeIpvsKernel & { unmatched: unknown[] } }> {
  const kernel = replayKernel(names);
  const ipvs = await Ipvs.open({ socketFactory: kernel.factory });
  clients.push(ipvs);
  return { ipvs, kernel };
}

describe('captured replies decode into the objects ipvsadm configured', () => {
  it('listServices: every service of the GET_SERVICE dump', async () => {
    const { ipvs, kernel } = await replaying();
    const list = await ipvs.listServices();
    // The kernel lists services in hash-table order; compare as sets.
    expect(sorted(list)).toEqual(sorted(SERVICES));
    expect(list).toHaveLength(10);
    expect(kernel.unmatched).toEqual([]);
  });

  it('getService (GET_SERVICE doit) of each service', async () => {
    const { ipvs, kernel } = await replaying();
    for (const s of SERVICES) expect(await ipvs.getService(serviceKey(s)), keyOf(s)).toEqual(s);
    expect(kernel.unmatched).toEqual([]);
  });

  it('listDestinations (GET_DEST dump) of each service, in the kernel order', async () => {
    const { ipvs, kernel } = await replaying();
    for (const [key, dests] of DESTINATIONS) expect(await ipvs.listDestinations(key), JSON.stringify(key)).toEqual(dests);
    expect(kernel.unmatched).toEqual([]);
  });

  it('listDestinations of a service that does not exist: the empty dump, then ESRCH from GET_SERVICE', async () => {
    const { ipvs, kernel } = await replaying();
    const e = await ipvs.listDestinations({ protocol: 'tcp', address: '192.0.2.200', port: 80 }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(IpvsError);
    expect(e).toMatchObject({ errno: 3, code: 'ESRCH', operation: 'listDestinations' });
    expect((e as Error).message).toContain('no such service TCP 192.0.2.200:80');
    expect(kernel.ipvsRequests.map((r) => r.payload[0])).toEqual([C.IPVS_CMD_GET_DEST, C.IPVS_CMD_GET_SERVICE]);
  });

  it('getTimeouts (GET_CONFIG) after ipvsadm --set 100 20 30', async () => {
    const { ipvs } = await replaying();
    expect(await ipvs.getTimeouts()).toEqual({ tcp: 100, tcpFin: 20, udp: 30 });
  });

  it('info (GET_INFO): version 1.2.1, 4096 connection hash buckets', async () => {
    const { ipvs } = await replaying();
    expect(await ipvs.info()).toEqual({ version: '1.2.1', connTableSize: 4096 });
  });

  it('listDaemons (GET_DAEMON dump): the master with every multicast option, the backup with an IPv6 group', async () => {
    const { ipvs } = await replaying(['get-daemon-dump']);
    expect(await ipvs.listDaemons()).toEqual([
      // --start-daemon master --mcast-interface lan0 --syncid 7 --mcast-group 224.0.0.82 --mcast-port 8849 --mcast-ttl 2 --sync-maxlen 1400
      { state: 'master', interface: 'lan0', syncId: 7, maxLength: 1400, multicastGroup: '224.0.0.82', multicastPort: 8849, multicastTtl: 2 },
      // --start-daemon backup --mcast-interface lan0 --syncid 9 --mcast-group ff02::82 (defaults: port 8848, ttl 1; maxlen from the MTU: 1500 - 40 - 8)
      { state: 'backup', interface: 'lan0', syncId: 9, maxLength: 1452, multicastGroup: 'ff02::82', multicastPort: 8848, multicastTtl: 1 },
    ]);
  });

  it('listDaemons with none running: []', async () => {
    const { ipvs } = await replaying(['get-daemon-dump-none']);
    expect(await ipvs.listDaemons()).toEqual([]);
  });

  it('save() prints exactly what ipvsadm -Sn printed for the same table', async () => {
    const { ipvs, kernel } = await replaying();
    const text = readFileSync(`${FIXTURE_DIR}ipvsadm-Sn.txt`, 'utf8').split('\n').filter((l) => !l.startsWith('#')).join('\n');
    expect(await ipvs.save()).toBe(text);
    expect(kernel.unmatched).toEqual([]);
  });
});

describe('captured replies through decodeAttributes and the codec functions', () => {
  const messagesOf = (name: string) => capturedReply(name).datagrams.flatMap((d) => parseMessages(d));

  it('the 32-bit and 64-bit statistics nests agree in every service and destination reply', () => {
    let compared = 0;
    for (const name of fixtureNames('rep-get-').map((n) => n.slice(4))) {
      for (const m of messagesOf(name)) {
        if (m.type !== CAPTURED_FAMILY_ID || m.payload[0] === C.IPVS_CMD_SET_INFO || m.payload[0] === C.IPVS_CMD_SET_CONFIG) continue;
        const a = decodeAttributes(commandTable, m.payload, 4);
        const x = a.service ?? a.destination;
        if (!x) continue;
        expect(x.stats64, name).toBeDefined();
        expect(statsOf(undefined, x.stats), name).toEqual(statsOf(x.stats64, undefined));
        compared++;
      }
    }
    expect(compared).toBe(30); // 10 services in the dump, 10 GET_SERVICE doit replies, 10 destinations
  });

  it('serviceOf / destinationOf / daemonOf on single messages', () => {
    const svc = messagesOf('get-service-udp-2001_db8__10-53').find((m) => m.type === CAPTURED_FAMILY_ID)!;
    expect(serviceOf(decodeAttributes(commandTable, svc.payload, 4).service!)).toEqual(SERVICES[1]);
    const d = messagesOf('get-dest-dump-fwmark-7').find((m) => m.type === CAPTURED_FAMILY_ID)!;
    expect(destinationOf(decodeAttributes(commandTable, d.payload, 4).destination!, 'ipv4')).toEqual(DESTINATIONS[2]![1][0]);
    const daemons = messagesOf('get-daemon-dump').filter((m) => m.type === CAPTURED_FAMILY_ID);
    expect(daemons.map((m) => daemonOf(decodeAttributes(commandTable, m.payload, 4).daemon!).state)).toEqual(['master', 'backup']);
  });

  it('what the captures show: reply nests lack NLA_F_NESTED, replies name the "set" commands, dumps end with an NLMSG_DONE of status 0', () => {
    const svc = messagesOf('get-service-tcp-192.0.2.10-80')[0]!;
    // IPVS_CMD_ATTR_SERVICE as plain type 1 (the kernel uses nla_nest_start_noflag).
    expect(svc.payload.readUInt16LE(6)).toBe(C.IPVS_CMD_ATTR_SERVICE);
    // GET_SERVICE is answered with NEW_SERVICE, GET_INFO with SET_INFO, GET_CONFIG with SET_CONFIG, GET_DEST with NEW_DEST, GET_DAEMON with NEW_DAEMON.
    expect(svc.payload[0]).toBe(C.IPVS_CMD_NEW_SERVICE);
    expect(messagesOf('get-info')[0]!.payload[0]).toBe(C.IPVS_CMD_SET_INFO);
    expect(messagesOf('get-config')[0]!.payload[0]).toBe(C.IPVS_CMD_SET_CONFIG);
    expect(messagesOf('get-dest-dump-fwmark-7')[0]!.payload[0]).toBe(C.IPVS_CMD_NEW_DEST);
    expect(messagesOf('get-daemon-dump')[0]!.payload[0]).toBe(C.IPVS_CMD_NEW_DAEMON);
    const done = messagesOf('get-dest-dump-no-such-service');
    expect(done).toHaveLength(1);
    expect(done[0]!.type).toBe(NLMSG_DONE);
    expect(done[0]!.payload.readInt32LE(0)).toBe(0);
  });
});
