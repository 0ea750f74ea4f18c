/**
 * The director daemon's configuration (`ipvs-ts run CONFIG`): the IPVS table
 * it owns, the health checks of its services, what it leaves in the kernel
 * when it stops, and where it serves metrics. Plain JSON; validated whole,
 * every problem named by its field (`health[1].intervalMs: must be a positive
 * integer`) before anything is read or sent.
 * @module
 */
import { InvalidArgumentError } from '../errors.js';
import { HealthChecker } from '../health/checker.js';
import type { HealthCheckerOptions, HealthIpvs, PoolDestination } from '../health/checker-types.js';
import type { ImportedCheck } from '../importers/types.js';
import { formatAddressPort } from '../ipvs/address.js';
import { describeService } from '../ipvs/errors.js';
import { normalizeState, type DesiredState, type NormalState } from '../ipvs/state.js';
import type { DestinationSpec, ServiceKey, ServiceSpec } from '../ipvs/types.js';
import { normalizeServiceKey } from '../ipvs/validate.js';
import { validateHost, type DirectorHostConfig } from './host.js';
import { failoverProblems, type DirectorFailoverConfig } from './failover-config.js';

/**
 * What the daemon leaves in the kernel when it stops: the table as it is
 * (`'leave'`, the default), its destinations at weight 0 (`'quiesce'`), or its
 * services deleted (`'flush'`). Services it does not own are never touched.
 */
export type OnExit = 'leave' | 'quiesce' | 'flush';

/** The values of {@link OnExit}. */
export const ON_EXIT: readonly OnExit[] = ['leave', 'quiesce', 'flush'];

/**
 * Health checks of one virtual service: the shape the importers write
 * (`ImportedHealth`), with the checker's defaults where a field is left out.
 */
export interface DirectorHealth {
  /** The service (its key, as in `table.services`). */
  service: ServiceKey;
  /** The check run against each destination. */
  check: ImportedCheck;
  /** Time between checks of a destination (default 2 000 ms). */
  intervalMs?: number;
  /** Timeout of a check whose spec has none (default: the interval, at most 5 000 ms). */
  timeoutMs?: number;
  /** Consecutive successes that bring a down destination up (default 2). */
  rise?: number;
  /** Consecutive failures that take an up destination down (default 3). */
  fall?: number;
  /** Time before the next check after a failure of a destination still up (default: the interval). */
  retryDelayMs?: number;
  /** First checks spread over up to this many milliseconds (default: the interval). */
  startJitterMs?: number;
  /** `quiesce` (default): weight 0 while down; `remove`: deleted while down. */
  onDown?: 'quiesce' | 'remove';
  /** A recovered destination's weight climbs to its configured weight over this time. */
  slowStart?: { durationMs: number };
  /** Added when no destination serves. */
  sorryServer?: DestinationSpec;
  /** A file named after a destination in this directory forces it into maintenance. */
  maintenanceDir?: string;
  /** Minimum total serving weight, with hysteresis. */
  quorum?: { minWeight: number; hysteresis?: number };
  /** Destinations checked differently from the rest. */
  destinationChecks?: { address: string; port: number; check: ImportedCheck }[];
}

/** Where and whether the daemon serves Prometheus metrics. */
export interface DirectorMetrics {
  /** `HOST:PORT` (`[::1]:9101` for IPv6) to serve `/metrics` on; the command line's `--metrics-listen` wins. */
  listen?: string;
}

/** The daemon's whole configuration. */
export interface DirectorConfig {
  /** The services the daemon owns, with their destinations (configured weights), as `ipvs-ts snapshot` writes a table. */
  table: DesiredState;
  /** Health checks, at most one entry per service of `table`. Services without one keep their configured weights. */
  health?: DirectorHealth[];
  /** What stopping leaves in the kernel (default `'leave'`); the command line's `--on-exit` wins. */
  onExit?: OnExit;
  /** Prometheus metrics. */
  metrics?: DirectorMetrics;
  /**
   * Host setup (the `director()` profile of the host-setup module): the VIPs
   * on `interface`, announced, and the forwarding sysctls for `forwarding`
   * (`nat`, `dr`, `tun`). Left out: the daemon touches no address or sysctl.
   */
  host?: DirectorHostConfig;
  /**
   * Run an election with the peer director(s): only the master holds the
   * VIPs of `host.vips` and the IPVS table; a backup keeps its health checks
   * running in memory. See docs/daemon.md.
   */
  failover?: DirectorFailoverConfig;
}

/** A configuration checked whole, with what the daemon derives from it. */
export interface ValidatedConfig {
  config: DirectorConfig;
  /** Ids of the services of the table, in order (`TCP 192.0.2.10:80`, `FWM 7`). */
  serviceIds: string[];
  /**
   * The table normalised, by service id (for the reload planner).
   * @hidden
   */
  normal: NormalState;
  /** Checker options (without `netns`) by service id. */
  checkers: Map<string, HealthCheckerOptions>;
}

const TOP_LEVEL = new Set(['table', 'health', 'host', 'onExit', 'metrics', 'failover', '$schema', 'comment']);
const HEALTH_FIELDS = new Set(['service', 'check', 'intervalMs', 'timeoutMs', 'rise', 'fall', 'retryDelayMs', 'startJitterMs', 'onDown', 'slowStart', 'sorryServer', 'maintenanceDir', 'quorum', 'destinationChecks']);

/** The service id of a key, as the planner names services (`TCP 192.0.2.10:80`, `FWM 7`). */
export function serviceId(key: ServiceKey, field = 'service'): string {
  return describeService(normalizeServiceKey(key, field));
}

