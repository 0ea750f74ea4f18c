/**
 * The peer link: authenticated, replay-safe heartbeats over UDP (unicast,
 * multicast or broadcast), with Linux-HA heartbeat's timers (keepalive,
 * warntime, deadtime, initdead) turned into peer states. See docs/heartbeat.md.
 * @module
 */
import { createSocket, type Socket } from 'node:dgram';
import { EventEmitter } from 'node:events';
import { isIPv4 } from 'node:net';
import { networkInterfaces } from 'node:os';
import { InvalidArgumentError } from '../errors.js';
import { nextGeneration } from './generation.js';
import { normaliseKeys, type HeartbeatKeys } from './keys.js';
import { ReplayWindow } from './replay.js';
import { DROP_REASONS, MAX_PAYLOAD, MAX_U32, decodePacket, encodePacket, type DropReason, type PacketTypeName } from './wire.js';

/** heartbeat's `udpport`: the default UDP port. */
export const DEFAULT_HEARTBEAT_PORT = 694;

/** A peer: its node id, and for unicast where to send. */
export interface HeartbeatPeer {
  /** The peer's node id (1..2^32-1). */
  nodeId: number;
  /** IPv4 address to send to (unicast only). */
  address?: string;
  /** UDP port on the peer (default: `port`). */
  port?: number;
}

/** Options of {@link Heartbeat.open}. */
export interface HeartbeatOptions {
  /** This node's id (1..2^32-1), unique in the cluster. */
  nodeId: number;
  /** Cluster id (0..65535, default 1): packets of other clusters are dropped. */
  cluster?: number;
  /** Every peer of the cluster. Packets from other node ids are dropped. */
  peers: HeartbeatPeer[];
  /** File holding this node's generation; increased (durably) at every open. */
  stateFile: string;
  /** Keys by id; every key is accepted on receive. */
  keys: HeartbeatKeys;
  /** Id of the key that signs what this node sends. */
  activeKey: number;
  /** Send to a multicast group instead of each peer's address. */
  multicast?: { group: string; interface: string; ttl?: number };
  /** Send to the IPv4 broadcast address of an interface instead. */
  broadcast?: { interface: string };
  /** Local address to bind (default 0.0.0.0). */
  bindAddress?: string;
  /** UDP port (default 694). */
  port?: number;
  /** Time between heartbeats (`keepalive`), default 1000 ms. */
  intervalMs?: number;
  /** Silence after which a peer is `late` (`warntime`), default deadMs / 2. */
  warnMs?: number;
  /** Silence after which a peer is `dead` (`deadtime`), default 3 × intervalMs. */
  deadMs?: number;
  /** At start, silence after which a never-heard peer is `dead` (`initdead`), default 2 × deadMs. */
  initDeadMs?: number;
  /** Initial payload (at most 64 bytes). */
  payload?: Uint8Array;
}

/** Liveness of a peer. `unknown`: not heard since start, initDeadMs not over yet. */
export type PeerState = 'unknown' | 'up' | 'late' | 'dead';

/** A change of a peer's state, emitted as `'peer'`, in order. */
export interface PeerEvent {
  /** The peer. */
  nodeId: number;
  /** State before. */
  from: PeerState;
  /** State now. */
  to: PeerState;
  /** Why: `heartbeat`, `warn-timeout`, `dead-timeout`, `init-dead`, `goodbye`. */
  reason: string;
  /** The peer's generation when it changed (0 if never heard). */
  generation: number;
  /** `Date.now()` of the change. */
  at: number;
}

/** An accepted packet, emitted as `'message'` (after the `'peer'` event it causes). */
export interface HeartbeatMessage {
  /** The sender. */
  nodeId: number;
  /** Packet type. */
  type: PacketTypeName;
  /** Sender's generation. */
  generation: number;
  /** Sequence number. */
  sequence: number;
  /** Id of the key that authenticated it. */
  keyId: number;
  /** Whether this packet is the first of a new generation of a peer heard before (it restarted). */
  restarted: boolean;
  /** False for a late packet (reordered behind a newer one): its payload did not replace the newer one's. */
  newest: boolean;
  /** The sender's payload. */
  payload: Uint8Array;
}

/** A dropped datagram, emitted as `'drop'`. */
export interface HeartbeatDrop {
  /** Why it was dropped. */
  reason: DropReason;
  /** Source address and port. */
  from: string;
}

