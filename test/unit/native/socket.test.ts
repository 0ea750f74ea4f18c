/**
 * Tests of the native socket bridge (native/src) through src/netlink/binding.ts.
 * They need the built addon (`npm run build:native`), a kernel with netlink, and
 * root for the network-namespace cases. Netlink messages are built and parsed by
 * hand here on purpose: this layer must not depend on the TypeScript codec.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readlinkSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { openSocket, type NativeSocket } from '../../../src/netlink/binding.js';

const ADDON_PATH = fileURLToPath(new URL('../../../native/build/Release/ipvs_ts_native.node', import.meta.url));

const AF_UNIX = 1;
const AF_NETLINK = 16;
const SOCK_DGRAM = 2;
const SOCK_RAW = 3;
const NETLINK_ROUTE = 0;
const SOL_SOCKET = 1;
const SO_RCVBUFFORCE = 33;
const SOL_NETLINK = 270;
const NETLINK_EXT_ACK = 11;

const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;
const RTM_NEWLINK = 16;
const RTM_GETLINK = 18;
const NLM_F_REQUEST = 0x1;
const NLM_F_DUMP = 0x300;
const IFLA_IFNAME = 3;

const NLMSG_HDRLEN = 16;
const IFINFOMSG_LEN = 16;

const isRoot = process.getuid?.() === 0;

interface NlMessage {
  type: number;
  flags: number;
  seq: number;
  payload: Buffer;
}

/** sockaddr_nl {nl_family=AF_NETLINK, nl_pad=0, nl_pid, nl_groups}: 12 bytes. */
function sockaddrNl(pid = 0, groups = 0): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt16LE(AF_NETLINK, 0);
  b.writeUInt32LE(pid, 4);
  b.writeUInt32LE(groups, 8);
  return b;
}

/** nlmsghdr + struct ifinfomsg (AF_UNSPEC, ifi_index) for RTM_GETLINK. */
function getLinkRequest(seq: number, flags: number, ifindex = 0): Buffer {
  const b = Buffer.alloc(NLMSG_HDRLEN + IFINFOMSG_LEN);
  b.writeUInt32LE(b.length, 0); // nlmsg_len
  b.writeUInt16LE(RTM_GETLINK, 4); // nlmsg_type
  b.writeUInt16LE(flags, 6); // nlmsg_flags
  b.writeUInt32LE(seq, 8); // nlmsg_seq
  b.writeUInt32LE(0, 12); // nlmsg_pid
  // ifinfomsg: ifi_family u8, pad u8, ifi_type u16, ifi_index s32, ifi_flags u32, ifi_change u32
  b.writeInt32LE(ifindex, NLMSG_HDRLEN + 4);
  return b;
}

/** Split one datagram into netlink messages. */
function parseMessages(datagram: Buffer): NlMessage[] {
  const out: NlMessage[] = [];
  let off = 0;
  while (off + NLMSG_HDRLEN <= datagram.length) {
    const len = datagram.readUInt32LE(off);
    if (len < NLMSG_HDRLEN || off + len > datagram.length) throw new Error(`bad nlmsg_len ${len} at ${off}`);
    out.push({
      type: datagram.readUInt16LE(off + 4),
      flags: datagram.readUInt16LE(off + 6),
      seq: datagram.readUInt32LE(off + 8),
      payload: datagram.subarray(off + NLMSG_HDRLEN, off + len),
    });
    off += (len + 3) & ~3;
  }
  return out;
}

/** IFLA_IFNAME of an RTM_NEWLINK payload (ifinfomsg + rtattrs). */
function linkName(payload: Buffer): string | undefined {
  let off = IFINFOMSG_LEN;
  while (off + 4 <= payload.length) {
    const len = payload.readUInt16LE(off);
    const type = payload.readUInt16LE(off + 2) & 0x3fff;
    if (len < 4) break;
    if (type === IFLA_IFNAME) {
      const value = payload.subarray(off + 4, off + len);
      const nul = value.indexOf(0);
      return value.subarray(0, nul < 0 ? value.length : nul).toString('utf8');
    }
    off += (len + 3) & ~3;
  }
  return undefined;
}

