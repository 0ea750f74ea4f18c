/**
 * A checker's pool: its options validated whole, the derived timings, one
 * {@link Member} per destination (configuration, health, administrative
 * state, pending check), the sorry server, and what the last sync left in the
 * table. The checker, the table sync, the drain and the reconfiguration all
 * work on this one typed object; nothing here is exported from the package.
 * @module
 */
import { InvalidArgumentError } from '../errors.js';
import { addressFamily, canonicalAddress, formatAddressPort } from '../ipvs/address.js';
import { keyOf } from '../ipvs/state.js';
import type { DestinationKey, DestinationSpec, ServiceKey } from '../ipvs/types.js';
import type { Clock, DestinationName, DestinationState, HealthCheckerOptions, PoolDestination } from './checker-types.js';
import { newHealthRecord, upWeight, type HealthRecord } from './health-state.js';
import type { Deadline } from './deadlines.js';
import { DEFAULT_CHECK_TIMEOUT_MS, validateCheckSpec, type CheckSpec, type CheckTarget } from './spec.js';

/** One destination of the pool: what the configuration says, and what the checks and the operator made of it. */
export interface Member {
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

/** The sorry server: a destination with its port and name. */
export type SorryServer = DestinationSpec & { port: number; name: string };

/** `v` checked as a positive integer (`fallback` when absent); the error names `field`. */
export function positiveInt(v: number | undefined, field: string, fallback: number): number {
  if (v === undefined) return fallback;
  if (!Number.isInteger(v) || v < 1) throw new InvalidArgumentError(field, 'must be a positive integer');
  return v;
}

/** `v` checked as a number of milliseconds ≥ 0 (`fallback` when absent); the error names `field`. */
export function nonNegative(v: number | undefined, field: string, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new InvalidArgumentError(field, 'must be a number of milliseconds ≥ 0');
  return v;
}

/**
 * The pool and options of one checker. Built from the options (every field
 * checked, nothing half-built on error); a reconfiguration builds a new one
 * and moves its configuration into the running one.
 */
export class Pool {
  readonly key: ServiceKey;
  options: HealthCheckerOptions;
  members = new Map<DestinationName, Member>();
  intervalMs: number;
  timeoutMs: number;
  rise: number;
  fall: number;
  retryDelayMs: number;
  jitterMs: number;
  sorry?: SorryServer;
  /** What the table held for our destinations after our last sync (null: absent). */
  expected = new Map<DestinationName, number | null>();
  sorryActive = false;
  quorum: boolean | undefined;
  serviceWeight = 0;

  constructor(
    options: HealthCheckerOptions,
    private readonly clock: Clock,
  ) {
    this.options = options;
    this.key = keyOf(options.service);
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
    const now = clock.now();
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
  nameOf(d: { address: string; port?: number }): DestinationName {
    const family = addressFamily(d.address) ?? 'ipv4';
    return formatAddressPort(canonicalAddress(d.address, family), family, d.port ?? ('port' in this.key ? this.key.port : 0));
  }

  /** The member a caller names (its port defaults to the service's); a clear error when it is not in the pool. */
  member(d: DestinationKey): Member {
    const name = this.nameOf({ address: d.address, port: d.port ?? ('port' in this.key ? this.key.port : 0) });
    const m = this.members.get(name);
    if (!m) throw new InvalidArgumentError('destination', `${name} is not in this checker's pool`);
    return m;
  }

  /** The weight `m` should have in the kernel (null: absent), given what is there now. */
  desired(m: Member, live: number | null): number | null {
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

  /** The state a member is in: draining and maintenance before its health. */
  stateOf(m: Member): DestinationState {
    return m.draining ? 'draining' : m.maintenance || m.dirMaintenance ? 'maintenance' : m.health.health;
  }
}
