// Benchmark: ipvs-ts bulk apply and snapshot against the kernel's own floor
// (test/bench/floor.c) and ipvsadm, in one kernel, in one run, as ratios.
//
//   npm run bench                 (builds, then runs this inside the IPVS sandbox)
//   BENCH_REPEAT=7 BENCH_WARM_UP=2 BENCH_LARGE=10000 npm run bench
//   BENCH_ONLY=large-snapshot BENCH_REPEAT=3 npm run bench
//     only the BENCH_LARGE x 10 snapshot: the table is applied once, then each
//     round times the floor's read-back of that same table (floor ... read)
//     and a snapshot, one after the other; BENCH_NODE_FLAGS (e.g. --trace-gc)
//     go to the node process that takes the snapshots. With
//     BENCH_BEFORE=/path/to/other/build/dist/src/index.js each round also
//     takes a snapshot with that build (order alternating by round), checks
//     that both give the same JSON, and reports both ratios.
//
// Run where the kernel has IPVS and we are root (the sandbox). Everything
// happens in a network namespace this script creates and deletes.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchNamespaces } from './namespaces.mjs';
import { median, rulesText } from './tables.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const { Ipvs } = await import(join(root, 'dist', 'src', 'index.js'));

const SERVICES = 1000;
const DESTS = 10;
const LARGE = Number(process.env.BENCH_LARGE ?? 10000);
const REPEAT = Number(process.env.BENCH_REPEAT ?? 7);
/** Uncounted rounds before the counted ones (see the rounds below). */
const WARM_UP = Number(process.env.BENCH_WARM_UP ?? 2);

/**
 * The table floor.c builds: services 10.<1+s/250>.<s%250>.1:80, destinations
 * 10.200.<s%250>.<d+2>:8080. Every service address ends in .1, and the
 * kernel's service hash (256 buckets) only sees the last byte of an IPv4
 * address, so all services share one bucket and each service add walks all
 * the others: the kernel's cost grows with the square of the service count.
 * `spread` ends service s in <s%250+1> instead (250 buckets), as real
 * addresses mostly do.
 */
function desiredState(n, d, spread = false) {
  const services = [];
  for (let s = 0; s < n; s++) {
    const destinations = [];
    for (let i = 0; i < d; i++) destinations.push({ address: `10.200.${s % 250}.${i + 2}`, port: 8080, forward: 'masq', weight: i + 1 });
    services.push({ protocol: 'tcp', address: `10.${1 + Math.floor(s / 250)}.${s % 250}.${spread ? (s % 250) + 1 : 1}`, port: 80, scheduler: 'wlc', destinations });
  }
  return { services };
}


const ms = (t0) => performance.now() - t0;

// Every measurement gets a namespace of its own. Deleted destinations stay in
// their namespace's "trash" list for two to three minutes, and the kernel
// walks that whole list on every destination add (ip_vs_trash_get_dest), so
// a table flushed in the same namespace would slow down whatever comes next.
// Namespaces are flushed after use (services of all namespaces share one hash
// table in the kernel) and deleted together at the end, so that no namespace
// teardown runs in the background of a measurement.
const namespaces = benchNamespaces('ipvs-bench');
function freshNamespace() {
  const name = namespaces.add();
  return {
    path: `/run/netns/${name}`,
    exec: (file, args, input) => execFileSync('ip', ['netns', 'exec', name, file, ...args], { input, maxBuffer: 1 << 28 }),
  };
}
const deleteNamespaces = () => namespaces.deleteAll();

