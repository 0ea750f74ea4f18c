// Benchmark: cold runs of the `ipvs-ts` command against ipvsadm, each a fresh
// process, alternating, in one kernel, in one run, as ratios of medians.
//
//   npm run build && npm run sandbox -- node test/bench/cold-cli.mjs
//   COLD_LIST_REPEAT=7 COLD_APPLY_REPEAT=3 npm run sandbox -- node test/bench/cold-cli.mjs
//
// Run where the kernel has IPVS and we are root (the sandbox). Everything
// happens in network namespaces this script creates and deletes.
//
// - list: builds 1,000 services x 10 destinations once with `ipvsadm -R` in a
//   namespace, then alternates `node dist/cli/ipvs-ts.js list --netns NS` (the executable
//   package.json names) and
//   `ip netns exec NS ipvsadm -Ln` (and `ip netns exec NS true`, the cost of
//   the wrapper ipvsadm needs to enter the namespace, which ipvs-ts does not,
//   and `node -e 0`, Node's own start-up).
// Ratios are given two ways: of the medians, and pairwise (each run over the
// other command's run beside it; median and range), which follows the
// sandbox's drifting speed better.
// - apply: writes that table as a snapshot (`ipvs-ts snapshot`, not timed),
//   then alternates `ipvs-ts apply FILE --netns NS` and
//   `ip netns exec NS ipvsadm -R < rules`, each into a fresh, empty namespace
//   (never one a table was flushed from: deleted destinations linger in the
//   kernel's trash list and slow down later adds, see docs/benchmarks.md).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchNamespaces } from './namespaces.mjs';
import { median, rulesText } from './tables.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const BIN = process.env.COLD_BIN ?? join(root, 'dist', 'cli', 'ipvs-ts.js');
const SERVICES = Number(process.env.COLD_SERVICES ?? 1000);
const DESTS = 10;
const LIST_REPEAT = Number(process.env.COLD_LIST_REPEAT ?? 5);
const APPLY_REPEAT = Number(process.env.COLD_APPLY_REPEAT ?? 3);
/** Optional: another build of the command (say, a copy of dist/ from before a change), timed alongside in the same alternation. */
const BASE_BIN = process.env.COLD_BASE_BIN;

/** The table of test/bench/run.mjs (and floor.c), as ipvsadm rules. */


const namespaces = benchNamespaces('ipvs-cold');
const freshNamespace = () => namespaces.add();

