/**
 * The table as a listing needs it (`ipvs-ts list`), read with as little work
 * as the listing's view allows. A cold `ipvs-ts list` of a large table spent
 * most of its time decoding and collecting garbage (docs/benchmarks.md, "Cold
 * command line"): 64-bit statistics as BigInts, an attribute object per reply
 * and per nest, copied addresses. Here the destination replies of views
 * without statistics are read in place into {@link Destination}s sharing one
 * zero `stats`, and the whole read needs only the netlink layer, not the
 * client and its apply/plan code. Views with statistics decode as
 * `Ipvs.table()` does.
 * @module
 */
import { DecodeError } from '../errors.js';
import { HOST_LITTLE_ENDIAN as LE, NLA_HDRLEN, NLA_TYPE_MASK } from '../netlink/constants.js';
import { GenlConn } from '../netlink/genl.js';
import { decodeAttributes } from '../netlink/schema.js';
import { bytesToAddress, ipv4TextAt, type Family } from './address.js';
import { commandConfigTable, commandTable, destinationConfigTable, infoTable } from './attributes.js';
import { CHECKSUM_NAMES, destinationOf, FORWARD_NAMES, NO_STATS, serviceOf, TUNNEL_NAMES, writeServiceKeyNest } from './codec.js';
import * as C from './constants.js';
import { describeService, toIpvsError } from './errors.js';
import { attributeLength, checkSize, lastAttributeAt, u16 } from './in-place.js';
import type { Destination, Info, Service } from './types.js';
import type { NormalServiceKey } from './validate.js';

/** One service of a listing with its destinations (the shape of `Ipvs.table()`'s entries). */
export interface ListingTableEntry {
  service: Service;
  destinations: Destination[];
}

/** What {@link readListing} reads. */
export interface ReadListingOptions {
  /** Network namespace path (default: the caller's). */
  netns?: string;
  /** Decode the statistics (the `stats` and `rate` views); without, every `stats` is zero. */
  stats: boolean;
}

/**
 * The destination in one GET_DEST reply whose attributes lie at `buf[start,
 * end)`, read in place without its statistics (`stats` is the shared zero
 * object), or undefined when the reply has no destination nest. Gives what
 * `destinationOf(decodeAttributes(commandConfigTable, …).destination)` gives,
 * with the same DecodeErrors (test/unit/ipvs/listing-read.test.ts).
 */
export function listingDestinationAt(buf: Buffer, start: number, end: number, serviceFamily: Family): Destination | undefined {
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
  let active = 0;
  let inactive = 0;
  let persistent = 0;
  let tunnelType: number | undefined;
  let tunnelPort = 0;
  let tunnelFlags = 0;
  // The bytes are read directly, not through u16()/u32()/checkSize(): this
  // loop runs for every attribute of every destination of a listing, in a
  // fresh process where calls are not yet inlined. The checks are the same;
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
  const d: Destination = {
    address: family === 'ipv4' ? ipv4TextAt(buf, addr) : bytesToAddress(buf.subarray(addr, addr + 16), 'ipv6'),
    family,
    port,
    weight,
    forward,
    upperThreshold: upper,
    lowerThreshold: lower,
    activeConnections: active,
    inactiveConnections: inactive,
    persistentConnections: persistent,
    stats: NO_STATS,
  };
  if (forward === 'tunnel' && tunnelType !== undefined) {
    const type = TUNNEL_NAMES.get(tunnelType);
    if (type) {
      const t: NonNullable<Destination['tunnel']> = { type, checksum: CHECKSUM_NAMES.get(tunnelFlags) ?? 'nocsum' };
      if (type === 'gue') t.port = tunnelPort;
      d.tunnel = t;
    }
  }
  return d;
}

/**
 * The identifying key of a listed service, for its destination dump: what
 * `normalizeServiceKey` makes of it, taken from the reply (`raw`: its address
 * attribute, already checked by `serviceOf`) instead of parsing the address
 * text back.
 */