/** Run a callback-driven receive until `done` resolves it; fails after `ms`. */
function receive<T>(
  sock: NativeSocket,
  onMessage: (msg: NlMessage, finish: (value: T) => void) => void,
  ms = 5000,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let finished = false;
    const timer = setTimeout(() => finish(new Error(`timed out after ${ms} ms`)), ms);
    function finish(value: T | Error): void {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      if (value instanceof Error) reject(value);
      else resolve(value);
    }
    sock.start(
      (datagrams) => {
        for (const datagram of datagrams) {
          expect(Buffer.isBuffer(datagram)).toBe(true);
          for (const msg of parseMessages(datagram)) {
            if (finished) return;
            onMessage(msg, (v) => finish(v));
          }
        }
      },
      (error) => finish(error),
    );
  });
}

/** Dump all links visible to a NETLINK_ROUTE socket and return their names. */
async function dumpLinkNames(sock: NativeSocket, seq = 1): Promise<string[]> {
  const names: string[] = [];
  const done = receive<string[]>(sock, (msg, finish) => {
    expect(msg.seq).toBe(seq);
    if (msg.type === NLMSG_ERROR) throw new Error(`netlink error ${msg.payload.readInt32LE(0)}`);
    if (msg.type === RTM_NEWLINK) {
      const name = linkName(msg.payload);
      if (name !== undefined) names.push(name);
    }
    if (msg.type === NLMSG_DONE) finish(names);
  });
  const request = getLinkRequest(seq, NLM_F_REQUEST | NLM_F_DUMP);
  expect(sock.send(request)).toBe(request.length);
  return done;
}

function fdCount(): number {
  return readdirSync('/proc/self/fd').length;
}

/** Expect `fn` to throw an errno-style Error and return it. */
function errnoError(fn: () => unknown): NodeJS.ErrnoException {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(Error);
  const error = caught as NodeJS.ErrnoException;
  expect(typeof error.errno).toBe('number');
  expect(error.errno).toBeGreaterThan(0);
  expect(typeof error.code).toBe('string');
  expect(typeof error.syscall).toBe('string');
  expect(error.message).toContain(`${error.syscall}`);
  expect(error.message).toContain(`${error.code}`);
  return error;
}

/** Run a CommonJS snippet in a child node that has `addon` loaded. */
function runChild(code: string, timeout: number, extraArgs: string[] = []): string {
  const prelude = `const addon = require(${JSON.stringify(ADDON_PATH)});\n`;
  return execFileSync(process.execPath, [...extraArgs, '-e', prelude + code], {
    timeout,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

const open: NativeSocket[] = [];
/** openSocket, remembered so a failing test does not leak the descriptor. */
function track(sock: NativeSocket): NativeSocket {
  open.push(sock);
  return sock;
}
afterAll(() => {
  for (const sock of open) sock.close();
});

describe('native socket bridge: NETLINK_ROUTE basics', () => {
  it('opens, binds, reports its address, and dumps links including lo', async () => {
    const sock = track(openSocket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE));
    expect(Number.isInteger(sock.fd)).toBe(true);
    expect(sock.fd).toBeGreaterThanOrEqual(0);

    sock.bind(sockaddrNl());
    const name = sock.getsockname();
    expect(Buffer.isBuffer(name)).toBe(true);
    expect(name.length).toBe(12);
    expect(name.readUInt16LE(0)).toBe(AF_NETLINK);
    expect(name.readUInt32LE(4)).not.toBe(0); // kernel-assigned port id
    expect(name.readUInt32LE(8)).toBe(0); // no groups

    const names = await dumpLinkNames(sock);
    expect(names).toContain('lo');
    sock.close();
  });

  it('creates descriptors non-blocking and close-on-exec', () => {
    const sock = track(openSocket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE));
    const fdinfo = execFileSync('cat', [`/proc/${process.pid}/fdinfo/${sock.fd}`], { encoding: 'utf8' });
    const flags = parseInt(/^flags:\s*([0-7]+)/m.exec(fdinfo)![1]!, 8);
    expect(flags & 0o4000).toBe(0o4000); // O_NONBLOCK
    expect(flags & 0o2000000).toBe(0o2000000); // O_CLOEXEC
    sock.close();
  });

  it('setsockopt: int option succeeds, bogus level throws an errno Error', () => {
    const sock = track(openSocket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE));
    expect(() => sock.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 1)).not.toThrow();
    // Raw bytes are passed through as-is (a 4-byte native int here).
    const one = Buffer.alloc(4);
    one.writeInt32LE(1, 0);
    expect(() => sock.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, one)).not.toThrow();

    const error = errnoError(() => sock.setsockopt(4242, 1, 1));
    expect(error.syscall).toBe('setsockopt');
    expect(error.code).toBe('ENOPROTOOPT');
    expect(error.errno).toBe(92);
    sock.close();
  });

  it('rejects arguments of the wrong type with a TypeError', () => {
    const sock = track(openSocket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE));
    expect(() => sock.bind('x' as unknown as Uint8Array)).toThrow(TypeError);
    expect(() => sock.send([1, 2, 3] as unknown as Uint8Array)).toThrow(TypeError);
    expect(() => sock.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 'x' as unknown as number)).toThrow(TypeError);
    expect(() => sock.start(undefined as never, () => {})).toThrow(TypeError);
    sock.close();
  });

  it('bind failures carry errno, code and syscall', () => {
    const sock = track(openSocket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE));
    const bad = sockaddrNl();
    bad.writeUInt16LE(AF_UNIX, 0); // wrong family for a netlink socket
    const error = errnoError(() => sock.bind(bad));
    expect(error.syscall).toBe('bind');
    expect(error.code).toBe('EINVAL');
    sock.close();
  });
});

