// `ipvs-ts run` with a `failover` section: two daemons, each started inside
// its own director namespace (the heartbeat runs in its process's namespace),
// on one bridge with a client and two real servers (direct routing: the
// servers hold the VIP on lo and answer the client directly). The master holds
// the VIP and the table; SIGKILL it and the backup takes both, the client's
// new connections reach the servers through the VIP; /metrics (scraped from the
// client namespace) shows the election state and the heartbeat counters (a
// forged datagram counted as rejected by reason). Then a
// SIGHUP keeps the election, the first node comes back and preempts, its
// SIGTERM hands the role back at once (goodbye), a SIGHUP with a new priority
// restarts the election, and the last one stops. A second pair of daemons then
// shows the takeover's table: a real server the backup's checks saw down goes
// into the kernel at weight 0, never at its configured weight, from the very
// first table the new master installs.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DirectorConfig } from '../../src/director/config.js';
import { connectTcp } from '../../src/health/transport.js';
import { createNetns, plugIntoBridge, run, type Netns } from './harness.js';
import { OutputLines } from './output-lines.js';
import { CLI_BIN as BIN } from '../helpers/cli.js';

const VIP = '10.70.0.100';
const LB = ['10.70.0.1', '10.70.0.2'] as const;
const RS = ['10.70.0.11', '10.70.0.12'] as const;
const CLIENT = '10.70.0.50';
const PORT = 80;
const METRICS_PORT = 19_191;

const SERVER = `
const addr = process.argv[1];
require('net').createServer((c) => { c.on('error', () => {}); c.end('hello ' + addr + '\\n'); })
  .listen(${PORT}, '0.0.0.0', () => process.stdout.write('ready\\n'));
`;

let sw: Netns;
let lbs: Netns[] = [];
let client: Netns;
let rss: Netns[] = [];
let dir: string;
const procs: ChildProcess[] = [];

const plug = (ns: Netns, name: string, address: string): void => plugIntoBridge(sw, ns, name, address);

function config(node: 1 | 2): DirectorConfig {
  return {
    table: { services: [{ protocol: 'tcp', address: VIP, port: PORT, scheduler: 'rr', destinations: RS.map((a) => ({ address: a, port: PORT, forward: 'route' as const, weight: 1 })) }] },
    health: [{ service: { protocol: 'tcp', address: VIP, port: 80 }, check: { type: 'tcp' }, intervalMs: 200, timeoutMs: 500, rise: 1, fall: 1, startJitterMs: 0 }],
    host: { vips: [VIP], interface: 'eth0', forwarding: 'dr' },
    metrics: { listen: `${LB[node - 1]}:${METRICS_PORT}` },
    failover: {
      nodeId: node,
      priority: node === 1 ? 200 : 100,
      peers: [{ nodeId: 3 - node, address: LB[2 - node]! }],
      bindAddress: LB[node - 1]!,
      port: 16_950,
      intervalMs: 100,
      deadMs: 600,
      initDeadMs: 1500,
      keys: { 1: 'a shared secret of the pair' },
      stateFile: join(dir, `node${node}.gen`),
    },
  };
}

function startDaemon(node: 1 | 2): { proc: ChildProcess; out: OutputLines } {
  const file = join(dir, `node${node}.json`);
  writeFileSync(file, JSON.stringify(config(node)));
  const proc = spawn('ip', ['netns', 'exec', lbs[node - 1]!.name, process.execPath, BIN, 'run', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  procs.push(proc);
  const out = new OutputLines(proc.stdout!);
  proc.stderr!.on('data', (d) => out.all.push(`stderr: ${String(d).trim()}`));
  return { proc, out };
}

const holdsVip = (ns: Netns) => ns.ip('-o', 'addr', 'show', 'dev', 'eth0').includes(`${VIP}/32`);

function request(ns: Netns, address: string, port: number, text = ''): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connectTcp(address, port, { netns: ns.path });
    let body = '';
    s.setTimeout(3000, () => s.destroy(new Error(`timeout to ${address}:${port}`)));
    s.on('connect', () => s.end(text));
    s.on('data', (d) => (body += d));
    s.on('end', () => resolve(body));
    s.on('error', reject);
  });
}

