/**
 * The director daemon's engine: owns a set of IPVS services, keeps their
 * destinations in step with their health (one {@link HealthChecker} per
 * checked service), reloads a new configuration by touching only the
 * difference, and stops leaving the table as configured (leave, quiesce or
 * flush). Reports everything as typed, ordered events.
 * @module
 */
import { EventEmitter } from 'node:events';
import { HealthChecker } from '../health/checker.js';
import type { HealthCheckerOptions, HealthEvent, HealthIpvs, HealthStatus } from '../health/checker-types.js';
import type { Ipvs } from '../ipvs/client.js';
import type { Operation, Plan } from '../ipvs/state.js';
import type { DirectorConfig, OnExit, ValidatedConfig } from './config.js';
import { DirectorHostSetup, type HostChange } from './host.js';
import { exitPlan, reloadPlan } from './reload-plan.js';
import type { Transition } from '../heartbeat/election.js';
import { DirectorFailover, failoverIdentity } from './failover.js';
import { StandbyIpvs } from './standby-ipvs.js';
import { ownedTable } from './owned-table.js';
import { ReloadRefusedError, sendReload } from './reload-rollback.js';

/** What the director needs of the Ipvs client (a real {@link Ipvs} fits). */
export type DirectorIpvs = HealthIpvs & Pick<Ipvs, 'snapshot'>;

/** Options of a {@link Director}. */
export interface DirectorEngineOptions {
  /** Network namespace the health probes run in (the one the Ipvs client works in). */
  netns?: string;
  /** Extra checker options (clock, runner, random), for tests. */
  checkerOverrides?: Pick<HealthCheckerOptions, 'clock' | 'runner' | 'random'>;
}

/** Why the table changed: the daemon starting, a reload, or the daemon stopping. */
export type DirectorPhase = 'start' | 'reload' | 'stop';

/** Ordered, typed events of a {@link Director} (`director.on('event', ...)`). */
export type DirectorEvent =
  /** One change of the host setup (VIPs, sysctls, announcements) for a start, reload or stop. */
  | { type: 'host'; phase: DirectorPhase; change: HostChange }
  /** One operation sent to the kernel for a start, reload or stop. */
  | { type: 'operation'; phase: DirectorPhase; operation: Operation }
  /** A start or reload is done: what the plan did, and the checkers kept, started and stopped (by service id). */
  | { type: 'configured'; phase: 'start' | 'reload'; summary: string; checkers: { kept: string[]; started: string[]; stopped: string[] } }
  /** A health event of the checker of service `service` (check events are not forwarded). */
  | { type: 'health'; service: string; event: Exclude<HealthEvent, { type: 'check' }> }
  /**
   * A reload that could not be carried out (the previous configuration stays
   * in force; the next reload tries again). A {@link ReloadRefusedError} when
   * the kernel refused an operation of its plan: what had taken effect was
   * undone (see its `rolledBack` and `left`).
   */
  | { type: 'error'; phase: DirectorPhase; error: Error }
  /** One election transition, handled (table, VIPs and checkers moved). */
  | { type: 'election'; transition: Transition }
  /** The election started, kept on a reload, restarted because its settings changed, or left. */
  | { type: 'failover'; phase: DirectorPhase; action: 'started' | 'kept' | 'restarted' | 'stopped'; detail: string }
  /** Stopped: what was left in the kernel. */
  | { type: 'stopped'; onExit: OnExit; summary: string };

const OPS: Operation['op'][] = ['add-service', 'update-service', 'delete-service', 'add-destination', 'update-destination', 'delete-destination', 'set-timeouts', 'start-daemon', 'stop-daemon'];

const FORWARDED = ['state', 'weights', 'sorry', 'quorum', 'drained', 'error'] as const;

/** Counters the director keeps (for metrics). */
export interface DirectorCounters {
  /** Reloads carried out. */
  reloads: number;
  /** Reloads that failed (the previous configuration stays), whatever the reason: an invalid file, a refusal by the kernel. */
  reloadFailures: number;
  /** Reloads the kernel refused part-way whose applied operations were all undone (also counted in `reloadFailures`). */
  reloadRollbacks: number;
  /** Reloads the kernel refused part-way whose undo it refused too, or whose outcome is unknown (also in `reloadFailures`). */
  reloadRollbackFailures: number;
  /** Operations sent to the kernel by starts, reloads and stops. */
  operations: number;
}

