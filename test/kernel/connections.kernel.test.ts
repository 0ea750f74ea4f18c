// readConnections() and ConnectionTable against the live table with real
// traffic (see lb-topology.ts): persistent services (per-client, /24
// granularity, a fwmark service marked by tc, IPv6) with many clients and
// some held-open connections; the reader equals `ipvsadm -Lnc` entry for
// entry; per-destination counts equal the kernel's destination counters; and
// affinity() names where a client's next connection lands.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Ipvs, type ServiceSpec } from '../../src/index.js';
import { ConnectionTable, readConnections, type IpvsConnection } from '../../src/persistence/index.js';
import { simulate } from '../../src/schedulers/index.js';
import { clientSources4, clientSources6, createTestbed, SERVER_PORT, SERVERS4, SERVERS6, VIP6, vip4, type Testbed } from './lb-topology.js';

let bed: Testbed;
let ipvs: Ipvs;
const SOURCES4 = clientSources4(260);
const SOURCES6 = clientSources6(40);
const perClient: ServiceSpec = { protocol: 'tcp', address: vip4(1), port: 7000, scheduler: 'rr', persistence: { timeout: 600 } };
const perNet: ServiceSpec = { protocol: 'tcp', address: vip4(2), port: 7001, scheduler: 'wlc', persistence: { timeout: 600, netmask: 24 } };
const byMark: ServiceSpec = { fwmark: 7, scheduler: 'rr', persistence: { timeout: 600 } };
const six: ServiceSpec = { protocol: 'tcp', address: VIP6, port: 7002, scheduler: 'rr', persistence: { timeout: 600 } };

const req = (srcs: string[], vip: string, port: number, hold = false) => srcs.map((src) => ({ src, vip, port, hold }));

beforeAll(async () => {
  bed = await createTestbed('conn', SOURCES4.length, SOURCES6.length);
  ipvs = await Ipvs.open({ netns: bed.director.path });
  // Packets to the third VIP get firewall mark 7 on the way in (tc runs before netfilter). A persistent
  // fwmark service forwards to the port the client asked for (its templates carry port 0), so clients
  // connect to the servers' own port there.
  bed.director.exec('tc', ['qdisc', 'add', 'dev', 'd0', 'ingress']);
  bed.director.exec('tc', ['filter', 'add', 'dev', 'd0', 'parent', 'ffff:', 'protocol', 'ip', 'prio', '1', 'u32', 'match', 'ip', 'dst', `${vip4(3)}/32`, 'action', 'skbedit', 'mark', '7']);
  for (const svc of [perClient, perNet, byMark, six]) {
    await ipvs.addService(svc);
    const servers = svc === six ? SERVERS6 : SERVERS4;
    for (const address of servers) await ipvs.addDestination(svc, { address, port: SERVER_PORT, weight: 1, forward: 'masq' });
  }
  const ok = (rs: { name?: string; error?: string }[]) => expect(rs.filter((r) => !r.name)).toEqual([]);
  ok(await bed.connectParallel(req(SOURCES4.slice(0, 200), vip4(1), 7000)));
  ok(await bed.connectParallel(req(SOURCES4.slice(0, 40).concat(SOURCES4.slice(255, 260)), vip4(2), 7001)));
  ok(await bed.connectParallel(req(SOURCES4.slice(0, 30), vip4(3), SERVER_PORT)));
  ok(await bed.connectParallel(req(SOURCES6, VIP6, 7002)));
  ok(await bed.connect(req(SOURCES4.slice(200, 210), vip4(1), 7000, true)));
}, 180_000);

afterAll(async () => {
  await bed?.closeHeld().catch(() => undefined);
  await ipvs?.close();
  bed?.destroy();
});

async function collect(): Promise<IpvsConnection[]> {
  const out: IpvsConnection[] = [];
  for await (const c of readConnections({ netns: bed.director.path })) out.push(c);
  return out;
}

