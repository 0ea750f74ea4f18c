/**
 * The part of rtnetlink (NETLINK_ROUTE) that host setup needs: links (to find
 * an interface's index, type, flags and MAC by name) and addresses (dump, add,
 * delete).
 *
 * Numbers are from the Linux UAPI headers (stable ABI):
 * `include/uapi/linux/rtnetlink.h` (RTM_*, RT_SCOPE_*),
 * `include/uapi/linux/if_link.h` (IFLA_*), `include/uapi/linux/if_addr.h`
 * (struct ifaddrmsg, IFA_*, IFA_F_*), `include/uapi/linux/if.h` (IFF_*),
 * `include/uapi/linux/if_arp.h` (ARPHRD_*) and `include/linux/socket.h` (AF_*).
 *
 * Struct layouts (host byte order, no padding):
 * - `struct ifinfomsg` (16 bytes): u8 ifi_family, u8 pad, u16 ifi_type,
 *   s32 ifi_index, u32 ifi_flags, u32 ifi_change.
 * - `struct ifaddrmsg` (8 bytes): u8 ifa_family, u8 ifa_prefixlen, u8 ifa_flags,
 *   u8 ifa_scope, u32 ifa_index.
 * @module
 */
import { DecodeError, InvalidArgumentError, NetlinkError } from '../errors.js';
import { addressFamily, addressToBytes, bytesToAddress, type Family } from '../ipvs/address.js';
import type { Conn, RequestOptions } from '../netlink/conn.js';
import { HOST_LITTLE_ENDIAN as LE, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL } from '../netlink/constants.js';
import type { NetlinkMessage } from '../netlink/message.js';
import { decodeAttributes, defineTable, encodeAttributes, type Attributes } from '../netlink/schema.js';
import type { Writer } from '../netlink/writer.js';
import { interfaceNameProblem } from './sysctl.js';

// ---- include/linux/socket.h ----
/** AF_UNSPEC, from include/linux/socket.h. */
export const AF_UNSPEC = 0;
/** AF_INET, from include/linux/socket.h. */
export const AF_INET = 2;
/** AF_INET6, from include/linux/socket.h. */
export const AF_INET6 = 10;
/** AF_PACKET, from include/linux/socket.h. */
export const AF_PACKET = 17;

// ---- include/uapi/linux/rtnetlink.h: message types ----
/** RTM_NEWLINK, from include/uapi/linux/rtnetlink.h: message types. */
export const RTM_NEWLINK = 16;
/** RTM_DELLINK, from include/uapi/linux/rtnetlink.h: message types. */
export const RTM_DELLINK = 17;
/** RTM_GETLINK, from include/uapi/linux/rtnetlink.h: message types. */
export const RTM_GETLINK = 18;
/** RTM_NEWADDR, from include/uapi/linux/rtnetlink.h: message types. */
export const RTM_NEWADDR = 20;
/** RTM_DELADDR, from include/uapi/linux/rtnetlink.h: message types. */
export const RTM_DELADDR = 21;
/** RTM_GETADDR, from include/uapi/linux/rtnetlink.h: message types. */
export const RTM_GETADDR = 22;

// ---- include/uapi/linux/rtnetlink.h: enum rt_scope_t ----
/** RT_SCOPE_UNIVERSE, from include/uapi/linux/rtnetlink.h: enum rt_scope_t. */
export const RT_SCOPE_UNIVERSE = 0;
/** RT_SCOPE_SITE, from include/uapi/linux/rtnetlink.h: enum rt_scope_t. */
export const RT_SCOPE_SITE = 200;
/** RT_SCOPE_LINK, from include/uapi/linux/rtnetlink.h: enum rt_scope_t. */
export const RT_SCOPE_LINK = 253;
/** RT_SCOPE_HOST, from include/uapi/linux/rtnetlink.h: enum rt_scope_t. */
export const RT_SCOPE_HOST = 254;
/** RT_SCOPE_NOWHERE, from include/uapi/linux/rtnetlink.h: enum rt_scope_t. */
export const RT_SCOPE_NOWHERE = 255;

