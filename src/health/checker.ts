/**
 * The HealthChecker: keeps one virtual service's destinations in step with
 * their health. Probes run on per-destination timers; their results go through
 * the rise/fall state machine (health-state.ts); the weights wanted are then
 * compared with the live table and the differences sent as one batch.
 * @module
 */
import { EventEmitter } from 'node:events';
import { readdirSync } from 'node:fs';
import { InvalidArgumentError } from '../errors.js';
import { addressFamily, canonicalAddress, formatAddressPort } from '../ipvs/address.js';
import type { Operation } from '../ipvs/state.js';
import { keyOf } from '../ipvs/state.js';
import type { DestinationKey, DestinationSpec, ServiceKey } from '../ipvs/types.js';
import type {
  Clock,
  DestinationName,
  DestinationState,
  DestinationStatus,
  DrainOptions,
  DrainOutcome,
  HealthCheckerOptions,
  HealthEvent,
  HealthIpvs,
  HealthStatus,
  PoolDestination,
  ProbeRunner,
} from './checker-types.js';
import { newHealthRecord, quorumMet, ramping, recordResult, upWeight, type HealthRecord } from './health-state.js';
import { DeadlineQueue, type Deadline } from './deadlines.js';
import { reconfigureChecker, type ReconfigureOutcome } from './reconfigure.js';
import { readLiveDestinations, readLiveSpecs, type LiveEntry } from './read-live.js';
import { nextDueAt, SCHEDULE_EARLY_MS, spreadStartOffsets } from './check-schedule.js';
import { runCheck, type RunCheckOptions } from './run-check.js';
import { tickNow } from './tick-clock.js';
import { DEFAULT_CHECK_TIMEOUT_MS, validateCheckSpec, type CheckResult, type CheckSpec, type CheckTarget } from './spec.js';