/** `ipvsadm -Lnc` rows as [proto, expires seconds, state, source, virtual, destination] with canonical addresses. */
function ipvsadmRows(): [string, number, string, string, string, string][] {
  const text = bed.director.ipvsadm('-Lnc');
  const lines = text.split('\n').slice(2).filter((l) => l.trim());
  return lines.map((l) => {
    const [pro, expire, state, source, virt, dest] = l.trim().split(/\s+/) as [string, string, string, string, string, string];
    const seconds = expire.split(':').reduce((acc, x) => acc * 60 + Number(x), 0);
    return [pro, seconds, state, source, virt, dest];
  });
}

const hostPort = (a: string, p: number) => (a.includes(':') ? `[${a}]:${p}` : `${a}:${p}`);
const asRow = (c: IpvsConnection): [string, number, string, string, string, string] => [
  c.protocol.toUpperCase(), c.expires, c.state, hostPort(c.clientAddress, c.clientPort), hostPort(c.virtualAddress, c.virtualPort), hostPort(c.destinationAddress, c.destinationPort),
];

/** ipvsadm prints IPv6 addresses compressed like inet_ntop; bring both to one form. */
function canon(row: [string, number, string, string, string, string]): [string, number, string, string, string, string] {
  const fix = (hp: string) => hp.replace(/^\[([^\]]+)\]/, (_, a: string) => `[${new URL(`http://[${a}]/`).hostname.slice(1, -1)}]`);
  return [row[0], row[1], row[2], fix(row[3]), fix(row[4]), fix(row[5])];
}

describe('readConnections()', () => {
  it('equals ipvsadm -Lnc entry for entry (IPv4, IPv6, templates, a fwmark service)', async () => {
    // Wait for the closed connections to settle in their final state, so that two reads agree.
    let ours = await collect();
    for (let i = 0; i < 30; i++) {
      await new Promise((r) => setTimeout(r, 200));
      const again = await collect();
      const same = again.length === ours.length && again.every((c, k) => c.state === ours[k]!.state && c.clientPort === ours[k]!.clientPort);
      ours = again;
      if (same) break;
    }
    const theirs = ipvsadmRows().map(canon);
    const mine = ours.map(asRow).map(canon);
    expect(mine.length).toBe(theirs.length);
    expect(mine.length).toBeGreaterThan(500);
    mine.forEach((m, i) => {
      const t = theirs[i]!;
      expect([m[0], m[2], m[3], m[4], m[5]]).toEqual([t[0], t[2], t[3], t[4], t[5]]);
      expect(Math.abs(m[1] - t[1])).toBeLessThanOrEqual(2);
    });
    const templates = ours.filter((c) => c.template);
    expect(templates.filter((c) => c.family === 'ipv6').length).toBe(SOURCES6.length);
    expect(templates.filter((c) => c.protocol === 'ip').map((c) => c.service)).toContainEqual({ fwmark: 7, family: 'ipv4' });
    // Two /24 networks → two templates for the /24 service.
    expect(templates.filter((c) => c.virtualAddress === vip4(2)).map((c) => c.clientAddress).sort()).toEqual(['10.3.0.0', '10.3.1.0']);
    expect(ours.filter((c) => c.state === 'ESTABLISHED').length).toBe(10);
  });

  it('counts per real server equal the kernel counters of all services', async () => {
    const table = await ConnectionTable.read({ netns: bed.director.path });
    const expected = new Map<string, { connections: number; templates: number }>();
    for (const svc of await ipvs.listServices()) {
      for (const d of await ipvs.listDestinations(svc as ServiceSpec)) {
        // By address: a persistent fwmark service's templates carry port 0.
        const id = d.address;
        const e = expected.get(id) ?? { connections: 0, templates: 0 };
        e.connections += d.activeConnections + d.inactiveConnections;
        e.templates += d.persistentConnections;
        expected.set(id, e);
      }
    }
    const got = new Map([...table.perAddress].map(([k, v]) => [k, { connections: v.connections, templates: v.templates }]));
    expect(got).toEqual(expected);
  });

  it('affinity() names where the next connection of a client lands', async () => {
    const table = await ConnectionTable.read({ netns: bed.director.path });
    const cases: [string, string, number, ServiceSpec][] = [
      ...SOURCES4.slice(0, 12).map((s): [string, string, number, ServiceSpec] => [s, vip4(1), 7000, perClient]),
      // Never connected to this service, but its /24 has a template: it follows it.
      ...SOURCES4.slice(100, 104).map((s): [string, string, number, ServiceSpec] => [s, vip4(2), 7001, perNet]),
      ...SOURCES4.slice(0, 4).map((s): [string, string, number, ServiceSpec] => [s, vip4(3), SERVER_PORT, byMark]),
      ...SOURCES6.slice(0, 4).map((s): [string, string, number, ServiceSpec] => [s, VIP6, 7002, six]),
    ];
    const predicted = cases.map(([src, , , svc]) => table.affinity(src, svc)?.destinationAddress);
    expect(predicted).not.toContain(undefined);
    const results = await bed.connect(cases.map(([src, vip, port]) => ({ src, vip, port })));
    expect(results.map((r) => r.name)).toEqual(predicted);
    // A client with no template anywhere has no affinity.
    expect(table.affinity(SOURCES4[250]!, perClient)).toBeUndefined();
  });
});

