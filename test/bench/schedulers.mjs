// Benchmark: simulate() placements per second for sh and mh, and
// readConnections() of a large connection table against `ipvsadm -Lnc`.
//
//   npm run build && node test/bench/schedulers.mjs                      (simulate() only, on the host)
//   npm run build && npm run sandbox -- node test/bench/schedulers.mjs   (both; the table part needs IPVS and root)
//   BENCH_PLACEMENTS=1000000 BENCH_CONNECTIONS=10000 BENCH_REPEAT=5 BENCH_CONN_FIXTURE=/tmp/ip_vs_conn.txt BENCH_SPAWN_FROM=helper|self ...
//
// The table part works in a network namespace it creates and deletes: a UDP
// service whose destination sits behind a dummy interface, and one node
// process that sends one datagram from each of N (address, port) pairs, so
// the kernel holds N connection entries.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from './tables.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const { simulate, readConnections } = await import(join(root, 'dist', 'src', 'index.js'));

const PLACEMENTS = Number(process.env.BENCH_PLACEMENTS ?? 1_000_000);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10_000);
const REPEAT = Number(process.env.BENCH_REPEAT ?? 5);
// BENCH_CONN_FIXTURE=/tmp/ip_vs_conn.txt saves the table's text, for profiling the parser on the host
// (readConnections({ path })) with repeatable instruction counts.
const FIXTURE = process.env.BENCH_CONN_FIXTURE ?? '';
const SPAWN_FROM = process.env.BENCH_SPAWN_FROM ?? 'helper';

console.log(`node ${process.version}, kernel ${execFileSync('uname', ['-r']).toString().trim()}, ${new Date().toISOString()}`);

// ---- simulate() ----
const dests = Array.from({ length: 10 }, (_, i) => ({ address: `10.5.0.${i + 1}`, port: 80, weight: 1 + (i % 3) }));
const conns = Array.from({ length: PLACEMENTS }, (_, i) => ({ source: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, sourcePort: 1024 + (i % 60000) }));
const conns6 = conns.slice(0, PLACEMENTS / 10).map((c, i) => ({ source: `2001:db8::${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}`, sourcePort: c.sourcePort }));
const cases = [
  ['sh', [], conns, '10.4.0.1'],
  ['sh', ['sh-port'], conns, '10.4.0.1'],
  ['mh', [], conns, '10.4.0.1'],
  ['mh', ['mh-port'], conns, '10.4.0.1'],
  ['sh', [], conns6, '2001:db8:4::1'],
  ['mh', [], conns6, '2001:db8:4::1'],
];
console.log('\n| simulate() | placements | median placements/s |\n|---|---:|---:|');
for (const [scheduler, schedulerFlags, cs, address] of cases) {
  const service = { protocol: 'tcp', address, port: 80, scheduler, schedulerFlags };
  const ds = address.includes(':') ? dests.map((d, i) => ({ ...d, address: `2001:db8:5::${i + 1}` })) : dests;
  simulate(service, ds, cs.slice(0, 20000)); // warm-up
  const rates = [];
  for (let r = 0; r < REPEAT; r++) {
    const t0 = performance.now();
    simulate(service, ds, cs);
    rates.push(cs.length / ((performance.now() - t0) / 1000));
  }
  const label = `${scheduler}${schedulerFlags.length ? ` ${schedulerFlags.join(',')}` : ''}${address.includes(':') ? ' IPv6' : ''}`;
  console.log(`| ${label} | ${cs.length.toLocaleString('en')} | ${Math.round(median(rates)).toLocaleString('en')} |`);
}

