/**
 * The one in-place reader of a GET_DEST reply's destination: its attributes
 * into a reused record, with the bounds and size checks (and DecodeErrors) of
 * the table decoder. The listing (listing-read.ts) builds a `Destination` from
 * the record, the snapshot and the health checks' sync (live-destination.ts)
 * a `DestinationSpec`; a large table has 100,000 replies, so nothing is
 * allocated here but the address text.
 * @module
 */
import { DecodeError } from '../errors.js';
import { HOST_LITTLE_ENDIAN as LE, NLA_HDRLEN, NLA_TYPE_MASK } from '../netlink/constants.js';
import { bytesToAddress, ipv4TextAt, type Family } from './address.js';
import { commandConfigTable, destinationConfigTable } from './attributes.js';
import { FORWARD_NAMES } from './codec.js';
import * as C from './constants.js';
import { attributeLength, checkSize, lastAttributeAt, u16 } from './in-place.js';
import type { ForwardMethod } from './types.js';

/** The fields of the destination read last by {@link scanDestinationAt}. */
export interface ScannedDestination {
  family: Family;
  address: string;
  /** Offset and length of the address attribute's payload in the reply. */
  addr: number;
  addrLen: number;
  port: number;
  /** The forwarding bits of the connection flags, and their name. */
  forwardBits: number;
  forward: ForwardMethod;
  weight: number;
  upper: number;
  lower: number;
  active: number;
  inactive: number;
  persistent: number;
  tunnelType: number | undefined;
  tunnelPort: number | undefined;
  tunnelFlags: number | undefined;
}

/** The record {@link scanDestinationAt} fills (one, reused; read it before the next scan). */
export const scanned: ScannedDestination = {
  family: 'ipv4',
  address: '',
  addr: -1,
  addrLen: 0,
  port: 0,
  forwardBits: 0,
  forward: 'masq',
  weight: 0,
  upper: 0,
  lower: 0,
  active: 0,
  inactive: 0,
  persistent: 0,
  tunnelType: undefined,
  tunnelPort: undefined,
  tunnelFlags: undefined,
};

/**
 * Read the destination of the GET_DEST reply whose attributes lie at
 * `buf[start, end)` into {@link scanned}; false when the reply has no
 * destination nest. `serviceFamily` stands in for a missing address family.
 * Statistics and attributes this library does not know are skipped.
 */
export function scanDestinationAt(buf: Buffer, start: number, end: number, serviceFamily: Family): boolean {
  const at = lastAttributeAt(buf, start, end, commandConfigTable, C.IPVS_CMD_ATTR_DEST);
  if (at < 0) return false;
  const nest = at + NLA_HDRLEN;
  const nestEnd = at + u16(buf, at);
  let af: number | undefined;
  let addr = -1;
  let addrLen = 0;
  let port = 0;
  let forwardRaw = 0;
  let weight = 0;
  let upper = 0;
  let lower = 0;
  let active = 0;
  let inactive = 0;
  let persistent = 0;
  let tunnelType: number | undefined;
  let tunnelPort: number | undefined;
  let tunnelFlags: number | undefined;
  // The bytes are read directly, not through u16()/u32()/checkSize(): this
  // loop runs for every attribute of every destination, in a fresh process
  // (`ipvs-ts list`) where calls are not yet inlined. The checks are the same;
  // a failing one calls the shared checker, which throws the table decoder's error.
  const slots = destinationConfigTable.slots;
  for (let off = nest; off + NLA_HDRLEN <= nestEnd; ) {
    const len = LE ? buf[off]! | (buf[off + 1]! << 8) : (buf[off]! << 8) | buf[off + 1]!;
    if (len < NLA_HDRLEN || off + len > nestEnd) attributeLength(buf, off, nestEnd, destinationConfigTable);
    const type = (LE ? buf[off + 2]! | (buf[off + 3]! << 8) : (buf[off + 2]! << 8) | buf[off + 3]!) & NLA_TYPE_MASK;
    const p = off + NLA_HDRLEN;
    const plen = len - NLA_HDRLEN;
    const slot = slots[type];
    if (slot !== undefined && slot.size >= 0 && plen !== slot.size) checkSize(destinationConfigTable, type, plen, off);
    // A 4-byte value in host order (the size was checked above for the types read so).
    const v32 = plen === 4 ? (LE ? (buf[p]! | (buf[p + 1]! << 8) | (buf[p + 2]! << 16) | (buf[p + 3]! << 24)) >>> 0 : ((buf[p]! << 24) | (buf[p + 1]! << 16) | (buf[p + 2]! << 8) | buf[p + 3]!) >>> 0) : 0;
    switch (type) {
      case C.IPVS_DEST_ATTR_ADDR_FAMILY: af = u16(buf, p); break;
      case C.IPVS_DEST_ATTR_ADDR: addr = p; addrLen = plen; break;
      case C.IPVS_DEST_ATTR_PORT: port = (buf[p]! << 8) | buf[p + 1]!; break;
      case C.IPVS_DEST_ATTR_FWD_METHOD: forwardRaw = v32; break;
      case C.IPVS_DEST_ATTR_WEIGHT: weight = v32; break;
      case C.IPVS_DEST_ATTR_U_THRESH: upper = v32; break;
      case C.IPVS_DEST_ATTR_L_THRESH: lower = v32; break;
      case C.IPVS_DEST_ATTR_ACTIVE_CONNS: active = v32; break;
      case C.IPVS_DEST_ATTR_INACT_CONNS: inactive = v32; break;
      case C.IPVS_DEST_ATTR_PERSIST_CONNS: persistent = v32; break;
      case C.IPVS_DEST_ATTR_TUN_TYPE: tunnelType = buf[p]!; break;
      case C.IPVS_DEST_ATTR_TUN_PORT: tunnelPort = (buf[p]! << 8) | buf[p + 1]!; break;
      case C.IPVS_DEST_ATTR_TUN_FLAGS: tunnelFlags = u16(buf, p); break;
      default: break; // statistics, attributes this library does not know
    }
    off += (len + 3) & ~3;
  }
  let family: Family;
  if (af === undefined || af === 0) family = serviceFamily;
  else if (af === C.AF_INET) family = 'ipv4';
  else if (af === C.AF_INET6) family = 'ipv6';
  else throw new DecodeError(`destination: unknown address family ${af}`, 0);
  const forwardBits = forwardRaw & C.IP_VS_CONN_F_FWD_MASK;
  const forward = FORWARD_NAMES.get(forwardBits);
  if (!forward) throw new DecodeError(`destination: unknown forwarding method ${forwardBits}`, 0);
  if (addr < 0 || addrLen < (family === 'ipv4' ? 4 : 16)) throw new DecodeError('destination: address missing or too short', 0);
  const s = scanned;
  s.family = family;
  s.address = family === 'ipv4' ? ipv4TextAt(buf, addr) : bytesToAddress(buf.subarray(addr, addr + 16), 'ipv6');
  s.addr = addr;
  s.addrLen = addrLen;
  s.port = port;
  s.forwardBits = forwardBits;
  s.forward = forward;
  s.weight = weight;
  s.upper = upper;
  s.lower = lower;
  s.active = active;
  s.inactive = inactive;
  s.persistent = persistent;
  s.tunnelType = tunnelType;
  s.tunnelPort = tunnelPort;
  s.tunnelFlags = tunnelFlags;
  return true;
}
