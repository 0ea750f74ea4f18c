// Conn.requestBatch over a fake socket. The fake kernel behaves as the real
// one does with change requests: a refused message is always answered with
// an NLMSG_ERROR carrying the errno; a message carried out is answered (with
// error 0) only when it asked for an ACK.
import { afterEach, describe, expect, it } from 'vitest';
import { ConnectionClosedError, NetlinkError, RepliesLostError, TimeoutError } from '../../../src/errors.js';
import { Conn, type BatchOutcome, type ConnOptions } from '../../../src/netlink/conn.js';
import { HOST_LITTLE_ENDIAN as LE, NETLINK_GENERIC, NLM_F_ACK, NLM_F_REQUEST } from '../../../src/netlink/constants.js';
import { fakeSocketFactory, type FakeKernel, type FakeSocket } from '../../../src/netlink/fake-socket.js';
import { parseMessages, type NetlinkMessage } from '../../../src/netlink/message.js';
import { quiet, settle, turns, until } from '../../helpers/async.js';

const FAMILY = 0x24;
/** Request messages of ordinary (non-batch) requests carry tags from here on. */
const PLAIN = 1_000_000;
const EEXIST = 17;
const ENOENT = 2;
const conns: Conn[] = [];

afterEach(() => {
  for (const c of conns.splice(0)) c.close();
});

const u32 = (b: Buffer, off = 0): number => (LE ? b.readUInt32LE(off) : b.readUInt32BE(off));
/** The u32 a test message carries as its payload: its batch index (or PLAIN + n). */
const tag = (m: NetlinkMessage): number => u32(m.payload);
const encodeIndex = (i: number, w: { u32(v: number): unknown }): void => {
  w.u32(i);
};

interface FakeKernelOptions {
  /** Batch index → errno the kernel refuses it with. */
  refuse?: Map<number, number>;
  /** Called for each message the kernel sees, before it answers (return false to not answer at all). */
  onMessage?: (req: NetlinkMessage, k: FakeKernel) => boolean | void;
}

/** Open a Conn on a fake socket whose handler emulates the kernel's answering rules. */
function open(kernel: FakeKernelOptions = {}, options: Partial<ConnOptions> = {}): { conn: Conn; sockets: FakeSocket[]; socket: FakeSocket } {
  const { factory, sockets } = fakeSocketFactory((req, k) => {
    if (kernel.onMessage?.(req, k) === false) return;
    const errno = kernel.refuse?.get(tag(req));
    if (errno !== undefined) k.ack(req, -errno);
    else if (req.flags & NLM_F_ACK) k.ack(req);
  });
  const conn = Conn.open({ protocol: NETLINK_GENERIC, socketFactory: factory, ...options });
  conns.push(conn);
  return { conn, sockets, socket: sockets[0]! };
}

/** Each datagram sent, as its messages. */
const sends = (socket: FakeSocket): NetlinkMessage[][] => socket.sent.map((d) => parseMessages(d));

async function rejection(p: Promise<unknown>): Promise<Error> {
  const r = await settle(p);
  if (r.ok) throw new Error('expected the promise to reject, it resolved');
  expect(r.error).toBeInstanceOf(Error);
  return r.error as Error;
}

