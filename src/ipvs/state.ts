/**
 * Desired state: a lossless, JSON-serialisable picture of an IPVS table, and
 * the minimal ordered list of operations that turns one table into another.
 * @module
 */
import { InvalidArgumentError } from '../errors.js';
import { formatAddressPort } from './address.js';
import * as C from './constants.js';
import { describeService } from './errors.js';
import type {
  AddressServiceKey,
  Daemon,
  DaemonSpec,
  DaemonState,
  Destination,
  DestinationKey,
  DestinationSpec,
  Service,
  ServiceKey,
  ServiceSpec,
  Timeouts,
} from './types.js';
import {
  normalizeDaemon,
  normalizeDestination,
  normalizeServiceKey,
  normalizeServiceSpec,
  normalizeTimeouts,
  type NormalDaemon,
  type NormalDestination,
  type NormalServiceSpec,
} from './validate.js';

/** A service with its destinations, as in a {@link DesiredState}. */
export type ServiceState = ServiceSpec & { destinations: DestinationSpec[] };

/**
 * The whole table: services with their destinations, the connection timeouts,
 * and the sync daemons. Plain data: `JSON.stringify` round-trips it.
 * `timeouts` and `daemons` may be left out of a desired state, and then are
 * not managed.
 */
export interface DesiredState {
  services: ServiceState[];
  timeouts?: Timeouts;
  daemons?: DaemonSpec[];
}

/** One step of a plan. `before` holds what an update or delete replaces, for undo and display. */
export type Operation =
  | { op: 'add-service'; service: ServiceSpec }
  | { op: 'update-service'; service: ServiceSpec; before: ServiceSpec }
  | { op: 'delete-service'; service: ServiceKey; before: ServiceState }
  | { op: 'add-destination'; service: ServiceKey; destination: DestinationSpec }
  | { op: 'update-destination'; service: ServiceKey; destination: DestinationSpec; before: DestinationSpec }
  | { op: 'delete-destination'; service: ServiceKey; destination: DestinationKey; before: DestinationSpec }
  | { op: 'set-timeouts'; timeouts: Partial<Timeouts>; before: Timeouts }
  | { op: 'start-daemon'; daemon: DaemonSpec }
  | { op: 'stop-daemon'; state: DaemonState; before: DaemonSpec };

/** What `Ipvs.plan()` returns. */
export interface Plan {
  /** Operations in the order they must run. */
  operations: Operation[];
  /** Counts per kind of operation. */
  counts: Record<Operation['op'], number>;
  /** A readable summary, e.g. `"add 2 services, 20 destinations; delete 1 destination"`, or `"no changes"`. */
  summary: string;
}

/** How destinations (and services) that are not in the desired state are removed. */
export type Removal = 'delete' | 'quiesce';

// ---------------------------------------------------------------- live → spec

/** The key of a service as given to the client. */
export function keyOf(s: Service | ServiceSpec): ServiceKey {
  if ('fwmark' in s && s.fwmark !== undefined) return { fwmark: s.fwmark, family: s.family ?? 'ipv4' };
  const a = s as AddressServiceKey;
  return { protocol: a.protocol, address: a.address, port: a.port };
}

/** A live service as a spec (what would recreate it). */
export function serviceSpecOf(s: Service): ServiceSpec {
  const spec: ServiceSpec = { ...keyOf(s), scheduler: s.scheduler };
  if (s.schedulerFlags.length) spec.schedulerFlags = [...s.schedulerFlags];
  if (s.persistence) spec.persistence = { timeout: s.persistence.timeout, netmask: s.persistence.netmask };
  if (s.persistenceEngine) spec.persistenceEngine = s.persistenceEngine;
  if (s.onePacket) spec.onePacket = true;
  return spec;
}

