/**
 * Announcing that an address moved to this host: gratuitous ARP for IPv4 and
 * unsolicited neighbour advertisement for IPv6, as keepalived and heartbeat's
 * IPaddr2 send on takeover, so neighbours update their caches at once.
 *
 * - IPv4: an ARP request (RFC 5227 "ARP announcement") with sender IP = target
 *   IP = the address, sender MAC = the interface's MAC, target MAC zero, to the
 *   Ethernet broadcast address. Sent on an AF_PACKET/SOCK_DGRAM socket: the
 *   kernel adds the Ethernet header from the sockaddr_ll (destination
 *   ff:ff:ff:ff:ff:ff, EtherType 0x0806, source = the interface's MAC).
 * - IPv6: an ICMPv6 Neighbor Advertisement (RFC 4861 §7.2.6, type 136) with
 *   the Override flag, target = the address and a Target Link-Layer Address
 *   option, to ff02::1 with hop limit 255. Sent on a raw ICMPv6 socket: the
 *   kernel builds the IPv6 header (source: the interface's preferred link-local
 *   address) and computes the ICMPv6 checksum.
 * @module
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { AbortError, InvalidArgumentError, NetlinkError } from '../errors.js';
import { openSocket, type NativeSocket } from '../netlink/binding.js';
import { Conn } from '../netlink/conn.js';
import { HOST_LITTLE_ENDIAN as LE, NETLINK_ROUTE, SOCK_DGRAM, SOCK_RAW } from '../netlink/constants.js';
import { AF_INET6, AF_PACKET, ARPHRD_ETHER, checkInterfaceName, formatMac, getLink, parsePrefix, type Link } from './rtnetlink.js';
import { Sysctl } from './sysctl.js';

/** EtherType of ARP (include/uapi/linux/if_ether.h). */
export const ETH_P_ARP = 0x0806;
/** ARP opcode "request" (include/uapi/linux/if_arp.h). */
export const ARPOP_REQUEST = 1;
/** Socket option level of IPv6 options (include/uapi/linux/in.h). */
export const IPPROTO_IPV6 = 41;
/** ICMPv6 protocol number, also its socket option level (include/uapi/linux/in.h). */
export const IPPROTO_ICMPV6 = 58;
/** Outgoing interface of multicast packets, an ifindex (include/uapi/linux/in6.h). */
export const IPV6_MULTICAST_IF = 17;
/** Hop limit of multicast packets (include/uapi/linux/in6.h). */
export const IPV6_MULTICAST_HOPS = 18;
/** Whether multicast packets loop back to the sender (include/uapi/linux/in6.h). */
export const IPV6_MULTICAST_LOOP = 19;
/** Per-type input filter of raw ICMPv6 sockets; a set bit blocks the type (include/uapi/linux/icmpv6.h). */
export const ICMPV6_FILTER = 1;
/** ICMPv6 type of a Neighbor Advertisement (RFC 4861 §4.4; include/net/ndisc.h). */
export const NDISC_NEIGHBOUR_ADVERTISEMENT = 136;
/** Neighbour discovery option "Target Link-Layer Address" (RFC 4861 §4.6.1). */
export const ND_OPT_TARGET_LL_ADDR = 2;
/** NA flag R: the sender is a router (RFC 4861 §4.4). */
export const ND_NA_FLAG_ROUTER = 0x80000000;
/** NA flag S: sent in response to a solicitation (RFC 4861 §4.4). */
export const ND_NA_FLAG_SOLICITED = 0x40000000;
/** NA flag O: override an existing cache entry (RFC 4861 §4.4). */
export const ND_NA_FLAG_OVERRIDE = 0x20000000;

