// Health checks driving IPVS weights, with real packets: a client namespace, a
// NAT director namespace with the VIP and IPVS, three real-server namespaces and
// a sorry-server namespace, each running real servers (HTTP, HTTPS, a banner
// server, UDP echo, DNS: test/fixtures/health/servers.mjs), joined to the
// director by veth pairs. The checker runs in this process; its probes run in
// the director's namespace (sockets made there by the addon), and the client's
// requests are made from the client's namespace the same way.
import type { ChildProcess } from 'node:child_process';
import http from 'node:http';
import type net from 'node:net';
import { performance } from 'node:perf_hooks';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HealthChecker } from '../../src/health/checker.js';
import type { HealthCheckerOptions, HealthEvent } from '../../src/health/checker-types.js';
import { runCheck } from '../../src/health/run-check.js';
import type { CheckSpec } from '../../src/health/spec.js';
import { connectTcp } from '../../src/health/transport.js';
import { Ipvs } from '../../src/ipvs/client.js';
import { createNetns, run, type Netns } from './harness.js';
import { nextEvent } from './health-events.js';

const VIP = '10.40.0.100';
const CLIENT = '10.40.0.2';
const INTERVAL = 200;
const TIMEOUT = 800;
const FALL = 3;
const RISE = 2;
/**
 * Allowance on top of the arithmetic bound for the sandbox's one slow CPU, shared
 * with whatever else the host runs (commands like `ip netns exec` take hundreds
 * of milliseconds there).
 */
const SLACK = 3000;
/** How expect.poll looks at `ipvsadm -Ln` (a poll of the kernel, not a fixed sleep). */
const POLL = { timeout: 5000, interval: 50 };
const rsAddr = (i: number): string => `10.41.${i}.2`;

let client: Netns;
let director: Netns;
const rs: Netns[] = [];
let sorry: Netns;
const servers = new Map<number, ChildProcess>();
let ipvs: Ipvs;
let checker: HealthChecker | undefined;
/** Every checker made, stopped in afterAll even if its test failed half-way. */
const checkers: HealthChecker[] = [];

function veth(a: Netns, aName: string, aAddr: string, b: Netns, bName: string, bAddr: string): void {
  run('ip', ['link', 'add', aName, 'netns', a.name, 'type', 'veth', 'peer', 'name', bName, 'netns', b.name]);
  a.ip('addr', 'add', aAddr, 'dev', aName);
  b.ip('addr', 'add', bAddr, 'dev', bName);
  a.ip('link', 'set', aName, 'up');
  b.ip('link', 'set', bName, 'up');
}

/** Start the fixture servers of namespace `i` (1..3 real servers, 4 the sorry server); resolves when they listen. */
function startServers(i: number): Promise<void> {
  const ns = i === 4 ? sorry : rs[i - 1]!;
  const child = ns.spawn(process.execPath, ['test/fixtures/health/servers.mjs', rsAddr(i), i === 4 ? 'sorry' : `rs${i}`], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, HOLD_MS: '600000' } });
  servers.set(i, child);
  return new Promise((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('exit', (c) => reject(new Error(`servers of ${i} exited with ${c}`)));
  });
}

function kill(i: number): Promise<void> {
  const child = servers.get(i)!;
  servers.delete(i);
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

/** GET `path` through the VIP from the client namespace; resolves with the body. */
function viaVip(path = '/'): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: VIP, port: 80, path, agent: undefined, createConnection: () => connectTcp(VIP, 80, { netns: client.path }) as net.Socket }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve(body.trim()));
    });
    req.setTimeout(3000, () => req.destroy(new Error('request through the VIP timed out')));
    req.on('error', reject);
    req.end();
  });
}

async function responders(n: number): Promise<Set<string>> {
  const seen = new Set<string>();
  for (let k = 0; k < n; k++) seen.add((await viaVip()).replace(/^hello from /, ''));
  return seen;
}


const stateIs = (dest: string, to: string) => (e: HealthEvent) => e.type === 'state' && e.destination === dest && e.to === to;

/** `ipvsadm -Ln` weights of the service on `port` by real-server address. */
function kernelWeights(port = 80): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of director.ipvsadm('-Ln', '-t', `${VIP}:${port}`).matchAll(/->\s+([\d.]+):\d+\s+Masq\s+(\d+)/g)) out[m[1]!] = Number(m[2]);
  return out;
}