// ---- child mode: the large apply in a process of its own, for its peak RSS ----
// argv: --large <JSON { n, spread, warm, measured, small: [6 namespaces] }>
if (process.argv[2] === '--large') {
  const job = JSON.parse(process.argv[3]);
  const n = job.n;
  const spread = job.spread;
  // Uncounted rounds of the same size first, in a namespace of their own, so
  // that the large apply runs warm like the 1,000 x 10 figures it is compared
  // with. (A fresh process's heap is all new memory, and in the sandbox every
  // first touch of a page is a fault costing about 0.2 ms.) The first one's
  // time is reported as the cold start.
  const desired = desiredState(n, DESTS, spread);
  const warm = await Ipvs.open({ netns: job.warm });
  let coldApplyMs = 0;
  for (let i = 0; i < WARM_UP; i++) {
    const t0 = performance.now();
    await warm.apply(desired);
    if (i === 0) coldApplyMs = ms(t0);
    await warm.flush();
  }
  // The 1,000 x 10 apply it is compared with, measured in this same process
  // right before and right after it (each in a namespace of its own): the
  // sandbox's speed drifts within minutes, so only neighbours compare well.
  const small = desiredState(SERVICES, DESTS, spread);
  const smallApply = async (netns) => {
    const h = await Ipvs.open({ netns });
    const t0 = performance.now();
    await h.apply(small);
    const took = ms(t0);
    await h.flush();
    await h.close();
    return took;
  };
  await warm.close();
  // Three before and three after (each in its own namespace); their median is the reference.
  const smallBefore = [];
  for (let i = 0; i < 3; i++) smallBefore.push(await smallApply(job.small[i]));
  const ipvs = await Ipvs.open({ netns: job.measured });
  let t = performance.now();
  const r = await ipvs.apply(desired);
  const applyMs = ms(t);
  // Peak RSS of the apply (the process's high-water mark so far).
  const maxRssMb = process.resourceUsage().maxRSS / 1024;
  const applied = r.applied;
  // The floor's read-back of this same table right before and right after the
  // snapshot (floor ... read): the snapshot's ratio is taken against their
  // mean, not against a floor measured minutes earlier in another process.
  const floorRead = () => Number(/read_ms=([\d.]+)/.exec(execFileSync('ip', ['netns', 'exec', job.measured.split('/').pop(), job.floor, String(n), String(DESTS), '64', 'read']).toString())[1]);
  const floorReadBefore = floorRead();
  t = performance.now();
  const snap = await ipvs.snapshot();
  const snapMs = ms(t);
  const floorReadAfter = floorRead();
  await ipvs.flush();
  await ipvs.close();
  const smallAfter = [];
  for (let i = 3; i < 6; i++) smallAfter.push(await smallApply(job.small[i]));
  process.stdout.write(
    JSON.stringify({ applyMs, coldApplyMs, snapMs, floorReadBefore, floorReadAfter, applied, services: snap.services.length, maxRssMb, maxRssAfterSnapshotMb: process.resourceUsage().maxRSS / 1024, smallBefore, smallAfter }),
  );
  process.exit(0);
}

// ---- child mode: the large snapshot rounds (see BENCH_ONLY above) ----
if (process.argv[2] === '--large-snapshot') {
  const [nsPath, floor] = process.argv.slice(3);
  const name = nsPath.split('/').pop();
  const desired = desiredState(LARGE, DESTS); // held, as in the full run's child
  const ipvs = await Ipvs.open({ netns: nsPath });
  const other = process.env.BENCH_BEFORE ? await (await import(process.env.BENCH_BEFORE)).Ipvs.open({ netns: nsPath }) : undefined;
  let t = performance.now();
  await ipvs.apply(desired);
  console.log(`apply ${LARGE} x ${DESTS}: ${ms(t).toFixed(0)} ms`);
  console.log(other ? '| round | floor read ms | snapshot ms | ratio | BENCH_BEFORE snapshot ms | its ratio |' : '| round | floor read ms | snapshot ms | ratio |');
  console.log(other ? '|---|---:|---:|---:|---:|---:|' : '|---|---:|---:|---:|');
  const ratios = [];
  const otherRatios = [];
  const timed = async (h) => {
    const t0 = performance.now();
    const snap = await h.snapshot();
    const took = ms(t0);
    if (snap.services.length !== LARGE || snap.services.some((s) => s.destinations.length !== DESTS)) throw new Error('snapshot saw a different table');
    return { took, snap };
  };
  for (let i = 0; i < WARM_UP + REPEAT; i++) {
    const line = execFileSync('ip', ['netns', 'exec', name, floor, String(LARGE), String(DESTS), '64', 'read']).toString();
    const read = Number(/read_ms=([\d.]+)/.exec(line)[1]);
    if (Number(/read_destinations=(\d+)/.exec(line)[1]) !== LARGE * DESTS) throw new Error(`floor read: ${line}`);
    let mine;
    let theirs;
    if (other && i % 2 === 1) theirs = await timed(other);
    mine = await timed(ipvs);
    if (other && i % 2 === 0) theirs = await timed(other);
    if (theirs && JSON.stringify(theirs.snap) !== JSON.stringify(mine.snap)) throw new Error('the two builds\' snapshots differ');
    const counted = i >= WARM_UP;
    if (counted) ratios.push(mine.took / read);
    if (counted && theirs) otherRatios.push(theirs.took / read);
    const cells = [counted ? i - WARM_UP + 1 : 'warm-up', read.toFixed(0), mine.took.toFixed(0), (mine.took / read).toFixed(2)];
    if (theirs) cells.push(theirs.took.toFixed(0), (theirs.took / read).toFixed(2));
    console.log(`| ${cells.join(' | ')} |`);
    mine = theirs = undefined; // let the snapshots go before the next round
  }
  console.log(`median ratio ${median(ratios).toFixed(2)}${other ? ` (BENCH_BEFORE: ${median(otherRatios).toFixed(2)})` : ''} of ${REPEAT} rounds; peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`);
  await ipvs.flush();
  await ipvs.close();
  await other?.close();
  process.exit(0);
}