// ---- include/uapi/linux/if_link.h: IFLA_* ----
/** IFLA_ADDRESS, from include/uapi/linux/if_link.h: IFLA_*. */
export const IFLA_ADDRESS = 1;
/** IFLA_BROADCAST, from include/uapi/linux/if_link.h: IFLA_*. */
export const IFLA_BROADCAST = 2;
/** IFLA_IFNAME, from include/uapi/linux/if_link.h: IFLA_*. */
export const IFLA_IFNAME = 3;
/** IFLA_MTU, from include/uapi/linux/if_link.h: IFLA_*. */
export const IFLA_MTU = 4;
/** IFLA_LINK, from include/uapi/linux/if_link.h: IFLA_*. */
export const IFLA_LINK = 5;
/** IFLA_MASTER, from include/uapi/linux/if_link.h: IFLA_*. */
export const IFLA_MASTER = 10;
/** IFLA_OPERSTATE, from include/uapi/linux/if_link.h: IFLA_*. */
export const IFLA_OPERSTATE = 16;
/** IFLA_IFALIAS, from include/uapi/linux/if_link.h: IFLA_*. */
export const IFLA_IFALIAS = 20;

// ---- include/uapi/linux/if_addr.h: IFA_* and IFA_F_* ----
/** IFA_ADDRESS, from include/uapi/linux/if_addr.h: IFA_* and IFA_F_*. */
export const IFA_ADDRESS = 1;
/** IFA_LOCAL, from include/uapi/linux/if_addr.h: IFA_* and IFA_F_*. */
export const IFA_LOCAL = 2;
/** IFA_LABEL, from include/uapi/linux/if_addr.h: IFA_* and IFA_F_*. */
export const IFA_LABEL = 3;
/** IFA_BROADCAST, from include/uapi/linux/if_addr.h: IFA_* and IFA_F_*. */
export const IFA_BROADCAST = 4;
/** IFA_ANYCAST, from include/uapi/linux/if_addr.h: IFA_* and IFA_F_*. */
export const IFA_ANYCAST = 5;
/** IFA_CACHEINFO, from include/uapi/linux/if_addr.h: IFA_* and IFA_F_*. */
export const IFA_CACHEINFO = 6;
/** IFA_MULTICAST, from include/uapi/linux/if_addr.h: IFA_* and IFA_F_*. */
export const IFA_MULTICAST = 7;
/** IFA_FLAGS, from include/uapi/linux/if_addr.h: IFA_* and IFA_F_*. */
export const IFA_FLAGS = 8;
/** IFA_F_SECONDARY, from include/uapi/linux/if_addr.h: IFA_* and IFA_F_*. */
export const IFA_F_SECONDARY = 0x01;
/** IFA_F_NODAD, from include/uapi/linux/if_addr.h: IFA_* and IFA_F_*. */
export const IFA_F_NODAD = 0x02;
/** IFA_F_OPTIMISTIC, from include/uapi/linux/if_addr.h: IFA_* and IFA_F_*. */
export const IFA_F_OPTIMISTIC = 0x04;
/** IFA_F_DADFAILED, from include/uapi/linux/if_addr.h: IFA_* and IFA_F_*. */
export const IFA_F_DADFAILED = 0x08;
/** IFA_F_HOMEADDRESS, from include/uapi/linux/if_addr.h: IFA_* and IFA_F_*. */
export const IFA_F_HOMEADDRESS = 0x10;
/** IFA_F_DEPRECATED, from include/uapi/linux/if_addr.h: IFA_* and IFA_F_*. */
export const IFA_F_DEPRECATED = 0x20;
/** IFA_F_TENTATIVE, from include/uapi/linux/if_addr.h: IFA_* and IFA_F_*. */
export const IFA_F_TENTATIVE = 0x40;
/** IFA_F_PERMANENT, from include/uapi/linux/if_addr.h: IFA_* and IFA_F_*. */
export const IFA_F_PERMANENT = 0x80;
/** IFA_F_NOPREFIXROUTE, from include/uapi/linux/if_addr.h: IFA_* and IFA_F_*. */
export const IFA_F_NOPREFIXROUTE = 0x200;

