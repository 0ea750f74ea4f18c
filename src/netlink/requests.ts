/**
 * Single requests of a netlink connection (Conn.request): one promise per
 * request, its reply messages collected or streamed, and the lazy
 * confirmation of requests sent without NLM_F_ACK.
 * @module
 */
import { DumpInterruptedError, NetlinkError, RepliesLostError, TimeoutError } from '../errors.js';
import { NLMSG_DONE, NLMSG_ERROR, NLMSG_NOOP, NLMSG_OVERRUN, NLM_F_ACK, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST } from './constants.js';
import { abortError, withOp } from './conn-errors.js';
import type { ConnHost, Pending, RequestOptions } from './conn-types.js';
import { parseDoneMessage, parseErrorMessage, type NetlinkMessage } from './message.js';
import type { Writer } from './writer.js';

/** What {@link RequestEngine.writeRequest} returns when a dump must wait for the socket's running dump. */
export const DUMP_SLOT_BUSY = -2;

/**
 * The single requests of one connection: writes each into the send buffer,
 * reads the answers to it, and settles its promise. Requests sent without
 * NLM_F_ACK (`noReply`) are confirmed by the answer to anything sent after
 * them. The connection queues requests, sends, and hands it the messages
 * whose sequence number is in {@link inFlight}.
 * @internal
 */
export class RequestEngine {
  /** Requests sent and awaiting their answer, by sequence number. */
  readonly inFlight = new Map<number, Pending>();
  /** Lazily acknowledged requests in send order; `lazyHead` is the first unconfirmed index. */
  lazyInFlight: Pending[] = [];
  lazyHead = 0;

  constructor(private readonly conn: Pick<ConnHost, 'queue' | 'allocSeq' | 'nextSendOrder' | 'activeDump' | 'keep' | 'updateRef' | 'scheduleFlush'>) {}

  /** The record of a new request, listening to its signal (the connection queues it). */
  createRequest(
    type: number,
    flags: number,
    encode: (w: Writer) => void,
    options: RequestOptions,
    timeoutMs: number,
    deadline: number,
    resolve: (messages: NetlinkMessage[]) => void,
    reject: (error: Error) => void,
  ): Pending {
    const { signal } = options;
    const dump = (flags & NLM_F_DUMP) === NLM_F_DUMP;
    const p: Pending = {
      seq: this.conn.allocSeq(),
      type,
      flags: flags | NLM_F_REQUEST | (dump || options.noReply ? 0 : NLM_F_ACK),
      dump,
      encode,
      operation: options.operation,
      messages: undefined,
      onMessage: options.onMessage,
      interrupted: false,
      resolve,
      reject,
      deadline,
      timeoutMs: deadline === Infinity ? 0 : timeoutMs,
      lazy: !dump && options.noReply === true,
      order: 0,
      signal,
      onAbort: undefined,
      state: 'queued',
    };
    if (signal) {
      p.onAbort = () => this.onAbort(p);
      signal.addEventListener('abort', p.onAbort, { once: true });
    }
    return p;
  }

  /**
   * Write request `p` into `w`. Returns where its message starts; -1 if it
   * could not be encoded (it failed); {@link DUMP_SLOT_BUSY} if it is a dump
   * and the socket runs another (nothing written).
   */
  writeRequest(p: Pending, w: Writer): number {
    if (p.dump) {
      if (this.conn.activeDump !== undefined) return DUMP_SLOT_BUSY;
      this.conn.activeDump = p.seq;
    }
    const start = w.beginMessage(p.type, p.flags, p.seq, 0);
    try {
      p.encode!(w);
      p.encode = undefined; // let the request's data go
    } catch (e) {
      // An encoder failure concerns only this request: drop its bytes.
      w.length = start;
      if (p.dump) this.conn.activeDump = undefined;
      this.finish(p, e instanceof Error ? e : new Error(String(e)));
      return -1;
    }
    w.endMessage(start);
    p.state = 'sent';
    p.order = this.conn.nextSendOrder();
    this.inFlight.set(p.seq, p);
    return start;
  }

  /**
   * The requests written into `w` for one send, the last starting at
   * `lastStart`: that one asks for an ACK, which confirms the lazy ones before it.
   */
  endSend(sent: Pending[], w: Writer, lastStart: number): void {
    const last = sent[sent.length - 1];
    if (last?.lazy) {
      last.lazy = false;
      last.flags |= NLM_F_ACK;
      w.patchU16(lastStart + 6, last.flags);
    }
    for (const p of sent) if (p.lazy) this.lazyInFlight.push(p);
  }

