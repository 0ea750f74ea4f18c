// Conn.requestDumps: many dumps run back to back as one queue entry, over the
// fake socket. The fake kernel here refuses a second dump while one runs (as a
// real netlink socket answers EBUSY), so every test also checks the series
// never overlaps its dumps.
import { afterEach, describe, expect, it } from 'vitest';
import { AbortError, ConnectionClosedError, DecodeError, DumpInterruptedError, NetlinkError, RepliesLostError, TimeoutError } from '../../../src/errors.js';
import { Conn, type ConnOptions } from '../../../src/netlink/conn.js';
import { HOST_LITTLE_ENDIAN as LE, NETLINK_GENERIC, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_MULTI, NLM_F_REQUEST } from '../../../src/netlink/constants.js';
import { buildMessage, fakeSocketFactory, type FakeHandler, type FakeKernel, type FakeSocket } from '../../../src/netlink/fake-socket.js';
import { GenlConn } from '../../../src/netlink/genl.js';
import type { NetlinkMessage } from '../../../src/netlink/message.js';
import { quiet, settle, turns, until } from '../../helpers/async.js';

const FAMILY = 0x24;
const conns: { close(): void }[] = [];
afterEach(() => {
  for (const c of conns.splice(0)) c.close();
});

const u32 = (b: Buffer, off = 0): number => (LE ? b.readUInt32LE(off) : b.readUInt32BE(off));
const tag = (m: NetlinkMessage): number => u32(m.payload);

/**
 * A fake kernel that answers dump requests with `answer` and fails the test
 * (by recording it) if a dump arrives while another is still running. Each
 * dump's DONE comes on a later turn unless `answer` ends it itself.
 */
function dumpKernel(answer: (req: NetlinkMessage, k: FakeKernel, end: () => void) => void): { handler: FakeHandler; overlaps: number[] } {
  const overlaps: number[] = [];
  let running: number | undefined;
  const handler: FakeHandler = (req, k) => {
    if (!(req.flags & NLM_F_DUMP)) return k.ack(req);
    if (running !== undefined) overlaps.push(req.seq);
    running = req.seq;
    answer(req, k, () => {
      running = undefined;
      k.done(req);
    });
  };
  return { handler, overlaps };
}

function open(handler: FakeHandler, options: Partial<ConnOptions> = {}): { conn: Conn; socket: FakeSocket; sockets: FakeSocket[] } {
  const { factory, sockets } = fakeSocketFactory(handler);
  const conn = Conn.open({ protocol: NETLINK_GENERIC, socketFactory: factory, ...options });
  conns.push(conn);
  return { conn, socket: sockets[0]!, sockets };
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  const r = await settle(p);
  if (r.ok) throw new Error('expected the promise to reject, it resolved');
  return r.error as Error;
}

/** Two data parts per dump (value index*10+1 and +2), the second on a later turn, then DONE. */
const twoParts = (req: NetlinkMessage, k: FakeKernel, end: () => void): void => {
  const i = tag(req);
  k.reply(req, FAMILY, NLM_F_MULTI, (w) => w.u32(i * 10 + 1));
  setImmediate(() => {
    k.reply(req, FAMILY, NLM_F_MULTI, (w) => w.u32(i * 10 + 2));
    end();
  });
};

