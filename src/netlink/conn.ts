/**
 * Conn: one netlink socket shared by any number of concurrent callers.
 *
 * Requests are matched to replies by sequence number. Requests made in the
 * same tick are written into one buffer and sent with one system call
 * (batching), up to a byte and in-flight limit. A netlink socket runs one dump
 * at a time (the kernel answers a second with EBUSY), so dumps wait their turn
 * in the same first-in-first-out queue as everything else.
 *
 * This file keeps the socket, the queue, sending, receiving and dispatch,
 * deadlines and recovery; single requests, batches and dump series are
 * handled by their engines (requests.ts, batch-engine.ts, dump-series.ts).
 * @module
 */
import { ConnectionClosedError, DecodeError, RepliesLostError } from '../errors.js';
import { BatchEngine } from './batch-engine.js';
import type { NativeSocket } from './binding.js';
import { NLMSG_DONE, NLMSG_ERROR, NLMSG_HDRLEN } from './constants.js';
import { abortError, seriesOp, toNetlinkError, withOp } from './conn-errors.js';
import type {
  BatchOptions,
  BatchOutcome,
  ConnHost,
  ConnOptions,
  ConnStats,
  DumpSeries,
  DumpsOptions,
  Pending,
  QueueEntry,
  RequestOptions,
} from './conn-types.js';
import { DumpSeriesEngine } from './dump-series.js';
import { Fifo } from './fifo.js';
import type { NetlinkMessage } from './message.js';
import { DUMP_SLOT_BUSY, RequestEngine } from './requests.js';
import { nativeSocketFactory, setUpSocket } from './socket-setup.js';
import { Writer } from './writer.js';
import { microtask } from './microtask.js';
import { hostU16, hostU32 } from './host-order.js';

// The public types of a connection live in conn-types.ts; importers keep reading them here.
export type { BatchOptions, BatchOutcome, ConnOptions, ConnStats, DumpsOptions, RequestOptions, SocketFactory } from './conn-types.js';
export { toNetlinkError } from './conn-errors.js';
export { nativeSocketFactory } from './socket-setup.js';

const DEFAULT_TIMEOUT_MS = 30_000;
const RECEIVE_NOW_MAX = 8;
/** The largest datagram a netlink dump sends is 32 KiB; 64 KiB as for the addon's own reads. */
const RECEIVE_BUFFER_BYTES = 64 * 1024;

/** A netlink connection: sequence numbers, batching, replies, deadlines, cancellation. */
export class Conn {
  private socket: NativeSocket;
  private readonly options: Required<Omit<ConnOptions, 'netns'>> & { netns: string | undefined };
  private readonly queue = new Fifo<QueueEntry>();
  /** Single requests (request): those in flight, and the lazy confirmation of noReply ones. */
  private readonly requests: RequestEngine;
  /** Batches (requestBatch): their chunks in flight and how each is confirmed. */
  private readonly batches: BatchEngine;
  /** Dump series (requestDumps): the running series and how its replies are read. */
  private readonly dumps: DumpSeriesEngine;
  private sendOrder = 0;
  /** Seq of the dump the kernel is running on this socket (also while draining a cancelled one). */
  private activeDump: number | undefined;
  private nextSeq = 1;
  private flushScheduled = false;
  private closed = false;
  private refed = false;
  private clockNow = 0;
  private clockStale = true;
  private sweeper: NodeJS.Timeout | undefined;
  private sweeperPeriod = Infinity;
  private readonly writer: Writer;
  /**
   * Datagrams read right after a send land here, one at a time (no allocation
   * per datagram); a message that is kept is copied out first.
   */
  private readonly receiveBuffer = Buffer.allocUnsafeSlow(RECEIVE_BUFFER_BYTES);
  /** True while the datagram being handled is a view of `receiveBuffer`. */
  private datagramIsShared = false;
  // Made once: a snapshot schedules a flush and reads the clock per dump.
  private readonly markClockStale = (): void => {
    this.clockStale = true;
  };
  private readonly flushNow = (): void => {
    this.flushScheduled = false;
    this.flush();
  };
  private portId = 0;
  /** Diagnostics counters. */
  readonly stats: ConnStats = { sent: 0, sends: 0, datagrams: 0, unmatched: 0, reopened: 0 };

