// simulate() and remap() against the kernel's own choices, with real TCP
// connections through a NAT director (see lb-topology.ts): for every
// connection, the real server that answered must be the one simulate()
// predicted — exact, for each scheduler, several weight sets (weight 0
// included), after a destination is removed and after it is added back
// (which moves it to the head of the list). With IPVS_TS_CAPTURE_FIXTURES=1
// the sh/mh/dh observations are written to test/fixtures/schedulers/ for the
// unit tests.
import { writeFileSync, mkdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Ipvs, type Destination, type ServiceSpec } from '../../src/index.js';
import { availableSchedulers, remap, simulate, wrrDestChanged, rrPositionAfterDelete, type SimDestination, type SimulateOptions, type WrrState } from '../../src/schedulers/index.js';
import { clientSources4, clientSources6, createTestbed, SERVER_PORT, SERVERS4, SERVERS6, VIP6, vip4, type ConnectRequest, type ConnectResult, type Testbed } from './lb-topology.js';

let bed: Testbed;
let ipvs: Ipvs;
let nextPort = 9000;
const SOURCES4 = clientSources4(300);
const SOURCES6 = clientSources6(64);
const captured: Record<string, unknown> = {};

beforeAll(async () => {
  bed = await createTestbed('sched', SOURCES4.length, SOURCES6.length);
  ipvs = await Ipvs.open({ netns: bed.director.path });
}, 120_000);

afterAll(async () => {
  await ipvs?.close();
  bed?.destroy();
  if (process.env.IPVS_TS_CAPTURE_FIXTURES === '1') {
    mkdirSync('test/fixtures/schedulers', { recursive: true });
    writeFileSync('test/fixtures/schedulers/kernel-placements.json', JSON.stringify(captured) + '\n');
  }
});

type Spec = Omit<ServiceSpec, 'protocol' | 'address' | 'port'> & { scheduler: string };

/** A new service on its own port (so no destination left in the kernel's trash by an earlier one is reused), destinations added one at a time. */
async function createService(spec: Spec, weights: number[], v6 = false, address = v6 ? VIP6 : vip4(1)): Promise<ServiceSpec> {
  const service: ServiceSpec = { protocol: 'tcp', address, port: nextPort++, ...spec };
  await ipvs.addService(service);
  const servers = v6 ? SERVERS6 : SERVERS4;
  for (let i = 0; i < weights.length; i++) {
    await ipvs.addDestination(service, { address: servers[i]!, port: SERVER_PORT, weight: weights[i]!, forward: 'masq' });
  }
  return service;
}

/** The kernel's list, as simulate() takes it (with `extra` fields such as lastWeight merged in by address). */
async function listed(service: ServiceSpec, extra: Record<string, Partial<SimDestination>> = {}): Promise<SimDestination[]> {
  const ds: Destination[] = await ipvs.listDestinations(service);
  return ds.map((d) => ({
    address: d.address,
    port: d.port,
    weight: d.weight,
    activeConnections: d.activeConnections,
    inactiveConnections: d.inactiveConnections,
    ...extra[d.address],
  }));
}

const requests = (service: ServiceSpec, sources: string[], hold = false): ConnectRequest[] =>
  sources.map((src) => ({ src, vip: (service as { address: string }).address, port: (service as { port: number }).port, hold }));

/** What each connection reached (null when it was refused: the scheduler found no destination). */
function reached(results: ConnectResult[]): (string | null)[] {
  return results.map((r) => {
    if (r.name !== undefined) return r.name;
    if (r.error === 'ECONNREFUSED') return null;
    throw new Error(`connection failed unexpectedly: ${r.error}`);
  });
}

/** Connect every source once and compare with simulate(); returns the observed destinations. */
async function check(
  name: string,
  service: ServiceSpec,
  sources: string[],
  options: SimulateOptions & { extra?: Record<string, Partial<SimDestination>>; parallel?: boolean; hold?: boolean } = {},
): Promise<(string | null)[]> {
  const dests = await listed(service, options.extra);
  const results = options.parallel ? await bed.connectParallel(requests(service, sources)) : await bed.connect(requests(service, sources, options.hold));
  const observed = reached(results);
  const conns = sources.map((source, i) => ({ source, sourcePort: results[i]!.sport ?? 0 }));
  const predicted = simulate(service, dests, conns, options).placements.map((d) => d?.address ?? null);
  if (/^(sh|mh|dh)/.test(name)) {
    // Fixtures for the unit tests: the first 64 connections, compactly.
    captured[name] = {
      service,
      destinations: dests.map(({ address, port, weight, lastWeight }) => ({ address, port, weight, ...(lastWeight !== undefined ? { lastWeight } : {}) })),
      connections: conns.slice(0, 64).map((c) => [c.source, c.sourcePort]),
      observed: observed.slice(0, 64),
    };
  }
  const mismatches = observed.map((o, i) => (o === predicted[i] ? null : `${sources[i]}:${conns[i]!.sourcePort} kernel ${o} simulate ${predicted[i]}`)).filter(Boolean);
  expect(mismatches, name).toEqual([]);
  expect(observed.length).toBe(sources.length);
  return observed;
}

