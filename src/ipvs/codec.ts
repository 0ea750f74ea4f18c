/**
 * Between the normalised specs (validate.ts) and the attribute tables
 * (attributes.ts): what each command sends, and what replies mean.
 * @module
 */
import { DecodeError } from '../errors.js';
import { HOST_LITTLE_ENDIAN as LE } from '../netlink/constants.js';
import type { Attributes } from '../netlink/schema.js';
import type { Writer } from '../netlink/writer.js';
import { bytesToAddress, type Family } from './address.js';
import type { daemonTable, destinationTable, serviceTable, stats64Table, statsTable } from './attributes.js';
import * as C from './constants.js';
import type { NormalDaemon, NormalDestination, NormalServiceKey, NormalServiceSpec } from './validate.js';
import { netmaskBytes } from './validate.js';
import { FORWARD_METHODS, PROTOCOLS, TUNNEL_CHECKSUMS, TUNNEL_TYPES, prefixMask } from './validate.js';
import type { Daemon, Destination, ForwardMethod, Protocol, SchedulerFlag, Service, Stats, TunnelSpec } from './types.js';

type ServiceAttrs = Attributes<(typeof serviceTable)['fields']>;
type DestinationAttrs = Attributes<(typeof destinationTable)['fields']>;
type DaemonAttrs = Attributes<(typeof daemonTable)['fields']>;
type StatsAttrs = Attributes<(typeof statsTable)['fields']>;
type Stats64Attrs = Attributes<(typeof stats64Table)['fields']>;

/** The identifying attributes of a service (for DEL, GET, dest commands, ZERO). */
export function serviceKeyAttributes(k: NormalServiceKey): ServiceAttrs {
  if (k.fwmark !== undefined) return { af: k.af, fwmark: k.fwmark };
  return { af: k.af, protocol: PROTOCOLS[k.protocol!], address: k.addressBytes!, port: k.port! };
}

/**
 * Write the IPVS_CMD_ATTR_SERVICE nest of {@link serviceKeyAttributes}
 * straight into `w`: the bytes the table encoder writes (a unit test holds them
 * equal), without an attribute object — a snapshot names a service in every
 * destination dump.
 */
export function writeServiceKeyNest(w: Writer, k: NormalServiceKey): void {
  const nest = w.beginNested(C.IPVS_CMD_ATTR_SERVICE);
  w.attrU16(C.IPVS_SVC_ATTR_AF, k.af);
  if (k.fwmark !== undefined) {
    w.attrU32(C.IPVS_SVC_ATTR_FWMARK, k.fwmark);
  } else {
    w.attrU16(C.IPVS_SVC_ATTR_PROTOCOL, PROTOCOLS[k.protocol!]);
    w.attrBytes(C.IPVS_SVC_ATTR_ADDR, k.addressBytes!);
    w.attrBe16(C.IPVS_SVC_ATTR_PORT, k.port!);
  }
  w.endAttr(nest);
}

/** Encoded ip_vs_flags by value; shared and never modified (every service add names one). */
const flagsCache = new Map<number, Uint8Array>();

/** ip_vs_flags {flags, mask}; the mask covers every bit, as ipvsadm sends it. */
function flagsBytes(flags: number): Uint8Array {
  let b = flagsCache.get(flags);
  if (b) return b;
  b = new Uint8Array(8);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, flags >>> 0, LE);
  dv.setUint32(4, 0xffffffff, LE);
  flagsCache.set(flags, b);
  return b;
}

/** All attributes of a service (for NEW and SET, which need scheduler, flags, timeout and netmask). */
export function serviceSpecAttributes(s: NormalServiceSpec): ServiceAttrs {
  const a = serviceKeyAttributes(s);
  a.scheduler = s.scheduler;
  if (s.persistenceEngine !== undefined) a.persistenceEngine = s.persistenceEngine;
  a.flags = flagsBytes(s.flags);
  a.timeout = s.timeout;
  a.netmask = s.netmask;
  return a;
}