/**
 * Runs a validated configuration against the kernel.
 * @example
 * ```ts
 * const ipvs = await Ipvs.open({ netns: '/run/netns/lb' });
 * const director = new Director(ipvs, { netns: '/run/netns/lb' });
 * director.on('event', (e) => console.log(e));
 * await director.start(validateDirectorConfig(config));
 * // later, on SIGHUP:
 * await director.reload(validateDirectorConfig(newConfig));
 * await director.stop({ onExit: 'quiesce' });
 * ```
 */
export class Director extends EventEmitter {
  private readonly checkers = new Map<string, HealthChecker>();
  /** Ids of the services the daemon owns (those of the configuration in force). */
  private owned = new Set<string>();
  private current: ValidatedConfig | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private stopped = false;
  private readonly host: DirectorHostSetup;
  /** What the checkers write to: the kernel, or memory while a failover node is backup. */
  private readonly gate: StandbyIpvs;
  private election: DirectorFailover | undefined;
  /** The configured table the failover's table resource installs on takeover (updated on reload). */
  private readonly failoverTable: { services: ValidatedConfig['config']['table']['services'] } = { services: [] };
  /** Counters for metrics. */
  readonly counters: DirectorCounters = { reloads: 0, reloadFailures: 0, reloadRollbacks: 0, reloadRollbackFailures: 0, operations: 0 };

  /** @param ipvs the client of the namespace the daemon runs the table of */
  constructor(private readonly ipvs: DirectorIpvs, private readonly options: DirectorEngineOptions = {}) {
    super();
    this.host = new DirectorHostSetup(options.netns);
    this.gate = new StandbyIpvs(ipvs, true);
  }

  /** The running election (a configuration with `failover`), for metrics. */
  get failover(): DirectorFailover | undefined {
    return this.election;
  }

  /** The configuration in force (undefined before {@link start}). */
  get config(): ValidatedConfig | undefined {
    return this.current;
  }

  /** Ids of the services the daemon owns (`TCP 192.0.2.10:80`, `FWM 7`). */
  ownedServices(): string[] {
    return [...this.owned];
  }

  /** Each checked service's health (by service id). */
  health(): Map<string, HealthStatus> {
    return new Map([...this.checkers].map(([id, c]) => [id, c.status()]));
  }

  /**
   * Make the owned part of the table what `config` says and start its
   * checkers. Rejects if the kernel refuses the plan or a checker's first sync
   * (what was applied stays; {@link stop} undoes per its `onExit`).
   */
  start(config: ValidatedConfig): Promise<void> {
    return this.serial(async () => {
      await this.configure(config, 'start');
    });
  }

  /**
   * Move to a new configuration: the table difference is sent (weights of
   * checked destinations stay the checkers'; their writes are held meanwhile),
   * then checkers of services no longer checked stop, kept ones are
   * reconfigured (health kept), new checkers start. When the kernel refuses
   * an operation of the plan, what had taken effect is undone and the previous
   * configuration stays in force (checkers, VIPs and sysctls as they were).
   * Resolves with the plan; a failure is an `error` event and a rejection
   * (a {@link ReloadRefusedError} for a refusal by the kernel).
   */
  reload(config: ValidatedConfig): Promise<Plan> {
    return this.serial(async () => {
      try {
        const plan = await this.configure(config, 'reload');
        this.counters.reloads++;
        return plan;
      } catch (e) {
        this.counters.reloadFailures++;
        if (e instanceof ReloadRefusedError) {
          if (e.rolledBack) this.counters.reloadRollbacks++;
          else this.counters.reloadRollbackFailures++;
        }
        this.emitEvent({ type: 'error', phase: 'reload', error: e as Error });
        throw e;
      }
    });
  }