/** Remove the destination at list index 1, check; add it back (now at the head), check; and remap() against the moves seen. */
async function removeAndReadd(name: string, service: ServiceSpec, sources: string[], before: (string | null)[], extra?: Record<string, Partial<SimDestination>>): Promise<void> {
  const all = await listed(service, extra);
  const victim = all[1]!;
  await ipvs.deleteDestination(service, { address: victim.address, port: victim.port });
  const after = await check(`${name} without ${victim.address}`, service, sources, { parallel: true, ...(extra ? { extra } : {}) });
  const predictedMoves = remap({ service, destinations: all }, { service, destinations: await listed(service, extra) }, sources.map((source) => ({ source })));
  const seenMoves = before.map((b, i) => (b === after[i] ? -1 : i)).filter((i) => i >= 0);
  expect(predictedMoves.moves.map((m) => m.client)).toEqual(seenMoves);
  await ipvs.addDestination(service, { address: victim.address, port: victim.port, weight: victim.weight ?? 1, forward: 'masq' });
  const back = await listed(service, extra);
  expect(back[0]!.address).toBe(victim.address);
  await check(`${name} re-added ${victim.address}`, service, sources, { parallel: true, ...(extra ? { extra } : {}) });
}

describe('hashing schedulers: every connection lands where simulate() says', () => {
  it('sh, equal weights; then a destination removed and re-added (remap() names the clients that move)', async () => {
    const svc = await createService({ scheduler: 'sh' }, [1, 1, 1, 1]);
    const before = await check('sh 1,1,1,1', svc, SOURCES4, { parallel: true });
    expect(new Set(before).size).toBe(4);
    await removeAndReadd('sh 1,1,1,1', svc, SOURCES4, before);
  });

  it('sh with sh-port, weights 2,1,3,1', async () => {
    const svc = await createService({ scheduler: 'sh', schedulerFlags: ['sh-port'] }, [2, 1, 3, 1]);
    await check('sh-port 2,1,3,1', svc, SOURCES4.slice(0, 150), { parallel: true });
  });

  it('sh with a weight-0 destination: refused without sh-fallback, elsewhere with it', async () => {
    const plain = await createService({ scheduler: 'sh' }, [1, 0, 2, 1]);
    const refused = await check('sh 1,0,2,1', plain, SOURCES4, { parallel: true });
    expect(refused).toContain(null);
    const fb = await createService({ scheduler: 'sh', schedulerFlags: ['sh-fallback'] }, [1, 0, 2, 1]);
    const moved = await check('sh-fallback 1,0,2,1', fb, SOURCES4, { parallel: true });
    expect(moved).not.toContain(null);
  });

  it('mh, equal weights; then a destination removed and re-added', async () => {
    const svc = await createService({ scheduler: 'mh' }, [1, 1, 1, 1]);
    const before = await check('mh 1,1,1,1', svc, SOURCES4, { parallel: true });
    expect(new Set(before).size).toBe(4);
    await removeAndReadd('mh 1,1,1,1', svc, SOURCES4, before);
  });

  it('mh with mh-port, weights 3,1,2,1', async () => {
    const svc = await createService({ scheduler: 'mh', schedulerFlags: ['mh-port'] }, [3, 1, 2, 1]);
    await check('mh-port 3,1,2,1', svc, SOURCES4.slice(0, 150), { parallel: true });
  });

  it('mh: a destination quiesced to 0 keeps its slots (lastWeight), one added with 0 has none', async () => {
    const q = await createService({ scheduler: 'mh' }, [1, 2, 1, 1]);
    await ipvs.updateDestination(q, { address: SERVERS4[1]!, port: SERVER_PORT, weight: 0, forward: 'masq' });
    const extra = { [SERVERS4[1]!]: { lastWeight: 2 } };
    expect(await check('mh quiesced 1,2→0,1,1', q, SOURCES4, { parallel: true, extra })).toContain(null);
    const qf = await createService({ scheduler: 'mh', schedulerFlags: ['mh-fallback'] }, [1, 2, 1, 1]);
    await ipvs.updateDestination(qf, { address: SERVERS4[1]!, port: SERVER_PORT, weight: 0, forward: 'masq' });
    expect(await check('mh-fallback quiesced 1,2→0,1,1', qf, SOURCES4, { parallel: true, extra })).not.toContain(null);
    const z = await createService({ scheduler: 'mh' }, [1, 0, 1, 1]);
    expect(await check('mh added 1,0,1,1', z, SOURCES4, { parallel: true })).not.toContain(null);
  });

  it('sh and mh over IPv6 (addresses folded by XOR of their words)', async () => {
    const sh = await createService({ scheduler: 'sh' }, [1, 2, 1, 1], true);
    await check('sh ipv6 1,2,1,1', sh, SOURCES6, { parallel: true });
    const mh = await createService({ scheduler: 'mh' }, [1, 2, 1, 1], true);
    await check('mh ipv6 1,2,1,1', mh, SOURCES6, { parallel: true });
  });

  it('dh: the virtual address decides; a weight-0 destination refuses its share', async () => {
    const seen = new Set<string | null>();
    for (let v = 1; v <= 16; v++) {
      const svc = await createService({ scheduler: 'dh' }, [1, 1, 0, 1], false, vip4(v));
      const got = await check(`dh vip ${vip4(v)}`, svc, SOURCES4.slice(0, 4), { parallel: true });
      expect(new Set(got).size).toBe(1);
      seen.add(got[0]!);
    }
    expect(seen.size).toBeGreaterThan(1);
  });
});

