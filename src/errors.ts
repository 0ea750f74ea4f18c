/**
 * Error classes of the netlink layer. Every failure in ipvs-ts is one of these
 * (or a subclass, like `IpvsError`), never a string or a bare `Error`.
 * @module
 */
import { constants } from 'node:os';

const errnoNames = new Map<number, string>();
for (const [name, value] of Object.entries(constants.errno)) {
  if (!errnoNames.has(value)) errnoNames.set(value, name);
}

/** The symbolic name of a positive errno value (`17` → `'EEXIST'`), or `'E<n>'` when unknown. */
export function errnoCode(errno: number): string {
  return errnoNames.get(errno) ?? `E${errno}`;
}

/** The positive errno number of a symbolic code (`'EEXIST'` → `17`), or undefined. */
export function errnoNumber(code: string): number | undefined {
  return (constants.errno as Record<string, number>)[code];
}

/** The kernel's extended acknowledgement (NETLINK_EXT_ACK), when it sent one. */
export interface ExtendedAck {
  /** Human-readable message (NLMSGERR_ATTR_MSG). */
  message?: string;
  /** Byte offset of the offending attribute from the start of the request (NLMSGERR_ATTR_OFFS). */
  offset?: number;
  /** Type of a missing required attribute (NLMSGERR_ATTR_MISS_TYPE). */
  missingType?: number;
  /** Offset of the nest where that attribute was missing (NLMSGERR_ATTR_MISS_NEST). */
  missingNest?: number;
}

/** Options shared by the netlink error constructors. */
export interface NetlinkErrorOptions {
  /** What was being done, in the caller's terms (e.g. `'add service'`). */
  operation?: string;
  /** The netlink sequence number of the request. */
  seq?: number;
  /** The kernel's extended acknowledgement. */
  extack?: ExtendedAck;
  /** Underlying cause. */
  cause?: unknown;
}

/**
 * The kernel answered a request with a negative errno (NLMSG_ERROR or a failed
 * NLMSG_DONE), or a socket call failed.
 */
export class NetlinkError extends Error {
  override name = 'NetlinkError';
  /** Positive errno value, e.g. 17. */
  readonly errno: number;
  /** Symbolic errno name, e.g. `'EEXIST'`. */
  readonly code: string;
  /** The operation that failed, when known. */
  readonly operation?: string;
  /** Sequence number of the failed request, when known. */
  readonly seq?: number;
  /** The kernel's extended acknowledgement, when it sent one. */
  readonly extack?: ExtendedAck;

  constructor(errno: number, message?: string, options: NetlinkErrorOptions = {}) {
    const code = errnoCode(errno);
    const ext = options.extack?.message ? ` (kernel: ${options.extack.message})` : '';
    super(
      message ??
        `${options.operation ? `${options.operation}: ` : ''}${code}${ext}`,
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.errno = errno;
    this.code = code;
    if (options.operation !== undefined) this.operation = options.operation;
    if (options.seq !== undefined) this.seq = options.seq;
    if (options.extack !== undefined) this.extack = options.extack;
  }
}

/** A received message could not be decoded: it was truncated, mis-sized or inconsistent. */
export class DecodeError extends Error {
  override name = 'DecodeError';
  /** Byte offset at which decoding failed, relative to the buffer being decoded. */
  readonly offset: number;
  constructor(message: string, offset: number) {
    super(`${message} (at byte ${offset})`);
    this.offset = offset;
  }
}

/** A request got no complete answer within its deadline. */
export class TimeoutError extends Error {
  override name = 'TimeoutError';
  readonly code = 'ETIMEDOUT';
  constructor(message: string) {
    super(message);
  }
}

/** A request was cancelled through its AbortSignal. */
export class AbortError extends Error {
  override name = 'AbortError';
  readonly code = 'ABORT_ERR';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The connection was closed (by the user, or after a fatal socket error) while a request was pending. */
export class ConnectionClosedError extends Error {
  override name = 'ConnectionClosedError';
  readonly code = 'ECONNCLOSED';
  constructor(message: string) {
    super(message);
  }
}

/**
 * The kernel flagged a dump as inconsistent (NLM_F_DUMP_INTR): the table changed
 * while it was being read. Retrying the same dump is safe.
 */
export class DumpInterruptedError extends NetlinkError {
  override name = 'DumpInterruptedError';
  /** Always true: the dump can simply be run again. */
  readonly retryable = true;
  constructor(options: NetlinkErrorOptions = {}) {
    super(errnoNumber('EINTR') ?? 4, `${options.operation ? `${options.operation}: ` : ''}dump was interrupted by a concurrent change; retry it`, options);
  }
}

/**
 * Replies were lost because the socket's receive buffer overflowed (ENOBUFS).
 * The outcome of the requests that were pending is unknown; the connection has
 * been re-opened and new requests work again.
 */
export class RepliesLostError extends NetlinkError {
  override name = 'RepliesLostError';
  readonly retryable = true;
  constructor(options: NetlinkErrorOptions = {}) {
    super(
      errnoNumber('ENOBUFS') ?? 105,
      `${options.operation ? `${options.operation}: ` : ''}replies were lost (ENOBUFS: receive buffer overflow); the request's outcome is unknown`,
      options,
    );
  }
}

/**
 * An argument was invalid; nothing was sent to the kernel. `field` names the
 * offending field as a path (e.g. `'destination.weight'`); `problems` lists
 * every problem found when several were checked at once.
 */
export class InvalidArgumentError extends TypeError {
  override name = 'InvalidArgumentError';
  readonly code = 'ERR_INVALID_ARGUMENT';
  /** Path of the (first) invalid field. */
  readonly field: string;
  /** Every problem found, as `field: message`. */
  readonly problems: string[];
  constructor(field: string, message: string, problems?: string[]) {
    super(problems && problems.length > 1 ? `${problems.length} invalid fields:\n  ${problems.join('\n  ')}` : `${field}: ${message}`);
    this.field = field;
    this.problems = problems ?? [`${field}: ${message}`];
  }
}
