/**
 * The HealthChecker: keeps one virtual service's destinations in step with
 * their health. This file holds the checker's public face and its schedule:
 * probes run on per-destination timers, their results go through the
 * rise/fall state machine (health-state.ts), and a change of wanted weight
 * asks for a sync. The pool and its options are in pool.ts, the sync with the
 * table in table-sync.ts, maintenance files in maintenance-dir.ts, drain in
 * drain.ts, reload in reconfigure.ts, event iterators in event-stream.ts.
 * @module
 */
import { EventEmitter } from 'node:events';
import type { DestinationKey } from '../ipvs/types.js';
import type {
  Clock,
  DestinationStatus,
  DrainOptions,
  DrainOutcome,
  HealthCheckerOptions,
  HealthEvent,
  HealthIpvs,
  HealthStatus,
  ProbeRunner,
} from './checker-types.js';
import { ramping, recordResult } from './health-state.js';
import { DeadlineQueue } from './deadlines.js';
import { drainMember } from './drain.js';
import { EventStreams } from './event-stream.js';
import { readMaintenanceDir } from './maintenance-dir.js';
import { Pool, type Member } from './pool.js';
import { reconfigurePool, type ReconfigureOutcome } from './reconfigure.js';
import { nextDueAt, SCHEDULE_EARLY_MS, spreadStartOffsets } from './check-schedule.js';
import { runCheck, startCheck, type RunCheckOptions } from './run-check.js';
import { removeFromTable, syncTable } from './table-sync.js';
import { tickNow } from './tick-clock.js';
import type { CheckResult } from './spec.js';