// ---- include/uapi/linux/if.h: net_device_flags ----
/** IFF_UP, from include/uapi/linux/if.h: net_device_flags. */
export const IFF_UP = 0x1;
/** IFF_BROADCAST, from include/uapi/linux/if.h: net_device_flags. */
export const IFF_BROADCAST = 0x2;
/** IFF_LOOPBACK, from include/uapi/linux/if.h: net_device_flags. */
export const IFF_LOOPBACK = 0x8;
/** IFF_POINTOPOINT, from include/uapi/linux/if.h: net_device_flags. */
export const IFF_POINTOPOINT = 0x10;
/** IFF_RUNNING, from include/uapi/linux/if.h: net_device_flags. */
export const IFF_RUNNING = 0x40;
/** IFF_NOARP, from include/uapi/linux/if.h: net_device_flags. */
export const IFF_NOARP = 0x80;
/** IFF_MULTICAST, from include/uapi/linux/if.h: net_device_flags. */
export const IFF_MULTICAST = 0x1000;
/** IFF_LOWER_UP, from include/uapi/linux/if.h: net_device_flags. */
export const IFF_LOWER_UP = 0x10000;

// ---- include/uapi/linux/if_arp.h ----
/** ARPHRD_ETHER, from include/uapi/linux/if_arp.h. */
export const ARPHRD_ETHER = 1;
/** ARPHRD_LOOPBACK, from include/uapi/linux/if_arp.h. */
export const ARPHRD_LOOPBACK = 772;
/** ARPHRD_NONE, from include/uapi/linux/if_arp.h. */
export const ARPHRD_NONE = 0xfffe;

/** Length of struct ifinfomsg. */
export const IFINFOMSG_LEN = 16;
/** Length of struct ifaddrmsg. */
export const IFADDRMSG_LEN = 8;

/** IFLA_* attributes we read (the others are kept as unknown and ignored). */
export const linkTable = defineTable('link', {
  address: { id: IFLA_ADDRESS, type: 'binary' },
  broadcast: { id: IFLA_BROADCAST, type: 'binary' },
  name: { id: IFLA_IFNAME, type: 'string', maxLength: 15 },
  mtu: { id: IFLA_MTU, type: 'u32' },
  link: { id: IFLA_LINK, type: 'u32' },
  master: { id: IFLA_MASTER, type: 'u32' },
  operstate: { id: IFLA_OPERSTATE, type: 'u8' },
  alias: { id: IFLA_IFALIAS, type: 'string' },
});

/** IFA_* attributes, in the order iproute2 writes them (IFA_LOCAL before IFA_ADDRESS). */
export const addressTable = defineTable('address', {
  local: { id: IFA_LOCAL, type: 'binary' },
  address: { id: IFA_ADDRESS, type: 'binary' },
  label: { id: IFA_LABEL, type: 'string', maxLength: 15 },
  broadcast: { id: IFA_BROADCAST, type: 'binary' },
  anycast: { id: IFA_ANYCAST, type: 'binary' },
  cacheinfo: { id: IFA_CACHEINFO, type: 'binary' },
  multicast: { id: IFA_MULTICAST, type: 'binary' },
  flags: { id: IFA_FLAGS, type: 'u32' },
});

/** struct ifinfomsg. */
export interface IfInfoMsg {
  /** ifi_family: AF_UNSPEC for link requests. */
  family: number;
  /** ARPHRD_* device type. */
  type: number;
  /** ifi_index: the interface index (0 to look up by name). */
  index: number;
  /** IFF_* flags. */
  flags: number;
  /** ifi_change: which IFF_* bits a request changes. */
  change: number;
}

/** struct ifaddrmsg. */
export interface IfAddrMsg {
  /** ifa_family: AF_INET or AF_INET6 (AF_UNSPEC to dump both). */
  family: number;
  /** ifa_prefixlen. */
  prefixlen: number;
  /** IFA_F_* flags that fit in 8 bits (IFA_FLAGS carries all 32). */
  flags: number;
  /** RT_SCOPE_*. */
  scope: number;
  /** ifa_index: the interface index. */
  index: number;
}

/** Write a struct ifinfomsg. */
export function writeIfInfoMsg(w: Writer, m: Partial<IfInfoMsg> = {}): void {
  w.u8(m.family ?? AF_UNSPEC).u8(0).u16(m.type ?? 0).s32(m.index ?? 0).u32(m.flags ?? 0).u32(m.change ?? 0);
}