const ALL_UP = { [rsAddr(1)]: 10, [rsAddr(2)]: 10, [rsAddr(3)]: 10 };

/** Wait (polling the checker and the kernel) until all three are up, no sorry server, quorum met. */
async function settled(c: HealthChecker): Promise<void> {
  await expect.poll(() => {
    const s = c.status();
    return s.destinations.every((d) => d.state === 'up') && !s.sorryActive && s.quorum === true;
  }, { timeout: 15_000, interval: 50 }).toBe(true);
  await expect.poll(kernelWeights, POLL).toEqual(ALL_UP);
}

const options = (extra: Partial<HealthCheckerOptions> = {}): HealthCheckerOptions => ({
  service: { protocol: 'tcp', address: VIP, port: 80, scheduler: 'rr' },
  destinations: [1, 2, 3].map((i) => ({ address: rsAddr(i), forward: 'masq' as const, weight: 10 })),
  check: { type: 'http', path: '/', expect: 'hello from rs' },
  intervalMs: INTERVAL, timeoutMs: TIMEOUT, rise: RISE, fall: FALL, startJitterMs: 0,
  sorryServer: { address: rsAddr(4), forward: 'masq', weight: 1 },
  quorum: { minWeight: 15, hysteresis: 5 }, // lost below 10, regained at 20
  netns: director.path,
  ...extra,
});

