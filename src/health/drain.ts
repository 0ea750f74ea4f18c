/**
 * Draining one destination: quiesce it, poll its connection counters until
 * they are gone (or the time is up, or the checker stops), then remove it
 * from the table and the pool.
 * @module
 */
import { InvalidArgumentError } from '../errors.js';
import type { Clock, DrainOptions, DrainOutcome, HealthEvent, HealthIpvs } from './checker-types.js';
import { nonNegative, positiveInt, type Member, type Pool } from './pool.js';
import { readLiveDestinations } from './read-live.js';

/** What a drain needs of its checker. */
export interface DrainHost {
  readonly pool: Pool;
  readonly ipvs: HealthIpvs;
  readonly clock: Clock;
  /** The checker is running (a stop ends the wait). */
  running(): boolean;
  /** Run a sync now (or once more after the one under way). */
  sync(): Promise<void>;
  /** Recompute the member's state (an event if it changed). */
  updateState(m: Member): void;
  emit(e: HealthEvent): void;
}

/** Drain `m` (see `HealthChecker.drain`): the options are checked before anything changes. */
export async function drainMember(host: DrainHost, m: Member, options: DrainOptions): Promise<DrainOutcome> {
  const { pool, clock } = host;
  const timeoutMs = nonNegative(options.timeoutMs, 'timeoutMs', 300_000);
  const pollMs = positiveInt(options.pollMs, 'pollMs', 1000);
  const until = options.until ?? 'all';
  if (until !== 'all' && until !== 'active') throw new InvalidArgumentError('until', 'must be "all" or "active"');
  const started = clock.now();
  m.draining = true;
  m.timer?.cancel();
  host.updateState(m);
  await host.sync();
  let remaining = { active: 0, inactive: 0, persistent: 0 };
  let drained = false;
  for (;;) {
    const live = await readLiveDestinations(host.ipvs, pool.key);
    const d = live?.get(m.name);
    remaining = d ? { active: d.activeConnections, inactive: d.inactiveConnections, persistent: d.persistentConnections } : { active: 0, inactive: 0, persistent: 0 };
    drained = until === 'active' ? remaining.active === 0 : remaining.active + remaining.inactive + remaining.persistent === 0;
    if (drained || !host.running() || clock.now() - started >= timeoutMs) break;
    await new Promise<void>((r) => clock.setTimeout(r, Math.min(pollMs, Math.max(1, timeoutMs - (clock.now() - started)))));
  }
  const removed = host.running() && (drained || !!options.removeOnTimeout);
  if (removed) {
    m.removing = true;
    await host.sync();
  }
  const outcome: DrainOutcome = { drained, removed, waitedMs: clock.now() - started, remaining };
  host.emit({ type: 'drained', destination: m.name, outcome });
  return outcome;
}