describe('native socket bridge: open errors', () => {
  it('a bogus protocol throws from socket()', () => {
    const error = errnoError(() => openSocket(AF_NETLINK, SOCK_RAW, 4095));
    expect(error.syscall).toBe('socket');
    expect(error.code).toBe('EPROTONOSUPPORT');
    expect(error.errno).toBe(93);
    expect(error.message).toMatch(/^socket\(16, 3, 4095\): EPROTONOSUPPORT \(/);
  });

  it('a bogus address family throws from socket()', () => {
    const error = errnoError(() => openSocket(4095, SOCK_RAW, 0));
    expect(error.syscall).toBe('socket');
    expect(error.code).toBe('EAFNOSUPPORT');
  });

  it('a missing netns path throws ENOENT from open()', () => {
    const path = `/run/netns/ipvs-ts-does-not-exist-${randomBytes(4).toString('hex')}`;
    const error = errnoError(() => openSocket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE, { netns: path }));
    expect(error.code).toBe('ENOENT');
    expect(error.errno).toBe(2);
    expect(error.syscall).toBe('open');
    expect(error.message).toBe(`open(${path}): ENOENT (No such file or directory)`);
    expect((error as { path?: string }).path).toBe(path);
  });

  it('a file that is not a network namespace throws EINVAL from setns()', () => {
    const error = errnoError(() => openSocket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE, { netns: '/proc/self/ns/uts' }));
    expect(error.code).toBe('EINVAL');
    expect(error.syscall).toBe('setns');
    expect(error.message).toMatch(/^setns\(\/proc\/self\/ns\/uts\): EINVAL \(/);
  });
});

describe.skipIf(!isRoot)('native socket bridge: network namespaces', () => {
  const nsName = `ipvs-ts-native-${randomBytes(4).toString('hex')}`;
  const nsPath = `/run/netns/${nsName}`;
  const ifName = 'dummy-ipvsts';
  let created = false;

  beforeAll(() => {
    execFileSync('ip', ['netns', 'add', nsName]);
    created = true;
    // Prefer a dummy link; kernels built without CONFIG_DUMMY get a bridge instead.
    const failures: string[] = [];
    for (const kind of ['dummy', 'bridge', 'ifb']) {
      try {
        execFileSync('ip', ['-n', nsName, 'link', 'add', ifName, 'type', kind], { stdio: 'pipe' });
        return;
      } catch (e) {
        failures.push(`${kind}: ${String((e as { stderr?: Buffer }).stderr ?? e).trim()}`);
      }
    }
    throw new Error(`could not create a test interface in ${nsName}: ${failures.join('; ')}`);
  });

  afterAll(() => {
    if (created) execFileSync('ip', ['netns', 'delete', nsName]);
  });

  it('creates the socket inside the namespace without moving the Node.js thread', async () => {
    const selfNs = readlinkSync('/proc/self/ns/net');
    const threadNs = readlinkSync('/proc/thread-self/ns/net');
    expect(statSync(nsPath).ino).not.toBe(statSync('/proc/self/ns/net').ino); // it really differs

    const inside = track(openSocket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE, { netns: nsPath }));
    expect(readlinkSync('/proc/self/ns/net')).toBe(selfNs);
    expect(readlinkSync('/proc/thread-self/ns/net')).toBe(threadNs);

    const outside = track(openSocket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE));
    const [insideNames, outsideNames] = await Promise.all([dumpLinkNames(inside, 7), dumpLinkNames(outside, 8)]);
    expect(insideNames).toContain(ifName);
    expect(insideNames).toContain('lo');
    expect(outsideNames).not.toContain(ifName);
    expect(outsideNames).toContain('lo');

    expect(readlinkSync('/proc/self/ns/net')).toBe(selfNs);
    expect(readlinkSync('/proc/thread-self/ns/net')).toBe(threadNs);
    inside.close();
    outside.close();
  });

  it('does not leak descriptors when opening in a namespace', () => {
    const before = fdCount();
    for (let i = 0; i < 50; i++) openSocket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE, { netns: nsPath }).close();
    expect(fdCount()).toBe(before);
  });
});

