import { afterEach, describe, expect, it } from 'vitest';
import {
  AbortError,
  ConnectionClosedError,
  DecodeError,
  DumpInterruptedError,
  NetlinkError,
  RepliesLostError,
  TimeoutError,
} from '../../../src/errors.js';
import { Conn, type ConnOptions } from '../../../src/netlink/conn.js';
import {
  HOST_LITTLE_ENDIAN as LE,
  NETLINK_CAP_ACK,
  NETLINK_EXT_ACK,
  NETLINK_GENERIC,
  NLMSG_DONE,
  NLMSG_ERROR,
  NLM_F_ACK,
  NLM_F_CREATE,
  NLM_F_DUMP,
  NLM_F_DUMP_INTR,
  NLM_F_EXCL,
  NLM_F_MULTI,
  NLM_F_REQUEST,
  SOL_NETLINK,
  SOL_SOCKET,
  SO_RCVBUFFORCE,
} from '../../../src/netlink/constants.js';
import { buildMessage, fakeSocketFactory, type FakeHandler, type FakeKernel, type FakeSocket } from '../../../src/netlink/fake-socket.js';
import { parseMessages, type NetlinkMessage } from '../../../src/netlink/message.js';
import type { SocketFactory } from '../../../src/netlink/conn.js';
import { quiet, settle, turns, until } from '../../helpers/async.js';
import { Prng } from '../../helpers/prng.js';

const FAMILY = 0x24;
const conns: Conn[] = [];

afterEach(() => {
  for (const c of conns.splice(0)) c.close();
});

function open(handler: FakeHandler = () => {}, options: Partial<ConnOptions> = {}): { conn: Conn; sockets: FakeSocket[]; socket: FakeSocket } {
  const { factory, sockets } = fakeSocketFactory(handler);
  const conn = Conn.open({ protocol: NETLINK_GENERIC, socketFactory: factory, ...options });
  conns.push(conn);
  return { conn, sockets, socket: sockets[0]! };
}

const u32 = (b: Buffer, off = 0): number => (LE ? b.readUInt32LE(off) : b.readUInt32BE(off));
/** The u32 a test request carries as its payload. */
const tag = (m: NetlinkMessage): number => u32(m.payload);
/** Answer with one data message carrying `value`. */
const replyU32 = (k: FakeKernel, req: NetlinkMessage, value: number, flags = 0): void => k.reply(req, FAMILY, flags, (w) => w.u32(value));

async function rejection(p: Promise<unknown>): Promise<Error> {
  const r = await settle(p);
  if (r.ok) throw new Error('expected the promise to reject, it resolved');
  expect(r.error).toBeInstanceOf(Error);
  return r.error as Error;
}