const work = mkdtempSync(join(tmpdir(), 'ipvs-bench-'));
const floorBin = join(work, 'floor');
execFileSync('cc', ['-O2', '-o', floorBin, join(here, 'floor.c')]);

// ---- only the large snapshot, paired with the floor's read-back of the same table ----
if (process.env.BENCH_ONLY === 'large-snapshot' && process.argv[2] !== '--large-snapshot') {
  const ns = freshNamespace();
  try {
    const flags = (process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean);
    const child = spawnSync(process.execPath, [...flags, fileURLToPath(import.meta.url), '--large-snapshot', ns.path, floorBin], { encoding: 'utf8', maxBuffer: 1 << 26, stdio: ['ignore', 'pipe', 'inherit'] });
    if (child.status !== 0) throw new Error(`large snapshot failed (${child.status})`);
    process.stdout.write(child.stdout);
  } finally {
    deleteNamespaces();
    rmSync(work, { recursive: true, force: true });
  }
  process.exit(0);
}
const results = {};
/** One floor run in a fresh namespace (floor.c flushes its table at the end). */
function runFloor(services, spread = false) {
  const line = freshNamespace().exec(floorBin, [String(services), String(DESTS), '64', ...(spread ? ['spread'] : [])]).toString();
  return { apply: Number(/apply_ms=([\d.]+)/.exec(line)[1]), read: Number(/read_ms=([\d.]+)/.exec(line)[1]) };
}
try {
  // ipvsadm -R once (it takes tens of seconds); its table is listed in every round.
  const adm = freshNamespace();
  let t = performance.now();
  adm.exec('ipvsadm', ['-R'], rulesText(SERVICES, DESTS));
  results.ipvsadmRestore = ms(t);

  // Rounds of: the floor, ipvs-ts (apply to an empty table, snapshot, no-op
  // apply), and ipvsadm -Ln — each ratio is taken within its round, then the
  // median of the rounds is reported. The sandbox's speed drifts by 2-3x within
  // minutes; measurements taken seconds apart compare well, medians of
  // separate phases do not. The first WARM_UP rounds are not counted: a
  // controller runs these calls again and again, and the first calls pay for
  // the JIT and the heap's first page faults. Round 0 is reported as the cold start.
  const desired = desiredState(SERVICES, DESTS);
  const rounds = [];
  for (let i = 0; i < WARM_UP + REPEAT; i++) {
    const round = {};
    const floor = runFloor(SERVICES);
    round.floorApply = floor.apply;
    round.floorRead = floor.read;
    const ipvs = await Ipvs.open({ netns: freshNamespace().path });
    t = performance.now();
    const r = await ipvs.apply(desired);
    round.apply = ms(t);
    if (r.applied !== SERVICES * (DESTS + 1)) throw new Error(`apply applied ${r.applied} operations`);
    t = performance.now();
    const s = await ipvs.snapshot();
    round.snapshot = ms(t);
    if (s.services.length !== SERVICES) throw new Error(`snapshot saw ${s.services.length} services`);
    t = performance.now();
    const again = await ipvs.apply(desired);
    round.noop = ms(t);
    if (again.applied !== 0) throw new Error('no-op apply changed something');
    await ipvs.flush();
    await ipvs.close();
    t = performance.now();
    adm.exec('ipvsadm', ['-Ln']);
    round.list = ms(t);
    if (i === 0) results.cold = round;
    if (i >= WARM_UP) rounds.push(round);
  }
  adm.exec('ipvsadm', ['-C']);
  const med = (f) => median(rounds.map(f));
  results.floorApply = med((x) => x.floorApply);
  results.floorRead = med((x) => x.floorRead);
  results.ipvsadmList = med((x) => x.list);
  results.apply = med((x) => x.apply);
  results.snapshot = med((x) => x.snapshot);
  results.noop = med((x) => x.noop);
  results.applyVsFloor = med((x) => x.apply / x.floorApply);
  results.listVsSnapshot = med((x) => x.list / x.snapshot);
  results.noopVsSnapshot = med((x) => x.noop / x.snapshot);

  // The floor at 10,000 x 10, next to one at 1,000 x 10 (the kernel's own cost is not linear).
  results.floorSmallBeside = runFloor(SERVICES).apply;
  const floorLarge = runFloor(LARGE);
  results.floorLargeApply = floorLarge.apply;
  results.floorLargeRead = floorLarge.read;

  // 4. The large table, in a child process for its own peak RSS.
  const runLarge = (spread) => {
    const job = { n: LARGE, spread, floor: floorBin, warm: freshNamespace().path, measured: freshNamespace().path, small: Array.from({ length: 6 }, () => freshNamespace().path) };
    const args = [fileURLToPath(import.meta.url), '--large', JSON.stringify(job)];
    const child = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 1 << 24 });
    if (child.status !== 0) throw new Error(`large apply failed: ${child.stderr}`);
    return JSON.parse(child.stdout);
  };
  const large = runLarge(false);
  results.largeApply = large.applyMs;
  results.largeColdApply = large.coldApplyMs;
  results.largeSnapshot = large.snapMs;
  results.largeSnapshotFloor = [large.floorReadBefore, large.floorReadAfter];
  results.largeRssMb = large.maxRssMb;
  results.largeRssSnapMb = large.maxRssAfterSnapshotMb;
  results.largeSmall = [large.smallBefore, large.smallAfter];

  // 5. The same growth with service addresses spread over the kernel's hash.
  results.spreadFloorApply = runFloor(SERVICES, true).apply;
  results.spreadFloorLargeApply = runFloor(LARGE, true).apply;
  const spreadLarge = runLarge(true);
  results.spreadLargeApply = spreadLarge.applyMs;
  results.spreadLargeColdApply = spreadLarge.coldApplyMs;
  results.spreadLargeRssMb = spreadLarge.maxRssMb;
  results.spreadSmall = [spreadLarge.smallBefore, spreadLarge.smallAfter];
} finally {
  deleteNamespaces();
  rmSync(work, { recursive: true, force: true });
}