/** Destination attributes for NEW/SET (everything) — the order and set libipvs sends. */
export function destinationAttributes(d: NormalDestination): DestinationAttrs {
  return {
    af: d.af,
    address: d.addressBytes,
    port: d.port,
    forward: d.forward,
    weight: d.weight,
    tunnelType: d.tunnelType,
    tunnelPort: d.tunnelPort,
    tunnelFlags: d.tunnelFlags,
    upperThreshold: d.upperThreshold,
    lowerThreshold: d.lowerThreshold,
  };
}

/**
 * Write the IPVS_CMD_ATTR_DEST nest of {@link destinationAttributes} straight
 * into `w`: the same bytes the table encoder writes (a unit test holds them
 * equal), without building an attribute object — the bulk path writes one per
 * destination, hundreds of thousands in a large apply.
 */
export function writeDestinationNest(w: Writer, d: NormalDestination): void {
  const nest = w.beginNested(C.IPVS_CMD_ATTR_DEST);
  w.attrU16(C.IPVS_DEST_ATTR_ADDR_FAMILY, d.af);
  w.attrBytes(C.IPVS_DEST_ATTR_ADDR, d.addressBytes);
  w.attrBe16(C.IPVS_DEST_ATTR_PORT, d.port);
  w.attrU32(C.IPVS_DEST_ATTR_FWD_METHOD, d.forward);
  w.attrU32(C.IPVS_DEST_ATTR_WEIGHT, d.weight);
  w.attrU8(C.IPVS_DEST_ATTR_TUN_TYPE, d.tunnelType);
  w.attrBe16(C.IPVS_DEST_ATTR_TUN_PORT, d.tunnelPort);
  w.attrU16(C.IPVS_DEST_ATTR_TUN_FLAGS, d.tunnelFlags);
  w.attrU32(C.IPVS_DEST_ATTR_U_THRESH, d.upperThreshold);
  w.attrU32(C.IPVS_DEST_ATTR_L_THRESH, d.lowerThreshold);
  w.endAttr(nest);
}

/** Destination attributes for DEL (address and port). */
export function destinationKeyAttributes(d: Pick<NormalDestination, 'af' | 'addressBytes' | 'port'>): DestinationAttrs {
  return { af: d.af, address: d.addressBytes, port: d.port };
}

/** Daemon attributes for NEW_DAEMON. */
export function daemonAttributes(d: NormalDaemon): DaemonAttrs {
  const a: DaemonAttrs = { state: d.state, interface: d.interface, syncId: d.syncId };
  if (d.maxLength !== undefined) a.maxLength = d.maxLength;
  if (d.group !== undefined) a.group = d.group;
  if (d.group6 !== undefined) a.group6 = d.group6;
  if (d.port !== undefined) a.port = d.port;
  if (d.ttl !== undefined) a.ttl = d.ttl;
  return a;
}

// ---- replies ----

function familyOf(af: number | undefined, where: string): Family {
  if (af === C.AF_INET) return 'ipv4';
  if (af === C.AF_INET6) return 'ipv6';
  throw new DecodeError(`${where}: unknown address family ${af}`, 0);
}

function addressOf(bytes: Uint8Array | undefined, family: Family, where: string): string {
  if (!bytes || bytes.length < (family === 'ipv4' ? 4 : 16)) throw new DecodeError(`${where}: address missing or too short`, 0);
  return bytesToAddress(bytes, family);
}