describe('Conn over a fake socket', () => {
  it('(a) adds NLM_F_REQUEST|NLM_F_ACK and resolves on the ACK with the data messages before it', async () => {
    const { conn, socket } = open((req, k) => {
      replyU32(k, req, 1);
      replyU32(k, req, 2);
      k.ack(req);
    });
    const replies = await conn.request(FAMILY, NLM_F_EXCL | NLM_F_CREATE, (w) => w.u32(0xabcd));
    expect(replies.map((m) => ({ type: m.type, seq: m.seq, value: tag(m) }))).toEqual([
      { type: FAMILY, seq: socket.requests[0]!.seq, value: 1 },
      { type: FAMILY, seq: socket.requests[0]!.seq, value: 2 },
    ]);
    const req = socket.requests[0]!;
    expect(req.type).toBe(FAMILY);
    expect(req.flags).toBe(NLM_F_REQUEST | NLM_F_ACK | NLM_F_EXCL | NLM_F_CREATE);
    expect(req.pid).toBe(0);
    expect(req.payload).toEqual(Buffer.from(LE ? 'cdab0000' : '0000abcd', 'hex'));
    expect(conn.pid).toBe(4242);
  });

  it('(a) sequence numbers increase from request to request', async () => {
    const { conn, socket } = open((req, k) => k.ack(req));
    await conn.request(FAMILY, 0, () => {});
    await conn.request(FAMILY, 0, () => {});
    const [a, b] = socket.requests;
    expect(b!.seq).toBe(a!.seq + 1);
  });

  it('(b) a kernel error rejects with NetlinkError: errno, code, seq, operation and the extack message', async () => {
    const { conn, socket } = open((req, k) => k.ack(req, -17, 'Service already exists'));
    const e = await rejection(conn.request(FAMILY, 0, (w) => w.u32(1), { operation: 'add service TCP 10.0.0.1:80' }));
    expect(e).toBeInstanceOf(NetlinkError);
    const ne = e as NetlinkError;
    expect(ne.errno).toBe(17);
    expect(ne.code).toBe('EEXIST');
    expect(ne.seq).toBe(socket.requests[0]!.seq);
    expect(ne.operation).toBe('add service TCP 10.0.0.1:80');
    expect(ne.extack).toEqual({ message: 'Service already exists' });
    expect(ne.message).toContain('add service TCP 10.0.0.1:80');
    expect(ne.message).toContain('EEXIST');
    expect(ne.message).toContain('Service already exists');
  });

  it('(b) an error without extack and without an operation still names the errno', async () => {
    const { conn } = open((req, k) => k.ack(req, -2));
    const e = (await rejection(conn.request(FAMILY, 0, () => {}))) as NetlinkError;
    expect(e).toBeInstanceOf(NetlinkError);
    expect(e.code).toBe('ENOENT');
    expect(e.extack).toBeUndefined();
  });

  describe('(c) dumps', () => {
    it('multi-part across several datagrams resolves with every part at NLMSG_DONE', async () => {
      const { conn, socket } = open((req, k) => {
        // Datagram 1: two parts in one datagram.
        k.send(
          Buffer.concat([
            buildMessage(FAMILY, NLM_F_MULTI, req.seq, 4242, (w) => w.u32(1)),
            buildMessage(FAMILY, NLM_F_MULTI, req.seq, 4242, (w) => w.u32(2)),
          ]),
        );
        // Datagrams 2 and 3 on later turns, then DONE on its own.
        setImmediate(() => {
          replyU32(k, req, 3, NLM_F_MULTI);
          setTimeout(() => {
            replyU32(k, req, 4, NLM_F_MULTI);
            setImmediate(() => k.done(req));
          }, 5);
        });
      });
      const parts = await conn.request(FAMILY, NLM_F_DUMP, (w) => w.u32(0));
      expect(parts.map(tag)).toEqual([1, 2, 3, 4]);
      expect(parts.every((m) => m.type === FAMILY)).toBe(true);
      expect(socket.requests[0]!.flags).toBe(NLM_F_REQUEST | NLM_F_DUMP); // no ACK on a dump
      expect(conn.stats.datagrams).toBe(4);
    });

    it('onMessage: a dump\'s parts are handed over one by one as they arrive, not collected', async () => {
      const { conn } = open((req, k) => {
        // Parts in one datagram, then more on later turns: some read at once after the send, some through the poll.
        k.send(Buffer.concat([buildMessage(FAMILY, NLM_F_MULTI, req.seq, 4242, (w) => w.u32(1)), buildMessage(FAMILY, NLM_F_MULTI, req.seq, 4242, (w) => w.u32(2))]));
        replyU32(k, req, 3, NLM_F_MULTI);
        setImmediate(() => {
          replyU32(k, req, 4, NLM_F_MULTI);
          k.done(req);
        });
      });
      const tags: number[] = [];
      const parts = await conn.request(FAMILY, NLM_F_DUMP, () => {}, { onMessage: (m) => tags.push(tag(m)) });
      expect(parts).toEqual([]);
      expect(tags).toEqual([1, 2, 3, 4]);
    });

    it('onMessage: an exception thrown by it fails the dump, and the next dump waits for the kernel to finish the first', async () => {
      let second = false;
      const { conn, socket } = open((req, k) => {
        replyU32(k, req, second ? 7 : 1, NLM_F_MULTI);
        if (second) k.done(req);
        else setTimeout(() => k.done(req), 20);
        second = true;
      });
      const failing = conn.request(FAMILY, NLM_F_DUMP, () => {}, {
        onMessage: () => {
          throw new Error('consumer failed');
        },
      });
      const next = conn.request(FAMILY, NLM_F_DUMP, () => {});
      expect((await rejection(failing)).message).toBe('consumer failed');
      // The kernel is still running the first dump: the second is not sent until its DONE.
      expect(socket.requests).toHaveLength(1);
      expect((await next).map(tag)).toEqual([7]);
      expect(socket.requests).toHaveLength(2);
    });

    it('an empty dump resolves with no parts', async () => {
      const { conn } = open((req, k) => k.done(req));
      expect(await conn.request(FAMILY, NLM_F_DUMP, () => {})).toEqual([]);
    });

    it('DONE with a negative status rejects with NetlinkError', async () => {
      const { conn } = open((req, k) => {
        replyU32(k, req, 1, NLM_F_MULTI);
        k.done(req, -16);
      });
      const e = (await rejection(conn.request(FAMILY, NLM_F_DUMP, () => {}, { operation: 'list services' }))) as NetlinkError;
      expect(e).toBeInstanceOf(NetlinkError);
      expect(e.errno).toBe(16);
      expect(e.code).toBe('EBUSY');
      expect(e.operation).toBe('list services');
    });

    it('an NLMSG_ERROR answering a dump rejects it', async () => {
      const { conn } = open((req, k) => k.ack(req, -1, 'not permitted'));
      const e = (await rejection(conn.request(FAMILY, NLM_F_DUMP, () => {}))) as NetlinkError;
      expect(e.code).toBe('EPERM');
      expect(e.extack?.message).toBe('not permitted');
    });

    it('NLM_F_DUMP_INTR on a part rejects with DumpInterruptedError (retryable), and the next dump runs', async () => {
      let n = 0;
      const { conn } = open((req, k) => {
        if (n++ === 0) {
          replyU32(k, req, 1, NLM_F_MULTI);
          replyU32(k, req, 2, NLM_F_MULTI | NLM_F_DUMP_INTR);
          replyU32(k, req, 3, NLM_F_MULTI);
        } else {
          replyU32(k, req, 9, NLM_F_MULTI);
        }
        k.done(req);
      });
      const e = await rejection(conn.request(FAMILY, NLM_F_DUMP, () => {}, { operation: 'list services' }));
      expect(e).toBeInstanceOf(DumpInterruptedError);
      expect(e).toBeInstanceOf(NetlinkError);
      expect((e as DumpInterruptedError).retryable).toBe(true);
      expect((e as DumpInterruptedError).code).toBe('EINTR');
      expect(e.message).toContain('list services');
      // The dump slot was freed: the retry goes out and succeeds.
      expect((await conn.request(FAMILY, NLM_F_DUMP, () => {})).map(tag)).toEqual([9]);
    });

    it('NLM_F_DUMP_INTR on the DONE itself also rejects', async () => {
      const { conn } = open((req, k) => {
        replyU32(k, req, 1, NLM_F_MULTI);
        k.done(req, 0, NLM_F_MULTI | NLM_F_DUMP_INTR);
      });
      expect(await rejection(conn.request(FAMILY, NLM_F_DUMP, () => {}))).toBeInstanceOf(DumpInterruptedError);
    });
  });

  it('(d) 200 concurrent requests in one tick go out in few send() calls and each gets its own reply, answered in shuffled order', async () => {
    const rng = new Prng(200);
    const held: [NetlinkMessage, FakeKernel][] = [];
    const { conn, socket } = open((req, k) => {
      held.push([req, k]);
      if (held.length === 200) {
        for (const [r, kk] of rng.shuffle([...held])) {
          replyU32(kk, r, tag(r) * 10);
          kk.ack(r);
        }
      }
    });
    const ps = Array.from({ length: 200 }, (_, i) => conn.request(FAMILY, 0, (w) => w.u32(i)));
    const results = await Promise.all(ps);
    results.forEach((replies, i) => {
      expect(replies).toHaveLength(1);
      expect(tag(replies[0]!)).toBe(i * 10);
    });
    expect(socket.sent.length).toBeLessThanOrEqual(2);
    expect(conn.stats.sent).toBe(200);
    expect(conn.stats.sends).toBe(socket.sent.length);
    expect(new Set(socket.requests.map((r) => r.seq)).size).toBe(200);
  });

  it('(d) maxBatchBytes splits a large burst into several sends', async () => {
    const { conn, socket } = open((req, k) => k.ack(req), { maxBatchBytes: 1024 });
    await Promise.all(Array.from({ length: 100 }, () => conn.request(FAMILY, 0, (w) => w.zeros(64))));
    expect(conn.stats.sent).toBe(100);
    expect(socket.sent.length).toBeGreaterThan(1);
    // Each send holds at most maxBatchBytes plus the one message that crossed the limit.
    for (const d of socket.sent) expect(d.length).toBeLessThanOrEqual(1024 + 80);
  });

  it('(e) two dumps issued together: the second is sent only after the first one’s DONE', async () => {
    let firstDone = false;
    const seen: { seq: number; firstDoneAlready: boolean }[] = [];
    let release: (() => void) | undefined;
    const { conn, socket } = open((req, k) => {
      seen.push({ seq: req.seq, firstDoneAlready: firstDone });
      if (seen.length === 1) {
        replyU32(k, req, 1, NLM_F_MULTI);
        release = () => {
          firstDone = true;
          k.done(req);
        };
      } else {
        replyU32(k, req, 2, NLM_F_MULTI);
        k.done(req);
      }
    });
    const first = conn.request(FAMILY, NLM_F_DUMP, () => {});
    const second = conn.request(FAMILY, NLM_F_DUMP, () => {});
    await turns(10);
    // The first dump's part has arrived; the second dump is still waiting.
    expect(conn.stats.datagrams).toBe(1);
    expect(socket.requests).toHaveLength(1);
    release!();
    expect((await first).map(tag)).toEqual([1]);
    expect((await second).map(tag)).toEqual([2]);
    expect(socket.requests).toHaveLength(2);
    expect(seen[1]!.firstDoneAlready).toBe(true);
    expect(socket.sent).toHaveLength(2);
  });

  it('(e) a non-dump request queued behind a waiting dump keeps its place in line', async () => {
    const order: string[] = [];
    let release: (() => void) | undefined;
    const { conn } = open((req, k) => {
      const dump = (req.flags & NLM_F_DUMP) === NLM_F_DUMP;
      order.push(dump ? `dump ${tag(req)}` : `do ${tag(req)}`);
      if (dump && tag(req) === 1) release = () => k.done(req);
      else if (dump) k.done(req);
      else k.ack(req);
    });
    const a = conn.request(FAMILY, NLM_F_DUMP, (w) => w.u32(1));
    const b = conn.request(FAMILY, NLM_F_DUMP, (w) => w.u32(2));
    const c = conn.request(FAMILY, 0, (w) => w.u32(3));
    await turns(5);
    expect(order).toEqual(['dump 1']);
    release!();
    await Promise.all([a, b, c]);
    expect(order).toEqual(['dump 1', 'dump 2', 'do 3']);
  });

  it('(f) a timeout rejects with TimeoutError; the late reply is counted as unmatched and does not throw', async () => {
    let late: (() => void) | undefined;
    const { conn } = open((req, k) => {
      if (tag(req) === 1) late = () => k.ack(req);
      else k.ack(req);
    });
    const e = await rejection(conn.request(FAMILY, 0, (w) => w.u32(1), { timeoutMs: 30, operation: 'slow thing' }));
    expect(e).toBeInstanceOf(TimeoutError);
    expect((e as TimeoutError).code).toBe('ETIMEDOUT');
    expect(e.message).toContain('slow thing');
    expect(e.message).toContain('30 ms');
    expect(e.message).toContain('waiting for the kernel');
    late!();
    await until(() => conn.stats.datagrams === 1, 'the late reply');
    expect(conn.stats.unmatched).toBe(1);
    // The connection still works.
    expect(await conn.request(FAMILY, 0, (w) => w.u32(2))).toEqual([]);
  });

  it('(f) the connection default timeout applies; a request stuck in the queue times out unsent', async () => {
    const { conn, socket } = open(() => {}, { timeoutMs: 25, maxInFlight: 1 });
    const a = quiet(conn.request(FAMILY, 0, (w) => w.u32(1)));
    const b = quiet(conn.request(FAMILY, 0, (w) => w.u32(2)));
    const [ea, eb] = await Promise.all([rejection(a), rejection(b)]);
    expect(ea).toBeInstanceOf(TimeoutError);
    expect(eb).toBeInstanceOf(TimeoutError);
    // Both time out at about the same moment; b may or may not have been sent by then,
    // but it was never sent while a was still in flight.
    expect(socket.requests.length).toBeLessThanOrEqual(2);
    expect(tag(socket.requests[0]!)).toBe(1);
  });

  describe('(g) AbortSignal', () => {
    it('aborting a queued request rejects with AbortError and it is never sent', async () => {
      const { conn, socket } = open((req, k) => k.ack(req));
      const ac = new AbortController();
      const aborted = conn.request(FAMILY, 0, (w) => w.u32(1), { signal: ac.signal, operation: 'doomed' });
      const kept = conn.request(FAMILY, 0, (w) => w.u32(2));
      ac.abort(new Error('changed my mind'));
      const e = await rejection(aborted);
      expect(e).toBeInstanceOf(AbortError);
      expect((e as AbortError).code).toBe('ABORT_ERR');
      expect(e.message).toContain('doomed');
      expect(e.message).toContain('before it was sent');
      expect((e.cause as Error).message).toBe('changed my mind');
      await kept;
      await turns(3);
      expect(socket.requests.map(tag)).toEqual([2]);
    });

    it('aborting an in-flight request rejects with AbortError; its late answer is unmatched', async () => {
      let answer: (() => void) | undefined;
      const { conn, socket } = open((req, k) => (answer = () => k.ack(req)));
      const ac = new AbortController();
      const p = conn.request(FAMILY, 0, (w) => w.u32(1), { signal: ac.signal });
      await until(() => socket.requests.length === 1, 'the request to be sent');
      ac.abort();
      const e = await rejection(p);
      expect(e).toBeInstanceOf(AbortError);
      expect(e.message).toContain('after it was sent');
      answer!();
      await until(() => conn.stats.datagrams === 1, 'the late answer');
      expect(conn.stats.unmatched).toBe(1);
    });

    it('an already-aborted signal rejects immediately and nothing is sent', async () => {
      const { conn, socket } = open((req, k) => k.ack(req));
      const reason = new Error('too late');
      const e = await rejection(conn.request(FAMILY, 0, () => {}, { signal: AbortSignal.abort(reason) }));
      expect(e).toBeInstanceOf(AbortError);
      expect(e.cause).toBe(reason);
      await turns(3);
      expect(socket.requests).toHaveLength(0);
      expect(socket.refed).toBe(false);
    });

    it('aborting after the answer changes nothing', async () => {
      const { conn } = open((req, k) => k.ack(req));
      const ac = new AbortController();
      await expect(conn.request(FAMILY, 0, () => {}, { signal: ac.signal })).resolves.toEqual([]);
      ac.abort();
      await turns(2);
    });
  });

  it('(h) close() rejects pending requests with ConnectionClosedError; request() after close rejects', async () => {
    const { conn, socket } = open(() => {}, { maxInFlight: 1 });
    const inFlight = quiet(conn.request(FAMILY, 0, (w) => w.u32(1)));
    const queued = quiet(conn.request(FAMILY, 0, (w) => w.u32(2)));
    await until(() => socket.requests.length === 1, 'the first request to be sent');
    conn.close();
    expect(await rejection(inFlight)).toBeInstanceOf(ConnectionClosedError);
    expect(await rejection(queued)).toBeInstanceOf(ConnectionClosedError);
    expect(conn.isClosed).toBe(true);
    expect(socket.fd).toBe(-1);
    const after = await rejection(conn.request(FAMILY, 0, () => {}));
    expect(after).toBeInstanceOf(ConnectionClosedError);
    expect((after as ConnectionClosedError).code).toBe('ECONNCLOSED');
    conn.close(); // idempotent
    expect(socket.requests).toHaveLength(1);
  });

  it('(i) ENOBUFS rejects in-flight requests with RepliesLostError, re-opens the socket, and the next request works', async () => {
    const { conn, sockets, socket } = open((req, k) => {
      // The first socket's kernel never answers (its replies were "lost"); the new one does.
      if (k !== sockets[0]!.kernel) k.ack(req);
    }, { maxInFlight: 1 });
    const lost = quiet(conn.request(FAMILY, 0, (w) => w.u32(1), { operation: 'add service' }));
    const queued = quiet(conn.request(FAMILY, 0, (w) => w.u32(2)));
    await until(() => socket.requests.length === 1, 'the first request to be sent');
    socket.fail('ENOBUFS', 105);
    const e = await rejection(lost);
    expect(e).toBeInstanceOf(RepliesLostError);
    expect(e).toBeInstanceOf(NetlinkError);
    expect((e as RepliesLostError).retryable).toBe(true);
    expect((e as RepliesLostError).code).toBe('ENOBUFS');
    expect(e.message).toContain('add service');
    expect(sockets).toHaveLength(2);
    expect(conn.stats.reopened).toBe(1);
    expect(socket.fd).toBe(-1);
    // The request that was not yet sent goes out on the new socket.
    await expect(queued).resolves.toEqual([]);
    await expect(conn.request(FAMILY, 0, (w) => w.u32(3))).resolves.toEqual([]);
    expect(sockets[1]!.requests.map(tag)).toEqual([2, 3]);
    expect(sockets[1]!.options).toContainEqual([SOL_NETLINK, NETLINK_EXT_ACK, 1]);
    expect(conn.isClosed).toBe(false);
  });

  it('(i) when the socket cannot be re-opened after ENOBUFS, everything pending fails and the connection is closed', async () => {
    const { factory, sockets } = fakeSocketFactory();
    let calls = 0;
    const flaky: SocketFactory = (protocol, netns) => {
      if (calls++ > 0) throw Object.assign(new Error('socket: EMFILE'), { errno: 24, code: 'EMFILE', syscall: 'socket' });
      return factory(protocol, netns);
    };
    const conn = Conn.open({ protocol: NETLINK_GENERIC, socketFactory: flaky, maxInFlight: 1 });
    conns.push(conn);
    const a = quiet(conn.request(FAMILY, 0, () => {}));
    const b = quiet(conn.request(FAMILY, 0, () => {}));
    await until(() => sockets[0]!.requests.length === 1, 'the first request');
    sockets[0]!.fail('ENOBUFS', 105);
    const [ea, eb] = [await rejection(a), await rejection(b)];
    expect(ea).toBeInstanceOf(NetlinkError);
    expect((ea as NetlinkError).code).toBe('EMFILE');
    expect(eb).toBeInstanceOf(NetlinkError);
    expect(conn.isClosed).toBe(true);
    expect(await rejection(conn.request(FAMILY, 0, () => {}))).toBeInstanceOf(ConnectionClosedError);
  });

  it('another receive error fails the oldest in-flight request only', async () => {
    const held: [NetlinkMessage, FakeKernel][] = [];
    const { conn, socket } = open((req, k) => held.push([req, k]));
    const a = quiet(conn.request(FAMILY, 0, (w) => w.u32(1)));
    const b = conn.request(FAMILY, 0, (w) => w.u32(2));
    await until(() => held.length === 2, 'both requests');
    socket.fail('EMSGSIZE', 90);
    const e = (await rejection(a)) as NetlinkError;
    expect(e).toBeInstanceOf(NetlinkError);
    expect(e.code).toBe('EMSGSIZE');
    held[1]![1].ack(held[1]![0]);
    await expect(b).resolves.toEqual([]);
    expect(socket.refed).toBe(false);
    // When the failed request was the only one pending, the socket is unref'ed too.
    const c = quiet(conn.request(FAMILY, 0, (w) => w.u32(3)));
    await until(() => held.length === 3, 'the third request');
    socket.fail('EMSGSIZE', 90);
    expect(await rejection(c)).toBeInstanceOf(NetlinkError);
    expect(socket.refed).toBe(false);
    // With nothing in flight, the error is only counted.
    socket.fail('EMSGSIZE', 90);
    await turns(2);
    expect(conn.stats.unmatched).toBe(1);
  });

  it('(j) a reply with an unknown seq is dropped and counted', async () => {
    const { conn } = open((req, k) => {
      k.send(buildMessage(FAMILY, 0, req.seq + 1000, 4242, (w) => w.u32(666)));
      replyU32(k, req, 7);
      k.ack(req);
    });
    const replies = await conn.request(FAMILY, 0, () => {});
    expect(replies.map(tag)).toEqual([7]);
    expect(conn.stats.unmatched).toBe(1);
  });

  it('(j) a malformed datagram (nlmsg_len past the end) rejects the request whose seq it carries with DecodeError', async () => {
    const { conn } = open((req, k) => {
      if (tag(req) === 1) {
        const d = buildMessage(FAMILY, 0, req.seq, 4242, (w) => w.u32(1));
        d.writeUInt32LE(100, 0); // claims 100 bytes, has 20
        if (!LE) d.writeUInt32BE(100, 0);
        k.send(d);
      } else {
        k.ack(req);
      }
    });
    const e = await rejection(conn.request(FAMILY, 0, (w) => w.u32(1)));
    expect(e).toBeInstanceOf(DecodeError);
    expect(typeof (e as DecodeError).offset).toBe('number');
    // Nothing else is disturbed.
    await expect(conn.request(FAMILY, 0, (w) => w.u32(2))).resolves.toEqual([]);
  });

  it('(j) a malformed NLMSG_ERROR payload rejects its request with DecodeError', async () => {
    const { conn } = open((req, k) => k.send(buildMessage(NLMSG_ERROR, 0, req.seq, 4242, (w) => w.s32(-17))));
    expect(await rejection(conn.request(FAMILY, 0, () => {}))).toBeInstanceOf(DecodeError);
  });

  it('(j) a malformed NLMSG_DONE payload rejects its dump with DecodeError', async () => {
    const { conn } = open((req, k) => k.send(buildMessage(NLMSG_DONE, NLM_F_MULTI, req.seq, 4242, (w) => w.u8(1))));
    expect(await rejection(conn.request(FAMILY, NLM_F_DUMP, () => {}))).toBeInstanceOf(DecodeError);
  });

  it('(k) maxInFlight is respected: never more than 10 unanswered requests at once', async () => {
    const rng = new Prng(10);
    let outstanding = 0;
    let max = 0;
    const { conn, socket } = open(
      (req, k) => {
        outstanding++;
        max = Math.max(max, outstanding);
        setTimeout(() => {
          outstanding--;
          replyU32(k, req, tag(req));
          k.ack(req);
        }, rng.int(4));
      },
      { maxInFlight: 10 },
    );
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => conn.request(FAMILY, 0, (w) => w.u32(i))));
    results.forEach((r, i) => expect(tag(r[0]!)).toBe(i));
    expect(max).toBe(10);
    expect(socket.requests).toHaveLength(50);
    expect(conn.stats.sent).toBe(50);
  });

  it('(l) an encoder that throws rejects only its own request, and its bytes are not sent', async () => {
    const { conn, socket } = open((req, k) => k.ack(req));
    const boom = new Error('boom');
    const a = conn.request(FAMILY, 0, (w) => w.u32(1));
    const b = quiet(
      conn.request(FAMILY, 0, (w) => {
        w.u32(0xdeadbeef); // partly written, then fails
        throw boom;
      }),
    );
    const c = conn.request(FAMILY, 0, (w) => w.u32(3));
    const d = quiet(
      conn.request(FAMILY, 0, () => {
        throw 'not an Error'; // eslint-disable-line no-throw-literal
      }),
    );
    await expect(a).resolves.toEqual([]);
    expect(await rejection(b)).toBe(boom);
    await expect(c).resolves.toEqual([]);
    const ed = await rejection(d);
    expect(ed.message).toContain('not an Error');
    expect(socket.sent).toHaveLength(1);
    expect(parseMessages(socket.sent[0]!).map(tag)).toEqual([1, 3]);
    expect(conn.stats.sent).toBe(2);
  });

  it('(l) a failing send() rejects the batch with a NetlinkError', async () => {
    const { conn, socket } = open();
    socket.send = () => {
      throw Object.assign(new Error('sendto: EPERM'), { errno: 1, code: 'EPERM', syscall: 'sendto' });
    };
    const [a, b] = [quiet(conn.request(FAMILY, 0, () => {})), quiet(conn.request(FAMILY, 0, () => {}))];
    for (const p of [a, b]) {
      const e = (await rejection(p)) as NetlinkError;
      expect(e).toBeInstanceOf(NetlinkError);
      expect(e.code).toBe('EPERM');
    }
    expect(socket.refed).toBe(false);
  });

  it('(m) socket options set on open include NETLINK_EXT_ACK and NETLINK_CAP_ACK at SOL_NETLINK', () => {
    const { socket } = open();
    expect(socket.options).toContainEqual([SOL_NETLINK, NETLINK_EXT_ACK, 1]);
    expect(socket.options).toContainEqual([SOL_NETLINK, NETLINK_CAP_ACK, 1]);
    expect([SOL_NETLINK, NETLINK_EXT_ACK, NETLINK_CAP_ACK]).toEqual([270, 11, 10]);
    // A receive buffer is asked for too.
    expect(socket.options.some(([level, name]) => level === SOL_SOCKET && name === SO_RCVBUFFORCE)).toBe(true);
  });

  it('(m) without CAP_NET_ADMIN the buffer sizes fall back to SO_RCVBUF/SO_SNDBUF', () => {
    const { factory, sockets } = fakeSocketFactory();
    const conn = Conn.open({
      protocol: NETLINK_GENERIC,
      socketFactory: (p, n) => {
        const s = factory(p, n) as FakeSocket;
        const set = s.setsockopt.bind(s);
        s.setsockopt = (level, name, value) => {
          if (level === SOL_SOCKET && (name === 32 || name === 33)) throw Object.assign(new Error('EPERM'), { errno: 1, code: 'EPERM' });
          set(level, name, value);
        };
        return s;
      },
      receiveBufferBytes: 1 << 20,
    });
    conns.push(conn);
    expect(sockets[0]!.options).toContainEqual([SOL_SOCKET, 8, 1 << 20]); // SO_RCVBUF
    expect(sockets[0]!.options.some(([l, n]) => l === SOL_SOCKET && n === 7)).toBe(true); // SO_SNDBUF
  });

  it('a socket factory failure during open closes nothing it did not make and throws', () => {
    let closed = 0;
    const { factory } = fakeSocketFactory();
    expect(() =>
      Conn.open({
        protocol: NETLINK_GENERIC,
        socketFactory: (p, n) => {
          const s = factory(p, n) as FakeSocket;
          s.bind = () => {
            throw Object.assign(new Error('bind: EADDRINUSE'), { errno: 98, code: 'EADDRINUSE' });
          };
          const close = s.close.bind(s);
          s.close = () => {
            closed++;
            close();
          };
          return s;
        },
      }),
    ).toThrow(/EADDRINUSE/);
    expect(closed).toBe(1);
  });

  describe('(n) ref/unref', () => {
    it('unref’ed when idle, ref’ed while a request is pending', async () => {
      let answer: (() => void) | undefined;
      const { conn, socket } = open((req, k) => (answer = () => k.ack(req)));
      expect(socket.refed).toBe(false);
      const p = conn.request(FAMILY, 0, () => {});
      expect(socket.refed).toBe(true);
      await until(() => socket.requests.length === 1, 'the request');
      expect(socket.refed).toBe(true);
      answer!();
      await p;
      expect(socket.refed).toBe(false);
    });

    it('unref’ed again after a timeout, an abort, or an encoder failure', async () => {
      const { conn, socket } = open();
      await rejection(conn.request(FAMILY, 0, () => {}, { timeoutMs: 5 }));
      expect(socket.refed).toBe(false);

      const ac = new AbortController();
      const p = conn.request(FAMILY, 0, () => {}, { signal: ac.signal });
      expect(socket.refed).toBe(true);
      ac.abort();
      await rejection(p);
      expect(socket.refed).toBe(false);

      const q = conn.request(FAMILY, 0, () => {
        throw new Error('bad encoder');
      });
      expect(socket.refed).toBe(true);
      await rejection(q);
      await turns(2);
      expect(socket.refed).toBe(false);
    });
  });
});