const r = results;
const f = (x) => x.toFixed(0).padStart(7);
const ratio = (x) => x.toFixed(2).padStart(6);
const L = LARGE.toLocaleString('en');
/** The reference for the large apply: the median of the small ones around it (halfway between the middle two). */
const mid = (xs) => {
  const o = [...xs].sort((a, b) => a - b);
  return (o[(o.length - 1) >> 1] + o[o.length >> 1]) / 2;
};
const smallPair = ([before, after]) => `median ${mid([...before, ...after]).toFixed(0)} ms of ${before.map((x) => x.toFixed(0)).join(', ')} ms before and ${after.map((x) => x.toFixed(0)).join(', ')} ms after`;
const rows = [
  ['floor: apply 1,000 x 10 (pre-encoded, 64 per send)', r.floorApply, ''],
  ['floor: read back, one dump at a time', r.floorRead, ''],
  ['ipvsadm -R 1,000 x 10 (once)', r.ipvsadmRestore, ''],
  ['ipvsadm -Ln of that table', r.ipvsadmList, ''],
  ['ipvs-ts apply 1,000 x 10', r.apply, `${ratio(r.applyVsFloor)} x floor (target <= 1.3); ${ratio(r.ipvsadmRestore / r.apply)} x faster than ipvsadm -R (target >= 10)`],
  ['ipvs-ts snapshot', r.snapshot, `${ratio(r.listVsSnapshot)} x faster than ipvsadm -Ln (target >= 3)`],
  ['ipvs-ts no-op apply', r.noop, `${ratio(r.noopVsSnapshot)} x snapshot (target <= 1.2)`],
  [`floor: apply ${L} x 10`, r.floorLargeApply, `${ratio(r.floorLargeApply / r.floorSmallBeside)} x the floor at 1,000 x 10 run just before it (${r.floorSmallBeside.toFixed(0)} ms)`],
  [`floor: read back ${L} x 10`, r.floorLargeRead, ''],
  [
    `ipvs-ts apply ${L} x 10`,
    r.largeApply,
    `${ratio(r.largeApply / mid(r.largeSmall.flat()))} x the 1,000 x 10 apply beside it (target <= 11; ${smallPair(r.largeSmall)}); ${ratio(r.largeApply / r.floorLargeApply)} x its floor; peak RSS ${r.largeRssMb.toFixed(0)} MB (target < 200)`,
  ],
  [`ipvs-ts snapshot ${L} x 10`, r.largeSnapshot, `${ratio((2 * r.largeSnapshot) / (r.largeSnapshotFloor[0] + r.largeSnapshotFloor[1]))} x its floor (the floor's read-back of the same table just before and after: ${r.largeSnapshotFloor.map((x) => x.toFixed(0)).join(' and ')} ms); ${ratio(r.largeSnapshot / r.floorLargeRead)} x the read-back of the floor's own run above; peak RSS ${r.largeRssSnapMb.toFixed(0)} MB by its end`],
  ['spread addresses — floor: apply 1,000 x 10', r.spreadFloorApply, ''],
  [`spread addresses — floor: apply ${L} x 10`, r.spreadFloorLargeApply, `${ratio(r.spreadFloorLargeApply / r.spreadFloorApply)} x the floor at 1,000 x 10 just before it`],
  [
    `spread addresses — ipvs-ts apply ${L} x 10`,
    r.spreadLargeApply,
    `${ratio(r.spreadLargeApply / mid(r.spreadSmall.flat()))} x the 1,000 x 10 apply beside it (target <= 11; ${smallPair(r.spreadSmall)}); ${ratio(r.spreadLargeApply / r.spreadFloorLargeApply)} x its floor; peak RSS ${r.spreadLargeRssMb.toFixed(0)} MB`,
  ],
  [`ipvs-ts cold start of the ${L} x 10 apply (first warm-up round in its process, not counted above)`, r.largeColdApply, `spread addresses: ${r.spreadLargeColdApply.toFixed(0)} ms`],
  ['ipvs-ts cold start (first round, not counted above): apply / snapshot / no-op', r.cold.apply, `snapshot ${r.cold.snapshot.toFixed(0)} ms, no-op ${r.cold.noop.toFixed(0)} ms`],
];
console.log(`\nipvs-ts benchmark — kernel ${execFileSync('uname', ['-r']).toString().trim()}, sandbox ${process.env.IPVS_TS_SANDBOX ?? 'none'}, node ${process.version}, 1,000 x 10: median of ${REPEAT} rounds after ${WARM_UP} warm-up rounds, ratios taken within each round\n`);
console.log('| measurement | ms | ratio |');
console.log('|---|---:|---|');
for (const [name, v, note] of rows) console.log(`| ${name} | ${f(v).trim()} | ${note} |`);
