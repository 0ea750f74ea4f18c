/**
 * The rise/fall state machine of one destination's health, and the weight a
 * destination should have: pure functions of results and time, no I/O.
 * @module
 */
import type { CheckResult } from './spec.js';

/** Health as the checks see it (administrative states are layered on top). */
export type Health = 'unknown' | 'up' | 'down';

/** Counters and state of one destination. */
export interface HealthRecord {
  health: Health;
  /** Consecutive successes / failures so far. */
  successes: number;
  failures: number;
  /** Clock time of the last change of `health`. */
  since: number;
  /** Clock time when it last came up from down (slow start counts from here); undefined if never. */
  recoveredAt?: number;
  /** Weight asked for by the last successful check (exec, function probes). */
  dynamicWeight?: number;
  last?: CheckResult;
}

/** A fresh record: health unknown until the first result. */
export function newHealthRecord(now: number): HealthRecord {
  return { health: 'unknown', successes: 0, failures: 0, since: now };
}

/**
 * Count one result. From `unknown` the first result decides (so a restart
 * settles in one interval); from `down`, `rise` consecutive successes bring it
 * up; from `up`, `fall` consecutive failures take it down. Returns the previous
 * health when it changed, undefined otherwise.
 */
export function recordResult(r: HealthRecord, result: CheckResult, now: number, rise: number, fall: number): Health | undefined {
  r.last = result;
  if (result.ok) {
    r.successes++;
    r.failures = 0;
    r.dynamicWeight = result.weight;
  } else {
    r.failures++;
    r.successes = 0;
  }
  const before = r.health;
  let next: Health = before;
  if (before === 'unknown') next = result.ok ? 'up' : 'down';
  else if (before === 'down' && r.successes >= rise) next = 'up';
  else if (before === 'up' && r.failures >= fall) next = 'down';
  if (next === before) return undefined;
  r.health = next;
  r.since = now;
  if (before === 'down' && next === 'up') r.recoveredAt = now;
  return before;
}

/**
 * The weight an up destination should have: the check's dynamic weight if it
 * gave one, else the configured weight, ramped linearly over `slowStartMs`
 * after a recovery (never below 1 while ramping).
 */
export function upWeight(r: HealthRecord, configured: number, now: number, slowStartMs: number | undefined): number {
  const target = r.dynamicWeight ?? configured;
  if (!slowStartMs || r.recoveredAt === undefined || target === 0) return target;
  const elapsed = now - r.recoveredAt;
  if (elapsed >= slowStartMs) return target;
  return Math.max(1, Math.ceil((target * Math.max(0, elapsed)) / slowStartMs));
}

/** True while an up destination is still ramping up. */
export function ramping(r: HealthRecord, now: number, slowStartMs: number | undefined): boolean {
  return !!slowStartMs && r.health === 'up' && r.recoveredAt !== undefined && now - r.recoveredAt < slowStartMs;
}

/**
 * Quorum with hysteresis (keepalived): once met, it is lost only below
 * `min − hysteresis`; once lost, regained only at `min + hysteresis`. With no
 * previous value the plain comparison decides.
 */
export function quorumMet(previous: boolean | undefined, weight: number, min: number, hysteresis: number): boolean {
  if (previous === undefined) return weight >= min;
  if (previous) return weight >= min - hysteresis;
  return weight >= min + hysteresis;
}
