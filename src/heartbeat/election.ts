/**
 * Master election on top of a heartbeat link: VRRP's priorities, preemption
 * and fault, heartbeat's auto_failback, trackers, split-brain healing, and
 * transitions delivered strictly in order. See docs/heartbeat.md.
 * @module
 */
import { EventEmitter } from 'node:events';
import { InvalidArgumentError } from '../errors.js';
import { decodeAdvert, encodeAdvert, type Advert, type ElectionState } from './advert.js';
import type { PeerStatus } from './heartbeat.js';
import type { Tracker, TrackerState } from './trackers.js';

export type { ElectionState } from './advert.js';

/** What the election needs from the link ({@link Heartbeat} provides it; tests pass a fake). */
export interface ElectionLink {
  /** This node's id. */
  readonly nodeId: number;
  /** Status of every peer. */
  peers(): PeerStatus[];
  /** Sets the payload of the following heartbeats. */
  setPayload(payload: Uint8Array): void;
  /** Sends a heartbeat now. */
  sendNow(): void;
  /** Subscribes to `'peer'` and `'message'`. */
  on(event: 'peer' | 'message', listener: (...args: any[]) => void): unknown;
  /** Unsubscribes. */
  off(event: 'peer' | 'message', listener: (...args: any[]) => void): unknown;
}

/** Timer functions (tests pass a fake clock). */
export interface ElectionClock {
  /** Milliseconds, like `Date.now()`. */
  now(): number;
  /** Like `setTimeout`. */
  setTimeout(fn: () => void, ms: number): unknown;
  /** Like `clearTimeout`. */
  clearTimeout(handle: unknown): void;
}

/** Options of {@link Election}. */
export interface ElectionOptions {
  /** Base priority 1..254 (higher wins). */
  priority: number;
  /**
   * Whether a backup with a higher priority than the master takes over
   * (VRRP preempt; heartbeat `auto_failback on`). Default true. With false,
   * a running master keeps the role until it fails.
   */
  preempt?: boolean;
  /** Wait this long, with the condition holding throughout, before preempting (default 0). */
  preemptDelayMs?: number;
  /** Trackers moving the priority or forcing fault. */
  trackers?: Tracker[];
  /** Timer functions (default: the real ones). */
  clock?: ElectionClock;
}

/** One change of state, delivered in order by {@link Election.transitions}. */
export interface Transition {
  /** State before. */
  from: ElectionState;
  /** State after. */
  to: ElectionState;
  /** Why, in words (`no master alive`, `node 2 has priority 200 > 100`, `tracker eth0: link down`...). */
  reason: string;
  /** Clock time of the change (ms). */
  at: number;
  /** Effective priority at that moment. */
  priority: number;
}

/** Emitted as `'reannounce'` when, as master, this node meets another master, or a peer back from dead, and keeps the role. */
export interface Reannounce {
  /** The other master's node id. */
  nodeId: number;
  /** Clock time (ms). */
  at: number;
}

const realClock: ElectionClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** A node competing in the election: its id and effective priority. */
export interface Candidate {
  /** Node id. */
  nodeId: number;
  /** Effective priority. */
  priority: number;
}

/** Whether `a` wins over `b`: higher priority, then higher node id. */
export function outranks(a: Candidate, b: Candidate): boolean {
  return a.priority > b.priority || (a.priority === b.priority && a.nodeId > b.nodeId);
}

/**
 * One node's side of the election. States: `init` (before {@link start}),
 * `backup`, `master`, `fault` (a tracker or a resource failed), `stopped`.
 *
 * Rules, applied at every peer change, advert, tracker change and timer:
 * - fault when any tracker (or {@link fault}) says so;
 * - a backup becomes master when no live peer is master, every peer has
 *   been heard from (with its election started) or declared dead, and it
 *   outranks every live backup;
 * - with `preempt`, a backup that outranks the master becomes master after
 *   `preemptDelayMs` (the master yields on seeing it);
 * - a master that sees a master that outranks it yields at once (split
 *   brain healed at the first packet); the winner re-announces (`'reannounce'`),
 *   as it does when a peer comes back from `dead` (it may have been master on
 *   its side of a partition, and yielded before its first packet crossed).
 *
 * Ties are broken by node id: the higher id wins.
 */
export class Election extends EventEmitter {
  private current: ElectionState = 'init';
  private readonly base: number;
  private readonly preempt: boolean;
  private readonly preemptDelayMs: number;
  private readonly clock: ElectionClock;
  private readonly trackers: Tracker[];
  private readonly trackerStates = new Map<string, TrackerState>();
  private readonly queues = new Set<{ items: Transition[]; wake?: () => void; done: boolean }>();
  private readonly mastersSeen = new Set<number>();
  private preemptTimer: unknown;
  private preemptReady = false;
  private readonly returned = new Set<number>();
  private readonly onLink = () => this.evaluate();
  private readonly onPeer = (e: { nodeId: number; from: string; to: string }) => {
    // A peer back from the dead may have been master on its side of a partition.
    if (e.from === 'dead' && e.to === 'up') this.returned.add(e.nodeId);
    this.evaluate();
  };