/** Run a fresh process to completion; its wall time in ms (output captured, as a pipe would). */
function timed(file, args, input) {
  const t0 = performance.now();
  const r = spawnSync(file, args, { input, maxBuffer: 1 << 28, encoding: 'utf8' });
  const took = performance.now() - t0;
  if (r.status !== 0) throw new Error(`${file} ${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
  return { took, stdout: r.stdout };
}

const tmp = mkdtempSync(join(tmpdir(), 'ipvs-cold-'));
const rules = rulesText(SERVICES, DESTS);
const results = [];
try {
  // ---- list ----
  const listNs = freshNamespace();
  timed('ip', ['netns', 'exec', listNs, 'ipvsadm', '-R'], rules);
  const ours = timed('node', [BIN, 'list', '--netns', listNs]).stdout;
  const theirs = timed('ip', ['netns', 'exec', listNs, 'ipvsadm', '-Ln']).stdout;
  if (ours !== theirs) throw new Error('ipvs-ts list and ipvsadm -Ln differ on the benchmark table');
  const list = { ours: [], ipvsadm: [], wrapper: [], base: [] };
  // Node's own start-up, for scale, in the same alternation.
  const nodeStart = [];
  for (let i = 0; i < LIST_REPEAT; i++) {
    if (BASE_BIN) list.base.push(timed('node', [BASE_BIN, 'list', '--netns', listNs]).took);
    list.ours.push(timed('node', [BIN, 'list', '--netns', listNs]).took);
    list.ipvsadm.push(timed('ip', ['netns', 'exec', listNs, 'ipvsadm', '-Ln']).took);
    list.wrapper.push(timed('ip', ['netns', 'exec', listNs, 'true']).took);
    nodeStart.push(timed('node', ['-e', '0']).took);
    list.ours.push(timed('node', [BIN, 'list', '--netns', listNs]).took);
    list.ipvsadm.push(timed('ip', ['netns', 'exec', listNs, 'ipvsadm', '-Ln']).took);
  }

  // ---- apply ----
  const snapFile = join(tmp, 'state.json');
  writeFileSync(snapFile, timed('node', [BIN, 'snapshot', '--netns', listNs]).stdout);
  const apply = { ours: [], ipvsadm: [], base: [] };
  for (let i = 0; i < APPLY_REPEAT; i++) {
    // Alternate which goes first, so neither always runs after the other.
    const runs = [
      () => apply.ours.push(timed('node', [BIN, 'apply', snapFile, '--netns', freshNamespace()]).took),
      () => apply.ipvsadm.push(timed('ip', ['netns', 'exec', freshNamespace(), 'ipvsadm', '-R'], rules).took),
    ];
    if (BASE_BIN) runs.push(() => apply.base.push(timed('node', [BASE_BIN, 'apply', snapFile, '--netns', freshNamespace()]).took));
    if (i % 2) runs.reverse();
    for (const r of runs) r();
  }

  const m = (xs) => Math.round(median(xs));
  // Each run over the other command's run next to it (same index): the speed
  // of the sandbox drifts, and neighbours see the same phase of it.
  const pairs = (xs, ys) => {
    const r = xs.map((x, i) => x / ys[i]);
    if (r.length === 0) return 'no runs';
    return `pairwise: median ${median(r).toFixed(2)}, ${Math.min(...r).toFixed(2)}-${Math.max(...r).toFixed(2)}`;
  };
  const lo = median(list.ours);
  const li = median(list.ipvsadm);
  const lw = median(list.wrapper);
  results.push(['node -e 0 (start-up alone)', m(nodeStart), '']);
  results.push([`ip netns exec NS true (the wrapper ipvsadm needs)`, m(list.wrapper), '']);
  results.push([`ipvsadm -Ln, ${SERVICES} x ${DESTS} (through the wrapper)`, m(list.ipvsadm), '']);
  results.push([
    `ipvs-ts list --netns NS`,
    m(list.ours),
    `${(lo / li).toFixed(2)} x ipvsadm -Ln (${pairs(list.ours, list.ipvsadm)}); ${(lo / (li - lw)).toFixed(2)} x ipvsadm -Ln less the wrapper (target <= 2)`,
  ]);
  if (BASE_BIN) {
    const lb = median(list.base);
    // The other build runs once per round, just before a run of ours: paired with that round's first ipvsadm run.
    const firstOfRound = list.ipvsadm.filter((_x, i) => i % 2 === 0);
    results.push([`the other build (${BASE_BIN}): list`, m(list.base), `${(lb / li).toFixed(2)} x ipvsadm -Ln (${pairs(list.base, firstOfRound)}); ${(lb / (li - lw)).toFixed(2)} x less the wrapper`]);
  }
  if (APPLY_REPEAT > 0) {
    const ao = median(apply.ours);
    const ai = median(apply.ipvsadm);
    results.push([`ipvsadm -R, ${SERVICES} x ${DESTS}, into an empty namespace`, m(apply.ipvsadm), '']);
    results.push([`ipvs-ts apply state.json --netns NS, into an empty namespace`, m(apply.ours), `${(ao / ai).toFixed(2)} x ipvsadm -R (${pairs(apply.ours, apply.ipvsadm)}; target <= 0.4)`]);
    if (BASE_BIN) {
      const ab = median(apply.base);
      results.push([`the other build: apply`, m(apply.base), `${(ab / ai).toFixed(2)} x ipvsadm -R (${pairs(apply.base, apply.ipvsadm)})`]);
    }
  }
  console.log(`| measurement | ms (median) | ratio |\n|---|---:|---|`);
  for (const [what, ms, ratio] of results) console.log(`| ${what} | ${ms} | ${ratio} |`);
  console.log(`\nlist runs (ms): ipvs-ts ${list.ours.map(Math.round).join(', ')}; ipvsadm ${list.ipvsadm.map(Math.round).join(', ')}; wrapper ${list.wrapper.map(Math.round).join(', ')}; node -e 0 ${nodeStart.map(Math.round).join(', ')}`);
  console.log(`apply runs (ms): ipvs-ts ${apply.ours.map(Math.round).join(', ')}; ipvsadm -R ${apply.ipvsadm.map(Math.round).join(', ')}`);
  if (BASE_BIN) console.log(`other build (ms): list ${list.base.map(Math.round).join(', ')}; apply ${apply.base.map(Math.round).join(', ')}`);
} finally {
  namespaces.deleteAll({ strict: false });
  rmSync(tmp, { recursive: true, force: true });
}