describe('simulate() on a persistent service', () => {
  it('schedules each /28 once and sends the rest after its template, also after a quiesce', async () => {
    const svc: ServiceSpec = { protocol: 'tcp', address: vip4(4), port: 7004, scheduler: 'rr', persistence: { timeout: 600, netmask: 28 } };
    await ipvs.addService(svc);
    for (const address of SERVERS4) await ipvs.addDestination(svc, { address, port: SERVER_PORT, weight: 1, forward: 'masq' });
    // Interleaved networks: every 7th address, twice round.
    const order = Array.from({ length: 60 }, (_, i) => SOURCES4[(i * 7) % 120]!);
    const dests = await ipvs.listDestinations(svc);
    const predicted = simulate(svc, dests, order.map((source) => ({ source })));
    const got = await bed.connect(order.map((src) => ({ src, vip: vip4(4), port: 7004 })));
    expect(got.map((r) => r.name)).toEqual(predicted.placements.map((d) => d?.address));
    expect(predicted.templates!.size).toBeGreaterThan(4);

    // Quiesce one server: its networks stay with it (templates), new networks go elsewhere.
    const table = await ConnectionTable.read({ netns: bed.director.path });
    const templates = table.templatesOf(svc);
    expect(templates.length).toBe(predicted.templates!.size);
    await ipvs.updateDestination(svc, { address: SERVERS4[0]!, port: SERVER_PORT, weight: 0, forward: 'masq' });
    const after = await ipvs.listDestinations(svc);
    const next = SOURCES4.slice(100, 160).filter((_, i) => i % 3 === 0);
    // rr's position: after the last destination the first run picked.
    const last = predicted.indexes.filter((i) => i >= 0).at(-1)!;
    const lastAddress = dests[last]!.address;
    const rrPosition = predicted.rrPosition >= 0 ? after.findIndex((d) => d.address === dests[predicted.rrPosition]!.address) : -1;
    expect(dests[predicted.rrPosition]!.address).toBe(lastAddress);
    const again = simulate(svc, after, next.map((source) => ({ source })), { templates, rrPosition });
    const reached = await bed.connect(next.map((src) => ({ src, vip: vip4(4), port: 7004 })));
    expect(reached.map((r) => r.name)).toEqual(again.placements.map((d) => d?.address));
    expect(again.placements.some((d) => d?.address === SERVERS4[0])).toBe(true); // pinned networks still reach the quiesced server
  });
});
