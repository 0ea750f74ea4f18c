/**
 * A placement simulator that follows the kernel's schedulers line by line
 * (net/netfilter/ipvs/ip_vs_{rr,wrr,lc,wlc,sed,nq,fo,ovf,sh,dh,mh}.c, Linux
 * 6.1): given a service, its destinations in the kernel's list order and a
 * sequence of new connections, it names the destination the kernel picks for
 * each one.
 *
 * State the kernel keeps but no listing shows is an explicit input:
 * rr's position, wrr's position and current weight, mh's last non-zero
 * weight of each destination, and the overload flag.
 * @module
 */
import { InvalidArgumentError } from '../errors.js';
import { persistenceNetwork } from '../persistence/granularity.js';
import { addressFamily, canonicalAddress, type Family } from '../ipvs/address.js';
import type { ServiceSpec } from '../ipvs/types.js';
import * as C from '../ipvs/constants.js';
import { normalizeServiceSpec } from '../ipvs/validate.js';
import { foldFast, foldOf } from './client-address.js';
import { dhHashKey, foldAddress, mhHashKey, MH_KEY1, shHashKey } from './hash.js';
import { buildDhTable, buildMhTable, buildShTable, DH_TAB_BITS, MH_TAB_INDEX, mhTableSize, SH_TAB_BITS, type TableDestination } from './tables.js';
import { countBasedPick, type CountState, type OverheadFormula } from './count-based.js';
import { rrPick, wrrPick, wrrState, type WrrState } from './round-robin.js';

export type { OverheadFormula } from './count-based.js';
export type { WrrState } from './round-robin.js';

/** A destination as the simulator takes it: a `listDestinations()` entry fits. */
export interface SimDestination {
  /** Real server address. */
  address: string;
  /** Real server port (default: the service's port). mh hashes it. */
  port?: number;
  /** Current weight (default 1). */
  weight?: number;
  /**
   * mh only: the last non-zero weight the kernel remembers for this
   * destination (`dest->last_weight`). A destination set to 0 after having
   * weight 3 keeps 3 here and keeps its share of the Maglev table (it is then
   * skipped, or falls back with mh-fallback); one added with weight 0 has 0 and
   * takes no slot. A listing shows both as weight 0, so give it when it
   * matters. Default: `weight`.
   */
  lastWeight?: number;
  /** Active connections now (count-based schedulers; default 0). */
  activeConnections?: number;
  /** Inactive connections now (count-based schedulers; default 0). */
  inactiveConnections?: number;
  /** Upper connection threshold (0 = none): at active + inactive ≥ this the destination is overloaded. */
  upperThreshold?: number;
  /** Whether the kernel's overload flag is set now (default: from the threshold and the counts). */
  overloaded?: boolean;
}

/** One new connection to place. */
export interface SimConnection {
  /** Client (source) address. */
  source: string;
  /** Client port; needed with sh-port / mh-port. */
  sourcePort?: number;
  /** Address the client connects to (dh hashes it; default the service address, required for fwmark services under dh). */
  destination?: string;
}

/** Options of {@link simulate}. */
export interface SimulateOptions {
  /**
   * rr: index (in `destinations`) of the destination the service picked last,
   * or -1 for a service that has picked none since it was created (the list
   * head; the default). Deleting the destination at the position moves it to
   * the one before.
   */
  rrPosition?: number;
  /** wrr: the scheduler's position and current weight; default {@link wrrStartState} of `destinations`. */
  wrr?: WrrState;
  /**
   * How each placed connection counts for the count-based schedulers while
   * the simulation goes on: `'active'` (held open, the default; the kernel
   * counts TCP connections active from SYN_RECV on), `'inactive'` (e.g. UDP),
   * or `'none'` (each one closed and forgotten before the next).
   */
  count?: 'active' | 'inactive' | 'none';
  /**
   * lc/wlc overhead: `'inactive'` = active × 256 + inactive (Linux up to the
   * 2025 stable series), `'total'` = active × 256 + (active + inactive)
   * (kernels that keep a total counter). Default `'inactive'`.
   */
  overhead?: OverheadFormula;
  /**
   * Persistent services: the templates that exist when the simulation starts,
   * as the connection table shows them (`ConnectionTable.templatesOf(service)`
   * gives them): the client network (already masked) and the destination.
   * Templates naming a destination not in `destinations` are ignored (the
   * kernel invalidates them). Default: none.
   */
  templates?: readonly { clientAddress: string; destinationAddress: string; destinationPort?: number }[];
  /** Persistent services: the `expire_quiescent_template` sysctl (default false: templates keep pointing at a destination of weight 0). */
  expireQuiescentTemplate?: boolean;
  /** CONFIG_IP_VS_SH_TAB_BITS of the kernel (default 8). */
  shTabBits?: number;
  /** CONFIG_IP_VS_MH_TAB_INDEX of the kernel (default 12: 4093 slots). */
  mhTabIndex?: number;
}