  /**
   * Stop the checkers, then leave the table (`'leave'`, the default), set the
   * owned destinations to weight 0 (`'quiesce'`), or delete the owned
   * services (`'flush'`). Never touches services the daemon does not own.
   */
  stop(options: { onExit?: OnExit } = {}): Promise<void> {
    return this.serial(async () => {
      if (this.stopped) return;
      this.stopped = true;
      const onExit = options.onExit ?? 'leave';
      if (this.election) {
        const was = this.election.state;
        await this.election.stop();
        this.election = undefined;
        this.emitEvent({ type: 'failover', phase: 'stop', action: 'stopped', detail: `left the election as ${was}` });
      }
      await Promise.all([...this.checkers.values()].map((c) => c.stop()));
      this.checkers.clear();
      let summary = 'table left as it is';
      if (onExit !== 'leave') {
        const ops = exitPlan(await this.ipvs.snapshot(), this.owned, onExit);
        await this.send(ops, 'stop');
        summary = onExit === 'flush' ? `deleted ${this.owned.size} service(s)` : `${ops.length} destination(s) set to weight 0`;
      }
      if (onExit === 'flush') for (const change of await this.host.flush()) this.emitEvent({ type: 'host', phase: 'stop', change });
      this.emitEvent({ type: 'stopped', onExit, summary });
    });
  }

