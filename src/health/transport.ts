/**
 * Sockets for probes, in the caller's network namespace or in another one.
 *
 * The Node.js main thread never changes namespace. A TCP socket for another
 * namespace is created there by the native addon (on a short-lived thread) and
 * its descriptor handed to `node:net`, which wraps it; from then on it is an
 * ordinary `net.Socket` (TLS and HTTP run over it). UDP in another namespace
 * uses the addon's datagram socket directly, since `node:dgram` cannot wrap a
 * descriptor. Without a namespace, plain `node:net` and `node:dgram` are used.
 * @module
 */
import dgram from 'node:dgram';
import { closeSync } from 'node:fs';
import net from 'node:net';
import { addressFamily, addressToBytes } from '../ipvs/address.js';
import { openSocket, openSocketFd, type NativeSocket } from '../netlink/binding.js';

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