/** Status of one peer. */
export interface PeerStatus {
  /** The peer. */
  nodeId: number;
  /** Its state. */
  state: PeerState;
  /** Highest generation accepted from it (0: none). */
  generation: number;
  /** Highest sequence accepted in that generation. */
  sequence: number;
  /** Payload of its newest packet (empty before the first packet). */
  payload: Uint8Array;
  /** `Date.now()` of the last accepted packet (0: never). */
  lastSeen: number;
}

/** Counters of {@link Heartbeat.stats}. */
export interface HeartbeatStats {
  /** Packets sent (one per destination). */
  sent: number;
  /** Send errors (the link keeps going). */
  sendErrors: number;
  /** Socket errors (emitted as `'error'` when someone listens). */
  socketErrors: number;
  /** Datagrams received, all of them. */
  received: number;
  /** Packets accepted. */
  accepted: number;
  /** This node's own packets looped back (multicast/broadcast), ignored. */
  own: number;
  /** Dropped datagrams by reason. */
  dropped: Record<DropReason, number>;
}

interface PeerRecord {
  spec: HeartbeatPeer;
  /** Accepted packets so far: a timer that fired checks nothing arrived since. */
  epoch: number;
  state: PeerState;
  window: ReplayWindow;
  payload: Uint8Array;
  lastSeen: number;
  warnTimer?: NodeJS.Timeout;
  deadTimer?: NodeJS.Timeout;
}

function u32(field: string, v: unknown, lo = 1): number {
  if (!Number.isInteger(v) || (v as number) < lo || (v as number) > MAX_U32) throw new InvalidArgumentError(field, `must be an integer ${lo}..${MAX_U32}, got ${String(v)}`);
  return v as number;
}

function ms(field: string, v: unknown, fallback: number): number {
  if (v === undefined) return fallback;
  if (!Number.isInteger(v) || (v as number) < 1 || (v as number) > 3_600_000) throw new InvalidArgumentError(field, `must be an integer 1..3600000 (ms), got ${String(v)}`);
  return v as number;
}

function interfaceV4(field: string, name: string): { address: string; netmask: string } {
  const entry = networkInterfaces()[name]?.find((a) => a.family === 'IPv4');
  if (!entry) throw new InvalidArgumentError(field, `no interface ${name} with an IPv4 address in this network namespace`);
  return entry;
}

function broadcastOf(address: string, netmask: string): string {
  const a = address.split('.').map(Number);
  const m = netmask.split('.').map(Number);
  return a.map((x, i) => (x | (~m[i]! & 0xff)) & 0xff).join('.');
}

/**
 * One node's end of the heartbeat link. Emits, in order:
 * `'peer'` ({@link PeerEvent}), `'message'` ({@link HeartbeatMessage}),
 * `'drop'` ({@link HeartbeatDrop}), `'error'` (socket errors, only if listened
 * to: without a listener they are counted in `stats().socketErrors`).
 *
 * It runs in the network namespace of its process: Node's `dgram` sockets
 * cannot be opened in another namespace, so to run a node elsewhere, start
 * its process there (`ip netns exec NAME node ...`). There is no `netns`
 * option, and passing one is refused.
 *
 * @example
 * ```ts
 * const hb = await Heartbeat.open({ nodeId: 1, peers: [{ nodeId: 2, address: '10.0.0.2' }],
 *   stateFile: '/var/lib/lb/heartbeat.gen', keys: { 1: 'a secret of at least 16 bytes' }, activeKey: 1,
 *   intervalMs: 200, deadMs: 600 });
 * hb.on('peer', (e) => console.log(`node ${e.nodeId}: ${e.from} -> ${e.to} (${e.reason})`));
 * ```
 */
export class Heartbeat extends EventEmitter {
  /** This node's id. */
  readonly nodeId: number;
  /** Cluster id. */
  readonly cluster: number;
  /** Timers in effect. */
  readonly timers: { intervalMs: number; warnMs: number; deadMs: number; initDeadMs: number };
  private gen: number;
  private seq = 0;
  private keys: Map<number, Uint8Array>;
  private active: number;
  private payload: Uint8Array;
  private readonly peerMap = new Map<number, PeerRecord>();
  private readonly counters: HeartbeatStats;
  private sendTimer?: NodeJS.Timeout;
  private closed = false;

