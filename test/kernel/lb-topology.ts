// A load-balancing testbed for real traffic (schedulers and connection-table
// kernel tests): a client namespace with many source addresses, a NAT
// director with virtual addresses, and one namespace holding four real
// servers, each answering with its own address. One long-lived node process
// in the client namespace makes all the connections (node starts slowly in
// the sandbox); one in the server namespace answers for all four servers.
//
//   client (10.3.0.0/23, fd00:3::/64)  --c0/d0--  director  --d1/s0--  servers 10.5.0.11-14, fd00:5::11-14
//   VIPs 10.4.0.1-16 and fd00:4::1 live on the director; servers route back through it.
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { ChildProcess } from 'node:child_process';
import { createNetns, run, type Netns } from './harness.js';

export const SERVERS4 = ['10.5.0.11', '10.5.0.12', '10.5.0.13', '10.5.0.14'];
export const SERVERS6 = ['fd00:5::11', 'fd00:5::12', 'fd00:5::13', 'fd00:5::14'];
export const SERVER_PORT = 8080;
export const VIP6 = 'fd00:4::1';
/** The i-th IPv4 virtual address (1-based, up to 16). */
export const vip4 = (i: number) => `10.4.0.${i}`;

/** n IPv4 client source addresses: 10.3.0.1 upwards inside 10.3.0.0/23. */
export function clientSources4(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `10.3.${(i + 1) >> 8}.${(i + 1) & 255}`);
}
/** n IPv6 client source addresses: fd00:3::100 upwards. */
export function clientSources6(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `fd00:3::${(0x100 + i).toString(16)}`);
}

/** One connection for the client process to make. */
export interface ConnectRequest {
  src: string;
  vip: string;
  port: number;
  /** Keep it open until closeHeld(). */
  hold?: boolean;
}

/** What one connection reached: the answering server's address, or an error code. */
export interface ConnectResult {
  name?: string;
  error?: string;
  sport?: number;
}

export interface Testbed {
  client: Netns;
  director: Netns;
  servers: Netns;
  /** Make connections one after another (order matters for rr, wrr and the count-based schedulers). */
  connect(conns: ConnectRequest[]): Promise<ConnectResult[]>;
  /** Make connections up to `parallel` at a time (for hashing schedulers, where order does not matter). */
  connectParallel(conns: ConnectRequest[], parallel?: number): Promise<ConnectResult[]>;
  /** Close the connections kept open. */
  closeHeld(): Promise<void>;
  destroy(): void;
}

const CLIENT = `
const net = require('net');
const held = [];
const out = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
function one(c) {
  return new Promise((res) => {
    const s = net.connect({ host: c.vip, port: c.port, localAddress: c.src });
    let d = '';
    let done = false;
    const finish = (r) => { if (!done) { done = true; clearTimeout(t); res(r); } };
    const t = setTimeout(() => { s.destroy(); finish({ error: 'timeout', sport: s.localPort }); }, 3000);
    s.setEncoding('utf8');
    s.on('data', (b) => {
      d += b;
      if (d.includes('\\n')) {
        finish({ name: d.trim(), sport: s.localPort });
        if (c.hold) held.push(s); else s.end();
      }
    });
    s.on('error', (e) => { finish({ error: e.code, sport: s.localPort }); });
  });
}
async function all(conns, parallel) {
  const results = new Array(conns.length);
  let next = 0;
  const worker = async () => { while (next < conns.length) { const i = next++; results[i] = await one(conns[i]); } };
  await Promise.all(Array.from({ length: Math.max(1, parallel) }, worker));
  return results;
}
require('readline').createInterface({ input: process.stdin }).on('line', async (line) => {
  const m = JSON.parse(line);
  if (m.close) { for (const s of held) s.destroy(); held.length = 0; out({ id: m.id, results: [] }); return; }
  out({ id: m.id, results: await all(m.conns, m.parallel || 1) });
});
out({ ready: true });
`;

const SERVER = `
const net = require('net');
const srv = net.createServer((s) => {
  s.on('error', () => {});
  s.write(s.localAddress.replace(/^::ffff:/, '') + '\\n');
  s.on('end', () => s.end());
});
srv.listen(${SERVER_PORT}, '::', () => process.stdout.write('ready\\n'));
`;