describe('Conn.requestDumps', () => {
  it('runs the dumps one after another, encoding each at its turn and handing every reply over in place with its index', async () => {
    const { handler, overlaps } = dumpKernel(twoParts);
    const { conn, socket } = open(handler);
    const encoded: number[] = [];
    const got: [number, number][] = [];
    await conn.requestDumps(
      FAMILY,
      5,
      (i, w) => {
        encoded.push(i);
        w.u32(i);
      },
      (i, d, start, end) => {
        expect(end - start).toBe(4);
        got.push([i, u32(d, start)]);
      },
    );
    expect(overlaps).toEqual([]);
    expect(encoded).toEqual([0, 1, 2, 3, 4]);
    expect(got).toEqual([0, 1, 2, 3, 4].flatMap((i) => [[i, i * 10 + 1], [i, i * 10 + 2]]));
    expect(socket.requests.map(tag)).toEqual([0, 1, 2, 3, 4]);
    expect(socket.requests.every((r) => r.flags === (NLM_F_REQUEST | NLM_F_DUMP) && r.type === FAMILY)).toBe(true);
    // Distinct sequence numbers, one per dump.
    expect(new Set(socket.requests.map((r) => r.seq)).size).toBe(5);
  });

  it('a long series the kernel answers at once still lets the event loop run before it ends', async () => {
    const { conn } = open((req, k) => {
      k.reply(req, FAMILY, NLM_F_MULTI, (w) => w.u32(1));
      k.done(req);
    });
    let seen = 0;
    const events: string[] = [];
    setImmediate(() => events.push(`a turn after ${seen} dumps`));
    await conn.requestDumps(FAMILY, 300, (i, w) => w.u32(i), () => seen++);
    events.push('done');
    expect(seen).toBe(300);
    expect(events[0]).toMatch(/^a turn after \d+ dumps$/);
    expect(events[0]).not.toBe('a turn after 300 dumps');
  });

  it('a series of none resolves without sending anything', async () => {
    const { conn, socket } = open(() => {});
    await conn.requestDumps(FAMILY, 0, () => {}, () => {});
    expect(socket.requests).toHaveLength(0);
  });

  it('requests made after a series are answered after it, and the socket is referenced only while it runs', async () => {
    const { handler, overlaps } = dumpKernel(twoParts);
    const { conn, socket } = open(handler);
    const order: string[] = [];
    const series = conn.requestDumps(FAMILY, 3, (i, w) => w.u32(i), () => {}).then(() => order.push('series'));
    const dump = conn.request(FAMILY, NLM_F_DUMP, (w) => w.u32(9)).then((parts) => order.push(`dump ${parts.map(tag).join(',')}`));
    expect(socket.refed).toBe(true);
    await Promise.all([series, dump]);
    expect(order).toEqual(['series', 'dump 91,92']);
    expect(overlaps).toEqual([]);
    await turns(2);
    expect(socket.refed).toBe(false);
  });

  it('a DONE with a negative status rejects with NetlinkError naming that dump; later dumps are not sent, and the connection goes on', async () => {
    const { handler } = dumpKernel((req, k, end) => {
      if (tag(req) === 2) {
        k.done(req, -22);
        return;
      }
      end();
    });
    const { conn, socket } = open(handler);
    const e = (await rejection(conn.requestDumps(FAMILY, 5, (i, w) => w.u32(i), () => {}, { operation: (i) => `list part ${i}` }))) as NetlinkError;
    expect(e).toBeInstanceOf(NetlinkError);
    expect(e.code).toBe('EINVAL');
    expect(e.operation).toBe('list part 2');
    expect(socket.requests.map(tag)).toEqual([0, 1, 2]);
    await expect(conn.request(FAMILY, 0, (w) => w.u32(7))).resolves.toEqual([]);
  });

  it('an NLMSG_ERROR answering a dump rejects the series with its errno and extack', async () => {
    const { conn } = open((req, k) => k.ack(req, -1, 'not permitted'));
    const e = (await rejection(conn.requestDumps(FAMILY, 3, (i, w) => w.u32(i), () => {}))) as NetlinkError;
    expect(e.code).toBe('EPERM');
    expect(e.extack?.message).toBe('not permitted');
  });

  it('NLM_F_DUMP_INTR rejects with DumpInterruptedError, and a retry runs', async () => {
    let first = true;
    const { handler } = dumpKernel((req, k, end) => {
      k.reply(req, FAMILY, NLM_F_MULTI | (first && tag(req) === 1 ? NLM_F_DUMP_INTR : 0), (w) => w.u32(1));
      end();
    });
    const { conn } = open(handler);
    const e = await rejection(conn.requestDumps(FAMILY, 3, (i, w) => w.u32(i), () => {}, { operation: () => 'list' }));
    expect(e).toBeInstanceOf(DumpInterruptedError);
    expect(e.message).toContain('list');
    first = false;
    const seen: number[] = [];
    await conn.requestDumps(FAMILY, 3, (i, w) => w.u32(i), (i) => seen.push(i));
    expect(seen).toEqual([0, 1, 2]);
  });

  it('an exception from onReply rejects the series; the next dump waits until the kernel has finished the running one', async () => {
    const { handler, overlaps } = dumpKernel((req, k, end) => {
      k.reply(req, FAMILY, NLM_F_MULTI, (w) => w.u32(1));
      setTimeout(end, 20);
    });
    const { conn, socket } = open(handler);
    const failing = conn.requestDumps(
      FAMILY,
      3,
      (i, w) => w.u32(i),
      () => {
        throw new Error('consumer failed');
      },
    );
    const next = conn.request(FAMILY, NLM_F_DUMP, (w) => w.u32(9));
    expect((await rejection(failing)).message).toBe('consumer failed');
    expect(socket.requests.map(tag)).toEqual([0]);
    expect((await next).map(tag)).toEqual([1]);
    expect(overlaps).toEqual([]);
    expect(conn.stats.unmatched).toBeGreaterThan(0); // the rest of the failed dump was drained
  });

  it('an encoder that throws rejects the series before its bytes are sent', async () => {
    const { handler } = dumpKernel((_req, _k, end) => end());
    const { conn, socket } = open(handler);
    const e = await rejection(
      conn.requestDumps(
        FAMILY,
        3,
        (i, w) => {
          if (i === 1) throw new RangeError('bad key');
          w.u32(i);
        },
        () => {},
      ),
    );
    expect(e).toBeInstanceOf(RangeError);
    expect(socket.requests.map(tag)).toEqual([0]);
    await expect(conn.request(FAMILY, NLM_F_DUMP, (w) => w.u32(5))).resolves.toEqual([]);
  });

  it('a malformed reply rejects the series with DecodeError', async () => {
    const { conn } = open((req, k) => {
      const d = buildMessage(FAMILY, NLM_F_MULTI, req.seq, 4242, (w) => w.u32(1));
      d.writeUInt32LE(d.length + 8, 0); // nlmsg_len past the end of the datagram
      k.send(d);
    });
    expect(await rejection(conn.requestDumps(FAMILY, 2, (i, w) => w.u32(i), () => {}))).toBeInstanceOf(DecodeError);
  });

  describe('abort, deadline, close and lost replies', () => {
    it('aborting part-way rejects with AbortError naming the running dump; no further dump is sent and the late replies are drained', async () => {
      let release: (() => void) | undefined;
      const { handler, overlaps } = dumpKernel((req, k, end) => {
        k.reply(req, FAMILY, NLM_F_MULTI, (w) => w.u32(1));
        if (tag(req) === 1) release = end;
        else end();
      });
      const { conn, socket } = open(handler);
      const ac = new AbortController();
      const series = quiet(conn.requestDumps(FAMILY, 4, (i, w) => w.u32(i), () => {}, { signal: ac.signal, operation: (i) => `dump ${i}` }));
      await until(() => release !== undefined, 'dump 1 to be running');
      ac.abort(new Error('enough'));
      const e = await rejection(series);
      expect(e).toBeInstanceOf(AbortError);
      expect(e.message).toContain('dump 1');
      expect((e.cause as Error).message).toBe('enough');
      const next = conn.request(FAMILY, NLM_F_DUMP, (w) => w.u32(9));
      await turns(3);
      expect(socket.requests.map(tag)).toEqual([0, 1]); // waits for the kernel to end dump 1
      release!();
      await next;
      expect(socket.requests.map(tag)).toEqual([0, 1, 9]);
      expect(overlaps).toEqual([]);
    });

    it('an already-aborted signal rejects at once and sends nothing', async () => {
      const { conn, socket } = open(() => {});
      expect(await rejection(conn.requestDumps(FAMILY, 2, () => {}, () => {}, { signal: AbortSignal.abort() }))).toBeInstanceOf(AbortError);
      await turns(2);
      expect(socket.requests).toHaveLength(0);
    });

    it('a dump the kernel never finishes times out with TimeoutError', async () => {
      const { conn } = open(() => {});
      const e = await rejection(conn.requestDumps(FAMILY, 2, (i, w) => w.u32(i), () => {}, { timeoutMs: 40, operation: (i) => `dump ${i}` }));
      expect(e).toBeInstanceOf(TimeoutError);
      expect(e.message).toContain('dump 0');
    });

    it('a long series whose dumps keep completing does not time out', async () => {
      const { handler } = dumpKernel((_req, _k, end) => setTimeout(end, 5));
      const { conn } = open(handler);
      const seen: number[] = [];
      await conn.requestDumps(FAMILY, 12, (i, w) => w.u32(i), () => {}, { timeoutMs: 40 }).then(() => seen.push(1));
      expect(seen).toEqual([1]);
    });

    it('close() rejects a running series with ConnectionClosedError', async () => {
      const { conn, socket } = open(() => {});
      const series = quiet(conn.requestDumps(FAMILY, 3, (i, w) => w.u32(i), () => {}));
      await until(() => socket.requests.length === 1, 'the first dump');
      conn.close();
      expect(await rejection(series)).toBeInstanceOf(ConnectionClosedError);
      expect(await rejection(conn.requestDumps(FAMILY, 1, () => {}, () => {}))).toBeInstanceOf(ConnectionClosedError);
    });

    it('ENOBUFS rejects the series with RepliesLostError; the connection re-opens and works', async () => {
      const { handler } = dumpKernel((_req, _k, end) => end());
      const { conn, socket, sockets } = open((req, k) => {
        if (k === sockets[0]!.kernel) return; // the first socket's answers are "lost"
        handler(req, k);
      });
      const series = quiet(conn.requestDumps(FAMILY, 3, (i, w) => w.u32(i), () => {}, { operation: () => 'snapshot' }));
      await until(() => socket.requests.length === 1, 'the first dump');
      socket.fail('ENOBUFS', 105);
      const e = await rejection(series);
      expect(e).toBeInstanceOf(RepliesLostError);
      expect(e.message).toContain('snapshot');
      await conn.requestDumps(FAMILY, 2, (i, w) => w.u32(i), () => {});
      expect(sockets[1]!.requests.map(tag)).toEqual([0, 1]);
    });
  });
});