/** A live destination as a spec (what would recreate it). */
export function destinationSpecOf(d: Destination): DestinationSpec {
  const spec: DestinationSpec = { address: d.address, port: d.port, weight: d.weight, forward: d.forward };
  if (d.upperThreshold) spec.upperThreshold = d.upperThreshold;
  if (d.lowerThreshold) spec.lowerThreshold = d.lowerThreshold;
  if (d.tunnel) {
    spec.tunnel = { type: d.tunnel.type };
    if (d.tunnel.port !== undefined) spec.tunnel.port = d.tunnel.port;
    if (d.tunnel.checksum !== 'nocsum') spec.tunnel.checksum = d.tunnel.checksum;
  }
  return spec;
}

/** A running daemon as a spec. */
export function daemonSpecOf(d: Daemon): DaemonSpec {
  const spec: DaemonSpec = { state: d.state, interface: d.interface, syncId: d.syncId };
  if (d.maxLength !== undefined) spec.maxLength = d.maxLength;
  if (d.multicastGroup !== undefined) spec.multicastGroup = d.multicastGroup;
  if (d.multicastPort !== undefined) spec.multicastPort = d.multicastPort;
  if (d.multicastTtl !== undefined) spec.multicastTtl = d.multicastTtl;
  return spec;
}

// ---------------------------------------------------------------- validation

/** One service of a normalised state. */
export interface NormalServiceState {
  spec: ServiceSpec;
  norm: NormalServiceSpec;
  id: string;
  destinations: Map<DestinationId, { spec: DestinationSpec; norm: NormalDestination }>;
}

/**
 * The normalised form behind an operation, if the plan made one (adds and
 * updates): the batch path writes it without validating the spec again. It
 * travels beside the operations, not on them, so that operations handed back
 * to the caller (a plan, an apply's result) do not keep a second copy of a
 * large state alive.
 */
export type OperationNormal = NormalServiceSpec | NormalDestination | undefined;

/** A plan with the normalised forms of its operations, index for index. */
export interface NormalizedPlan extends Plan {
  normals: OperationNormal[];
}

/** A state checked and normalised. */
export interface NormalState {
  services: Map<string, NormalServiceState>;
  timeouts?: Timeouts;
  daemons?: Map<number, { spec: DaemonSpec; norm: NormalDaemon }>;
}

/**
 * A destination's identity within its service: address and port. IPv4 ones
 * as a number (address × 65536 + port) — plans key every destination of both
 * tables by it, and a number costs far less than a string — IPv6 ones as text.
 */
export function destId(d: Pick<NormalDestination, 'family' | 'address' | 'addressBytes' | 'port'>): DestinationId {
  if (d.family === 'ipv6') return formatAddressPort(d.address, 'ipv6', d.port);
  const b = d.addressBytes;
  const v = ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
  return v * 65536 + d.port; // below 2 ** 48: exact
}

/** See {@link destId}. */
export type DestinationId = string | number;

/**
 * Check a whole state; every problem is collected (not only the first) and
 * reported at once in one InvalidArgumentError.
 */
