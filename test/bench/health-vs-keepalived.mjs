// Benchmark: the HealthChecker against keepalived's checker, in one kernel, one
// run, on the same servers: N real servers (127.0.x.y:8080 in a namespace of its
// own, one node process answering for all), TCP checks every second, measured
// in turns for the same time: HEALTH_BENCH_ROUNDS rounds of keepalived alone
// then ipvs-ts alone (the other one SIGSTOPped), a ratio per round and their
// median. CPU time is read from /proc/<pid>/stat
// of the checking processes; checks done are counted by the server (accepted
// connections), the same way for both.
//
// HEALTH_BENCH_MODE=together runs both checkers at once instead, keepalived
// against port 8080 and ipvs-ts against 8081 of the same servers, and takes
// the ratio of CPU per check from the same windows: the machine's speed
// changes (a shared host, the sandbox's drifting CPU) then touch both alike.
// Each side does N checks a second, so the sandbox carries twice the load;
// HEALTH_BENCH_N=500 keeps its one CPU from saturating.
//
//   npm run build && npm run sandbox -- node test/bench/health-vs-keepalived.mjs
//   HEALTH_BENCH_N=1000 HEALTH_BENCH_SECONDS=10 HEALTH_BENCH_ROUNDS=1 ...
//   HEALTH_BENCH_DIST=/path/to/another/dist ... (time another build of ipvs-ts)
//
// Needs keepalived (Debian package `keepalived`) for the peer; only this
// benchmark does.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { checkLateness } from './check-lateness.mjs';
import { median } from './tables.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const N = Number(process.env.HEALTH_BENCH_N ?? 1000);
const SECONDS = Number(process.env.HEALTH_BENCH_SECONDS ?? 10);
const ROUNDS = Number(process.env.HEALTH_BENCH_ROUNDS ?? 1);
const TOGETHER = process.env.HEALTH_BENCH_MODE === 'together';
const SETTLE_MS = 1000;
const PORT = 8080;
const OUR_PORT = TOGETHER ? PORT + 1 : PORT;
const TICK = 100; // clock ticks per second (USER_HZ) for /proc/<pid>/stat
const addr = (i) => `127.0.${1 + Math.floor(i / 250)}.${(i % 250) + 1}`;

