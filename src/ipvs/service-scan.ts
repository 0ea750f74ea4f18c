/**
 * The one in-place reader of a GET_SERVICE reply's service: its attributes
 * into a reused record, with the bounds and size checks (and DecodeErrors) of
 * the table decoder. The snapshot (live-service.ts) builds a `LiveService`
 * from the record, the listing (listing-read.ts) a `Service`; nothing is
 * allocated here but the scheduler and engine names. (destination-scan.ts
 * does the same for destinations.)
 * @module
 */
import { DecodeError } from '../errors.js';
import { NLA_HDRLEN, NLA_TYPE_MASK } from '../netlink/constants.js';
import type { Family } from './address.js';
import { commandConfigTable, serviceConfigTable } from './attributes.js';
import * as C from './constants.js';
import { attributeLength, checkSize, lastAttributeAt, u16, u32 } from './in-place.js';

/** The fields of the service read last by {@link scanServiceAt}. */
export interface ScannedService {
  family: Family;
  af: number;
  /** The protocol number, or undefined when the reply has none. */
  protocolNumber: number | undefined;
  /** Offset and length of the address attribute's payload in the reply (-1: none). */
  addr: number;
  addrLen: number;
  port: number;
  /** The firewall mark, or undefined when the reply has none. */
  fwmark: number | undefined;
  scheduler: string | undefined;
  persistenceEngine: string | undefined;
  /** The raw IP_VS_SVC_F_* flags (0 when the attribute is shorter than 4 bytes). */
  flags: number;
  timeout: number;
  /** Offset and length of the netmask attribute's payload (-1: none). */
  mask: number;
  maskLen: number;
}

/** The record {@link scanServiceAt} fills (one, reused; read it before the next scan). */
export const scannedService: ScannedService = {
  family: 'ipv4',
  af: 0,
  protocolNumber: undefined,
  addr: -1,
  addrLen: 0,
  port: 0,
  fwmark: undefined,
  scheduler: undefined,
  persistenceEngine: undefined,
  flags: 0,
  timeout: 0,
  mask: -1,
  maskLen: 0,
};

/** A NUL-terminated string attribute, checked as the table decoder checks it. */
function stringAt(buf: Buffer, p: number, plen: number, key: string, off: number): string {
  const nul = buf.indexOf(0, p);
  if (nul < 0 || nul >= p + plen) throw new DecodeError(`service.${key}: string is not NUL-terminated`, off);
  return buf.toString('utf8', p, nul);
}

/**
 * Read the service of the GET_SERVICE reply whose attributes lie at
 * `buf[start, end)` into {@link scannedService}; false when the reply has no
 * service nest. An unknown address family is a DecodeError, as in the table
 * decoder; statistics and attributes this library does not know are skipped.
 */
export function scanServiceAt(buf: Buffer, start: number, end: number): boolean {
  const at = lastAttributeAt(buf, start, end, commandConfigTable, C.IPVS_CMD_ATTR_SERVICE);
  if (at < 0) return false;
  const nest = at + NLA_HDRLEN;
  const nestEnd = at + u16(buf, at);
  let af: number | undefined;
  let protocolNumber: number | undefined;
  let addr = -1;
  let addrLen = 0;
  let port = 0;
  let fwmark: number | undefined;
  let scheduler: string | undefined;
  let pe: string | undefined;
  let flags = 0;
  let timeout = 0;
  let mask = -1;
  let maskLen = 0;
  for (let off = nest; off + NLA_HDRLEN <= nestEnd; ) {
    const len = attributeLength(buf, off, nestEnd, serviceConfigTable);
    const type = u16(buf, off + 2) & NLA_TYPE_MASK;
    const p = off + NLA_HDRLEN;
    const plen = len - NLA_HDRLEN;
    checkSize(serviceConfigTable, type, plen, off);
    switch (type) {
      case C.IPVS_SVC_ATTR_AF: af = u16(buf, p); break;
      case C.IPVS_SVC_ATTR_PROTOCOL: protocolNumber = u16(buf, p); break;
      case C.IPVS_SVC_ATTR_ADDR: addr = p; addrLen = plen; break;
      case C.IPVS_SVC_ATTR_PORT: port = (buf[p]! << 8) | buf[p + 1]!; break;
      case C.IPVS_SVC_ATTR_FWMARK: fwmark = u32(buf, p); break;
      case C.IPVS_SVC_ATTR_SCHED_NAME: scheduler = stringAt(buf, p, plen, 'scheduler', off); break;
      case C.IPVS_SVC_ATTR_PE_NAME: pe = stringAt(buf, p, plen, 'persistenceEngine', off); break;
      case C.IPVS_SVC_ATTR_FLAGS: flags = plen >= 4 ? u32(buf, p) : 0; break;
      case C.IPVS_SVC_ATTR_TIMEOUT: timeout = u32(buf, p); break;
      case C.IPVS_SVC_ATTR_NETMASK: mask = p; maskLen = plen; break;
      default: break; // statistics, attributes this library does not know
    }
    off += (len + 3) & ~3;
  }
  const family = af === C.AF_INET ? 'ipv4' : af === C.AF_INET6 ? 'ipv6' : undefined;
  if (!family) throw new DecodeError(`service: unknown address family ${af}`, 0);
  const s = scannedService;
  s.family = family;
  s.af = af!;
  s.protocolNumber = protocolNumber;
  s.addr = addr;
  s.addrLen = addrLen;
  s.port = port;
  s.fwmark = fwmark;
  s.scheduler = scheduler;
  s.persistenceEngine = pe;
  s.flags = flags;
  s.timeout = timeout;
  s.mask = mask;
  s.maskLen = maskLen;
  return true;
}