/** What {@link simulate} returns. */
export interface SimulationResult {
  /** For each connection, the index in `destinations` of the destination picked, or -1 when the kernel would pick none. */
  indexes: number[];
  /** For each connection, the destination picked (the input object) or null. */
  placements: (SimDestination | null)[];
  /** Connection counts of each destination after the simulation (count-based schedulers). */
  counts: { activeConnections: number; inactiveConnections: number; overloaded: boolean }[];
  /** rr position after the last connection. */
  rrPosition: number;
  /** wrr state after the last connection (wrr only). */
  wrr?: WrrState;
  /** Persistent services: the templates after the simulation, client network → destination index. */
  templates?: Map<string, number>;
}

/** Schedulers the simulator follows. */
export const SIMULATED_SCHEDULERS: readonly string[] = Object.freeze(['rr', 'wrr', 'lc', 'wlc', 'sed', 'nq', 'fo', 'ovf', 'sh', 'dh', 'mh']);

interface Prepared {
  family: Family;
  ipv6: boolean;
  serviceFold: number | undefined;
  table: TableDestination[];
}

function fail(field: string, message: string): never {
  throw new InvalidArgumentError(field, message);
}

function checkCount(v: unknown, field: string): number {
  if (v === undefined) return 0;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0x7fffffff) fail(field, `must be an integer from 0 to 2147483647, got ${JSON.stringify(v)}`);
  return v;
}

/**
 * The wrr state of a service created without destinations, to which these
 * destinations were then added one at a time (the last in the list first, as
 * the kernel puts each new destination at the head), each with its present
 * weight, and which has scheduled nothing since. This is what
 * ip_vs_wrr_dest_changed() leaves behind (ip_vs_wrr.c): the current weight
 * does not start at the maximum weight unless the weights' gcd is 1 and the
 * first destination added had the largest weight.
 */
export function wrrStartState(destinations: readonly SimDestination[]): WrrState {
  return wrrState(destinations.map((d, i) => checkCount(d.weight ?? 1, `destinations[${i}].weight`)));
}

/**
 * Predict, connection by connection, which destination the kernel's scheduler
 * picks. `destinations` must be in the kernel's list order (as
 * `listDestinations()` returns them: the most recently added first).
 * @example
 * ```ts
 * const r = simulate({ protocol: 'tcp', address: '10.0.0.1', port: 80, scheduler: 'sh' },
 *   await ipvs.listDestinations(svc), clients.map((source) => ({ source })));
 * r.placements[0]?.address; // where the first client lands
 * ```
 * @throws InvalidArgumentError for a malformed input (naming the field) or a
 * scheduler it does not follow (lblc, lblcr and twos depend on time or chance).
 */