describe('native socket bridge: lifecycle', () => {
  it('close() is idempotent, fd becomes -1, and later calls throw EBADF', () => {
    const before = fdCount();
    const sock = openSocket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
    expect(sock.fd).toBeGreaterThanOrEqual(0);
    expect(fdCount()).toBe(before + 1);
    sock.start(
      () => {},
      () => {},
    );
    sock.close();
    expect(sock.fd).toBe(-1);
    expect(() => sock.close()).not.toThrow();
    expect(sock.fd).toBe(-1);
    expect(fdCount()).toBe(before);

    const sendError = errnoError(() => sock.send(getLinkRequest(1, NLM_F_REQUEST | NLM_F_DUMP)));
    expect(sendError.code).toBe('EBADF');
    expect(sendError.errno).toBe(9);
    expect(sendError.syscall).toBe('sendto');
    expect(errnoError(() => sock.bind(sockaddrNl())).code).toBe('EBADF');
    expect(errnoError(() => sock.getsockname()).code).toBe('EBADF');
    expect(errnoError(() => sock.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 1)).code).toBe('EBADF');
    expect(
      errnoError(() =>
        sock.start(
          () => {},
          () => {},
        ),
      ).code,
    ).toBe('EBADF');
    // ref/unref on a closed socket are harmless no-ops.
    expect(() => sock.ref()).not.toThrow();
    expect(() => sock.unref()).not.toThrow();
  });

  it('start() twice throws', () => {
    const sock = track(openSocket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE));
    sock.start(
      () => {},
      () => {},
    );
    expect(() =>
      sock.start(
        () => {},
        () => {},
      ),
    ).toThrow(/already/);
    sock.close();
  });

  it('close() from inside onData stops delivery', async () => {
    const sock = openSocket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
    sock.setsockopt(SOL_SOCKET, SO_RCVBUFFORCE, 4 << 20);
    let calls = 0;
    // Many replies are queued; the first onData call closes the socket.
    const requests = Buffer.concat(Array.from({ length: 100 }, (_, i) => getLinkRequest(i + 1, NLM_F_REQUEST, 1)));
    sock.send(requests);
    sock.start(
      () => {
        calls++;
        sock.close();
      },
      () => {},
    );
    await new Promise((r) => setTimeout(r, 100));
    expect(calls).toBe(1);
    expect(sock.fd).toBe(-1);
  });

  it('does not leak descriptors across 100 open/start/close cycles', async () => {
    const before = fdCount();
    for (let i = 0; i < 100; i++) {
      const sock = openSocket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
      sock.bind(sockaddrNl());
      if (i % 2 === 0) {
        sock.start(
          () => {},
          () => {},
        );
      }
      sock.close();
    }
    expect(fdCount()).toBe(before);
    // The poll handles are freed by their uv_close callbacks: let the loop run them.
    await new Promise((r) => setImmediate(r));
    expect(fdCount()).toBe(before);
  });

  it('unref() lets the process exit while polling', () => {
    const out = runChild(
      `const s = addon.open(16, 3, 0);
       s.start(() => {}, () => {});
       s.unref();
       process.on('exit', () => console.log('exited-by-itself fd=' + (s.fd >= 0)));`,
      5000,
    );
    expect(out).toContain('exited-by-itself fd=true');
  });

  it('a started, referenced socket keeps the process alive (ref() undoes unref())', () => {
    let error: unknown;
    try {
      runChild(
        `const s = addon.open(16, 3, 0);
         s.unref();
         s.start(() => {}, () => {});
         s.ref();
         console.log('started');`,
        1000,
      );
    } catch (e) {
      error = e;
    }
    expect(error).toBeDefined();
    expect((error as { code?: string }).code).toBe('ETIMEDOUT');
    expect(String((error as { stdout?: string }).stdout)).toContain('started');
  });

  it('an exception thrown by onData becomes an uncaught exception', () => {
    const out = runChild(
      `const s = addon.open(16, 3, 0);
       const req = Buffer.alloc(32);
       req.writeUInt32LE(32, 0); req.writeUInt16LE(18, 4); req.writeUInt16LE(0x301, 6); req.writeUInt32LE(1, 8);
       process.on('uncaughtException', (e) => { console.log('caught: ' + e.message); s.close(); });
       s.start(() => {
         Promise.resolve().then(() => console.log('microtask ran'));
         throw new Error('boom from onData');
       }, () => {});
       s.send(req);`,
      5000,
    );
    expect(out).toContain('caught: boom from onData');
    expect(out).toContain('microtask ran');
  });

  it('without an uncaughtException listener, a throwing callback fails the process', () => {
    let error: { status?: number; stderr?: string } | undefined;
    try {
      runChild(
        `const s = addon.open(16, 3, 0);
         const req = Buffer.alloc(32);
         req.writeUInt32LE(32, 0); req.writeUInt16LE(18, 4); req.writeUInt16LE(0x301, 6); req.writeUInt32LE(1, 8);
         s.start(() => { throw new Error('unhandled boom'); }, () => {});
         s.send(req);`,
        5000,
      );
    } catch (e) {
      error = e as typeof error;
    }
    expect(error?.status).toBe(1);
    expect(error?.stderr).toContain('unhandled boom');
  });

  it('garbage-collected sockets that were never closed release their descriptors', () => {
    const out = runChild(
      `const fs = require('fs');
       const count = () => fs.readdirSync('/proc/self/fd').length;
       const before = count();
       (() => { for (let i = 0; i < 50; i++) addon.open(16, 3, 0); })();
       const during = count();
       global.gc();
       setImmediate(() => setImmediate(() => {
         global.gc();
         setTimeout(() => console.log(JSON.stringify({ before, during, after: count() })), 50);
       }));`,
      10_000,
      ['--expose-gc'],
    );
    const { before, during, after } = JSON.parse(out.trim()) as Record<string, number>;
    expect(during).toBe(before + 50);
    expect(after).toBe(before);
  });

  it('sockets of a worker thread are closed when the worker exits', () => {
    const out = runChild(
      `const { Worker } = require('worker_threads');
       const fs = require('fs');
       const count = () => fs.readdirSync('/proc/self/fd').length;
       const code = 'const a = require(' + JSON.stringify(${JSON.stringify(ADDON_PATH)}) + ');' +
         'for (let i = 0; i < 5; i++) a.open(16, 3, 0).start(() => {}, () => {});' +
         'a.open(16, 3, 0);' +
         'require("worker_threads").parentPort.postMessage("ready");';
       const run = (src) => new Promise((resolve) => {
         const w = new Worker(src, { eval: true });
         w.on('message', () => w.terminate());
         w.on('exit', () => setTimeout(resolve, 50));
       });
       (async () => {
         await run('require("worker_threads").parentPort.postMessage("ready")'); // warm-up
         const before = count();
         for (let i = 0; i < 5; i++) await run(code);
         console.log(JSON.stringify({ before, after: count() }));
       })();`,
      10_000,
    );
    const { before, after } = JSON.parse(out.trim()) as Record<string, number>;
    expect(after).toBe(before);
  });
});

