/**
 * Service replies read straight into snapshot entries, as live-destination.ts
 * does for destinations: the attributes a snapshot needs, read in place — no
 * attribute objects, intermediate `Service` or statistics. It gives what
 * `serviceOf` + `serviceSpecOf` and `normalServiceOf` make of the same reply,
 * and throws the same DecodeErrors; test/unit/ipvs/live-service.test.ts holds
 * the two paths equal on captured kernel replies.
 * @module
 */
import { DecodeError } from '../errors.js';
import { NLA_HDRLEN, NLA_TYPE_MASK } from '../netlink/constants.js';
import { bytesToAddress, ipv4TextAt } from './address.js';
import { commandConfigTable, serviceConfigTable } from './attributes.js';
import { netmaskOf, schedulerFlagNames } from './codec.js';
import * as C from './constants.js';
import { attributeLength, checkSize, lastAttributeAt, u16, u32 } from './in-place.js';
import type { LiveService } from './state.js';
import type { Protocol, ServiceSpec } from './types.js';
import { netmaskBytes, PROTOCOLS, type NormalServiceSpec } from './validate.js';

const PROTOCOL_NAMES = new Map<number, Protocol>(Object.entries(PROTOCOLS).map(([k, v]) => [v, k as Protocol]));

/** The bits of IP_VS_SVC_F_* a normalised service keeps (see normalServiceOf). */
const NORMAL_FLAGS = C.IP_VS_SVC_F_PERSISTENT | C.IP_VS_SVC_F_ONEPACKET | C.IP_VS_SVC_F_SCHED1 | C.IP_VS_SVC_F_SCHED2 | C.IP_VS_SVC_F_SCHED3;

/** A NUL-terminated string attribute, checked as the table decoder checks it. */
function stringAt(buf: Buffer, p: number, plen: number, key: string, off: number): string {
  const nul = buf.indexOf(0, p);
  if (nul < 0 || nul >= p + plen) throw new DecodeError(`service.${key}: string is not NUL-terminated`, off);
  return buf.toString('utf8', p, nul);
}

/** A copy of `buf[p, p + n)` (the reply's bytes are only valid during the call). */
function copyAt(buf: Buffer, p: number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = buf[p + i]!;
  return out;
}

/**
 * The service in one GET_SERVICE reply whose attributes lie at `buf[start,
 * end)`, or undefined when the reply has no service nest.
 */
export function liveServiceAt(buf: Buffer, start: number, end: number): LiveService | undefined {
  const at = lastAttributeAt(buf, start, end, commandConfigTable, C.IPVS_CMD_ATTR_SERVICE);
  if (at < 0) return undefined;
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
      case C.IPVS_SVC_ATTR_PORT: port = buf.readUInt16BE(p); break;
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
  const sched = scheduler ?? 'none';
  const persistent = (flags & C.IP_VS_SVC_F_PERSISTENT) !== 0;
  // The netmask counts only for persistent services (the kernel sends one for every service).
  const rawMask = persistent && mask >= 0 ? copyAt(buf, mask, maskLen) : undefined;
  const norm: NormalServiceSpec = {
    family,
    af: af!,
    scheduler: sched,
    flags: flags & NORMAL_FLAGS,
    timeout: persistent ? timeout : 0,
    netmask: persistent && rawMask && rawMask.length === 4 ? rawMask : netmaskBytes(family === 'ipv4' ? 32 : 128, family),
  };
  let spec: ServiceSpec;
  if (fwmark !== undefined && fwmark !== 0) {
    spec = { fwmark, family, scheduler: sched };
    norm.fwmark = fwmark;
  } else {
    const protocol = PROTOCOL_NAMES.get(protocolNumber ?? -1);
    if (!protocol) throw new DecodeError(`service: unknown protocol ${protocolNumber}`, 0);
    if (addr < 0 || addrLen < (family === 'ipv4' ? 4 : 16)) throw new DecodeError('service: address missing or too short', 0);
    const address = family === 'ipv4' ? ipv4TextAt(buf, addr) : bytesToAddress(buf.subarray(addr, addr + 16), 'ipv6');
    spec = { protocol, address, port, scheduler: sched };
    norm.protocol = protocol;
    norm.address = address;
    norm.addressBytes = copyAt(buf, addr, addrLen);
    norm.port = port;
  }
  const schedulerFlags = schedulerFlagNames(flags, sched);
  if (schedulerFlags.length) spec.schedulerFlags = schedulerFlags;
  if (persistent) spec.persistence = { timeout, netmask: netmaskOf(rawMask, family) };
  if (pe) {
    spec.persistenceEngine = pe;
    norm.persistenceEngine = pe;
  }
  if (flags & C.IP_VS_SVC_F_ONEPACKET) spec.onePacket = true;
  return { spec, norm, destinations: [] };
}