  private constructor(options: ConnOptions) {
    this.options = {
      protocol: options.protocol,
      netns: options.netns,
      timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      maxInFlight: options.maxInFlight ?? 4096,
      maxBatchBytes: options.maxBatchBytes ?? 64 * 1024,
      receiveBufferBytes: options.receiveBufferBytes ?? 8 * 1024 * 1024,
      socketFactory: options.socketFactory ?? nativeSocketFactory,
    };
    this.writer = new Writer(this.options.maxBatchBytes + 4096);
    const host = new Conn.Host(this);
    this.requests = new RequestEngine(host);
    this.batches = new BatchEngine(host, this.options.maxInFlight, this.options.maxBatchBytes);
    this.dumps = new DumpSeriesEngine(host);
    this.socket = this.openSocket();
  }

  /**
   * What the engines see of their connection ({@link ConnHost}). One class
   * serves every connection, so the engines' calls into it on the
   * per-message paths stay monomorphic and are inlined (closures made per
   * connection measured slower).
   */
  private static readonly Host = class implements ConnHost {
    readonly queue: Fifo<QueueEntry>;
    constructor(private readonly c: Conn) {
      this.queue = c.queue;
    }
    allocSeq(): number {
      return this.c.allocSeq();
    }
    peekSeq(): number {
      return this.c.nextSeq;
    }
    nextSendOrder(): number {
      return ++this.c.sendOrder;
    }
    inFlightCount(): number {
      return this.c.inFlightCount();
    }
    now(): number {
      return this.c.now();
    }
    updateRef(): void {
      this.c.updateRef();
    }
    scheduleFlush(): void {
      this.c.scheduleFlush();
    }
    scheduleFlushNextTurn(): void {
      this.c.scheduleFlushNextTurn();
    }
    get activeDump(): number | undefined {
      return this.c.activeDump;
    }
    set activeDump(seq: number | undefined) {
      this.c.activeDump = seq;
    }
    keep(msg: NetlinkMessage): NetlinkMessage {
      return this.c.keep(msg);
    }
  };

  /** Open a netlink socket (optionally in another network namespace) and wrap it. */
  static open(options: ConnOptions): Conn {
    return new Conn(options);
  }

  /** The port id the kernel assigned to this socket. */
  get pid(): number {
    return this.portId;
  }

  /** Whether {@link close} has been called (or the connection failed for good). */
  get isClosed(): boolean {
    return this.closed;
  }

  private openSocket(): NativeSocket {
    const { protocol, netns, socketFactory, receiveBufferBytes, maxBatchBytes } = this.options;
    const s = socketFactory(protocol, netns);
    try {
      this.portId = setUpSocket(s, receiveBufferBytes, Math.max(maxBatchBytes * 2, 256 * 1024));
      s.start(
        (datagrams) => this.onDatagrams(s, datagrams),
        (error) => this.onSocketError(s, error),
      );
      s.unref();
      this.refed = false;
    } catch (e) {
      s.close();
      throw e;
    }
    return s;
  }

  /**
   * Send one request and resolve with its reply messages (for a dump, all the
   * parts; for anything else, any reply before the ACK). NLM_F_REQUEST is always
   * set; NLM_F_ACK is added to non-dump requests so every request gets an answer.
   * @param type nlmsg_type (a family id)
   * @param flags extra nlmsg_flags, e.g. NLM_F_DUMP
   * @param encode writes the payload after the 16-byte header
   */
  request(type: number, flags: number, encode: (w: Writer) => void, options: RequestOptions = {}): Promise<NetlinkMessage[]> {
    if (this.closed) return Promise.reject(new ConnectionClosedError('netlink connection is closed'));
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(abortError(options.operation, 'before it was sent', signal.reason));
    return new Promise<NetlinkMessage[]>((resolve, reject) => {
      const timeoutMs = options.timeoutMs ?? this.options.timeoutMs;
      this.queue.push(this.requests.createRequest(type, flags, encode, options, timeoutMs, this.deadline(timeoutMs), resolve, reject));
      this.updateRef();
      this.scheduleFlush();
    });
  }