/** Write a struct ifaddrmsg. */
export function writeIfAddrMsg(w: Writer, m: IfAddrMsg): void {
  w.u8(m.family).u8(m.prefixlen).u8(m.flags & 0xff).u8(m.scope).u32(m.index);
}

function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/** Read the struct ifinfomsg at the start of a message payload. */
export function readIfInfoMsg(payload: Uint8Array): IfInfoMsg {
  if (payload.length < IFINFOMSG_LEN) throw new DecodeError(`link message too short for struct ifinfomsg (${payload.length} bytes)`, 0);
  const v = view(payload);
  return { family: v.getUint8(0), type: v.getUint16(2, LE), index: v.getInt32(4, LE), flags: v.getUint32(8, LE), change: v.getUint32(12, LE) };
}

/** Read the struct ifaddrmsg at the start of a message payload. */
export function readIfAddrMsg(payload: Uint8Array): IfAddrMsg {
  if (payload.length < IFADDRMSG_LEN) throw new DecodeError(`address message too short for struct ifaddrmsg (${payload.length} bytes)`, 0);
  const v = view(payload);
  return { family: v.getUint8(0), prefixlen: v.getUint8(1), flags: v.getUint8(2), scope: v.getUint8(3), index: v.getUint32(4, LE) };
}

/** A network interface, from RTM_NEWLINK. */
export interface Link {
  /** Interface index (ifindex). */
  index: number;
  /** Interface name. */
  name: string;
  /** ARPHRD_* type: 1 for Ethernet (also veth, dummy), 772 for loopback. */
  type: number;
  /** IFF_* flags (IFF_UP = 1, ...). */
  flags: number;
  /** Whether the interface is administratively up (IFF_UP). */
  up: boolean;
  /** MTU, when the kernel reported it. */
  mtu?: number;
  /** Hardware address, e.g. 6 bytes for Ethernet. */
  address?: Uint8Array;
  /** Hardware broadcast address. */
  broadcast?: Uint8Array;
}

/** Decode an RTM_NEWLINK message. */
export function decodeLink(msg: NetlinkMessage): Link {
  const hdr = readIfInfoMsg(msg.payload);
  const a = decodeAttributes(linkTable, msg.payload, IFINFOMSG_LEN);
  if (a.name === undefined) throw new DecodeError(`link ${hdr.index} has no IFLA_IFNAME`, 0);
  const link: Link = { index: hdr.index, name: a.name, type: hdr.type, flags: hdr.flags, up: (hdr.flags & IFF_UP) !== 0 };
  if (a.mtu !== undefined) link.mtu = a.mtu;
  if (a.address !== undefined) link.address = a.address;
  if (a.broadcast !== undefined) link.broadcast = a.broadcast;
  return link;
}

