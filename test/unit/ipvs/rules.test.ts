// ipvsadm's rules text: formatRules against what the real ipvsadm -Sn printed
// (test/fixtures/ipvs/ipvsadm-Sn-*.txt, from test/fixtures/capture.sh), its
// sort order, and parseRules of every option.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../../src/errors.js';
import { Ipvs } from '../../../src/ipvs/client.js';
import * as C from '../../../src/ipvs/constants.js';
import { compareDestinations, compareServices, formatRules, glibcMergeSort, parseRules, sortByService, sortDestinations, type RuleCommand } from '../../../src/ipvs/rules.js';
import type { Destination, Service, Stats } from '../../../src/ipvs/types.js';
import { FIXTURE_DIR, fixtureNames, replayKernel } from '../../fixtures/ipvs/fixtures.js';

const ZERO: Stats = { connections: 0n, inPackets: 0n, outPackets: 0n, inBytes: 0n, outBytes: 0n, cps: 0, inPps: 0, outPps: 0, inBps: 0, outBps: 0 };
const HASHED = C.IP_VS_SVC_F_HASHED;
const P = C.IP_VS_SVC_F_PERSISTENT;
const [S1, S2, S3] = [C.IP_VS_SVC_F_SCHED1, C.IP_VS_SVC_F_SCHED2, C.IP_VS_SVC_F_SCHED3];

/** A service as the kernel would report it (every field spelled out, stats zero). */
function svc(s: Partial<Service> & Record<string, unknown>): Service {
  return { family: 'ipv4', scheduler: 'rr', schedulerFlags: [], onePacket: false, flags: HASHED, stats: ZERO, ...s } as Service;
}
function dst(d: Partial<Destination> & Pick<Destination, 'address' | 'port' | 'forward'>): Destination {
  return { family: 'ipv4', weight: 1, upperThreshold: 0, lowerThreshold: 0, activeConnections: 0, inactiveConnections: 0, persistentConnections: 0, stats: ZERO, ...d };
}
const tcp = (port: number, s: Partial<Service> & Record<string, unknown> = {}) => svc({ protocol: 'tcp', address: '10.0.0.1', port, ...s });
const fileLines = (name: string): string => readFileSync(`${FIXTURE_DIR}${name}`, 'utf8').split('\n').filter((l) => !l.startsWith('#')).join('\n');