  /**
   * Send `count` messages of `type` that get no data in reply (changes), as
   * fast as the kernel takes them: `encode(i, w)` writes message i's payload
   * straight into the send buffer, the messages go out many per send, and only
   * the last of each send asks for an ACK. Resolves when the kernel has
   * confirmed every message sent, with the errors of the ones it refused.
   * Memory does not grow with `count`: no promise or record per message.
   */
  requestBatch(type: number, count: number, encode: (index: number, w: Writer) => void, options: BatchOptions = {}): Promise<BatchOutcome> {
    if (this.closed) return Promise.reject(new ConnectionClosedError('netlink connection is closed'));
    return new Promise<BatchOutcome>((resolve, reject) => {
      const timeoutMs = options.timeoutMs ?? this.options.timeoutMs;
      const b = this.batches.createBatch(type, count, encode, options, timeoutMs, this.deadline(timeoutMs), resolve, reject);
      this.queue.push(b);
      if (b.stopped) {
        this.batches.settleBatch(b);
        return;
      }
      this.updateRef();
      this.scheduleFlush();
    });
  }

  /**
   * Run `count` dumps of `type` one after another — what a socket allows, since
   * the kernel runs one dump per socket at a time — as one queue entry:
   * `encode(i, w)` writes dump i's payload straight into the send buffer when
   * its turn comes, and every reply message of dump i is handed to
   * `onReply(i, datagram, payloadStart, payloadEnd)` in place (the bytes are
   * only valid during the call; nothing is copied or collected). Resolves when
   * the last dump is done; rejects at the first error, naming the dump with
   * `options.operation`. Memory does not grow with `count`: no promise, record
   * or message object per dump or reply. A snapshot reads each service's
   * destinations this way.
   */
  requestDumps(
    type: number,
    count: number,
    encode: (index: number, w: Writer) => void,
    onReply: (index: number, datagram: Buffer, payloadStart: number, payloadEnd: number) => void,
    options: DumpsOptions = {},
  ): Promise<void> {
    if (this.closed) return Promise.reject(new ConnectionClosedError('netlink connection is closed'));
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(abortError(options.operation?.(0), 'before it was sent', signal.reason));
    if (count <= 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timeoutMs = options.timeoutMs ?? this.options.timeoutMs;
      const s = this.dumps.createSeries(type, count, encode, onReply, options, timeoutMs, this.deadline(timeoutMs), resolve, reject);
      this.queue.push(s);
      this.updateRef();
      this.scheduleFlush();
    });
  }

  /** Requests, batch messages and series dumps sent and not yet answered. */
  private inFlightCount(): number {
    return this.requests.inFlight.size + this.batches.outstanding + (this.dumps.active ? 1 : 0);
  }

  /** The deadline of an entry made now with `timeoutMs` (Infinity for none); arms the sweeper. */
  private deadline(timeoutMs: number): number {
    if (!(timeoutMs > 0 && Number.isFinite(timeoutMs))) return Infinity;
    const deadline = this.now() + timeoutMs;
    this.armSweeper(timeoutMs);
    return deadline;
  }

  /**
   * The clock, read at most once per tick: bulk callers make thousands of
   * requests in one tick, and reading the clock is a system call on some
   * kernels (user-mode Linux has no vDSO).
   */
  private now(): number {
    if (this.clockStale) {
      this.clockNow = performance.now();
      this.clockStale = false;
      microtask(this.markClockStale);
    }
    return this.clockNow;
  }

  /**
   * One timer serves every deadline: it wakes at the earliest granularity
   * needed and fails the requests whose deadline has passed.
   */
  private armSweeper(timeoutMs: number): void {
    const period = Math.max(10, Math.min(1000, Math.floor(timeoutMs / 4)));
    if (this.sweeper && period >= this.sweeperPeriod) return;
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeperPeriod = period;
    this.sweeper = setInterval(() => this.sweep(), period);
    this.sweeper.unref();
  }

  private sweep(): void {
    if (this.inFlightCount() === 0 && this.queue.length === 0) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
      this.sweeperPeriod = Infinity;
      return;
    }
    this.clockStale = true;
    const now = this.now();
    const expired: Pending[] = [];
    for (const p of this.requests.inFlight.values()) if (p.deadline <= now) expired.push(p);
    const batches = this.batches.activeBatches();
    const series = new Set<DumpSeries>(this.dumps.active ? [this.dumps.active] : []);
    for (const e of this.queue) {
      if (e.kind === 'batch') batches.add(e);
      else if (e.kind === 'dumps') series.add(e);
      else if (e.deadline <= now) expired.push(e);
    }
    for (const b of batches) this.batches.sweepBatch(b, now);
    for (const s of series) this.dumps.sweepSeries(s, now);
    for (const p of expired) this.requests.onTimeout(p, p.timeoutMs);
  }

  private allocSeq(): number {
    const seq = this.nextSeq;
    this.nextSeq = this.nextSeq >= 0xffffffff ? 1 : this.nextSeq + 1;
    return seq;
  }

  /** {@link scheduleFlush} on the next turn of the event loop rather than in a microtask. */
  private scheduleFlushNextTurn(): void {
    if (this.flushScheduled || this.closed) return;
    this.flushScheduled = true;
    setImmediate(this.flushNow);
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.closed) return;
    this.flushScheduled = true;
    microtask(this.flushNow);
  }

  /** Write as many queued requests as the limits allow into one buffer, and send it. */
  private flush(): void {
    if (this.closed || this.queue.length === 0) return;
    const w = this.writer;
    const { maxBatchBytes, maxInFlight } = this.options;
    w.reset();
    const batch: Pending[] = [];
    let taken = 0;
    let lastStart = -1;
    let chunkMessages = 0;
    let seriesDumps = 0;
    while (taken < this.queue.length && this.inFlightCount() < maxInFlight && w.length < maxBatchBytes) {
      const entry = this.queue.at(taken)!;
      if (entry.kind === 'dumps') {
        // One dump of the series per send: the next waits for this one's end.
        if (this.activeDump !== undefined) break;
        if (!this.dumps.writeSeriesDump(entry, w)) continue; // it failed and left the queue
        seriesDumps++;
        if (entry.next >= entry.count) taken++;
        break;
      }
      if (entry.kind === 'batch') {
        if (!entry.stopped) chunkMessages += this.batches.writeChunk(entry, w);
        if (entry.stopped || entry.next >= entry.count) {
          taken++;
          continue;
        }
        break; // limits reached inside the batch
      }
      const start = this.requests.writeRequest(entry, w);
      if (start === DUMP_SLOT_BUSY) break;
      taken++;
      if (start < 0) continue; // it failed and left the queue
      batch.push(entry);
      lastStart = start;
    }
    this.queue.shift(taken);
    // (A batch entry leaves the queue once fully written; it settles when its chunks are confirmed.)
    this.requests.endSend(batch, w, lastStart);
    if (batch.length > 0 || chunkMessages > 0 || seriesDumps > 0) {
      try {
        this.socket.send(w.peek());
        this.stats.sends++;
        this.stats.sent += batch.length + chunkMessages + seriesDumps;
        // The kernel answers most requests inside send(): read the answers now
        // rather than after a trip through the event loop.
        this.receiveNow();
      } catch (e) {
        const err = toNetlinkError(e, 'send');
        this.requests.failSend(batch, err);
        for (const b of this.batches.activeBatches()) this.batches.failBatch(b, err);
        if (seriesDumps > 0 && this.dumps.active) this.dumps.failSeries(this.dumps.active, err, true);
      }
    }
    // More to send and room for it: go on (the answers so far were read above).
    const head = this.queue.at(0);
    if (head && this.inFlightCount() < maxInFlight && (head.kind === 'batch' || (head.kind === undefined && !head.dump) || this.activeDump === undefined)) {
      this.scheduleFlush();
    }
    // Requests failed here (encoder or send errors) may have left nothing pending.
    this.updateRef();
  }

  /** Read whatever the kernel has already queued for this socket. */
  private receiveNow(): void {
    const socket = this.socket;
    // Sockets without receiveInto() (fakes may leave it out) are read by the poll.
    if (!socket.receiveInto) return;
    // One datagram at a time, and only while answers are still awaited: the
    // read that would only say EAGAIN is skipped (a system call per request
    // saved, which matters for thousands of back-to-back dumps). A few at most:
    // a large dump goes on through the poll, so the loop stays responsive.
    // receiveInto() reads into the reused buffer (see keep()).
    let any = false;
    for (let i = 0; i < RECEIVE_NOW_MAX && socket === this.socket && this.inFlightCount() > 0; i++) {
      let n: number;
      try {
        n = socket.receiveInto(this.receiveBuffer);
      } catch (e) {
        this.onSocketError(socket, e as NodeJS.ErrnoException);
        return;
      }
      if (n < 0) break;
      any = true;
      this.stats.datagrams++;
      this.datagramIsShared = true;
      try {
        this.onDatagram(this.receiveBuffer, n); // read in place: no view object per datagram
      } finally {
        this.datagramIsShared = false;
      }
    }
    if (any && socket === this.socket) {
      this.updateRef();
      if (this.queue.length > 0) this.scheduleFlush();
    }
  }

  /** A message to keep beyond the handling of its datagram: copied out of the shared receive buffer. */
  private keep(msg: NetlinkMessage): NetlinkMessage {
    if (this.datagramIsShared) msg.payload = Buffer.from(msg.payload);
    return msg;
  }

  /**
   * An answer to the request sent `order`-th arrived, so the kernel has handled
   * every request sent before it: lazily acknowledged ones still pending succeeded.
   */
  private confirmBefore(order: number): void {
    this.batches.confirmChunksBefore(order);
    this.requests.confirmLazyBefore(order);
  }

  private onDatagrams(socket: NativeSocket, datagrams: Buffer[]): void {
    if (socket !== this.socket) return; // a socket replaced after ENOBUFS
    for (const d of datagrams) {
      this.stats.datagrams++;
      this.onDatagram(d);
    }
    this.updateRef();
    if (this.queue.length > 0) this.scheduleFlush();
  }

  /** The messages of the datagram in `d[0, n)`. */
  private onDatagram(d: Buffer, n = d.length): void {
    let off = 0;
    while (off + NLMSG_HDRLEN <= n) {
      const len = hostU32(d, off);
      const seq = hostU32(d, off + 8);
      if (len < NLMSG_HDRLEN || off + len > n) {
        const p = this.requests.inFlight.get(seq);
        const err = new DecodeError(`malformed netlink message (nlmsg_len ${len}, ${n - off} bytes left)`, off);
        if (p) this.requests.finish(p, err);
        else if (this.dumps.active && seq === this.dumps.active.seq) this.dumps.failSeries(this.dumps.active, err, false);
        else this.stats.unmatched++;
        return;
      }
      const series = this.dumps.active;
      if (series !== undefined && seq === series.seq) {
        if (this.requests.lazyHead < this.requests.lazyInFlight.length || this.batches.chunks.length) this.confirmBefore(series.order);
        this.dumps.onSeriesMessage(series, d, off, len);
        off += (len + 3) & ~3;
        continue;
      }
      const msg: NetlinkMessage = {
        type: hostU16(d, off + 4),
        flags: hostU16(d, off + 6),
        seq,
        pid: hostU32(d, off + 12),
        payload: d.subarray(off + NLMSG_HDRLEN, off + len),
      };
      off += (len + 3) & ~3;
      this.onMessage(msg);
    }
  }

  private onMessage(msg: NetlinkMessage): void {
    const requests = this.requests;
    const p = requests.inFlight.get(msg.seq);
    if (p) {
      if (requests.lazyHead < requests.lazyInFlight.length || this.batches.chunks.length) this.confirmBefore(p.order);
    } else if (this.batches.chunks.length) {
      const c = this.batches.findChunk(msg.seq);
      if (c) {
        this.confirmBefore(c.order);
        try {
          this.batches.onChunkMessage(c, msg);
        } catch (e) {
          this.batches.failBatch(c.batch, e instanceof Error ? e : new Error(String(e)));
        }
        return;
      }
    }
    if (!p) {
      this.stats.unmatched++;
      // The end of a dump nobody waits for any more frees the socket's dump slot.
      if (this.activeDump === msg.seq && (msg.type === NLMSG_DONE || msg.type === NLMSG_ERROR)) this.activeDump = undefined;
      return;
    }
    requests.onReply(p, msg);
  }

  private onSocketError(socket: NativeSocket, error: NodeJS.ErrnoException): void {
    if (socket !== this.socket || this.closed) return;
    if (error.code === 'ENOBUFS') {
      // Replies were dropped; which ones is unknowable. Fail what was in flight,
      // start over on a fresh socket, and keep what was not yet sent.
      this.stats.reopened++;
      const lost = [...this.requests.inFlight.values()];
      const lostSeries = this.dumps.active;
      this.activeDump = undefined;
      this.requests.forgetLazy();
      try {
        this.socket.close();
      } catch {
        /* already closed */
      }
      try {
        this.socket = this.openSocket();
      } catch (e) {
        this.failAll(toNetlinkError(e, 'reopen'));
        this.closed = true;
        return;
      }
      for (const p of lost) this.requests.finish(p, new RepliesLostError(withOp(p)));
      if (lostSeries) this.dumps.failSeries(lostSeries, new RepliesLostError(seriesOp(this.dumps.seriesOperation(lostSeries), lostSeries.seq)), true);
      for (const b of this.batches.activeBatches()) {
        this.batches.failBatch(b, new RepliesLostError(b.operation ? { operation: b.operation } : {}));
      }
      this.batches.reset();
      this.updateRef();
      this.scheduleFlush();
      return;
    }
    // Any other receive error (e.g. a truncated datagram) concerns unknown requests;
    // fail the oldest in-flight one so nothing waits forever.
    const oldest = this.requests.inFlight.values().next().value as Pending | undefined;
    if (oldest) this.requests.finish(oldest, toNetlinkError(error, 'recv', oldest.operation));
    else if (this.dumps.active) this.dumps.failSeries(this.dumps.active, toNetlinkError(error, 'recv', this.dumps.seriesOperation(this.dumps.active)), false);
    else this.stats.unmatched++;
    this.updateRef();
  }

  private failAll(error: Error): void {
    const all = [...this.requests.inFlight.values(), ...this.queue];
    const series = this.dumps.active;
    if (series && !all.includes(series)) all.push(series);
    const batches = this.batches.activeBatches();
    this.queue.clear();
    this.requests.forgetLazy();
    for (const e of all) {
      if (e.kind === 'batch') batches.add(e);
      else if (e.kind === 'dumps') this.dumps.failSeries(e, error, true);
      else this.requests.finish(e, error);
    }
    for (const b of batches) this.batches.failBatch(b, error);
    this.batches.reset();
  }

  /** Keep the event loop alive only while requests are outstanding. */
  private updateRef(): void {
    if (this.closed) return;
    const busy = this.inFlightCount() > 0 || this.queue.length > 0;
    if (busy && !this.refed) {
      this.socket.ref();
      this.refed = true;
    } else if (!busy && this.refed) {
      this.socket.unref();
      this.refed = false;
    }
  }

  /** Close the socket. Pending requests reject with ConnectionClosedError. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.failAll(new ConnectionClosedError('netlink connection closed while the request was pending'));
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = undefined;
    this.socket.close();
  }
}