describe('Conn.requestBatch over a fake socket', () => {
  it('every message confirmed: succeeded = count, no errors, not stopped; one message per index in order', async () => {
    const { conn, socket } = open();
    const progress: [number, number][] = [];
    const outcome = await conn.requestBatch(FAMILY, 50, encodeIndex, { onProgress: (d, t) => progress.push([d, t]) });
    expect(outcome).toEqual<BatchOutcome>({ succeeded: 50, errors: [], sent: 50, stopped: false });
    expect(socket.requests.map(tag)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(socket.requests.every((r) => r.type === FAMILY)).toBe(true);
    // Consecutive sequence numbers, all different.
    const seqs = socket.requests.map((r) => r.seq);
    seqs.slice(1).forEach((s, i) => expect(s).toBe(seqs[i]! + 1));
    expect(progress.at(-1)).toEqual([50, 50]);
    expect(conn.stats.sent).toBe(50);
  });

  it('a count of 0 resolves at once with nothing sent', async () => {
    const { conn, socket } = open();
    await expect(conn.requestBatch(FAMILY, 0, encodeIndex)).resolves.toEqual({ succeeded: 0, errors: [], sent: 0, stopped: false });
    expect(socket.requests).toHaveLength(0);
  });

  it('only the last message of each send carries NLM_F_ACK', async () => {
    const { conn, socket } = open({}, { maxBatchBytes: 200 });
    const outcome = await conn.requestBatch(FAMILY, 64, encodeIndex);
    expect(outcome.succeeded).toBe(64);
    const datagrams = sends(socket);
    expect(datagrams.length).toBeGreaterThan(3);
    expect(conn.stats.sends).toBe(datagrams.length);
    for (const msgs of datagrams) {
      expect(msgs.length).toBeGreaterThan(0);
      msgs.forEach((m, i) => expect(m.flags).toBe(i === msgs.length - 1 ? NLM_F_REQUEST | NLM_F_ACK : NLM_F_REQUEST));
    }
    // The same flags seen message by message: exactly one ACK request per send.
    expect(socket.requests.filter((r) => r.flags & NLM_F_ACK)).toHaveLength(datagrams.length);
    expect(datagrams.flat().map(tag)).toEqual(Array.from({ length: 64 }, (_, i) => i));
  });

  it('a message refused in the middle: errors [{index, error}] and succeeded = count - 1; the rest still runs', async () => {
    const { conn, socket } = open({ refuse: new Map([[17, EEXIST]]) });
    const progress: number[] = [];
    const outcome = await conn.requestBatch(FAMILY, 40, encodeIndex, { operation: 'bulk add', onProgress: (d) => progress.push(d) });
    expect(outcome.succeeded).toBe(39);
    expect(outcome.sent).toBe(40);
    expect(outcome.stopped).toBe(false);
    expect(outcome.errors).toHaveLength(1);
    const [{ index, error }] = outcome.errors;
    expect(index).toBe(17);
    expect(error).toBeInstanceOf(NetlinkError);
    expect(error).toMatchObject({ code: 'EEXIST', errno: EEXIST, operation: 'bulk add', seq: socket.requests[17]!.seq });
    expect(socket.requests).toHaveLength(40);
    expect(progress.at(-1)).toBe(40);
  });

  it('several refusals, one of them the ACKed last message of its send, are all reported in index order', async () => {
    const { conn, socket } = open({ refuse: new Map([[3, ENOENT], [9, EEXIST], [10, ENOENT]]) }, { maxBatchBytes: 200 });
    const outcome = await conn.requestBatch(FAMILY, 30, encodeIndex);
    const lastOfFirstSend = sends(socket)[0]!.length - 1;
    expect(lastOfFirstSend).toBe(9); // 10 messages of 20 bytes reach 200 bytes
    expect(outcome.errors.map((e) => [e.index, (e.error as NetlinkError).code])).toEqual([[3, 'ENOENT'], [9, 'EEXIST'], [10, 'ENOENT']]);
    expect(outcome.succeeded).toBe(27);
    expect(outcome.stopped).toBe(false);
  });

  it('stopOnError: no further send after the refusal; what was sent is still confirmed', async () => {
    // At most 5 unanswered messages: each send waits for the answers to the one before.
    const { conn, socket } = open({ refuse: new Map([[7, EEXIST]]) }, { maxBatchBytes: 100, maxInFlight: 5 });
    const outcome = await conn.requestBatch(FAMILY, 40, encodeIndex, { stopOnError: true });
    expect(outcome.errors.map((e) => e.index)).toEqual([7]);
    expect(outcome.sent).toBe(10);
    expect(outcome.succeeded).toBe(9);
    expect(outcome.stopped).toBe(true);
    expect(sends(socket).map((msgs) => msgs.map(tag))).toEqual([
      [0, 1, 2, 3, 4],
      [5, 6, 7, 8, 9],
    ]);
    await turns(5);
    expect(socket.requests).toHaveLength(10);
  });

  it('without stopOnError the same refusal does not stop the batch', async () => {
    const { conn, socket } = open({ refuse: new Map([[7, EEXIST]]) }, { maxBatchBytes: 100, maxInFlight: 5 });
    const outcome = await conn.requestBatch(FAMILY, 40, encodeIndex);
    expect(outcome).toMatchObject({ sent: 40, succeeded: 39, stopped: false });
    expect(socket.sent).toHaveLength(8);
  });

  it('an AbortSignal stops sending; the outcome says stopped and counts what the kernel confirmed', async () => {
    const ac = new AbortController();
    const { conn, socket } = open({}, { maxBatchBytes: 100, maxInFlight: 5 });
    const outcome = await conn.requestBatch(FAMILY, 100, encodeIndex, {
      signal: ac.signal,
      onProgress: (done) => {
        if (done >= 15) ac.abort();
      },
    });
    expect(outcome).toEqual<BatchOutcome>({ succeeded: 15, errors: [], sent: 15, stopped: true });
    await turns(5);
    expect(socket.requests).toHaveLength(15);
  });

  it('an abort while messages are in flight waits for their answers before resolving', async () => {
    const ac = new AbortController();
    const { conn, socket } = open(
      {
        onMessage: (req) => {
          // Abort as soon as the kernel sees the first message; the send it came in is still answered.
          if (tag(req) === 0) ac.abort();
        },
      },
      { maxBatchBytes: 100, maxInFlight: 5 },
    );
    const outcome = await conn.requestBatch(FAMILY, 100, encodeIndex, { signal: ac.signal });
    expect(outcome).toEqual<BatchOutcome>({ succeeded: 5, errors: [], sent: 5, stopped: true });
    expect(socket.requests).toHaveLength(5);
  });

  it('an already aborted signal sends nothing', async () => {
    const { conn, socket } = open();
    const outcome = await conn.requestBatch(FAMILY, 10, encodeIndex, { signal: AbortSignal.abort() });
    expect(outcome).toEqual<BatchOutcome>({ succeeded: 0, errors: [], sent: 0, stopped: true });
    await turns(3);
    expect(socket.requests).toHaveLength(0);
  });

  it('ENOBUFS rejects the batch with RepliesLostError; the connection works again afterwards', async () => {
    let first: FakeSocket | undefined;
    const { conn, sockets, socket } = open({
      // The first socket's kernel carries the messages out but its answers are "lost".
      onMessage: (_req, k) => (first && k === first.kernel ? false : undefined),
    });
    first = socket;
    const batch = quiet(conn.requestBatch(FAMILY, 20, encodeIndex, { operation: 'bulk add' }));
    await until(() => socket.requests.length === 20, 'the batch to be sent');
    socket.fail('ENOBUFS', 105);
    const e = await rejection(batch);
    expect(e).toBeInstanceOf(RepliesLostError);
    expect(e).toMatchObject({ code: 'ENOBUFS' });
    expect(e.message).toContain('bulk add');
    expect(sockets).toHaveLength(2);
    expect(conn.stats.reopened).toBe(1);
    await expect(conn.requestBatch(FAMILY, 3, encodeIndex)).resolves.toMatchObject({ succeeded: 3, errors: [] });
    expect(sockets[1]!.requests.map(tag)).toEqual([0, 1, 2]);
  });

  it('close() rejects a pending batch with ConnectionClosedError, and a batch after close rejects too', async () => {
    const { conn, socket } = open({ onMessage: () => false }); // the kernel never answers
    const batch = quiet(conn.requestBatch(FAMILY, 10, encodeIndex));
    await until(() => socket.requests.length === 10, 'the batch to be sent');
    conn.close();
    expect(await rejection(batch)).toBeInstanceOf(ConnectionClosedError);
    expect(await rejection(conn.requestBatch(FAMILY, 1, encodeIndex))).toBeInstanceOf(ConnectionClosedError);
  });

  it('a batch that makes no progress within timeoutMs rejects with TimeoutError', async () => {
    const { conn } = open({ onMessage: () => false });
    const e = await rejection(conn.requestBatch(FAMILY, 3, encodeIndex, { timeoutMs: 30, operation: 'bulk add' }));
    expect(e).toBeInstanceOf(TimeoutError);
    expect(e.message).toContain('bulk add');
  });

  it('an ordinary request queued after a batch is sent after all of it and answered after it', async () => {
    const { conn, socket } = open({}, { maxBatchBytes: 100 });
    const settled: string[] = [];
    const batch = conn.requestBatch(FAMILY, 30, encodeIndex).then((o) => {
      settled.push('batch');
      return o;
    });
    const plain = conn.request(FAMILY, 0, (w) => w.u32(PLAIN)).then((r) => {
      settled.push('request');
      return r;
    });
    const [outcome, replies] = await Promise.all([batch, plain]);
    expect(outcome.succeeded).toBe(30);
    expect(replies).toEqual([]);
    expect(settled).toEqual(['batch', 'request']);
    expect(socket.requests.map(tag)).toEqual([...Array.from({ length: 30 }, (_, i) => i), PLAIN]);
    expect(socket.requests.at(-1)!.flags & NLM_F_ACK).toBe(NLM_F_ACK);
  });

  it('a lazily acknowledged (noReply) request before a batch is confirmed by the batch’s ACK', async () => {
    const { conn, socket } = open();
    const plain = conn.request(FAMILY, 0, (w) => w.u32(PLAIN), { noReply: true });
    const outcome = await conn.requestBatch(FAMILY, 5, encodeIndex);
    await expect(plain).resolves.toEqual([]);
    expect(outcome.succeeded).toBe(5);
    expect(socket.sent).toHaveLength(1);
    expect(socket.requests.map(tag)).toEqual([PLAIN, 0, 1, 2, 3, 4]);
    expect(socket.requests.at(-1)!.flags & NLM_F_ACK).toBe(NLM_F_ACK);
  });

  it('an encoder that throws for one index: that index is reported in errors, its bytes are not sent, the rest runs', async () => {
    const { conn, socket } = open();
    const outcome = await conn.requestBatch(FAMILY, 12, (i, w) => {
      if (i === 4) throw new RangeError('cannot encode message 4');
      w.u32(i);
    });
    expect(outcome.succeeded).toBe(11);
    expect(outcome.sent).toBe(12);
    expect(outcome.stopped).toBe(false);
    expect(outcome.errors).toHaveLength(1);
    expect(outcome.errors[0]!.index).toBe(4);
    expect(outcome.errors[0]!.error).toBeInstanceOf(RangeError);
    expect(outcome.errors[0]!.error.message).toBe('cannot encode message 4');
    expect(socket.requests.map(tag)).toEqual([0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 11]);
    // Every send still ends with an ACK request.
    for (const msgs of sends(socket)) expect(msgs.at(-1)!.flags & NLM_F_ACK).toBe(NLM_F_ACK);
  });

  it('an encoder failure on the last message, alone in its send, still settles the batch', async () => {
    // Five messages in flight at most: message 5 is encoded only after 0..4 are confirmed,
    // so nothing is sent with it and no answer will come for it.
    const { conn, socket } = open({}, { maxInFlight: 5 });
    const outcome = await conn.requestBatch(FAMILY, 6, (i, w) => {
      if (i === 5) throw new Error('bad');
      w.u32(i);
    });
    expect(outcome).toMatchObject({ succeeded: 5, sent: 6, stopped: false });
    expect(outcome.errors.map((e) => e.index)).toEqual([5]);
    expect(socket.requests.map(tag)).toEqual([0, 1, 2, 3, 4]);
  });

  it('an encoder failure at the start of a send with stopOnError settles the batch as stopped', async () => {
    const { conn, socket } = open({}, { maxInFlight: 5 });
    const outcome = await conn.requestBatch(
      FAMILY,
      10,
      (i, w) => {
        if (i === 5) throw new Error('bad');
        w.u32(i);
      },
      { stopOnError: true },
    );
    expect(outcome).toMatchObject({ succeeded: 5, sent: 6, stopped: true });
    expect(outcome.errors.map((e) => e.index)).toEqual([5]);
    expect(socket.requests.map(tag)).toEqual([0, 1, 2, 3, 4]);
  });

  it('a batch whose only message fails to encode settles with that error', async () => {
    const { conn, socket } = open();
    const outcome = await conn.requestBatch(FAMILY, 1, () => {
      throw new Error('bad');
    });
    expect(outcome).toMatchObject({ succeeded: 0, sent: 1, stopped: false });
    expect(outcome.errors.map((e) => e.index)).toEqual([0]);
    expect(socket.requests).toHaveLength(0);
  });

  it('an encoder failure with stopOnError stops the batch there', async () => {
    const { conn, socket } = open();
    const outcome = await conn.requestBatch(
      FAMILY,
      12,
      (i, w) => {
        if (i === 4) throw new Error('bad');
        w.u32(i);
      },
      { stopOnError: true },
    );
    expect(outcome.errors.map((e) => e.index)).toEqual([4]);
    expect(outcome.succeeded).toBe(4);
    expect(outcome.stopped).toBe(true);
    expect(socket.requests.map(tag)).toEqual([0, 1, 2, 3]);
  });

  it('two batches issued together run one after the other, each with its own outcome', async () => {
    const { conn, socket } = open({
      refuse: new Map([[2, EEXIST]]),
    }, { maxBatchBytes: 100 });
    const [a, b] = await Promise.all([conn.requestBatch(FAMILY, 8, encodeIndex), conn.requestBatch(FAMILY, 4, (i, w) => w.u32(100 + i))]);
    expect(a).toMatchObject({ succeeded: 7, sent: 8 });
    expect(a.errors.map((e) => e.index)).toEqual([2]);
    expect(b).toEqual<BatchOutcome>({ succeeded: 4, errors: [], sent: 4, stopped: false });
    expect(socket.requests.map(tag)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 100, 101, 102, 103]);
  });
});
