/**
 * Batches of a netlink connection (Conn.requestBatch): many change messages
 * as one queue entry, written many per send with only the last of each send
 * asking for an ACK, and confirmed chunk by chunk.
 * @module
 */
import { NetlinkError, TimeoutError } from '../errors.js';
import { NLMSG_ERROR, NLM_F_ACK, NLM_F_REQUEST } from './constants.js';
import type { Batch, BatchOptions, BatchOutcome, Chunk, ConnHost } from './conn-types.js';
import { parseErrorMessage, type NetlinkMessage } from './message.js';
import type { Writer } from './writer.js';
import { microtask } from './microtask.js';

/**
 * The batches of one connection: writes their chunks into the connection's
 * send buffer, matches the kernel's answers to chunks, and settles each batch
 * when all of it is confirmed. The connection queues batches, sends, and
 * hands it the messages whose sequence number falls in a chunk.
 * @internal
 */
export class BatchEngine {
  /** Batch chunks sent and not yet confirmed, in send order. */
  chunks: Chunk[] = [];
  /** Batch messages sent and not yet confirmed. */
  outstanding = 0;

  constructor(
    private readonly conn: Pick<ConnHost, 'queue' | 'allocSeq' | 'peekSeq' | 'nextSendOrder' | 'inFlightCount' | 'now' | 'updateRef' | 'scheduleFlush'>,
    private readonly maxInFlight: number,
    private readonly maxBatchBytes: number,
  ) {}

  /** The record of a new batch, listening to its signal (the connection queues it). */
  createBatch(
    type: number,
    count: number,
    encode: (index: number, w: Writer) => void,
    options: BatchOptions,
    timeoutMs: number,
    deadline: number,
    resolve: (o: BatchOutcome) => void,
    reject: (e: Error) => void,
  ): Batch {
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
      deadline,
      timeoutMs,
      state: 'queued',
    };
    if (options.signal && !b.stopped) {
      b.onAbort = () => {
        b.stopped = true;
        this.settleBatch(b);
      };
      options.signal.addEventListener('abort', b.onAbort, { once: true });
    }
    return b;
  }

  /** Resolve a batch once nothing of it is outstanding and nothing more will be sent. */
  settleBatch(b: Batch): void {
    if (b.state === 'done' || b.outstanding > 0 || (b.next < b.count && !b.stopped)) return;
    b.state = 'done';
    this.conn.queue.remove(b);
    if (b.signal && b.onAbort) b.signal.removeEventListener('abort', b.onAbort);
    b.errors.sort((x, y) => x.index - y.index);
    b.resolve({ succeeded: b.succeeded, errors: b.errors, sent: b.next, stopped: b.next < b.count });
    this.conn.updateRef();
    if (this.conn.queue.length > 0) this.conn.scheduleFlush();
  }

  /** Fail a batch outright (connection closed, replies lost, deadline). */
  failBatch(b: Batch, error: Error): void {
    if (b.state === 'done') return;
    b.state = 'done';
    this.conn.queue.remove(b);
    const mine = this.chunks.filter((c) => c.batch === b);
    if (mine.length) {
      this.chunks = this.chunks.filter((c) => c.batch !== b);
      for (const c of mine) this.outstanding -= c.n;
    }
    b.outstanding = 0;
    if (b.signal && b.onAbort) b.signal.removeEventListener('abort', b.onAbort);
    b.reject(error);
  }

  /** Write the next messages of batch `b` into `w`; returns the number written. */
  writeChunk(b: Batch, w: Writer): number {
    const { conn, maxBatchBytes, maxInFlight } = this;
    const chunk: Chunk = { batch: b, seqStart: conn.peekSeq(), indexStart: b.next, n: 0, order: conn.nextSendOrder(), errors: 0 };
    let lastStart = -1;
    while (b.next < b.count && conn.inFlightCount() < maxInFlight && w.length < maxBatchBytes) {
      // Sequence numbers of a chunk are consecutive; end it before they wrap.
      if (chunk.n > 0 && conn.peekSeq() === 1) break;
      const seq = conn.allocSeq();
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
      this.outstanding++;
      b.outstanding++;
    }
    if (chunk.n === 0) {
      // Nothing went out (an empty batch, or every message left failed to encode):
      // no answer will come to settle the batch, so settle it here if it is complete.
      if (b.outstanding === 0) microtask(() => this.settleBatch(b));
      return 0;
    }
    w.patchU16(lastStart + 6, NLM_F_REQUEST | NLM_F_ACK);
    this.chunks.push(chunk);
    return chunk.n;
  }

  /** The batch chunk a sequence number belongs to. */
  findChunk(seq: number): Chunk | undefined {
    for (const c of this.chunks) if (((seq - c.seqStart) >>> 0) < c.n) return c;
    return undefined;
  }

  /** An answer to the request sent `order`-th arrived: every chunk sent before it is done. */
  confirmChunksBefore(order: number): void {
    while (this.chunks.length && this.chunks[0]!.order < order) this.confirmChunk(this.chunks[0]!);
  }

  /** A chunk is done: every message in it that drew no error succeeded. */
  confirmChunk(c: Chunk): void {
    const i = this.chunks.indexOf(c);
    if (i < 0) return;
    this.chunks.splice(i, 1);
    const b = c.batch;
    this.outstanding -= c.n;
    if (b.state === 'done') return;
    b.outstanding -= c.n;
    b.succeeded += c.n - c.errors;
    if (b.deadline !== Infinity) b.deadline = this.conn.now() + b.timeoutMs;
    b.onProgress?.(b.succeeded + b.errors.length, b.count);
    this.settleBatch(b);
  }

  /** An answer to a message of chunk `c` (the connection has confirmed what was sent before). */
  onChunkMessage(c: Chunk, msg: NetlinkMessage): void {
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

  /** The batches with chunks awaiting their answer. */
  activeBatches(): Set<Batch> {
    return new Set(this.chunks.map((c) => c.batch));
  }

  /** Fail `b` if its deadline has passed (the connection's sweep). */
  sweepBatch(b: Batch, now: number): void {
    if (b.deadline <= now) this.failBatch(b, new TimeoutError(`${b.operation ?? 'netlink batch'}: no progress within ${b.timeoutMs} ms`));
  }

  /** Forget every chunk in flight (their batches have been failed). */
  reset(): void {
    this.chunks = [];
    this.outstanding = 0;
  }
}