  private serial<T>(f: () => Promise<T>): Promise<T> {
    const run = this.queue.then(f, f);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private emitEvent(e: DirectorEvent): void {
    this.emit('event', e);
  }

  private async send(ops: Operation[], phase: DirectorPhase): Promise<void> {
    if (ops.length === 0) return;
    await this.ipvs.runOperations(ops);
    this.counters.operations += ops.length;
    for (const operation of ops) this.emitEvent({ type: 'operation', phase, operation });
  }

  private checkerOptions(options: HealthCheckerOptions): HealthCheckerOptions {
    return { ...options, ...this.options.checkerOverrides, ...(this.options.netns !== undefined ? { netns: this.options.netns } : {}) };
  }

  private async configure(next: ValidatedConfig, phase: 'start' | 'reload'): Promise<Plan> {
    if (this.stopped) throw new Error('the director is stopped');
    const fo = next.config.failover;
    const restart = this.election !== undefined && failoverIdentity(fo, next.config.host) !== failoverIdentity(this.current?.config.failover, this.current?.config.host);
    // The running checkers' writes are held until the plan is through (or
    // undone): none puts back a destination or service the plan deletes, the
    // snapshot the plan is made from holds their last weights (what an undo
    // puts back), and on a refusal they carry on with their pools untouched.
    await Promise.all([...this.checkers.values()].map((c) => c.holdTable()));
    let plan: Plan;
    try {
      plan = await this.configureTable(next, phase, restart);
    } catch (e) {
      for (const c of this.checkers.values()) c.releaseTable();
      if (phase === 'reload') await this.rejoinElection();
      throw e;
    }
    const stopped: string[] = [];
    const kept: string[] = [];
    const started: string[] = [];
    // Checkers of services no longer checked stop.
    for (const [id, c] of this.checkers) {
      if (next.checkers.has(id)) continue;
      await c.stop();
      this.checkers.delete(id);
      stopped.push(id);
    }
    // Kept checkers take their new pool: removed destinations are no longer
    // theirs, new ones they add at weight 0 until checked.
    for (const [id, options] of next.checkers) {
      const c = this.checkers.get(id);
      if (!c) continue;
      c.reconfigure(this.checkerOptions(options));
      c.releaseTable();
      kept.push(id);
    }
    this.failoverTable.services = next.config.table.services;
    this.current = next;
    for (const change of await this.host.prune()) this.emitEvent({ type: 'host', phase, change });
    for (const [id, options] of next.checkers) {
      if (this.checkers.has(id)) continue;
      const c = new HealthChecker(this.gate, this.checkerOptions(options));
      for (const type of FORWARDED) c.on(type, (event: Exclude<HealthEvent, { type: 'check' }>) => this.emitEvent({ type: 'health', service: id, event }));
      await c.start();
      this.checkers.set(id, c);
      started.push(id);
    }
    this.emitEvent({ type: 'configured', phase, summary: plan.summary, checkers: { kept, started, stopped } });
    if (fo && this.election) this.emitEvent({ type: 'failover', phase, action: 'kept', detail: `failover settings unchanged: election kept as ${this.election.state}` });
    else if (fo) {
      this.election = await this.startElection(fo, next.config.host, phase);
      this.emitEvent({ type: 'failover', phase, action: restart ? 'restarted' : 'started', detail: restart ? 'failover settings changed: election restarted (the VIPs and the table may move to the peer)' : `election started (node ${fo.nodeId}, priority ${fo.priority})` });
    }
    return plan;
  }

  /** Join the election with these settings (the table and VIPs follow the role). */
  private startElection(fo: NonNullable<DirectorConfig['failover']>, host: DirectorConfig['host'], phase: DirectorPhase): Promise<DirectorFailover> {
    return DirectorFailover.start({
      failover: fo,
      ...(host ? { host } : {}),
      table: ownedTable({
        table: () => ({ services: this.failoverTable.services }),
        remembered: (service) => this.gate.remembered(service),
        ...(this.options.netns !== undefined ? { netns: this.options.netns } : {}),
      }),
      ...(this.options.netns !== undefined ? { netns: this.options.netns } : {}),
      onRole: (master) => this.gate.setActive(master),
      onTransition: (transition: Transition) => this.emitEvent({ type: 'election', transition }),
      onResourceError: (e) => this.emitEvent({ type: 'error', phase, error: new Error(`failover resource ${e.name}: ${e.action} failed: ${e.error!.message}`) }),
    });
  }

  /**
   * A failed reload that had left the election (its file changed or removed
   * the failover settings) joins it again with the settings still in force:
   * the previous configuration stays, election included. Until elected, the
   * checkers write to memory, as on a backup.
   */
  private async rejoinElection(): Promise<void> {
    const fo = this.current?.config.failover;
    if (!fo || this.election || this.stopped) return;
    this.gate.setActive(false);
    try {
      this.election = await this.startElection(fo, this.current!.config.host, 'reload');
      this.emitEvent({ type: 'failover', phase: 'reload', action: 'restarted', detail: 'the reload failed: election joined again with the settings in force' });
    } catch (e) {
      this.emitEvent({ type: 'error', phase: 'reload', error: new Error(`could not join the election again after the failed reload: ${(e as Error).message}`) });
    }
  }

  /**
   * The failover's, the host's and the table's part of {@link configure}. A
   * reload the kernel refuses is undone here: its table operations (by
   * {@link sendReload}) and its host changes (VIPs, sysctls); what is owned
   * stays what it was.
   */
  private async configureTable(next: ValidatedConfig, phase: 'start' | 'reload', restart: boolean): Promise<Plan> {
    const fo = next.config.failover;
    if (this.election && (restart || !fo)) {
      // Its settings changed: leave (a master gives up the table and VIPs; the peer may take them).
      const was = this.election.state;
      await this.election.stop('failover settings changed');
      this.election = undefined;
      if (!fo) this.emitEvent({ type: 'failover', phase, action: 'stopped', detail: `failover removed from the configuration; left the election as ${was}` });
    }
    if (fo && phase === 'start') this.gate.setActive(false);
    if (!fo && !this.gate.isActive) this.gate.setActive(true);
    // Sysctls (and, without failover, the VIPs) first: new VIPs exist before their services.
    for (const change of await this.host.configure(next.config.host, { vips: !fo })) this.emitEvent({ type: 'host', phase, change });
    if (fo && !this.gate.isActive) {
      // Backup (or not elected yet): the master holds the table and the VIPs.
      this.owned = new Set(next.normal.services.keys());
      return { operations: [], counts: Object.fromEntries(OPS.map((o) => [o, 0])) as Plan['counts'], summary: 'table held by the master (this node is not master)' };
    }
    if (phase === 'start') {
      const plan = reloadPlan(await this.ipvs.snapshot(), next, this.owned);
      // What is owned from now on: the new services, and the old ones until their deletion went through.
      this.owned = new Set([...this.owned, ...next.normal.services.keys()]);
      await this.send(plan.operations, phase);
      this.owned = new Set(next.normal.services.keys());
      return plan;
    }
    let plan: Plan;
    try {
      plan = reloadPlan(await this.ipvs.snapshot(), next, this.owned);
      const { applied } = await sendReload(this.ipvs, plan.operations);
      this.counters.operations += applied.length;
      for (const operation of applied) this.emitEvent({ type: 'operation', phase, operation });
    } catch (e) {
      if (e instanceof ReloadRefusedError) this.counters.operations += e.applied + e.undoOperations;
      // The failed configuration's host changes go too (the kernel's table is back, or the error says what is not).
      const undone = await this.host.undoConfigure().catch((u: unknown) => {
        this.emitEvent({ type: 'error', phase, error: new Error(`could not take back the host changes of the failed reload: ${(u as Error).message}`) });
        return [];
      });
      for (const change of undone) this.emitEvent({ type: 'host', phase, change });
      throw e;
    }
    this.owned = new Set(next.normal.services.keys());
    return plan;
  }
}
