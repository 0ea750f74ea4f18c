/**
 * remap(): which clients change destination when a pool changes.
 * @module
 */
import type { ServiceSpec } from '../ipvs/types.js';
import { destinationId, simulate, type SimConnection, type SimDestination, type SimulateOptions } from './simulate.js';

/** One side of {@link remap}: a service, its destinations in list order, and simulation options. */
export interface PoolState {
  /** The service (its scheduler and flags decide the placement). */
  service: ServiceSpec;
  /** Destinations in the kernel's list order. */
  destinations: readonly SimDestination[];
  /** Hidden scheduler state, see {@link SimulateOptions}. */
  options?: SimulateOptions;
}

/** A client whose destination changes. */
export interface Move {
  /** Index of the client in the `clients` argument. */
  client: number;
  /** Destination before (`address:port`), or null when it had none. */
  from: string | null;
  /** Destination after, or null when it has none. */
  to: string | null;
}

/** Per-destination counts of {@link remap}. */
export interface RemapCount {
  /** Clients placed here before. */
  before: number;
  /** Clients placed here after. */
  after: number;
  /** Clients that left for another destination (or none). */
  movedOut: number;
  /** Clients that came from another destination (or none). */
  movedIn: number;
}

/** What {@link remap} returns. */
export interface RemapResult {
  /** Clients whose destination changes, in client order. */
  moves: Move[];
  /** Clients that stay where they were. */
  unchanged: number;
  /** Counts per destination (`address:port`), over the destinations of both pools. */
  perDestination: Map<string, RemapCount>;
}

/**
 * Which clients change destination when the pool changes from `before` to
 * `after` (e.g. a destination removed under sh vs mh). Each client is placed
 * as a new connection on each side independently, so it answers for the
 * hashing schedulers (sh, dh, mh); for the others it compares two fresh runs.
 * Destinations are matched by address and port.
 * @example
 * ```ts
 * const { moves } = remap({ service, destinations: all }, { service, destinations: all.slice(1) }, clients);
 * ```
 */
export function remap(before: PoolState, after: PoolState, clients: readonly SimConnection[]): RemapResult {
  const b = simulate(before.service, before.destinations, clients, { count: 'none', ...before.options });
  const a = simulate(after.service, after.destinations, clients, { count: 'none', ...after.options });
  const portOf = (s: ServiceSpec) => ('port' in s && typeof s.port === 'number' ? s.port : 0);
  const idsB = before.destinations.map((d) => destinationId(d, portOf(before.service)));
  const idsA = after.destinations.map((d) => destinationId(d, portOf(after.service)));
  const per = new Map<string, RemapCount>();
  const entry = (id: string) => {
    let e = per.get(id);
    if (!e) per.set(id, (e = { before: 0, after: 0, movedOut: 0, movedIn: 0 }));
    return e;
  };
  for (const id of [...idsB, ...idsA]) entry(id);
  const moves: Move[] = [];
  let unchanged = 0;
  for (let c = 0; c < clients.length; c++) {
    const from = b.indexes[c]! >= 0 ? idsB[b.indexes[c]!]! : null;
    const to = a.indexes[c]! >= 0 ? idsA[a.indexes[c]!]! : null;
    if (from !== null) entry(from).before++;
    if (to !== null) entry(to).after++;
    if (from === to) {
      unchanged++;
      continue;
    }
    moves.push({ client: c, from, to });
    if (from !== null) entry(from).movedOut++;
    if (to !== null) entry(to).movedIn++;
  }
  return { moves, unchanged, perDestination: per };
}