  /** Validates the options; nothing runs before {@link start}. */
  constructor(
    private readonly link: ElectionLink,
    options: ElectionOptions,
  ) {
    super();
    if (!Number.isInteger(options?.priority) || options.priority < 1 || options.priority > 254) throw new InvalidArgumentError('priority', `must be an integer 1..254, got ${String(options?.priority)}`);
    const delay = options.preemptDelayMs ?? 0;
    if (!Number.isInteger(delay) || delay < 0 || delay > 3_600_000) throw new InvalidArgumentError('preemptDelayMs', `must be an integer 0..3600000, got ${String(delay)}`);
    const names = new Set<string>();
    (options.trackers ?? []).forEach((t, i) => {
      if (!t || typeof t.start !== 'function' || typeof t.name !== 'string') throw new InvalidArgumentError(`trackers[${i}]`, 'must be a Tracker');
      if (names.has(t.name)) throw new InvalidArgumentError(`trackers[${i}].name`, `tracker name ${t.name} used twice`);
      names.add(t.name);
    });
    this.base = options.priority;
    this.preempt = options.preempt ?? true;
    this.preemptDelayMs = delay;
    this.clock = options.clock ?? realClock;
    this.trackers = [...(options.trackers ?? [])];
  }

  /** The current state. */
  get state(): ElectionState {
    return this.current;
  }

  /** The effective priority: base plus tracker weights, clamped to 1..254. */
  get priority(): number {
    let p = this.base;
    for (const s of this.trackerStates.values()) p += s.weight ?? 0;
    return Math.min(254, Math.max(1, p));
  }

  /** Starts trackers and the election: `init` → `backup`, then the rules decide. */
  async start(): Promise<void> {
    if (this.current !== 'init') throw new Error(`election already started (state ${this.current})`);
    for (const t of this.trackers) await t.start((s) => this.report(t.name, s));
    this.link.on('peer', this.onPeer);
    this.link.on('message', this.onLink);
    this.publish();
    this.evaluate('started');
  }

  /**
   * Forces `fault` (e.g. a resource failed) until {@link clearFault}. Kept
   * as the tracker named `name`.
   */
  fault(reason: string, name = 'failover'): void {
    this.report(name, { fault: true, reason });
  }

  /** Clears a fault set by {@link fault}. */
  clearFault(name = 'failover'): void {
    this.report(name, { fault: false, reason: 'cleared' });
  }

  /** Stops trackers and moves to `stopped` (peers learn it from the next heartbeat, sent at once). */
  stop(reason = 'stopped'): void {
    if (this.current === 'stopped') return;
    this.link.off('peer', this.onPeer);
    this.link.off('message', this.onLink);
    for (const t of this.trackers) t.stop();
    this.cancelPreempt();
    this.go('stopped', reason);
    for (const q of this.queues) {
      q.done = true;
      q.wake?.();
    }
  }

  /**
   * Transitions from now on, strictly in order; the iterator ends after
   * `stopped`. A consumer that awaits its work inside `for await` handles
   * each transition before it sees the next; nothing is dropped or merged.
   */
  transitions(): AsyncIterableIterator<Transition> {
    const q: { items: Transition[]; wake?: () => void; done: boolean } = { items: [], done: this.current === 'stopped' };
    this.queues.add(q);
    const it: AsyncIterableIterator<Transition> = {
      next: async () => {
        while (q.items.length === 0 && !q.done) await new Promise<void>((r) => (q.wake = r));
        q.wake = undefined;
        const value = q.items.shift();
        if (value) return { value, done: false };
        this.queues.delete(q);
        return { value: undefined, done: true };
      },
      return: async () => {
        q.done = true;
        q.items.length = 0;
        this.queues.delete(q);
        return { value: undefined, done: true };
      },
      [Symbol.asyncIterator]: () => it,
    };
    return it;
  }

  private report(name: string, s: TrackerState): void {
    const before = this.trackerStates.get(name);
    this.trackerStates.set(name, s);
    if (before?.fault === s.fault && (before?.weight ?? 0) === (s.weight ?? 0)) return;
    if (this.current === 'init' || this.current === 'stopped') return;
    this.publish();
    this.link.sendNow();
    this.evaluate(`tracker ${name}: ${s.reason ?? (s.fault ? 'fault' : `weight ${s.weight ?? 0}`)}`);
  }