describe('native socket bridge: receive path', () => {
  it('receives all 200 replies to 200 requests sent in one send()', async () => {
    const sock = track(openSocket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE));
    // The kernel answers all 200 requests inside sendto(); make room for every reply.
    sock.setsockopt(SOL_SOCKET, SO_RCVBUFFORCE, 8 << 20);
    const count = 200;
    const requests = Buffer.concat(Array.from({ length: count }, (_, i) => getLinkRequest(i + 1, NLM_F_REQUEST, 1)));
    expect(requests.length).toBe(count * 32);

    const seen = new Set<number>();
    let onDataCalls = 0;
    let maxBatch = 0;
    const errors: unknown[] = [];
    const done = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${seen.size} replies`)), 5000);
      sock.start(
        (datagrams) => {
          onDataCalls++;
          expect(datagrams.length).toBeGreaterThan(0); // no empty batches
          maxBatch = Math.max(maxBatch, datagrams.length);
          for (const d of datagrams) {
            for (const msg of parseMessages(d)) {
              expect(msg.type).toBe(RTM_NEWLINK);
              expect(linkName(msg.payload)).toBe('lo');
              seen.add(msg.seq);
            }
          }
          if (seen.size === count) {
            clearTimeout(timer);
            resolve();
          }
        },
        (e) => errors.push(e),
      );
    });
    expect(sock.send(requests)).toBe(requests.length);
    await done;
    expect(errors).toEqual([]);
    expect([...seen].sort((a, b) => a - b)).toEqual(Array.from({ length: count }, (_, i) => i + 1));
    expect(onDataCalls).toBeGreaterThanOrEqual(Math.ceil(count / 64)); // per-wakeup budget of 64
    expect(maxBatch).toBeLessThanOrEqual(64);
    sock.close();
  });

  it('receive() reads what the kernel queued, also on a socket that was never started', () => {
    const sock = track(openSocket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE));
    expect(sock.receive!()).toEqual([]); // nothing queued: EAGAIN is an empty array
    sock.send(Buffer.concat([getLinkRequest(1, NLM_F_REQUEST, 1), getLinkRequest(2, NLM_F_REQUEST, 1)]));
    const first = sock.receive!(1);
    expect(first).toHaveLength(1);
    const rest = sock.receive!();
    const messages = [...first, ...rest].flatMap((d) => parseMessages(d));
    expect(messages.map((m) => [m.type, m.seq])).toEqual([[RTM_NEWLINK, 1], [RTM_NEWLINK, 2]]);
    expect(linkName(messages[0]!.payload)).toBe('lo');
    sock.close();
  });

  it('receiveInto() reads one datagram into the given buffer, -1 when none is queued, EMSGSIZE when it does not fit', () => {
    const sock = track(openSocket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE));
    const buffer = Buffer.alloc(64 * 1024);
    expect(sock.receiveInto!(buffer)).toBe(-1);
    sock.send(Buffer.concat([getLinkRequest(1, NLM_F_REQUEST, 1), getLinkRequest(2, NLM_F_REQUEST, 1)]));
    const seqs: number[] = [];
    for (let n = sock.receiveInto!(buffer); n >= 0; n = sock.receiveInto!(buffer)) {
      for (const m of parseMessages(buffer.subarray(0, n))) {
        expect(m.type).toBe(RTM_NEWLINK);
        expect(linkName(m.payload)).toBe('lo');
        seqs.push(m.seq);
      }
    }
    expect(seqs).toEqual([1, 2]);
    // Too small a buffer: the datagram is lost and reported.
    sock.send(getLinkRequest(3, NLM_F_REQUEST, 1));
    expect(() => sock.receiveInto!(Buffer.alloc(16))).toThrow(expect.objectContaining({ code: 'EMSGSIZE', syscall: 'recvmsg' }));
    expect(sock.receiveInto!(buffer)).toBe(-1);
    expect(() => sock.receiveInto!('nope' as unknown as Uint8Array)).toThrow(TypeError);
    expect(() => sock.receiveInto!(new Uint16Array(8) as unknown as Uint8Array)).toThrow(TypeError);
    sock.close();
    expect(() => sock.receiveInto!(buffer)).toThrow(expect.objectContaining({ code: 'EBADF' }));
  });

  it('reports a receive-queue overrun as ENOBUFS and keeps receiving', async () => {
    const sock = track(openSocket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE));
    sock.setsockopt(SOL_SOCKET, SO_RCVBUFFORCE, 4096); // room for only a few replies
    sock.send(Buffer.concat(Array.from({ length: 50 }, (_, i) => getLinkRequest(i + 1, NLM_F_REQUEST, 1))));

    const events: string[] = [];
    let errorSeen: NodeJS.ErrnoException | undefined;
    const gotReplyAfterError = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`events: ${events.join(',')}`)), 5000);
      sock.start(
        (datagrams) => {
          for (const d of datagrams) {
            for (const msg of parseMessages(d)) {
              events.push(`data:${msg.seq}`);
              if (msg.seq === 1000) {
                clearTimeout(timer);
                resolve();
              }
            }
          }
        },
        (error) => {
          events.push(`error:${error.code}`);
          errorSeen = error;
          // Polling continues after the error: once the queued replies are drained
          // (which clears the kernel's congestion state), a new request is answered.
          setTimeout(() => sock.send(getLinkRequest(1000, NLM_F_REQUEST, 1)), 100);
        },
      );
    });
    await gotReplyAfterError;
    expect(errorSeen).toBeInstanceOf(Error);
    expect(errorSeen?.code).toBe('ENOBUFS');
    expect(errorSeen?.errno).toBe(105);
    expect(errorSeen?.syscall).toBe('recvmsg');
    expect(events).toContain('data:1000');
    sock.close();
  });

  it('reports datagrams larger than 64 KiB as EMSGSIZE, in order, and goes on (AF_UNIX)', async () => {
    // The bridge is protocol-agnostic: an abstract AF_UNIX datagram socket works too.
    const name = `ipvs-ts-native-${randomBytes(6).toString('hex')}`;
    const address = Buffer.alloc(2 + 1 + name.length);
    address.writeUInt16LE(AF_UNIX, 0);
    address.write(name, 3, 'latin1'); // sun_path[0] = 0: abstract namespace

    const receiver = track(openSocket(AF_UNIX, SOCK_DGRAM, 0));
    receiver.bind(address);
    expect(receiver.getsockname().equals(address)).toBe(true);
    const sender = track(openSocket(AF_UNIX, SOCK_DGRAM, 0));
    sender.setsockopt(SOL_SOCKET, 32 /* SO_SNDBUFFORCE */, 1 << 20);

    const big = Buffer.alloc(70_000, 0xab);
    expect(sender.send(Buffer.from('first'), address)).toBe(5);
    expect(sender.send(big, address)).toBe(big.length);
    expect(sender.send(Buffer.from('last'), address)).toBe(4);
    const exact = Buffer.alloc(65_536, 0xcd); // exactly the buffer size is not truncated
    expect(sender.send(exact, address)).toBe(exact.length);

    const events: string[] = [];
    let sizeError: NodeJS.ErrnoException | undefined;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`events: ${events.join(',')}`)), 5000);
      receiver.start(
        (datagrams) => {
          for (const d of datagrams) {
            events.push(d.length > 100 ? `data:${d.length}` : `data:${d.toString()}`);
            if (d.length === exact.length) {
              expect(d.equals(exact)).toBe(true);
              clearTimeout(timer);
              resolve();
            }
          }
        },
        (error) => {
          events.push(`error:${error.code}`);
          sizeError = error;
        },
      );
    });
    expect(events).toEqual(['data:first', 'error:EMSGSIZE', 'data:last', `data:${exact.length}`]);
    expect(sizeError?.errno).toBe(90);
    expect(sizeError?.syscall).toBe('recvmsg');
    expect(sizeError?.message).toContain('70000');
    receiver.close();
    sender.close();
  });

  it('send() with an explicit destination address and EAGAIN surfaced as an error', () => {
    const sock = track(openSocket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE));
    const request = getLinkRequest(1, NLM_F_REQUEST, 1);
    expect(sock.send(request, sockaddrNl(0))).toBe(request.length);

    // A non-blocking AF_UNIX sender towards a full receiver: EAGAIN is thrown, not retried.
    const name = `ipvs-ts-native-${randomBytes(6).toString('hex')}`;
    const address = Buffer.alloc(3 + name.length);
    address.writeUInt16LE(AF_UNIX, 0);
    address.write(name, 3, 'latin1');
    const receiver = track(openSocket(AF_UNIX, SOCK_DGRAM, 0));
    receiver.bind(address);
    const sender = track(openSocket(AF_UNIX, SOCK_DGRAM, 0));
    let error: NodeJS.ErrnoException | undefined;
    for (let i = 0; i < 10_000 && !error; i++) {
      try {
        sender.send(Buffer.alloc(1024), address);
      } catch (e) {
        error = e as NodeJS.ErrnoException;
      }
    }
    expect(error?.code).toBe('EAGAIN');
    expect(error?.errno).toBe(11);
    expect(error?.syscall).toBe('sendto');
    receiver.close();
    sender.close();
    sock.close();
  });
});
