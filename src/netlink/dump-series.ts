/**
 * Dump series of a netlink connection (Conn.requestDumps): many dumps run one
 * after another as one queue entry, their replies read in place.
 * @module
 */
import { DumpInterruptedError, NetlinkError, RepliesLostError, TimeoutError } from '../errors.js';
import {
  NLMSG_DONE,
  NLMSG_ERROR,
  NLMSG_HDRLEN,
  NLMSG_NOOP,
  NLMSG_OVERRUN,
  NLM_F_DUMP,
  NLM_F_DUMP_INTR,
  NLM_F_REQUEST,
} from './constants.js';
import { abortError, doneAsError, seriesOp } from './conn-errors.js';
import type { ConnHost, DumpSeries, DumpsOptions } from './conn-types.js';
import { parseDoneMessage, parseErrorMessage, type NetlinkMessage } from './message.js';
import type { Writer } from './writer.js';
import { hostI32, hostU16 } from './host-order.js';

/** A dump series lets the event loop run after this many dumps (see seriesDumpDone). */
const SERIES_YIELD_EVERY = 64;

/**
 * The dump series of one connection: writes each series' next dump when the
 * socket's dump slot is free, reads its replies in place, and moves on to the
 * next dump or settles the series. The connection queues series, sends, and
 * hands it the messages of the running dump.
 * @internal
 */
export class DumpSeriesEngine {
  /** The series whose dump the kernel is running on the socket (the connection's activeDump). */
  active: DumpSeries | undefined;

  constructor(private readonly conn: Pick<ConnHost, 'queue' | 'allocSeq' | 'nextSendOrder' | 'activeDump' | 'updateRef' | 'scheduleFlush' | 'scheduleFlushNextTurn'>) {}

  /** The record of a new series, listening to its signal (the connection queues it). */
  createSeries(
    type: number,
    count: number,
    encode: (index: number, w: Writer) => void,
    onReply: (index: number, datagram: Buffer, payloadStart: number, payloadEnd: number) => void,
    options: DumpsOptions,
    timeoutMs: number,
    deadline: number,
    resolve: () => void,
    reject: (e: Error) => void,
  ): DumpSeries {
    const { signal } = options;
    const s: DumpSeries = {
      kind: 'dumps',
      type,
      count,
      next: 0,
      current: -1,
      seq: 0,
      sweptAt: 0,
      order: 0,
      interrupted: false,
      encode,
      onReply,
      operation: options.operation,
      resolve,
      reject,
      signal,
      onAbort: undefined,
      deadline,
      timeoutMs,
      state: 'queued',
    };
    if (signal) {
      s.onAbort = () => {
        const sent = s.current >= 0;
        this.failSeries(s, abortError(this.seriesOperation(s), sent ? 'while the kernel was answering' : 'before it was sent', signal.reason), false);
      };
      signal.addEventListener('abort', s.onAbort, { once: true });
    }
    return s;
  }

  /** The operation name of a series' current (or next) dump. */
  seriesOperation(s: DumpSeries): string | undefined {
    return s.operation?.(s.current >= 0 ? s.current : Math.min(s.next, s.count - 1));
  }

  /** Write the next dump of series `s` into `w`; false if it could not be encoded (the series failed). */
  writeSeriesDump(s: DumpSeries, w: Writer): boolean {
    const seq = this.conn.allocSeq();
    const start = w.beginMessage(s.type, NLM_F_REQUEST | NLM_F_DUMP, seq, 0);
    try {
      s.encode(s.next, w);
    } catch (e) {
      w.length = start;
      s.current = -1;
      this.failSeries(s, e instanceof Error ? e : new Error(String(e)), true);
      return false;
    }
    w.endMessage(start);
    s.current = s.next++;
    s.seq = seq;
    s.order = this.conn.nextSendOrder();
    s.interrupted = false;
    this.conn.activeDump = seq;
    this.active = s;
    return true;
  }

