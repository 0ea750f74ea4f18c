/**
 * Sockets for probes, in the caller's network namespace or in another one.
 *
 * The Node.js main thread never changes namespace. A TCP socket for another
 * namespace is created there by the native addon (on a short-lived thread) and
 * its descriptor handed to `node:net`, which wraps it; from then on it is an
 * ordinary `net.Socket` (TLS and HTTP run over it). UDP in another namespace
 * uses the addon's datagram socket directly, since `node:dgram` cannot wrap a
 * descriptor. Without a namespace, plain `node:net` and `node:dgram` are used.
 *
 * A bare TCP connect (the TCP check) skips `node:net` altogether: the addon's
 * connector starts it (in the namespace, bound to the source, when asked) and
 * reports its outcome through one epoll descriptor shared by every connect of
 * the process, with no stream objects in between ({@link startTcpConnect}).
 * @module
 */
import dgram from 'node:dgram';
import { closeSync } from 'node:fs';
import net from 'node:net';
import { constants as osConstants } from 'node:os';
import { addressFamily, addressToBytes } from '../ipvs/address.js';
import { createConnector, openSocket, openSocketFd, type NativeConnector, type NativeSocket } from '../netlink/binding.js';

const AF_INET = 2;
const AF_INET6 = 10;
const SOCK_STREAM = 1;
const SOCK_DGRAM = 2;

/** Where and how a probe's socket is made. */
export interface SocketPlace {
  /** Network namespace file (`/run/netns/NAME`, `/proc/PID/ns/net`). */
  netns?: string;
  /** Local address to bind. */
  source?: string;
}

/**
 * Start a TCP connection to `address:port`; the returned socket emits
 * `'connect'` or `'error'` as `net.connect`'s does.
 */
export function connectTcp(address: string, port: number, place: SocketPlace): net.Socket {
  // No TCP_NODELAY: probes send one small request each, and the option costs a system call per check.
  const opts: net.TcpNetConnectOpts = { host: address, port };
  if (place.source !== undefined) opts.localAddress = place.source;
  if (place.netns === undefined) return net.connect(opts);
  const v6 = addressFamily(address) === 'ipv6';
  const fd = openSocketFd(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0, { netns: place.netns });
  let socket: net.Socket;
  try {
    socket = new net.Socket({ fd, readable: true, writable: true });
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  return socket.connect(opts);
}

/** A raw socket address (struct sockaddr_in / sockaddr_in6) for the addon. */
export function sockaddr(address: string, port: number): Uint8Array {
  const family = addressFamily(address);
  if (family === 'ipv6') {
    const b = Buffer.alloc(28);
    b.writeUInt16LE(AF_INET6, 0);
    b.writeUInt16BE(port, 2);
    b.set(addressToBytes(address, 'ipv6'), 8);
    return b;
  }
  const b = Buffer.alloc(16);
  b.writeUInt16LE(AF_INET, 0);
  b.writeUInt16BE(port, 2);
  b.set(addressToBytes(address, 'ipv4').subarray(0, 4), 4);
  return b;
}

/** One UDP exchange's socket: send to the target, hear replies and errors. */
export interface DatagramChannel {
  send(data: Uint8Array): void;
  close(): void;
}

/** Callbacks of a {@link DatagramChannel}. */
export interface DatagramHandlers {
  onMessage(data: Buffer): void;
  /** A socket error, e.g. ECONNREFUSED after an ICMP port unreachable. */
  onError(error: NodeJS.ErrnoException): void;
}

/**
 * Open a UDP socket towards `address:port`. Without a namespace it is a
 * connected `node:dgram` socket (so an ICMP port unreachable surfaces as
 * ECONNREFUSED). In a namespace it is the addon's socket: replies are heard,
 * unreachables are not (the probe then waits for its timeout).
 */
export async function openDatagram(address: string, port: number, place: SocketPlace, handlers: DatagramHandlers): Promise<DatagramChannel> {
  const v6 = addressFamily(address) === 'ipv6';
  if (place.netns === undefined) {
    const socket = dgram.createSocket(v6 ? 'udp6' : 'udp4');
    socket.on('message', (m) => handlers.onMessage(m));
    socket.on('error', (e) => handlers.onError(e));
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ port: 0, ...(place.source !== undefined ? { address: place.source } : {}) }, () => {
        socket.connect(port, address, () => {
          socket.off('error', reject);
          resolve();
        });
      });
    });
    let closed = false;
    return {
      send: (data) => socket.send(data),
      close: () => {
        if (closed) return;
        closed = true;
        socket.close();
      },
    };
  }
  const socket: NativeSocket = openSocket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM, 0, { netns: place.netns });
  try {
    if (place.source !== undefined) socket.bind(sockaddr(place.source, 0));
    socket.start(
      (datagrams) => {
        for (const d of datagrams) handlers.onMessage(d);
      },
      (e) => handlers.onError(e),
    );
  } catch (e) {
    socket.close();
    throw e;
  }
  const to = sockaddr(address, port);
  return {
    send: (data) => void socket.send(data, to),
    close: () => socket.close(),
  };
}