describe('order-dependent schedulers: connection by connection', () => {
  it('rr from a fresh service, then across a removal and a re-add', async () => {
    const svc = await createService({ scheduler: 'rr' }, [1, 0, 1, 1]);
    const sources = SOURCES4.slice(0, 10);
    let position = -1;
    const dests = await listed(svc);
    await check('rr fresh', svc, sources, { rrPosition: position });
    position = simulate(svc, dests, sources.map((source) => ({ source })), { rrPosition: position }).rrPosition;
    const victim = dests[1]!;
    await ipvs.deleteDestination(svc, { address: victim.address, port: victim.port });
    position = rrPositionAfterDelete(position, 1);
    await check('rr after delete', svc, sources, { rrPosition: position });
    position = simulate(svc, await listed(svc), sources.map((source) => ({ source })), { rrPosition: position }).rrPosition;
    await ipvs.addDestination(svc, { address: victim.address, port: victim.port, weight: 1, forward: 'masq' });
    // The re-added destination goes to the head: the same destination is now one index further on.
    position = position < 0 ? -1 : position + 1;
    await check('rr after re-add', svc, sources, { rrPosition: position });
  });

  it('wrr from a fresh service built one destination at a time, after a weight change, and across a removal and re-add', async () => {
    const svc = await createService({ scheduler: 'wrr' }, [2, 4, 6, 0]);
    const sources = SOURCES4.slice(0, 30);
    const conns = sources.map((source) => ({ source }));
    await check('wrr fresh 2,4,6,0', svc, sources);
    let state: WrrState = simulate(svc, await listed(svc), conns).wrr!;
    await ipvs.updateDestination(svc, { address: SERVERS4[3]!, port: SERVER_PORT, weight: 3, forward: 'masq' });
    state = wrrDestChanged(state, (await listed(svc)).map((d) => d.weight!));
    await check('wrr after weight change', svc, sources, { wrr: state });
    state = simulate(svc, await listed(svc), conns, { wrr: state }).wrr!;
    await ipvs.deleteDestination(svc, { address: SERVERS4[1]!, port: SERVER_PORT });
    state = wrrDestChanged(state, (await listed(svc)).map((d) => d.weight!));
    await check('wrr after delete', svc, sources, { wrr: state });
    state = simulate(svc, await listed(svc), conns, { wrr: state }).wrr!;
    await ipvs.addDestination(svc, { address: SERVERS4[1]!, port: SERVER_PORT, weight: 4, forward: 'masq' });
    state = wrrDestChanged(state, (await listed(svc)).map((d) => d.weight!));
    await check('wrr after re-add', svc, sources, { wrr: state });
  });

  it('fo: the highest weight, first in list order on a tie', async () => {
    const svc = await createService({ scheduler: 'fo' }, [2, 5, 5, 1]);
    const got = await check('fo 2,5,5,1', svc, SOURCES4.slice(0, 5));
    expect(new Set(got).size).toBe(1);
    await ipvs.updateDestination(svc, { address: got[0]!, port: SERVER_PORT, weight: 0, forward: 'masq' });
    await check('fo after quiescing the winner', svc, SOURCES4.slice(0, 5));
  });

  for (const sched of ['ovf', 'lc', 'wlc', 'sed', 'nq']) {
    it(`${sched} with held-open connections (counts update as connections are placed), weights 1,3,2,1 and 2,0,1,3`, async () => {
      for (const weights of [[1, 3, 2, 1], [2, 0, 1, 3]]) {
        const svc = await createService({ scheduler: sched }, weights);
        const got = await check(`${sched} ${weights.join(',')} held`, svc, SOURCES4.slice(0, 12), { hold: true });
        expect(new Set(got).size).toBeGreaterThan(1);
        expect(got).not.toContain(SERVERS4[weights.indexOf(0)] ?? 'none');
        await bed.closeHeld();
      }
    });
  }

  it('wlc overhead: active × 256 + inactive, as this kernel counts it', async () => {
    // A (weight 256, head of the list) with one active connection, B (weight 1) with one inactive one:
    // 256·1 = 1·256 is a tie (A stays) under active·256 + inactive; A loses under active·257 + inactive.
    const svc: ServiceSpec = { protocol: 'tcp', address: vip4(1), port: nextPort++, scheduler: 'wlc' };
    await ipvs.addService(svc);
    const [b, a] = [SERVERS4[1]!, SERVERS4[0]!];
    await ipvs.addDestination(svc, { address: b, port: SERVER_PORT, weight: 1, forward: 'masq' });
    await ipvs.addDestination(svc, { address: a, port: SERVER_PORT, weight: 0, forward: 'masq' });
    expect(reached(await bed.connect(requests(svc, [SOURCES4[0]!])))).toEqual([b]); // closed at once: inactive on B
    await ipvs.updateDestination(svc, { address: b, port: SERVER_PORT, weight: 0, forward: 'masq' });
    await ipvs.updateDestination(svc, { address: a, port: SERVER_PORT, weight: 256, forward: 'masq' });
    expect(reached(await bed.connect(requests(svc, [SOURCES4[1]!], true)))).toEqual([a]); // held: active on A
    await ipvs.updateDestination(svc, { address: b, port: SERVER_PORT, weight: 1, forward: 'masq' });
    let ds = await listed(svc);
    // B's connection turns inactive when its FIN passes the director, just after the client saw the answer.
    for (let i = 0; i < 30 && ds[1]!.activeConnections !== 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      ds = await listed(svc);
    }
    expect(ds.map((d) => [d.address, d.activeConnections, d.inactiveConnections])).toEqual([[a, 1, 0], [b, 0, 1]]);
    const inactive = simulate(svc, ds, [{ source: SOURCES4[2]! }], { overhead: 'inactive' }).placements[0]!.address;
    const total = simulate(svc, ds, [{ source: SOURCES4[2]! }], { overhead: 'total' }).placements[0]!.address;
    expect([inactive, total]).toEqual([a, b]);
    const got = reached(await bed.connect(requests(svc, [SOURCES4[2]!])));
    expect(got).toEqual([simulate(svc, ds, [{ source: SOURCES4[2]! }]).placements[0]!.address]);
    await bed.closeHeld();
  });
});

describe('availableSchedulers() on this kernel', () => {
  it('names the schedulers used above as loaded, agrees with /proc/modules, and knows what this kernel lacks', async () => {
    const rows = await availableSchedulers();
    const by = Object.fromEntries(rows.map((r) => [r.name, r.availability]));
    for (const s of ['rr', 'wrr', 'lc', 'wlc', 'sed', 'nq', 'fo', 'ovf', 'sh', 'dh', 'mh']) expect(by[s], s).toBe('loaded');
    const loaded = new Set(bed.director.exec('cat', ['/proc/modules']).split('\n').map((l) => l.split(' ')[0]));
    for (const r of rows) {
      if (r.availability === 'loaded') expect(loaded.has(r.module), r.module).toBe(true);
      else expect(loaded.has(r.module), r.module).toBe(false);
    }
    // CONFIG_IP_VS_TWOS is not set in this kernel; lblc is built as a module.
    expect(by.twos).toBe('missing');
    expect(['loaded', 'loadable']).toContain(by.lblc);
  });
});
