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
import type { HealthCheckerOptions } from './checker-types.js';
import type { HealthChecker } from './checker.js';
import type { HealthRecord } from './health-state.js';
import type { Deadline } from './deadlines.js';

/**
 * The parts of a checker that a reconfiguration replaces or keeps. The
 * checker's fields of these names are private to its own file; this view is
 * how the reconfiguration (kept in its own file) reaches them.
 */
interface CheckerInternals {
  options: HealthCheckerOptions;
  key: ServiceKey;
  members: Map<string, InternalMember>;
  expected: Map<string, number | null>;
  intervalMs: number;
  timeoutMs: number;
  rise: number;
  fall: number;
  retryDelayMs: number;
  jitterMs: number;
  sorry?: { name: string };
  sorryActive: boolean;
  running: boolean;
  random: () => number;
  checkOptions: { timeoutMs?: number };
  schedule(m: InternalMember, delayMs: number): void;
  requestSync(): void;
  armSyncTimer(): void;
}

interface InternalMember {
  name: string;
  spec: unknown;
  target: unknown;
  configuredWeight: number;
  check: unknown;
  health: HealthRecord;
  maintenance: boolean;
  dirMaintenance: boolean;
  draining: boolean;
  removing: boolean;
  state: string;
  stateSince: number;
  timer?: Deadline;
}

/** What `HealthChecker.reconfigure()` changed in the pool. */
export interface ReconfigureOutcome {
  /** Destinations new to the pool (checked from now on, state `unknown`). */
  added: string[];
  /** Destinations no longer in the pool (no longer checked or touched). */
  removed: string[];
  /** Destinations kept, with their health. */
  kept: string[];
}

const FIELDS = ['options', 'key', 'expected', 'intervalMs', 'timeoutMs', 'rise', 'fall', 'retryDelayMs', 'jitterMs', 'sorryActive', 'running', 'random', 'checkOptions'] as const;
const METHODS = ['schedule', 'requestSync', 'armSyncTimer'] as const;

/**
 * The checker still has the fields and methods this file relies on (they are
 * private to checker.ts, so the compiler cannot check a rename there; this
 * does, and the unit tests run it).
 */
function assertInternals(c: CheckerInternals): void {
  const record = c as unknown as Record<string, unknown>;
  const missing = [...FIELDS.filter((f) => !(f in record)), ...METHODS.filter((m) => typeof record[m] !== 'function'), ...(c.members instanceof Map ? [] : ['members'])];
  if (missing.length) throw new Error(`HealthChecker.reconfigure: the checker has no ${missing.join(', ')} any more (update src/health/reconfigure.ts)`);
}

/** Same service key? (Address spelling aside: both went through the same normalisation in keyOf.) */
function sameKey(a: ServiceKey, b: ServiceKey): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * Move `fresh` (a checker just built from the new options, and so validated
 * whole) into `running`. The service key must stay the same: another service
 * is another checker.
 * @internal
 */
export function reconfigureChecker(running: HealthChecker, fresh: HealthChecker): ReconfigureOutcome {
  const to = running as unknown as CheckerInternals;
  const from = fresh as unknown as CheckerInternals;
  assertInternals(to);
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
  to.checkOptions = { ...to.checkOptions, timeoutMs: from.timeoutMs };
  const next = new Map<string, InternalMember>();
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
  if (to.running) {
    for (const name of outcome.added) {
      const m = next.get(name)!;
      to.schedule(m, to.jitterMs > 0 ? Math.floor(to.random() * to.jitterMs) : 0);
    }
    to.armSyncTimer();
    to.requestSync();
  }
  return outcome;
}