beforeAll(async () => {
  client = createNetns('hc-client');
  director = createNetns('hc-dir');
  veth(client, 'eth0', `${CLIENT}/24`, director, 'vethC', '10.40.0.1/24');
  director.ip('addr', 'add', `${VIP}/32`, 'dev', 'vethC');
  director.exec('sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
  for (let i = 1; i <= 4; i++) {
    const ns = createNetns(i === 4 ? 'hc-sorry' : `hc-rs${i}`);
    if (i === 4) sorry = ns;
    else rs.push(ns);
    veth(director, `vethR${i}`, `10.41.${i}.1/24`, ns, 'eth0', `${rsAddr(i)}/24`);
    ns.ip('route', 'add', 'default', 'via', `10.41.${i}.1`);
  }
  await Promise.all([1, 2, 3, 4].map(startServers));
  ipvs = await Ipvs.open({ netns: director.path });
}, 60_000);

/** Undo the faults a test injects, even when it fails half-way (so one failure does not cascade). */
afterEach(() => {
  for (const ns of rs) {
    try {
      ns.exec('tc', ['qdisc', 'del', 'dev', 'eth0', 'root']);
    } catch {
      /* no qdisc: nothing to undo */
    }
  }
  director?.ip('link', 'set', 'vethR3', 'up');
});

afterAll(async () => {
  for (const c of [checker, ...checkers]) await c?.stop();
  await ipvs?.close();
  for (const ns of [client, director, ...rs, sorry]) ns?.destroy();
});

describe('every check type from the director namespace, against a healthy and a broken server', () => {
  const healthy = { address: rsAddr(2), port: 80 };
  const cases: Array<[string, CheckSpec, number, { address: string; port: number }]> = [
    ['tcp', { type: 'tcp' }, 80, { address: rsAddr(2), port: 9 }],
    ['http', { type: 'http', expect: 'rs2' }, 80, { address: rsAddr(2), port: 81 /* accepts, never answers */ }],
    ['https', { type: 'https', insecure: true, expect: 'rs2' }, 443, { address: rsAddr(2), port: 80 }],
    ['negotiate', { type: 'negotiate', send: 'QUIT\r\n', expect: '^220 rs2' }, 25, { address: rsAddr(2), port: 82 /* trickles */ }],
    ['udp', { type: 'udp', send: { text: 'ping' }, expect: '^pong rs2 ping' }, 7, { address: rsAddr(2), port: 9 }],
    ['dns', { type: 'dns', name: 'health.test', recordType: 'A', expect: `^${rsAddr(2)}$` }, 53, { address: rsAddr(2), port: 9 }],
    ['icmp', { type: 'icmp' }, 0, { address: '10.41.2.99', port: 0 /* no such host on the link */ }],
    ['exec', { type: 'exec', command: 'sh', args: ['-c', 'ip route get "$IPVS_TS_ADDRESS" | grep -q vethR'] }, 80, { address: '10.99.0.1', port: 80 /* no route from the director */ }],
  ];
  for (const [name, spec, port, broken] of cases) {
    it(name, async () => {
      const good = await runCheck({ ...spec, timeoutMs: 5000 } as CheckSpec, { ...healthy, port }, { netns: director.path });
      expect(good.ok, good.detail).toBe(true);
      const bad = await runCheck({ ...spec, timeoutMs: 400 } as CheckSpec, broken, { netns: director.path });
      expect(bad.ok, bad.detail).toBe(false);
      expect(bad.latencyMs).toBeLessThan(400 + SLACK);
      if (broken.port === 81 || broken.port === 82) expect(bad.detail).toBe('timed out after 400 ms'); // silent, trickling
    });
  }
});

describe('HealthChecker on a NAT director with real traffic', () => {
  it('starts: creates the service, brings the three servers up, the client reaches all three', async () => {
    checker = new HealthChecker(ipvs, options());
    const allUp = Promise.all([1, 2, 3].map((i) => nextEvent(checker!, stateIs(`${rsAddr(i)}:80`, 'up'))));
    await checker.start();
    await allUp;
    await expect.poll(kernelWeights, POLL).toEqual(ALL_UP);
    expect(await responders(6)).toEqual(new Set(['rs1', 'rs2', 'rs3']));
  });

  it('a SIGKILLed server goes to weight 0 within fall × interval + timeout; traffic reaches only the others; it comes back after rise successes', async () => {
    const c = checker!;
    const down = nextEvent(c, (e) => e.type === 'weights' && e.changes.some((x) => x.destination === `${rsAddr(1)}:80` && x.to === 0));
    const t0 = performance.now();
    await kill(1);
    await down;
    const took = performance.now() - t0;
    expect(took).toBeLessThan(FALL * INTERVAL + TIMEOUT + SLACK);
    expect(kernelWeights()[rsAddr(1)]).toBe(0);
    expect(await responders(6)).toEqual(new Set(['rs2', 'rs3']));

    const checksUntilUp: boolean[] = [];
    const onCheck = (e: HealthEvent): void => {
      if (e.type === 'check' && e.destination === `${rsAddr(1)}:80`) checksUntilUp.push(e.result.ok);
    };
    c.on('event', onCheck);
    const up = nextEvent(c, stateIs(`${rsAddr(1)}:80`, 'up'), 30_000); // node starts slowly in the sandbox
    await startServers(1);
    await up;
    c.off('event', onCheck);
    expect(checksUntilUp.slice(-RISE)).toEqual(Array(RISE).fill(true));
    await expect.poll(() => kernelWeights()[rsAddr(1)], POLL).toBe(10);
  });

  it('100% packet loss (netem) and a link down are marked down within the timeout bound', async () => {
    const c = checker!;
    await settled(c);
    const lossDown = nextEvent(c, stateIs(`${rsAddr(2)}:80`, 'down'));
    rs[1]!.exec('tc', ['qdisc', 'add', 'dev', 'eth0', 'root', 'netem', 'loss', '100%']);
    let t0 = performance.now(); // the loss is in effect at the latest now
    await lossDown;
    expect(performance.now() - t0).toBeLessThan(FALL * INTERVAL + TIMEOUT + SLACK);
    const linkDown = nextEvent(c, stateIs(`${rsAddr(3)}:80`, 'down'));
    director.ip('link', 'set', 'vethR3', 'down');
    t0 = performance.now();
    await linkDown;
    expect(performance.now() - t0).toBeLessThan(FALL * INTERVAL + TIMEOUT + SLACK);
    expect(await responders(4)).toEqual(new Set(['rs1']));

    const back = Promise.all([2, 3].map((i) => nextEvent(c, stateIs(`${rsAddr(i)}:80`, 'up'))));
    rs[1]!.exec('tc', ['qdisc', 'del', 'dev', 'eth0', 'root']);
    director.ip('link', 'set', 'vethR3', 'up');
    await back;
  });

  it('all down: the sorry server serves and quorum is lost; one back: the sorry server goes, quorum returns — once each', async () => {
    const c = checker!;
    await settled(c);
    const seen: HealthEvent[] = [];
    const on = (e: HealthEvent): void => void ((e.type === 'sorry' || e.type === 'quorum') && seen.push(e));
    c.on('event', on);
    const sorryOn = nextEvent(c, (e) => e.type === 'sorry' && e.active);
    for (const i of [1, 2, 3]) rs[i - 1]!.exec('tc', ['qdisc', 'add', 'dev', 'eth0', 'root', 'netem', 'loss', '100%']);
    await sorryOn;
    await expect.poll(kernelWeights, POLL).toEqual({ [rsAddr(1)]: 0, [rsAddr(2)]: 0, [rsAddr(3)]: 0, [rsAddr(4)]: 1 });
    expect(await viaVip()).toBe('hello from sorry');

    const sorryOff = nextEvent(c, (e) => e.type === 'sorry' && !e.active);
    const quorumBack = nextEvent(c, (e) => e.type === 'quorum' && e.met);
    rs[0]!.exec('tc', ['qdisc', 'del', 'dev', 'eth0', 'root']);
    await sorryOff;
    await expect.poll(() => kernelWeights()[rsAddr(4)], POLL).toBeUndefined();
    expect(await responders(3)).toEqual(new Set(['rs1']));
    rs[1]!.exec('tc', ['qdisc', 'del', 'dev', 'eth0', 'root']);
    await quorumBack; // regained at 20: a second server
    rs[2]!.exec('tc', ['qdisc', 'del', 'dev', 'eth0', 'root']);
    await nextEvent(c, stateIs(`${rsAddr(3)}:80`, 'up'));
    c.off('event', on);
    expect(seen.map((e) => (e.type === 'sorry' ? `sorry ${e.active}` : e.type === 'quorum' ? `quorum ${e.met}` : ''))).toEqual([
      'quorum false', 'sorry true', 'sorry false', 'quorum true',
    ]);
  });

  it('`ipvsadm -d` by someone else is undone within one interval', async () => {
    const c = checker!;
    await settled(c);
    const undone = nextEvent(c, (e) => e.type === 'weights' && e.external);
    director.ipvsadm('-d', '-t', `${VIP}:80`, '-r', `${rsAddr(2)}:80`);
    const t0 = performance.now(); // deleted at the latest now
    const e = await undone;
    expect(performance.now() - t0).toBeLessThan(INTERVAL + SLACK);
    expect(e).toMatchObject({ changes: [{ destination: `${rsAddr(2)}:80`, from: null, to: 10 }] });
    expect(kernelWeights()[rsAddr(2)]).toBe(10);
  });

  it('a checker restarted over the populated table changes nothing', async () => {
    await settled(checker!);
    await checker!.stop();
    const before = director.ipvsadm('-Sn');
    checker = new HealthChecker(ipvs, options());
    const c = checker;
    const changes: HealthEvent[] = [];
    c.on('weights', (e: HealthEvent) => changes.push(e));
    const firstChecks = Promise.all([1, 2, 3].map((i) => nextEvent(c, stateIs(`${rsAddr(i)}:80`, 'up'))));
    await c.start();
    await firstChecks;
    // Two more intervals: still nothing to change.
    await nextEvent(c, (e) => e.type === 'check' && e.destination === `${rsAddr(1)}:80`);
    await nextEvent(c, (e) => e.type === 'check' && e.destination === `${rsAddr(1)}:80`);
    expect(changes).toEqual([]);
    expect(director.ipvsadm('-Sn')).toBe(before);
  });

  it('drain waits for a held-open client connection, then removes the destination', async () => {
    const c = checker!;
    await settled(c);
    // Hold a request open through the VIP; find which server took it.
    const socket = connectTcp(VIP, 80, { netns: client.path });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('error', reject);
    });
    socket.write('GET /hold HTTP/1.1\r\nHost: vip\r\n\r\n');
    let held: string | undefined;
    for (let k = 0; k < 50 && !held; k++) {
      held = (await ipvs.listDestinations({ protocol: 'tcp', address: VIP, port: 80 })).find((d) => d.activeConnections > 0)?.address;
      if (!held) await new Promise((r) => setTimeout(r, 50));
    }
    expect(held).toBeDefined();
    const draining = nextEvent(c, stateIs(`${held}:80`, 'draining'));
    const quiesced = nextEvent(c, (e) => e.type === 'weights' && e.changes.some((x) => x.destination === `${held}:80` && x.to === 0));
    const drained = c.drain({ address: held! }, { pollMs: 100, timeoutMs: 30_000, until: 'active' });
    await draining;
    await quiesced;
    expect(kernelWeights()[held!]).toBe(0);
    // Still there after several polls while the connection is open.
    await nextEvent(c, (e) => e.type === 'check');
    await nextEvent(c, (e) => e.type === 'check');
    expect(kernelWeights()[held!]).toBe(0);
    const t0 = performance.now();
    socket.destroy();
    const outcome = await drained;
    expect(outcome).toMatchObject({ drained: true, removed: true, remaining: { active: 0 } });
    expect(performance.now() - t0).toBeLessThan(100 + SLACK);
    expect(kernelWeights()[held!]).toBeUndefined();
    expect(Object.keys(kernelWeights())).toHaveLength(2);
  });
});