/** Protocol numbers → names. */
export const PROTOCOL_NAMES = new Map<number, Protocol>(Object.entries(PROTOCOLS).map(([k, v]) => [v, k as Protocol]));
export const FORWARD_NAMES = new Map<number, ForwardMethod>(Object.entries(FORWARD_METHODS).map(([k, v]) => [v, k as ForwardMethod]));
export const TUNNEL_NAMES = new Map<number, TunnelSpec['type']>(Object.entries(TUNNEL_TYPES).map(([k, v]) => [v, k as TunnelSpec['type']]));
export const CHECKSUM_NAMES = new Map<number, NonNullable<TunnelSpec['checksum']>>(
  Object.entries(TUNNEL_CHECKSUMS).map(([k, v]) => [v, k as NonNullable<TunnelSpec['checksum']>]),
);

/** Statistics, preferring the 64-bit nest (Linux 4.1+) and falling back to the 32-bit one. */
export function statsOf(s64: Stats64Attrs | undefined, s32: StatsAttrs | undefined): Stats {
  if (s64) {
    return {
      connections: s64.conns ?? 0n,
      inPackets: s64.inPackets ?? 0n,
      outPackets: s64.outPackets ?? 0n,
      inBytes: s64.inBytes ?? 0n,
      outBytes: s64.outBytes ?? 0n,
      cps: Number(s64.cps ?? 0n),
      inPps: Number(s64.inPps ?? 0n),
      outPps: Number(s64.outPps ?? 0n),
      inBps: Number(s64.inBps ?? 0n),
      outBps: Number(s64.outBps ?? 0n),
    };
  }
  const s = s32 ?? {};
  return {
    connections: BigInt(s.conns ?? 0),
    inPackets: BigInt(s.inPackets ?? 0),
    outPackets: BigInt(s.outPackets ?? 0),
    inBytes: s.inBytes ?? 0n,
    outBytes: s.outBytes ?? 0n,
    cps: s.cps ?? 0,
    inPps: s.inPps ?? 0,
    outPps: s.outPps ?? 0,
    inBps: s.inBps ?? 0,
    outBps: s.outBps ?? 0,
  };
}

/** Scheduler flag names for the SCHED1..3 bits, named as ipvsadm names them for this scheduler. */
export function schedulerFlagNames(flags: number, scheduler: string): SchedulerFlag[] {
  const out: SchedulerFlag[] = [];
  const one = (flags & C.IP_VS_SVC_F_SCHED1) !== 0;
  const two = (flags & C.IP_VS_SVC_F_SCHED2) !== 0;
  const three = (flags & C.IP_VS_SVC_F_SCHED3) !== 0;
  if (scheduler === 'sh' || scheduler === 'mh') {
    if (one) out.push(`${scheduler}-fallback` as SchedulerFlag);
    if (two) out.push(`${scheduler}-port` as SchedulerFlag);
    if (three) out.push('flag-3');
  } else {
    if (one) out.push('flag-1');
    if (two) out.push('flag-2');
    if (three) out.push('flag-3');
  }
  return out;
}

/** Persistence netmask from the raw attribute: IPv4 big-endian mask → prefix (or dotted if not contiguous); IPv6 prefix. */
export function netmaskOf(raw: Uint8Array | undefined, family: Family): number | string {
  if (!raw || raw.length < 4) return family === 'ipv4' ? 32 : 128;
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  if (family === 'ipv6') return dv.getUint32(0, LE);
  const mask = dv.getUint32(0, false);
  let prefix = 0;
  while (prefix < 32 && (mask >>> (31 - prefix)) & 1) prefix++;
  return prefixMask(prefix) === mask ? prefix : bytesToAddress(raw, 'ipv4');
}

/** The raw IP_VS_SVC_F_* flags from the FLAGS attribute. */
export function rawServiceFlags(raw: Uint8Array | undefined): number {
  if (!raw || raw.length < 4) return 0;
  return new DataView(raw.buffer, raw.byteOffset, raw.byteLength).getUint32(0, LE);
}

/** Zero statistics, shared by replies decoded without them (snapshots). */
export const NO_STATS: Stats = Object.freeze({
  connections: 0n, inPackets: 0n, outPackets: 0n, inBytes: 0n, outBytes: 0n,
  cps: 0, inPps: 0, outPps: 0, inBps: 0, outBps: 0,
});

