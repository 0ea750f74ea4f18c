// Instructions per TCP check, counted by callgrind (user space only: the
// kernel's share of socket, connect and close is not in it). Counts of
// instructions, unlike CPU time, hardly move with the load of a shared machine.
// Runs `runCheck({ type: 'tcp' })` N times (100 at a time) against a local
// accept-and-close server (test/bench/accept-close.c, not traced), in a node
// process under `valgrind --tool=callgrind`, for two values of N; the
// difference over the difference in N is the cost of one check, without the
// process's start-up.
//
//   npm run build && node test/bench/health-instructions.mjs [dist ...]
//   HEALTH_BENCH_N=200,1200 node test/bench/health-instructions.mjs dist /tmp/old/dist
//
// Needs valgrind (Debian package `valgrind`) and a C compiler; each run takes
// a minute or more (node runs about 50 times slower under callgrind).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');

if (process.argv[2] === '--checks') {
  const [dist, n, port] = process.argv.slice(3);
  const { runCheck } = await import(join(dist, 'src', 'index.js'));
  const spec = { type: 'tcp', timeoutMs: 60_000 };
  let failures = 0;
  for (let i = 0; i < Number(n); i += 100) {
    const batch = Array.from({ length: Math.min(100, Number(n) - i) }, (_, k) => runCheck(spec, { address: `127.0.0.${1 + k}`, port: Number(port) }));
    for (const r of await Promise.all(batch)) if (!r.ok) failures++;
  }
  if (failures > 0) throw new Error(`${failures} checks failed`);
} else {
  const dists = process.argv.slice(2).map((d) => resolve(d));
  if (dists.length === 0) dists.push(join(root, 'dist'));
  const [n1, n2] = (process.env.HEALTH_BENCH_N ?? '200,1200').split(',').map(Number);
  const work = mkdtempSync(join(tmpdir(), 'health-instr-'));
  execFileSync('cc', ['-O2', '-o', join(work, 'accept-close'), join(here, 'accept-close.c')]);
  const server = spawn(join(work, 'accept-close'), ['0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const port = Number(await new Promise((r) => server.stdout.once('data', (d) => r(String(d).trim()))));
    const count = (dist, n) => {
      const out = spawnSync('valgrind', ['--tool=callgrind', '--callgrind-out-file=/dev/null', process.execPath, fileURLToPath(import.meta.url), '--checks', dist, String(n), String(port)], { encoding: 'utf8' });
      const m = /Collected : (\d+)/.exec(out.stderr);
      if (out.status !== 0 || !m) throw new Error(`callgrind run failed: ${out.stderr.slice(-500)}`);
      return Number(m[1]);
    };
    for (const dist of dists) {
      const a = count(dist, n1);
      const b = count(dist, n2);
      console.log(JSON.stringify({ dist, checks: [n1, n2], instructions: [a, b], instructionsPerCheck: Math.round((b - a) / (n2 - n1)) }));
    }
  } finally {
    server.kill();
    rmSync(work, { recursive: true, force: true });
  }
}