  /** The send of these requests failed. */
  failSend(sent: Pending[], error: Error): void {
    for (const p of sent) {
      this.inFlight.delete(p.seq);
      if (p.dump && this.conn.activeDump === p.seq) this.conn.activeDump = undefined;
      this.finish(p, error);
    }
  }

  /** Lazily acknowledged requests sent before the `order`-th send position succeeded. */
  confirmLazyBefore(order: number): void {
    const list = this.lazyInFlight;
    while (this.lazyHead < list.length && list[this.lazyHead]!.order < order) {
      const p = list[this.lazyHead++]!;
      if (p.state === 'sent') this.finish(p, undefined);
    }
    if (this.lazyHead > 1024 && this.lazyHead * 2 > list.length) {
      this.lazyInFlight = list.slice(this.lazyHead);
      this.lazyHead = 0;
    }
  }

  /** Forget the lazily acknowledged requests (their answers are lost or they have failed). */
  forgetLazy(): void {
    this.lazyInFlight = [];
    this.lazyHead = 0;
  }

  /** A message answering request `p` (the connection has confirmed what was sent before it). */
  onReply(p: Pending, msg: NetlinkMessage): void {
    try {
      switch (msg.type) {
        case NLMSG_NOOP:
          return;
        case NLMSG_OVERRUN:
          this.finish(p, new RepliesLostError(withOp(p)));
          return;
        case NLMSG_ERROR: {
          const e = parseErrorMessage(msg);
          if (e.error === 0) {
            if (p.dump) return; // not expected; the DONE ends a dump
            this.finish(p, undefined);
          } else {
            this.finish(p, new NetlinkError(-e.error, undefined, { ...withOp(p), ...(e.extack ? { extack: e.extack } : {}) }));
          }
          return;
        }
        case NLMSG_DONE: {
          if (!p.dump) {
            (p.messages ??= []).push(this.conn.keep(msg));
            return;
          }
          const done = parseDoneMessage(msg);
          if (msg.flags & NLM_F_DUMP_INTR) p.interrupted = true;
          if (done.status < 0) {
            this.finish(p, new NetlinkError(-done.status, undefined, { ...withOp(p), ...(done.extack ? { extack: done.extack } : {}) }));
          } else if (p.interrupted) {
            this.finish(p, new DumpInterruptedError(withOp(p)));
          } else {
            this.finish(p, undefined);
          }
          return;
        }
        default:
          if (msg.flags & NLM_F_DUMP_INTR) p.interrupted = true;
          if (p.onMessage) p.onMessage(msg);
          else (p.messages ??= []).push(this.conn.keep(msg));
      }
    } catch (e) {
      this.finish(p, e instanceof Error ? e : new Error(String(e)));
    }
  }

  /** Settle a request (error undefined = success) and release everything it holds. */
  finish(p: Pending, error: Error | undefined): void {
    if (p.state === 'done') return;
    const wasSent = p.state === 'sent';
    p.state = 'done';
    if (wasSent) this.inFlight.delete(p.seq);
    if (p.dump && this.conn.activeDump === p.seq) {
      // A failed or finished dump frees the slot; a cancelled one is drained first.
      const drained = error === undefined || error instanceof NetlinkError;
      if (drained || !wasSent) this.conn.activeDump = undefined;
    }
    if (p.signal && p.onAbort) p.signal.removeEventListener('abort', p.onAbort);
    if (error) p.reject(error);
    else p.resolve(p.messages ?? []);
    if (this.conn.queue.length > 0) this.conn.scheduleFlush();
  }

  /** The request's deadline passed (the connection's sweep). */
  onTimeout(p: Pending, ms: number): void {
    if (p.state === 'done') return;
    if (p.state === 'queued') this.conn.queue.remove(p);
    const where = p.state === 'queued' ? 'before it could be sent' : 'waiting for the kernel';
    this.finish(p, new TimeoutError(`${p.operation ?? 'netlink request'}: no answer within ${ms} ms (${where})`));
    this.conn.updateRef();
  }

  private onAbort(p: Pending): void {
    if (p.state === 'done') return;
    const queued = p.state === 'queued';
    if (queued) this.conn.queue.remove(p);
    this.finish(p, abortError(p.operation, queued ? 'before it was sent' : 'after it was sent; the kernel may have carried it out', p.signal?.reason));
    this.conn.updateRef();
  }
}
