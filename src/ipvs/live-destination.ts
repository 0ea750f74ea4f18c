/**
 * Destination replies read straight into snapshot entries. A snapshot decodes
 * one reply per destination — 100,000 of them for a large table — so the
 * attributes are read in place (destination-scan.ts, shared with the
 * listing): no attribute objects, DataViews or byte copies, and no statistics. It gives what `destinationOf` +
 * `destinationSpecOf` (and `normalDestinationOf`) make of the same reply, and
 * throws the same DecodeErrors; test/unit/ipvs/live-destination.test.ts holds
 * the two paths equal on captured kernel replies.
 * @module
 */
import type { GenlMessage } from '../netlink/genl.js';
import type { Family } from './address.js';
import { CHECKSUM_NAMES, TUNNEL_NAMES } from './codec.js';
import * as C from './constants.js';
import { scanDestinationAt, scanned } from './destination-scan.js';
import type { DestinationSpec } from './types.js';
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
 * {@link liveDestinationOf} for a reply whose attributes lie at
 * `buf[start, end)` — read in place where it arrived (see `Conn.requestDumps`).
 */
export function liveDestinationAt(buf: Buffer, start: number, end: number, serviceFamily: Family, withNormal: boolean): LiveDestination | undefined {
  const spec = liveDestinationSpecAt(buf, start, end, serviceFamily);
  if (!spec) return undefined;
  if (!withNormal) return { spec };
  // What the scan just read (liveDestinationSpecAt's, still in the record).
  const { family, address, addr, addrLen, port, forwardBits, weight, upper, lower, tunnelType, tunnelPort, tunnelFlags } = scanned;
  const tunnel = spec.tunnel !== undefined;
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
    tunnelPort: tunnel && spec.tunnel!.type === 'gue' ? (tunnelPort ?? 0) : 0,
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
  if (!scanDestinationAt(buf, start, end, serviceFamily)) return undefined;
  const { address, port, weight, forward, upper, lower, tunnelType, tunnelPort, tunnelFlags } = scanned;
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
  return spec;
}
