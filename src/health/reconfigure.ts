/**
 * Changing a running {@link HealthChecker}'s pool and options without a
 * restart (the director daemon's reload): destinations still configured keep
 * their health (up/down, rise/fall counters, last result, maintenance,
 * drain) and their place in the check schedule; new ones start `unknown`;
 * removed ones stop being checked and are no longer touched.
 * @module
 */
import { InvalidArgumentError } from '../errors.js';
import { keyOf } from '../ipvs/state.js';
import type { ServiceKey } from '../ipvs/types.js';
import type { HealthChecker } from './checker.js';
import type { Member, Pool } from './pool.js';

/** What `HealthChecker.reconfigure()` changed in the pool. */
export interface ReconfigureOutcome {
  /** Destinations new to the pool (checked from now on, state `unknown`). */
  added: string[];
  /** Destinations no longer in the pool (no longer checked or touched). */
  removed: string[];
  /** Destinations kept, with their health. */
  kept: string[];
}

/** What a reconfiguration needs of the checker besides its pool. */
export interface ReconfigureHost {
  /** The checker is running (new destinations are scheduled, a sync follows). */
  running(): boolean;
  /** The check timeout for checks started from now on. */
  setCheckTimeout(timeoutMs: number): void;
  /** Schedule a member's next check in `delayMs`. */
  schedule(m: Member, delayMs: number): void;
  armSyncTimer(): void;
  requestSync(): void;
  /** The checker's random source (start-up spread of new destinations). */
  random(): number;
}

/** Same service key? (Address spelling aside: both went through the same normalisation in keyOf.) */
function sameKey(a: ServiceKey, b: ServiceKey): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * Move `from` (a pool just built from the new options, and so validated
 * whole) into `to`, the running checker's pool. The service key must stay the
 * same: another service is another checker.
 */
export function reconfigurePool(to: Pool, from: Pool, host: ReconfigureHost): ReconfigureOutcome {
  if (!sameKey(to.key, from.key)) throw new InvalidArgumentError('service', `is ${JSON.stringify(keyOf(from.options.service))}, the checker's is ${JSON.stringify(to.key)}: a different service needs a checker of its own`);
  const outcome: ReconfigureOutcome = { added: [], removed: [], kept: [] };
  const previousSorry = to.sorry?.name;
  to.options = from.options;
  to.intervalMs = from.intervalMs;
  to.timeoutMs = from.timeoutMs;
  to.rise = from.rise;
  to.fall = from.fall;
  to.retryDelayMs = from.retryDelayMs;
  to.jitterMs = from.jitterMs;
  to.sorry = from.sorry;
  if (previousSorry !== from.sorry?.name) to.sorryActive = false; // the new one is added by the next sync if needed
  host.setCheckTimeout(from.timeoutMs);
  const next = new Map<string, Member>();
  for (const [name, m] of from.members) {
    const old = to.members.get(name);
    if (old && !old.removing) {
      // Health, administrative state and schedule stay; what the configuration says is replaced.
      old.spec = m.spec;
      old.target = m.target;
      old.configuredWeight = m.configuredWeight;
      old.check = m.check;
      next.set(name, old);
      outcome.kept.push(name);
    } else {
      next.set(name, m);
      outcome.added.push(name);
    }
  }
  for (const [name, old] of to.members) {
    if (next.get(name) === old) continue;
    old.timer?.cancel();
    old.removing = true;
    to.expected.delete(name);
    outcome.removed.push(name);
  }
  to.members = next;
  if (host.running()) {
    for (const name of outcome.added) {
      const m = next.get(name)!;
      host.schedule(m, to.jitterMs > 0 ? Math.floor(host.random() * to.jitterMs) : 0);
    }
    host.armSyncTimer();
    host.requestSync();
  }
  return outcome;
}
