/**
 * Opening a netlink socket for a connection (Conn): the native factory, and
 * the buffer sizes, extended ACKs and bind every socket gets before use.
 * @module
 */
import { openSocket, type NativeSocket } from './binding.js';
import {
  AF_NETLINK,
  HOST_LITTLE_ENDIAN as LE,
  NETLINK_CAP_ACK,
  NETLINK_EXT_ACK,
  SOCK_RAW,
  SOL_NETLINK,
  SOL_SOCKET,
  SO_RCVBUF,
  SO_RCVBUFFORCE,
  SO_SNDBUF,
  SO_SNDBUFFORCE,
} from './constants.js';
import type { SocketFactory } from './conn-types.js';

/** The real socket factory: AF_NETLINK / SOCK_RAW through the native addon. */
export const nativeSocketFactory: SocketFactory = (protocol, netns) =>
  openSocket(AF_NETLINK, SOCK_RAW, protocol, netns === undefined ? {} : { netns });

/**
 * Size a fresh socket's buffers, ask for extended and capped ACKs, and bind
 * it; returns the port id the kernel assigned.
 */
export function setUpSocket(s: NativeSocket, receiveBufferBytes: number, sendBufferBytes: number): number {
  setBuffer(s, SO_RCVBUFFORCE, SO_RCVBUF, receiveBufferBytes);
  setBuffer(s, SO_SNDBUFFORCE, SO_SNDBUF, sendBufferBytes);
  s.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 1);
  s.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1);
  const addr = Buffer.alloc(12);
  addr.writeUInt16LE(AF_NETLINK, 0);
  if (!LE) addr.writeUInt16BE(AF_NETLINK, 0);
  s.bind(addr);
  const bound = s.getsockname();
  return LE ? bound.readUInt32LE(4) : bound.readUInt32BE(4);
}

function setBuffer(s: NativeSocket, force: number, plain: number, bytes: number): void {
  try {
    s.setsockopt(SOL_SOCKET, force, bytes);
  } catch {
    // Without CAP_NET_ADMIN the kernel caps the size at net.core.[rw]mem_max.
    s.setsockopt(SOL_SOCKET, plain, bytes);
  }
}
