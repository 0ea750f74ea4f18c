/**
 * Failover: resources that follow an election's role, started in order on
 * becoming master and stopped in reverse order on leaving it (heartbeat's
 * haresources), each awaited. See docs/heartbeat.md.
 * @module
 */
import { EventEmitter } from 'node:events';
import { InvalidArgumentError } from '../errors.js';
import type { Election, Reannounce, Transition } from './election.js';

/**
 * Something a node holds while master (and optionally does while backup).
 * Every method is optional; each is awaited before the next resource's.
 */
export interface Resource {
  /** Name used in events, errors and fault reasons. */
  readonly name: string;
  /** Becoming master: take the resource (in list order). */
  acquire?(t: Transition): Promise<void>;
  /** Leaving master: give it back (in reverse list order). Only called after a successful acquire. */
  release?(t: Transition): Promise<void>;
  /** Becoming backup (in list order). */
  standby?(t: Transition): Promise<void>;
  /** Leaving backup (in reverse list order). Only called after a successful standby. */
  leaveStandby?(t: Transition): Promise<void>;
  /** As master, after a split brain healed: announce again (e.g. gratuitous ARP). */
  reannounce?(): Promise<void>;
  /** Called once for every transition that involves none of the above for this resource. */
  notify?(t: Transition): Promise<void>;
}

/** One resource action, emitted as `'resource'` after it ends. */
export interface ResourceEvent {
  /** Resource name. */
  name: string;
  /** What was done. */
  action: 'acquire' | 'release' | 'standby' | 'leaveStandby' | 'reannounce' | 'notify';
  /** The transition being handled (none for reannounce). */
  transition?: Transition;
  /** The error, if it failed. */
  error?: Error;
  /** How long it took. */
  durationMs: number;
}

/** Options of {@link Failover}. */
export interface FailoverOptions {
  /** Resources, in start order. */
  resources: Resource[];
  /**
   * On the first transition, when it is not to master, `release()` every
   * resource (reverse order) in case an earlier run died holding it (a VIP
   * left on the interface after a crash). Failures are reported as
   * `'resource'` events only. Default true.
   */
  cleanStart?: boolean;
}

/**
 * Runs resources as an election's role changes. Transitions are handled
 * strictly one after the other. The first transition, unless to master,
 * first releases everything (see {@link FailoverOptions.cleanStart}). A resource that fails to acquire (or to go
 * to standby) makes the node release what it had started (reverse order) and
 * puts the election in `fault` (`election.fault('resource NAME: ...')`);
 * `retry()` clears that fault. Failures to release are reported as
 * `'resource'` events with an error and do not stop the other releases.
 * Events: `'resource'` ({@link ResourceEvent}), `'handled'` (a {@link Transition} fully handled).
 */
export class Failover extends EventEmitter {
  private readonly resources: Resource[];
  private readonly held: Resource[] = [];
  private readonly standing: Resource[] = [];
  private readonly loop: Promise<void>;
  private chain: Promise<void> = Promise.resolve();
  private readonly onReannounce = (r: Reannounce) => void this.reannounce(r);
  private readonly cleanStart: boolean;

  /** Validates the resources and starts following `election` (start the election after this). */
  constructor(
    private readonly election: Election,
    options: FailoverOptions,
  ) {
    super();
    if (!Array.isArray(options?.resources)) throw new InvalidArgumentError('resources', 'must be an array of resources');
    const names = new Set<string>();
    options.resources.forEach((r, i) => {
      if (!r || typeof r.name !== 'string' || !r.name) throw new InvalidArgumentError(`resources[${i}]`, 'must be a resource with a name');
      if (names.has(r.name)) throw new InvalidArgumentError(`resources[${i}].name`, `${r.name} used twice`);
      names.add(r.name);
    });
    this.resources = [...options.resources];
    this.cleanStart = options.cleanStart ?? true;
    const it = election.transitions();
    election.on('reannounce', this.onReannounce);
    this.loop = (async () => {
      for await (const t of it) await this.serialise(() => this.handle(t));
      election.off('reannounce', this.onReannounce);
    })();
  }

  /** Resources currently held (acquired as master), in start order. */
  get acquired(): string[] {
    return this.held.map((r) => r.name);
  }

  /** Resolves when the election has stopped and its last transition is handled. */
  get done(): Promise<void> {
    return this.loop;
  }

  /** Clears a fault caused by a failed resource; the election then decides again. */
  retry(): void {
    this.election.clearFault();
  }

  private serialise(fn: () => Promise<void>): Promise<void> {
    const next = this.chain.then(fn);
    this.chain = next.catch(() => undefined);
    return next;
  }

  private async run(r: Resource, action: ResourceEvent['action'], t: Transition | undefined): Promise<Error | undefined> {
    const fn = r[action] as ((t?: Transition) => Promise<void>) | undefined;
    if (!fn) return undefined;
    const start = performance.now();
    let error: Error | undefined;
    try {
      await fn.call(r, t);
    } catch (e) {
      error = e instanceof Error ? e : new Error(String(e));
    }
    const ev: ResourceEvent = { name: r.name, action, durationMs: performance.now() - start };
    if (t) ev.transition = t;
    if (error) ev.error = error;
    this.emit('resource', ev);
    return error;
  }

  private async releaseAll(list: Resource[], action: 'release' | 'leaveStandby', t: Transition, touched: Set<Resource>): Promise<void> {
    while (list.length) {
      const r = list.pop()!;
      touched.add(r);
      await this.run(r, action, t);
    }
  }

  private async takeAll(list: Resource[], action: 'acquire' | 'standby', t: Transition, touched: Set<Resource>): Promise<void> {
    for (const r of this.resources) {
      if (!r[action]) continue;
      touched.add(r);
      const error = await this.run(r, action, t);
      if (error) {
        const undo = action === 'acquire' ? 'release' : 'leaveStandby';
        await this.releaseAll(list, undo, t, touched);
        this.election.fault(`resource ${r.name}: ${error.message}`);
        return;
      }
      list.push(r);
    }
  }

  private async handle(t: Transition): Promise<void> {
    const touched = new Set<Resource>();
    if (t.from === 'init' && t.to !== 'master' && this.cleanStart) {
      for (const r of [...this.resources].reverse()) {
        if (!r.release) continue;
        touched.add(r);
        await this.run(r, 'release', t);
      }
    }
    if (t.from === 'master' || this.held.length) await this.releaseAll(this.held, 'release', t, touched);
    if (t.from === 'backup' || this.standing.length) await this.releaseAll(this.standing, 'leaveStandby', t, touched);
    if (t.to === 'master') await this.takeAll(this.held, 'acquire', t, touched);
    if (t.to === 'backup') await this.takeAll(this.standing, 'standby', t, touched);
    for (const r of this.resources) if (!touched.has(r) && r.notify) await this.run(r, 'notify', t);
    this.emit('handled', t);
  }

  private async reannounce(_: Reannounce): Promise<void> {
    await this.serialise(async () => {
      for (const r of this.held) await this.run(r, 'reannounce', undefined);
    });
  }
}