export function normalizeState(state: DesiredState, what = 'desired'): NormalState {
  // A live table read from the kernel is taken as it is, even where it holds
  // what this library would not write (e.g. a non-contiguous mask set by another tool).
  const strict = what !== 'live';
  const problems: string[] = [];
  let firstField: string | undefined;
  // `prefix` rewrites the field path the validator gives (e.g. `daemon.state`)
  // into one within the state (e.g. `desired.daemons[1].state`).
  const attempt = <T>(fn: () => T, prefix?: [RegExp, string]): T | undefined => {
    try {
      return fn();
    } catch (e) {
      if (!(e instanceof InvalidArgumentError)) throw e;
      const fix = (f: string) => (prefix ? f.replace(prefix[0], prefix[1]) : f);
      problems.push(...e.problems.map(fix));
      firstField ??= fix(e.field);
      return undefined;
    }
  };
  const out: NormalState = { services: new Map() };
  if (typeof state !== 'object' || state === null || !Array.isArray(state.services)) {
    throw new InvalidArgumentError(what, 'must be an object with a services array');
  }
  state.services.forEach((s, i) => {
    const field = `${what}.services[${i}]`;
    const norm = attempt(() => normalizeServiceSpec(s, field, strict));
    if (!norm) return;
    const id = describeService(norm);
    if (out.services.has(id)) {
      problems.push(`${field}: service ${id} appears twice`);
      firstField ??= field;
      return;
    }
    const entry: NormalServiceState = { spec: s, norm, id, destinations: new Map() };
    out.services.set(id, entry);
    if (s.destinations !== undefined && !Array.isArray(s.destinations)) {
      problems.push(`${field}.destinations: must be an array`);
      firstField ??= `${field}.destinations`;
      return;
    }
    const dests = s.destinations ?? [];
    for (let j = 0; j < dests.length; j++) {
      const d = dests[j]!;
      let dn: NormalDestination;
      try {
        // The field path is spelled out only for a problem (this loop runs per destination).
        dn = normalizeDestination(d, norm, 'destination', strict);
      } catch (e) {
        if (!(e instanceof InvalidArgumentError)) throw e;
        const dfield = `${field}.destinations[${j}]`;
        problems.push(...e.problems.map((p) => p.replace(/^destination/, dfield)));
        firstField ??= e.field.replace(/^destination/, dfield);
        continue;
      }
      const did = destId(dn);
      if (entry.destinations.has(did)) {
        const dfield = `${field}.destinations[${j}]`;
        problems.push(`${dfield}: destination ${formatAddressPort(dn.address, dn.family, dn.port)} appears twice in service ${id}`);
        firstField ??= dfield;
        continue;
      }
      entry.destinations.set(did, { spec: d, norm: dn });
    }
  });
  if (state.timeouts !== undefined) {
    const t = attempt(() => normalizeTimeouts(state.timeouts!), [/^timeouts/, `${what}.timeouts`]);
    if (t) out.timeouts = { tcp: t.tcp ?? 0, tcpFin: t.tcpFin ?? 0, udp: t.udp ?? 0 };
  }
  if (state.daemons !== undefined) {
    out.daemons = new Map();
    if (!Array.isArray(state.daemons)) {
      problems.push(`${what}.daemons: must be an array`);
      firstField ??= `${what}.daemons`;
    } else {
      state.daemons.forEach((d, i) => {
        const n = attempt(() => normalizeDaemon(d), [/^daemon/, `${what}.daemons[${i}]`]);
        if (!n) return;
        if (out.daemons!.has(n.state)) {
          problems.push(`${what}.daemons[${i}]: a second ${d.state} daemon`);
          firstField ??= `${what}.daemons[${i}]`;
          return;
        }
        out.daemons!.set(n.state, { spec: d, norm: n });
      });
    }
  }
  if (problems.length) throw new InvalidArgumentError(firstField ?? what, problems[0]!.replace(/^[^:]*: /, ''), problems);
  return out;
}

// ---------------------------------------------------------------- diff

const equalBytes = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((v, i) => v === b[i]);

/** Service options differ (the key is equal)? HASHED is the kernel's own bit and never compared. */
function serviceChanged(a: NormalServiceSpec, b: NormalServiceSpec): boolean {
  const mask = ~C.IP_VS_SVC_F_HASHED;
  return (
    a.scheduler !== b.scheduler ||
    (a.flags & mask) !== (b.flags & mask) ||
    a.timeout !== b.timeout ||
    !equalBytes(a.netmask, b.netmask) ||
    (a.persistenceEngine ?? '') !== (b.persistenceEngine ?? '')
  );
}

function destinationChanged(a: NormalDestination, b: NormalDestination): boolean {
  return (
    a.weight !== b.weight ||
    a.forward !== b.forward ||
    a.upperThreshold !== b.upperThreshold ||
    a.lowerThreshold !== b.lowerThreshold ||
    (a.forward === C.IP_VS_CONN_F_TUNNEL &&
      (a.tunnelType !== b.tunnelType || a.tunnelPort !== b.tunnelPort || a.tunnelFlags !== b.tunnelFlags))
  );
}

