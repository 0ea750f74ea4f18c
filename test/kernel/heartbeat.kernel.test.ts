// Heartbeat, election and failover with real packets: two directors and a
// client (plus an attacker) in namespaces of their own on one bridge. Each
// director is a separate node process (fixtures/heartbeat-node.mjs) run with
// `ip netns exec`, reporting on stdout as JSON lines; the test awaits those
// lines, never a fixed sleep. The directors talk by broadcast, so the
// attacker's namespace hears (captures) their packets.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createNetns, run, type Netns } from './harness.js';

const FIXTURE = 'test/kernel/fixtures/heartbeat-node.mjs';
const VIP = '10.20.0.50';
const RS = '10.20.0.10';
const PORT = 694;
const INTERVAL = 100;
// Generous enough that a node process starving on the sandbox's one slow CPU is not declared dead.
const DEAD = 800;
const KEYS = { 1: 'first shared key, 16+ bytes', 2: 'second shared key, 16+ bytes' };

type Line = Record<string, unknown> & { event: string };

/** A node process: its stdout lines, and a way to await one. */
class Proc {
  readonly lines: Line[] = [];
  private waiters: { pred: (l: Line) => boolean; resolve: (l: Line) => void }[] = [];
  exited: Promise<void>;
  constructor(readonly child: ChildProcess, readonly name: string) {
    createInterface({ input: child.stdout! }).on('line', (text) => {
      let l: Line;
      try {
        l = JSON.parse(text) as Line;
      } catch {
        return;
      }
      this.lines.push(l);
      this.waiters = this.waiters.filter((w) => (w.pred(l) ? (w.resolve(l), false) : true));
    });
    child.stderr!.on('data', (d: Buffer) => process.stderr.write(`[${name}] ${d.toString()}`));
    this.exited = new Promise((r) => child.on('exit', () => r()));
  }
  /** The first line from index `from` on matching `pred` (already seen or to come). */
  wait(pred: (l: Line) => boolean, what: string, from = 0, timeoutMs = 20_000): Promise<Line> {
    const seen = this.lines.slice(from).find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name}: timed out waiting for ${what}; last lines: ${JSON.stringify(this.lines.slice(-8))}`)), timeoutMs);
      this.waiters.push({ pred, resolve: (l) => (clearTimeout(timer), resolve(l)) });
    });
  }
  send(cmd: string): void {
    this.child.stdin!.write(`${cmd}\n`);
  }
  async ask(cmd: string, event: string): Promise<Line> {
    const from = this.lines.length;
    this.send(cmd);
    return this.wait((l) => l.event === event, event, from);
  }
  transitions(from = 0): Line[] {
    return this.lines.slice(from).filter((l) => l.event === 'transition');
  }
  /** What happened, for assertion messages: transitions and peer changes. */
  story(): string {
    return JSON.stringify(this.lines.filter((l) => l.event === 'transition' || l.event === 'peer').map((l) => (l.event === 'peer' ? `peer ${l.nodeId} ${l.from}>${l.to} ${l.reason} @${l.at}` : `${l.from}>${l.to} ${l.reason} @${l.at}`)));
  }
}

const isTo = (to: string) => (l: Line) => l.event === 'transition' && l.to === to;

describe('heartbeat failover between two directors (real packets)', () => {
  let lan: Netns, d1: Netns, d2: Netns, client: Netns, attacker: Netns, rs: Netns;
  let stateDir: string;
  let p1: Proc, p2: Proc, evil: Proc, echo: Proc;
  const mac: Record<string, string> = {};

  function config(id: 1 | 2, priority: number, preempt = true) {
    return {
      heartbeat: {
        nodeId: id,
        peers: [{ nodeId: id === 1 ? 2 : 1 }],
        broadcast: { interface: 'eth0' },
        port: PORT,
        stateFile: join(stateDir, `node${id}.gen`),
        keys: KEYS,
        activeKey: 1,
        intervalMs: INTERVAL,
        warnMs: 400,
        deadMs: DEAD,
        initDeadMs: 3000,
      },
      election: { priority, preempt, preemptDelayMs: 300 },
      // ipfail: +100 while the client (port 7: answered by a RST) is reachable.
      ping: { nodes: ['10.20.0.100'], weight: 100, intervalMs: 500, timeoutMs: 2000 },
      vip: { address: `${VIP}/24`, interface: 'eth0', announce: { count: 3, intervalMs: 100 } },
      sync: { interface: 'eth0', syncId: 7 },
      ipvs: {
        services: [
          // Answered by the director itself (local node): says which director holds the VIP.
          { protocol: 'tcp', address: VIP, port: 80, scheduler: 'rr', destinations: [{ address: `10.20.0.${id}`, port: 8080, forward: 'masq' }] },
          // Direct routing to the real server: its connections are synced to the backup.
          { protocol: 'tcp', address: VIP, port: 81, scheduler: 'rr', destinations: [{ address: RS, port: 81, forward: 'route' }] },
        ],
      },
    };
  }

  function start(ns: Netns, name: string, cfg: object): Proc {
    return new Proc(ns.spawn('node', [FIXTURE, JSON.stringify(cfg)], { stdio: ['pipe', 'pipe', 'pipe'] }), name);
  }

  /** A long-lived TCP connection from the client to VIP:81, echoed by the real server. */
  let session: Proc | undefined;
  async function openSession(): Promise<void> {
    session = start(client, 'session', { role: 'session', address: VIP, port: 81 });
    await session.wait((l) => l.event === 'ready' || l.event === 'error', 'session connected').then((l) => {
      if (l.event === 'error') throw new Error(`session: ${String(l.message)}`);
    });
  }
  async function echoOnce(text: string): Promise<void> {
    const from = session!.lines.length;
    session!.send(text);
    await session!.wait((l) => (l.event === 'echo' && l.line === text) || l.event === 'closed', `echo of ${text}`, from, 15_000).then((l) => {
      if (l.event === 'closed') throw new Error(`the connection closed instead of echoing ${text}`);
    });
  }

  /** Connects from the client namespace to ADDR:PORT and returns what the server says. */
  const fetchFrom = (addr: string, port: number): string =>
    client.exec('bash', ['-c', `exec 3<>/dev/tcp/${addr}/${port}; timeout 5 cat <&3`]).trim();

  const daemons = (ns: Netns) => [...ns.ipvsadm('-L', '--daemon').matchAll(/^(master|backup) sync daemon \(mcast=eth0, syncid=7/gm)].map((m) => m[1]!).sort();

  const hasVip = (ns: Netns) => ns.ip('-o', '-4', 'addr', 'show', 'dev', 'eth0').includes(`${VIP}/24`);

  async function until(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!cond()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  beforeAll(async () => {
    stateDir = mkdtempSync(join(tmpdir(), 'hb-kernel-'));
    lan = createNetns('hb-lan');
    lan.ip('link', 'add', 'br0', 'type', 'bridge');
    lan.ip('link', 'set', 'br0', 'up');
    const hosts: [Netns, string][] = [];
    d1 = createNetns('hb-d1');
    d2 = createNetns('hb-d2');
    client = createNetns('hb-client');
    attacker = createNetns('hb-evil');
    rs = createNetns('hb-rs');
    hosts.push([d1, '10.20.0.1'], [d2, '10.20.0.2'], [client, '10.20.0.100'], [attacker, '10.20.0.66'], [rs, RS]);
    hosts.forEach(([ns, addr], i) => {
      run('ip', ['link', 'add', `p${i}`, 'netns', lan.name, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns.name]);
      lan.ip('link', 'set', `p${i}`, 'master', 'br0');
      lan.ip('link', 'set', `p${i}`, 'up');
      ns.ip('addr', 'add', `${addr}/24`, 'dev', 'eth0');
      ns.ip('link', 'set', 'eth0', 'up');
      mac[ns.name] = /link\/ether ([0-9a-f:]+)/.exec(ns.ip('link', 'show', 'eth0'))![1]!;
    });
    // The real server of the DR service: VIP on lo, not answering ARP for it.
    rs.ip('addr', 'add', `${VIP}/32`, 'dev', 'lo');
    rs.exec('sysctl', ['-qw', 'net.ipv4.conf.all.arp_ignore=1', 'net.ipv4.conf.all.arp_announce=2']);
    echo = start(rs, 'rs', { role: 'echo', port: 81 });
    evil = start(attacker, 'attacker', { role: 'attacker', port: PORT });
    p1 = start(d1, 'd1', config(1, 150));
    await p1.wait((l) => l.event === 'ready', 'd1 ready');
    p2 = start(d2, 'd2', config(2, 100));
    await Promise.all([p2.wait((l) => l.event === 'ready', 'd2 ready'), evil.wait((l) => l.event === 'ready', 'attacker ready'), echo.wait((l) => l.event === 'ready', 'rs ready')]);
  }, 120_000);

  afterAll(() => {
    session?.child.kill('SIGKILL');
    for (const p of [p1, p2, evil, echo]) p?.child.kill('SIGKILL');
    for (const ns of [d1, d2, client, attacker, rs, lan]) ns?.destroy();
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('elects exactly one master; the VIP is there only, and a client reaches the service through it', async () => {
    await p1.wait(isTo('master'), 'd1 master');
    await p2.wait((l) => l.event === 'peer' && l.nodeId === 1 && l.to === 'up', 'd2 hears d1');
    // d2's election may report its first transition after the peer event: wait for it, then nothing else.
    await p2.wait(isTo('backup'), 'd2 backup');
    expect(p2.transitions().map((t) => t.to)).toEqual(['backup']);
    expect(hasVip(d1)).toBe(true);
    expect(hasVip(d2)).toBe(false);
    expect(d1.ipvsadm('-Ln')).toContain(`TCP  ${VIP}:80 rr`);
    expect(d2.ipvsadm('-Ln')).not.toContain(VIP);
    // The sync daemon follows the role: master on the master, backup on the backup.
    expect(daemons(d1)).toEqual(['master']);
    expect(daemons(d2)).toEqual(['backup']);
    // Through IPVS (VIP:80 -> 10.20.0.1:8080), answered by node 1.
    expect(fetchFrom(VIP, 80)).toBe('1');
    expect(client.ip('neigh', 'show', VIP), `MACs ${JSON.stringify(mac)}; d1 ${d1.ip('-br', 'link')}; d2 ${d2.ip('-br', 'link')}; ${JSON.stringify(p1.lines.filter((l) => l.event !== 'message'))}`).toContain(mac[d1.name]);
  });

  it('drops forged, modified, replayed and garbage packets from a third namespace, counts them, no transition', async () => {
    const captured = (await evil.ask('captured', 'captured')).packets as string[];
    const fromD1 = captured.filter((h) => Buffer.from(h, 'hex').readUInt32BE(12) === 1);
    expect(fromD1.length).toBeGreaterThan(3);
    const before = (await p2.ask('stats', 'stats')).dropped as Record<string, number>;
    const t0 = p2.transitions().length;
    // A packet signed with a wrong key (ours, well-formed otherwise).
    const forged = Buffer.from(fromD1.at(-1)!, 'hex');
    forged.writeUInt32BE(forged.readUInt32BE(20) + 1000, 20);
    createHmac('sha256', 'not the key of this cluster').update(forged.subarray(0, forged.length - 32)).digest().copy(forged, forged.length - 32);
    const flipped = Buffer.from(fromD1.at(-1)!, 'hex');
    flipped[flipped.length - 40]! ^= 0x10;
    for (const data of [forged, flipped, Buffer.alloc(2048, 0xab), Buffer.from('0badc0de', 'hex')]) {
      await evil.ask(`send ${data.toString('hex')} 10.20.0.2 ${PORT}`, 'sent');
    }
    await evil.ask(`replay 0 ${captured.length} 10.20.0.2 ${PORT}`, 'sent');
    const after = (await p2.ask('stats', 'stats')).dropped as Record<string, number>;
    expect(after['bad-mac']! - before['bad-mac']!).toBe(2);
    expect(after.oversized! - before.oversized!).toBe(1);
    expect(after.truncated! - before.truncated!).toBe(1);
    // Each captured packet of d1 was seen already: a replay within the 64-packet window, out of it beyond.
    // (A datagram may still be lost in the kernel on the slow sandbox CPU, hence 90 %.)
    expect(after.replay! - before.replay! + after['out-of-window']! - before['out-of-window']!).toBeGreaterThanOrEqual(Math.floor(fromD1.length * 0.9));
    expect(after.replay! - before.replay!).toBeGreaterThan(0);
    // And none was accepted: d1's accepted sequence numbers only ever increased.
    const seqs = p2.lines.filter((l) => l.event === 'message' && l.nodeId === 1).map((l) => l.sequence as number);
    expect(seqs.every((s, i) => i === 0 || s > seqs[i - 1]!)).toBe(true);
    expect(p2.transitions().length).toBe(t0);
  });

  it('SIGKILL of the master: the backup takes over within deadMs + one interval, its ARP moves the client, new connections succeed, a synced connection survives', async () => {
    // A connection through the VIP to the real server, opened before the takeover.
    await openSession();
    for (const n of [1, 2, 3, 4]) await echoOnce(`before ${n}`);
    // The sync daemon gave the backup its entry.
    await until(() => /TCP .* 10\.20\.0\.100:\d+ +10\.20\.0\.50:81 +10\.20\.0\.10:81/.test(d2.ipvsadm('-Lnc')), 'the connection synced to d2');
    const captured = ((await evil.ask('captured', 'captured')).packets as string[]).length;
    const from = p2.lines.length;
    const killedAt = Date.now();
    p1.child.kill('SIGKILL');
    // While the master is dead, the attacker replays everything it captured of it.
    const replaying = (async () => {
      while (!p2.transitions(from).some((t) => t.to === 'master')) await evil.ask(`replay 0 ${captured} 10.20.0.2 ${PORT}`, 'sent');
    })();
    const t = await p2.wait(isTo('master'), 'd2 master', from);
    await replaying;
    const took = (t.at as number) - killedAt;
    console.log(`takeover ${took} ms after SIGKILL (deadMs ${DEAD}, interval ${INTERVAL})`);
    // deadMs + one interval, plus scheduling slack on the slow, shared sandbox
    // CPU (three node processes and an attacker replaying meanwhile); the
    // logged time is the measurement (713-833 ms seen with these timers).
    expect(took).toBeLessThanOrEqual(DEAD + INTERVAL + 150);
    expect(t.reason).toMatch(/no live master/);
    await p1.exited;
    await p2.wait((l) => l.event === 'resource' && String(l.name).startsWith('vip') && l.action === 'acquire', 'vip acquired', from);
    expect(hasVip(d2)).toBe(true);
    expect(p2.transitions(from).map((l) => l.to)).toEqual(['master']);
    const stats = await p2.ask('stats', 'stats');
    expect((stats.dropped as Record<string, number>).replay).toBeGreaterThan(0);
    // The gratuitous ARP updated the client's entry to d2's MAC.
    await until(() => client.ip('neigh', 'show', VIP).includes(mac[d2.name]!), 'client neighbour entry to move to d2');
    expect(fetchFrom(VIP, 80)).toBe('2');
    expect(daemons(d2)).toEqual(['master']);
    // The connection opened through d1 goes on through d2.
    await echoOnce('after takeover');
  });

  it('the old master restarts with a higher generation and, with preempt, takes back after preemptDelayMs; old-generation packets are refused', async () => {
    const from2 = p2.lines.length;
    p1 = start(d1, 'd1', config(1, 150));
    const ready = await p1.wait((l) => l.event === 'ready', 'd1 ready again');
    expect(ready.generation).toBe(2);
    const up = await p2.wait((l) => l.event === 'peer' && l.nodeId === 1 && l.to === 'up', 'd2 hears d1 again', from2);
    expect(up.generation).toBe(2);
    const m = await p1.wait(isTo('master'), 'd1 master again');
    expect(m.reason).toMatch(/preempting node 2/);
    const back = await p2.wait(isTo('backup'), 'd2 yields', from2);
    expect(back.reason).toMatch(/node 1 is master with priority 250/);
    await until(() => hasVip(d1) && !hasVip(d2), 'VIP back on d1 only');
    await until(() => client.ip('neigh', 'show', VIP).includes(mac[d1.name]!), 'client neighbour entry back to d1');
    expect(fetchFrom(VIP, 80)).toBe('1');
    await until(() => daemons(d1).join() === 'master' && daemons(d2).join() === 'backup', 'sync daemons to follow the roles');
    // Packets of d1's first life (generation 1), captured then: stale now.
    const before = (await p2.ask('stats', 'stats')).dropped as Record<string, number>;
    const t0 = p2.transitions().length;
    await evil.ask(`replay 0 20 10.20.0.2 ${PORT}`, 'sent');
    const after = (await p2.ask('stats', 'stats')).dropped as Record<string, number>;
    expect(after['stale-generation']! - before['stale-generation']!).toBeGreaterThan(0);
    expect(p2.transitions().length, `d2: ${p2.story()} d1: ${p1.story()}`).toBe(t0);
  });

  it('rotates the key on both nodes one after the other with no transition', async () => {
    const t1 = p1.transitions().length, t2 = p2.transitions().length;
    const start1 = p1.lines.length, start2 = p2.lines.length;
    const from2 = p2.lines.length;
    await p1.ask('key 2', 'key');
    // d2 still signs with key 1 and accepts d1's packets under key 2.
    await p2.wait((l) => l.event === 'message' && l.nodeId === 1 && l.keyId === 2, 'd2 accepting key 2', from2);
    const from1 = p1.lines.length;
    await p2.ask('key 2', 'key');
    await p1.wait((l) => l.event === 'message' && l.nodeId === 2 && l.keyId === 2, 'd1 accepting key 2', from1);
    expect(p1.transitions().length, p1.story()).toBe(t1);
    expect(p2.transitions().length, p2.story()).toBe(t2);
    for (const [p, start] of [[p1, start1], [p2, start2]] as const) {
      const s = await p.ask('stats', 'stats');
      expect((s.dropped as Record<string, number>)['unknown-key']).toBe(0);
      // A peer may show 'late' for a moment when a process starves on the sandbox's CPU; never 'dead'.
      expect(p.lines.slice(start).filter((l) => l.event === 'peer' && l.to === 'dead')).toEqual([]);
    }
  });

  it('partition (netem loss 100%): both become master; on healing the loser yields within one interval and the winner re-announces', async () => {
    const from1 = p1.lines.length, from2 = p2.lines.length;
    // Both directions cut, links left up: d2's egress, and the bridge port's egress towards d2.
    d2.exec('tc', ['qdisc', 'add', 'dev', 'eth0', 'root', 'netem', 'loss', '100%']);
    lan.exec('tc', ['qdisc', 'add', 'dev', 'p1', 'root', 'netem', 'loss', '100%']);
    await p2.wait(isTo('master'), 'd2 master during the partition', from2);
    expect(hasVip(d1) && hasVip(d2)).toBe(true);
    expect(p1.transitions(from1)).toEqual([]);
    // d1 -> d2 first: from then on d1's next heartbeat reaches d2.
    lan.exec('tc', ['qdisc', 'del', 'dev', 'p1', 'root']);
    const healedAt = Date.now();
    d2.exec('tc', ['qdisc', 'del', 'dev', 'eth0', 'root']);
    const yielded = await p2.wait(isTo('backup'), 'd2 yields after healing', from2);
    expect(yielded.reason).toMatch(/node 1 is master with priority 250/);
    await p1.wait((l) => l.event === 'reannounce' && l.nodeId === 2, 'd1 re-announces', from1);
    await p1.wait((l) => l.event === 'resource' && l.action === 'reannounce' && !l.error, 'd1 VIP re-announced', from1);
    const healMs = (yielded.at as number) - healedAt;
    console.log(`split brain healed ${healMs} ms after the partition ended (interval ${INTERVAL} ms)`);
    // One interval, plus scheduling slack on the slow, shared sandbox CPU.
    expect(healMs).toBeLessThanOrEqual(INTERVAL + 200);
    expect(p1.transitions(from1)).toEqual([]);
    await until(() => hasVip(d1) && !hasVip(d2), 'VIP on d1 only');
    await until(() => client.ip('neigh', 'show', VIP).includes(mac[d1.name]!), 'client neighbour entry on d1');
    expect(fetchFrom(VIP, 80)).toBe('1');
  });

  it('ping node (ipfail): the director that loses its path to the ping node yields to the one that has it, and takes back when it returns', async () => {
    const from1 = p1.lines.length, from2 = p2.lines.length;
    // The client stops answering d1 (its replies to d1 are blackholed): d1 reaches 0 of 1 ping nodes.
    client.ip('route', 'add', 'blackhole', '10.20.0.1/32');
    const m2 = await p2.wait(isTo('master'), 'd2 preempts', from2);
    expect(m2.reason).toMatch(/preempting node 1 \(priority 200 > 150\)/);
    const b1 = await p1.wait(isTo('backup'), 'd1 yields', from1);
    expect(b1.reason).toMatch(/node 2 is master with priority 200/);
    await until(() => hasVip(d2) && !hasVip(d1), 'VIP on d2 only');
    client.ip('route', 'del', 'blackhole', '10.20.0.1/32');
    const back = await p1.wait(isTo('master'), 'd1 takes back', p1.lines.indexOf(b1));
    expect(back.reason).toMatch(/preempting node 2 \(priority 250 > 200\)/);
    await until(() => hasVip(d1) && !hasVip(d2), 'VIP back on d1 only');
  });

  it('without preempt (auto_failback off), the restarted higher-priority director stays backup', async () => {
    const from2 = p2.lines.length;
    p1.child.kill('SIGKILL');
    await p2.wait(isTo('master'), 'd2 takes over', from2);
    await p1.exited;
    p1 = start(d1, 'd1', config(1, 150, false));
    const ready = await p1.wait((l) => l.event === 'ready', 'd1 ready (no preempt)');
    expect(ready.generation).toBe(3);
    const backup = await p1.wait(isTo('backup'), 'd1 backup');
    // Well past preemptDelayMs: 10 heartbeats of d2 as master, and d1 has not moved.
    const i = p1.lines.indexOf(backup);
    let seen = 0;
    await p1.wait((l) => l.event === 'message' && l.nodeId === 2 && ++seen >= 10, '10 heartbeats from d2', i);
    expect(p1.transitions().map((t) => t.to)).toEqual(['backup']);
    expect(hasVip(d2) && !hasVip(d1)).toBe(true);
  });
});