export function simulate(
  service: ServiceSpec,
  destinations: readonly SimDestination[],
  connections: readonly SimConnection[],
  options: SimulateOptions = {},
): SimulationResult {
  const spec = normalizeServiceSpec(service, 'service', false);
  const sched = spec.scheduler;
  if (!SIMULATED_SCHEDULERS.includes(sched)) {
    fail('service.scheduler', `${JSON.stringify(sched)} is not simulated (simulated: ${SIMULATED_SCHEDULERS.join(', ')}); lblc/lblcr depend on time and twos on chance`);
  }
  if (!Array.isArray(destinations)) fail('destinations', 'must be an array');
  if (!Array.isArray(connections)) fail('connections', 'must be an array');
  const ipv6 = spec.family === 'ipv6';
  // sh and mh read SCHED1 as fallback and SCHED2 as port (ip_vs_sh.c, ip_vs_mh.c).
  const hashing = sched === 'sh' || sched === 'mh';
  const usePort = hashing && (spec.flags & C.IP_VS_SVC_F_SCHED2) !== 0;
  const fallback = hashing && (spec.flags & C.IP_VS_SVC_F_SCHED1) !== 0;
  const prep: Prepared = { family: spec.family, ipv6, serviceFold: spec.addressBytes ? foldAddress(spec.addressBytes, ipv6) : undefined, table: [] };
  const n = destinations.length;
  const state: CountState = { weight: new Int32Array(n), active: new Float64Array(n), inactive: new Float64Array(n), upper: new Float64Array(n), overloaded: new Uint8Array(n) };
  destinations.forEach((d, i) => {
    const f = `destinations[${i}]`;
    if (typeof d !== 'object' || d === null) fail(f, 'must be an object { address, port?, weight?, ... }');
    const weight = checkCount(d.weight ?? 1, `${f}.weight`);
    const lastWeight = d.lastWeight === undefined ? weight : checkCount(d.lastWeight, `${f}.lastWeight`);
    if (d.lastWeight !== undefined && weight > 0 && lastWeight !== weight) fail(`${f}.lastWeight`, `must equal weight (${weight}) when the weight is not 0: the kernel keeps the last non-zero weight`);
    const port = d.port === undefined ? (spec.port ?? 0) : checkCount(d.port, `${f}.port`);
    if (port > 65535) fail(`${f}.port`, `must be 0..65535, got ${port}`);
    prep.table.push({ weight, lastWeight, fold: foldOf(d.address, ipv6, `${f}.address`), port });
    state.weight[i] = weight;
    state.active[i] = checkCount(d.activeConnections, `${f}.activeConnections`);
    state.inactive[i] = checkCount(d.inactiveConnections, `${f}.inactiveConnections`);
    state.upper[i] = checkCount(d.upperThreshold, `${f}.upperThreshold`);
    state.overloaded[i] = d.overloaded ?? (state.upper[i]! > 0 && state.active[i]! + state.inactive[i]! >= state.upper[i]!) ? 1 : 0;
  });
  const count = options.count ?? 'active';
  if (count !== 'active' && count !== 'inactive' && count !== 'none') fail('options.count', `must be 'active', 'inactive' or 'none', got ${JSON.stringify(count)}`);
  const overhead = options.overhead ?? 'inactive';
  if (overhead !== 'inactive' && overhead !== 'total') fail('options.overhead', `must be 'inactive' or 'total', got ${JSON.stringify(overhead)}`);
  let rrPosition = options.rrPosition ?? -1;
  if (!Number.isInteger(rrPosition) || rrPosition < -1 || rrPosition >= Math.max(n, 1)) fail('options.rrPosition', `must be -1 or an index into destinations, got ${rrPosition}`);
  let wrr: WrrState | undefined;
  if (sched === 'wrr') {
    wrr = options.wrr ? { ...options.wrr } : wrrStartState(destinations);
    if (!Number.isInteger(wrr.position) || wrr.position < -1 || wrr.position >= Math.max(n, 1)) fail('options.wrr.position', `must be -1 or an index into destinations, got ${wrr.position}`);
    if (!Number.isInteger(wrr.cw) || wrr.cw < 0) fail('options.wrr.cw', `must be a non-negative integer, got ${wrr.cw}`);
  }

  let table: Int32Array | undefined;
  let tableSize = 0;
  if (sched === 'sh') {
    const bits = options.shTabBits ?? SH_TAB_BITS;
    if (!Number.isInteger(bits) || bits < 1 || bits > 20) fail('options.shTabBits', `must be an integer 1..20, got ${bits}`);
    table = buildShTable(prep.table, bits);
    tableSize = bits;
  } else if (sched === 'dh') {
    table = buildDhTable(n, DH_TAB_BITS);
  } else if (sched === 'mh') {
    const index = options.mhTabIndex ?? MH_TAB_INDEX;
    if (!Number.isInteger(index) || index < 8 || index > 17) fail('options.mhTabIndex', `must be an integer 8..17, got ${index}`);
    table = buildMhTable(prep.table, index);
    tableSize = mhTableSize(index);
  }

  const persistent = (spec.flags & C.IP_VS_SVC_F_PERSISTENT) !== 0;
  const netmask = service.persistence?.netmask;
  const expireQuiescent = options.expireQuiescentTemplate ?? false;
  let pinned: Map<string, number> | undefined;
  if (persistent) {
    pinned = new Map();
    const ids = destinations.map((d) => destinationId(d, spec.port ?? 0));
    (options.templates ?? []).forEach((tp, k) => {
      const f = `options.templates[${k}]`;
      if (typeof tp !== 'object' || tp === null) fail(f, 'must be { clientAddress, destinationAddress, destinationPort? }');
      let id: string;
      try {
        id = destinationId({ address: tp.destinationAddress, ...(tp.destinationPort !== undefined ? { port: tp.destinationPort } : {}) }, spec.port ?? 0);
      } catch (e) {
        fail(`${f}.destinationAddress`, (e as Error).message);
      }
      // fwmark and port-zero templates carry destination port 0: match those by address.
      let index = ids.indexOf(id);
      if (index < 0 && (tp.destinationPort ?? 0) === 0) index = destinations.findIndex((d) => destinationId(d).replace(/:\d+$/, '') === id.replace(/:\d+$/, ''));
      if (index >= 0) pinned!.set(persistenceNetwork(tp.clientAddress, netmask), index);
    });
  } else if (options.templates !== undefined) {
    fail('options.templates', 'only applies to a persistent service (give service.persistence)');
  }
  const available = (i: number) => i >= 0 && state.weight[i]! > 0 && !state.overloaded[i];
  const indexes: number[] = new Array(connections.length);
  for (let c = 0; c < connections.length; c++) {
    const conn = connections[c]!;
    let pick = -1;
    let network: string | undefined;
    let templated = false;
    if (pinned) {
      // ip_vs_sched_persist (ip_vs_core.c): a live template decides, whatever the weight or overload flag.
      if (typeof conn !== 'object' || conn === null) fail(`connections[${c}]`, 'must be an object { source, sourcePort? }');
      try {
        network = persistenceNetwork(conn.source, netmask);
      } catch (e) {
        fail(`connections[${c}].source`, (e as Error).message);
      }
      const t = pinned.get(network);
      if (t !== undefined && !(expireQuiescent && state.weight[t] === 0)) {
        pick = t;
        templated = true;
      }
    }
    if (templated) {
      // the template's destination
    } else if (sched === 'sh' || sched === 'mh') {
      if (typeof conn !== 'object' || conn === null) fail(`connections[${c}]`, 'must be an object { source, sourcePort? }');
      const fold = foldFast(conn.source, ipv6, () => `connections[${c}].source`);
      let port = 0;
      if (usePort) {
        port = conn.sourcePort as number;
        if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`connections[${c}].sourcePort`, `is needed with ${sched}-port: an integer 0..65535, got ${JSON.stringify(conn.sourcePort)}`);
      }
      if (sched === 'sh') {
        const ihash = shHashKey(fold, port, 0, tableSize);
        pick = table![ihash]!;
        if (pick >= 0 && !available(pick)) {
          // ip_vs_sh_get_fallback: walk from ihash, each probe hashed again with the offset added.
          pick = -1;
          if (fallback) {
            const size = 1 << tableSize;
            for (let off = 0; off < size; off++) {
              const d = table![shHashKey(fold, port, (off + ihash) % size, tableSize)]!;
              if (d < 0) break;
              if (available(d)) {
                pick = d;
                break;
              }
            }
          }
        }
      } else {
        const ihash = mhHashKey(fold, port, MH_KEY1, 0) % tableSize;
        pick = table![ihash]!;
        if (pick >= 0 && !available(pick)) {
          pick = -1;
          if (fallback) {
            for (let off = 0; off < tableSize; off++) {
              const d = table![mhHashKey(fold, port, MH_KEY1, (off + ihash) % tableSize) % tableSize]!;
              if (d < 0) break;
              if (available(d)) {
                pick = d;
                break;
              }
            }
          }
        }
      }
    } else if (sched === 'dh') {
      let fold = prep.serviceFold;
      if (conn.destination !== undefined) fold = foldFast(conn.destination, ipv6, () => `connections[${c}].destination`);
      if (fold === undefined) fail(`connections[${c}].destination`, 'is needed for dh on a fwmark service: the address the client connects to');
      pick = table![dhHashKey(fold, DH_TAB_BITS)]!;
      if (!available(pick)) pick = -1;
    } else if (sched === 'rr') {
      pick = rrPick(n, rrPosition, available);
      if (pick >= 0) rrPosition = pick;
    } else if (sched === 'wrr') {
      pick = wrrPick(wrr!, state.weight, (i) => !state.overloaded[i]);
    } else {
      pick = countBasedPick(sched, state, overhead);
    }
    indexes[c] = pick;
    if (pinned && !templated && pick >= 0) pinned.set(network!, pick);
    if (pick >= 0 && count !== 'none') {
      if (count === 'active') state.active[pick]!++;
      else state.inactive[pick]!++;
      const u = state.upper[pick]!;
      if (u > 0 && state.active[pick]! + state.inactive[pick]! >= u) state.overloaded[pick] = 1;
    }
  }
  const result: SimulationResult = {
    indexes,
    placements: indexes.map((i) => (i >= 0 ? destinations[i]! : null)),
    counts: destinations.map((_, i) => ({ activeConnections: state.active[i]!, inactiveConnections: state.inactive[i]!, overloaded: state.overloaded[i] === 1 })),
    rrPosition,
  };
  if (wrr) result.wrr = wrr;
  if (pinned) result.templates = pinned;
  return result;
}

/** The identity of a destination as `address:port` text (IPv6 in brackets), canonical. */
export function destinationId(d: SimDestination, servicePort = 0): string {
  const fam = addressFamily(d.address);
  const a = fam ? canonicalAddress(d.address, fam) : d.address;
  const port = d.port ?? servicePort;
  return fam === 'ipv6' ? `[${a}]:${port}` : `${a}:${port}`;
}