/** `HOST:PORT` → host and port (`[::1]:9101` for IPv6). */
export function parseListen(value: string, field = 'metrics.listen'): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new InvalidArgumentError(field, `must be HOST:PORT (e.g. 127.0.0.1:9101 or [::1]:9101), got ${JSON.stringify(value)}`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

/** A checker built only to validate its options: the constructor reads them whole and touches nothing. */
const NO_IPVS = {} as HealthIpvs;

/**
 * Check a configuration whole and derive the checkers' options. Every
 * problem is collected; one {@link InvalidArgumentError} lists them all, the
 * first field in `field`.
 * @example
 * ```ts
 * const { checkers } = validateDirectorConfig(JSON.parse(text));
 * ```
 */
export function validateDirectorConfig(value: unknown): ValidatedConfig {
  const problems: string[] = [];
  let first: string | undefined;
  const problem = (field: string, message: string): void => {
    problems.push(`${field}: ${message}`);
    first ??= field;
  };
  const absorb = (e: unknown, prefix = ''): void => {
    if (!(e instanceof InvalidArgumentError)) throw e;
    for (const p of e.problems) problems.push(prefix + p);
    first ??= prefix + e.field;
  };
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new InvalidArgumentError('config', 'must be an object with a "table"');
  const config = value as DirectorConfig;
  for (const k of Object.keys(config)) if (!TOP_LEVEL.has(k)) problem(k, `unknown field (expected ${[...TOP_LEVEL].slice(0, 5).join(', ')})`);
  let normal: NormalState = { services: new Map() };
  let tableValid = false;
  if (config.table === undefined) problem('table', 'missing (the services the daemon owns: { "services": [...] })');
  else {
    try {
      normal = normalizeState(config.table, 'table');
      tableValid = true;
    } catch (e) {
      absorb(e);
    }
  }
  if (config.onExit !== undefined && !ON_EXIT.includes(config.onExit)) problem('onExit', `must be one of ${ON_EXIT.join(', ')}`);
  if (config.metrics !== undefined) {
    if (config.metrics === null || typeof config.metrics !== 'object') problem('metrics', 'must be an object');
    else if (config.metrics.listen !== undefined) {
      try {
        if (typeof config.metrics.listen !== 'string') throw new InvalidArgumentError('metrics.listen', 'must be a string HOST:PORT');
        parseListen(config.metrics.listen);
      } catch (e) {
        absorb(e);
      }
    }
  }
  if (config.host !== undefined) {
    try {
      if (config.host === null || typeof config.host !== 'object') throw new InvalidArgumentError('host', 'must be an object { vips, interface, forwarding }');
      validateHost(config.host);
    } catch (e) {
      absorb(e, e instanceof InvalidArgumentError && e.field === 'host' ? '' : 'host.');
    }
  }
  if (config.failover !== undefined) for (const p of failoverProblems(config.failover)) problem(p.slice(0, p.indexOf(': ')), p.slice(p.indexOf(': ') + 2));
  const checkers = new Map<string, HealthCheckerOptions>();
  if (config.health !== undefined && !Array.isArray(config.health)) problem('health', 'must be an array');
  (Array.isArray(config.health) ? config.health : []).forEach((h, i) => {
    const at = `health[${i}]`;
    if (h === null || typeof h !== 'object') return problem(at, 'must be an object with a service and a check');
    for (const k of Object.keys(h)) if (!HEALTH_FIELDS.has(k)) problem(`${at}.${k}`, 'unknown field');
    let id: string;
    try {
      id = serviceId(h.service, `${at}.service`);
    } catch (e) {
      return absorb(e);
    }
    const svc = normal.services.get(id);
    if (!svc && !tableValid) {
      // The table has problems of its own: check this entry's own fields only.
      try {
        new HealthChecker(NO_IPVS, { ...h, service: { ...h.service, scheduler: 'rr' }, destinations: [] } as HealthCheckerOptions);
      } catch (e) {
        absorb(e, `${at}.`);
      }
      return;
    }
    if (!svc) return problem(`${at}.service`, `${id} is not in table.services`);
    if (checkers.has(id)) return problem(`${at}.service`, `${id} has health checks already`);
    const perDest = new Map<string, ImportedCheck>();
    (h.destinationChecks ?? []).forEach((d, j) => {
      const name = formatAddressPort(d.address, d.address.includes(':') ? 'ipv6' : 'ipv4', d.port);
      if (![...svc.destinations.values()].some((x) => x.norm.address === d.address && x.norm.port === d.port)) problem(`${at}.destinationChecks[${j}]`, `${name} is not a destination of ${id}`);
      perDest.set(`${d.address}|${d.port}`, d.check);
    });
    const destinations: PoolDestination[] = [...svc.destinations.values()].map(({ spec, norm }) => {
      const check = perDest.get(`${norm.address}|${norm.port}`);
      return { ...spec, address: norm.address, port: norm.port, ...(check ? { check } : {}) };
    });
    const { service: _s, destinationChecks: _d, ...rest } = h;
    const { destinations: _x, ...service } = svc.spec as ServiceSpec & { destinations?: unknown };
    const options: HealthCheckerOptions = { ...rest, service, destinations };
    try {
      new HealthChecker(NO_IPVS, options);
    } catch (e) {
      return absorb(e, `${at}.`);
    }
    checkers.set(id, options);
  });
  if (problems.length) throw new InvalidArgumentError(first!, problems[0]!.slice(first!.length + 2), problems);
  return { config, normal, checkers, serviceIds: [...normal.services.keys()] };
}