/**
 * What a {@link Service} is made of, however its reply was read: by the table
 * decoder ({@link serviceOf}) or in place (the listing's reader).
 */
export interface ServiceFields {
  family: Family;
  /** The raw IP_VS_SVC_F_* flags. */
  flags: number;
  scheduler: string | undefined;
  stats: Stats;
  timeout: number;
  /** The raw netmask attribute (read only when the service is persistent). */
  netmask: Uint8Array | undefined;
  persistenceEngine: string | undefined;
  fwmark: number | undefined;
  protocolNumber: number | undefined;
  /** The raw address attribute (missing or too short is a DecodeError, for services without a mark). */
  address: Uint8Array | undefined;
  port: number;
}

/** The public {@link Service} of a reply's fields, with the decoder's DecodeErrors. */
export function serviceFromFields(f: ServiceFields): Service {
  const { family, flags } = f;
  const scheduler = f.scheduler ?? 'none';
  const common = {
    scheduler,
    schedulerFlags: schedulerFlagNames(flags, scheduler),
    onePacket: (flags & C.IP_VS_SVC_F_ONEPACKET) !== 0,
    flags,
    stats: f.stats,
  };
  const extra: Partial<Service> = {};
  if (flags & C.IP_VS_SVC_F_PERSISTENT) extra.persistence = { timeout: f.timeout, netmask: netmaskOf(f.netmask, family) };
  if (f.persistenceEngine) extra.persistenceEngine = f.persistenceEngine;
  if (f.fwmark !== undefined && f.fwmark !== 0) {
    return { fwmark: f.fwmark, family, ...common, ...extra } as Service;
  }
  const protocol = PROTOCOL_NAMES.get(f.protocolNumber ?? -1);
  if (!protocol) throw new DecodeError(`service: unknown protocol ${f.protocolNumber}`, 0);
  return { protocol, address: addressOf(f.address, family, 'service'), port: f.port, family, ...common, ...extra } as Service;
}

/** A service reply → the public {@link Service}. */
export function serviceOf(a: ServiceAttrs): Service {
  return serviceFromFields({
    family: familyOf(a.af, 'service'),
    flags: rawServiceFlags(a.flags),
    scheduler: a.scheduler,
    stats: a.stats64 || a.stats ? statsOf(a.stats64, a.stats) : NO_STATS,
    timeout: a.timeout ?? 0,
    netmask: a.netmask,
    persistenceEngine: a.persistenceEngine,
    fwmark: a.fwmark,
    protocolNumber: a.protocol,
    address: a.address,
    port: a.port ?? 0,
  });
}

/** A destination reply → the public {@link Destination}; `serviceFamily` is used when the kernel omits ADDR_FAMILY. */
export function destinationOf(a: DestinationAttrs, serviceFamily: Family): Destination {
  const family = a.af === undefined || a.af === 0 ? serviceFamily : familyOf(a.af, 'destination');
  const fwd = (a.forward ?? 0) & C.IP_VS_CONN_F_FWD_MASK;
  const forward = FORWARD_NAMES.get(fwd);
  if (!forward) throw new DecodeError(`destination: unknown forwarding method ${fwd}`, 0);
  const d: Destination = {
    address: addressOf(a.address, family, 'destination'),
    family,
    port: a.port ?? 0,
    weight: a.weight ?? 0,
    forward,
    upperThreshold: a.upperThreshold ?? 0,
    lowerThreshold: a.lowerThreshold ?? 0,
    activeConnections: a.activeConnections ?? 0,
    inactiveConnections: a.inactiveConnections ?? 0,
    persistentConnections: a.persistentConnections ?? 0,
    stats: a.stats64 || a.stats ? statsOf(a.stats64, a.stats) : NO_STATS,
  };
  if (forward === 'tunnel' && a.tunnelType !== undefined) {
    const type = TUNNEL_NAMES.get(a.tunnelType);
    if (type) {
      const t: NonNullable<Destination['tunnel']> = { type, checksum: CHECKSUM_NAMES.get(a.tunnelFlags ?? 0) ?? 'nocsum' };
      if (type === 'gue') t.port = a.tunnelPort ?? 0;
      d.tunnel = t;
    }
  }
  return d;
}