function daemonChanged(a: NormalDaemon, b: NormalDaemon): boolean {
  const g = (x: NormalDaemon) => (x.group ? Array.from(x.group).join('.') : x.group6 ? Array.from(x.group6).join(':') : '');
  return (
    a.interface !== b.interface ||
    a.syncId !== b.syncId ||
    (a.maxLength !== undefined && a.maxLength !== b.maxLength) ||
    ((a.group || a.group6) !== undefined && g(a) !== g(b)) ||
    (a.port !== undefined && a.port !== b.port) ||
    (a.ttl !== undefined && a.ttl !== b.ttl)
  );
}

/**
 * The phase of each kind of operation. A service's add and the adds of its
 * destinations share one phase and stay together: the kernel puts a new
 * service at the head of its hash chain, so the destination adds that follow
 * find it at once, where after 10,000 other adds they would walk the chain.
 */
const PHASE: Record<Operation['op'], number> = {
  'stop-daemon': 0,
  'delete-destination': 1,
  'update-destination': 2,
  'delete-service': 3,
  'update-service': 4,
  'add-service': 5,
  'add-destination': 5,
  'set-timeouts': 6,
  'start-daemon': 7,
};

/**
 * The order of operations grouped by phase (as indices into `ops`), each
 * phase in the order the operations were made, or undefined when they are in
 * that order already. Linear: a large plan has hundreds of thousands of
 * operations.
 */
function byPhase(ops: Operation[]): number[] | undefined {
  // Already in order (e.g. a first apply: only adds, each service followed by
  // its destinations): undefined, and nothing is copied.
  let sorted = true;
  for (let i = 1; i < ops.length && sorted; i++) sorted = PHASE[ops[i - 1]!.op] <= PHASE[ops[i]!.op];
  if (sorted) return undefined;
  const phases: number[][] = [[], [], [], [], [], [], [], []];
  for (let i = 0; i < ops.length; i++) phases[PHASE[ops[i]!.op]]!.push(i);
  return phases.flat();
}

/**
 * The minimal ordered operations that turn `live` into `desired`. Services and
 * destinations are matched by identity; only changed fields produce an update.
 * With `removal: 'quiesce'`, destinations that should go get weight 0, and
 * services that should go keep existing with all their destinations at weight 0.
 */
export function diffStates(
  live: DesiredState,
  desired: DesiredState,
  removal: Removal = 'delete',
  normalizedDesired?: NormalState,
  normalizedLive?: NormalState,
): Plan {
  const { normals: _normals, ...plan } = diffStatesWithNormals(live, desired, removal, normalizedDesired, normalizedLive);
  return plan;
}