/** Completions of the process's connector: pairs (id, errno or 0). */
const connectResults = new Int32Array(512);
/** The process's connector; null when the addon has none (then `node:net` is used). */
let connector: NativeConnector | null | undefined;

/** A connect in flight: its callback and, for cancelling, its descriptor. */
interface PendingConnect {
  fd: number;
  onDone: (error: string | undefined) => void;
}
const pendingConnects = new Map<number, PendingConnect>();
let nextConnectId = 0;

/** errno number → code ('ECONNREFUSED'), from Node's own table. */
const errnoCodes = new Map<number, string>(Object.entries(osConstants.errno).map(([code, n]) => [n, code]));

function onConnectResults(count: number): void {
  for (let i = 0; i < count; i++) {
    const id = connectResults[2 * i]!;
    const err = connectResults[2 * i + 1]!;
    const p = pendingConnects.get(id);
    if (p === undefined) continue;
    pendingConnects.delete(id);
    p.onDone(err === 0 ? undefined : (errnoCodes.get(err) ?? `errno ${err}`));
  }
}

function getConnector(): NativeConnector | null {
  if (connector === undefined) connector = createConnector(connectResults, onConnectResults) ?? null;
  return connector;
}

/** Raw socket addresses of connect targets, by address then port (a checker connects to the same ones every interval). */
const sockaddrCache = new Map<string, Map<number, Uint8Array>>();
const SOCKADDR_CACHE_LIMIT = 65_536;

function cachedSockaddr(address: string, port: number): Uint8Array {
  let byPort = sockaddrCache.get(address);
  if (byPort === undefined) {
    if (sockaddrCache.size >= SOCKADDR_CACHE_LIMIT) sockaddrCache.clear();
    byPort = new Map();
    sockaddrCache.set(address, byPort);
  }
  let raw = byPort.get(port);
  if (raw === undefined) {
    raw = sockaddr(address, port);
    byPort.set(port, raw);
  }
  return raw;
}

/** A TCP connect started by {@link startTcpConnect}; `cancel()` closes it if still in flight. */
export interface TcpConnectHandle {
  cancel(): void;
}

/**
 * Start a bare TCP connect to `address:port` (in `place.netns`, bound to
 * `place.source`, when given) and call `onDone(undefined)` once it is
 * established, or `onDone('ECONNREFUSED')` (an errno code) when it fails; the
 * socket is then closed at once (a normal close). `cancel()` before that
 * closes it and `onDone` is never called. Uses the addon's connector (one
 * epoll descriptor for all connects, no `net.Socket`), else `node:net`. May
 * throw for a connect that fails at once (no route, source not local).
 */
export function startTcpConnect(address: string, port: number, place: SocketPlace, onDone: (error: string | undefined) => void): TcpConnectHandle {
  const c = getConnector();
  if (c === null) {
    const socket = connectTcp(address, port, place);
    let over = false;
    const finish = (error: string | undefined): void => {
      if (over) return;
      over = true;
      socket.destroy();
      onDone(error);
    };
    socket.once('connect', () => finish(undefined));
    socket.on('error', (e: NodeJS.ErrnoException) => finish(e.code ?? e.message));
    return { cancel: () => void ((over = true), socket.destroy()) };
  }
  const id = nextConnectId;
  nextConnectId = nextConnectId >= 0x7fff_ffff ? 0 : nextConnectId + 1;
  const source = place.source !== undefined ? cachedSockaddr(place.source, 0) : null;
  const pending: PendingConnect = { fd: c.connect(id, cachedSockaddr(address, port), source, place.netns ?? null), onDone };
  pendingConnects.set(id, pending);
  return {
    cancel: () => {
      if (pendingConnects.get(id) !== pending) return;
      pendingConnects.delete(id);
      c.cancel(pending.fd);
    },
  };
}
