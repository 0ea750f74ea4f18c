// `ipvs-ts run CONFIG`, the director daemon, as a real process against real
// servers: a client namespace, a NAT director namespace (VIP and IPVS) and a
// namespace of four real servers (one node process, each address its own
// listener, greeting then echoing). The daemon is spawned with --netns; the
// test process holds long-lived connections through the VIP (sockets made in
// the client namespace by the addon) and makes new ones while the daemon is
// reloaded with SIGHUP, and checks the table with ipvsadm and the metrics
// over HTTP. One daemon per on-exit mode (quiesce, leave, flush).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DirectorConfig } from '../../src/director/config.js';
import { connectTcp } from '../../src/health/transport.js';
import { createNetns, run, type Netns } from './harness.js';
import { OutputLines } from './output-lines.js';
import { CLI_BIN as BIN } from '../helpers/cli.js';

const VIP = '10.60.0.100';
/** VIPs of the daemon's host setup (the test's own VIP above is put there by the test). */
const VIP2 = '10.60.0.101';
const VIP3 = '10.60.0.102';
const RS = ['10.61.0.11', '10.61.0.12', '10.61.0.13', '10.61.0.14'];
const [A, B, C, D] = RS as [string, string, string, string];
const PORT = 8080;
const METRICS_PORT = 19_181;
const POLL = { timeout: 10_000, interval: 50 };

const SERVERS = `
const net = require('net');
const servers = new Map();
const conns = new Set();
let pending = process.argv.length - 1;
for (const addr of process.argv.slice(1)) {
  const s = net.createServer((c) => {
    conns.add(c);
    c.on('close', () => conns.delete(c));
    c.on('error', () => {});
    c.write('hello ' + addr + '\\n');
    c.on('data', (d) => c.write(d));
  });
  s.listen(${PORT}, addr, () => { if (--pending === 0) process.stdout.write('ready\\n'); });
  servers.set(addr, s);
}
require('readline').createInterface({ input: process.stdin }).on('line', (l) => {
  const [cmd, addr] = l.split(' ');
  if (cmd === 'close') servers.get(addr).close(() => {});
  process.stdout.write('done ' + l + '\\n');
});
`;

let client: Netns;
let director: Netns;
let servers: Netns;
let serverProc: ChildProcess;
let dir: string;

function veth(a: Netns, aName: string, aAddr: string, b: Netns, bName: string, bAddr: string): void {
  run('ip', ['link', 'add', aName, 'netns', a.name, 'type', 'veth', 'peer', 'name', bName, 'netns', b.name]);
  a.ip('addr', 'add', aAddr, 'dev', aName);
  b.ip('addr', 'add', bAddr, 'dev', bName);
  a.ip('link', 'set', aName, 'up');
  b.ip('link', 'set', bName, 'up');
}

interface Daemon {
  proc: ChildProcess;
  out: OutputLines;
  exited: Promise<number | null>;
}