describe('formatRules prints what ipvsadm -Sn prints (ipvsadm-Sn-format.txt)', () => {
  // The services and destinations the commands listed in ipvsadm-Sn-format.txt
  // create, written by hand, in no particular order.
  const table: { service: Service; destinations: Destination[] }[] = [
    { service: tcp(93, { scheduler: 'wlc' }), destinations: [dst({ address: '10.0.0.7', port: 8080, forward: 'masq', weight: 65535, upperThreshold: 10, lowerThreshold: 5 })] },
    { service: tcp(92, { flags: HASHED | P, persistence: { timeout: 1, netmask: 32 }, persistenceEngine: 'sip' }), destinations: [] },
    { service: svc({ fwmark: 5, scheduler: 'wlc' }), destinations: [dst({ address: '10.0.0.6', port: 0, forward: 'route', weight: 2 })] },
    {
      service: svc({ protocol: 'sctp', address: '2001:db8::1', port: 90, family: 'ipv6' }),
      destinations: [dst({ address: '2001:db8::5', family: 'ipv6', port: 91, forward: 'masq', weight: 0 })],
    },
    { service: svc({ protocol: 'udp', address: '10.0.0.1', port: 89, flags: HASHED | P | C.IP_VS_SVC_F_ONEPACKET, onePacket: true, persistence: { timeout: 360, netmask: 32 }, persistenceEngine: 'sip' }), destinations: [] },
    { service: svc({ protocol: 'udp', address: '2001:db8::1', port: 88, family: 'ipv6', flags: HASHED | P, persistence: { timeout: 100, netmask: 1 } }), destinations: [] },
    { service: svc({ protocol: 'udp', address: '2001:db8::1', port: 87, family: 'ipv6', flags: HASHED | P, persistence: { timeout: 100, netmask: 128 } }), destinations: [] },
    { service: tcp(86, { flags: HASHED | P, persistence: { timeout: 100, netmask: 32 } }), destinations: [] },
    // The kernel takes any mask; one that is not a prefix is reported in dotted form.
    { service: tcp(85, { flags: HASHED | P, persistence: { timeout: 100, netmask: '255.255.0.255' } }), destinations: [] },
    { service: tcp(84, { flags: HASHED | P, persistence: { timeout: 100, netmask: 0 } }), destinations: [] },
    // -s sh -b flag-1 is sh-fallback.
    { service: tcp(83, { scheduler: 'sh', flags: HASHED | S1, schedulerFlags: ['sh-fallback'] }), destinations: [] },
    { service: tcp(82, { scheduler: 'mh', flags: HASHED | S1 | S2, schedulerFlags: ['mh-fallback', 'mh-port'] }), destinations: [] },
    { service: tcp(81, { flags: HASHED | S1 | S3, schedulerFlags: ['flag-1', 'flag-3'] }), destinations: [] },
    {
      // ipvsadm prints no flag-3 for sh.
      service: tcp(80, { scheduler: 'sh', flags: HASHED | S2 | S3, schedulerFlags: ['sh-port', 'flag-3'] }),
      destinations: [
        dst({ address: '10.0.0.5', port: 80, forward: 'tunnel', tunnel: { type: 'gue', port: 2, checksum: 'remcsum' } }),
        dst({ address: '10.0.0.4', port: 80, forward: 'tunnel', tunnel: { type: 'ipip', checksum: 'nocsum' } }),
        dst({ address: '10.0.0.3', port: 80, forward: 'tunnel', tunnel: { type: 'gue', port: 1, checksum: 'nocsum' } }),
        dst({ address: '10.0.0.2', port: 80, forward: 'tunnel', tunnel: { type: 'gre', checksum: 'nocsum' } }),
      ],
    },
    // ipvsadm prints marks with %d.
    { service: svc({ fwmark: 4294967295, family: 'ipv6' }), destinations: [] },
  ];

  it('byte for byte', () => {
    expect(formatRules(table)).toBe(fileLines('ipvsadm-Sn-format.txt'));
  });

  it('the same in any input order (this table sorts transitively)', () => {
    expect(formatRules([...table].reverse())).toBe(fileLines('ipvsadm-Sn-format.txt'));
  });

  it('the table of capture.sh, rebuilt from the captured replies, prints as ipvsadm -Sn printed it', async () => {
    // (Also in replies.test.ts through save(); here the sort-order table.)
    const kernel = replayKernel(fixtureNames('rep-sort-').map((n) => n.slice(4)));
    const ipvs = await Ipvs.open({ socketFactory: kernel.factory });
    try {
      expect(await ipvs.save()).toBe(fileLines('ipvsadm-Sn-sort.txt'));
      expect(kernel.unmatched).toEqual([]);
    } finally {
      await ipvs.close();
    }
  });
});

