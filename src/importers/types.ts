/**
 * What the importers produce: plain JSON (a desired IPVS table, the health
 * checks and the failover settings of the old configuration), with a warning
 * for every key that is not carried over, and the error type for what
 * cannot be parsed.
 * @module
 */
import type { CheckSpec, FunctionCheck } from '../health/spec.js';
import type { DesiredState } from '../ipvs/state.js';
import type { DestinationSpec, ServiceKey } from '../ipvs/types.js';

/** Fields every imported check may carry. */
/**
 * A health check as plain data: the library's {@link CheckSpec} less the
 * function probe, so that `JSON.stringify` round-trips it and a
 * {@link HealthChecker} takes it as it is.
 */
export type ImportedCheck = Exclude<CheckSpec, FunctionCheck>;

/** How one virtual service's destinations are checked and what happens to failing ones. */
export interface ImportedHealth {
  /** The virtual service (its key as in the desired table). */
  service: ServiceKey;
  /** The check run against each destination. */
  check: ImportedCheck;
  /** Time between checks of a destination, in milliseconds. */
  intervalMs: number;
  /** Consecutive successes before a down destination is up again. */
  rise: number;
  /** Consecutive failures before an up destination is down. */
  fall: number;
  /** `quiesce`: weight 0 while down; `remove`: deleted while down. */
  onDown: 'quiesce' | 'remove';
  /** Added when no destination is up, removed when one comes back. */
  sorryServer?: DestinationSpec;
  /** A directory where a file named after a destination forces it down. */
  maintenanceDir?: string;
  /** Pause before re-checking after a failure, in milliseconds (keepalived `delay_before_retry`). */
  retryDelayMs?: number;
  /** Minimum total weight of live destinations, with a hysteresis (keepalived `quorum`, `hysteresis`). */
  quorum?: { minWeight: number; hysteresis: number };
  /** Destinations checked differently from the rest (ldirectord's per-real request/receive, keepalived's per-real checkers). */
  destinationChecks?: { address: string; port: number; check: ImportedCheck }[];
}

/** A key that was read but not carried over. */
export interface ImportWarning {
  file: string;
  line: number;
  /** The configuration key concerned. */
  key: string;
  message: string;
}

/** What an importer returns. All plain data: `JSON.stringify` round-trips it. */
export interface ImportResult {
  /** Which format was read. */
  format: 'ldirectord' | 'lvs' | 'keepalived';
  /** The IPVS table the configuration sets up (for `Ipvs.apply()`); destinations that start disabled are left out. */
  desired: DesiredState;
  /** One entry per virtual service whose destinations are checked. */
  health: ImportedHealth[];
  /** Director failover / heartbeat settings, when the format has them (format-specific plain data). */
  failover?: Record<string, unknown>;
  /** One per key or value not carried over, with where it is. */
  warnings: ImportWarning[];
}

/** A configuration that cannot be read, with the place of the problem (`file:line:column: message`). */
export class ImportError extends Error {
  override name = 'ImportError';
  readonly code = 'ERR_IMPORT';
  readonly file: string;
  readonly line: number;
  readonly column: number;
  constructor(file: string, line: number, column: number, message: string) {
    super(`${file}:${line}:${column}: ${message}`);
    this.file = file;
    this.line = line;
    this.column = column;
  }
}

/** Options of the importers. */
export interface ImportOptions {
  /** Name of the file, for warnings and errors (default `'<input>'`). */
  file?: string;
  /** Reads an included file (keepalived `include`); relative names are resolved by the caller. */
  readInclude?: (name: string, from: string) => { file: string; text: string }[];
}
