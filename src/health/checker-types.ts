/**
 * Public types of the {@link HealthChecker}: options, status, events, and the
 * collaborators it takes (so the state machine can run on a fake clock, fake
 * probes and a fake table).
 * @module
 */
import type { Ipvs } from '../ipvs/client.js';
import type { DestinationSpec, ServiceSpec } from '../ipvs/types.js';
import type { RunCheckOptions } from './run-check.js';
import type { CheckResult, CheckSpec, CheckTarget } from './spec.js';

/**
 * What the checker needs of the Ipvs client (a real {@link Ipvs} fits).
 * `listDestinationSpecs` is optional: without it the sync reads `listDestinations`.
 */
export type HealthIpvs = Pick<Ipvs, 'getService' | 'addService' | 'listDestinations' | 'addDestination' | 'updateDestination' | 'deleteDestination' | 'runOperations'> &
  Partial<Pick<Ipvs, 'listDestinationSpecs'>>;

/** Timers and time, replaceable in tests. */
export interface Clock {
  /** Milliseconds on a monotonic-enough scale. */
  now(): number;
  /** Call `callback` once after `ms` milliseconds; returns a handle for {@link Clock.clearTimeout}. */
  setTimeout(callback: () => void, ms: number): unknown;
  /** Cancel a timer (a handle already fired or undefined is ignored). */
  clearTimeout(handle: unknown): void;
}

/** Runs one check (default: {@link runCheck}). */
export type ProbeRunner = (spec: CheckSpec, target: CheckTarget, options: RunCheckOptions) => Promise<CheckResult>;

/** A pool member: a destination plus, optionally, its own check. */
export type PoolDestination = DestinationSpec & {
  /** Overrides the checker's `check` for this destination. */
  check?: CheckSpec;
};

/** Options of a {@link HealthChecker}. */
export interface HealthCheckerOptions {
  /** The virtual service (created if missing). */
  service: ServiceSpec;
  /** The configured pool, with configured weights (default weight 1). */
  destinations: PoolDestination[];
  /** The check run against every destination (unless it has its own). */
  check: CheckSpec;
  /** Time between checks of one destination (default 2 000 ms). */
  intervalMs?: number;
  /** Timeout of a check whose spec has none (default: the interval, at most 5 000 ms). */
  timeoutMs?: number;
  /** Consecutive successes that bring a down destination up (default 2, as HAProxy). */
  rise?: number;
  /** Consecutive failures that take an up destination down (default 3, as HAProxy). */
  fall?: number;
  /** Time before the next check after a failure of a destination still up (default: the interval). */
  retryDelayMs?: number;
  /** First checks are spread over a random delay of up to this many milliseconds (default: the interval; 0: all at once). */
  startJitterMs?: number;
  /** What a down destination becomes: weight 0 (`'quiesce'`, the default, ldirectord `quiescent=yes`) or deleted (`'remove'`). */
  onDown?: 'quiesce' | 'remove';
  /** A recovered destination's weight climbs linearly to its configured weight over this time (HAProxy `slowstart`). */
  slowStart?: { durationMs: number };
  /** Added when no destination serves, removed when one does again. */
  sorryServer?: DestinationSpec;
  /**
   * Quorum on the sum of the serving destinations' weights: lost below
   * `minWeight − hysteresis`, regained at `minWeight + hysteresis` (keepalived
   * `quorum`/`hysteresis`; default hysteresis 0). Fires `quorum` events.
   */
  quorum?: { minWeight: number; hysteresis?: number };
  /**
   * A directory where a file named after a destination (`10.0.1.1:80`, or just
   * `10.0.1.1`) forces it into maintenance, as ldirectord's `maintenancedir`.
   */
  maintenanceDir?: string;
  /** Run the probes in this network namespace (see {@link RunCheckOptions.netns}). */
  netns?: string;
  /** Read the table every interval and undo changes made by others (default true). */
  reassert?: boolean;
  /** Time source (default: the real one). */
  clock?: Clock;
  /** Check runner (default: {@link runCheck}). */
  runner?: ProbeRunner;
  /** Random numbers in [0, 1) for the start-up jitter (default Math.random). */
  random?: () => number;
}

/** Health and administrative state of a destination. */
export type DestinationState = 'up' | 'down' | 'unknown' | 'maintenance' | 'draining';

/** One destination in {@link HealthChecker.status}. */
export interface DestinationStatus {
  address: string;
  port: number;
  state: DestinationState;
  /** Weight the checker wants in the kernel now (0 when quiesced or removed). */
  weight: number;
  /** Weight from the configuration. */
  configuredWeight: number;
  /** The latest check, if any ran. */
  last?: CheckResult;
  /** When `state` last changed. */
  since: Date;
}

/** Everything {@link HealthChecker.status} reports. */
export interface HealthStatus {
  destinations: DestinationStatus[];
  /** True while the sorry server is in the table. */
  sorryActive: boolean;
  /** Quorum: undefined until every destination has been checked, or without a quorum option. */
  quorum?: boolean;
  /** Sum of the serving destinations' weights. */
  serviceWeight: number;
}

/** A destination named in events: `'10.0.1.1:80'` or `'[2001:db8::1]:80'`. */
export type DestinationName = string;

/** Ordered, typed changes a checker reports (`checker.on('event', ...)` or `for await (const e of checker.events())`). */
export type HealthEvent =
  | { type: 'check'; destination: DestinationName; result: CheckResult }
  | { type: 'state'; destination: DestinationName; from: DestinationState; to: DestinationState; result?: CheckResult; at: Date }
  | { type: 'weights'; changes: Array<{ destination: DestinationName; from: number | null; to: number | null }>; external: boolean }
  | { type: 'sorry'; active: boolean }
  | { type: 'quorum'; met: boolean; weight: number }
  | { type: 'drained'; destination: DestinationName; outcome: DrainOutcome }
  | { type: 'error'; error: Error; during: string };

/** Options of {@link HealthChecker.drain}. */
export interface DrainOptions {
  /** Give up waiting after this long (default 300 000 ms). */
  timeoutMs?: number;
  /** Time between looks at the connection counts (default 1 000 ms). */
  pollMs?: number;
  /**
   * What "drained" means: no connections at all, including inactive ones and
   * persistence templates (`'all'`, the default), or no active ones (`'active'`:
   * a closed TCP connection lingers as inactive for about two minutes).
   */
  until?: 'all' | 'active';
  /** On timeout, remove the destination anyway (default false: it stays, quiesced). */
  removeOnTimeout?: boolean;
}

/** What a drain did. */
export interface DrainOutcome {
  /** True when the connections were gone before the timeout. */
  drained: boolean;
  /** True when the destination was removed from the table and the pool. */
  removed: boolean;
  /** How long it waited. */
  waitedMs: number;
  /** Connection counts at the last look. */
  remaining: { active: number; inactive: number; persistent: number };
}
