/**
 * The errors a netlink connection (Conn) and its request engines settle
 * requests with: operation and sequence number attached, abort and socket
 * errors phrased in the request's terms.
 * @module
 */
import { AbortError, NetlinkError } from '../errors.js';
import type { parseDoneMessage } from './message.js';

/** The operation and sequence number of a single request, for an error's details. */
export function withOp(p: { operation: string | undefined; seq: number }): { operation?: string; seq: number } {
  return p.operation === undefined ? { seq: p.seq } : { operation: p.operation, seq: p.seq };
}

/** A parsed NLMSG_DONE read as the error/extack pair of an NLMSG_ERROR. */
export function doneAsError(done: ReturnType<typeof parseDoneMessage>): { error: number; extack?: ReturnType<typeof parseDoneMessage>['extack'] } {
  return done.extack ? { error: done.status, extack: done.extack } : { error: done.status };
}

/** The operation and sequence number of a series' dump, for an error's details. */
export function seriesOp(operation: string | undefined, seq: number): { operation?: string; seq: number } {
  return operation === undefined ? { seq } : { operation, seq };
}

/** The AbortError of a request whose signal fired (`when`: before it was sent, while answered, ...). */
export function abortError(operation: string | undefined, when: string, reason: unknown): AbortError {
  return new AbortError(`${operation ?? 'netlink request'} was aborted ${when}`, reason === undefined ? undefined : { cause: reason });
}

/** Turn a native socket error (errno/code/syscall) into a NetlinkError. */
export function toNetlinkError(e: unknown, what: string, operation?: string): Error {
  const err = e as NodeJS.ErrnoException;
  if (err && typeof err.errno === 'number') {
    const errno = Math.abs(err.errno);
    return new NetlinkError(errno, `${operation ? `${operation}: ` : ''}${err.message}`, {
      ...(operation ? { operation } : {}),
      cause: e,
    });
  }
  return e instanceof Error ? e : new Error(`${what}: ${String(e)}`);
}