describe('formatRules, hand-built corner cases', () => {
  const one = (service: Service, destinations: Destination[] = []) => formatRules([{ service, destinations }]);

  it('persistence: -p alone for a full mask, -M dotted for IPv4, -M prefix for IPv6', () => {
    expect(one(tcp(80, { flags: HASHED | P, persistence: { timeout: 300, netmask: 32 } }))).toBe('-A -t 10.0.0.1:80 -s rr -p 300\n');
    expect(one(tcp(80, { flags: HASHED | P, persistence: { timeout: 300, netmask: 24 } }))).toBe('-A -t 10.0.0.1:80 -s rr -p 300 -M 255.255.255.0\n');
    expect(one(tcp(80, { flags: HASHED | P, persistence: { timeout: 300, netmask: 17 } }))).toBe('-A -t 10.0.0.1:80 -s rr -p 300 -M 255.255.128.0\n');
    expect(one(svc({ protocol: 'tcp', address: '2001:db8::1', port: 443, family: 'ipv6', flags: HASHED | P, persistence: { timeout: 600, netmask: 64 } }))).toBe(
      '-A -t [2001:db8::1]:443 -s rr -p 600 -M 64\n',
    );
    expect(one(svc({ protocol: 'tcp', address: '2001:db8::1', port: 443, family: 'ipv6', flags: HASHED | P, persistence: { timeout: 600, netmask: 128 } }))).toBe(
      '-A -t [2001:db8::1]:443 -s rr -p 600\n',
    );
  });

  it('--pe, -o and -b in ipvsadm\'s order', () => {
    expect(one(svc({ protocol: 'udp', address: '10.0.0.1', port: 5060, flags: HASHED | P | C.IP_VS_SVC_F_ONEPACKET | S1, onePacket: true, persistence: { timeout: 60, netmask: 32 }, persistenceEngine: 'sip' }))).toBe(
      '-A -u 10.0.0.1:5060 -s rr -p 60 --pe sip -o -b flag-1\n',
    );
  });

  it('-b names: sh and mh aliases, flag-N for other schedulers', () => {
    expect(one(tcp(80, { scheduler: 'sh', flags: HASHED | S1 | S2 }))).toBe('-A -t 10.0.0.1:80 -s sh -b sh-fallback,sh-port\n');
    expect(one(tcp(80, { scheduler: 'mh', flags: HASHED | S2 }))).toBe('-A -t 10.0.0.1:80 -s mh -b mh-port\n');
    expect(one(tcp(80, { scheduler: 'wlc', flags: HASHED | S2 }))).toBe('-A -t 10.0.0.1:80 -s wlc -b flag-2\n');
    expect(one(tcp(80, { scheduler: 'wlc', flags: HASHED }))).toBe('-A -t 10.0.0.1:80 -s wlc\n');
  });

  it('services: -t, -u, --sctp-service, -f N, -f N -6', () => {
    expect(one(svc({ protocol: 'sctp', address: '10.0.0.1', port: 9 }))).toBe('-A --sctp-service 10.0.0.1:9 -s rr\n');
    expect(one(svc({ protocol: 'udp', address: '10.0.0.1', port: 53 }))).toBe('-A -u 10.0.0.1:53 -s rr\n');
    expect(one(svc({ fwmark: 7 }))).toBe('-A -f 7 -s rr\n');
    expect(one(svc({ fwmark: 7, family: 'ipv6' }))).toBe('-A -f 7 -6 -s rr\n');
  });

  it('destinations: -g/-m/-i with weight, tunnel options for ipip/gue/gre; thresholds are not printed', () => {
    const s = tcp(80);
    const lines = formatRules([
      {
        service: s,
        destinations: [
          dst({ address: '10.0.0.2', port: 80, forward: 'route', weight: 3 }),
          dst({ address: '10.0.0.3', port: 8080, forward: 'masq', upperThreshold: 9, lowerThreshold: 1 }),
          dst({ address: '10.0.0.4', port: 80, forward: 'tunnel', tunnel: { type: 'ipip', checksum: 'nocsum' } }),
          dst({ address: '10.0.0.5', port: 80, forward: 'tunnel', tunnel: { type: 'gue', port: 6080, checksum: 'csum' } }),
          dst({ address: '10.0.0.6', port: 80, forward: 'tunnel', tunnel: { type: 'gre', checksum: 'csum' } }),
          dst({ address: '10.0.0.7', port: 80, forward: 'local' }),
          // An old kernel reports no tunnel type: ipvsadm then says ipip.
          dst({ address: '10.0.0.8', port: 80, forward: 'tunnel' }),
        ],
      },
    ]).split('\n');
    expect(lines).toEqual([
      '-A -t 10.0.0.1:80 -s rr',
      '-a -t 10.0.0.1:80 -r 10.0.0.2:80 -g -w 3',
      '-a -t 10.0.0.1:80 -r 10.0.0.3:8080 -m -w 1',
      '-a -t 10.0.0.1:80 -r 10.0.0.4:80 -i -w 1 --tun-type ipip',
      '-a -t 10.0.0.1:80 -r 10.0.0.5:80 -i -w 1 --tun-type gue --tun-port 6080 --tun-csum',
      '-a -t 10.0.0.1:80 -r 10.0.0.6:80 -i -w 1 --tun-type gre --tun-csum',
      '-a -t 10.0.0.1:80 -r 10.0.0.7:80 -g -w 1',
      '-a -t 10.0.0.1:80 -r 10.0.0.8:80 -i -w 1 --tun-type ipip',
      '',
    ]);
  });

  it('an empty table prints nothing', () => {
    expect(formatRules([])).toBe('');
  });
});