describe('per-destination checks on a second service: exec weights, a silent server, maintenance, slow start', () => {
  let c: HealthChecker;
  const dest = (i: number): string => `${rsAddr(i)}:443`;

  it('exec asks for a weight, http on a health port is up, a server that accepts and never answers is down within the timeout', async () => {
    c = new HealthChecker(ipvs, {
      service: { protocol: 'tcp', address: VIP, port: 443, scheduler: 'wrr' },
      destinations: [
        { address: rsAddr(1), forward: 'masq', weight: 10, check: { type: 'exec', command: 'sh', args: ['-c', 'exit 7'] } },
        { address: rsAddr(2), forward: 'masq', weight: 10 },
        { address: rsAddr(3), forward: 'masq', weight: 10, check: { type: 'negotiate', port: 81, expect: 'READY' } },
      ],
      // A plain HTTP check on the health port 80 (TLS handshakes are slow on the sandbox's one CPU).
      check: { type: 'http', port: 80, expect: 'hello from rs' },
      intervalMs: INTERVAL, timeoutMs: TIMEOUT, rise: 1, fall: 2, startJitterMs: 0,
      slowStart: { durationMs: 1500 },
      netns: director.path,
    });
    checkers.push(c);
    const states = Promise.all([
      nextEvent(c, stateIs(dest(1), 'up')),
      nextEvent(c, stateIs(dest(2), 'up')),
      nextEvent(c, (e): e is Extract<HealthEvent, { type: 'state' }> => e.type === 'state' && e.destination === dest(3) && e.to === 'down'),
    ]);
    await c.start();
    const [, , silent] = await states;
    // Its own deadline ended the check. (The wall-clock bound of a silent server's
    // check is asserted in the probe matrix above: here every exec check forks this
    // process, which on the sandbox's one CPU makes every timer late.)
    expect(silent.result).toMatchObject({ ok: false, detail: `timed out after ${TIMEOUT} ms` });
    await expect.poll(() => kernelWeights(443), POLL).toEqual({ [rsAddr(1)]: 5, [rsAddr(2)]: 10, [rsAddr(3)]: 0 });
  });

  it('maintenance takes a destination to 0 and back', async () => {
    c.setMaintenance({ address: rsAddr(1) }, true);
    await expect.poll(() => kernelWeights(443)[rsAddr(1)], POLL).toBe(0);
    expect(c.status().destinations[0]).toMatchObject({ state: 'maintenance', weight: 0, configuredWeight: 10 });
    c.setMaintenance({ address: rsAddr(1) }, false);
    await expect.poll(() => kernelWeights(443)[rsAddr(1)], POLL).toBe(5);
  });

  it('with slow start, a recovered weight climbs over the configured time', async () => {
    // A checker of its own, without the exec check: every exec check forks this
    // process, which on the sandbox's one CPU delays timers enough to fail checks.
    await c.stop({ leave: false });
    c = new HealthChecker(ipvs, {
      service: { protocol: 'tcp', address: VIP, port: 443, scheduler: 'wrr' },
      destinations: [{ address: rsAddr(2), forward: 'masq', weight: 10 }],
      check: { type: 'http', port: 80, expect: 'hello from rs' },
      intervalMs: INTERVAL, timeoutMs: TIMEOUT, rise: 1, fall: 2, startJitterMs: 0,
      slowStart: { durationMs: 1500 },
      netns: director.path,
    });
    checkers.push(c);
    const first = nextEvent(c, stateIs(dest(2), 'up'));
    await c.start();
    await first;
    await expect.poll(() => kernelWeights(443), POLL).toEqual({ [rsAddr(2)]: 10 }); // first sight: no ramp
    const down = nextEvent(c, stateIs(dest(2), 'down'));
    rs[1]!.exec('tc', ['qdisc', 'add', 'dev', 'eth0', 'root', 'netem', 'loss', '100%']);
    await down;
    const seen: number[] = [];
    const on = (e: HealthEvent): void => {
      if (e.type === 'weights') for (const x of e.changes) if (x.destination === dest(2) && x.to !== null) seen.push(x.to);
    };
    c.on('event', on);
    const full = nextEvent(c, (e) => e.type === 'weights' && e.changes.some((x) => x.destination === dest(2) && x.to === 10), 10_000);
    const t0 = performance.now();
    rs[1]!.exec('tc', ['qdisc', 'del', 'dev', 'eth0', 'root']);
    await full;
    const took = performance.now() - t0;
    c.off('event', on);
    await c.stop({ leave: false });
    expect(seen[0]).toBeLessThan(10);
    expect(seen.length).toBeGreaterThanOrEqual(3);
    for (let k = 1; k < seen.length; k++) expect(seen[k]).toBeGreaterThan(seen[k - 1]!);
    expect(took).toBeGreaterThanOrEqual(1500 - 2 * INTERVAL);
    expect(kernelWeights(443)).toEqual({});
  });
});