  private constructor(
    options: HeartbeatOptions,
    private readonly socket: Socket,
    private readonly destinations: { address: string; port: number }[],
    private readonly stateFile: string,
    keys: Map<number, Uint8Array>,
    generation: number,
    timers: Heartbeat['timers'],
  ) {
    super();
    this.nodeId = options.nodeId;
    this.cluster = options.cluster ?? 1;
    this.timers = timers;
    this.keys = keys;
    this.active = options.activeKey;
    this.gen = generation;
    this.payload = Uint8Array.from(options.payload ?? []);
    this.counters = { sent: 0, sendErrors: 0, socketErrors: 0, received: 0, accepted: 0, own: 0, dropped: Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<DropReason, number> };
    for (const p of options.peers) this.peerMap.set(p.nodeId, { spec: p, state: 'unknown', epoch: 0, window: new ReplayWindow(), payload: new Uint8Array(0), lastSeen: 0 });
  }

  /**
   * Validates the options, increases the generation in `stateFile`, binds the
   * UDP socket, starts sending every `intervalMs` and watching the peers.
   * Throws InvalidArgumentError naming the field before anything is opened.
   */
  static async open(options: HeartbeatOptions): Promise<Heartbeat> {
    if (options === null || typeof options !== 'object') throw new InvalidArgumentError('options', 'must be an object');
    if ('netns' in options) {
      throw new InvalidArgumentError('netns', 'not supported: a heartbeat runs in the network namespace of its process; start the process there (ip netns exec NAME node ...)');
    }
    u32('nodeId', options.nodeId);
    const cluster = options.cluster ?? 1;
    if (!Number.isInteger(cluster) || cluster < 0 || cluster > 0xffff) throw new InvalidArgumentError('cluster', `must be an integer 0..65535, got ${String(cluster)}`);
    const port = options.port ?? DEFAULT_HEARTBEAT_PORT;
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new InvalidArgumentError('port', `must be an integer 1..65535, got ${String(port)}`);
    const keys = normaliseKeys(options.keys, options.activeKey);
    if (typeof options.stateFile !== 'string' || !options.stateFile) throw new InvalidArgumentError('stateFile', 'must be a file path (the generation is kept there)');
    if (options.payload && options.payload.length > MAX_PAYLOAD) throw new InvalidArgumentError('payload', `at most ${MAX_PAYLOAD} bytes`);
    const intervalMs = ms('intervalMs', options.intervalMs, 1000);
    const deadMs = ms('deadMs', options.deadMs, 3 * intervalMs);
    const warnMs = ms('warnMs', options.warnMs, Math.max(1, Math.floor(deadMs / 2)));
    const initDeadMs = ms('initDeadMs', options.initDeadMs, 2 * deadMs);
    if (deadMs <= intervalMs) throw new InvalidArgumentError('deadMs', `must be more than intervalMs (${intervalMs}), got ${deadMs}`);
    if (warnMs >= deadMs) throw new InvalidArgumentError('warnMs', `must be less than deadMs (${deadMs}), got ${warnMs}`);
    if (initDeadMs < deadMs) throw new InvalidArgumentError('initDeadMs', `must be at least deadMs (${deadMs}), got ${initDeadMs}`);
    if (!Array.isArray(options.peers) || options.peers.length === 0) throw new InvalidArgumentError('peers', 'must list at least one peer');
    const seen = new Set<number>();
    options.peers.forEach((p, i) => {
      u32(`peers[${i}].nodeId`, p?.nodeId);
      if (p.nodeId === options.nodeId) throw new InvalidArgumentError(`peers[${i}].nodeId`, 'is this node\'s own id');
      if (seen.has(p.nodeId)) throw new InvalidArgumentError(`peers[${i}].nodeId`, `node ${p.nodeId} listed twice`);
      seen.add(p.nodeId);
      if (p.address !== undefined && !isIPv4(p.address)) throw new InvalidArgumentError(`peers[${i}].address`, `must be an IPv4 address, got ${String(p.address)}`);
      if (p.port !== undefined && (!Number.isInteger(p.port) || p.port < 1 || p.port > 65535)) throw new InvalidArgumentError(`peers[${i}].port`, 'must be an integer 1..65535');
    });
    if (options.multicast && options.broadcast) throw new InvalidArgumentError('multicast', 'give multicast or broadcast, not both');
    const destinations: { address: string; port: number }[] = [];
    let membership: { group: string; local: string; ttl: number } | undefined;
    if (options.multicast) {
      const { group, interface: iface, ttl = 1 } = options.multicast;
      if (!isIPv4(group) || Number(group.split('.')[0]) < 224 || Number(group.split('.')[0]) > 239) throw new InvalidArgumentError('multicast.group', `must be an IPv4 multicast address, got ${String(group)}`);
      if (!Number.isInteger(ttl) || ttl < 1 || ttl > 255) throw new InvalidArgumentError('multicast.ttl', 'must be an integer 1..255');
      membership = { group, local: interfaceV4('multicast.interface', iface).address, ttl };
      destinations.push({ address: group, port });
    } else if (options.broadcast) {
      const a = interfaceV4('broadcast.interface', options.broadcast.interface);
      destinations.push({ address: broadcastOf(a.address, a.netmask), port });
    } else {
      options.peers.forEach((p, i) => {
        if (!p.address) throw new InvalidArgumentError(`peers[${i}].address`, 'is required for unicast (or give multicast / broadcast)');
        destinations.push({ address: p.address, port: p.port ?? port });
      });
    }
    if (options.bindAddress !== undefined && !isIPv4(options.bindAddress)) throw new InvalidArgumentError('bindAddress', 'must be an IPv4 address');

    const generation = nextGeneration(options.stateFile);
    const socket = createSocket({ type: 'udp4', reuseAddr: true });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, options.bindAddress ?? '0.0.0.0', () => {
        socket.off('error', reject);
        resolve();
      });
    }).catch((e) => {
      socket.close();
      throw e;
    });
    try {
      if (membership) {
        socket.addMembership(membership.group, membership.local);
        socket.setMulticastInterface(membership.local);
        socket.setMulticastTTL(membership.ttl);
        socket.setMulticastLoopback(false);
      }
      if (options.broadcast) socket.setBroadcast(true);
    } catch (e) {
      socket.close();
      throw e;
    }
    const hb = new Heartbeat(options, socket, destinations, options.stateFile, keys, generation, { intervalMs, warnMs, deadMs, initDeadMs });
    hb.start();
    return hb;
  }

  private start(): void {
    this.socket.on('message', (msg, rinfo) => this.receive(msg, `${rinfo.address}:${rinfo.port}`));
    // Without an 'error' listener an EventEmitter would throw: count instead.
    this.socket.on('error', (e) => {
      this.counters.socketErrors++;
      if (this.listenerCount('error') > 0) this.emit('error', e);
    });
    for (const [, peer] of this.peerMap) {
      peer.deadTimer = this.timeout(peer, 'dead', 'init-dead', this.timers.initDeadMs);
    }
    this.send('heartbeat');
    this.sendTimer = setInterval(() => this.send('heartbeat'), this.timers.intervalMs);
  }

  /** This node's generation (increased at every open). */
  get generation(): number {
    return this.gen;
  }

  /** Id of the key that signs outgoing packets. */
  get activeKey(): number {
    return this.active;
  }

  /** Sets the payload carried by the following heartbeats (at most 64 bytes). */
  setPayload(payload: Uint8Array): void {
    if (!(payload instanceof Uint8Array) || payload.length > MAX_PAYLOAD) throw new InvalidArgumentError('payload', `must be at most ${MAX_PAYLOAD} bytes`);
    this.payload = Uint8Array.from(payload);
  }

  /** Sends a heartbeat now (e.g. right after a state change), without moving the schedule. */
  sendNow(): void {
    this.send('heartbeat');
  }

  /** Switches the signing key to another id of the key set (rotation). */
  setActiveKey(id: number): void {
    if (!this.keys.has(id)) throw new InvalidArgumentError('activeKey', `no key with id ${String(id)}`);
    this.active = id;
  }

  /** Replaces the key set (e.g. after reloading an authkeys file). */
  setKeys(keys: HeartbeatKeys, activeKey: number): void {
    this.keys = normaliseKeys(keys, activeKey);
    this.active = activeKey;
  }

  /** Status of every peer. */
  peers(): PeerStatus[] {
    return [...this.peerMap.values()].map((p) => ({
      nodeId: p.spec.nodeId,
      state: p.state,
      generation: p.window.generation,
      sequence: p.window.highest,
      payload: p.payload,
      lastSeen: p.lastSeen,
    }));
  }

  /** Counters, including drops by reason (a copy). */
  stats(): HeartbeatStats {
    return { ...this.counters, dropped: { ...this.counters.dropped } };
  }

  private send(type: PacketTypeName): void {
    if (this.closed) return;
    if (this.seq >= MAX_U32) {
      // Sequence space used up: move to a new generation rather than wrap.
      this.gen = nextGeneration(this.stateFile);
      this.seq = 0;
    }
    const packet = encodePacket(
      { type, keyId: this.active, cluster: this.cluster, nodeId: this.nodeId, generation: this.gen, sequence: ++this.seq, payload: this.payload },
      this.keys.get(this.active)!,
    );
    for (const d of this.destinations) {
      this.socket.send(packet, d.port, d.address, (err) => {
        if (err) this.counters.sendErrors++;
        else this.counters.sent++;
      });
    }
  }

  private drop(reason: DropReason, from: string): void {
    this.counters.dropped[reason]++;
    this.emit('drop', { reason, from } satisfies HeartbeatDrop);
  }

  private receive(data: Buffer, from: string): void {
    this.counters.received++;
    if (this.closed) return;
    const r = decodePacket(data, (id) => this.keys.get(id));
    if (!r.ok) return this.drop(r.reason, from);
    const p = r.packet;
    if (p.cluster !== this.cluster) return this.drop('other-cluster', from);
    if (p.nodeId === this.nodeId) {
      this.counters.own++;
      return;
    }
    const peer = this.peerMap.get(p.nodeId);
    if (!peer) return this.drop('unknown-peer', from);
    const verdict = peer.window.check(p.generation, p.sequence);
    if (!verdict.ok) return this.drop(verdict.reason, from);
    // Accepted: from here on the state changes.
    peer.window.commit(p.generation, p.sequence);
    peer.epoch++;
    this.counters.accepted++;
    peer.lastSeen = Date.now();
    // A late (reordered) packet proves liveness, but must not overwrite what a newer one said.
    if (verdict.newest) peer.payload = p.payload;
    if (p.type === 'goodbye') {
      this.clearTimers(peer);
      this.change(peer, 'dead', 'goodbye');
    } else {
      this.clearTimers(peer);
      peer.warnTimer = this.timeout(peer, 'late', 'warn-timeout', this.timers.warnMs);
      peer.deadTimer = this.timeout(peer, 'dead', 'dead-timeout', this.timers.deadMs);
      if (peer.state !== 'up') this.change(peer, 'up', verdict.restarted ? 'restarted' : 'heartbeat');
    }
    this.emit('message', { nodeId: p.nodeId, keyId: p.keyId, type: p.type, generation: p.generation, sequence: p.sequence, restarted: verdict.restarted, newest: verdict.newest, payload: p.payload } satisfies HeartbeatMessage);
  }

  /**
   * A silence timer. When it fires, the change waits for one `setImmediate`:
   * after the event loop was blocked (a long synchronous call, a starved
   * CPU), timers run before the datagrams waiting in the socket are read, and
   * a peer that did send would be declared late or dead. The immediate runs
   * after those reads; the change happens only if none was accepted.
   */
  private timeout(peer: PeerRecord, to: PeerState, reason: string, ms: number): NodeJS.Timeout {
    const epoch = peer.epoch;
    return setTimeout(() => setImmediate(() => {
      if (peer.epoch === epoch) this.change(peer, to, reason);
    }), ms);
  }

  private clearTimers(peer: PeerRecord): void {
    clearTimeout(peer.warnTimer);
    clearTimeout(peer.deadTimer);
    peer.warnTimer = peer.deadTimer = undefined;
  }

  private change(peer: PeerRecord, to: PeerState, reason: string): void {
    if (peer.state === to || this.closed) return;
    if (to === 'dead') this.clearTimers(peer);
    const from = peer.state;
    peer.state = to;
    this.emit('peer', { nodeId: peer.spec.nodeId, from, to, reason, generation: peer.window.generation, at: Date.now() } satisfies PeerEvent);
  }

  /**
   * Stops the link. With `goodbye` (default true) it first tells the peers,
   * which then mark this node dead at once instead of after deadMs.
   */
  async close(options: { goodbye?: boolean } = {}): Promise<void> {
    if (this.closed) return;
    clearInterval(this.sendTimer);
    for (const [, p] of this.peerMap) this.clearTimers(p);
    if (options.goodbye !== false) {
      this.send('goodbye');
      // Let the goodbye datagrams leave before the socket closes.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    this.closed = true;
    await new Promise<void>((resolve) => this.socket.close(() => resolve()));
  }
}
