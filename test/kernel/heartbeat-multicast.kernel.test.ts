// The heartbeat's multicast transport with real packets: two nodes, each a
// process of its own (fixtures/heartbeat-node.mjs, role "link") in a namespace
// of its own, on one bridge, talking to a group in 239.0.0.0/8 joined on
// their eth0. Each must see the other up; a third namespace on the bridge
// that joins the group sees their datagrams addressed to the group.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createNetns, run, type Netns } from './harness.js';

const FIXTURE = 'test/kernel/fixtures/heartbeat-node.mjs';
const GROUP = '239.20.0.7';
const PORT = 6694;

type Line = Record<string, unknown> & { event: string };

/** A node process: its stdout lines as JSON, and a way to await one. */
function watch(child: ChildProcess, name: string) {
  const lines: Line[] = [];
  let waiters: { pred: (l: Line) => boolean; resolve: (l: Line) => void }[] = [];
  createInterface({ input: child.stdout! }).on('line', (text) => {
    const l = JSON.parse(text) as Line;
    lines.push(l);
    waiters = waiters.filter((w) => (w.pred(l) ? (w.resolve(l), false) : true));
  });
  child.stderr!.on('data', (d: Buffer) => process.stderr.write(`[${name}] ${d.toString()}`));
  const wait = (pred: (l: Line) => boolean, what: string, timeoutMs = 20_000): Promise<Line> => {
    const seen = lines.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name}: timed out waiting for ${what}; lines: ${JSON.stringify(lines.slice(-8))}`)), timeoutMs);
      waiters.push({ pred, resolve: (l) => (clearTimeout(timer), resolve(l)) });
    });
  };
  return { child, lines, wait };
}

describe('heartbeat over multicast (239.0.0.0/8 on a bridge)', () => {
  let lan: Netns, n1: Netns, n2: Netns, listener: Netns;
  let stateDir: string;
  let nodes: ReturnType<typeof watch>[] = [];

  beforeAll(() => {
    stateDir = mkdtempSync(join(tmpdir(), 'hb-mcast-'));
    lan = createNetns('hbm-lan');
    lan.ip('link', 'add', 'br0', 'type', 'bridge');
    lan.ip('link', 'set', 'br0', 'up');
    n1 = createNetns('hbm-n1');
    n2 = createNetns('hbm-n2');
    listener = createNetns('hbm-l');
    ([[n1, '10.21.0.1'], [n2, '10.21.0.2'], [listener, '10.21.0.3']] as const).forEach(([ns, addr], i) => {
      run('ip', ['link', 'add', `m${i}`, 'netns', lan.name, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns.name]);
      lan.ip('link', 'set', `m${i}`, 'master', 'br0');
      lan.ip('link', 'set', `m${i}`, 'up');
      ns.ip('addr', 'add', `${addr}/24`, 'dev', 'eth0');
      ns.ip('link', 'set', 'eth0', 'up');
    });
  });

  afterAll(() => {
    for (const p of nodes) p.child.kill('SIGKILL');
    for (const ns of [n1, n2, listener, lan]) ns?.destroy();
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('each node sees the other up, and the datagrams go to the group', async () => {
    // A member of the group that is no node: it receives what is sent to the group.
    const sniffer = watch(
      listener.spawn('node', ['--input-type=module', '-e', `
        import { createSocket } from 'node:dgram';
        const s = createSocket({ type: 'udp4', reuseAddr: true });
        s.on('message', (m, r) => process.stdout.write(JSON.stringify({ event: 'datagram', from: r.address, bytes: m.length }) + '\\n'));
        s.bind(${PORT}, '${GROUP}', () => { s.addMembership('${GROUP}', '10.21.0.3'); process.stdout.write('{"event":"ready"}\\n'); });
      `], { stdio: ['ignore', 'pipe', 'pipe'] }),
      'listener',
    );
    nodes.push(sniffer);
    await sniffer.wait((l) => l.event === 'ready', 'listener ready');
    const node = (ns: Netns, id: number) =>
      watch(
        ns.spawn('node', [FIXTURE, JSON.stringify({
          role: 'link',
          heartbeat: {
            nodeId: id,
            peers: [{ nodeId: id === 1 ? 2 : 1 }],
            multicast: { group: GROUP, interface: 'eth0', ttl: 1 },
            port: PORT,
            stateFile: join(stateDir, `node${id}.gen`),
            keys: { 1: 'multicast test key, 16+ bytes' },
            activeKey: 1,
            intervalMs: 100,
            deadMs: 800,
            initDeadMs: 10_000,
          },
        })], { stdio: ['pipe', 'pipe', 'pipe'] }),
        `n${id}`,
      );
    const p1 = node(n1, 1), p2 = node(n2, 2);
    nodes = [...nodes, p1, p2];
    const up1 = await p1.wait((l) => l.event === 'peer' && l.nodeId === 2 && l.to === 'up', 'n1 to see n2 up');
    const up2 = await p2.wait((l) => l.event === 'peer' && l.nodeId === 1 && l.to === 'up', 'n2 to see n1 up');
    expect(up1.reason).toBe('heartbeat');
    expect(up2.reason).toBe('heartbeat');
    // Both went through the group: the third member heard each of them.
    await sniffer.wait((l) => l.event === 'datagram' && l.from === '10.21.0.1', 'a datagram of n1 on the group');
    await sniffer.wait((l) => l.event === 'datagram' && l.from === '10.21.0.2', 'a datagram of n2 on the group');
    // And neither counted its own packets (loop off) nor dropped anything.
    for (const p of [p1, p2]) {
      p.child.stdin!.write('stats\n');
      const s = await p.wait((l) => l.event === 'stats', 'stats');
      expect(s.accepted).toBeGreaterThan(0);
      expect(s.own).toBe(0);
      expect(Object.values(s.dropped as Record<string, number>).reduce((a, b) => a + b, 0)).toBe(0);
    }
    // Nobody went late or dead.
    expect([...p1.lines, ...p2.lines].filter((l) => l.event === 'peer' && l.to !== 'up')).toEqual([]);
  });
});
