// What the HealthChecker's once-a-second re-read of the table costs with the
// real kernel: one service with N destinations (default 1,000), then the
// synchronous stretches of `listDestinations` (the netlink dump and its
// decoding), of `listDestinationSpecs` (the same dump read in place, where the
// build has it) and of a whole steady-state sync (re-read + diff, nothing to
// change), timed R times each. Run in the sandbox (IPVS needed):
//
//   npm run build && npm run sandbox -- node test/bench/health-sync-cost.mjs
//   HEALTH_BENCH_N=300 HEALTH_BENCH_ROUNDS=20 HEALTH_BENCH_DIST=/path/to/other/dist ...
//
// Uses a network namespace of its own (ip netns, 10.0.0.0/8 on a dummy link), deleted at the end.
import { execFileSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from './tables.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const N = Number(process.env.HEALTH_BENCH_N ?? 1000);
const ROUNDS = Number(process.env.HEALTH_BENCH_ROUNDS ?? 10);
const NS = `health-sync-${process.pid}`;

if (process.argv[2] !== '--inside') {
  execFileSync('ip', ['netns', 'add', NS]);
  // The kernel takes only destinations it can route to: 10.0.0.0/8 on a dummy link.
  for (const cmd of [['link', 'add', 'd0', 'type', 'dummy'], ['addr', 'add', '10.0.0.254/8', 'dev', 'd0'], ['link', 'set', 'd0', 'up']]) execFileSync('ip', ['-n', NS, ...cmd]);
  try {
    execFileSync('ip', ['netns', 'exec', NS, process.execPath, fileURLToPath(import.meta.url), '--inside'], { stdio: 'inherit' });
  } finally {
    execFileSync('ip', ['netns', 'del', NS]);
  }
  process.exit(0);
}

const { HealthChecker, Ipvs } = await import(join(process.env.HEALTH_BENCH_DIST ?? join(root, 'dist'), 'src', 'index.js'));
const ipvs = await Ipvs.open();
const service = { protocol: 'tcp', address: '192.0.2.1', port: 80, scheduler: 'wlc' };
const destinations = [];
for (let i = 0; i < N; i++) destinations.push({ address: `10.${1 + Math.floor(i / 62500)}.${Math.floor(i / 250) % 250}.${(i % 250) + 1}`, port: 80, weight: 1, forward: 'masq' });

// Every check passes at once (a runner that does no I/O): after the first
// round the table holds every destination at its weight and a sync changes nothing.
const checker = new HealthChecker(ipvs, { service, destinations, check: { type: 'tcp' }, intervalMs: 3_600_000, startJitterMs: 0, runner: async () => ({ ok: true, latencyMs: 0 }) });
await checker.start();
await new Promise((r) => setTimeout(r, 200));
await checker.syncOnce(); // every destination up, weights written

const list = [];
const specs = [];
const sync = [];
for (let i = 0; i < ROUNDS; i++) {
  let t = performance.now();
  const got = await ipvs.listDestinations(service);
  list.push(performance.now() - t);
  if (got.length !== N) throw new Error(`expected ${N} destinations, got ${got.length}`);
  if (ipvs.listDestinationSpecs) {
    t = performance.now();
    await ipvs.listDestinationSpecs(service);
    specs.push(performance.now() - t);
  }
  t = performance.now();
  await checker.syncOnce();
  sync.push(performance.now() - t);
}
await checker.stop({ leave: false });
await ipvs.deleteService(service);
await ipvs.close();
const r = (x) => Math.round(x * 10) / 10;
console.log(JSON.stringify({
  destinations: N,
  rounds: ROUNDS,
  loadAverage: loadavg().map((x) => Math.round(x * 100) / 100),
  listDestinationsMs: { median: r(median(list)), max: r(Math.max(...list)) },
  ...(specs.length > 0 ? { listDestinationSpecsMs: { median: r(median(specs)), max: r(Math.max(...specs)) } } : {}),
  steadySyncMs: { median: r(median(sync)), max: r(Math.max(...sync)) },
}));