function keyOfService(s: Service, raw: Uint8Array | undefined): NormalServiceKey {
  const af = s.family === 'ipv4' ? C.AF_INET : C.AF_INET6;
  if ('fwmark' in s) return { family: s.family, af, fwmark: s.fwmark };
  const addressBytes = new Uint8Array(16);
  addressBytes.set(raw!.subarray(0, s.family === 'ipv4' ? 4 : 16));
  return { family: s.family, af, protocol: s.protocol, address: s.address, addressBytes, port: s.port };
}

/**
 * IPVS's version and the whole table with destinations, in the kernel's
 * order, as `Ipvs.info()` and `Ipvs.table()` give them — but with zero
 * statistics unless `options.stats`. Opens its own socket and closes it.
 * Errors read as the client's do (an `IpvsError` with operation `'open'`
 * when IPVS is not there).
 */
export async function readListing(options: ReadListingOptions): Promise<{ info: Info; table: ListingTableEntry[] }> {
  const genl = GenlConn.open(options.netns === undefined ? {} : { netns: options.netns });
  try {
    let familyId: number;
    try {
      familyId = (await genl.family(C.IPVS_GENL_NAME)).id;
    } catch (e) {
      throw toIpvsError(e, { operation: 'open', kind: 'family', object: 'IPVS family' });
    }
    const infoReply = genl.request(familyId, C.IPVS_CMD_GET_INFO, C.IPVS_GENL_VERSION, 0, () => {}, { operation: 'info' }).catch((e: unknown) => {
      throw toIpvsError(e, { operation: 'info', kind: 'info' });
    });
    const table: (ListingTableEntry & { key: NormalServiceKey })[] = [];
    try {
      await genl.requestDumps(familyId, C.IPVS_CMD_GET_SERVICE, C.IPVS_GENL_VERSION, 1, () => {}, (_i, buf, start, end) => {
        // Without statistics, the service table's statistics nests are passed over (no BigInts); serviceOf then gives zero stats.
        const s = options.stats ? decodeAttributes(commandTable, buf, start, end).service : decodeAttributes(commandConfigTable, buf, start, end).service;
        if (s) {
          const service = serviceOf(s);
          table.push({ service, key: keyOfService(service, s.address), destinations: [] });
        }
      }, { operation: () => 'table' });
    } catch (e) {
      throw toIpvsError(e, { operation: 'table', kind: 'service' });
    }
    let at = 0;
    try {
      await genl.requestDumps(
        familyId,
        C.IPVS_CMD_GET_DEST,
        C.IPVS_GENL_VERSION,
        table.length,
        (i, w) => {
          at = i;
          writeServiceKeyNest(w, table[i]!.key);
        },
        options.stats
          ? (i, buf, start, end) => {
              const d = decodeAttributes(commandTable, buf, start, end).destination;
              if (d) table[i]!.destinations.push(destinationOf(d, table[i]!.key.family));
            }
          : (i, buf, start, end) => {
              const d = listingDestinationAt(buf, start, end, table[i]!.key.family);
              if (d) table[i]!.destinations.push(d);
            },
        { operation: (i) => `table (service ${describeService(table[i]!.key)})` },
      );
    } catch (e) {
      throw toIpvsError(e, { operation: 'table', kind: 'service', service: describeService(table[at]!.key) });
    }
    const [m] = await infoReply;
    const a = m ? decodeAttributes(infoTable, m.message.payload, m.attributesOffset, m.message.payload.length) : {};
    const v = a.version ?? 0;
    const info: Info = { version: `${(v >> 16) & 0xff}.${(v >> 8) & 0xff}.${v & 0xff}`, connTableSize: a.connTableSize ?? 0 };
    return { info, table: table.map(({ service, destinations }) => ({ service, destinations })) };
  } finally {
    genl.close();
  }
}