function startDaemon(config: string, ...args: string[]): Daemon {
  const proc = spawn(process.execPath, [BIN, 'run', config, '--netns', director.name, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const out = new OutputLines(proc.stdout!);
  proc.stderr!.on('data', (d) => out.all.push(`stderr: ${String(d).trim()}`));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  return { proc, out, exited };
}

function writeConfig(name: string, config: DirectorConfig | string): string {
  const file = join(dir, name);
  writeFileSync(file, typeof config === 'string' ? config : JSON.stringify(config, null, 2));
  return file;
}

const svc = (port: number) => ({ protocol: 'tcp' as const, address: VIP, port });
const dest = (address: string, weight: number) => ({ address, port: PORT, forward: 'masq' as const, weight });
const health = (port: number) => ({ service: svc(port), check: { type: 'tcp' as const }, intervalMs: 150, timeoutMs: 500, rise: 1, fall: 1, startJitterMs: 0 });

const V1: DirectorConfig = {
  table: { services: [
    { ...svc(80), scheduler: 'wrr', destinations: [dest(A, 5), dest(B, 5), dest(C, 5)] },
    { ...svc(81), scheduler: 'rr', destinations: [dest(A, 1)] },
  ] },
  health: [health(80)],
  host: { vips: [VIP2], interface: 'vethC', forwarding: 'nat', announce: false },
};
// Reload: B's weight changes, D is added, C stays configured (and down), service 81 (no client uses it) goes, 82 comes.
const V2: DirectorConfig = {
  table: { services: [
    { ...svc(80), scheduler: 'wrr', destinations: [dest(A, 5), dest(B, 7), dest(C, 5), dest(D, 5)] },
    { ...svc(82), scheduler: 'rr', destinations: [dest(A, 2)] },
  ] },
  health: [health(80)],
  host: { vips: [VIP2, VIP3], interface: 'vethC', forwarding: 'nat', announce: false },
};
const addresses = (): string => director.ip('-o', '-4', 'addr', 'show', 'dev', 'vethC');

/** `ipvsadm -Ln` weights of a service by real-server address. */
function weights(port: number): Record<string, number> {
  const out: Record<string, number> = {};
  let text: string;
  try {
    text = director.ipvsadm('-Ln', '-t', `${VIP}:${port}`);
  } catch {
    return out;
  }
  for (const m of text.matchAll(/->\s+([\d.]+):\d+\s+Masq\s+(\d+)/g)) out[m[1]!] = Number(m[2]);
  return out;
}
const services = (): string[] => [...director.ipvsadm('-Ln').matchAll(/^TCP\s+(\S+)/gm)].map((m) => m[1]!).sort();

/** Long-lived connections through the VIP, each pinged every 50 ms, plus a new connection every 100 ms. */
class Traffic {
  /** Errors of held connections (and echo mismatches). */
  errors: string[] = [];
  /** Failed new connections, by the number of the attempt. */
  newErrors: { seq: number; message: string }[] = [];
  /** New connections started so far. */
  started = 0;
  /** Numbers of the new connections that got their greeting. */
  readonly okSeqs = new Set<number>();
  /** How many of the new connections numbered from+1..to have finished (greeted or failed). */
  finished(from: number, to: number): number {
    let n = 0;
    for (let i = from + 1; i <= to; i++) if (this.okSeqs.has(i) || this.newErrors.some((e) => e.seq === i)) n++;
    return n;
  }
  newOk = 0;
  echoes = 0;
  private held: net.Socket[] = [];
  private timers: NodeJS.Timeout[] = [];
  readonly greetings = new Set<string>();

  private open(hold: boolean): Promise<net.Socket> {
    return new Promise((resolve, reject) => {
      const s = connectTcp(VIP, 80, { netns: client.path });
      s.setEncoding('utf8');
      let greeted = false;
      let expect = '';
      let got = '';
      s.on('data', (d: string) => {
        if (!greeted) {
          greeted = true;
          this.greetings.add(d.trim());
          if (!hold) s.end();
          resolve(s);
          return;
        }
        got += d;
        if (expect && got.length >= expect.length) {
          if (got !== expect) this.errors.push(`echo mismatch: ${JSON.stringify(got)} != ${JSON.stringify(expect)}`);
          else this.echoes++;
          got = '';
          expect = '';
        }
      });
      s.on('error', (e) => (greeted ? this.errors.push(`held connection: ${e.message}`) : reject(e)));
      s.on('close', () => {
        if (hold && !this.stopping) this.errors.push('a held connection closed');
      });
      (s as net.Socket & { ping?: (n: number) => void }).ping = (n: number) => {
        if (expect) return; // the previous echo is still on its way
        expect = `ping ${n}\n`;
        s.write(expect);
      };
    });
  }
  private stopping = false;

  async start(n: number): Promise<void> {
    for (let i = 0; i < n; i++) this.held.push(await this.open(true));
    let k = 0;
    this.timers.push(setInterval(() => this.held.forEach((s) => (s as net.Socket & { ping: (n: number) => void }).ping(k++)), 50));
    this.timers.push(setInterval(() => {
      const seq = ++this.started;
      this.open(false).then(() => (this.newOk++, this.okSeqs.add(seq)), (e: Error) => this.newErrors.push({ seq, message: e.message }));
    }, 100));
  }

  stop(): void {
    this.stopping = true;
    for (const t of this.timers) clearInterval(t);
    for (const s of this.held) s.destroy();
  }
}

function scrape(): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: METRICS_PORT, path: '/metrics' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

/** `ipvs-ts run --check FILE --netns DIRECTOR`, the real executable. */
function check(file: string): Promise<{ code: number | null; out: string; err: string }> {
  const proc = spawn(process.execPath, [BIN, 'run', '--check', file, '--netns', director.name], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (err += d));
  return new Promise((resolve) => proc.once('close', (code) => resolve({ code, out, err })));
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ipvs-ts-daemon-'));
  client = createNetns('dm-client');
  director = createNetns('dm-dir');
  servers = createNetns('dm-rs');
  veth(client, 'eth0', '10.60.0.2/24', director, 'vethC', '10.60.0.1/24');
  director.ip('addr', 'add', `${VIP}/32`, 'dev', 'vethC');
  director.exec('sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
  veth(director, 'vethR', '10.61.0.1/24', servers, 'eth0', `${A}/24`);
  for (const a of [B, C, D]) servers.ip('addr', 'add', `${a}/24`, 'dev', 'eth0');
  servers.ip('route', 'add', 'default', 'via', '10.61.0.1');
  serverProc = servers.spawn(process.execPath, ['-e', SERVERS, ...RS], { stdio: ['pipe', 'pipe', 'inherit'] });
  const serverOut = new OutputLines(serverProc.stdout!);
  (serverProc as ChildProcess & { lines: OutputLines }).lines = serverOut;
  await serverOut.next(/^ready$/, 20_000);
  // A service the daemon does not own: never touched.
  director.ipvsadm('-A', '-t', `${VIP}:99`, '-s', 'rr');
  director.ipvsadm('-a', '-t', `${VIP}:99`, '-r', `${D}:${PORT}`, '-m', '-w', '3');
}, 60_000);

afterAll(() => {
  serverProc?.kill('SIGKILL');
  for (const ns of [client, director, servers]) ns?.destroy();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('ipvs-ts run', () => {
  const traffic = new Traffic();
  let daemon: Daemon;
  let file: string;
  /** New connections started before C's weight 0 was seen in the kernel. */
  let quiescedAt = 0;

  it('starts: the table of the configuration, weights set by the first checks; the unowned service untouched', async () => {
    file = writeConfig('director.json', V1);
    daemon = startDaemon(file, '--on-exit', 'quiesce', '--metrics-listen', `127.0.0.1:${METRICS_PORT}`);
    await daemon.out.next(/^ready: 2 services, 4 destinations, 1 checked/, 30_000);
    await expect.poll(() => weights(80), POLL).toEqual({ [A]: 5, [B]: 5, [C]: 5 });
    expect(weights(81)).toEqual({ [A]: 1 });
    expect(weights(99)).toEqual({ [D]: 3 });
    expect(addresses()).toContain(`${VIP2}/32`);
    expect(daemon.out.all).toContain(`start: host: + address ${VIP2}/32 on vethC`);
    await daemon.out.next(new RegExp(`^TCP ${VIP}:80 ${A}:${PORT}: unknown -> up`.replace(/\./g, '\\.')), 5000, 0);
  }, 40_000);

  it('a server that stops listening is quiesced by its check, established connections stay', async () => {
    await traffic.start(6);
    expect(traffic.greetings.size).toBeGreaterThanOrEqual(2);
    (serverProc.stdin as NodeJS.WritableStream).write(`close ${C}\n`);
    await daemon.out.next(new RegExp(`${C.replace(/\./g, '\\.')}:${PORT}: up -> down`));
    await expect.poll(() => weights(80), POLL).toEqual({ [A]: 5, [B]: 5, [C]: 0 });
    // Until its check saw it, new connections scheduled to C were refused (or reset from its accept queue) by its
    // host: the server's doing. Held connections, including those on C, are unaffected.
    for (const e of traffic.newErrors) expect(e.message).toMatch(/ECONNREFUSED|ECONNRESET/);
    expect(traffic.errors).toEqual([]);
    quiescedAt = traffic.started;
  }, 20_000);

  it('SIGHUP with a changed configuration touches only the difference: no connection error, the down server stays at 0', async () => {
    writeConfig('director.json', V2); // the same file, rewritten
    const from = daemon.out.all.length;
    const echoesBefore = traffic.echoes;
    const hupAt = traffic.started;
    // Watch the director's addresses across the reload (line-buffered; listening once a probe address is seen).
    const monitor = director.spawn('stdbuf', ['-oL', 'ip', '-o', 'monitor', 'address'], { stdio: ['ignore', 'pipe', 'ignore'] });
    const changes = new OutputLines(monitor.stdout!);
    // (ip monitor has no ready signal: a probe address is added and deleted until it reports one.)
    for (let i = 200; ; i++) {
      director.ip('addr', 'add', `10.60.0.${i}/32`, 'dev', 'vethC');
      director.ip('addr', 'del', `10.60.0.${i}/32`, 'dev', 'vethC');
      const seen = await changes.next(new RegExp(`10\\.60\\.0\\.${i}/32`), 500, 0).then(() => true, () => false);
      if (seen) break;
      if (i === 240) throw new Error('ip monitor reported nothing');
    }
    daemon.proc.kill('SIGHUP');
    await daemon.out.next(/^reloaded: /, 15_000, from);
    await daemon.out.next(new RegExp(`${D.replace(/\./g, '\\.')}:${PORT}: unknown -> up`), 10_000, from);
    await expect.poll(() => weights(80), POLL).toEqual({ [A]: 5, [B]: 7, [C]: 0, [D]: 5 });
    expect(weights(82)).toEqual({ [A]: 2 });
    expect(services()).toEqual([`${VIP}:80`, `${VIP}:82`, `${VIP}:99`]);
    expect(weights(99)).toEqual({ [D]: 3 });
    // The new VIP is added; the one in both configurations is never deleted (and so never re-added).
    await changes.next(new RegExp(`^\\d+: vethC\\S*\\s+inet ${VIP3.replace(/\./g, '\\.')}/32`), 10_000, 0);
    monitor.kill();
    expect(changes.all.filter((l) => l.includes(VIP2))).toEqual([]);
    expect(addresses()).toContain(`${VIP2}/32`);
    const reloadLines = daemon.out.all.slice(from);
    expect(reloadLines).toContain(`reload: host: + address ${VIP3}/32 on vethC`);
    expect(reloadLines.filter((l) => l.includes('host: - address'))).toEqual([]);
    // The reload's own operations: service 81 deleted, 82 added with its destination; nothing of service 80 but by its checker.
    const ops = reloadLines.filter((l) => l.startsWith('reload: '));
    expect(ops.some((l) => l.includes(`${VIP}:81`) && l.startsWith('reload: -'))).toBe(true);
    expect(ops.some((l) => l.includes(`${VIP}:82`) && l.startsWith('reload: +'))).toBe(true);
    expect(ops.filter((l) => l.includes(`${VIP}:80`))).toEqual([]);
    // Only B (new weight) and D (new) moved in service 80; A was not touched, C never left 0.
    const weightLines = reloadLines.filter((l) => l.startsWith(`TCP ${VIP}:80: `));
    expect(weightLines.join('\n')).not.toMatch(new RegExp(`${A.replace(/\./g, '\\.')}:${PORT}`));
    expect(weightLines.join('\n')).not.toMatch(new RegExp(`${C.replace(/\./g, '\\.')}:${PORT} 0 -> `));
    // Connections: the held ones kept echoing, new ones kept coming, no error at all.
    await expect.poll(() => traffic.echoes - echoesBefore, POLL).toBeGreaterThan(30);
    expect(traffic.errors).toEqual([]);
    expect(traffic.newErrors.filter((e) => e.seq > quiescedAt)).toEqual([]);
    // Every new connection started from the SIGHUP until now reached a server.
    const end = traffic.started;
    expect(end - hupAt).toBeGreaterThanOrEqual(3);
    await expect.poll(() => traffic.finished(hupAt, end), POLL).toBe(end - hupAt);
    expect(traffic.newErrors.filter((e) => e.seq > quiescedAt)).toEqual([]);
  }, 30_000);

  it('a reload with an invalid configuration is refused in one line; the running one stays', async () => {
    const before = director.ipvsadm('-Sn');
    const from = daemon.out.all.length;
    writeConfig('director.json', JSON.stringify({ ...V2, health: [{ ...health(80), intervalMs: -5 }] }));
    daemon.proc.kill('SIGHUP');
    const line = await daemon.out.next(/^reload refused/, 10_000, from);
    expect(line).toContain('health[0].intervalMs: must be a positive integer');
    expect(director.ipvsadm('-Sn')).toBe(before);
    writeConfig('director.json', V2);
  }, 15_000);

  it('--check names the bad field (exit 3) and touches nothing; a good file with --netns shows the plan', async () => {
    const bad = writeConfig('bad.json', JSON.stringify({ ...V2, health: [{ ...health(80), fall: 0 }] }));
    const before = director.ipvsadm('-Sn');
    const r = await check(bad);
    expect(r.code).toBe(3);
    expect(r.err).toBe(`ipvs-ts: ${bad}: health[0].fall: must be a positive integer\n`);
    expect(r.out).toBe('');
    const good = await check(file);
    expect(good.code).toBe(0);
    expect(good.out).toBe(`${file}: valid json configuration: 2 services, 5 destinations, 1 checked\nplan: no changes\n`);
    expect(director.ipvsadm('-Sn')).toBe(before);
  }, 30_000);

  it('serves metrics: node_exporter names from one table read, health state and check latency', async () => {
    const text = await scrape();
    const labels = (rs: string) => `local_address="${VIP}",local_port="80",remote_address="${rs}",remote_port="${PORT}",proto="TCP",local_mark=""`;
    expect(text).toContain(`node_ipvs_backend_weight{${labels(B)}} 7\n`);
    expect(text).toContain(`node_ipvs_backend_weight{${labels(C)}} 0\n`);
    expect(text).toMatch(/^node_ipvs_connections_total \d+$/m);
    expect(text).toContain(`ipvs_ts_destination_up{${labels(A)}} 1\n`);
    expect(text).toContain(`ipvs_ts_destination_up{${labels(C)}} 0\n`);
    expect(text).toContain(`ipvs_ts_destination_state{${labels(C)},state="down"} 1\n`);
    expect(text).toMatch(new RegExp(`^ipvs_ts_destination_check_latency_seconds\\{${labels(A).replace(/[.]/g, '\\.')}\\} [0-9.e-]+$`, 'm'));
    expect(text).toContain('ipvs_ts_reloads_total 1\n');
    expect(text).toContain('ipvs_ts_reload_failures_total 1\n');
    const active = [...text.matchAll(/^node_ipvs_backend_connections_active\{local_address="10\.60\.0\.100",local_port="80",[^}]*\} (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
    expect(active).toBeGreaterThanOrEqual(6); // the held connections
  }, 10_000);

  it('SIGTERM with --on-exit quiesce: exit 0, the daemon\'s destinations at weight 0, established connections stay', async () => {
    daemon.proc.kill('SIGTERM');
    expect(await daemon.exited, daemon.out.all.join('\n')).toBe(0);
    expect(daemon.out.all).toContain('stopped (on exit: quiesce): 4 destination(s) set to weight 0');
    expect(weights(80)).toEqual({ [A]: 0, [B]: 0, [C]: 0, [D]: 0 });
    expect(weights(82)).toEqual({ [A]: 0 });
    expect(weights(99)).toEqual({ [D]: 3 });
    expect(addresses()).toMatch(new RegExp(`${VIP2}/32[^]*${VIP3}/32`)); // a quiesced director keeps its VIPs
    const echoes = traffic.echoes;
    await expect.poll(() => traffic.echoes - echoes, POLL).toBeGreaterThan(10);
    traffic.stop();
    expect(traffic.errors).toEqual([]);
  }, 20_000);

  it('restarted, it adopts the table (checks decide the weights); SIGTERM with leave leaves it as it is', async () => {
    daemon = startDaemon(file);
    await daemon.out.next(/^ready: /, 30_000);
    await expect.poll(() => weights(80), POLL).toEqual({ [A]: 5, [B]: 7, [C]: 0, [D]: 5 });
    expect(weights(82)).toEqual({ [A]: 2 });
    const before = director.ipvsadm('-Sn');
    daemon.proc.kill('SIGTERM');
    expect(await daemon.exited, daemon.out.all.join('\n')).toBe(0);
    expect(daemon.out.all).toContain('stopped (on exit: leave): table left as it is');
    expect(director.ipvsadm('-Sn')).toBe(before);
  }, 40_000);

  it('SIGTERM with --on-exit flush deletes what the daemon configured, nothing else', async () => {
    daemon = startDaemon(file, '--on-exit', 'flush');
    await daemon.out.next(/^ready: /, 30_000);
    daemon.proc.kill('SIGTERM');
    expect(await daemon.exited, daemon.out.all.join('\n')).toBe(0);
    expect(services()).toEqual([`${VIP}:99`]);
    expect(weights(99)).toEqual({ [D]: 3 });
    // Its VIPs go too (the test's own stays).
    expect(addresses()).not.toContain(VIP2);
    expect(addresses()).not.toContain(VIP3);
    expect(addresses()).toContain(`${VIP}/32`);
    expect(daemon.out.all).toContain(`stop: host: - address ${VIP3}/32 on vethC`);
  }, 40_000);
});
