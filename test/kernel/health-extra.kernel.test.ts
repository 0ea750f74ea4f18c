// Two proofs of the health checker against real servers in namespaces of this
// file, the kernel's table read with ipvsadm:
//
// - flapping: a server whose answer flips at every check (faster than rise and
//   fall) leaves the destination's weight alone, while a steady fault changes
//   it once, and a steady recovery once back;
// - IPv6: tcp, http, udp and dns probes from the director's namespace to IPv6
//   real servers across a bridge, and a killed server quiesced in two IPv6
//   services.
//
//   director (bridge br0: 10.42.0.1/24, fd00:42::1/64) ── rs1 10.42.0.11, fd00:42::11
//                                                       └─ rs2 10.42.0.12, fd00:42::12
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HealthChecker } from '../../src/health/checker.js';
import type { HealthEvent } from '../../src/health/checker-types.js';
import { runCheck } from '../../src/health/run-check.js';
import type { CheckSpec } from '../../src/health/spec.js';
import { Ipvs } from '../../src/ipvs/client.js';
import { createNetns, run, type Netns } from './harness.js';
import { nextEvent } from './health-events.js';

const RS4 = ['10.42.0.11', '10.42.0.12'];
const RS6 = ['fd00:42::11', 'fd00:42::12'];
const VIP4 = '10.42.0.100';
const VIP6 = 'fd00:40::100';
const FLAP_PORT = 8080;

let director: Netns;
const rs: Netns[] = [];
let ipvs: Ipvs;
const checkers: HealthChecker[] = [];
const servers6 = new Map<number, ChildProcess>();
let flapper: ChildProcess;

/** Start the fixture servers of rs`i` on its IPv6 address; resolves when they listen. */
function startServers6(i: number): Promise<void> {
  const child = rs[i]!.spawn(process.execPath, ['test/fixtures/health/servers.mjs', RS6[i]!, `rs${i + 1}`], { stdio: ['ignore', 'pipe', 'inherit'] });
  servers6.set(i, child);
  return new Promise((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('exit', (c) => reject(new Error(`servers of rs${i + 1} exited with ${c}`)));
  });
}

/** Lines of a child's stdout, one callback per line. */
function onLines(child: ChildProcess, f: (line: string) => void): void {
  createInterface({ input: child.stdout! }).on('line', f);
}

/** Lines the flapping server has printed, and who waits for one. */
const flapperWaiters = new Set<(line: string) => void>();

/** Tell the flapping server its mode; resolves on its acknowledgement. */
function flap(mode: 'up' | 'down' | 'alternate'): Promise<void> {
  return new Promise((resolve) => {
    const waiter = (line: string): void => {
      if (line !== `mode ${mode}`) return;
      flapperWaiters.delete(waiter);
      resolve();
    };
    flapperWaiters.add(waiter);
    flapper.stdin!.write(`${mode}\n`);
  });
}


/** Resolve once `n` check events of `dest` have come (from now on), with their outcomes. */
function nextChecks(c: HealthChecker, dest: string, n: number, timeoutMs = 20_000): Promise<boolean[]> {
  const seen: boolean[] = [];
  return nextEvent(c, (e) => e.type === 'check' && e.destination === dest && seen.push(e.result.ok) >= n, timeoutMs).then(() => seen);
}

/** Destination weights of a service in `ipvsadm -Ln` output, by `address:port` (IPv6 in brackets, as ipvsadm prints them). */
function weightsIn(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/->\s+(\S+)\s+Masq\s+(\d+)/g)) out[m[1]!] = Number(m[2]);
  return out;
}

