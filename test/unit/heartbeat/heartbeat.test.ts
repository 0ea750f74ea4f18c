// The peer link between two nodes on loopback (real UDP), plus a third socket
// playing the attacker: it captures node 1's packets (node 1 also sends to it)
// and resends or alters them towards node 2.
import { afterEach, describe, expect, it } from 'vitest';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Heartbeat, type HeartbeatOptions, type PeerEvent } from '../../../src/heartbeat/heartbeat.js';
import { encodePacket } from '../../../src/heartbeat/wire.js';

const KEYS = { 1: 'first key of sixteen+ bytes', 2: 'second key of sixteen+ bytes' };
const base = 41000 + (process.pid % 1000) * 4;
const P1 = base, P2 = base + 1, PSPY = base + 2;
const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

function dir(): string {
  const d = mkdtempSync(join(tmpdir(), 'hb-'));
  cleanup.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

async function node(id: 1 | 2, over: Partial<HeartbeatOptions> = {}, stateDir = dir()): Promise<Heartbeat> {
  const hb = await Heartbeat.open({
    nodeId: id,
    port: id === 1 ? P1 : P2,
    bindAddress: '127.0.0.1',
    peers: id === 1
      ? [{ nodeId: 2, address: '127.0.0.1', port: P2 }, { nodeId: 3, address: '127.0.0.1', port: PSPY }]
      : [{ nodeId: 1, address: '127.0.0.1', port: P1 }],
    stateFile: join(stateDir, `gen${id}`),
    keys: KEYS,
    activeKey: 1,
    intervalMs: 50,
    deadMs: 200,
    initDeadMs: 400,
    ...over,
  });
  cleanup.push(() => hb.close({ goodbye: false }));
  return hb;
}

function peerEvents(hb: Heartbeat): PeerEvent[] {
  const events: PeerEvent[] = [];
  hb.on('peer', (e: PeerEvent) => events.push(e));
  return events;
}

function waitPeer(hb: Heartbeat, nodeId: number, to: string): Promise<PeerEvent> {
  return new Promise((resolve) => {
    const f = (e: PeerEvent) => {
      if (e.nodeId === nodeId && e.to === to) {
        hb.off('peer', f);
        resolve(e);
      }
    };
    hb.on('peer', f);
  });
}

async function spy(): Promise<{ socket: Socket; packets: Buffer[] }> {
  const socket = createSocket('udp4');
  const packets: Buffer[] = [];
  socket.on('message', (m) => packets.push(m));
  socket.bind(PSPY, '127.0.0.1');
  await once(socket, 'listening');
  cleanup.push(() => new Promise<void>((r) => socket.close(() => r())));
  return { socket, packets };
}

const sendTo = (s: Socket, data: Uint8Array, port: number) => new Promise<void>((resolve, reject) => s.send(data, port, '127.0.0.1', (e) => (e ? reject(e) : resolve())));

describe('Heartbeat', () => {
  it('validates options, naming the field', async () => {
    const ok = { nodeId: 1, peers: [{ nodeId: 2, address: '127.0.0.1' }], stateFile: join(dir(), 'g'), keys: KEYS, activeKey: 1 };
    await expect(Heartbeat.open({ ...ok, nodeId: 0 })).rejects.toThrow(/^nodeId:/);
    await expect(Heartbeat.open({ ...ok, peers: [{ nodeId: 2 }] })).rejects.toThrow(/peers\[0\]\.address: is required for unicast/);
    await expect(Heartbeat.open({ ...ok, intervalMs: 100, deadMs: 100 })).rejects.toThrow(/^deadMs/);
    await expect(Heartbeat.open({ ...ok, activeKey: 5 })).rejects.toThrow(/^activeKey/);
    await expect(Heartbeat.open({ ...ok, netns: '/run/netns/x' } as HeartbeatOptions)).rejects.toThrow(/netns: not supported/);
    await expect(Heartbeat.open({ ...ok, multicast: { group: '10.0.0.1', interface: 'lo' } })).rejects.toThrow(/multicast\.group/);
  });

  it('peers come up, go late then dead in order when silent, and come back with a new generation', async () => {
    const d1 = dir();
    const a = await node(1, {}, d1);
    const b = await node(2);
    const events = peerEvents(b);
    await waitPeer(b, 1, 'up');
    expect(a.generation).toBe(1);
    await a.close({ goodbye: false });
    await waitPeer(b, 1, 'dead');
    expect(events.map((e) => `${e.from}>${e.to}:${e.reason}`)).toEqual(['unknown>up:heartbeat', 'up>late:warn-timeout', 'late>dead:dead-timeout']);
    const late = events[1]!.at - events[0]!.at;
    expect(events[2]!.at - events[1]!.at).toBeGreaterThan(50);
    expect(late).toBeGreaterThan(0);
    const a2 = await node(1, {}, d1);
    expect(a2.generation).toBe(2);
    const up = await waitPeer(b, 1, 'up');
    expect(up.reason).toBe('restarted');
    expect(up.generation).toBe(2);
    expect(b.peers()[0]).toMatchObject({ nodeId: 1, state: 'up', generation: 2 });
  });

  it('a goodbye marks the sender dead at once; a never-heard peer is dead after initDeadMs', async () => {
    const a = await node(1);
    const b = await node(2);
    await waitPeer(b, 1, 'up');
    const t0 = Date.now();
    const dead = waitPeer(b, 1, 'dead');
    await a.close();
    const e = await dead;
    expect(e.reason).toBe('goodbye');
    expect(Date.now() - t0).toBeLessThan(150);
    const lonely = await node(2, { port: base + 3 });
    const e2 = await waitPeer(lonely, 1, 'dead');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(400);
    expect(e2).toMatchObject({ from: 'unknown', reason: 'init-dead' });
  });

  it('drops forged, flipped, replayed, stale and garbage packets, counts them, and changes nothing', async () => {
    const { socket, packets } = await spy();
    const d1 = dir();
    // Generous dead/warn times: on a loaded machine a late heartbeat is not what this test is about.
    const slow = { deadMs: 5000, warnMs: 4000, initDeadMs: 5000 };
    const old = await node(1, slow, d1);
    while (packets.length < 3) await once(socket, 'message');
    const oldGeneration = packets.slice();
    await old.close({ goodbye: false });
    packets.length = 0;
    const a = await node(1, slow, d1);
    const b = await node(2, slow);
    await waitPeer(b, 1, 'up');
    while (packets.length < 3) await once(socket, 'message');
    const events = peerEvents(b);
    const seq = b.peers()[0]!.sequence;
    const before = b.stats();
    const flipped = Buffer.from(packets[0]!);
    flipped[20]! ^= 1;
    const attacks: [Uint8Array, string][] = [
      [packets[0]!, 'replay'],
      [packets[1]!, 'replay'],
      [oldGeneration[0]!, 'stale-generation'],
      [flipped, 'bad-mac'],
      [encodePacket({ type: 'heartbeat', keyId: 1, cluster: 1, nodeId: 1, generation: 99, sequence: 1, payload: new Uint8Array() }, Buffer.from('a wrong key of 16+ bytes')), 'bad-mac'],
      [encodePacket({ type: 'goodbye', keyId: 9, cluster: 1, nodeId: 1, generation: 99, sequence: 1, payload: new Uint8Array() }, Buffer.from('a wrong key of 16+ bytes')), 'unknown-key'],
      [encodePacket({ type: 'heartbeat', keyId: 2, cluster: 1, nodeId: 3, generation: 1, sequence: 1, payload: new Uint8Array() }, Buffer.from(KEYS[2])), 'unknown-peer'],
      [encodePacket({ type: 'heartbeat', keyId: 2, cluster: 2, nodeId: 1, generation: 99, sequence: 1, payload: new Uint8Array() }, Buffer.from(KEYS[2])), 'other-cluster'],
      [Buffer.from('hello'), 'truncated'],
      [Buffer.alloc(4000, 0x41), 'oversized'],
    ];
    const drops: string[] = [];
    b.on('drop', (d: { reason: string }) => drops.push(d.reason));
    // One at a time, each awaited: a burst could overflow the socket's receive buffer.
    const garbage = Array.from({ length: 200 }, (_, i) => Buffer.from(Array.from({ length: 1 + ((i * 37) % 150) }, (_, k) => (k * i) & 0xff)));
    for (const data of [...attacks.map(([d]) => d), ...garbage]) {
      const dropped = once(b, 'drop');
      await sendTo(socket, data, P2);
      await dropped;
    }
    expect(drops.slice(0, attacks.length)).toEqual(attacks.map(([, r]) => r));
    const after = b.stats();
    for (const [, r] of attacks) expect(after.dropped[r as keyof typeof after.dropped]).toBeGreaterThan(before.dropped[r as keyof typeof before.dropped]);
    expect(events).toEqual([]);
    expect(b.peers()[0]!.generation).toBe(a.generation);
    expect(b.peers()[0]!.sequence).toBeGreaterThanOrEqual(seq);
    expect(b.peers()[0]!.state).toBe('up');
  });

  it('rotates keys without a transition: the receiver accepts every key of its set', async () => {
    const slow = { deadMs: 5000, warnMs: 4000, initDeadMs: 5000 };
    const a = await node(1, slow);
    const b = await node(2, slow);
    await waitPeer(b, 1, 'up');
    const events = peerEvents(b);
    a.setActiveKey(2);
    const acceptedBefore = b.stats().accepted;
    while (b.stats().accepted < acceptedBefore + 3) await once(b, 'message');
    b.setActiveKey(2);
    a.setKeys({ 2: KEYS[2] }, 2);
    while (b.stats().accepted < acceptedBefore + 6) await once(b, 'message');
    expect(events).toEqual([]);
    expect(b.stats().dropped['unknown-key'] + b.stats().dropped['bad-mac']).toBe(0);
  });

  it('a late, reordered packet keeps the peer alive but does not overwrite the newer payload', async () => {
    const { socket } = await spy();
    const b = await node(2, { peers: [{ nodeId: 1, address: '127.0.0.1', port: PSPY }], deadMs: 5000, warnMs: 4000, initDeadMs: 5000 });
    const pkt = (sequence: number, byte: number) => encodePacket({ type: 'heartbeat', keyId: 1, cluster: 1, nodeId: 1, generation: 7, sequence, payload: Uint8Array.of(byte) }, Buffer.from(KEYS[1]));
    const got: { sequence: number; newest: boolean }[] = [];
    b.on('message', (m: { sequence: number; newest: boolean }) => got.push({ sequence: m.sequence, newest: m.newest }));
    // 8 first (everything before a generation's first packet counts as seen), then 10, then the late 9.
    for (const [seq, byte] of [[8, 0x11], [10, 0xaa], [9, 0xbb]] as const) {
      const arrived = once(b, 'message');
      await sendTo(socket, pkt(seq, byte), P2);
      await arrived;
    }
    expect(got).toEqual([{ sequence: 8, newest: true }, { sequence: 10, newest: true }, { sequence: 9, newest: false }]);
    expect([...b.peers()[0]!.payload]).toEqual([0xaa]);
  });
});
