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
import { GenlConn } from '../netlink/genl.js';
import { decodeAttributes } from '../netlink/schema.js';
import type { Family } from './address.js';
import { commandTable, infoTable } from './attributes.js';
import { CHECKSUM_NAMES, destinationOf, NO_STATS, serviceFromFields, serviceOf, TUNNEL_NAMES, writeServiceKeyNest } from './codec.js';
import * as C from './constants.js';
import { describeService, toIpvsError } from './errors.js';
import { scanDestinationAt, scanned } from './destination-scan.js';
import { scannedService, scanServiceAt } from './service-scan.js';
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
  if (!scanDestinationAt(buf, start, end, serviceFamily)) return undefined;
  const s = scanned;
  const d: Destination = {
    address: s.address,
    family: s.family,
    port: s.port,
    weight: s.weight,
    forward: s.forward,
    upperThreshold: s.upper,
    lowerThreshold: s.lower,
    activeConnections: s.active,
    inactiveConnections: s.inactive,
    persistentConnections: s.persistent,
    stats: NO_STATS,
  };
  if (s.forward === 'tunnel' && s.tunnelType !== undefined) {
    const type = TUNNEL_NAMES.get(s.tunnelType);
    if (type) {
      const t: NonNullable<Destination['tunnel']> = { type, checksum: CHECKSUM_NAMES.get(s.tunnelFlags ?? 0) ?? 'nocsum' };
      if (type === 'gue') t.port = s.tunnelPort ?? 0;
      d.tunnel = t;
    }
  }
  return d;
}

/**
 * The service in one GET_SERVICE reply whose attributes lie at `buf[start,
 * end)`, read in place without its statistics (`stats` is the shared zero
 * object), with the key its destination dump needs (what `normalizeServiceKey`
 * makes of it), or undefined when the reply has no service nest. Gives what
 * `serviceOf(decodeAttributes(commandConfigTable, …).service)` gives, with the
 * same DecodeErrors (test/unit/ipvs/listing-read.test.ts).
 */
export function listingServiceAt(buf: Buffer, start: number, end: number): { service: Service; key: NormalServiceKey } | undefined {
  if (!scanServiceAt(buf, start, end)) return undefined;
  const s = scannedService;
  const address = s.addr >= 0 ? buf.subarray(s.addr, s.addr + s.addrLen) : undefined;
  const service = serviceFromFields({
    family: s.family,
    flags: s.flags,
    scheduler: s.scheduler,
    stats: NO_STATS,
    timeout: s.timeout,
    netmask: s.mask >= 0 ? buf.subarray(s.mask, s.mask + s.maskLen) : undefined,
    persistenceEngine: s.persistenceEngine,
    fwmark: s.fwmark,
    protocolNumber: s.protocolNumber,
    address,
    port: s.port,
  });
  return { service, key: keyOfService(service, address) };
}

/**
 * The identifying key of a listed service, for its destination dump: what
 * `normalizeServiceKey` makes of it, taken from the reply (`raw`: its address
 * attribute, already checked when the service was made; copied here).
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
        if (options.stats) {
          const s = decodeAttributes(commandTable, buf, start, end).service;
          if (s) {
            const service = serviceOf(s);
            table.push({ service, key: keyOfService(service, s.address), destinations: [] });
          }
        } else {
          // Without statistics, read in place (no attribute objects, no BigInts).
          const r = listingServiceAt(buf, start, end);
          if (r) table.push({ service: r.service, key: r.key, destinations: [] });
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
