/**
 * Conn: one netlink socket shared by any number of concurrent callers.
 *
 * Requests are matched to replies by sequence number. Requests made in the
 * same tick are written into one buffer and sent with one system call
 * (batching), up to a byte and in-flight limit. A netlink socket runs one dump
 * at a time (the kernel answers a second with EBUSY), so dumps wait their turn
 * in the same first-in-first-out queue as everything else.
 * @module
 */
import {
  AbortError,
  ConnectionClosedError,
  DecodeError,
  DumpInterruptedError,
  NetlinkError,
  RepliesLostError,
  TimeoutError,
} from '../errors.js';
import { openSocket, type NativeSocket } from './binding.js';
import {
  AF_NETLINK,
  HOST_LITTLE_ENDIAN as LE,
  NETLINK_CAP_ACK,
  NETLINK_EXT_ACK,
  NLMSG_DONE,
  NLMSG_ERROR,
  NLMSG_HDRLEN,
  NLMSG_NOOP,
  NLMSG_OVERRUN,
  NLM_F_ACK,
  NLM_F_DUMP,
  NLM_F_DUMP_INTR,
  NLM_F_REQUEST,
  SOCK_RAW,
  SOL_NETLINK,
  SOL_SOCKET,
  SO_RCVBUF,
  SO_RCVBUFFORCE,
  SO_SNDBUF,
  SO_SNDBUFFORCE,
} from './constants.js';
import { parseDoneMessage, parseErrorMessage, type NetlinkMessage } from './message.js';
import { Writer } from './writer.js';

/** Opens the socket a {@link Conn} uses; replaced by a fake in unit tests. */
export type SocketFactory = (protocol: number, netns: string | undefined) => NativeSocket;

/** The real socket factory: AF_NETLINK / SOCK_RAW through the native addon. */
export const nativeSocketFactory: SocketFactory = (protocol, netns) =>
  openSocket(AF_NETLINK, SOCK_RAW, protocol, netns === undefined ? {} : { netns });

/** Options for {@link Conn.open}. */
export interface ConnOptions {
  /** Netlink protocol, e.g. NETLINK_GENERIC (16) or NETLINK_ROUTE (0). */
  protocol: number;
  /** Network namespace file to open the socket in (`/run/netns/NAME`, `/proc/PID/ns/net`). */
  netns?: string;
  /** Default deadline of each request, in milliseconds (default 30 000). */
  timeoutMs?: number;
  /** Most requests awaiting their answer at once (default 4096). */
  maxInFlight?: number;
  /** Most bytes written per send (default 64 KiB). */
  maxBatchBytes?: number;
  /** Receive buffer to ask the kernel for (default 8 MiB; needs CAP_NET_ADMIN beyond net.core.rmem_max). */
  receiveBufferBytes?: number;
  /** Where sockets come from (default: the native addon). */
  socketFactory?: SocketFactory;
}

/** Per-request options. */
export interface RequestOptions {
  /** Deadline in milliseconds for the complete answer (default: the connection's). */
  timeoutMs?: number;
  /** Cancels the request: rejected with AbortError. */
  signal?: AbortSignal;
  /** Names the operation in error messages, e.g. `'add service TCP 10.0.0.1:80'`. */
  operation?: string;
  /**
   * The request gets no data in reply, only success or an error (true for
   * every IPVS "set" command). It is then sent without NLM_F_ACK: the kernel
   * handles a socket's requests in order and always answers a failure, so the
   * answer to a later request on the socket confirms it. The last request of
   * each send carries an ACK, so nothing waits for long. This turns thousands
   * of ACK datagrams into a handful.
   */
  noReply?: boolean;
  /**
   * For dumps: each reply message is handed to this as it arrives, instead of
   * being collected, and the request resolves with `[]`. The message's payload
   * is only valid during the call (it may be a view of a reused receive
   * buffer): copy what is kept. An exception thrown here fails the request.
   */
  onMessage?: (message: NetlinkMessage) => void;
}