/** The real clock (`performance.now()`, read once per synchronous run: see src/health/tick-clock.ts). */
export const systemClock: Clock = {
  now: tickNow,
  setTimeout: (cb, ms) => setTimeout(cb, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

function isNoSuchService(e: unknown): boolean {
  return (e as { code?: string }).code === 'ESRCH';
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
  /** The pool, its options and what the last sync left in the table (pool.ts). */
  private readonly pool: Pool;
  private readonly clock: Clock;
  private readonly runner: ProbeRunner;
  private readonly random: () => number;
  private running = false;
  private syncTimer: unknown;
  private syncScheduled = false;
  private syncing: Promise<void> | undefined;
  private syncAgain = false;
  /** Table writes held (holdTable): syncs wait for releaseTable(); checks go on. */
  private held = false;
  private readonly streams = new EventStreams();
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
  constructor(ipvs: HealthIpvs, options: HealthCheckerOptions) {
    super();
    this.ipvs = ipvs;
    this.clock = options.clock ?? systemClock;
    this.runner = options.runner ?? runCheck;
    this.guardDeadlines = new DeadlineQueue(this.clock);
    // Checks due within SCHEDULE_EARLY_MS of a wake-up start with it (check-schedule.ts).
    this.schedules = new DeadlineQueue(this.clock, false, SCHEDULE_EARLY_MS);
    this.random = options.random ?? Math.random;
    this.pool = new Pool(options, this.clock);
  }

  private emitEvent(e: HealthEvent): void {
    // An EventEmitter throws on an 'error' nobody listens to; an error here is
    // already reported as an 'event' and must not break the sync loop.
    if (e.type !== 'error' || this.listenerCount('error') > 0) this.emit(e.type, e);
    this.emit('event', e);
    this.streams.push(e);
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
    return this.streams.open();
  }

  /**
   * Adopt the live table (weights already there stay until a check says
   * otherwise), create the service and the missing destinations, then start
   * checking. Resolves after the first sync with the kernel; rejects if the
   * kernel refuses it (nothing is checked then).
   */
  async start(): Promise<void> {
    if (this.running) return;
    const pool = this.pool;
    try {
      await this.ipvs.getService(pool.key);
    } catch (e) {
      if (!isNoSuchService(e)) throw e;
      await this.ipvs.addService(pool.options.service);
    }
    this.running = true;
    this.checking = new AbortController();
    this.checkOptions = { signal: this.checking.signal, timeoutMs: pool.timeoutMs, ...(pool.options.netns !== undefined ? { netns: pool.options.netns } : {}) };
    try {
      // The first sync runs on its own so that a refusal (a destination the
      // kernel will not take) rejects start() instead of becoming an event.
      await this.syncOnce();
    } catch (e) {
      this.running = false;
      throw e;
    }
    const offsets = spreadStartOffsets(pool.members.size, pool.jitterMs, this.random);
    let i = 0;
    for (const m of pool.members.values()) this.schedule(m, offsets[i++]!);
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
    for (const m of this.pool.members.values()) m.timer?.cancel();
    this.checking.abort();
    await this.syncing;
    if (wasRunning && options.leave === false) await removeFromTable(this.pool, this.ipvs);
    this.streams.end();
  }

  /**
   * Change the pool and options while running (see reconfigure.ts): the new
   * options are validated whole first (nothing changes on error); destinations
   * still in the pool keep their health, counters and schedule, new ones start
   * `unknown`, removed ones are no longer checked or touched. The service key
   * cannot change. Clock, runner and random stay those of the constructor.
   */
  reconfigure(options: HealthCheckerOptions): ReconfigureOutcome {
    const fresh = new Pool({ ...options, clock: this.clock, runner: this.runner, random: this.random }, this.clock);
    return reconfigurePool(this.pool, fresh, {
      running: () => this.running,
      setCheckTimeout: (timeoutMs) => (this.checkOptions = { ...this.checkOptions, timeoutMs }),
      schedule: (m, delayMs) => this.schedule(m, delayMs),
      armSyncTimer: () => this.armSyncTimer(),
      requestSync: () => this.requestSync(),
      random: () => this.random(),
    });
  }

  /**
   * Hold the checker's writes to the table (a director's reload does, while it
   * sends its own plan): resolves once a sync under way is done; checks go on
   * and their results are kept, but no sync starts until {@link releaseTable},
   * which runs one.
   */
  async holdTable(): Promise<void> {
    this.held = true;
    await this.syncing;
  }

  /** End a {@link holdTable}: one sync follows (when running). */
  releaseTable(): void {
    if (!this.held) return;
    this.held = false;
    this.requestSync();
  }

  /** Force a destination into maintenance (weight 0, or removed with `onDown: 'remove'`) or out of it. */
  setMaintenance(destination: DestinationKey, on: boolean): void {
    const m = this.pool.member(destination);
    m.maintenance = on;
    this.updateState(m);
    this.requestSync();
  }

  /** Per-destination state, weights, last results; sorry server and quorum. */
  status(): HealthStatus {
    const pool = this.pool;
    const now = this.clock.now();
    const wall = Date.now();
    const destinations: DestinationStatus[] = [...pool.members.values()].map((m) => ({
      address: m.spec.address,
      port: m.spec.port,
      state: m.state,
      weight: pool.desired(m, pool.expected.get(m.name) ?? null) ?? 0,
      configuredWeight: m.configuredWeight,
      ...(m.health.last ? { last: m.health.last } : {}),
      since: new Date(wall - (now - m.stateSince)),
    }));
    return { destinations, sorryActive: pool.sorryActive, ...(pool.quorum !== undefined ? { quorum: pool.quorum } : {}), serviceWeight: pool.serviceWeight };
  }

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
    const m = this.pool.member(destination);
    return drainMember(
      {
        pool: this.pool,
        ipvs: this.ipvs,
        clock: this.clock,
        running: () => this.running,
        sync: () => this.sync(),
        updateState: (d) => this.updateState(d),
        emit: (e) => this.emitEvent(e),
      },
      m,
      options,
    );
  }

  // ------------------------------------------------------------ checking

  private schedule(m: Member, delayMs: number): void {
    if (!this.running || m.removing || m.draining) return;
    m.dueAt = this.clock.now() + Math.max(0, delayMs);
    m.timer = this.schedules.add(Math.max(0, delayMs), this.startOf(m));
  }

  /** Per member, made once: what its schedule entry runs, and where its result goes (no closure per check). */
  private readonly starters = new WeakMap<Member, () => void>();
  private readonly receivers = new WeakMap<Member, (result: CheckResult) => void>();

  private startOf(m: Member): () => void {
    let f = this.starters.get(m);
    if (f === undefined) {
      f = () => this.checkOnce(m);
      this.starters.set(m, f);
    }
    return f;
  }

  private receiverOf(m: Member): (result: CheckResult) => void {
    let f = this.receivers.get(m);
    if (f === undefined) {
      f = (result) => this.checked(m, result);
      this.receivers.set(m, f);
    }
    return f;
  }

  /**
   * One guarded check, its result to `onResult` once: a throw, a rejection or
   * a runner that never settles is a failure. The default runner goes through
   * startCheck (no promise per TCP check; it never throws for a server and
   * keeps its own deadline, so it needs no second guard).
   */
  private guardedCheck(m: Member, onResult: (result: CheckResult) => void): void {
    const started = this.clock.now();
    const threw = (e: unknown): CheckResult => ({ ok: false, latencyMs: this.clock.now() - started, detail: `check threw: ${(e as Error)?.message ?? String(e)}` });
    if (this.runner === runCheck) {
      try {
        startCheck(m.check, m.target, this.checkOptions, onResult);
      } catch (e) {
        const r = threw(e);
        queueMicrotask(() => onResult(r));
      }
      return;
    }
    const limit = (m.check.timeoutMs ?? this.pool.timeoutMs) + 1000;
    let settled = false;
    const settle = (r: CheckResult): void => {
      if (settled) return;
      settled = true;
      deadline.cancel();
      onResult(r);
    };
    const deadline = this.guardDeadlines.add(limit, () => settle({ ok: false, latencyMs: this.clock.now() - started, detail: `check did not settle within ${limit} ms` }));
    try {
      this.runner(m.check, m.target, this.checkOptions).then(settle, (e: unknown) => settle(threw(e)));
    } catch (e) {
      const r = threw(e);
      queueMicrotask(() => settle(r));
    }
  }

  /** Someone hears `check` events (they cost an object and an emit per check otherwise). */
  private hearsChecks(): boolean {
    return this.streams.size > 0 || this.listenerCount('check') > 0 || this.listenerCount('event') > 0;
  }

  private checkOnce(m: Member): void {
    if (!this.running || m.removing) return;
    // m.dueAt stays this check's due time until checked() schedules the next one.
    this.guardedCheck(m, this.receiverOf(m));
  }

  private checked(m: Member, result: CheckResult): void {
    if (!this.running || m.removing) return;
    const due = m.dueAt;
    if (this.hearsChecks()) this.emitEvent({ type: 'check', destination: m.name, result });
    const pool = this.pool;
    const before = pool.desired(m, pool.expected.get(m.name) ?? null);
    recordResult(m.health, result, this.clock.now(), pool.rise, pool.fall);
    this.updateState(m, result);
    if (pool.desired(m, pool.expected.get(m.name) ?? null) !== before) this.requestSync();
    const delay = !result.ok && m.health.health === 'up' ? pool.retryDelayMs : pool.intervalMs;
    // Due an interval after this check was due (check-schedule.ts): a late start is not carried forward.
    const now = this.clock.now();
    this.schedule(m, nextDueAt(due, delay, now) - now);
  }

  private updateState(m: Member, result?: CheckResult): void {
    const state = this.pool.stateOf(m);
    if (state === m.state) return;
    const from = m.state;
    m.state = state;
    m.stateSince = this.clock.now();
    this.emitEvent({ type: 'state', destination: m.name, from, to: state, ...(result ? { result } : {}), at: new Date() });
  }

  // ------------------------------------------------------------ syncing with the table

  private armSyncTimer(): void {
    if (!this.running) return;
    let every = this.pool.intervalMs;
    const ramp = this.pool.options.slowStart?.durationMs;
    const now = this.clock.now();
    if (ramp && [...this.pool.members.values()].some((m) => ramping(m.health, now, ramp))) every = Math.min(every, Math.max(50, ramp / 10));
    this.clock.clearTimeout(this.syncTimer);
    this.syncTimer = this.clock.setTimeout(() => {
      this.requestSync();
      this.armSyncTimer();
    }, every);
  }

  /** Coalesce sync requests made in one turn of the event loop into one read and one batch. */
  private requestSync(): void {
    if (!this.running || this.syncScheduled || this.held) return;
    this.syncScheduled = true;
    setImmediate(() => {
      this.syncScheduled = false;
      if (this.running) void this.sync();
    });
  }

  /** Run a sync now, or once more after the one under way. */
  private sync(): Promise<void> {
    if (this.held) return Promise.resolve(); // releaseTable() syncs
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
        } while (this.syncAgain && this.running && !this.held);
      } finally {
        this.syncing = undefined;
      }
    };
    this.syncing = loop();
    return this.syncing;
  }

  /** Maintenance files, then one sync with the table (table-sync.ts), then the slow-start timer. */
  private async syncOnce(): Promise<void> {
    readMaintenanceDir(this.pool, (m) => this.updateState(m));
    await syncTable(this.pool, this.ipvs, (e) => this.emitEvent(e));
    this.armRampIfNeeded();
  }

  private armRampIfNeeded(): void {
    const ramp = this.pool.options.slowStart?.durationMs;
    if (!ramp || !this.running) return;
    const now = this.clock.now();
    if ([...this.pool.members.values()].some((m) => ramping(m.health, now, ramp))) this.armSyncTimer();
  }
}