function scrape(lb: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ path: '/metrics', createConnection: () => connectTcp(lb, METRICS_PORT, { netns: client.path }) }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ipvs-failover-'));
  sw = createNetns('fo-sw');
  sw.ip('link', 'add', 'br0', 'type', 'bridge');
  sw.ip('link', 'set', 'br0', 'up');
  lbs = [createNetns('fo-lb1'), createNetns('fo-lb2')];
  client = createNetns('fo-client');
  rss = [createNetns('fo-rs1'), createNetns('fo-rs2')];
  lbs.forEach((ns, i) => plug(ns, `lb${i + 1}`, LB[i]!));
  plug(client, 'client', CLIENT);
  await Promise.all(
    rss.map(async (ns, i) => {
      plug(ns, `rs${i + 1}`, RS[i]!);
      // Direct routing: the VIP on lo, never answered for in ARP.
      ns.ip('addr', 'add', `${VIP}/32`, 'dev', 'lo');
      ns.exec('sysctl', ['-qw', 'net.ipv4.conf.all.arp_ignore=1', 'net.ipv4.conf.all.arp_announce=2']);
      const p = ns.spawn(process.execPath, ['-e', SERVER, RS[i]!], { stdio: ['ignore', 'pipe', 'inherit'] });
      await new OutputLines(p.stdout!).next(/^ready$/);
    }),
  );
}, 60_000);