/** A daemon reply → the public {@link Daemon}. */
export function daemonOf(a: DaemonAttrs): Daemon {
  const state = a.state === C.IP_VS_STATE_MASTER ? 'master' : a.state === C.IP_VS_STATE_BACKUP ? 'backup' : undefined;
  if (!state) throw new DecodeError(`daemon: unknown state ${a.state}`, 0);
  const d: Daemon = { state, interface: a.interface ?? '', syncId: a.syncId ?? 0 };
  if (a.maxLength !== undefined) d.maxLength = a.maxLength;
  if (a.group6 && a.group6.length >= 16) d.multicastGroup = bytesToAddress(a.group6, 'ipv6');
  else if (a.group && a.group.length >= 4) d.multicastGroup = bytesToAddress(a.group, 'ipv4');
  if (a.port !== undefined) d.multicastPort = a.port;
  if (a.ttl !== undefined) d.multicastTtl = a.ttl;
  return d;
}

// ---- normalised forms straight from replies (live tables in plans) ----

/**
 * The normalised form of a service as the kernel reports it, built from the
 * reply's raw attributes (no text round trip). Fields a spec would not carry
 * (timeout and mask of a service that is not persistent) take the values
 * normalisation gives a spec.
 */
export function normalServiceOf(a: ServiceAttrs, s: Service): NormalServiceSpec {
  const persistent = (s.flags & C.IP_VS_SVC_F_PERSISTENT) !== 0;
  const af = s.family === 'ipv4' ? C.AF_INET : C.AF_INET6;
  const n: NormalServiceSpec = {
    family: s.family,
    af,
    scheduler: s.scheduler,
    flags: s.flags & (C.IP_VS_SVC_F_PERSISTENT | C.IP_VS_SVC_F_ONEPACKET | C.IP_VS_SVC_F_SCHED1 | C.IP_VS_SVC_F_SCHED2 | C.IP_VS_SVC_F_SCHED3),
    timeout: persistent ? (a.timeout ?? 0) : 0,
    netmask: persistent && a.netmask && a.netmask.length === 4 ? a.netmask : netmaskBytes(s.family === 'ipv4' ? 32 : 128, s.family),
  };
  if ('fwmark' in s) n.fwmark = s.fwmark;
  else {
    n.protocol = s.protocol;
    n.address = s.address;
    n.addressBytes = a.address!;
    n.port = s.port;
  }
  if (s.persistenceEngine) n.persistenceEngine = s.persistenceEngine;
  return n;
}

/** The normalised form of a destination as the kernel reports it (see {@link normalServiceOf}). */
export function normalDestinationOf(a: DestinationAttrs, d: Destination): NormalDestination {
  const forward = (a.forward ?? 0) & C.IP_VS_CONN_F_FWD_MASK;
  const tunnel = forward === C.IP_VS_CONN_F_TUNNEL && d.tunnel !== undefined;
  return {
    family: d.family,
    af: d.family === 'ipv4' ? C.AF_INET : C.AF_INET6,
    address: d.address,
    addressBytes: a.address!,
    port: d.port,
    forward,
    weight: d.weight,
    upperThreshold: d.upperThreshold,
    lowerThreshold: d.lowerThreshold,
    tunnelType: tunnel ? (a.tunnelType ?? 0) : 0,
    tunnelPort: tunnel && d.tunnel!.type === 'gue' ? (a.tunnelPort ?? 0) : 0,
    tunnelFlags: tunnel ? (a.tunnelFlags ?? 0) : 0,
  };
}