  /**
   * One message of the series' running dump, read in place at `off` (nlmsg_len
   * `len`); the connection has confirmed what was sent before it.
   */
  onSeriesMessage(s: DumpSeries, d: Buffer, off: number, len: number): void {
    const type = hostU16(d, off + 4);
    const flags = hostU16(d, off + 6);
    if (flags & NLM_F_DUMP_INTR) s.interrupted = true;
    // The common end of a dump, read in place: a DONE with status 0 (zero in
    // either byte order), nothing interrupted.
    if (type === NLMSG_DONE && len >= NLMSG_HDRLEN + 4 && hostI32(d, off + NLMSG_HDRLEN) === 0 && !s.interrupted) {
      this.seriesDumpDone(s);
      return;
    }
    try {
      switch (type) {
        case NLMSG_NOOP:
          return;
        case NLMSG_OVERRUN:
          this.failSeries(s, new RepliesLostError(seriesOp(this.seriesOperation(s), s.seq)), false);
          return;
        case NLMSG_DONE:
        case NLMSG_ERROR: {
          // The end of this dump (an ERROR with status 0 is not expected; the DONE ends a dump).
          const msg: NetlinkMessage = { type, flags, seq: s.seq, pid: 0, payload: d.subarray(off + NLMSG_HDRLEN, off + len) };
          const r = type === NLMSG_ERROR ? parseErrorMessage(msg) : doneAsError(parseDoneMessage(msg));
          if (type === NLMSG_ERROR && r.error === 0) return;
          if (r.error < 0) {
            this.failSeries(s, new NetlinkError(-r.error, undefined, { ...seriesOp(this.seriesOperation(s), s.seq), ...(r.extack ? { extack: r.extack } : {}) }), true);
          } else if (s.interrupted) {
            this.failSeries(s, new DumpInterruptedError(seriesOp(this.seriesOperation(s), s.seq)), true);
          } else {
            this.seriesDumpDone(s);
          }
          return;
        }
        default:
          s.onReply(s.current, d, off + NLMSG_HDRLEN, off + len);
      }
    } catch (e) {
      this.failSeries(s, e instanceof Error ? e : new Error(String(e)), false);
    }
  }

  /** Dump `s.current` finished: free the socket's dump slot; the series goes on or resolves. */
  seriesDumpDone(s: DumpSeries): void {
    this.conn.activeDump = undefined;
    this.active = undefined;
    s.current = -1;
    if (s.next >= s.count) {
      s.state = 'done';
      if (s.signal && s.onAbort) s.signal.removeEventListener('abort', s.onAbort);
      s.resolve();
    } else if (s.next % SERIES_YIELD_EVERY === 0) {
      // Dumps answered inside send() chain through microtasks alone: every so
      // often the next one waits a turn of the event loop, so that timers,
      // other I/O and abort signals are not held off for a whole large series.
      this.conn.scheduleFlushNextTurn();
      return;
    }
    if (this.conn.queue.length > 0) this.conn.scheduleFlush();
  }

  /**
   * Reject a series. `dumpEnded`: its running dump is over (the kernel said
   * so, or it was never sent), so the dump slot is free; otherwise the rest
   * of the dump is drained as unmatched replies first.
   */
  failSeries(s: DumpSeries, error: Error, dumpEnded: boolean): void {
    if (s.state === 'done') return;
    s.state = 'done';
    this.conn.queue.remove(s);
    if (this.active === s) {
      this.active = undefined;
      if (dumpEnded) this.conn.activeDump = undefined;
    }
    if (s.signal && s.onAbort) s.signal.removeEventListener('abort', s.onAbort);
    s.reject(error);
    this.conn.updateRef();
    if (this.conn.queue.length > 0) this.conn.scheduleFlush();
  }

  /**
   * The connection's sweep: progress since the last sweep moves a series'
   * deadline (checked here rather than per dump: reading the clock is a
   * system call in UML); without progress past its deadline it fails.
   */
  sweepSeries(s: DumpSeries, now: number): void {
    if (s.next !== s.sweptAt) {
      s.sweptAt = s.next;
      if (s.deadline !== Infinity) s.deadline = now + s.timeoutMs;
      return;
    }
    if (s.deadline > now) return;
    const where = s.current >= 0 ? 'waiting for the kernel' : 'before it could be sent';
    this.failSeries(s, new TimeoutError(`${this.seriesOperation(s) ?? 'netlink dump'}: no answer within ${s.timeoutMs} ms (${where})`), s.current < 0);
  }
}