/** {@link diffStates}, with the normalised forms of the operations beside them (for the batch path). */
export function diffStatesWithNormals(
  live: DesiredState,
  desired: DesiredState,
  removal: Removal = 'delete',
  normalizedDesired?: NormalState,
  normalizedLive?: NormalState,
): NormalizedPlan {
  const want = normalizedDesired ?? normalizeState(desired);
  const have = normalizedLive ?? normalizeState(live, 'live');
  const ops: Operation[] = [];
  const norms: OperationNormal[] = [];
  const push = (op: Operation, norm?: OperationNormal): void => {
    ops.push(op);
    norms.push(norm);
  };
  const quiesce = (svc: ServiceKey, d: { spec: DestinationSpec; norm: NormalDestination }) => {
    if (d.norm.weight === 0) return;
    push({ op: 'update-destination', service: svc, destination: { ...d.spec, weight: 0 }, before: d.spec });
  };

  // Daemons that go or change are stopped first (mixed-family destinations cannot coexist with a daemon).
  if (want.daemons) {
    for (const [state, d] of have.daemons ?? []) {
      const w = want.daemons.get(state);
      if (!w || daemonChanged(w.norm, d.norm)) push({ op: 'stop-daemon', state: d.spec.state, before: d.spec });
    }
  }
  // One key object per service, shared by all of its operations (the batch
  // encoder recognises it by identity).
  const keys = new Map<string, ServiceKey>();
  const keyFor = (id: string, spec: ServiceSpec): ServiceKey => {
    let k = keys.get(id);
    if (!k) keys.set(id, (k = keyOf(spec)));
    return k;
  };
  for (const [id, h] of have.services) {
    const key = keyFor(id, h.spec);
    const w = want.services.get(id);
    if (!w) {
      if (removal === 'delete') push({ op: 'delete-service', service: key, before: { ...h.spec, destinations: [...h.destinations.values()].map((d) => d.spec) } });
      else for (const d of h.destinations.values()) quiesce(key, d);
      continue;
    }
    // (Map#forEach rather than for-of: no iterator result per destination.)
    h.destinations.forEach((hd, did) => {
      const wd = w.destinations.get(did);
      if (!wd) {
        if (removal === 'delete') push({ op: 'delete-destination', service: key, destination: { address: hd.norm.address, port: hd.norm.port }, before: hd.spec });
        else quiesce(key, hd);
      } else if (destinationChanged(wd.norm, hd.norm)) {
        push({ op: 'update-destination', service: key, destination: wd.spec, before: hd.spec }, wd.norm);
      }
    });
    if (serviceChanged(w.norm, h.norm)) push({ op: 'update-service', service: stripDestinations(w.spec), before: stripDestinations(h.spec) }, w.norm);
    w.destinations.forEach((wd, did) => {
      if (!h.destinations.has(did)) push({ op: 'add-destination', service: key, destination: wd.spec }, wd.norm);
    });
  }
  for (const [id, w] of want.services) {
    if (have.services.has(id)) continue;
    push({ op: 'add-service', service: stripDestinations(w.spec) }, w.norm);
    const key = keyFor(id, w.spec);
    w.destinations.forEach((wd) => push({ op: 'add-destination', service: key, destination: wd.spec }, wd.norm));
  }
  if (want.timeouts && have.timeouts) {
    const t: Partial<Timeouts> = {};
    for (const k of ['tcp', 'tcpFin', 'udp'] as const) {
      if (want.timeouts[k] && want.timeouts[k] !== have.timeouts[k]) t[k] = want.timeouts[k];
    }
    if (Object.keys(t).length) push({ op: 'set-timeouts', timeouts: t, before: have.timeouts });
  }
  if (want.daemons) {
    for (const [state, w] of want.daemons) {
      const h = have.daemons?.get(state);
      if (!h || daemonChanged(w.norm, h.norm)) push({ op: 'start-daemon', daemon: w.spec });
    }
  }
  const order = byPhase(ops);
  if (!order) return { operations: ops, normals: norms, ...summarize(ops) };
  return { operations: order.map((i) => ops[i]!), normals: order.map((i) => norms[i]), ...summarize(ops) };
}

function stripDestinations(s: ServiceSpec | ServiceState): ServiceSpec {
  const { destinations: _d, ...rest } = s as ServiceState;
  return rest;
}

function summarize(ops: Operation[]): { counts: Plan['counts']; summary: string } {
  const counts = Object.fromEntries(Object.keys(PHASE).map((o) => [o, 0])) as Plan['counts'];
  // Indexed: a for-of makes an iterator result per operation in a cold process.
  for (let i = 0; i < ops.length; i++) counts[ops[i]!.op]++;
  const phrase = (verb: string, pairs: [number, string, string][]): string | undefined => {
    const parts = pairs.filter(([n]) => n > 0).map(([n, one, many]) => `${n} ${n === 1 ? one : many}`);
    return parts.length ? `${verb} ${parts.join(', ')}` : undefined;
  };
  const parts = [
    phrase('add', [[counts['add-service'], 'service', 'services'], [counts['add-destination'], 'destination', 'destinations']]),
    phrase('update', [[counts['update-service'], 'service', 'services'], [counts['update-destination'], 'destination', 'destinations']]),
    phrase('delete', [[counts['delete-service'], 'service', 'services'], [counts['delete-destination'], 'destination', 'destinations']]),
    counts['set-timeouts'] ? 'set timeouts' : undefined,
    phrase('start', [[counts['start-daemon'], 'sync daemon', 'sync daemons']]),
    phrase('stop', [[counts['stop-daemon'], 'sync daemon', 'sync daemons']]),
  ].filter((p): p is string => p !== undefined);
  return { counts, summary: parts.length ? parts.join('; ') : 'no changes' };
}

