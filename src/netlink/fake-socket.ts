/**
 * A fake netlink socket for unit tests of protocol logic: a handler plays the
 * kernel, seeing each request message and answering with datagrams. It proves
 * encoders and state machines, never that the real kernel agrees.
 * @module
 */
import { NLMSG_DONE, NLMSG_ERROR, NLM_F_ACK_TLVS, NLM_F_CAPPED, NLM_F_MULTI } from './constants.js';
import type { NativeSocket } from './binding.js';
import type { SocketFactory } from './conn.js';
import { parseMessages, type NetlinkMessage } from './message.js';
import { Writer } from './writer.js';

/** What a fake kernel handler can do in answer to a request. */
export interface FakeKernel {
  /** Queue a raw datagram for delivery. */
  send(datagram: Uint8Array): void;
  /** Answer `request` with an NLMSG_ERROR (0 = ACK), optionally with an extended-ACK message. */
  ack(request: NetlinkMessage, error?: number, extackMessage?: string): void;
  /** Answer with a data message of `type` whose payload `write` produces. */
  reply(request: NetlinkMessage, type: number, flags: number, write: (w: Writer) => void): void;
  /** End a dump with NLMSG_DONE (status 0 or a negative errno). */
  done(request: NetlinkMessage, status?: number, flags?: number): void;
}

/** Handler playing the kernel: called once per request message. */
export type FakeHandler = (request: NetlinkMessage, kernel: FakeKernel) => void;

let nextFd = 1000;

/** Build a datagram holding one netlink message. */
export function buildMessage(type: number, flags: number, seq: number, pid: number, write: (w: Writer) => void): Buffer {
  const w = new Writer(256);
  const start = w.beginMessage(type, flags, seq, pid);
  write(w);
  w.endMessage(start);
  return w.toBuffer();
}

/** A {@link NativeSocket} whose "kernel" is a function. */
export class FakeSocket implements NativeSocket {
  fd = nextFd++;
  /** Every datagram sent through this socket. */
  readonly sent: Buffer[] = [];
  /** Every request message sent, parsed. */
  readonly requests: NetlinkMessage[] = [];
  /** Socket options set, as [level, name, value]. */
  readonly options: [number, number, number | Uint8Array][] = [];
  /** Port id reported by getsockname. */
  portId = 4242;
  /** Whether ref() is in effect. */
  refed = true;
  private onData: ((d: Buffer[]) => void) | undefined;
  private onError: ((e: NodeJS.ErrnoException) => void) | undefined;
  private outbox: Buffer[] = [];
  private scheduled = false;

  constructor(private readonly handler: FakeHandler = () => {}) {}

  bind(_address: Uint8Array): void {
    this.check();
  }
  getsockname(): Buffer {
    const b = Buffer.alloc(12);
    b.writeUInt16LE(16, 0);
    b.writeUInt32LE(this.portId, 4);
    return b;
  }
  setsockopt(level: number, name: number, value: number | Uint8Array): void {
    this.check();
    this.options.push([level, name, value]);
  }
  send(data: Uint8Array, _address?: Uint8Array): number {
    this.check();
    const copy = Buffer.from(data);
    this.sent.push(copy);
    for (const m of parseMessages(copy)) {
      this.requests.push(m);
      this.handler(m, this.kernel);
    }
    return data.length;
  }
  start(onData: (d: Buffer[]) => void, onError: (e: NodeJS.ErrnoException) => void): void {
    this.onData = onData;
    this.onError = onError;
  }
  ref(): void {
    this.refed = true;
  }
  unref(): void {
    this.refed = false;
  }
  close(): void {
    this.fd = -1;
    this.onData = undefined;
  }

  /**
   * Take the oldest datagram not yet delivered, as the addon's receiveInto()
   * does: copied into `buffer`, its length returned, or -1 when none is waiting.
   */
  receiveInto(buffer: Uint8Array): number {
    this.check();
    const d = this.outbox.shift();
    if (!d) return -1;
    if (d.length > buffer.length) {
      throw Object.assign(new Error(`recvmsg: datagram of ${d.length} bytes truncated`), { code: 'EMSGSIZE', errno: 90, syscall: 'recvmsg' });
    }
    buffer.set(d);
    return d.length;
  }

  /**
   * Deliver datagrams to the connection as if the kernel had sent them: the
   * connection may read them at once with {@link receiveInto}; those it leaves
   * arrive through the poll callback on a later turn of the event loop.
   */
  deliver(...datagrams: Uint8Array[]): void {
    this.outbox.push(...datagrams.map((d) => Buffer.from(d)));
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        const batch = this.outbox;
        this.outbox = [];
        if (batch.length && this.onData) this.onData(batch);
      });
    }
  }

  /** Raise a receive error (e.g. `'ENOBUFS'`) as the addon would. */
  fail(code: string, errno: number): void {
    const e = Object.assign(new Error(`recvmsg: ${code}`), { code, errno, syscall: 'recvmsg' }) as NodeJS.ErrnoException;
    setImmediate(() => this.onError?.(e));
  }

  private check(): void {
    if (this.fd < 0) throw Object.assign(new Error('EBADF: socket is closed'), { code: 'EBADF', errno: 9, syscall: 'send' });
  }

  /** The kernel side handed to the handler. */
  readonly kernel: FakeKernel = {
    send: (d) => this.deliver(d),
    ack: (req, error = 0, extackMessage) => {
      let flags = NLM_F_CAPPED;
      if (extackMessage !== undefined) flags |= NLM_F_ACK_TLVS;
      this.deliver(
        buildMessage(NLMSG_ERROR, flags, req.seq, this.portId, (w) => {
          w.s32(error);
          // The echoed request header (capped: header only).
          w.u32(req.payload.length + 16).u16(req.type).u16(req.flags).u32(req.seq).u32(req.pid);
          if (extackMessage !== undefined) w.attrString(1, extackMessage);
        }),
      );
    },
    reply: (req, type, flags, write) => this.deliver(buildMessage(type, flags, req.seq, this.portId, write)),
    done: (req, status = 0, flags = NLM_F_MULTI) =>
      this.deliver(buildMessage(NLMSG_DONE, flags, req.seq, this.portId, (w) => w.s32(status))),
  };
}

/**
 * A socket factory that makes {@link FakeSocket}s with `handler`; the sockets it
 * made are listed in `sockets` (a re-opened connection adds a second one).
 */
export function fakeSocketFactory(handler: FakeHandler = () => {}): { factory: SocketFactory; sockets: FakeSocket[] } {
  const sockets: FakeSocket[] = [];
  return {
    sockets,
    factory: () => {
      const s = new FakeSocket(handler);
      sockets.push(s);
      return s;
    },
  };
}