describe('GenlConn.requestDumps', () => {
  it('writes the genlmsghdr before each dump and hands over where the attributes start', async () => {
    const { factory, sockets } = fakeSocketFactory((req, k) => {
      k.reply(req, FAMILY, NLM_F_MULTI, (w) => w.u8(5).u8(1).u16(0).u32(u32(req.payload, 4) + 100));
      k.done(req);
    });
    const genl = GenlConn.open({ socketFactory: factory });
    conns.push(genl);
    const got: number[] = [];
    await genl.requestDumps(FAMILY, 3, 1, 2, (i, w) => w.u32(i), (i, d, start, end) => {
      expect(end - start).toBe(4);
      got.push(i, u32(d, start));
    });
    expect(got).toEqual([0, 100, 1, 101]);
    expect(sockets[0]!.requests.map((r) => [r.payload[0], r.payload[1]])).toEqual([[3, 1], [3, 1]]);
  });

  it('a reply too short for a genlmsghdr rejects with DecodeError', async () => {
    const { factory } = fakeSocketFactory((req, k) => {
      k.reply(req, FAMILY, NLM_F_MULTI, (w) => w.u16(1));
      k.done(req);
    });
    const genl = GenlConn.open({ socketFactory: factory });
    conns.push(genl);
    expect(await rejection(genl.requestDumps(FAMILY, 3, 1, 1, () => {}, () => {}))).toBeInstanceOf(DecodeError);
  });
});