// ---- readConnections() vs ipvsadm -Lnc ----
if (!existsSync('/proc/net/ip_vs') || process.getuid?.() !== 0) {
  console.log('\n(readConnections part skipped: needs IPVS and root, e.g. npm run sandbox -- node test/bench/schedulers.mjs)');
  process.exit(0);
}
const ns = `ipvs-bench-conn-${process.pid}`;
const ip = (...a) => execFileSync('ip', a, { stdio: ['ignore', 'pipe', 'inherit'] });
const inNs = (cmd, args, opts = {}) => execFileSync('ip', ['netns', 'exec', ns, cmd, ...args], { maxBuffer: 1 << 28, ...opts });
ip('netns', 'add', ns);
const dir = mkdtempSync(join(tmpdir(), 'ipvs-bench-'));
try {
  const perAddress = 100;
  const addresses = Math.ceil(CONNECTIONS / perAddress);
  const batch = ['link set lo up', 'link add dum0 type dummy', 'addr add 10.5.0.254/24 dev dum0', 'link set dum0 up', 'addr add 10.4.0.1/32 dev lo'];
  for (let a = 0; a < addresses; a++) batch.push(`addr add 10.3.${a >> 8}.${(a & 255) + 1}/32 dev lo`);
  writeFileSync(join(dir, 'batch'), batch.join('\n') + '\n');
  ip('-n', ns, '-batch', join(dir, 'batch'));
  inNs('ipvsadm', ['-A', '-u', '10.4.0.1:53', '-s', 'rr']);
  for (let d = 11; d <= 14; d++) inNs('ipvsadm', ['-a', '-u', '10.4.0.1:53', '-r', `10.5.0.${d}:53`, '-m']);
  // One datagram from each (address, port): N entries in the connection table.
  const sender = `
    const dgram = require('dgram');
    (async () => {
      for (let a = 0; a < ${addresses}; a++) for (let p = 0; p < ${perAddress}; p++) {
        if (a * ${perAddress} + p >= ${CONNECTIONS}) break;
        await new Promise((res) => {
          const s = dgram.createSocket('udp4');
          s.bind({ address: '10.3.' + (a >> 8) + '.' + ((a & 255) + 1), port: 20000 + p }, () => s.send('x', 53, '10.4.0.1', () => { s.close(); res(); }));
        });
      }
    })();`;
  inNs(process.execPath, ['-e', sender]);
  // The measurement runs in a node process inside the namespace, so that ipvsadm is spawned
  // directly, as a program on the director would run it (no `ip netns exec` in its time).
  // By default ipvsadm is spawned (and timed) by a second node process, started before the
  // first round: after a fork, each page of the forking process takes a fault on its next
  // write (copy-on-write), which in the sandbox costs as much as the parsing and would be
  // charged to whatever that process times next. BENCH_SPAWN_FROM=self spawns it from the
  // measuring process as before.
  const spawner = `
    const { spawnSync } = require('node:child_process');
    require('node:readline').createInterface({ input: process.stdin }).on('line', () => {
      const t0 = performance.now();
      const out = spawnSync('ipvsadm', ['-Lnc'], { maxBuffer: 1 << 28 });
      const ms = performance.now() - t0;
      process.stdout.write((out.status === 0 ? ms : -1) + '\\n');
    });`;
  const inner = `
    const { spawn, spawnSync } = require('node:child_process');
    const self = ${JSON.stringify(SPAWN_FROM === 'self')};
    const helper = self ? null : spawn(process.execPath, ['-e', ${JSON.stringify(spawner)}], { stdio: ['pipe', 'pipe', 'inherit'] });
    const answers = helper && require('node:readline').createInterface({ input: helper.stdout })[Symbol.asyncIterator]();
    const ipvsadm = async () => {
      if (self) {
        const t0 = performance.now();
        const out = spawnSync('ipvsadm', ['-Lnc'], { maxBuffer: 1 << 28 });
        if (out.status !== 0) throw new Error('ipvsadm -Lnc failed: ' + out.stderr);
        return performance.now() - t0;
      }
      helper.stdin.write('\\n');
      const ms = Number((await answers.next()).value);
      if (!(ms >= 0)) throw new Error('ipvsadm -Lnc failed');
      return ms;
    };
    (async () => {
      const { readConnections } = await import(${JSON.stringify(join(root, 'dist', 'src', 'index.js'))});
      const { median } = await import(${JSON.stringify(join(root, 'test', 'bench', 'tables.mjs'))});
      if (${JSON.stringify(FIXTURE)}) require('node:fs').writeFileSync(${JSON.stringify(FIXTURE)}, require('node:fs').readFileSync('/proc/net/ip_vs_conn'));
      const ours = [], theirs = [], raw = [], ratios = [];
      let entries = 0;
      for (let r = 0; r < ${REPEAT} + 1; r++) {
        let t0 = performance.now();
        let n = 0;
        for await (const _ of readConnections()) n++;
        const a = performance.now() - t0;
        const b = await ipvsadm();
        t0 = performance.now();
        const fd = require('node:fs').openSync('/proc/net/ip_vs_conn', 'r');
        const buf = Buffer.allocUnsafe(1 << 18);
        while (require('node:fs').readSync(fd, buf, 0, buf.length, null) > 0);
        require('node:fs').closeSync(fd);
        const c = performance.now() - t0;
        if (r === 0) continue;
        entries = n; ours.push(a); theirs.push(b); raw.push(c); ratios.push(b / a);
      }
      const span = (xs) => [Math.min(...xs), Math.max(...xs)];
      console.log(JSON.stringify({ entries, ours: median(ours), theirs: median(theirs), raw: median(raw), ratio: median(ratios), ratios: span(ratios) }));
      helper?.stdin.end();
    })();`;
  const m = JSON.parse(inNs(process.execPath, ['-e', inner]).toString().trim().split('\n').pop());
  console.log(`\n| connection table of ${m.entries.toLocaleString('en')} entries | median ms |\n|---|---:|`);
  console.log(`| the kernel's text alone (read(2) of /proc/net/ip_vs_conn, nothing parsed) | ${m.raw.toFixed(1)} |`);
  console.log(`| readConnections() (streamed, every entry parsed) | ${m.ours.toFixed(1)} |`);
  console.log(`| ipvsadm -Lnc (spawned${SPAWN_FROM === 'self' ? ' by the measuring process' : ' by a second node process'}) | ${m.theirs.toFixed(1)} |`);
  console.log(`| ratio ipvsadm / readConnections (of the medians) | ${(m.theirs / m.ours).toFixed(2)}x |`);
  console.log(`| ratio within each round: median (min–max) | ${m.ratio.toFixed(2)}x (${m.ratios[0].toFixed(2)}–${m.ratios[1].toFixed(2)}) |`);
  if (FIXTURE) console.log(`\n(the table's text was saved to ${FIXTURE})`);
} finally {
  rmSync(dir, { recursive: true, force: true });
  spawnSync('ip', ['netns', 'del', ns]);
}
