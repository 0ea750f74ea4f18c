/**
 * Running a list of operations at kernel speed: many requests per send, a
 * window of requests in flight, answers matched by sequence number — and, on
 * failure or abort, putting the table back the way it was.
 * @module
 */
import { AbortError } from '../errors.js';
import { IpvsError } from './errors.js';
import type { DesiredState, Operation, Plan } from './state.js';

/** Progress of a long apply. */
export interface ApplyProgress {
  done: number;
  total: number;
}

/** Options of {@link Ipvs.apply}. */
export interface ApplyOptions {
  /** Only plan: resolve with the plan's counts, change nothing. */
  dryRun?: boolean;
  /** What happens to destinations (and services) not in the desired state (default `'delete'`). */
  removal?: 'delete' | 'quiesce';
  /** Undo everything already done when an operation fails or the call is aborted (default true). */
  atomic?: boolean;
  /** Called as operations complete. */
  onProgress?: (progress: ApplyProgress) => void;
  /** Cancels the apply; with `atomic` the table is restored before the call rejects. */
  signal?: AbortSignal;
}

/** What a successful {@link Ipvs.apply} resolves with. */
export interface ApplyResult {
  /** Operations carried out (0 on a dry run). */
  applied: number;
  /** Counts per kind of operation, and a readable summary. */
  plan: Pick<Plan, 'counts' | 'summary'>;
  /** The operations (for a dry run, the ones that would run). */
  operations: Operation[];
  /** Wall time in milliseconds. */
  durationMs: number;
  /** True for a dry run. */
  dryRun: boolean;
}

/**
 * An apply (or restore) failed part-way. `operation` names the operation the
 * kernel refused (or that was running when the call was aborted); `restored`
 * says whether the table was put back to what it was before.
 */
export class ApplyError extends Error {
  override name = 'ApplyError';
  /** The failing operation, in words. */
  readonly operation: string;
  /** The kernel's errno, when the kernel refused it. */
  readonly errno?: number;
  /** The errno code (e.g. `'EEXIST'`), or `'ABORT_ERR'` after an abort. */
  readonly code: string;
  /** True when the table was restored to the state before the apply. */
  readonly restored: boolean;
  /** Operations that had completed before the failure. */
  readonly applied: number;
  /**
   * Indices of every operation the kernel refused (each refusal is answered
   * by its own message; the others drew none before their send's ACK).
   */
  readonly refused: number[];
  /**
   * How many operations were sent: those from this index on never reached the
   * kernel. So operation `i` took effect exactly when `i < sent` and `i` is
   * not in {@link refused} (and the table was not restored).
   */
  readonly sent: number;
  constructor(message: string, fields: { operation: string; errno?: number; code: string; restored: boolean; applied: number; refused?: number[]; sent?: number; cause: unknown }) {
    super(message, { cause: fields.cause });
    this.operation = fields.operation;
    if (fields.errno !== undefined) this.errno = fields.errno;
    this.code = fields.code;
    this.restored = fields.restored;
    this.applied = fields.applied;
    this.refused = fields.refused ?? [];
    this.sent = fields.sent ?? fields.applied + this.refused.length;
  }
}

/** The result of sending operations: how many succeeded, the first failure, every refused index, how many were sent. */
export interface RunOutcome {
  applied: number;
  failure?: { index: number; error: unknown };
  aborted: boolean;
  /** Indices of all the operations the kernel refused, in order. */
  refused: number[];
  /** Operations sent (the rest never reached the kernel). */
  sent: number;
}

/** Build the ApplyError for a failed or aborted run; `describe(i)` names operation i. */
export function applyError(
  total: number,
  describe: (index: number) => string,
  outcome: RunOutcome,
  restored: boolean,
  restoreError: unknown,
  what: string,
): ApplyError {
  const tail = restored
    ? 'the table was restored to its state before the ' + what
    : `the table could NOT be restored${restoreError instanceof Error ? ` (${restoreError.message})` : ''}; inspect it with save() or snapshot()`;
  if (outcome.failure) {
    const { index, error } = outcome.failure;
    const op = describe(index);
    const e = error as { errno?: number; code?: string; message?: string };
    const conflict = e.code === 'EEXIST' || e.code === 'ESRCH' || (e.code === 'ENOENT' && /destination/.test(op));
    const why = e instanceof IpvsError || typeof e.errno === 'number' ? `${e.message}${conflict ? ' (the table changed under us: another writer?)' : ''}` : String(e.message ?? e);
    return new ApplyError(`${what} failed at operation ${index + 1} of ${total} (${op}): ${why}; ${tail}`, {
      operation: op,
      ...(typeof e.errno === 'number' ? { errno: e.errno } : {}),
      code: e.code ?? 'EUNKNOWN',
      restored,
      applied: outcome.applied,
      refused: outcome.refused,
      sent: outcome.sent,
      cause: error,
    });
  }
  return new ApplyError(`${what} was aborted after ${outcome.applied} of ${total} operations; ${tail}`, {
    operation: 'abort',
    code: 'ABORT_ERR',
    restored,
    applied: outcome.applied,
    refused: outcome.refused,
    sent: outcome.sent,
    cause: new AbortError(`${what} aborted`),
  });
}

/** A state with the same services but without daemons/timeouts when the other side does not manage them. */
export function restrictTo(state: DesiredState, like: DesiredState): DesiredState {
  const out: DesiredState = { services: state.services };
  if (like.timeouts !== undefined && state.timeouts !== undefined) out.timeouts = state.timeouts;
  if (like.daemons !== undefined && state.daemons !== undefined) out.daemons = state.daemons;
  return out;
}
