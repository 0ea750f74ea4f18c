// Benchmark of the health-check engine alone (no IPVS needed): N destinations on
// loopback, each checked with TCP every second by one HealthChecker, for a few
// seconds. Reports CPU time of this process per check and how late checks
// start against their schedule (p50/p99/max), from the checker's `check` events
// with the default runner (the production path).
//
//   npm run build && node test/bench/health-probes.mjs
//   HEALTH_BENCH_N=10000 HEALTH_BENCH_SECONDS=10 node test/bench/health-probes.mjs
//   HEALTH_BENCH_DIST=/path/to/another/dist ... (time another build, e.g. a copy of dist/ from before a change)
//
// The server is a separate process (accept-close.c, or node with
// HEALTH_BENCH_SERVER=node; listening on 0.0.0.0, which answers for every
// 127.0.0.0/8 address), so its CPU is not counted. The table is an
// in-memory stand-in: this measures scheduling and probing, not netlink.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadavg } from 'node:os';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { checkLateness } from './check-lateness.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const { HealthChecker, runCheck } = await import(join(process.env.HEALTH_BENCH_DIST ?? join(root, 'dist'), 'src', 'index.js'));

const N = Number(process.env.HEALTH_BENCH_N ?? 1000);
const SECONDS = Number(process.env.HEALTH_BENCH_SECONDS ?? 10);
const INTERVAL = 1000;

// The server: test/bench/accept-close.c (a C accept-and-close loop) when a C
// compiler is there, else a node server; HEALTH_BENCH_SERVER=node forces the latter.
let server;
if (process.env.HEALTH_BENCH_SERVER !== 'node' && spawnSync('cc', ['--version']).status === 0) {
  const work = mkdtempSync(join(tmpdir(), 'health-bench-'));
  execFileSync('cc', ['-O2', '-o', join(work, 'accept-close'), join(here, 'accept-close.c')]);
  server = spawn(join(work, 'accept-close'), ['0'], { stdio: ['ignore', 'pipe', 'inherit'] });
} else {
  server = spawn(process.execPath, ['-e', `
    const s = require('net').createServer((c) => c.destroy());
    s.maxConnections = 1e6;
    s.listen({ port: 0, host: '0.0.0.0', backlog: 65535 }, () => console.log(s.address().port));
  `], { stdio: ['ignore', 'pipe', 'inherit'] });
}
const port = Number(await new Promise((resolve) => server.stdout.once('data', (d) => resolve(String(d).trim()))));

const destinations = [];
for (let i = 0; i < N; i++) destinations.push({ address: `127.${1 + Math.floor(i / 62500)}.${Math.floor(i / 250) % 250}.${(i % 250) + 1}`, port, weight: 1 });

/** A table in memory: what HealthChecker asks of an Ipvs client. */
const table = new Map();
const ipvs = {
  getService: async () => ({}),
  addService: async () => {},
  listDestinations: async () => [...table.values()],
  addDestination: async () => {},
  updateDestination: async () => {},
  deleteDestination: async () => {},
  runOperations: async (ops) => {
    for (const op of ops) {
      if (op.op === 'delete-destination') table.delete(`${op.destination.address}`);
      else table.set(op.destination.address, { address: op.destination.address, port, weight: op.destination.weight, activeConnections: 0, inactiveConnections: 0, persistentConnections: 0 });
    }
    return { applied: ops.length };
  },
};

let checks = 0;
let failures = 0;
const failureDetails = new Map();
const late = checkLateness(INTERVAL);
const lateness = late.samples;
late.onMeasured = (result) => {
  checks++;
  if (!result.ok) {
    failures++;
    failureDetails.set(result.detail, (failureDetails.get(result.detail) ?? 0) + 1);
  }
};

const checker = new HealthChecker(ipvs, {
  service: { protocol: 'tcp', address: '192.0.2.1', port: 80 },
  destinations,
  check: { type: 'tcp', timeoutMs: 900 },
  intervalMs: INTERVAL,
});
checker.on('check', late.onCheck);
await checker.start();
await new Promise((r) => setTimeout(r, 2 * INTERVAL)); // every destination checked at least once
late.measuring = true;
// What delays a check's start inside this process: the event loop's delay
// (long synchronous stretches: a sync's read and diff, a batch of results)
// and garbage-collection pauses, over the measuring window.
const loopDelay = monitorEventLoopDelay({ resolution: 5 });
loopDelay.enable();
const gcPauses = [];
const gcObserver = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcPauses.push(e.duration);
});
gcObserver.observe({ entryTypes: ['gc'] });
const cpu0 = process.cpuUsage();
const t0 = performance.now();
await new Promise((r) => setTimeout(r, SECONDS * 1000));
const cpu = process.cpuUsage(cpu0);
const wall = performance.now() - t0;
late.measuring = false;
loopDelay.disable();
gcObserver.disconnect();
await checker.stop();
server.kill();

lateness.sort((a, b) => a - b);
const q = (p) => lateness[Math.min(lateness.length - 1, Math.floor(p * lateness.length))] ?? NaN;
const cpuMs = (cpu.user + cpu.system) / 1000;
console.log(JSON.stringify({
  destinations: N,
  seconds: Math.round(wall / 100) / 10,
  checks,
  failures,
  ...(failures > 0 ? { failureDetails: Object.fromEntries(failureDetails) } : {}),
  cpuMs: Math.round(cpuMs),
  cpuShareOfOneCore: Math.round((cpuMs / wall) * 1000) / 1000,
  cpuMsPerCheck: Math.round((cpuMs / checks) * 1000) / 1000,
  loadAverage: loadavg().map((x) => Math.round(x * 100) / 100),
  loopDelayMs: { p99: Math.round(loopDelay.percentile(99) / 1e4) / 100, max: Math.round(loopDelay.max / 1e4) / 100 },
  gcMs: { count: gcPauses.length, total: Math.round(gcPauses.reduce((a, b) => a + b, 0) * 10) / 10, max: Math.round(Math.max(0, ...gcPauses) * 100) / 100 },
  // mean: how much later than one interval a destination's checks come on
  // average (a schedule that drifts later by it every interval)
  latenessMs: { mean: Math.round((lateness.reduce((a, b) => a + b, 0) / lateness.length) * 100) / 100, p50: Math.round(q(0.5) * 10) / 10, p99: Math.round(q(0.99) * 10) / 10, max: Math.round(lateness.at(-1) * 10) / 10 },
}));
