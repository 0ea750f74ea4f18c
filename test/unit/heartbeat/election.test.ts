// The election state machine against a fake link and a fake clock: no
// network, no real time. Peers are set by hand (state + advert) as the
// Heartbeat would report them.
import { describe, expect, it } from 'vitest';
import { Election, outranks, type Transition } from '../../../src/heartbeat/election.js';
import { FakeClock, FakeLink } from './fakes.js';
import { LinkTracker, PingTracker, SignalTracker, tcpProbe } from '../../../src/heartbeat/trackers.js';

function setup(nodeId: number, peers: number[], options: Partial<ConstructorParameters<typeof Election>[1]> = {}) {
  const link = new FakeLink(nodeId, peers);
  const clock = new FakeClock();
  const election = new Election(link, { priority: 100, clock, ...options });
  const seen: Transition[] = [];
  election.on('transition', (t: Transition) => seen.push(t));
  const path = () => seen.map((t) => t.to).join(' ');
  return { link, clock, election, seen, path };
}

describe('Election', () => {
  it('validates options', () => {
    const link = new FakeLink(1, [2]);
    expect(() => new Election(link, { priority: 0 })).toThrow(/^priority/);
    expect(() => new Election(link, { priority: 255 })).toThrow(/^priority/);
    expect(() => new Election(link, { priority: 9, preemptDelayMs: -1 })).toThrow(/^preemptDelayMs/);
    expect(() => new Election(link, { priority: 9, trackers: [new SignalTracker('a'), new SignalTracker('a')] })).toThrow(/trackers\[1\]\.name/);
  });

  it('waits for unknown peers, then the higher priority becomes master; ties go to the higher node id', async () => {
    const a = setup(1, [2], { priority: 150 });
    await a.election.start();
    expect(a.path()).toBe('backup');
    expect(a.link.advertised).toEqual({ state: 'backup', priority: 150, preempt: true });
    a.link.peer(2, 'up', { state: 'backup', priority: 100 });
    expect(a.path()).toBe('backup master');
    expect(a.link.advertised?.state).toBe('master');

    const b = setup(2, [1], { priority: 100 });
    await b.election.start();
    b.link.peer(1, 'up', { state: 'backup', priority: 150 });
    b.link.peer(1, 'up', { state: 'master', priority: 150 });
    expect(b.path()).toBe('backup');

    const tie = setup(1, [2], { priority: 100 });
    await tie.election.start();
    tie.link.peer(2, 'up', { state: 'backup', priority: 100 });
    expect(tie.election.state).toBe('backup');
    const tie2 = setup(2, [1], { priority: 100 });
    await tie2.election.start();
    tie2.link.peer(1, 'up', { state: 'backup', priority: 100 });
    expect(tie2.election.state).toBe('master');
    expect(outranks({ nodeId: 2, priority: 100 }, { nodeId: 1, priority: 100 })).toBe(true);
  });

  it('a backup takes over when the master dies; an initdead peer counts as dead', async () => {
    const b = setup(2, [1], { priority: 100 });
    await b.election.start();
    b.link.peer(1, 'up', { state: 'master', priority: 150 });
    b.link.peer(1, 'late');
    expect(b.election.state).toBe('backup');
    b.link.peer(1, 'dead');
    expect(b.path()).toBe('backup master');
    expect(b.seen[1]!.reason).toMatch(/no live master \(dead: node 1\)/);
    // A live peer whose election has not started (no advert, or init) is waited for.
    const early = setup(2, [1]);
    await early.election.start();
    early.link.peer(1, 'up');
    early.link.peer(1, 'up', { state: 'init', priority: 100 });
    expect(early.election.state).toBe('backup');
    early.link.peer(1, 'up', { state: 'backup', priority: 50 });
    expect(early.election.state).toBe('master');
    const alone = setup(2, [1]);
    await alone.election.start();
    alone.link.peer(1, 'dead');
    expect(alone.election.state).toBe('master');
  });

  it('preempt: a returning higher priority node takes over after preemptDelayMs, the master yields to it', async () => {
    const a = setup(1, [2], { priority: 200, preemptDelayMs: 500 });
    await a.election.start();
    a.link.peer(2, 'up', { state: 'master', priority: 100 });
    expect(a.election.state).toBe('backup');
    a.clock.advance(499);
    a.link.peer(2, 'up', { state: 'master', priority: 100 });
    expect(a.election.state).toBe('backup');
    a.clock.advance(1);
    expect(a.path()).toBe('backup master');
    expect(a.seen[1]!.reason).toMatch(/preempting node 2 \(priority 200 > 100\)/);

    // The old master meets the preempting one and yields at once.
    const b = setup(2, [1], { priority: 100 });
    await b.election.start();
    b.link.peer(1, 'dead');
    expect(b.election.state).toBe('master');
    b.link.peer(1, 'up', { state: 'backup', priority: 200 });
    expect(b.election.state).toBe('master');
    b.link.peer(1, 'up', { state: 'master', priority: 200 });
    expect(b.path()).toBe('backup master backup');
  });

  it('the preempt delay restarts when the condition stops holding; without preempt the master keeps the role', async () => {
    const a = setup(1, [2], { priority: 200, preemptDelayMs: 500 });
    await a.election.start();
    a.link.peer(2, 'up', { state: 'master', priority: 100 });
    a.clock.advance(300);
    a.link.peer(2, 'up', { state: 'master', priority: 250 }); // now it outranks us: timer cancelled
    a.clock.advance(300);
    a.link.peer(2, 'up', { state: 'master', priority: 100 });
    a.clock.advance(499);
    expect(a.election.state).toBe('backup');
    a.clock.advance(1);
    expect(a.election.state).toBe('master');

    const n = setup(1, [2], { priority: 200, preempt: false });
    await n.election.start();
    n.link.peer(2, 'up', { state: 'master', priority: 100 });
    n.clock.advance(10_000);
    expect(n.path()).toBe('backup');
    expect(n.link.advertised?.preempt).toBe(false);
  });

  it('split brain: two masters meet, the loser yields at the first advert, the winner re-announces once', async () => {
    const w = setup(2, [1], { priority: 100 });
    const reannounced: unknown[] = [];
    w.election.on('reannounce', (r) => reannounced.push(r));
    await w.election.start();
    w.link.peer(1, 'dead');
    expect(w.election.state).toBe('master');
    w.link.peer(1, 'up', { state: 'master', priority: 100 });
    w.link.peer(1, 'up', { state: 'master', priority: 100 });
    expect(w.election.state).toBe('master');
    expect(reannounced).toEqual([{ nodeId: 1, at: w.clock.t }]);
    // The peer yielded before its first packet crossed: back from dead as backup, still re-announced.
    w.link.peer(1, 'dead');
    reannounced.length = 0;
    w.link.peer(1, 'up', { state: 'backup', priority: 100 });
    expect(reannounced).toEqual([{ nodeId: 1, at: w.clock.t }]);
    reannounced.length = 0;
    w.link.peer(1, 'up', { state: 'backup', priority: 100 });
    w.link.peer(1, 'up', { state: 'master', priority: 100 }); // a second partition later
    expect(reannounced).toHaveLength(1);

    const l = setup(1, [2], { priority: 100 });
    await l.election.start();
    l.link.peer(2, 'dead');
    l.link.peer(2, 'up', { state: 'master', priority: 100 });
    expect(l.path()).toBe('backup master backup');
    expect(l.seen[2]!.reason).toMatch(/node 2 is master .*node id 2 > 1/);
  });

  it('trackers: a weight moves the priority (and the role), a fault forces fault until cleared', async () => {
    const health = new SignalTracker('health');
    const a = setup(1, [2], { priority: 150, trackers: [health] });
    await a.election.start();
    a.link.peer(2, 'up', { state: 'backup', priority: 100 });
    expect(a.election.state).toBe('master');
    health.set({ weight: -60, reason: 'lost 2 of 3 ping nodes' });
    expect(a.election.priority).toBe(90);
    expect(a.link.advertised?.priority).toBe(90);
    // The peer, now better, preempts; we yield on its advert.
    a.link.peer(2, 'up', { state: 'master', priority: 100 });
    expect(a.election.state).toBe('backup');
    health.set({ fault: true, reason: 'quorum lost' });
    expect(a.election.state).toBe('fault');
    expect(a.link.advertised?.state).toBe('fault');
    health.set({ weight: 0 });
    // Back to 150 > 100: out of fault, and preempting the peer at once.
    expect(a.path()).toBe('backup master backup fault backup master');
    a.election.fault('vip resource failed');
    expect(a.election.state).toBe('fault');
    expect(a.seen.at(-1)!.reason).toBe('tracker failover: vip resource failed');
    a.election.clearFault();
    expect(a.path()).toMatch(/fault backup master$/);
  });

  it('LinkTracker: a link going down forces fault (or applies its weight), up again clears it', async () => {
    let up = true;
    const link = new LinkTracker({ interface: 'eth0', pollMs: 10, read: async () => up });
    const a = setup(1, [2], { priority: 150, trackers: [link] });
    await a.election.start();
    a.link.peer(2, 'dead');
    expect(a.election.state).toBe('master');
    up = false;
    await new Promise<void>((r) => a.election.once('transition', () => r()));
    expect(a.seen.at(-1)).toMatchObject({ from: 'master', to: 'fault', reason: 'tracker link:eth0: eth0 down' });
    up = true;
    await new Promise<void>((r) => a.election.once('transition', () => r()));
    // backup, then master again (the peer is dead) — in that order.
    expect(a.path()).toBe('backup master fault backup master');
    a.election.stop();

    let up2 = true;
    const weighted = new LinkTracker({ interface: 'eth1', weight: -20, pollMs: 10, read: async () => up2 });
    const b = setup(1, [2], { priority: 150, trackers: [weighted] });
    await b.election.start();
    up2 = false;
    while (b.election.priority !== 130) await new Promise((r) => setTimeout(r, 5));
    expect(b.election.state).toBe('backup');
    b.election.stop();
  });

  it('transitions() delivers every transition in order, each awaited before the next, and ends at stopped', async () => {
    const a = setup(1, [2], { priority: 150 });
    const it = a.election.transitions();
    const handled: string[] = [];
    const consumer = (async () => {
      for await (const t of it) {
        handled.push(`start ${t.from}>${t.to}`);
        await new Promise((r) => setTimeout(r, 5));
        handled.push(`end ${t.from}>${t.to}`);
      }
    })();
    await a.election.start();
    a.link.peer(2, 'up', { state: 'backup', priority: 100 });
    a.link.peer(2, 'up', { state: 'master', priority: 200 });
    a.election.fault('x');
    a.election.clearFault();
    a.election.stop();
    await consumer;
    const pairs = ['init>backup', 'backup>master', 'master>backup', 'backup>fault', 'fault>backup', 'backup>stopped'];
    expect(handled).toEqual(pairs.flatMap((p) => [`start ${p}`, `end ${p}`]));
  });

  it('PingTracker (ipfail): the node reaching fewer ping nodes gets the lower priority and yields', async () => {
    const reachable = new Set(['10.0.0.1', '10.0.0.2']);
    const ping = new PingTracker({ nodes: ['10.0.0.1', '10.0.0.2'], weight: 10, intervalMs: 10, probe: async (a) => reachable.has(a) });
    const n = setup(2, [1], { priority: 100, trackers: [ping] });
    await n.election.start();
    expect(n.election.priority).toBe(120);
    n.link.peer(1, 'up', { state: 'master', priority: 115 });
    expect(n.election.state).toBe('master'); // preempts: 120 > 115
    reachable.delete('10.0.0.2');
    while (n.election.priority !== 110) await new Promise((r) => setTimeout(r, 5));
    expect(n.link.advertised?.priority).toBe(110);
    // The peer, now better, takes over; this node yields on its advert.
    n.link.peer(1, 'up', { state: 'master', priority: 115 });
    expect(n.election.state).toBe('backup');
    expect(n.seen.find((t) => t.to === 'backup' && t.from === 'master')?.reason).toMatch(/node 1 is master with priority 115/);
    n.election.stop();
    expect(() => new PingTracker({ nodes: ['not-an-ip'] })).toThrow(/nodes\[0\]/);
    const none = new PingTracker({ nodes: ['10.0.0.9'], faultWhenNone: true, probe: async () => false });
    const f = setup(2, [1], { priority: 100, trackers: [none] });
    await f.election.start();
    expect(f.seen.at(-1)).toMatchObject({ to: 'fault', reason: 'tracker ping:10.0.0.9: 0 of 1 ping nodes reachable (lost 10.0.0.9)' });
    f.election.stop();
  });

  it('tcpProbe: a refused connection proves the node reachable (loopback)', async () => {
    // Port 1 on loopback: nothing listens, the kernel answers with a RST.
    expect(await tcpProbe('127.0.0.1', 1, 1000)).toBe(true);
  });
});