function lines(child: ChildProcess): AsyncIterator<string> {
  return createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
}

function veth(a: Netns, aName: string, b: Netns, bName: string): void {
  run('ip', ['link', 'add', aName, 'netns', a.name, 'type', 'veth', 'peer', 'name', bName, 'netns', b.name]);
}

/** Run `ip -batch` commands inside a namespace (hundreds of addresses in one process). */
function ipBatch(ns: Netns, commands: string[]): void {
  const dir = mkdtempSync(join(tmpdir(), 'ipvs-ts-batch-'));
  try {
    const file = join(dir, 'batch');
    writeFileSync(file, commands.join('\n') + '\n');
    ns.exec('ip', ['-batch', file]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Build the testbed with `n4` IPv4 and `n6` IPv6 client addresses. */
export async function createTestbed(prefix: string, n4: number, n6: number): Promise<Testbed> {
  const client = createNetns(`${prefix}-c`);
  const director = createNetns(`${prefix}-d`);
  const servers = createNetns(`${prefix}-s`);
  const destroyAll = () => {
    for (const ns of [client, director, servers]) ns.destroy();
  };
  try {
    veth(client, 'c0', director, 'd0');
    veth(director, 'd1', servers, 's0');
    ipBatch(client, [
      'addr add 10.3.1.254/23 dev c0',
      'addr add fd00:3::1/64 dev c0 nodad',
      ...clientSources4(n4).map((a) => `addr add ${a}/32 dev c0`),
      ...clientSources6(n6).map((a) => `addr add ${a}/128 dev c0 nodad`),
      'link set c0 up',
      'route add 10.4.0.0/24 via 10.3.1.253',
      'route add fd00:4::/64 via fd00:3::fffe',
    ]);
    ipBatch(director, [
      'addr add 10.3.1.253/23 dev d0',
      'addr add fd00:3::fffe/64 dev d0 nodad',
      'addr add 10.5.0.254/24 dev d1',
      'addr add fd00:5::fffe/64 dev d1 nodad',
      ...Array.from({ length: 16 }, (_, i) => `addr add ${vip4(i + 1)}/32 dev d0`),
      `addr add ${VIP6}/128 dev d0 nodad`,
      'link set d0 up',
      'link set d1 up',
    ]);
    ipBatch(servers, [
      ...SERVERS4.map((a) => `addr add ${a}/24 dev s0`),
      ...SERVERS6.map((a) => `addr add ${a}/64 dev s0 nodad`),
      'link set s0 up',
      'route add default via 10.5.0.254',
      'route add default via fd00:5::fffe',
    ]);
    director.exec('sysctl', ['-qw', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']);
    // Wait for the server namespace's default IPv6 route to be usable and for the servers to listen.
    const server = servers.spawn(process.execPath, ['-e', SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
    const clientProc = client.spawn(process.execPath, ['-e', CLIENT], { stdio: ['pipe', 'pipe', 'inherit'] });
    const serverLines = lines(server);
    const clientLines = lines(clientProc);
    if ((await serverLines.next()).value !== 'ready') throw new Error('server process did not start');
    if (!JSON.parse((await clientLines.next()).value as string).ready) throw new Error('client process did not start');
    let id = 0;
    // One request at a time: the tests await each answer before sending the next.
    let queue: Promise<unknown> = Promise.resolve();
    const request = (msg: object): Promise<ConnectResult[]> => {
      const p = queue.then(async () => {
        const my = ++id;
        clientProc.stdin!.write(JSON.stringify({ ...msg, id: my }) + '\n');
        const r = await clientLines.next();
        if (r.done) throw new Error('client process ended');
        const answer = JSON.parse(r.value) as { id: number; results: ConnectResult[] };
        if (answer.id !== my) throw new Error(`client answered ${answer.id}, expected ${my}`);
        return answer.results;
      });
      queue = p.catch(() => undefined);
      return p;
    };
    return {
      client,
      director,
      servers,
      connect: (conns) => request({ conns, parallel: 1 }),
      connectParallel: (conns, parallel = 24) => request({ conns, parallel }),
      closeHeld: async () => {
        await request({ close: true });
      },
      destroy: destroyAll,
    };
  } catch (e) {
    destroyAll();
    throw e;
  }
}