describe("ipvsadm's sort order", () => {
  it('addresses compare by a wrapping 32-bit subtraction: 200.0.0.1 sorts before 10.0.0.1', () => {
    const a = { service: tcp(80, { address: '10.0.0.1' }), destinations: [] };
    const b = { service: tcp(80, { address: '200.0.0.1' }), destinations: [] };
    const expected = '-A -t 200.0.0.1:80 -s rr\n-A -t 10.0.0.1:80 -s rr\n';
    expect(formatRules([a, b])).toBe(expected);
    expect(formatRules([b, a])).toBe(expected);
    // Within 2^31 of each other the order is the natural one.
    const c = { service: tcp(80, { address: '100.0.0.1' }), destinations: [] };
    expect(formatRules([c, a])).toBe('-A -t 10.0.0.1:80 -s rr\n-A -t 100.0.0.1:80 -s rr\n');
  });

  it('10 < 100 < 200 < 10 is a cycle: the result depends on the input order, as with glibc qsort (ipvsadm-Sn-sort.txt)', () => {
    // capture.sh added 10.0.0.9, 100.0.0.9, 200.0.0.9 to 192.0.2.1:1..6 in every
    // order; the kernel lists the newest first, and ipvsadm printed:
    const added = [
      ['10', '100', '200'],
      ['10', '200', '100'],
      ['100', '10', '200'],
      ['100', '200', '10'],
      ['200', '10', '100'],
      ['200', '100', '10'],
    ];
    const printed = fileLines('ipvsadm-Sn-sort.txt')
      .split('\n')
      .filter((l) => l.startsWith('-a -t 192.0.2.1:'))
      .map((l) => l.split(' ')[4]!.split('.')[0]!);
    expect(printed).toHaveLength(18);
    added.forEach((order, i) => {
      const s = svc({ protocol: 'tcp', address: '192.0.2.1', port: i + 1 });
      const kernelOrder = [...order].reverse().map((a) => dst({ address: `${a}.0.0.9`, port: 80, forward: 'masq' }));
      const ours = formatRules([{ service: s, destinations: kernelOrder }])
        .split('\n')
        .filter((l) => l.startsWith('-a'))
        .map((l) => l.split(' ')[4]!.split('.')[0]!);
      expect(ours, `added ${order.join(',')}`).toEqual(printed.slice(i * 3, i * 3 + 3));
    });
  });

  it('sortByService and sortDestinations give what glibcMergeSort with the comparators gives, cycles and mixed families included', () => {
    let seed = 12345;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return (seed >>> 8) % n;
    };
    // Few distinct values, so that ties, wrap-around (>= 2^31 apart) and cycles all occur.
    const v4 = (): string => `${[10, 100, 200, 250][rnd(4)]}.0.${rnd(2)}.${rnd(3)}`;
    const v6 = (): string => `${['2001:db8', 'fe80', '8000'][rnd(3)]}::${rnd(3)}`;
    for (let round = 0; round < 200; round++) {
      const n = 1 + rnd(24);
      const services = Array.from({ length: n }, (): { service: Service } => {
        const kind = rnd(5);
        if (kind === 0) return { service: svc({ fwmark: [1, 2, 0x80000001][rnd(3)]!, family: rnd(2) ? 'ipv4' : 'ipv6' }) };
        const ipv6 = kind === 1;
        return { service: svc({ protocol: (['tcp', 'udp', 'sctp'] as const)[rnd(3)]!, family: ipv6 ? 'ipv6' : 'ipv4', address: ipv6 ? v6() : v4(), port: rnd(3) }) };
      });
      expect(sortByService(services)).toEqual(glibcMergeSort(services, (a, b) => compareServices(a.service, b.service)));
      const dests = Array.from({ length: n }, () => (rnd(4) ? dst({ address: v4(), port: rnd(3), forward: 'masq' }) : dst({ family: 'ipv6', address: v6(), port: rnd(3), forward: 'masq' })));
      const got = sortDestinations(dests);
      const want = glibcMergeSort(dests, compareDestinations);
      expect(got.length).toBe(want.length);
      got.forEach((d, i) => expect(d).toBe(want[i]));
    }
  });

  it('glibcMergeSort is a stable top-down merge sort', () => {
    const items = [3, 1, 2, 1, 3, 2].map((v, i) => ({ v, i }));
    expect(glibcMergeSort(items, (a, b) => a.v - b.v).map((x) => `${x.v}${x.i}`)).toEqual(['11', '13', '22', '25', '30', '34']);
    expect(glibcMergeSort([], (a: number, b: number) => a - b)).toEqual([]);
    const input = [5];
    const out = glibcMergeSort(input, (a, b) => a - b);
    expect(out).toEqual([5]);
    expect(out).not.toBe(input);
    // The left half is [0, n/2): with the cycle a < b < c < a the merge order decides.
    const cyc = (x: string, y: string) => (x === y ? 0 : (x === 'a' && y === 'b') || (x === 'b' && y === 'c') || (x === 'c' && y === 'a') ? -1 : 1);
    expect(glibcMergeSort(['c', 'b', 'a'], cyc)).toEqual(['c', 'a', 'b']);
    expect(glibcMergeSort(['a', 'b', 'c'], cyc)).toEqual(['a', 'b', 'c']);
  });
});