afterAll(() => {
  for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
  for (const ns of [...lbs, client, ...rss, sw]) ns?.destroy();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('ipvs-ts run with failover', () => {
  it('the master holds the VIP and the table; killed, the backup takes both; SIGHUP keeps or restarts the election; SIGTERM hands over', async () => {
    // A service of another writer on both nodes: the daemon's takeovers, releases and clean starts never touch it.
    const OTHER = '10.70.0.250:9999';
    for (const ns of lbs) ns.ipvsadm('-A', '-t', OTHER, '-s', 'rr');
    const d1 = startDaemon(1);
    const d2 = startDaemon(2);
    await d1.out.next(/^election: backup -> master/, 30_000, 0);
    await d2.out.next(/^election: init -> backup/, 30_000, 0);
    await d2.out.next(/^ready: /, 30_000, 0);
    expect(holdsVip(lbs[0]!)).toBe(true);
    expect(holdsVip(lbs[1]!)).toBe(false);
    expect(lbs[0]!.ipvsadm('-Ln')).toMatch(new RegExp(`TCP\\s+${VIP}:${PORT} rr[\\s\\S]*${RS[0]}:${PORT}\\s+Route`));
    expect(lbs[1]!.ipvsadm('-Ln')).not.toContain(VIP);
    // host.forwarding's sysctls are set on both nodes (the VIPs follow the election).
    for (const ns of lbs) expect(ns.exec('sysctl', ['-n', 'net.ipv4.conf.all.send_redirects']).trim()).toBe('0');
    expect(await request(client, VIP, PORT)).toMatch(/^hello 10\.70\.0\.1[12]\n$/);
    // A datagram that is no heartbeat (64 bytes of ASCII zeros) is rejected and counted by reason.
    client.exec('bash', ['-c', `printf '%064d' 0 > /dev/udp/${LB[0]}/16950`]);
    await expect.poll(async () => /ipvs_ts_heartbeat_packets_dropped_total\{reason="bad-magic"\} 1\n/.test(await scrape(LB[0])), { timeout: 10_000, interval: 100 }).toBe(true);
    const m1 = await scrape(LB[0]);
    expect(m1).toMatch(/ipvs_ts_election_state\{state="master"\} 1/);
    expect(m1).toMatch(/ipvs_ts_heartbeat_peer_up\{node="2"\} 1/);
    expect(Number(/ipvs_ts_heartbeat_packets_accepted_total (\d+)/.exec(m1)?.[1])).toBeGreaterThan(0);
    expect(m1).toMatch(/ipvs_ts_heartbeat_packets_dropped_total\{reason="bad-mac"\} 0\n/);
    const m2 = await scrape(LB[1]);
    expect(m2).toMatch(/ipvs_ts_election_state\{state="backup"\} 1/);
    // The backup checks its destinations (in memory) while it does not hold the table.
    expect(m2).toMatch(new RegExp(`ipvs_ts_destination_up\\{[^}]*remote_address="${RS[0]}"[^}]*\\} 1`));

    const from = d2.out.all.length;
    d1.proc.kill('SIGKILL');
    await d2.out.next(/^election: backup -> master/, 20_000, from);
    expect(holdsVip(lbs[1]!)).toBe(true);
    expect(lbs[1]!.ipvsadm('-Ln')).toMatch(new RegExp(`TCP\\s+${VIP}:${PORT} rr[\\s\\S]*${RS[1]}:${PORT}\\s+Route`));
    // The client's neighbour entry for the VIP follows the gratuitous ARP; new connections go through lb2.
    const replies = await Promise.all([1, 2, 3, 4].map(() => request(client, VIP, PORT)));
    expect(new Set(replies)).toEqual(new Set(RS.map((a) => `hello ${a}\n`)));
    expect(lbs[1]!.ipvsadm('-Lnc').split('\n').filter((l) => l.includes(`${VIP}:80`)).length).toBeGreaterThanOrEqual(4);
    expect(await scrape(LB[1])).toMatch(/ipvs_ts_election_state\{state="master"\} 1/);

    // SIGHUP with the failover settings unchanged: the election is kept, the VIP stays.
    const beforeHup = d2.out.all.length;
    d2.proc.kill('SIGHUP');
    await d2.out.next(/^reload: failover: failover settings unchanged: election kept as master$/, 20_000, beforeHup);
    expect(d2.out.all.slice(beforeHup).filter((l) => l.startsWith('election:'))).toEqual([]);
    expect(holdsVip(lbs[1]!)).toBe(true);

    // The first node back: its clean start removes the VIP and table the kill left, then it preempts.
    const d1b = startDaemon(1);
    await d1b.out.next(/^election: init -> backup/, 30_000, 0);
    await d1b.out.next(/^election: backup -> master/, 30_000, 0);
    await d2.out.next(/^election: master -> backup/, 20_000, beforeHup);
    expect(holdsVip(lbs[0]!)).toBe(true);
    expect(holdsVip(lbs[1]!)).toBe(false);
    expect(lbs[1]!.ipvsadm('-Ln')).not.toContain(VIP);

    // SIGTERM: the master leaves cleanly (VIP and table released, goodbye sent) and the backup takes over.
    const beforeTerm = d2.out.all.length;
    const exited = new Promise((resolve) => d1b.proc.once('exit', resolve));
    d1b.proc.kill('SIGTERM');
    await d1b.out.next(/^stop: failover: left the election as master$/);
    expect(await exited).toBe(0);
    expect(holdsVip(lbs[0]!)).toBe(false);
    expect(lbs[0]!.ipvsadm('-Ln')).not.toContain(VIP);
    await d2.out.next(/^election: backup -> master/, 20_000, beforeTerm);
    expect(holdsVip(lbs[1]!)).toBe(true);
    expect(await request(client, VIP, PORT)).toMatch(/^hello 10\.70\.0\.1[12]\n$/);

    // SIGHUP with changed failover settings: the election restarts (said in the log), and with no peer left
    // the node is master again after its init dead time.
    const beforeChange = d2.out.all.length;
    writeFileSync(join(dir, 'node2.json'), JSON.stringify({ ...config(2), failover: { ...config(2).failover!, priority: 150 } }));
    d2.proc.kill('SIGHUP');
    await d2.out.next(/^reload: failover: failover settings changed: election restarted/, 20_000, beforeChange);
    const lines = d2.out.all.slice(beforeChange).filter((l) => l.startsWith('election:'));
    expect(lines[0]).toMatch(/^election: master -> stopped \(failover settings changed/);
    await d2.out.next(/^election: backup -> master \(.*priority 150\)$/, 20_000, beforeChange);
    expect(holdsVip(lbs[1]!)).toBe(true);

    const done = new Promise((resolve) => d2.proc.once('exit', resolve));
    d2.proc.kill('SIGTERM');
    await d2.out.next(/^stop: failover: left the election as master$/);
    expect(await done).toBe(0);
    expect(holdsVip(lbs[1]!)).toBe(false);
    expect(lbs[1]!.ipvsadm('-Ln')).not.toContain(VIP);
    for (const ns of lbs) expect(ns.ipvsadm('-Ln')).toContain(OTHER);
  }, 90_000);

  it('a takeover installs the weights the backup checked: a server seen down never gets a weight above 0', async () => {
    for (const ns of lbs) expect(ns.ipvsadm('-Ln')).not.toContain(VIP);
    const d1 = startDaemon(1);
    const d2 = startDaemon(2);
    await d1.out.next(/^election: backup -> master/, 30_000, 0);
    await d2.out.next(/^election: init -> backup/, 30_000, 0);
    // The first real server's link goes down: both nodes' checks see it down
    // (the backup's in memory, the master's in the kernel).
    const dead = `${RS[0]}:${PORT}`;
    const live = `${RS[1]}:${PORT}`;
    rss[0]!.ip('link', 'set', 'eth0', 'down');
    const downLine = new RegExp(`^TCP ${VIP}:${PORT} ${dead}: up -> down`);
    await Promise.all([d1.out.next(downLine, 20_000, 0), d2.out.next(downLine, 20_000, 0)]);
    await expect.poll(() => lbs[0]!.ipvsadm('-Ln'), { timeout: 10_000, interval: 100 }).toMatch(new RegExp(`${dead}\\s+Route\\s+0\\s`));

    // Node 2's table read as fast as ipvsadm goes, from before the kill until the checkers run on the kernel.
    const reads: string[] = [];
    let lastReadAt = 0;
    let partial = '';
    let killedAt = 0;
    const watcher = lbs[1]!.spawn('bash', ['-c', 'while :; do ipvsadm -Ln; echo ====; done'], { stdio: ['ignore', 'pipe', 'inherit'] });
    watcher.stdout!.setEncoding('utf8');
    const firstRead = new Promise<void>((resolve) =>
      watcher.stdout!.on('data', (d: string) => {
        const parts = (partial + d).split('====\n');
        partial = parts.pop()!;
        reads.push(...parts);
        if (parts.length) lastReadAt = performance.now();
        if (reads.length) resolve();
      }),
    );
    try {
      await firstRead;
      killedAt = d2.out.all.length;
      d1.proc.kill('SIGKILL');
      await d2.out.next(/^election: backup -> master/, 20_000, killedAt);
      // The line comes once the transition is handled: the checkers write to the kernel from then on, and
      // sync every 200 ms. Steady state: a table read more than five sync intervals later, the live
      // server at its configured weight in it.
      const handledAt = performance.now();
      await expect.poll(() => lastReadAt > handledAt + 1000 && new RegExp(`${live}\\s+Route\\s+1\\s`).test(reads.at(-1)!), { timeout: 10_000, interval: 100 }).toBe(true);
    } finally {
      watcher.kill('SIGKILL');
    }
    const weightOf = (table: string, dest: string) => {
      const m = new RegExp(`-> ${dest.replace(/\./g, '\\.')}\\s+Route\\s+(\\d+)\\s`).exec(table);
      return m ? Number(m[1]) : undefined;
    };
    const withService = reads.filter((t) => t.includes(`${VIP}:${PORT}`));
    // The watcher saw the table before the takeover (no service) and from the takeover on.
    expect(reads[0]).not.toContain(`${VIP}:${PORT}`);
    expect(withService.length).toBeGreaterThan(3);
    // Never a weight above 0 for the dead server (absent while the batch goes in, then 0).
    expect(withService.map((t) => weightOf(t, dead)).filter((w) => w !== undefined && w > 0)).toEqual([]);
    expect(weightOf(withService.at(-1)!, dead)).toBe(0);
    // The live server: its configured weight from the first read that shows it.
    expect(new Set(withService.map((t) => weightOf(t, live)).filter((w) => w !== undefined))).toEqual(new Set([1]));
    // The checkers, now writing to the kernel, found nothing to correct for the dead server.
    expect(d2.out.all.slice(killedAt).filter((l) => l.startsWith(`TCP ${VIP}:${PORT}: `) && l.includes(dead))).toEqual([]);
    // New connections through the VIP reach only the live server.
    const replies = await Promise.all([1, 2, 3, 4].map(() => request(client, VIP, PORT)));
    expect(replies).toEqual(replies.map(() => `hello ${RS[1]}\n`));

    const done = new Promise((resolve) => d2.proc.once('exit', resolve));
    d2.proc.kill('SIGTERM');
    expect(await done).toBe(0);
    rss[0]!.ip('link', 'set', 'eth0', 'up');
  }, 60_000);
});