/** Format hardware address bytes as `aa:bb:cc:dd:ee:ff`. */
export function formatMac(mac: Uint8Array): string {
  return [...mac].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/** Check an interface name; throws InvalidArgumentError(field) when it is not one. */
export function checkInterfaceName(name: unknown, field = 'interface'): string {
  const problem = interfaceNameProblem(name);
  if (problem !== undefined) throw new InvalidArgumentError(field, problem);
  return name as string;
}

function where(netns: string | undefined): string {
  return netns === undefined ? '' : ` in network namespace ${netns}`;
}

/** Every interface of the namespace (RTM_GETLINK dump). */
export async function listLinks(conn: Conn, options: RequestOptions = {}): Promise<Link[]> {
  const replies = await conn.request(RTM_GETLINK, NLM_F_DUMP, (w) => writeIfInfoMsg(w), { operation: 'list interfaces', ...options });
  return replies.filter((m) => m.type === RTM_NEWLINK).map(decodeLink);
}

/**
 * One interface by name (RTM_GETLINK with IFLA_IFNAME). An unknown name throws a
 * {@link NetlinkError} with code `'ENODEV'` naming the interface.
 * @param netns only used in the error message
 */
export async function getLink(conn: Conn, name: string, netns?: string, options: RequestOptions = {}): Promise<Link> {
  checkInterfaceName(name);
  try {
    const replies = await conn.request(RTM_GETLINK, 0, (w) => {
      writeIfInfoMsg(w);
      encodeAttributes(w, linkTable, { name });
    }, { operation: `look up interface ${name}`, ...options });
    const msg = replies.find((m) => m.type === RTM_NEWLINK);
    if (!msg) throw new NetlinkError(19, `interface ${name}: the kernel sent no link message`);
    return decodeLink(msg);
  } catch (e) {
    if (e instanceof NetlinkError && e.code === 'ENODEV') {
      throw new NetlinkError(e.errno, `no interface named ${name}${where(netns)}`, { operation: `look up interface ${name}`, cause: e });
    }
    throw e;
  }
}

/**
 * Bring a link up or down: RTM_NEWLINK with struct ifinfomsg { ifi_index,
 * ifi_flags = IFF_UP or 0, ifi_change = IFF_UP } and no attributes, as
 * `ip link set DEV up|down` sends.
 */
export function setLinkUp(conn: Conn, index: number, up: boolean, options: RequestOptions = {}): Promise<NetlinkMessage[]> {
  return conn.request(RTM_NEWLINK, 0, (w) => writeIfInfoMsg(w, { index, flags: up ? IFF_UP : 0, change: IFF_UP }), options);
}

/** An address given as `ADDR/PREFIX` (or a bare address: /32 or /128), parsed. */
export interface Prefix {
  /** `'ipv4'` or `'ipv6'`. */
  family: Family;
  /** Normalised text (IPv6 in inet_ntop form). */
  address: string;
  /** 4 or 16 bytes. */
  bytes: Uint8Array;
  /** Prefix length: 0..32 or 0..128. */
  prefix: number;
}

/**
 * Parse `'192.0.2.10/32'`, `'2001:db8::10/128'` or a bare address (full-length
 * prefix). Throws InvalidArgumentError(field) naming the text.
 */
export function parsePrefix(text: unknown, field = 'address'): Prefix {
  if (typeof text !== 'string') throw new InvalidArgumentError(field, `must be a string like "192.0.2.10/32", got ${typeof text}`);
  const slash = text.indexOf('/');
  const addrText = slash < 0 ? text : text.slice(0, slash);
  const family = addressFamily(addrText);
  if (family === undefined || addrText.includes('%')) throw new InvalidArgumentError(field, `"${text}" is not an IPv4 or IPv6 address (ADDR or ADDR/PREFIX)`);
  const max = family === 'ipv4' ? 32 : 128;
  let prefix = max;
  if (slash >= 0) {
    const p = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p) || Number(p) > max) throw new InvalidArgumentError(field, `prefix length in "${text}" must be 0..${max}`);
    prefix = Number(p);
  }
  const full = addressToBytes(addrText, family);
  const bytes = family === 'ipv4' ? full.slice(0, 4) : full;
  return { family, address: bytesToAddress(full, family), bytes, prefix };
}

/** An address on an interface, from RTM_NEWADDR. */
export interface InterfaceAddress {
  /** Interface name. */
  interface: string;
  /** Interface index. */
  index: number;
  /** The address (IFA_LOCAL for IPv4, IFA_ADDRESS for IPv6), normalised text. */
  address: string;
  /** Prefix length. */
  prefix: number;
  /** `'ipv4'` or `'ipv6'`. */
  family: Family;
  /** RT_SCOPE_*: 0 global, 253 link, 254 host. */
  scope: number;
  /** IFA_F_* flags (IFA_FLAGS when present, else the 8-bit header field). */
  flags: number;
  /** IPv4 label (`eth0:1`), when set. */
  label?: string;
}