const BROADCAST_MAC = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
/** ff02::1, all nodes on the link. */
const ALL_NODES = new Uint8Array([0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);

/** Options of {@link announce}. */
export interface AnnounceOptions {
  /** Interface to send on (an Ethernet-type interface that is up: a NIC, veth, bond, VLAN, ...). */
  interface: string;
  /** The address to announce (`ADDR`, or `ADDR/PREFIX` — the prefix is ignored). */
  address: string;
  /** Packets to send (default 5, at most 1000). */
  count?: number;
  /** Milliseconds between packets (default 1000). */
  intervalMs?: number;
  /** Network namespace file to send from (`/run/netns/NAME`, `/proc/PID/ns/net`). */
  netns?: string;
  /**
   * IPv6: set the Router flag. Default: whether the interface forwards IPv6
   * (`net.ipv6.conf.<if>.forwarding`), as RFC 4861 asks. Ignored for IPv4.
   */
  router?: boolean;
  /** Stops sending; the promise then rejects with AbortError. */
  signal?: AbortSignal;
}

/**
 * The 28-byte ARP packet of a gratuitous ARP (RFC 826 layout, RFC 5227 §2.3
 * announcement): htype 1 (Ethernet), ptype 0x0800, hlen 6, plen 4, op 1
 * (request), sender = `mac`/`ipv4`, target MAC zero, target IP = `ipv4`.
 */
export function buildGratuitousArp(mac: Uint8Array, ipv4: Uint8Array): Uint8Array {
  if (mac.length !== 6) throw new InvalidArgumentError('mac', `must be 6 bytes, got ${mac.length}`);
  if (ipv4.length !== 4) throw new InvalidArgumentError('address', `must be 4 bytes, got ${ipv4.length}`);
  const b = new Uint8Array(28);
  const v = new DataView(b.buffer);
  v.setUint16(0, 1, false); // ar_hrd: ARPHRD_ETHER
  v.setUint16(2, 0x0800, false); // ar_pro: ETH_P_IP
  b[4] = 6; // ar_hln
  b[5] = 4; // ar_pln
  v.setUint16(6, ARPOP_REQUEST, false); // ar_op
  b.set(mac, 8); // sender hardware address
  b.set(ipv4, 14); // sender protocol address
  // 18..23: target hardware address, zero
  b.set(ipv4, 24); // target protocol address
  return b;
}

/**
 * The 32-byte ICMPv6 Neighbor Advertisement (RFC 4861 §4.4): type 136, code 0,
 * checksum 0 (the kernel fills it in on a raw ICMPv6 socket), flags (Override,
 * plus Router when `router`), target address, then option 2 (Target
 * Link-Layer Address, length 1 = 8 bytes) with `mac`.
 */
export function buildUnsolicitedNa(mac: Uint8Array, target: Uint8Array, router = false): Uint8Array {
  if (mac.length !== 6) throw new InvalidArgumentError('mac', `must be 6 bytes, got ${mac.length}`);
  if (target.length !== 16) throw new InvalidArgumentError('address', `must be 16 bytes, got ${target.length}`);
  const b = new Uint8Array(32);
  const v = new DataView(b.buffer);
  b[0] = NDISC_NEIGHBOUR_ADVERTISEMENT;
  b[1] = 0;
  // 2..3 checksum: computed by the kernel
  v.setUint32(4, (ND_NA_FLAG_OVERRIDE | (router ? ND_NA_FLAG_ROUTER : 0)) >>> 0, false);
  b.set(target, 8);
  b[24] = ND_OPT_TARGET_LL_ADDR;
  b[25] = 1; // length in units of 8 bytes
  b.set(mac, 26);
  return b;
}

/**
 * struct sockaddr_ll (20 bytes, include/uapi/linux/if_packet.h): u16
 * sll_family (host order), be16 sll_protocol, s32 sll_ifindex (host order), u16
 * sll_hatype, u8 sll_pkttype, u8 sll_halen, u8 sll_addr[8].
 */
export function sockaddrLl(ifindex: number, protocol: number, address: Uint8Array): Uint8Array {
  if (address.length > 8) throw new InvalidArgumentError('address', `a link-layer address has at most 8 bytes, got ${address.length}`);
  const b = new Uint8Array(20);
  const v = new DataView(b.buffer);
  v.setUint16(0, AF_PACKET, LE);
  v.setUint16(2, protocol, false);
  v.setInt32(4, ifindex, LE);
  b[11] = address.length;
  b.set(address, 12);
  return b;
}

/**
 * struct sockaddr_in6 (28 bytes, include/uapi/linux/in6.h): u16 sin6_family
 * (host order), be16 sin6_port, be32 sin6_flowinfo, 16-byte address, u32
 * sin6_scope_id (host order).
 */
export function sockaddrIn6(address: Uint8Array, scopeId = 0, port = 0): Uint8Array {
  if (address.length !== 16) throw new InvalidArgumentError('address', `must be 16 bytes, got ${address.length}`);
  const b = new Uint8Array(28);
  const v = new DataView(b.buffer);
  v.setUint16(0, AF_INET6, LE);
  v.setUint16(2, port, false);
  b.set(address, 8);
  v.setUint32(24, scopeId, LE);
  return b;
}

/** The socket protocol argument for an EtherType: htons(type), as the C API takes it. */
export function htons(v: number): number {
  return LE ? ((v & 0xff) << 8) | ((v >> 8) & 0xff) : v & 0xffff;
}

/** A failed socket call as a NetlinkError (errno, code) naming what was being done. */
function socketError(e: unknown, what: string): Error {
  const err = e as NodeJS.ErrnoException;
  if (typeof err?.errno !== 'number') return e instanceof Error ? e : new Error(String(e));
  return new NetlinkError(Math.abs(err.errno), `${what}: ${err.message}`, { operation: what, cause: e });
}

function checkCount(name: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new InvalidArgumentError(name, `must be an integer ${min}..${max}, got ${String(v)}`);
  return v;
}

/**
 * Send gratuitous ARP (IPv4) or unsolicited neighbour advertisements (IPv6)
 * for `address` on `interface`, `count` times `intervalMs` apart (no wait after
 * the last). Resolves with the number of packets sent.
 *
 * The interface must exist (NetlinkError `ENODEV` otherwise), be up and be of
 * Ethernet type (InvalidArgumentError naming it otherwise: `lo` and tunnels have
 * no neighbours to tell). The address need not be configured on the interface.
 */
export async function announce(options: AnnounceOptions): Promise<number> {
  if (options === null || typeof options !== 'object') throw new InvalidArgumentError('options', 'must be an object');
  const iface = checkInterfaceName(options.interface);
  const p = parsePrefix(options.address);
  const count = checkCount('count', options.count ?? 5, 1, 1000);
  const intervalMs = checkCount('intervalMs', options.intervalMs ?? 1000, 0, 3_600_000);
  const { netns, signal } = options;
  if (netns !== undefined && (typeof netns !== 'string' || netns.length === 0)) throw new InvalidArgumentError('netns', 'must be a non-empty path to a network namespace file');
  if (options.router !== undefined && typeof options.router !== 'boolean') throw new InvalidArgumentError('router', 'must be a boolean');
  if (signal?.aborted) throw new AbortError(`announce ${p.address} on ${iface} was aborted before it started`, { cause: signal.reason });

  const conn = Conn.open({ protocol: NETLINK_ROUTE, receiveBufferBytes: 256 * 1024, ...(netns !== undefined ? { netns } : {}) });
  let link: Link;
  try {
    link = await getLink(conn, iface, netns);
  } finally {
    conn.close();
  }
  const ns = netns === undefined ? '' : ` in network namespace ${netns}`;
  if (link.type !== ARPHRD_ETHER || link.address?.length !== 6) {
    throw new InvalidArgumentError('interface', `${iface}${ns} is not an Ethernet-type interface (ARPHRD ${link.type}); there are no neighbours to announce ${p.address} to`);
  }
  if (!link.up) throw new InvalidArgumentError('interface', `${iface}${ns} is down; bring it up before announcing ${p.address}`);
  const mac = link.address;

  const what = `announce ${p.address} on ${iface} (${formatMac(mac)})${ns}`;
  let socket: NativeSocket;
  let frame: Uint8Array;
  let destination: Uint8Array;
  const socketOptions = netns === undefined ? {} : { netns };
  if (p.family === 'ipv4') {
    // Protocol 0: the socket sends only and is never hooked into reception;
    // the EtherType comes from sll_protocol of each destination address.
    try {
      socket = openSocket(AF_PACKET, SOCK_DGRAM, 0, socketOptions);
    } catch (e) {
      throw socketError(e, what);
    }
    frame = buildGratuitousArp(mac, p.bytes);
    destination = sockaddrLl(link.index, ETH_P_ARP, BROADCAST_MAC);
  } else {
    let router = options.router;
    if (router === undefined) {
      try {
        router = Sysctl.open(socketOptions).get(`net.ipv6.conf.${iface.replace(/\./g, '/')}.forwarding`).trim() === '1';
      } catch {
        router = false; // IPv6 disabled on the interface, or /proc/sys unreadable
      }
    }
    try {
      socket = openSocket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6, socketOptions);
    } catch (e) {
      throw socketError(e, what);
    }
    try {
      socket.setsockopt(IPPROTO_IPV6, IPV6_MULTICAST_HOPS, 255);
      socket.setsockopt(IPPROTO_IPV6, IPV6_MULTICAST_IF, link.index);
      socket.setsockopt(IPPROTO_IPV6, IPV6_MULTICAST_LOOP, 0);
      // Send-only: block every ICMPv6 type from being queued to this socket.
      socket.setsockopt(IPPROTO_ICMPV6, ICMPV6_FILTER, new Uint8Array(32).fill(0xff));
    } catch (e) {
      socket.close();
      throw socketError(e, what);
    }
    frame = buildUnsolicitedNa(mac, p.bytes, router);
    destination = sockaddrIn6(ALL_NODES, link.index);
  }

  let sent = 0;
  try {
    for (let i = 0; i < count; i++) {
      if (i > 0 && intervalMs > 0) {
        try {
          await sleep(intervalMs, undefined, signal ? { signal } : {});
        } catch (e) {
          if (signal?.aborted) throw new AbortError(`announce ${p.address} on ${iface} was aborted after ${sent} of ${count} packets`, { cause: signal.reason });
          throw e;
        }
      } else if (signal?.aborted) {
        throw new AbortError(`announce ${p.address} on ${iface} was aborted after ${sent} of ${count} packets`, { cause: signal.reason });
      }
      try {
        socket.send(frame, destination);
      } catch (e) {
        throw socketError(e, what);
      }
      sent++;
    }
  } finally {
    socket.close();
  }
  return sent;
}
