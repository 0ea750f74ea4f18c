/**
 * Service replies read straight into snapshot entries, as live-destination.ts
 * does for destinations: the attributes a snapshot needs, read in place by
 * service-scan.ts — no attribute objects, intermediate `Service` or
 * statistics. It gives what `serviceOf` + `serviceSpecOf` and
 * `normalServiceOf` make of the same reply,
 * and throws the same DecodeErrors; test/unit/ipvs/live-service.test.ts holds
 * the two paths equal on captured kernel replies.
 * @module
 */
import { DecodeError } from '../errors.js';
import { bytesToAddress, ipv4TextAt } from './address.js';
import { netmaskOf, PROTOCOL_NAMES, schedulerFlagNames } from './codec.js';
import * as C from './constants.js';
import { scannedService, scanServiceAt } from './service-scan.js';
import type { LiveService } from './state.js';
import type { ServiceSpec } from './types.js';
import { netmaskBytes, type NormalServiceSpec } from './validate.js';

/** The bits of IP_VS_SVC_F_* a normalised service keeps (see normalServiceOf). */
const NORMAL_FLAGS = C.IP_VS_SVC_F_PERSISTENT | C.IP_VS_SVC_F_ONEPACKET | C.IP_VS_SVC_F_SCHED1 | C.IP_VS_SVC_F_SCHED2 | C.IP_VS_SVC_F_SCHED3;

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
  if (!scanServiceAt(buf, start, end)) return undefined;
  const { family, af, protocolNumber, addr, addrLen, port, fwmark, scheduler, persistenceEngine: pe, flags, timeout, mask, maskLen } = scannedService;
  const sched = scheduler ?? 'none';
  const persistent = (flags & C.IP_VS_SVC_F_PERSISTENT) !== 0;
  // The netmask counts only for persistent services (the kernel sends one for every service).
  const rawMask = persistent && mask >= 0 ? copyAt(buf, mask, maskLen) : undefined;
  const norm: NormalServiceSpec = {
    family,
    af,
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