if (process.argv[2] === '--ours') {
  // Inside the namespace: our checker over the real table, its lateness measured.
  const { HealthChecker, Ipvs } = await import(join(process.env.HEALTH_BENCH_DIST ?? join(root, 'dist'), 'src', 'index.js'));
  const ipvs = await Ipvs.open();
  // Lateness from the checker's own check events (check-lateness.mjs).
  const late = checkLateness(1000);
  const lateness = late.samples;
  const checker = new HealthChecker(ipvs, {
    service: { protocol: 'tcp', address: '10.99.0.2', port: 80, scheduler: 'wlc' },
    destinations: Array.from({ length: N }, (_, i) => ({ address: addr(i), port: OUR_PORT, forward: 'masq' })),
    check: { type: 'tcp' }, intervalMs: 1000, timeoutMs: 1000,
  });
  checker.on('check', late.onCheck);
  await checker.start();
  process.stdout.write('started\n');
  // Lines on stdin: 'on' and 'off' open and close a measuring window, 'end' reports and exits.
  createInterface({ input: process.stdin }).on('line', async (line) => {
    if (line === 'on') late.measuring = true;
    else if (line === 'off') late.measuring = false;
    else if (line === 'end') {
      late.measuring = false;
      await checker.stop({ leave: false });
      lateness.sort((a, b) => a - b);
      const q = (p) => Math.round(lateness[Math.min(lateness.length - 1, Math.floor(p * lateness.length))] * 10) / 10;
      process.stdout.write(`${JSON.stringify({ p50: q(0.5), p99: q(0.99), max: q(1) })}\n`);
      await ipvs.close();
      process.exit(0);
    }
  });
} else {
  const ns = `hc-bench-${process.pid}`;
  const inNs = (file, args, opts = {}) => spawn('ip', ['netns', 'exec', ns, file, ...args], { stdio: ['pipe', 'pipe', 'inherit'], ...opts });
  const cpuOf = (pids) => pids.reduce((sum, pid) => {
    try {
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      return sum + Number(f[11]) + Number(f[12]); // utime, stime (fields 14 and 15)
    } catch {
      return sum;
    }
  }, 0);
  const pidsNamed = (name) => execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).split(/\s+/).filter(Boolean)
    .filter((p) => { try { return readFileSync(`/proc/${p}/comm`, 'utf8').trim() === name; } catch { return false; } });
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const dir = mkdtempSync(join(tmpdir(), 'hc-bench-'));
  execFileSync('ip', ['netns', 'add', ns]);
  const children = [];
  try {
    execFileSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    // Connections accepted per port: keepalived's checks on PORT, ours on OUR_PORT.
    const accepted = { [PORT]: 0, [OUR_PORT]: 0 };
    const server = inNs(process.execPath, ['-e', `
      const net = require('net'); const n = {};
      for (const port of new Set([${PORT}, ${OUR_PORT}])) {
        n[port] = 0;
        net.createServer((c) => { n[port]++; c.destroy(); }).listen({ port, host: '0.0.0.0', backlog: 65535 });
      }
      console.log('ready');
      setInterval(() => console.log('count ' + JSON.stringify(n)), 200);`]);
    children.push(server);
    await new Promise((r) => server.stdout.once('data', r));
    server.stdout.on('data', (d) => {
      const m = /count (\{[^\n]*\})\s*$/.exec(String(d));
      if (m) Object.assign(accepted, JSON.parse(m[1]));
    });
    // One window; sides: [{ pids, port }], measured over the same seconds.
    const measureSides = async (sides) => {
      const a0 = sides.map((x) => accepted[x.port]);
      const c0 = sides.map((x) => cpuOf(x.pids));
      const t0 = performance.now();
      await sleep(SECONDS * 1000);
      const seconds = (performance.now() - t0) / 1000;
      return sides.map((x, i) => {
        const cpuMs = ((cpuOf(x.pids) - c0[i]) * 1000) / TICK;
        const checks = accepted[x.port] - a0[i];
        return { checks, checksPerSecond: Math.round(checks / seconds), cpuMs, cpuMsPerCheck: Math.round((cpuMs / checks) * 1000) / 1000 };
      });
    };
    const measure = async (pids, port) => (await measureSides([{ pids, port }]))[0];
    const signal = (pids, sig) => pids.forEach((p) => process.kill(Number(p), sig));

    // keepalived: one virtual server with N real servers, TCP_CHECK, delay_loop 1.
    const reals = Array.from({ length: N }, (_, i) => `  real_server ${addr(i)} ${PORT} {\n    weight 1\n    TCP_CHECK {\n      connect_timeout 1\n    }\n  }`).join('\n');
    writeFileSync(join(dir, 'keepalived.conf'), `global_defs {\n  router_id hc_bench\n}\nvirtual_server 10.99.0.1 80 {\n  delay_loop 1\n  lb_algo wlc\n  lb_kind NAT\n  protocol TCP\n${reals}\n}\n`);
    const ka = inNs('keepalived', ['--dont-fork', '--check', '--log-console', '-f', join(dir, 'keepalived.conf'), '-p', join(dir, 'ka.pid'), '-c', join(dir, 'ka-check.pid')], { stdio: ['ignore', 'ignore', 'ignore'] });
    children.push(ka);
    await sleep(3000); // its warm-up: every real server checked at least once
    const kaPids = pidsNamed('keepalived');
    signal(kaPids, 'SIGSTOP');

    const ours = inNs(process.execPath, [fileURLToPath(import.meta.url), '--ours'], { env: { ...process.env } });
    children.push(ours);
    await new Promise((r) => ours.stdout.once('data', r));
    await sleep(2000);
    const ourPids = pidsNamed('node').filter((p) => Number(p) !== server.pid && readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('--ours'));

    // Rounds: each checker alone for a window, the other one stopped (SIGSTOP),
    // after a settling second; the ratio is taken per round, so that a change of
    // the machine's speed between rounds (a shared host) cancels out.
    const rounds = [];
    if (TOGETHER) {
      signal(kaPids, 'SIGCONT');
      await sleep(SETTLE_MS);
      ours.stdin.write('on\n');
      for (let r = 0; r < ROUNDS; r++) {
        const [keepalived, mine] = await measureSides([{ pids: kaPids, port: PORT }, { pids: ourPids, port: OUR_PORT }]);
        rounds.push({ keepalived, ipvsTs: mine, cpuRatio: Math.round((mine.cpuMsPerCheck / keepalived.cpuMsPerCheck) * 100) / 100 });
      }
      ours.stdin.write('off\n');
    }
    for (let r = 0; !TOGETHER && r < ROUNDS; r++) {
      signal(ourPids, 'SIGSTOP');
      signal(kaPids, 'SIGCONT');
      await sleep(SETTLE_MS);
      const keepalived = await measure(kaPids, PORT);
      signal(kaPids, 'SIGSTOP');
      signal(ourPids, 'SIGCONT');
      await sleep(SETTLE_MS);
      ours.stdin.write('on\n');
      const mine = await measure(ourPids, OUR_PORT);
      ours.stdin.write('off\n');
      rounds.push({ keepalived, ipvsTs: mine, cpuRatio: Math.round((mine.cpuMsPerCheck / keepalived.cpuMsPerCheck) * 100) / 100 });
    }
    const lines = createInterface({ input: ours.stdout });
    const lateness = JSON.parse(await new Promise((r) => {
      lines.once('line', r);
      ours.stdin.write('end\n');
    }));
    signal(kaPids, 'SIGCONT');
    ka.kill('SIGTERM');
    await new Promise((r) => ka.once('exit', r));
    const total = (side) => {
      const checks = rounds.reduce((a, x) => a + x[side].checks, 0);
      const cpuMs = rounds.reduce((a, x) => a + x[side].cpuMs, 0);
      return { checks, cpuMs, cpuMsPerCheck: Math.round((cpuMs / checks) * 1000) / 1000 };
    };
    console.log(JSON.stringify({
      destinations: N, seconds: SECONDS, mode: TOGETHER ? 'together' : 'alternating', rounds,
      keepalived: total('keepalived'), ipvsTs: { ...total('ipvsTs'), latenessMs: lateness },
      cpuRatioMedian: median(rounds.map((x) => x.cpuRatio)),
    }, null, 1));
  } finally {
    for (const c of children) c.kill('SIGKILL');
    execFileSync('ip', ['netns', 'del', ns]);
    rmSync(dir, { recursive: true, force: true });
  }
}