describe('parseRules', () => {
  const key = { protocol: 'tcp', address: '10.0.0.1', port: 80 } as const;
  const parse1 = (line: string): RuleCommand => {
    const out = parseRules(line);
    expect(out).toHaveLength(1);
    return out[0]!;
  };

  const CASES: [string[], Omit<RuleCommand, 'line'> & Record<string, unknown>][] = [
    [['-A -t 10.0.0.1:80 -s rr', '--add-service --tcp-service 10.0.0.1:80 --scheduler rr'], { op: 'add-service', service: { ...key, scheduler: 'rr' } }],
    [['-A -u [2001:db8::1]:53 -p 600 -M 64', '--add-service --udp-service [2001:db8::1]:53 --persistent 600 --netmask 64'], { op: 'add-service', service: { protocol: 'udp', address: '2001:db8::1', port: 53, persistence: { timeout: 600, netmask: 64 } } }],
    [['-A -t 10.0.0.1:80 -p -M 255.255.255.0', '--add-service -t 10.0.0.1:80 --persistent --netmask 255.255.255.0'], { op: 'add-service', service: { ...key, persistence: { timeout: 360, netmask: '255.255.255.0' } } }],
    [['-A --sctp-service 10.0.0.1:9 -s rr'], { op: 'add-service', service: { protocol: 'sctp', address: '10.0.0.1', port: 9, scheduler: 'rr' } }],
    [['-A -f 7 -6 -s sh -b sh-fallback,sh-port', '--add-service --fwmark-service 7 --ipv6 --scheduler sh --sched-flags sh-fallback,sh-port'], { op: 'add-service', service: { fwmark: 7, family: 'ipv6', scheduler: 'sh', schedulerFlags: ['sh-fallback', 'sh-port'] } }],
    [['-A -f 7'], { op: 'add-service', service: { fwmark: 7, family: 'ipv4' } }],
    [['-A -u 10.0.0.1:5060 -s rr -p 60 --pe sip -o', '--add-service --udp-service 10.0.0.1:5060 --scheduler rr --persistent 60 --pe sip --ops'], { op: 'add-service', service: { protocol: 'udp', address: '10.0.0.1', port: 5060, scheduler: 'rr', persistence: { timeout: 60 }, persistenceEngine: 'sip', onePacket: true } }],
    // -M without -p is ignored, as ipvsadm ignores it.
    [['-A -t 10.0.0.1:80 -M 255.255.255.0'], { op: 'add-service', service: { ...key } }],
    [['-E -t 10.0.0.1:80 -s wlc', '--edit-service -t 10.0.0.1:80 -s wlc'], { op: 'edit-service', service: { ...key, scheduler: 'wlc' } }],
    [['-D -t 10.0.0.1:80', '--delete-service --tcp-service 10.0.0.1:80'], { op: 'delete-service', service: key }],
    [
      ['-a -t 10.0.0.1:80 -r 10.0.1.1:8080 -m -w 5 -x 100 -y 10', '--add-server --tcp-service 10.0.0.1:80 --real-server 10.0.1.1:8080 --masquerading --weight 5 --u-threshold 100 --l-threshold 10'],
      { op: 'add-destination', service: key, destination: { address: '10.0.1.1', port: 8080, forward: 'masq', weight: 5, upperThreshold: 100, lowerThreshold: 10 } },
    ],
    // -g and -i use the service port, whatever port was written (as ipvsadm does for -a and -e).
    [['-a -t 10.0.0.1:80 -r 10.0.1.2:8080 -g', '--add-server -t 10.0.0.1:80 -r 10.0.1.2 --gatewaying'], { op: 'add-destination', service: key, destination: { address: '10.0.1.2', port: 80, forward: 'route' } }],
    [['-a -t 10.0.0.1:80 -r 10.0.1.2'], { op: 'add-destination', service: key, destination: { address: '10.0.1.2', port: 80, forward: 'route' } }],
    [
      ['-a -t 10.0.0.1:80 -r 10.0.1.3 -i --tun-type gue --tun-port 6080 --tun-csum', '--add-server -t 10.0.0.1:80 -r 10.0.1.3 --ipip --tun-type gue --tun-port 6080 --tun-csum'],
      { op: 'add-destination', service: key, destination: { address: '10.0.1.3', port: 80, forward: 'tunnel', tunnel: { type: 'gue', port: 6080, checksum: 'csum' } } },
    ],
    [['-a -t 10.0.0.1:80 -r 10.0.1.4 -i --tun-type gre --tun-nocsum'], { op: 'add-destination', service: key, destination: { address: '10.0.1.4', port: 80, forward: 'tunnel', tunnel: { type: 'gre', checksum: 'nocsum' } } }],
    [['-a -t 10.0.0.1:80 -r 10.0.1.5 -i --tun-type gue --tun-port 1 --tun-remcsum'], { op: 'add-destination', service: key, destination: { address: '10.0.1.5', port: 80, forward: 'tunnel', tunnel: { type: 'gue', port: 1, checksum: 'remcsum' } } }],
    [['-a -t 10.0.0.1:80 -r [2001:db8::2]:80 -i'], { op: 'add-destination', service: key, destination: { address: '2001:db8::2', port: 80, forward: 'tunnel' } }],
    [['-a -f 7 -r 10.0.1.6 -g -w 2'], { op: 'add-destination', service: { fwmark: 7, family: 'ipv4' }, destination: { address: '10.0.1.6', forward: 'route', weight: 2 } }],
    [['-e -t 10.0.0.1:80 -r 10.0.1.1:8080 -m -w 0', '--edit-server -t 10.0.0.1:80 -r 10.0.1.1:8080 -m --weight 0'], { op: 'edit-destination', service: key, destination: { address: '10.0.1.1', port: 8080, forward: 'masq', weight: 0 } }],
    [['-d -t 10.0.0.1:80 -r 10.0.1.2', '--delete-server -t 10.0.0.1:80 --real-server 10.0.1.2'], { op: 'delete-destination', service: key, destination: { address: '10.0.1.2', port: 80 } }],
    [['-C', '--clear'], { op: 'flush' }],
    [['-Z', '--zero'], { op: 'zero' }],
    [['-Z -t 10.0.0.1:80', '--zero --tcp-service 10.0.0.1:80'], { op: 'zero', service: key }],
    [['--set 100 20 30'], { op: 'set-timeouts', timeouts: { tcp: 100, tcpFin: 20, udp: 30 } }],
    // 0 leaves a timeout unchanged.
    [['--set 0 20 0'], { op: 'set-timeouts', timeouts: { tcpFin: 20 } }],
    [
      ['--start-daemon master --mcast-interface eth1 --syncid 7 --sync-maxlen 1400 --mcast-group 224.0.0.82 --mcast-port 8849 --mcast-ttl 2'],
      { op: 'start-daemon', daemon: { state: 'master', interface: 'eth1', syncId: 7, maxLength: 1400, multicastGroup: '224.0.0.82', multicastPort: 8849, multicastTtl: 2 } },
    ],
    [['--start-daemon backup'], { op: 'start-daemon', daemon: { state: 'backup', interface: 'eth0' } }],
    [['--stop-daemon master'], { op: 'stop-daemon', state: 'master' }],
  ];

  for (const [lines, expected] of CASES) {
    for (const line of lines) {
      it(line, () => {
        expect(parse1(line)).toEqual({ line: 1, ...expected });
        // A leading `ipvsadm` is allowed.
        expect(parse1(`ipvsadm ${line}`)).toEqual({ line: 1, ...expected });
      });
    }
  }

  it('-d keeps the real server port given, as ipvsadm does', () => {
    expect(parse1('-d -t 10.0.0.1:80 -r 10.0.1.1:8080')).toEqual({ line: 1, op: 'delete-destination', service: key, destination: { address: '10.0.1.1', port: 8080 } });
  });

  it('skips blank lines and comments, keeps line numbers, accepts tabs and CRLF', () => {
    const text = '# saved by ipvsadm\n\n-A -t 10.0.0.1:80 -s rr   # the web\n\t-a\t-t 10.0.0.1:80  -r 10.0.1.1:80 -m\r\n   # end\n';
    expect(parseRules(text)).toEqual([
      { line: 3, op: 'add-service', service: { ...key, scheduler: 'rr' } },
      { line: 4, op: 'add-destination', service: key, destination: { address: '10.0.1.1', port: 80, forward: 'masq' } },
    ]);
    expect(parseRules('')).toEqual([]);
    expect(parseRules('# nothing\n\n')).toEqual([]);
  });

  it('a trailing comment on a CRLF line is skipped', () => {
    expect(parseRules('-A -t 10.0.0.1:80 -s rr # the web\r\n')).toEqual([{ line: 1, op: 'add-service', service: { ...key, scheduler: 'rr' } }]);
  });

  it('reads back everything ipvsadm -Sn printed', () => {
    for (const file of ['ipvsadm-Sn.txt', 'ipvsadm-Sn-sort.txt', 'ipvsadm-Sn-format.txt']) {
      const text = readFileSync(`${FIXTURE_DIR}${file}`, 'utf8');
      const commands = parseRules(text);
      expect(commands.length, file).toBe(fileLines(file).split('\n').filter((l) => l !== '').length);
    }
    // -f -1 (a mark of 2^32 - 1 printed with %d) reads back as that mark.
    expect(parseRules('-A -f -1 -6 -s rr')[0]).toEqual({ line: 1, op: 'add-service', service: { fwmark: 4294967295, family: 'ipv6', scheduler: 'rr' } });
  });

  const ERRORS: [string, string, string][] = [
    // [text, field, a fragment of the message]
    ['-A -t 10.0.0.1:80\n-A -t 10.0.0.2:80 --bogus', 'line 2 --bogus', 'unknown option'],
    ['-A -t 10.0.0.1:80 -s', 'line 1 -s', 'missing its value'],
    ['-A -s rr', 'line 1', 'needs a service'],
    ['-s rr', 'line 1', 'no command'],
    ['-A -D -t 10.0.0.1:80', 'line 1 -D', 'second command'],
    ['\n\n-A -t www.example.com:80', 'line 3 -t', 'not a numeric address'],
    ['-A -t 10.0.0.1', 'line 1 -t', 'address:port'],
    ['-A -t 10.0.0.1:http', 'line 1 -t', 'port "http" is not a number'],
    ['-a -t 10.0.0.1:80 -w 5', 'line 1', 'needs a real server'],
    ['-a -t 10.0.0.1:80 -r 10.0.1.1 -w five', 'line 1 -w', 'expects a number'],
    ['-a -t 10.0.0.1:80 -r 10.0.1.1 -i --tun-type vxlan', 'line 1 --tun-type', 'ipip, gue or gre'],
    ['-A -t 10.0.0.1:80 -f 5', 'line 1 -f', 'not both'],
    ['--set 100 20', 'line 1 --set udp', 'expects a number'],
    ['--start-daemon primary', 'line 1 --start-daemon', 'master or backup'],
    ['--start-daemon master --syncid x', 'line 1 --syncid', 'expects a number'],
  ];
  for (const [text, field, says] of ERRORS) {
    it(`rejects ${JSON.stringify(text)} naming ${field}`, () => {
      let e: unknown;
      try {
        parseRules(text);
      } catch (x) {
        e = x;
      }
      expect(e).toBeInstanceOf(InvalidArgumentError);
      expect((e as InvalidArgumentError).field).toBe(field);
      expect((e as Error).message).toContain(field);
      expect((e as Error).message).toContain(says);
    });
  }

  it('a bad line anywhere means nothing is sent by restore()', async () => {
    const kernel = replayKernel([]);
    const ipvs = await Ipvs.open({ socketFactory: kernel.factory });
    try {
      await expect(ipvs.restore('-A -t 10.0.0.1:80 -s rr\n-A -t 10.0.0.2:80 --bogus\n', { atomic: false })).rejects.toBeInstanceOf(InvalidArgumentError);
      expect(kernel.ipvsRequests).toEqual([]);
    } finally {
      await ipvs.close();
    }
  });
});