/** Decode an RTM_NEWADDR message; `names` maps interface index → name. Unknown families give undefined. */
export function decodeAddress(msg: NetlinkMessage, names: ReadonlyMap<number, string>): InterfaceAddress | undefined {
  const hdr = readIfAddrMsg(msg.payload);
  if (hdr.family !== AF_INET && hdr.family !== AF_INET6) return undefined;
  const a: Attributes<typeof addressTable.fields> = decodeAttributes(addressTable, msg.payload, IFADDRMSG_LEN);
  const family: Family = hdr.family === AF_INET ? 'ipv4' : 'ipv6';
  const raw = a.local ?? a.address;
  const len = family === 'ipv4' ? 4 : 16;
  if (!raw || raw.length !== len) throw new DecodeError(`address message for ifindex ${hdr.index} has no ${len}-byte IFA_LOCAL/IFA_ADDRESS`, IFADDRMSG_LEN);
  const full = new Uint8Array(16);
  full.set(raw);
  const out: InterfaceAddress = {
    interface: names.get(hdr.index) ?? `if${hdr.index}`,
    index: hdr.index,
    address: bytesToAddress(full, family),
    prefix: hdr.prefixlen,
    family,
    scope: hdr.scope,
    flags: a.flags ?? hdr.flags,
  };
  if (a.label !== undefined) out.label = a.label;
  return out;
}

/** Every address of the namespace (RTM_GETADDR dump, both families). */
export async function dumpAddresses(conn: Conn, names: ReadonlyMap<number, string>, options: RequestOptions = {}): Promise<InterfaceAddress[]> {
  const replies = await conn.request(
    RTM_GETADDR,
    NLM_F_DUMP,
    (w) => writeIfAddrMsg(w, { family: AF_UNSPEC, prefixlen: 0, flags: 0, scope: 0, index: 0 }),
    { operation: 'list addresses', ...options },
  );
  const out: InterfaceAddress[] = [];
  for (const m of replies) {
    if (m.type !== RTM_NEWADDR) continue;
    const a = decodeAddress(m, names);
    if (a) out.push(a);
  }
  return out;
}

/** What to add or delete. */
export interface AddressChange {
  /** Interface index. */
  index: number;
  /** The address and prefix length. */
  prefix: Prefix;
  /** RT_SCOPE_* (default: host for 127.0.0.0/8 and ::1, else global — as iproute2 chooses). */
  scope?: number;
  /** IFA_F_* flags, e.g. IFA_F_NODAD for IPv6. */
  flags?: number;
  /** IPv4 label (`lo:vip`); must start with the interface name. */
  label?: string;
}

/** The scope iproute2 gives an address when none is asked for. */
export function defaultScope(p: Prefix): number {
  if (p.family === 'ipv4') return p.bytes[0] === 127 ? RT_SCOPE_HOST : RT_SCOPE_UNIVERSE;
  return p.address === '::1' ? RT_SCOPE_HOST : RT_SCOPE_UNIVERSE;
}

/**
 * Payload of RTM_NEWADDR / RTM_DELADDR: struct ifaddrmsg, then IFA_LOCAL and
 * IFA_ADDRESS (both the address, as iproute2 sends for a non-peer address),
 * IFA_LABEL when given, and IFA_FLAGS when a flag does not fit in 8 bits.
 */
export function encodeAddressChange(w: Writer, c: AddressChange): void {
  const flags = c.flags ?? 0;
  writeIfAddrMsg(w, {
    family: c.prefix.family === 'ipv4' ? AF_INET : AF_INET6,
    prefixlen: c.prefix.prefix,
    flags: flags & 0xff,
    scope: c.scope ?? defaultScope(c.prefix),
    index: c.index,
  });
  const attrs: Attributes<typeof addressTable.fields> = { local: c.prefix.bytes, address: c.prefix.bytes };
  if (c.label !== undefined) attrs.label = c.label;
  if (flags > 0xff) attrs.flags = flags;
  encodeAttributes(w, addressTable, attrs);
}

/** RTM_NEWADDR with NLM_F_CREATE | NLM_F_EXCL: EEXIST if the address is there already. */
export function addAddress(conn: Conn, c: AddressChange, options: RequestOptions = {}): Promise<NetlinkMessage[]> {
  return conn.request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, (w) => encodeAddressChange(w, c), options);
}

/** RTM_DELADDR: EADDRNOTAVAIL if no such address (with that prefix) is on the interface. */
export function deleteAddress(conn: Conn, c: AddressChange, options: RequestOptions = {}): Promise<NetlinkMessage[]> {
  return conn.request(RTM_DELADDR, 0, (w) => encodeAddressChange(w, c), options);
}