beforeAll(async () => {
  director = createNetns('hx-dir');
  director.ip('link', 'add', 'br0', 'type', 'bridge');
  director.ip('addr', 'add', '10.42.0.1/24', 'dev', 'br0');
  director.ip('addr', 'add', 'fd00:42::1/64', 'dev', 'br0', 'nodad');
  director.ip('link', 'set', 'br0', 'up');
  for (let i = 0; i < 2; i++) {
    const ns = createNetns(`hx-rs${i + 1}`);
    rs.push(ns);
    run('ip', ['link', 'add', `vrs${i + 1}`, 'netns', director.name, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns.name]);
    director.ip('link', 'set', `vrs${i + 1}`, 'master', 'br0');
    director.ip('link', 'set', `vrs${i + 1}`, 'up');
    ns.ip('addr', 'add', `${RS4[i]}/24`, 'dev', 'eth0');
    ns.ip('addr', 'add', `${RS6[i]}/64`, 'dev', 'eth0', 'nodad');
    ns.ip('link', 'set', 'eth0', 'up');
  }
  flapper = rs[0]!.spawn(process.execPath, ['test/fixtures/health/flapping-server.mjs', RS4[0]!, String(FLAP_PORT)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const flapperReady = new Promise<void>((resolve) => onLines(flapper, (l) => {
    if (l === 'ready') resolve();
    for (const w of [...flapperWaiters]) w(l);
  }));
  await Promise.all([flapperReady, startServers6(0), startServers6(1)]);
  ipvs = await Ipvs.open({ netns: director.path });
}, 60_000);

afterAll(async () => {
  for (const c of checkers) await c.stop();
  await ipvs?.close();
  for (const ns of [director, ...rs]) ns?.destroy();
});

describe('flapping', () => {
  it('a server that flips at every check leaves its weight alone; a steady fault changes it once, a steady recovery once back', async () => {
    const dest = `${RS4[0]}:${FLAP_PORT}`;
    const RISE = 3;
    const FALL = 3;
    // ipvsadm -Ln of the service, sampled in the director's namespace by one shell loop for the whole test.
    const samples: Array<{ at: number; weight: number | undefined }> = [];
    const sampler = director.spawn('sh', ['-c', `while :; do ipvsadm -Ln -t ${VIP4}:80 2>&1; echo --; sleep 0.05; done`], { stdio: ['ignore', 'pipe', 'ignore'] });
    let block = '';
    onLines(sampler, (l) => {
      if (l !== '--') return void (block += `${l}\n`);
      samples.push({ at: performance.now(), weight: weightsIn(block)[dest] });
      block = '';
    });
    /**
     * Weight changes seen by the sampler from its last sample before `from` to
     * `to` (a missing destination counts as a value).
     */
    const changes = (from: number, to: number): Array<[number | undefined, number | undefined]> => {
      const before = samples.filter((s) => s.at < from).at(-1);
      const w = [...(before ? [before] : []), ...samples.filter((s) => s.at >= from && s.at <= to)].map((s) => s.weight);
      const out: Array<[number | undefined, number | undefined]> = [];
      for (let k = 1; k < w.length; k++) if (w[k] !== w[k - 1]) out.push([w[k - 1], w[k]]);
      return out;
    };
    const samplesBetween = (from: number, to: number): number => samples.filter((s) => s.at >= from && s.at <= to).length;

    const c = new HealthChecker(ipvs, {
      service: { protocol: 'tcp', address: VIP4, port: 80, scheduler: 'rr' },
      destinations: [{ address: RS4[0]!, port: FLAP_PORT, forward: 'masq', weight: 10 }],
      check: { type: 'http', path: '/' },
      intervalMs: 100, timeoutMs: 1000, rise: RISE, fall: FALL, startJitterMs: 0,
      netns: director.path,
    });
    checkers.push(c);
    const states: Array<{ at: number; to: string }> = [];
    c.on('state', (e) => e.destination === dest && states.push({ at: performance.now(), to: e.to }));
    try {
      const up = nextEvent(c, (e) => e.type === 'state' && e.destination === dest && e.to === 'up');
      await c.start();
      await up;
      await expect.poll(() => samples.at(-1)?.weight, { timeout: 10_000, interval: 20 }).toBe(10);

      // Flapping: every check's outcome is the opposite of the one before.
      await flap('alternate');
      const t0 = performance.now();
      // At least 16 checks and 4 samples of the table (ipvsadm is slow in the sandbox), whichever takes longer.
      const flips: boolean[] = [];
      const onFlip = (e: HealthEvent): void => void (e.type === 'check' && e.destination === dest && flips.push(e.result.ok));
      c.on('event', onFlip);
      await expect.poll(() => flips.length >= 16 && samplesBetween(t0, performance.now()) >= 4, { timeout: 30_000, interval: 50 }).toBe(true);
      c.off('event', onFlip);
      const t1 = performance.now();
      expect(flips.filter((ok) => ok).length).toBeGreaterThanOrEqual(6);
      expect(flips.filter((ok) => !ok).length).toBeGreaterThanOrEqual(6);
      for (let k = 2; k < flips.length; k++) expect(flips[k] === flips[k - 1] && flips[k] === flips[k - 2], `three alike in a row: ${flips}`).toBe(false);
      expect(states.filter((s) => s.at >= t0)).toEqual([]);
      expect(c.status().destinations[0]).toMatchObject({ state: 'up', weight: 10 });
      expect(changes(t0, t1)).toEqual([]);

      // A steady fault: down after FALL failures, one weight change.
      const down = nextEvent(c, (e) => e.type === 'state' && e.destination === dest && e.to === 'down');
      await flap('down');
      const t2 = performance.now();
      await down;
      await nextChecks(c, dest, 6); // it stays down
      await expect.poll(() => samples.at(-1)?.weight, { timeout: 10_000, interval: 20 }).toBe(0);
      const t3 = performance.now();
      expect(states.filter((s) => s.at >= t2).map((s) => s.to)).toEqual(['down']);
      expect(changes(t2, t3)).toEqual([[10, 0]]);

      // A steady recovery: up after RISE successes, one weight change back.
      const back = nextEvent(c, (e) => e.type === 'state' && e.destination === dest && e.to === 'up');
      await flap('up');
      const t4 = performance.now();
      await back;
      await nextChecks(c, dest, 6);
      await expect.poll(() => samples.at(-1)?.weight, { timeout: 10_000, interval: 20 }).toBe(10);
      const t5 = performance.now();
      expect(states.filter((s) => s.at >= t4).map((s) => s.to)).toEqual(['up']);
      expect(changes(t4, t5)).toEqual([[0, 10]]);
    } finally {
      sampler.kill('SIGKILL');
      await c.stop({ leave: false });
    }
  }, 90_000);
});

describe('IPv6 real servers across a bridge', () => {
  const target = (i: number, port: number) => ({ address: RS6[i]!, port });
  const cases: Array<[string, CheckSpec, number, number]> = [
    // name, spec, healthy port, broken port (nothing listens there)
    ['tcp', { type: 'tcp' }, 80, 9],
    ['http', { type: 'http', expect: 'hello from rs2' }, 80, 81 /* accepts, never answers */],
    ['udp', { type: 'udp', send: { text: 'ping' }, expect: '^pong rs2 ping' }, 7, 9],
    ['dns', { type: 'dns', name: 'health.test', recordType: 'AAAA', expect: `^${RS6[1]}$` }, 53, 9],
  ];
  for (const [name, spec, good, bad] of cases) {
    it(`${name} from the director's namespace: up against rs2, down against a dead port`, async () => {
      const ok = await runCheck({ ...spec, timeoutMs: 5000 } as CheckSpec, target(1, good), { netns: director.path });
      expect(ok.ok, ok.detail).toBe(true);
      const ko = await runCheck({ ...spec, timeoutMs: 300 } as CheckSpec, target(1, bad), { netns: director.path });
      expect(ko.ok, ko.detail).toBe(false);
    });
  }

  it('a source address is bound for an IPv6 TCP check', async () => {
    const r = await runCheck({ type: 'tcp', source: 'fd00:42::1', timeoutMs: 5000 }, target(1, 80), { netns: director.path });
    expect(r).toMatchObject({ ok: true, detail: 'connected' });
    const wrong = await runCheck({ type: 'tcp', source: 'fd00:99::1', timeoutMs: 5000 }, target(1, 80), { netns: director.path });
    expect(wrong).toMatchObject({ ok: false, detail: 'connect EADDRNOTAVAIL' });
  });

  it('SIGKILL of rs2 quiesces it in an IPv6 TCP service (tcp and http checks) and an IPv6 UDP service (dns check)', async () => {
    const opts = { intervalMs: 150, timeoutMs: 300, rise: 2, fall: 2, startJitterMs: 0, netns: director.path };
    const tcp = new HealthChecker(ipvs, {
      service: { protocol: 'tcp', address: VIP6, port: 80, scheduler: 'rr' },
      destinations: [
        { address: RS6[0]!, forward: 'masq', weight: 10, check: { type: 'http', expect: 'hello from rs1' } },
        { address: RS6[1]!, forward: 'masq', weight: 10 },
      ],
      check: { type: 'tcp' },
      ...opts,
    });
    const dns = new HealthChecker(ipvs, {
      service: { protocol: 'udp', address: VIP6, port: 53, scheduler: 'rr' },
      destinations: RS6.map((address) => ({ address, forward: 'masq' as const, weight: 5 })),
      check: { type: 'dns', name: 'health.test', recordType: 'AAAA' },
      ...opts,
    });
    checkers.push(tcp, dns);
    const table = (): Record<string, number> => ({ ...weightsIn(director.ipvsadm('-Ln', '-t', `[${VIP6}]:80`)), ...Object.fromEntries(Object.entries(weightsIn(director.ipvsadm('-Ln', '-u', `[${VIP6}]:53`))).map(([k, v]) => [`udp ${k}`, v])) });
    const POLL = { timeout: 10_000, interval: 100 };
    try {
      const allUp = Promise.all([
        ...RS6.map((a) => nextEvent(tcp, (e) => e.type === 'state' && e.destination === `[${a}]:80` && e.to === 'up')),
        ...RS6.map((a) => nextEvent(dns, (e) => e.type === 'state' && e.destination === `[${a}]:53` && e.to === 'up')),
      ]);
      await Promise.all([tcp.start(), dns.start()]);
      await allUp;
      await expect.poll(table, POLL).toEqual({ [`[${RS6[0]}]:80`]: 10, [`[${RS6[1]}]:80`]: 10, [`udp [${RS6[0]}]:53`]: 5, [`udp [${RS6[1]}]:53`]: 5 });

      const downs = Promise.all([
        nextEvent(tcp, (e) => e.type === 'state' && e.destination === `[${RS6[1]}]:80` && e.to === 'down'),
        nextEvent(dns, (e) => e.type === 'state' && e.destination === `[${RS6[1]}]:53` && e.to === 'down'),
      ]);
      const child = servers6.get(1)!;
      await new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      });
      const [tcpDown, dnsDown] = (await downs) as Array<Extract<HealthEvent, { type: 'state' }>>;
      expect(tcpDown.result).toMatchObject({ ok: false, detail: 'connect ECONNREFUSED' });
      expect(dnsDown.result?.ok).toBe(false);
      await expect.poll(table, POLL).toEqual({ [`[${RS6[0]}]:80`]: 10, [`[${RS6[1]}]:80`]: 0, [`udp [${RS6[0]}]:53`]: 5, [`udp [${RS6[1]}]:53`]: 0 });
      expect(tcp.status().destinations.map((d) => d.state)).toEqual(['up', 'down']);
    } finally {
      await tcp.stop({ leave: false });
      await dns.stop({ leave: false });
    }
  }, 60_000);
});