/** Counters useful in tests and diagnostics. */
export interface ConnStats {
  /** Messages sent. */
  sent: number;
  /** send() system calls. */
  sends: number;
  /** Datagrams received. */
  datagrams: number;
  /** Replies that matched no pending request (late, after timeout/abort, or foreign) and were dropped. */
  unmatched: number;
  /** Times the socket was re-opened after losing replies (ENOBUFS). */
  reopened: number;
}

interface Pending {
  kind?: undefined;
  seq: number;
  type: number;
  flags: number;
  dump: boolean;
  encode: ((w: Writer) => void) | undefined;
  operation: string | undefined;
  /** Reply messages; allocated on the first one (most requests only get an ACK). */
  messages: NetlinkMessage[] | undefined;
  /** Streams the reply messages instead (see RequestOptions.onMessage). */
  onMessage: ((message: NetlinkMessage) => void) | undefined;
  interrupted: boolean;
  resolve: (messages: NetlinkMessage[]) => void;
  reject: (error: Error) => void;
  /** Deadline on the connection's clock (ms), or Infinity. */
  deadline: number;
  timeoutMs: number;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  state: 'queued' | 'sent' | 'done';
  /** Sent without NLM_F_ACK: success is known when a later request on the socket is answered. */
  lazy: boolean;
  /** Position in send order (for lazy confirmation). */
  order: number;
}

/** What {@link Conn.requestBatch} resolves with. */
export interface BatchOutcome {
  /** Messages the kernel carried out. */
  succeeded: number;
  /** Messages the kernel refused (or that could not be encoded), by index. */
  errors: { index: number; error: Error }[];
  /** Messages sent. */
  sent: number;
  /** True when the batch stopped early: its signal fired, or `stopOnError` met an error. */
  stopped: boolean;
}

/** Options of {@link Conn.requestBatch}. */
export interface BatchOptions {
  /** Stop sending at the first refused message (those already sent still run). */
  stopOnError?: boolean;
  /** Stops sending; the outcome then says `stopped`. */
  signal?: AbortSignal;
  /** Deadline in ms for progress (reset whenever the kernel confirms part of the batch). */
  timeoutMs?: number;
  /** Names the operation in errors. */
  operation?: string;
  /** Called as the kernel confirms messages. */
  onProgress?: (done: number, total: number) => void;
}

interface Batch {
  kind: 'batch';
  type: number;
  count: number;
  /** Next index to encode and send. */
  next: number;
  encode: (index: number, w: Writer) => void;
  outstanding: number;
  succeeded: number;
  errors: { index: number; error: Error }[];
  stopOnError: boolean;
  stopped: boolean;
  operation: string | undefined;
  onProgress: ((done: number, total: number) => void) | undefined;
  resolve: (o: BatchOutcome) => void;
  reject: (e: Error) => void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  deadline: number;
  timeoutMs: number;
  state: 'queued' | 'done';
}

/** Messages of one batch written by one send: consecutive sequence numbers, the last one ACKed. */
interface Chunk {
  batch: Batch;
  seqStart: number;
  indexStart: number;
  n: number;
  order: number;
  errors: number;
}

/** Options of {@link Conn.requestDumps}. */
export interface DumpsOptions {
  /** Stops the series: it rejects with AbortError. */
  signal?: AbortSignal;
  /** Deadline in ms for progress (moved on whenever another of the dumps starts). */
  timeoutMs?: number;
  /** Names dump `index` in errors, e.g. `'snapshot (service TCP 10.0.0.1:80)'`. */
  operation?: (index: number) => string;
}

/** Dumps run one after another as one queue entry (see {@link Conn.requestDumps}). */
interface DumpSeries {
  kind: 'dumps';
  type: number;
  count: number;
  /** Next index to send. */
  next: number;
  /** Index of the dump the kernel is running, or -1. */
  current: number;
  /** Sequence number and send position of that dump. */
  seq: number;
  /** `next` at the last sweep (see Conn.sweep). */
  sweptAt: number;
  order: number;
  interrupted: boolean;
  encode: (index: number, w: Writer) => void;
  onReply: (index: number, datagram: Buffer, payloadStart: number, payloadEnd: number) => void;
  operation: ((index: number) => string) | undefined;
  resolve: () => void;
  reject: (e: Error) => void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  deadline: number;
  timeoutMs: number;
  state: 'queued' | 'done';
}