/** The real clock (`performance.now()`, read once per synchronous run: see src/health/tick-clock.ts). */
export const systemClock: Clock = {
  now: tickNow,
  setTimeout: (cb, ms) => setTimeout(cb, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

interface Member {
  name: DestinationName;
  spec: DestinationSpec & { port: number };
  configuredWeight: number;
  check: CheckSpec;
  health: HealthRecord;
  maintenance: boolean;
  dirMaintenance: boolean;
  draining: boolean;
  /** Set once drained and removed: desired absent, then dropped from the pool. */
  removing: boolean;
  state: DestinationState;
  stateSince: number;
  timer?: Deadline;
  /** When the pending (or running) check was due: the next one is due an interval after it. */
  dueAt: number;
  /** What runs the check (built once, the same object every interval). */
  target: CheckTarget;
}

function isNoSuchService(e: unknown): boolean {
  return (e as { code?: string }).code === 'ESRCH';
}

function positiveInt(v: number | undefined, field: string, fallback: number): number {
  if (v === undefined) return fallback;
  if (!Number.isInteger(v) || v < 1) throw new InvalidArgumentError(field, 'must be a positive integer');
  return v;
}

function nonNegative(v: number | undefined, field: string, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new InvalidArgumentError(field, 'must be a number of milliseconds ≥ 0');
  return v;
}

/**
 * Keeps one virtual service's destinations in step with their health: checks
 * each on a timer, moves it up or down after `rise`/`fall` consecutive
 * results, and sets the kernel's weights (quiesce or remove, slow start, sorry
 * server, quorum). Adopts what is already in the kernel on start, and puts the
 * table back when someone else changes it. Events come in order, typed, as
 * `'event'` (and under each event's own type; `'error'` only when someone
 * listens to it, so a failed sync never throws) or from {@link events}.
 * @example
 * ```ts
 * const ipvs = await Ipvs.open();
 * const checker = new HealthChecker(ipvs, {
 *   service: { protocol: 'tcp', address: '192.0.2.10', port: 80, scheduler: 'wlc' },
 *   destinations: [{ address: '10.0.1.1', forward: 'masq', weight: 10 }, { address: '10.0.1.2', forward: 'masq', weight: 10 }],
 *   check: { type: 'http', path: '/health', status: '200-299' },
 *   intervalMs: 1000, rise: 2, fall: 3, slowStart: { durationMs: 30_000 },
 * });
 * checker.on('event', (e) => console.log(e));
 * await checker.start();
 * ```
 */
export class HealthChecker extends EventEmitter {
  private readonly ipvs: HealthIpvs;
  private readonly key: ServiceKey;
  private readonly members = new Map<DestinationName, Member>();
  private readonly clock: Clock;
  private readonly runner: ProbeRunner;
  private readonly random: () => number;
  private readonly intervalMs: number;
  private readonly timeoutMs: number;
  private readonly rise: number;
  private readonly fall: number;
  private readonly retryDelayMs: number;
  private readonly jitterMs: number;
  private readonly sorry?: DestinationSpec & { port: number; name: string };
  private running = false;
  private syncTimer: unknown;
  private syncScheduled = false;
  private syncing: Promise<void> | undefined;
  private syncAgain = false;
  /** What the table held for our destinations after our last sync (null: absent). */
  private expected = new Map<DestinationName, number | null>();
  private sorryActive = false;
  private quorum: boolean | undefined;
  private serviceWeight = 0;
  private readonly iterators = new Set<{ push(e: HealthEvent | null): void }>();
  /** Aborted by stop(): every check in flight listens to it (one controller per start, not per check). */
  private checking = new AbortController();
  /** The options every check runs with (per start, for its signal). */
  private checkOptions: RunCheckOptions = {};
  /** Deadlines of runners other than runCheck (one timer for all). */
  private readonly guardDeadlines: DeadlineQueue;
  /** When each destination's next check is due (one timer for all). */
  private readonly schedules: DeadlineQueue;

  /**
   * Check the options whole (every field named on error); nothing runs until {@link start}.
   * @param ipvs an {@link Ipvs} client (or anything with the same methods)
   */
  constructor(ipvs: HealthIpvs, private readonly options: HealthCheckerOptions) {
    super();
    this.ipvs = ipvs;
    this.key = keyOf(options.service);
    this.clock = options.clock ?? systemClock;
    this.runner = options.runner ?? runCheck;
    this.guardDeadlines = new DeadlineQueue(this.clock);
    // Checks due within SCHEDULE_EARLY_MS of a wake-up start with it (check-schedule.ts).
    this.schedules = new DeadlineQueue(this.clock, false, SCHEDULE_EARLY_MS);
    this.random = options.random ?? Math.random;
    this.intervalMs = positiveInt(options.intervalMs, 'intervalMs', 2000);
    this.timeoutMs = positiveInt(options.timeoutMs, 'timeoutMs', Math.min(this.intervalMs, DEFAULT_CHECK_TIMEOUT_MS));
    this.rise = positiveInt(options.rise, 'rise', 2);
    this.fall = positiveInt(options.fall, 'fall', 3);
    this.retryDelayMs = nonNegative(options.retryDelayMs, 'retryDelayMs', this.intervalMs);
    this.jitterMs = nonNegative(options.startJitterMs, 'startJitterMs', this.intervalMs);
    if (options.onDown !== undefined && options.onDown !== 'quiesce' && options.onDown !== 'remove') throw new InvalidArgumentError('onDown', 'must be "quiesce" or "remove"');
    if (options.slowStart !== undefined) nonNegative(options.slowStart.durationMs, 'slowStart.durationMs', 0);
    if (options.quorum !== undefined) {
      nonNegative(options.quorum.minWeight, 'quorum.minWeight', 0);
      nonNegative(options.quorum.hysteresis, 'quorum.hysteresis', 0);
    }
    validateCheckSpec(options.check, 'check');
    if (!Array.isArray(options.destinations)) throw new InvalidArgumentError('destinations', 'must be an array');
    const now = this.clock.now();
    options.destinations.forEach((d, i) => {
      const spec = this.withPort(d, `destinations[${i}]`);
      const { check, ...rest } = spec as PoolDestination & { port: number };
      if (check) validateCheckSpec(check, `destinations[${i}].check`);
      const name = this.nameOf(spec);
      if (this.members.has(name)) throw new InvalidArgumentError(`destinations[${i}]`, `${name} appears twice`);
      const w = d.weight ?? 1;
      if (!Number.isInteger(w) || w < 0) throw new InvalidArgumentError(`destinations[${i}].weight`, 'must be an integer ≥ 0');
      this.members.set(name, {
        name, spec: rest, target: { address: rest.address, port: rest.port }, configuredWeight: w, check: check ?? options.check, health: newHealthRecord(now),
        maintenance: false, dirMaintenance: false, draining: false, removing: false, state: 'unknown', stateSince: now, dueAt: now,
      });
    });
    if (options.sorryServer) {
      const s = this.withPort(options.sorryServer, 'sorryServer');
      const name = this.nameOf(s);
      if (this.members.has(name)) throw new InvalidArgumentError('sorryServer', `${name} is also in destinations`);
      this.sorry = { ...s, name };
    }
  }

  private withPort<T extends DestinationSpec>(d: T, field: string): T & { port: number } {
    if (!d || typeof d.address !== 'string' || addressFamily(d.address) === undefined) throw new InvalidArgumentError(`${field}.address`, 'must be an IPv4 or IPv6 address');
    const port = d.port ?? ('port' in this.key ? this.key.port : 0);
    return { ...d, port };
  }

  /** The name of a configured destination: its address in canonical form (as the kernel reports it) and port. */
  private nameOf(d: { address: string; port?: number }): DestinationName {
    const family = addressFamily(d.address) ?? 'ipv4';
    return formatAddressPort(canonicalAddress(d.address, family), family, d.port ?? ('port' in this.key ? this.key.port : 0));
  }

  private emitEvent(e: HealthEvent): void {
    // An EventEmitter throws on an 'error' nobody listens to; an error here is
    // already reported as an 'event' and must not break the sync loop.
    if (e.type !== 'error' || this.listenerCount('error') > 0) this.emit(e.type, e);
    this.emit('event', e);
    for (const it of this.iterators) it.push(e);
  }

  /**
   * The events from now on, in order, as an async iterator that ends when the
   * checker stops (or when the loop breaks).
   * @example
   * ```ts
   * for await (const e of checker.events()) if (e.type === 'state') console.log(e.destination, e.to);
   * ```
   */
  events(): AsyncIterableIterator<HealthEvent> {
    const queue: Array<HealthEvent | null> = [];
    let wake: (() => void) | undefined;
    const sink = {
      push: (e: HealthEvent | null) => {
        queue.push(e);
        wake?.();
      },
    };
    this.iterators.add(sink);
    const iterators = this.iterators;
    const it: AsyncIterableIterator<HealthEvent> = {
      async next(): Promise<IteratorResult<HealthEvent>> {
        while (queue.length === 0) await new Promise<void>((r) => (wake = r));
        wake = undefined;
        const e = queue.shift()!;
        if (e === null) {
          iterators.delete(sink);
          return { done: true, value: undefined };
        }
        return { done: false, value: e };
      },
      async return(): Promise<IteratorResult<HealthEvent>> {
        iterators.delete(sink);
        return { done: true, value: undefined };
      },
      [Symbol.asyncIterator]() {
        return it;
      },
    };
    return it;
  }

  /**
   * Adopt the live table (weights already there stay until a check says
   * otherwise), create the service and the missing destinations, then start
   * checking. Resolves after the first sync with the kernel; rejects if the
   * kernel refuses it (nothing is checked then).
   */
  async start(): Promise<void> {
    if (this.running) return;
    try {
      await this.ipvs.getService(this.key);
    } catch (e) {
      if (!isNoSuchService(e)) throw e;
      await this.ipvs.addService(this.options.service);
    }
    this.running = true;
    this.checking = new AbortController();
    this.checkOptions = { signal: this.checking.signal, timeoutMs: this.timeoutMs, ...(this.options.netns !== undefined ? { netns: this.options.netns } : {}) };
    try {
      // The first sync runs on its own so that a refusal (a destination the
      // kernel will not take) rejects start() instead of becoming an event.
      await this.syncOnce();
    } catch (e) {
      this.running = false;
      throw e;
    }
    const offsets = spreadStartOffsets(this.members.size, this.jitterMs, this.random);
    let i = 0;
    for (const m of this.members.values()) this.schedule(m, offsets[i++]!);
    this.armSyncTimer();
  }

  /**
   * Stop checking. With `leave` (the default) the table stays as it is; with
   * `leave: false` the destinations this checker manages are deleted.
   */
  async stop(options: { leave?: boolean } = {}): Promise<void> {
    const wasRunning = this.running;
    this.running = false;
    this.clock.clearTimeout(this.syncTimer);
    for (const m of this.members.values()) m.timer?.cancel();
    this.checking.abort();
    await this.syncing;
    if (wasRunning && options.leave === false) {
      const live = await this.readLive();
      const ops: Operation[] = [];
      for (const name of [...this.members.keys(), ...(this.sorry ? [this.sorry.name] : [])]) {
        const d = live?.get(name);
        if (d) ops.push({ op: 'delete-destination', service: this.key, destination: { address: d.address, port: d.port }, before: d });
      }
      await this.ipvs.runOperations(ops);
    }
    for (const it of this.iterators) it.push(null);
    this.iterators.clear();
  }

  /**
   * Change the pool and options while running (see reconfigure.ts): the new
   * options are validated whole first (nothing changes on error); destinations
   * still in the pool keep their health, counters and schedule, new ones start
   * `unknown`, removed ones are no longer checked or touched. The service key
   * cannot change. Clock, runner and random stay those of the constructor.
   */
  reconfigure(options: HealthCheckerOptions): ReconfigureOutcome {
    return reconfigureChecker(this, new HealthChecker(this.ipvs, { ...options, clock: this.clock, runner: this.runner, random: this.random }));
  }

  /** Force a destination into maintenance (weight 0, or removed with `onDown: 'remove'`) or out of it. */
  setMaintenance(destination: DestinationKey, on: boolean): void {
    const m = this.member(destination);
    m.maintenance = on;
    this.updateState(m);
    this.requestSync();
  }

  private member(d: DestinationKey): Member {
    const name = this.nameOf({ address: d.address, port: d.port ?? ('port' in this.key ? this.key.port : 0) });
    const m = this.members.get(name);
    if (!m) throw new InvalidArgumentError('destination', `${name} is not in this checker's pool`);
    return m;
  }

  /** Per-destination state, weights, last results; sorry server and quorum. */
  status(): HealthStatus {
    const now = this.clock.now();
    const wall = Date.now();
    const destinations: DestinationStatus[] = [...this.members.values()].map((m) => ({
      address: m.spec.address,
      port: m.spec.port,
      state: m.state,
      weight: this.desired(m, this.expected.get(m.name) ?? null) ?? 0,
      configuredWeight: m.configuredWeight,
      ...(m.health.last ? { last: m.health.last } : {}),
      since: new Date(wall - (now - m.stateSince)),
    }));
    return { destinations, sorryActive: this.sorryActive, ...(this.quorum !== undefined ? { quorum: this.quorum } : {}), serviceWeight: this.serviceWeight };
  }

  // ------------------------------------------------------------ checking

  private schedule(m: Member, delayMs: number): void {
    if (!this.running || m.removing || m.draining) return;
    m.dueAt = this.clock.now() + Math.max(0, delayMs);
    m.timer = this.schedules.add(Math.max(0, delayMs), () => void this.checkOnce(m));
  }

  /** One guarded check: a throw, a rejection or a runner that never settles is a failure. */
  private guardedCheck(m: Member): Promise<CheckResult> {
    const started = this.clock.now();
    const threw = (e: unknown): CheckResult => ({ ok: false, latencyMs: this.clock.now() - started, detail: `check threw: ${(e as Error)?.message ?? String(e)}` });
    if (this.runner === runCheck) {
      // runCheck keeps its own deadline and never rejects for a server: no second guard needed.
      return runCheck(m.check, m.target, this.checkOptions).catch(threw);
    }
    const limit = (m.check.timeoutMs ?? this.timeoutMs) + 1000;
    return new Promise<CheckResult>((resolve) => {
      let settled = false;
      const settle = (r: CheckResult): void => {
        if (settled) return;
        settled = true;
        deadline.cancel();
        resolve(r);
      };
      const deadline = this.guardDeadlines.add(limit, () => settle({ ok: false, latencyMs: this.clock.now() - started, detail: `check did not settle within ${limit} ms` }));
      try {
        this.runner(m.check, m.target, this.checkOptions).then(settle, (e: unknown) => settle(threw(e)));
      } catch (e) {
        settle(threw(e));
      }
    });
  }

  /** Someone hears `check` events (they cost an object and an emit per check otherwise). */
  private hearsChecks(): boolean {
    return this.iterators.size > 0 || this.listenerCount('check') > 0 || this.listenerCount('event') > 0;
  }

  private async checkOnce(m: Member): Promise<void> {
    if (!this.running || m.removing) return;
    const due = m.dueAt;
    const result = await this.guardedCheck(m);
    if (!this.running || m.removing) return;
    if (this.hearsChecks()) this.emitEvent({ type: 'check', destination: m.name, result });
    const before = this.desired(m, this.expected.get(m.name) ?? null);
    recordResult(m.health, result, this.clock.now(), this.rise, this.fall);
    this.updateState(m, result);
    if (this.desired(m, this.expected.get(m.name) ?? null) !== before) this.requestSync();
    const delay = !result.ok && m.health.health === 'up' ? this.retryDelayMs : this.intervalMs;
    // Due an interval after this check was due (check-schedule.ts): a late start is not carried forward.
    const now = this.clock.now();
    this.schedule(m, nextDueAt(due, delay, now) - now);
  }

  private updateState(m: Member, result?: CheckResult): void {
    const state: DestinationState = m.draining ? 'draining' : m.maintenance || m.dirMaintenance ? 'maintenance' : m.health.health;
    if (state === m.state) return;
    const from = m.state;
    m.state = state;
    m.stateSince = this.clock.now();
    this.emitEvent({ type: 'state', destination: m.name, from, to: state, ...(result ? { result } : {}), at: new Date() });
  }

  // ------------------------------------------------------------ the table

  /** The weight `m` should have in the kernel (null: absent), given what is there now. */
  private desired(m: Member, live: number | null): number | null {
    const remove = this.options.onDown === 'remove';
    if (m.removing) return null;
    if (m.draining) return live === null ? null : 0;
    if (m.maintenance || m.dirMaintenance) return remove ? null : 0;
    switch (m.health.health) {
      case 'unknown':
        return live ?? (remove ? null : 0);
      case 'down':
        return remove ? null : 0;
      case 'up':
        return upWeight(m.health, m.configuredWeight, this.clock.now(), this.options.slowStart?.durationMs);
    }
  }

  private armSyncTimer(): void {
    if (!this.running) return;
    let every = this.intervalMs;
    const ramp = this.options.slowStart?.durationMs;
    const now = this.clock.now();
    if (ramp && [...this.members.values()].some((m) => ramping(m.health, now, ramp))) every = Math.min(every, Math.max(50, ramp / 10));
    this.clock.clearTimeout(this.syncTimer);
    this.syncTimer = this.clock.setTimeout(() => {
      this.requestSync();
      this.armSyncTimer();
    }, every);
  }

  /** Coalesce sync requests made in one turn of the event loop into one read and one batch. */
  private requestSync(): void {
    if (!this.running || this.syncScheduled) return;
    this.syncScheduled = true;
    setImmediate(() => {
      this.syncScheduled = false;
      if (this.running) void this.sync();
    });
  }

  /** Run a sync now, or once more after the one under way. */
  private sync(): Promise<void> {
    if (this.syncing) {
      this.syncAgain = true;
      return this.syncing;
    }
    const loop = async (): Promise<void> => {
      try {
        do {
          this.syncAgain = false;
          try {
            await this.syncOnce();
          } catch (e) {
            this.emitEvent({ type: 'error', error: e as Error, during: 'sync' });
          }
        } while (this.syncAgain && this.running);
      } finally {
        this.syncing = undefined;
      }
    };
    this.syncing = loop();
    return this.syncing;
  }

  /** The live destinations by name, without counters (read-live.ts). */
  private readLive(): Promise<Map<DestinationName, LiveEntry> | undefined> {
    return readLiveSpecs(this.ipvs, this.key);
  }

  private readMaintenanceDir(): void {
    const dir = this.options.maintenanceDir;
    if (dir === undefined) return;
    let names: Set<string>;
    try {
      names = new Set(readdirSync(dir));
    } catch {
      names = new Set();
    }
    for (const m of this.members.values()) {
      const on = names.has(m.name) || names.has(m.spec.address);
      if (on !== m.dirMaintenance) {
        m.dirMaintenance = on;
        this.updateState(m);
      }
    }
  }

  private async syncOnce(): Promise<void> {
    this.readMaintenanceDir();
    let live = await this.readLive();
    if (!live) {
      await this.ipvs.addService(this.options.service);
      live = new Map();
    }
    const ops: Operation[] = [];
    const changes: Array<{ destination: DestinationName; from: number | null; to: number | null }> = [];
    let external = false;
    const next = new Map<DestinationName, number | null>();
    const reconcile = (name: DestinationName, spec: DestinationSpec & { port: number }, want: number | null): void => {
      const d = live!.get(name);
      const have = d ? d.weight : null;
      if (this.expected.has(name) && this.expected.get(name) !== have) external = true;
      next.set(name, want);
      if (want === have) return;
      changes.push({ destination: name, from: have, to: want });
      const key = { address: spec.address, port: spec.port };
      if (want === null) ops.push({ op: 'delete-destination', service: this.key, destination: key, before: d! });
      else if (!d) ops.push({ op: 'add-destination', service: this.key, destination: { ...spec, weight: want } });
      else ops.push({ op: 'update-destination', service: this.key, destination: { ...spec, weight: want }, before: d });
    };
    let serving = 0;
    let unknown = false;
    for (const m of this.members.values()) {
      const have = live.get(m.name)?.weight ?? null;
      const want = this.desired(m, have);
      reconcile(m.name, m.spec, want);
      if (m.health.health === 'unknown' && !m.maintenance && !m.dirMaintenance && !m.draining) unknown = true;
      if (want !== null && want > 0) serving += want;
    }
    this.serviceWeight = serving;
    if (this.options.quorum && !unknown) {
      const met = quorumMet(this.quorum, serving, this.options.quorum.minWeight, this.options.quorum.hysteresis ?? 0);
      const first = this.quorum === undefined;
      if (met !== this.quorum) {
        this.quorum = met;
        if (!first || !met) this.emitEvent({ type: 'quorum', met, weight: serving });
      }
    }
    if (this.sorry && !unknown) {
      const active = serving === 0;
      reconcile(this.sorry.name, this.sorry, active ? (this.sorry.weight ?? 1) : null);
      if (active !== this.sorryActive) {
        this.sorryActive = active;
        this.emitEvent({ type: 'sorry', active });
      }
    }
    // On a refused batch `expected` stays as it was: the next sync re-reads the
    // table and tries again, without mistaking its own failure for someone else's change.
    if (ops.length > 0) {
      await this.ipvs.runOperations(ops);
      this.expected = next;
      this.emitEvent({ type: 'weights', changes, external });
    } else {
      this.expected = next;
    }
    for (const m of [...this.members.values()]) if (m.removing) this.members.delete(m.name);
    this.armRampIfNeeded();
  }

  private armRampIfNeeded(): void {
    const ramp = this.options.slowStart?.durationMs;
    if (!ramp || !this.running) return;
    const now = this.clock.now();
    if ([...this.members.values()].some((m) => ramping(m.health, now, ramp))) this.armSyncTimer();
  }

  // ------------------------------------------------------------ drain

  /**
   * Drain a destination: weight 0, wait until its connections are gone (see
   * {@link DrainOptions.until}), then delete it from the table and the pool.
   * Resolves with what happened; on timeout it stays quiesced unless
   * `removeOnTimeout`. A {@link stop} ends the wait (nothing removed).
   * @example
   * ```ts
   * const r = await checker.drain({ address: '10.0.1.1' }, { timeoutMs: 60_000, until: 'active' });
   * if (!r.drained) console.log('still open:', r.remaining);
   * ```
   */
  async drain(destination: DestinationKey, options: DrainOptions = {}): Promise<DrainOutcome> {
    const m = this.member(destination);
    const timeoutMs = nonNegative(options.timeoutMs, 'timeoutMs', 300_000);
    const pollMs = positiveInt(options.pollMs, 'pollMs', 1000);
    const until = options.until ?? 'all';
    if (until !== 'all' && until !== 'active') throw new InvalidArgumentError('until', 'must be "all" or "active"');
    const started = this.clock.now();
    m.draining = true;
    m.timer?.cancel();
    this.updateState(m);
    await this.sync();
    let remaining = { active: 0, inactive: 0, persistent: 0 };
    let drained = false;
    for (;;) {
      const live = await readLiveDestinations(this.ipvs, this.key);
      const d = live?.get(m.name);
      remaining = d ? { active: d.activeConnections, inactive: d.inactiveConnections, persistent: d.persistentConnections } : { active: 0, inactive: 0, persistent: 0 };
      drained = until === 'active' ? remaining.active === 0 : remaining.active + remaining.inactive + remaining.persistent === 0;
      if (drained || !this.running || this.clock.now() - started >= timeoutMs) break;
      await new Promise<void>((r) => this.clock.setTimeout(r, Math.min(pollMs, Math.max(1, timeoutMs - (this.clock.now() - started)))));
    }
    const removed = this.running && (drained || !!options.removeOnTimeout);
    if (removed) {
      m.removing = true;
      await this.sync();
    }
    const outcome: DrainOutcome = { drained, removed, waitedMs: this.clock.now() - started, remaining };
    this.emitEvent({ type: 'drained', destination: m.name, outcome });
    return outcome;
  }
}
