/**
 * The types of a netlink connection ({@link Conn}): its public options and
 * outcomes, the records of what waits in its queue, and what its request
 * engines (requests.ts, batch-engine.ts, dump-series.ts) use of it.
 * @module
 */
import type { NativeSocket } from './binding.js';
import type { NetlinkMessage } from './message.js';
import type { Writer } from './writer.js';
import type { Fifo } from './fifo.js';

/** Opens the socket a {@link Conn} uses; replaced by a fake in unit tests. */
export type SocketFactory = (protocol: number, netns: string | undefined) => NativeSocket;

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

/**
 * A single request ({@link Conn.request}) from queueing to its answer.
 * @internal
 */
export interface Pending {
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

/**
 * A batch ({@link Conn.requestBatch}): one queue entry however many messages it holds.
 * @internal
 */
export interface Batch {
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

/**
 * Messages of one batch written by one send: consecutive sequence numbers, the last one ACKed.
 * @internal
 */
export interface Chunk {
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

/**
 * Dumps run one after another as one queue entry (see {@link Conn.requestDumps}).
 * @internal
 */
export interface DumpSeries {
  kind: 'dumps';
  type: number;
  count: number;
  /** Next index to send. */
  next: number;
  /** Index of the dump the kernel is running, or -1. */
  current: number;
  /** Sequence number and send position of that dump. */
  seq: number;
  /** `next` at the last sweep (see DumpSeriesEngine.sweepSeries). */
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

/**
 * What waits in a connection's queue.
 * @internal
 */
export type QueueEntry = Pending | Batch | DumpSeries;

/**
 * What the request engines (requests.ts, batch-engine.ts, dump-series.ts)
 * use of the connection that owns them; each takes the part it needs. The
 * connection makes one of these when it is opened; nothing here is public API.
 * @internal
 */
export interface ConnHost {
  /** The connection's queue: the engines take their settled entries out of it and look at its length. */
  readonly queue: Pick<Fifo<QueueEntry>, 'length' | 'remove'>;
  /** The next sequence number, used up. */
  allocSeq(): number;
  /** The sequence number {@link allocSeq} hands out next (1 after a wrap). */
  peekSeq(): number;
  /** The next position in send order (see {@link Pending.order}). */
  nextSendOrder(): number;
  /** Requests, batch messages and series dumps sent and not yet answered. */
  inFlightCount(): number;
  /** The connection's clock (ms), read at most once per tick. */
  now(): number;
  /** Keep the event loop alive only while something is outstanding. */
  updateRef(): void;
  /** Flush the queue in a microtask. */
  scheduleFlush(): void;
  /** Flush the queue on the next turn of the event loop. */
  scheduleFlushNextTurn(): void;
  /**
   * The socket's dump slot: the sequence number of the dump the kernel is
   * running on it (also while a cancelled one drains), or undefined when free.
   */
  activeDump: number | undefined;
  /** A reply message to keep beyond the handling of its datagram (copied out of a reused receive buffer). */
  keep(msg: NetlinkMessage): NetlinkMessage;
}