type QueueEntry = Pending | Batch | DumpSeries;

/**
 * First-in-first-out queue that takes from the front in O(1): a connection can
 * hold thousands of queued requests (a snapshot's destination dumps), taken
 * one at a time.
 */
class Fifo<T> {
  private items: T[] = [];
  private head = 0;
  get length(): number {
    return this.items.length - this.head;
  }
  push(item: T): void {
    this.items.push(item);
  }
  /** The i-th item from the front. */
  at(i: number): T | undefined {
    return this.items[this.head + i];
  }
  /** Drop n items from the front. */
  shift(n: number): void {
    this.head += n;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
  /** Remove one item wherever it is (rare: timeouts and aborts). */
  remove(item: T): void {
    const i = this.items.indexOf(item, this.head);
    if (i >= 0) this.items.splice(i, 1);
  }
  clear(): void {
    this.items = [];
    this.head = 0;
  }
  *[Symbol.iterator](): Iterator<T> {
    for (let i = this.head; i < this.items.length; i++) yield this.items[i]!;
  }
}

const DEFAULT_TIMEOUT_MS = 30_000;
const RECEIVE_NOW_MAX = 8;
/** A dump series lets the event loop run after this many dumps (see seriesDumpDone). */
const SERIES_YIELD_EVERY = 64;
/** The largest datagram a netlink dump sends is 32 KiB; 64 KiB as for the addon's own reads. */
const RECEIVE_BUFFER_BYTES = 64 * 1024;

/** A netlink connection: sequence numbers, batching, replies, deadlines, cancellation. */
export class Conn {
  private socket: NativeSocket;
  private readonly options: Required<Omit<ConnOptions, 'netns'>> & { netns: string | undefined };
  private readonly queue = new Fifo<QueueEntry>();
  /** Batch chunks sent and not yet confirmed, in send order. */
  private activeChunks: Chunk[] = [];
  /** Batch messages sent and not yet confirmed. */
  private batchOutstanding = 0;
  private readonly inFlight = new Map<number, Pending>();
  /** Lazily acknowledged requests in send order; `lazyHead` is the first unconfirmed index. */
  private lazyInFlight: Pending[] = [];
  private lazyHead = 0;
  private sendOrder = 0;
  /** Seq of the dump the kernel is running on this socket (also while draining a cancelled one). */
  private activeDump: number | undefined;
  /** The dump series whose dump is `activeDump`. */
  private activeSeries: DumpSeries | undefined;
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
    this.socket = this.openSocket();
  }

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
    const { protocol, netns, socketFactory, receiveBufferBytes } = this.options;
    const s = socketFactory(protocol, netns);
    try {
      setBuffer(s, SO_RCVBUFFORCE, SO_RCVBUF, receiveBufferBytes);
      setBuffer(s, SO_SNDBUFFORCE, SO_SNDBUF, Math.max(this.options.maxBatchBytes * 2, 256 * 1024));
      s.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 1);
      s.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1);
      const addr = Buffer.alloc(12);
      addr.writeUInt16LE(AF_NETLINK, 0);
      if (!LE) addr.writeUInt16BE(AF_NETLINK, 0);
      s.bind(addr);
      const bound = s.getsockname();
      this.portId = LE ? bound.readUInt32LE(4) : bound.readUInt32BE(4);
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
    const dump = (flags & NLM_F_DUMP) === NLM_F_DUMP;
    return new Promise<NetlinkMessage[]>((resolve, reject) => {
      const p: Pending = {
        seq: this.allocSeq(),
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
        deadline: Infinity,
        timeoutMs: 0,
        lazy: !dump && options.noReply === true,
        order: 0,
        signal,
        onAbort: undefined,
        state: 'queued',
      };
      const timeoutMs = options.timeoutMs ?? this.options.timeoutMs;
      if (timeoutMs > 0 && Number.isFinite(timeoutMs)) {
        p.timeoutMs = timeoutMs;
        p.deadline = this.now() + timeoutMs;
        this.armSweeper(timeoutMs);
      }
      if (signal) {
        p.onAbort = () => this.onAbort(p);
        signal.addEventListener('abort', p.onAbort, { once: true });
      }
      this.queue.push(p);
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
      const b: Batch = {
        kind: 'batch',
        type,
        count,
        next: 0,
        encode,
        outstanding: 0,
        succeeded: 0,
        errors: [],
        stopOnError: options.stopOnError ?? false,
        stopped: options.signal?.aborted ?? false,
        operation: options.operation,
        onProgress: options.onProgress,
        resolve,
        reject,
        signal: options.signal,
        onAbort: undefined,
        deadline: timeoutMs > 0 && Number.isFinite(timeoutMs) ? this.now() + timeoutMs : Infinity,
        timeoutMs,
        state: 'queued',
      };
      if (b.deadline !== Infinity) this.armSweeper(timeoutMs);
      if (options.signal && !b.stopped) {
        b.onAbort = () => {
          b.stopped = true;
          this.settleBatch(b);
        };
        options.signal.addEventListener('abort', b.onAbort, { once: true });
      }
      this.queue.push(b);
      if (b.stopped) {
        this.settleBatch(b);
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
        deadline: timeoutMs > 0 && Number.isFinite(timeoutMs) ? this.now() + timeoutMs : Infinity,
        timeoutMs,
        state: 'queued',
      };
      if (s.deadline !== Infinity) this.armSweeper(timeoutMs);
      if (signal) {
        s.onAbort = () => {
          const sent = s.current >= 0;
          this.failSeries(s, abortError(this.seriesOperation(s), sent ? 'while the kernel was answering' : 'before it was sent', signal.reason), false);
        };
        signal.addEventListener('abort', s.onAbort, { once: true });
      }
      this.queue.push(s);
      this.updateRef();
      this.scheduleFlush();
    });
  }

  /** The operation name of a series' current (or next) dump. */
  private seriesOperation(s: DumpSeries): string | undefined {
    return s.operation?.(s.current >= 0 ? s.current : Math.min(s.next, s.count - 1));
  }

  /** Write the next dump of series `s` into `w`; false if it could not be encoded (the series failed). */
  private writeSeriesDump(s: DumpSeries, w: Writer): boolean {
    const seq = this.allocSeq();
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
    s.order = ++this.sendOrder;
    s.interrupted = false;
    this.activeDump = seq;
    this.activeSeries = s;
    return true;
  }

  /** One message of the series' running dump, read in place at `off` (nlmsg_len `len`). */
  private onSeriesMessage(s: DumpSeries, d: Buffer, off: number, len: number): void {
    if (this.lazyHead < this.lazyInFlight.length || this.activeChunks.length) this.confirmBefore(s.order);
    const type = LE ? d.readUInt16LE(off + 4) : d.readUInt16BE(off + 4);
    const flags = LE ? d.readUInt16LE(off + 6) : d.readUInt16BE(off + 6);
    if (flags & NLM_F_DUMP_INTR) s.interrupted = true;
    // The common end of a dump, read in place: a DONE with status 0 (zero in
    // either byte order), nothing interrupted.
    if (type === NLMSG_DONE && len >= NLMSG_HDRLEN + 4 && d.readInt32LE(off + NLMSG_HDRLEN) === 0 && !s.interrupted) {
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
  private seriesDumpDone(s: DumpSeries): void {
    this.activeDump = undefined;
    this.activeSeries = undefined;
    s.current = -1;
    if (s.next >= s.count) {
      s.state = 'done';
      if (s.signal && s.onAbort) s.signal.removeEventListener('abort', s.onAbort);
      s.resolve();
    } else if (s.next % SERIES_YIELD_EVERY === 0) {
      // Dumps answered inside send() chain through microtasks alone: every so
      // often the next one waits a turn of the event loop, so that timers,
      // other I/O and abort signals are not held off for a whole large series.
      this.scheduleFlushNextTurn();
      return;
    }
    if (this.queue.length > 0) this.scheduleFlush();
  }

  /**
   * Reject a series. `dumpEnded`: its running dump is over (the kernel said
   * so, or it was never sent), so the dump slot is free; otherwise the rest
   * of the dump is drained as unmatched replies first.
   */
  private failSeries(s: DumpSeries, error: Error, dumpEnded: boolean): void {
    if (s.state === 'done') return;
    s.state = 'done';
    this.queue.remove(s);
    if (this.activeSeries === s) {
      this.activeSeries = undefined;
      if (dumpEnded) this.activeDump = undefined;
    }
    if (s.signal && s.onAbort) s.signal.removeEventListener('abort', s.onAbort);
    s.reject(error);
    this.updateRef();
    if (this.queue.length > 0) this.scheduleFlush();
  }

  /** Resolve a batch once nothing of it is outstanding and nothing more will be sent. */
  private settleBatch(b: Batch): void {
    if (b.state === 'done' || b.outstanding > 0 || (b.next < b.count && !b.stopped)) return;
    b.state = 'done';
    this.queue.remove(b);
    if (b.signal && b.onAbort) b.signal.removeEventListener('abort', b.onAbort);
    b.errors.sort((x, y) => x.index - y.index);
    b.resolve({ succeeded: b.succeeded, errors: b.errors, sent: b.next, stopped: b.next < b.count });
    this.updateRef();
    if (this.queue.length > 0) this.scheduleFlush();
  }

  /** Fail a batch outright (connection closed, replies lost, deadline). */
  private failBatch(b: Batch, error: Error): void {
    if (b.state === 'done') return;
    b.state = 'done';
    this.queue.remove(b);
    const mine = this.activeChunks.filter((c) => c.batch === b);
    if (mine.length) {
      this.activeChunks = this.activeChunks.filter((c) => c.batch !== b);
      for (const c of mine) this.batchOutstanding -= c.n;
    }
    b.outstanding = 0;
    if (b.signal && b.onAbort) b.signal.removeEventListener('abort', b.onAbort);
    b.reject(error);
  }

  /** Write the next messages of batch `b` into `w`; returns the number written. */
  private writeChunk(b: Batch, w: Writer): number {
    const { maxBatchBytes, maxInFlight } = this.options;
    const chunk: Chunk = { batch: b, seqStart: this.nextSeq, indexStart: b.next, n: 0, order: ++this.sendOrder, errors: 0 };
    let lastStart = -1;
    while (b.next < b.count && this.inFlightCount() < maxInFlight && w.length < maxBatchBytes) {
      // Sequence numbers of a chunk are consecutive; end it before they wrap.
      if (chunk.n > 0 && this.nextSeq === 1) break;
      const seq = this.allocSeq();
      if (chunk.n === 0) chunk.seqStart = seq;
      const start = w.beginMessage(b.type, NLM_F_REQUEST, seq, 0);
      try {
        b.encode(b.next, w);
      } catch (e) {
        w.length = start;
        b.errors.push({ index: b.next++, error: e instanceof Error ? e : new Error(String(e)) });
        if (b.stopOnError) b.stopped = true;
        break; // the sequence number is used up: the chunk ends here
      }
      w.endMessage(start);
      lastStart = start;
      chunk.n++;
      b.next++;
      this.batchOutstanding++;
      b.outstanding++;
    }
    if (chunk.n === 0) {
      // Nothing went out (an empty batch, or every message left failed to encode):
      // no answer will come to settle the batch, so settle it here if it is complete.
      if (b.outstanding === 0) queueMicrotask(() => this.settleBatch(b));
      return 0;
    }
    w.patchU16(lastStart + 6, NLM_F_REQUEST | NLM_F_ACK);
    this.activeChunks.push(chunk);
    return chunk.n;
  }

  private inFlightCount(): number {
    return this.inFlight.size + this.batchOutstanding + (this.activeSeries ? 1 : 0);
  }

  /** The batch chunk a sequence number belongs to. */
  private findChunk(seq: number): Chunk | undefined {
    for (const c of this.activeChunks) if (((seq - c.seqStart) >>> 0) < c.n) return c;
    return undefined;
  }

  /** A chunk is done: every message in it that drew no error succeeded. */
  private confirmChunk(c: Chunk): void {
    const i = this.activeChunks.indexOf(c);
    if (i < 0) return;
    this.activeChunks.splice(i, 1);
    const b = c.batch;
    this.batchOutstanding -= c.n;
    if (b.state === 'done') return;
    b.outstanding -= c.n;
    b.succeeded += c.n - c.errors;
    if (b.deadline !== Infinity) b.deadline = this.now() + b.timeoutMs;
    b.onProgress?.(b.succeeded + b.errors.length, b.count);
    this.settleBatch(b);
  }

  private onChunkMessage(c: Chunk, msg: NetlinkMessage): void {
    const b = c.batch;
    if (msg.type !== NLMSG_ERROR) return; // change requests get no data; ignore anything else
    const offset = (msg.seq - c.seqStart) >>> 0;
    const e = parseErrorMessage(msg);
    if (e.error !== 0 && b.state !== 'done') {
      c.errors++;
      b.errors.push({
        index: c.indexStart + offset,
        error: new NetlinkError(-e.error, undefined, { ...(b.operation ? { operation: b.operation } : {}), seq: msg.seq, ...(e.extack ? { extack: e.extack } : {}) }),
      });
      if (b.stopOnError) b.stopped = true;
    }
    if (offset === c.n - 1) this.confirmChunk(c);
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
      queueMicrotask(this.markClockStale);
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
    for (const p of this.inFlight.values()) if (p.deadline <= now) expired.push(p);
    const batches = new Set<Batch>(this.activeChunks.map((c) => c.batch));
    const series = new Set<DumpSeries>(this.activeSeries ? [this.activeSeries] : []);
    for (const e of this.queue) {
      if (e.kind === 'batch') batches.add(e);
      else if (e.kind === 'dumps') series.add(e);
      else if (e.deadline <= now) expired.push(e);
    }
    for (const b of batches) {
      if (b.deadline <= now) this.failBatch(b, new TimeoutError(`${b.operation ?? 'netlink batch'}: no progress within ${b.timeoutMs} ms`));
    }
    for (const s of series) {
      if (s.next !== s.sweptAt) {
        // Progress since the last sweep moves the deadline (checked here
        // rather than per dump: reading the clock is a system call in UML).
        s.sweptAt = s.next;
        if (s.deadline !== Infinity) s.deadline = now + s.timeoutMs;
        continue;
      }
      if (s.deadline > now) continue;
      const where = s.current >= 0 ? 'waiting for the kernel' : 'before it could be sent';
      this.failSeries(s, new TimeoutError(`${this.seriesOperation(s) ?? 'netlink dump'}: no answer within ${s.timeoutMs} ms (${where})`), s.current < 0);
    }
    for (const p of expired) this.onTimeout(p, p.timeoutMs);
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
    queueMicrotask(this.flushNow);
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
        if (!this.writeSeriesDump(entry, w)) continue; // it failed and left the queue
        seriesDumps++;
        if (entry.next >= entry.count) taken++;
        break;
      }
      if (entry.kind === 'batch') {
        if (!entry.stopped) chunkMessages += this.writeChunk(entry, w);
        if (entry.stopped || entry.next >= entry.count) {
          taken++;
          continue;
        }
        break; // limits reached inside the batch
      }
      const p = entry;
      if (p.dump) {
        if (this.activeDump !== undefined) break;
        this.activeDump = p.seq;
      }
      const start = w.beginMessage(p.type, p.flags, p.seq, 0);
      try {
        p.encode!(w);
        p.encode = undefined; // let the request's data go
      } catch (e) {
        // An encoder failure concerns only this request: drop its bytes.
        w.length = start;
        if (p.dump) this.activeDump = undefined;
        taken++;
        this.finish(p, e instanceof Error ? e : new Error(String(e)));
        continue;
      }
      w.endMessage(start);
      taken++;
      p.state = 'sent';
      p.order = ++this.sendOrder;
      this.inFlight.set(p.seq, p);
      batch.push(p);
      lastStart = start;
    }
    this.queue.shift(taken);
    const last = batch[batch.length - 1];
    // (A batch entry leaves the queue once fully written; it settles when its chunks are confirmed.)
    if (last?.lazy) {
      // The last request of a send asks for an ACK, which confirms the lazy ones before it.
      last.lazy = false;
      last.flags |= NLM_F_ACK;
      w.patchU16(lastStart + 6, last.flags);
    }
    for (const p of batch) if (p.lazy) this.lazyInFlight.push(p);
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
        for (const p of batch) {
          this.inFlight.delete(p.seq);
          if (p.dump && this.activeDump === p.seq) this.activeDump = undefined;
          this.finish(p, err);
        }
        for (const b of new Set(this.activeChunks.map((c) => c.batch))) this.failBatch(b, err);
        if (seriesDumps > 0 && this.activeSeries) this.failSeries(this.activeSeries, err, true);
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
        this.onDatagram(this.receiveBuffer.subarray(0, n));
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
    while (this.activeChunks.length && this.activeChunks[0]!.order < order) this.confirmChunk(this.activeChunks[0]!);
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

  private onDatagrams(socket: NativeSocket, datagrams: Buffer[]): void {
    if (socket !== this.socket) return; // a socket replaced after ENOBUFS
    for (const d of datagrams) {
      this.stats.datagrams++;
      this.onDatagram(d);
    }
    this.updateRef();
    if (this.queue.length > 0) this.scheduleFlush();
  }

  private onDatagram(d: Buffer): void {
    let off = 0;
    while (off + NLMSG_HDRLEN <= d.length) {
      const len = LE ? d.readUInt32LE(off) : d.readUInt32BE(off);
      const seq = LE ? d.readUInt32LE(off + 8) : d.readUInt32BE(off + 8);
      if (len < NLMSG_HDRLEN || off + len > d.length) {
        const p = this.inFlight.get(seq);
        const err = new DecodeError(`malformed netlink message (nlmsg_len ${len}, ${d.length - off} bytes left)`, off);
        if (p) this.finish(p, err);
        else if (this.activeSeries && seq === this.activeSeries.seq) this.failSeries(this.activeSeries, err, false);
        else this.stats.unmatched++;
        return;
      }
      const series = this.activeSeries;
      if (series !== undefined && seq === series.seq) {
        this.onSeriesMessage(series, d, off, len);
        off += (len + 3) & ~3;
        continue;
      }
      const msg: NetlinkMessage = {
        type: LE ? d.readUInt16LE(off + 4) : d.readUInt16BE(off + 4),
        flags: LE ? d.readUInt16LE(off + 6) : d.readUInt16BE(off + 6),
        seq,
        pid: LE ? d.readUInt32LE(off + 12) : d.readUInt32BE(off + 12),
        payload: d.subarray(off + NLMSG_HDRLEN, off + len),
      };
      off += (len + 3) & ~3;
      this.onMessage(msg);
    }
  }

  private onMessage(msg: NetlinkMessage): void {
    const p = this.inFlight.get(msg.seq);
    if (p) {
      if (this.lazyHead < this.lazyInFlight.length || this.activeChunks.length) this.confirmBefore(p.order);
    } else if (this.activeChunks.length) {
      const c = this.findChunk(msg.seq);
      if (c) {
        this.confirmBefore(c.order);
        try {
          this.onChunkMessage(c, msg);
        } catch (e) {
          this.failBatch(c.batch, e instanceof Error ? e : new Error(String(e)));
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
            (p.messages ??= []).push(this.keep(msg));
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
          else (p.messages ??= []).push(this.keep(msg));
      }
    } catch (e) {
      this.finish(p, e instanceof Error ? e : new Error(String(e)));
    }
  }

  /** Settle a request (error undefined = success) and release everything it holds. */
  private finish(p: Pending, error: Error | undefined): void {
    if (p.state === 'done') return;
    const wasSent = p.state === 'sent';
    p.state = 'done';
    if (wasSent) this.inFlight.delete(p.seq);
    if (p.dump && this.activeDump === p.seq) {
      // A failed or finished dump frees the slot; a cancelled one is drained first.
      const drained = error === undefined || error instanceof NetlinkError;
      if (drained || !wasSent) this.activeDump = undefined;
    }
    if (p.signal && p.onAbort) p.signal.removeEventListener('abort', p.onAbort);
    if (error) p.reject(error);
    else p.resolve(p.messages ?? []);
    if (this.queue.length > 0) this.scheduleFlush();
  }

  private removeQueued(p: QueueEntry): void {
    this.queue.remove(p);
  }

  private onTimeout(p: Pending, ms: number): void {
    if (p.state === 'done') return;
    if (p.state === 'queued') this.removeQueued(p);
    const where = p.state === 'queued' ? 'before it could be sent' : 'waiting for the kernel';
    this.finish(p, new TimeoutError(`${p.operation ?? 'netlink request'}: no answer within ${ms} ms (${where})`));
    this.updateRef();
  }

  private onAbort(p: Pending): void {
    if (p.state === 'done') return;
    const queued = p.state === 'queued';
    if (queued) this.removeQueued(p);
    this.finish(p, abortError(p.operation, queued ? 'before it was sent' : 'after it was sent; the kernel may have carried it out', p.signal?.reason));
    this.updateRef();
  }

  private onSocketError(socket: NativeSocket, error: NodeJS.ErrnoException): void {
    if (socket !== this.socket || this.closed) return;
    if (error.code === 'ENOBUFS') {
      // Replies were dropped; which ones is unknowable. Fail what was in flight,
      // start over on a fresh socket, and keep what was not yet sent.
      this.stats.reopened++;
      const lost = [...this.inFlight.values()];
      const lostSeries = this.activeSeries;
      this.activeDump = undefined;
      this.lazyInFlight = [];
      this.lazyHead = 0;
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
      for (const p of lost) this.finish(p, new RepliesLostError(withOp(p)));
      if (lostSeries) this.failSeries(lostSeries, new RepliesLostError(seriesOp(this.seriesOperation(lostSeries), lostSeries.seq)), true);
      for (const b of new Set(this.activeChunks.map((c) => c.batch))) {
        this.failBatch(b, new RepliesLostError(b.operation ? { operation: b.operation } : {}));
      }
      this.activeChunks = [];
      this.batchOutstanding = 0;
      this.updateRef();
      this.scheduleFlush();
      return;
    }
    // Any other receive error (e.g. a truncated datagram) concerns unknown requests;
    // fail the oldest in-flight one so nothing waits forever.
    const oldest = this.inFlight.values().next().value as Pending | undefined;
    if (oldest) this.finish(oldest, toNetlinkError(error, 'recv', oldest.operation));
    else if (this.activeSeries) this.failSeries(this.activeSeries, toNetlinkError(error, 'recv', this.seriesOperation(this.activeSeries)), false);
    else this.stats.unmatched++;
    this.updateRef();
  }

  private failAll(error: Error): void {
    const all = [...this.inFlight.values(), ...this.queue];
    if (this.activeSeries && !all.includes(this.activeSeries)) all.push(this.activeSeries);
    const batches = new Set<Batch>(this.activeChunks.map((c) => c.batch));
    this.queue.clear();
    this.lazyInFlight = [];
    this.lazyHead = 0;
    for (const e of all) {
      if (e.kind === 'batch') batches.add(e);
      else if (e.kind === 'dumps') this.failSeries(e, error, true);
      else this.finish(e, error);
    }
    for (const b of batches) this.failBatch(b, error);
    this.activeChunks = [];
    this.batchOutstanding = 0;
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

function setBuffer(s: NativeSocket, force: number, plain: number, bytes: number): void {
  try {
    s.setsockopt(SOL_SOCKET, force, bytes);
  } catch {
    // Without CAP_NET_ADMIN the kernel caps the size at net.core.[rw]mem_max.
    s.setsockopt(SOL_SOCKET, plain, bytes);
  }
}

function withOp(p: Pending): { operation?: string; seq: number } {
  return p.operation === undefined ? { seq: p.seq } : { operation: p.operation, seq: p.seq };
}

function doneAsError(done: ReturnType<typeof parseDoneMessage>): { error: number; extack?: ReturnType<typeof parseDoneMessage>['extack'] } {
  return done.extack ? { error: done.status, extack: done.extack } : { error: done.status };
}

function seriesOp(operation: string | undefined, seq: number): { operation?: string; seq: number } {
  return operation === undefined ? { seq } : { operation, seq };
}

function abortError(operation: string | undefined, when: string, reason: unknown): AbortError {
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