/** Describe one operation in words, e.g. `add destination 10.0.0.2:80 to service TCP 10.0.0.1:80`. */
export function describeOperation(o: Operation): string {
  const svc = (k: ServiceKey) => {
    try {
      return `service ${describeService(normalizeServiceKey(k))}`;
    } catch {
      return `service ${JSON.stringify(k)}`;
    }
  };
  const dst = (d: DestinationKey) =>
    `destination ${d.port === undefined ? d.address : formatAddressPort(d.address, typeof d.address === 'string' && d.address.includes(':') ? 'ipv6' : 'ipv4', d.port)}`;
  switch (o.op) {
    case 'add-service': return `add ${svc(o.service)}`;
    case 'update-service': return `update ${svc(o.service)}`;
    case 'delete-service': return `delete ${svc(o.service)}`;
    case 'add-destination': return `add ${dst(o.destination)} to ${svc(o.service)}`;
    case 'update-destination': return `update ${dst(o.destination)} in ${svc(o.service)}`;
    case 'delete-destination': return `delete ${dst(o.destination)} from ${svc(o.service)}`;
    case 'set-timeouts': return `set timeouts ${JSON.stringify(o.timeouts)}`;
    case 'start-daemon': return `start sync daemon ${o.daemon.state}`;
    case 'stop-daemon': return `stop sync daemon ${o.state}`;
  }
}

/** A live service read from the kernel, with its normalised form. */
export interface LiveService {
  spec: ServiceSpec;
  norm: NormalServiceSpec;
  /** `norm` is left out when only the state is wanted (a snapshot). */
  destinations: { spec: DestinationSpec; norm?: NormalDestination }[];
}

/**
 * A live table as a {@link DesiredState} and its normalised form at once,
 * from forms built straight from the kernel's replies: a plan against the
 * live table then does not parse and check it again.
 */
export function liveState(services: LiveService[], timeouts: Timeouts, daemons: DaemonSpec[]): { state: DesiredState; normal: NormalState } {
  const normal: NormalState = { services: new Map(), timeouts, daemons: new Map() };
  const state: DesiredState = { services: [], timeouts, daemons };
  for (const s of services) {
    const destinations: DestinationSpec[] = [];
    const byId = new Map<DestinationId, { spec: DestinationSpec; norm: NormalDestination }>();
    for (const d of s.destinations) {
      destinations.push(d.spec);
      if (d.norm) byId.set(destId(d.norm), d as { spec: DestinationSpec; norm: NormalDestination });
    }
    const full: ServiceState = { ...s.spec, destinations };
    state.services.push(full);
    const id = describeService(s.norm);
    normal.services.set(id, { spec: full, norm: s.norm, id, destinations: byId });
  }
  for (const d of daemons) {
    const n = normalizeDaemon(d);
    normal.daemons!.set(n.state, { spec: d, norm: n });
  }
  return { state, normal };
}

/**
 * The services of a live table as {@link ServiceState}s with empty
 * destination lists, for a snapshot to fill in (no normalised form to build).
 */
export function liveSnapshotServices(services: LiveService[]): ServiceState[] {
  return services.map((s) => {
    const full = s.spec as ServiceState;
    full.destinations = [];
    return full;
  });
}
