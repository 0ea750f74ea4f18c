/**
 * Destination replies read straight into snapshot entries. A snapshot decodes
 * one reply per destination — 100,000 of them for a large table — so this
 * reads the attributes it needs in place: no attribute objects, DataViews or
 * byte copies, and no statistics. It gives what `destinationOf` +
 * `destinationSpecOf` (and `normalDestinationOf`) make of the same reply, and
 * throws the same DecodeErrors; test/unit/ipvs/live-destination.test.ts holds
 * the two paths equal on captured kernel replies.
 * @module
 */
import { DecodeError } from '../errors.js';
import { NLA_HDRLEN, NLA_TYPE_MASK } from '../netlink/constants.js';
import { attributeLength, checkSize, lastAttributeAt, u16, u32 } from './in-place.js';
import type { GenlMessage } from '../netlink/genl.js';
import { bytesToAddress, ipv4TextAt, type Family } from './address.js';
import { commandConfigTable, destinationConfigTable } from './attributes.js';
import { CHECKSUM_NAMES, FORWARD_NAMES, TUNNEL_NAMES } from './codec.js';
import * as C from './constants.js';
import type { DestinationSpec, TunnelSpec } from './types.js';
import { sharedAddressBytes, type NormalDestination } from './validate.js';

/** A destination of a live service: its spec, and its normalised form when a plan needs it. */
export interface LiveDestination {
  spec: DestinationSpec;
  norm?: NormalDestination;
}

/**
 * The destination in one GET_DEST reply, or undefined when the reply has no
 * destination nest. `serviceFamily` stands in for a missing address family.
 */
export function liveDestinationOf(m: GenlMessage, serviceFamily: Family, withNormal: boolean): LiveDestination | undefined {
  return liveDestinationAt(m.message.payload, m.attributesOffset, m.message.payload.length, serviceFamily, withNormal);
}

/**
 * The fields of the last destination read (one record, reused: a large
 * snapshot reads 100,000 replies, and each should leave behind only what the
 * caller keeps).
 */
const last = {
  family: 'ipv4' as Family,
  address: '',
  addr: -1,
  addrLen: 0,
  port: 0,
  forwardBits: 0,
  weight: 0,
  upper: 0,
  lower: 0,
  tunnelType: undefined as number | undefined,
  tunnelPort: undefined as number | undefined,
  tunnelFlags: undefined as number | undefined,
  tunnelName: undefined as TunnelSpec['type'] | undefined,
};

/**
 * {@link liveDestinationOf} for a reply whose attributes lie at
 * `buf[start, end)` — read in place where it arrived (see `Conn.requestDumps`).
 */
export function liveDestinationAt(buf: Buffer, start: number, end: number, serviceFamily: Family, withNormal: boolean): LiveDestination | undefined {
  const spec = liveDestinationSpecAt(buf, start, end, serviceFamily);
  if (!spec) return undefined;
  if (!withNormal) return { spec };
  const { family, address, addr, addrLen, port, forwardBits, weight, upper, lower, tunnelType, tunnelPort, tunnelFlags, tunnelName } = last;
  const tunnel = forwardBits === C.IP_VS_CONN_F_TUNNEL && tunnelName !== undefined;
  const norm: NormalDestination = {
    family,
    af: family === 'ipv4' ? C.AF_INET : C.AF_INET6,
    address,
    addressBytes: sharedAddressBytes(address, family, buf, addr, addrLen),
    port,
    forward: forwardBits,
    weight,
    upperThreshold: upper,
    lowerThreshold: lower,
    tunnelType: tunnel ? (tunnelType ?? 0) : 0,
    tunnelPort: tunnel && tunnelName === 'gue' ? (tunnelPort ?? 0) : 0,
    tunnelFlags: tunnel ? (tunnelFlags ?? 0) : 0,
  };
  return { spec, norm };
}

/**
 * The spec alone of the destination in one GET_DEST reply at `buf[start,
 * end)` (what a snapshot keeps: one object per destination), or undefined
 * when the reply has no destination nest.
 */
export function liveDestinationSpecAt(buf: Buffer, start: number, end: number, serviceFamily: Family): DestinationSpec | undefined {
  const at = lastAttributeAt(buf, start, end, commandConfigTable, C.IPVS_CMD_ATTR_DEST);
  if (at < 0) return undefined;
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
  let tunnelType: number | undefined;
  let tunnelPort: number | undefined;
  let tunnelFlags: number | undefined;
  for (let off = nest; off + NLA_HDRLEN <= nestEnd; ) {
    const len = attributeLength(buf, off, nestEnd, destinationConfigTable);
    const type = u16(buf, off + 2) & NLA_TYPE_MASK;
    const p = off + NLA_HDRLEN;
    checkSize(destinationConfigTable, type, len - NLA_HDRLEN, off);
    switch (type) {
      case C.IPVS_DEST_ATTR_ADDR_FAMILY: af = u16(buf, p); break;
      case C.IPVS_DEST_ATTR_ADDR: addr = p; addrLen = len - NLA_HDRLEN; break;
      case C.IPVS_DEST_ATTR_PORT: port = buf.readUInt16BE(p); break;
      case C.IPVS_DEST_ATTR_FWD_METHOD: forwardRaw = u32(buf, p); break;
      case C.IPVS_DEST_ATTR_WEIGHT: weight = u32(buf, p); break;
      case C.IPVS_DEST_ATTR_U_THRESH: upper = u32(buf, p); break;
      case C.IPVS_DEST_ATTR_L_THRESH: lower = u32(buf, p); break;
      case C.IPVS_DEST_ATTR_TUN_TYPE: tunnelType = buf[p]!; break;
      case C.IPVS_DEST_ATTR_TUN_PORT: tunnelPort = buf.readUInt16BE(p); break;
      case C.IPVS_DEST_ATTR_TUN_FLAGS: tunnelFlags = u16(buf, p); break;
      default: break; // connection counters, statistics, attributes this library does not know
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
  const address = family === 'ipv4' ? ipv4TextAt(buf, addr) : bytesToAddress(buf.subarray(addr, addr + 16), 'ipv6');

  const spec: DestinationSpec = { address, port, weight, forward };
  if (upper) spec.upperThreshold = upper;
  if (lower) spec.lowerThreshold = lower;
  const tunnelName = forward === 'tunnel' && tunnelType !== undefined ? TUNNEL_NAMES.get(tunnelType) : undefined;
  if (tunnelName) {
    spec.tunnel = { type: tunnelName };
    if (tunnelName === 'gue') spec.tunnel.port = tunnelPort ?? 0;
    const checksum = CHECKSUM_NAMES.get(tunnelFlags ?? 0) ?? 'nocsum';
    if (checksum !== 'nocsum') spec.tunnel.checksum = checksum;
  }
  last.family = family;
  last.address = address;
  last.addr = addr;
  last.addrLen = addrLen;
  last.port = port;
  last.forwardBits = forwardBits;
  last.weight = weight;
  last.upper = upper;
  last.lower = lower;
  last.tunnelType = tunnelType;
  last.tunnelPort = tunnelPort;
  last.tunnelFlags = tunnelFlags;
  last.tunnelName = tunnelName;
  return spec;
}