  private publish(): void {
    this.link.setPayload(encodeAdvert({ state: this.current === 'init' ? 'init' : this.current, priority: this.priority, preempt: this.preempt }));
  }

  private go(to: ElectionState, reason: string): void {
    if (to === this.current) return;
    const t: Transition = { from: this.current, to, reason, at: this.clock.now(), priority: this.priority };
    this.current = to;
    if (to !== 'master') this.mastersSeen.clear();
    this.publish();
    this.link.sendNow();
    for (const q of this.queues) {
      q.items.push(t);
      q.wake?.();
    }
    this.emit('transition', t);
  }

  private cancelPreempt(): void {
    if (this.preemptTimer !== undefined) this.clock.clearTimeout(this.preemptTimer);
    this.preemptTimer = undefined;
    this.preemptReady = false;
  }

  private evaluate(trigger?: string): void {
    if (this.current === 'init' && trigger !== 'started') return;
    if (this.current === 'stopped') return;
    const faults = [...this.trackerStates.entries()].filter(([, s]) => s.fault);
    if (faults.length) {
      this.cancelPreempt();
      const [name, s] = faults[0]!;
      this.go('fault', `tracker ${name}: ${s.reason ?? 'fault'}`);
      return;
    }
    if (this.current === 'init' || this.current === 'fault') this.go('backup', trigger ?? 'fault cleared');
    const me: Candidate = { nodeId: this.link.nodeId, priority: this.priority };
    const peers = this.link.peers();
    const live: (Candidate & Advert)[] = [];
    for (const p of peers) {
      if (p.state !== 'up' && p.state !== 'late') continue;
      const a = decodeAdvert(p.payload);
      if (a && (a.state === 'backup' || a.state === 'master')) live.push({ nodeId: p.nodeId, ...a });
    }
    const masters = live.filter((c) => c.state === 'master');
    if (this.current === 'master') {
      this.cancelPreempt();
      const winner = masters.find((m) => outranks(m, me));
      if (winner) {
        this.go('backup', `node ${winner.nodeId} is master with priority ${winner.priority} (${this.describe(winner, me)})`);
        return;
      }
      const again = new Set(this.returned);
      this.returned.clear();
      for (const m of masters) {
        if (this.mastersSeen.has(m.nodeId)) continue;
        // Split brain healing: the other master yields; re-announce what this node holds.
        this.mastersSeen.add(m.nodeId);
        again.add(m.nodeId);
      }
      for (const id of this.mastersSeen) if (!masters.some((m) => m.nodeId === id)) this.mastersSeen.delete(id);
      for (const nodeId of again) {
        this.link.sendNow();
        this.emit('reannounce', { nodeId, at: this.clock.now() } satisfies Reannounce);
      }
      return;
    }
    this.returned.clear();
    // backup
    if (masters.length > 0) {
      const best = masters.reduce((a, b) => (outranks(a, b) ? a : b));
      if (!this.preempt || !outranks(me, best)) {
        this.cancelPreempt();
        return;
      }
      if (this.preemptReady) {
        this.cancelPreempt();
        this.go('master', `preempting node ${best.nodeId} (${this.describe(me, best)})`);
        return;
      }
      if (this.preemptTimer === undefined) {
        if (this.preemptDelayMs === 0) {
          this.go('master', `preempting node ${best.nodeId} (${this.describe(me, best)})`);
          return;
        }
        this.preemptTimer = this.clock.setTimeout(() => {
          this.preemptTimer = undefined;
          this.preemptReady = true;
          this.evaluate();
        }, this.preemptDelayMs);
      }
      return;
    }
    this.cancelPreempt();
    // Still deciding: a peer not heard yet (within initDeadMs), or heard but
    // without an election running (no advert yet, or init): wait for it.
    const deciding = (p: PeerStatus) => p.state === 'unknown' || ((p.state === 'up' || p.state === 'late') && (decodeAdvert(p.payload)?.state ?? 'init') === 'init');
    if (peers.some(deciding)) return;
    const better = live.find((c) => outranks(c, me));
    if (better) return;
    const dead = peers.filter((p) => p.state === 'dead').map((p) => p.nodeId);
    this.go('master', live.length ? `no master; outranks ${live.map((c) => `node ${c.nodeId}`).join(', ')}` : `no live master${dead.length ? ` (dead: node ${dead.join(', node ')})` : ''}`);
  }

  private describe(a: Candidate, b: Candidate): string {
    return a.priority !== b.priority ? `priority ${a.priority} > ${b.priority}` : `equal priority ${a.priority}, node id ${a.nodeId} > ${b.nodeId}`;
  }
}