describe('Ipvs.runOperations (the batch the checker sends)', () => {
  it('sends every operation, and rejects naming the first the kernel refused', async () => {
    const service = { protocol: 'tcp' as const, address: VIP, port: 8443 };
    await ipvs.addService({ ...service, scheduler: 'rr' });
    try {
      const dest = (i: number, weight: number) => ({ address: rsAddr(i), forward: 'masq' as const, weight });
      await expect(ipvs.runOperations([
        { op: 'add-destination', service, destination: dest(1, 3) },
        { op: 'update-destination', service, destination: dest(2, 4), before: dest(2, 1) }, // not there: ENOENT
        { op: 'add-destination', service, destination: dest(3, 5) },
      ])).rejects.toMatchObject({ name: 'ApplyError', code: 'ENOENT', operation: expect.stringContaining(rsAddr(2)) });
      expect(kernelWeights(8443)).toEqual({ [rsAddr(1)]: 3, [rsAddr(3)]: 5 }); // the others were still sent
      await expect(ipvs.runOperations([
        { op: 'update-destination', service, destination: dest(1, 7), before: dest(1, 3) },
        { op: 'delete-destination', service, destination: { address: rsAddr(3) }, before: dest(3, 5) },
      ])).resolves.toEqual({ applied: 2 });
      expect(kernelWeights(8443)).toEqual({ [rsAddr(1)]: 7 });
      await expect(ipvs.runOperations([])).resolves.toEqual({ applied: 0 });
    } finally {
      await ipvs.deleteService(service);
    }
  });
  it('listDestinationSpecs (what the sync reads) gives the specs listDestinations gives, and ESRCH for no service', async () => {
    const service = { protocol: 'tcp' as const, address: VIP, port: 8444 };
    await ipvs.addService({ ...service, scheduler: 'wlc' });
    try {
      await expect(ipvs.listDestinationSpecs(service)).resolves.toEqual([]);
      await ipvs.addDestination(service, { address: rsAddr(1), forward: 'masq', weight: 3, upperThreshold: 50 });
      await ipvs.addDestination(service, { address: rsAddr(2), port: 8080, forward: 'masq', weight: 0 });
      const full = await ipvs.listDestinations(service);
      const specs = await ipvs.listDestinationSpecs(service);
      expect(specs).toHaveLength(2);
      for (const d of full) {
        expect(specs).toContainEqual(expect.objectContaining({ address: d.address, port: d.port, weight: d.weight, forward: d.forward }));
      }
      expect(specs.find((d) => d.address === rsAddr(1))).toMatchObject({ port: 8444, weight: 3, upperThreshold: 50 });
    } finally {
      await ipvs.deleteService(service);
    }
    await expect(ipvs.listDestinationSpecs(service)).rejects.toMatchObject({ code: 'ESRCH', operation: 'listDestinationSpecs' });
  });
});
