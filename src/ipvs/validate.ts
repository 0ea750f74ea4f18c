/**
 * Checks every user-supplied spec before anything is sent, and turns it into
 * the normalised form the encoder writes. Errors name the offending field.
 * @module
 */
import { InvalidArgumentError } from '../errors.js';
import { HOST_LITTLE_ENDIAN } from '../netlink/constants.js';
import { addressFamily, addressToBytes, bytesToAddress, isMulticast, type Family } from './address.js';
import * as C from './constants.js';
import { schedulerInfo, schedulerOfFlag } from './schedulers-data.js';
import type {
  DaemonSpec,
  DestinationKey,
  DestinationSpec,
  ForwardMethod,
  Protocol,
  SchedulerFlag,
  ServiceKey,
  ServiceSpec,
  Timeouts,
  TunnelSpec,
} from './types.js';

/** A service key in wire terms. */
export interface NormalServiceKey {
  family: Family;
  af: number;
  /** Set for fwmark services. */
  fwmark?: number;
  /** Set for address services. */
  protocol?: Protocol;
  address?: string;
  addressBytes?: Uint8Array;
  port?: number;
}

/** A full service spec in wire terms. */
export interface NormalServiceSpec extends NormalServiceKey {
  scheduler: string;
  /** IP_VS_SVC_F_* bits (PERSISTENT, ONEPACKET, SCHED1..3). */
  flags: number;
  /** Persistence timeout in seconds (0 when not persistent). */
  timeout: number;
  /** Raw NETMASK payload: IPv4 the big-endian mask, IPv6 a host-order prefix length. */
  netmask: Uint8Array;
  persistenceEngine?: string;
}

/** A destination in wire terms. */
export interface NormalDestination {
  family: Family;
  af: number;
  address: string;
  addressBytes: Uint8Array;
  port: number;
  forward: number;
  weight: number;
  upperThreshold: number;
  lowerThreshold: number;
  tunnelType: number;
  tunnelPort: number;
  tunnelFlags: number;
}

/** Protocol names ↔ numbers. */
export const PROTOCOLS: Record<Protocol, number> = { tcp: C.IPPROTO_TCP, udp: C.IPPROTO_UDP, sctp: C.IPPROTO_SCTP };
/** Forwarding method names ↔ IP_VS_CONN_F_* values. */
export const FORWARD_METHODS: Record<ForwardMethod, number> = {
  masq: C.IP_VS_CONN_F_MASQ,
  local: C.IP_VS_CONN_F_LOCALNODE,
  tunnel: C.IP_VS_CONN_F_TUNNEL,
  route: C.IP_VS_CONN_F_DROUTE,
  bypass: C.IP_VS_CONN_F_BYPASS,
};
export const TUNNEL_TYPES: Record<TunnelSpec['type'], number> = {
  ipip: C.IP_VS_CONN_F_TUNNEL_TYPE_IPIP,
  gue: C.IP_VS_CONN_F_TUNNEL_TYPE_GUE,
  gre: C.IP_VS_CONN_F_TUNNEL_TYPE_GRE,
};
export const TUNNEL_CHECKSUMS: Record<NonNullable<TunnelSpec['checksum']>, number> = {
  nocsum: C.IP_VS_TUNNEL_ENCAP_FLAG_NOCSUM,
  csum: C.IP_VS_TUNNEL_ENCAP_FLAG_CSUM,
  remcsum: C.IP_VS_TUNNEL_ENCAP_FLAG_REMCSUM,
};
const SCHEDULER_FLAG_BITS: Record<SchedulerFlag, number> = {
  'sh-fallback': C.IP_VS_SVC_F_SCHED_SH_FALLBACK,
  'sh-port': C.IP_VS_SVC_F_SCHED_SH_PORT,
  'mh-fallback': C.IP_VS_SVC_F_SCHED_MH_FALLBACK,
  'mh-port': C.IP_VS_SVC_F_SCHED_MH_PORT,
  'flag-1': C.IP_VS_SVC_F_SCHED1,
  'flag-2': C.IP_VS_SVC_F_SCHED2,
  'flag-3': C.IP_VS_SVC_F_SCHED3,
};

/** Largest timeout the kernel accepts for any HZ up to 1000 (INT_MAX / HZ). */
const MAX_TIMEOUT_SECONDS = Math.floor(0x7fffffff / 1000);
const IFNAME = /^[^\s/:%]{1,15}$/;
const NAME = /^[A-Za-z0-9_-]+$/;

function fail(field: string, message: string): never {
  throw new InvalidArgumentError(field, message);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** An integer in [min, max], else an error naming the field. */
export function checkInteger(value: unknown, field: string, min: number, max: number, sub?: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    fail(sub === undefined ? field : `${field}.${sub}`, `must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return value;
}

interface ParsedAddress {
  family: Family;
  address: string;
  bytes: Uint8Array;
}

/**
 * Parsed addresses, by text. Bulk callers name the same service address once
 * per destination; parsing it once keeps large applies fast. The byte arrays
 * are shared and never modified.
 */
const addressCache = new Map<string, ParsedAddress>();
const ADDRESS_CACHE_LIMIT = 1 << 16;

function checkAddress(value: unknown, parent: string, sub?: string): ParsedAddress {
  const cached = typeof value === 'string' ? addressCache.get(value) : undefined;
  if (cached) return cached;
  // Field names are built only on the slow path: this runs once per destination in bulk applies.
  const field = sub === undefined ? parent : `${parent}.${sub}`;
  if (typeof value !== 'string') fail(field, `must be an IPv4 or IPv6 address string, got ${JSON.stringify(value)}`);
  const family = addressFamily(value);
  if (!family) fail(field, `${JSON.stringify(value)} is not a valid IPv4 or IPv6 address`);
  if (value.includes('%')) fail(field, `${JSON.stringify(value)} has a zone index, which IPVS cannot use`);
  const bytes = addressToBytes(value, family);
  const parsed = { family, address: family === 'ipv4' ? value : bytesToAddress(bytes, family), bytes };
  if (addressCache.size >= ADDRESS_CACHE_LIMIT) addressCache.clear();
  addressCache.set(value, parsed);
  return parsed;
}

/**
 * The shared, never-modified 16 bytes of `address` (canonical text of
 * `family`, as a reply decodes it) when they equal `buf[p, p + 16)`;
 * otherwise a copy of `buf[p, p + n)`. Live destinations of a plan use it:
 * a table read for every apply would otherwise copy an address per destination.
 */
export function sharedAddressBytes(address: string, family: Family, buf: Uint8Array, p: number, n: number): Uint8Array {
  let parsed = addressCache.get(address);
  if (!parsed) {
    const bytes = addressToBytes(address, family);
    parsed = { family, address: family === 'ipv4' ? address : bytesToAddress(bytes, family), bytes };
    if (addressCache.size >= ADDRESS_CACHE_LIMIT) addressCache.clear();
    addressCache.set(address, parsed);
  }
  const b = parsed.bytes;
  let same = n === 16 && b.length === 16 && parsed.family === family;
  for (let i = 0; same && i < 16; i++) same = b[i] === buf[p + i];
  if (same) return b;
  const copy = new Uint8Array(n);
  for (let i = 0; i < n; i++) copy[i] = buf[p + i]!;
  return copy;
}

function checkFamily(value: unknown, field: string): Family {
  if (value !== 'ipv4' && value !== 'ipv6') fail(field, `must be 'ipv4' or 'ipv6', got ${JSON.stringify(value)}`);
  return value;
}

function checkName(value: unknown, field: string, maxLength: number, what: string): string {
  if (typeof value !== 'string' || value.length === 0) fail(field, `must be a non-empty ${what} name`);
  if (value.length > maxLength) fail(field, `${what} name ${JSON.stringify(value)} is longer than ${maxLength} characters`);
  if (!NAME.test(value)) fail(field, `${what} name ${JSON.stringify(value)} may only contain letters, digits, '_' and '-'`);
  return value;
}

/** Validate a service key. */
export function normalizeServiceKey(key: ServiceKey, field = 'service'): NormalServiceKey {
  if (!isObject(key)) fail(field, 'must be an object with { protocol, address, port } or { fwmark }');
  if ('fwmark' in key && key.fwmark !== undefined) {
    if ('address' in key || 'protocol' in key || 'port' in key) {
      fail(field, 'give either fwmark or protocol/address/port, not both');
    }
    const fwmark = checkInteger(key.fwmark, `${field}.fwmark`, 1, 0xffffffff);
    const family = key.family === undefined ? 'ipv4' : checkFamily(key.family, `${field}.family`);
    return { family, af: family === 'ipv4' ? C.AF_INET : C.AF_INET6, fwmark };
  }
  const k = key as Partial<{ protocol: unknown; address: unknown; port: unknown }>;
  if (k.protocol === undefined && k.address === undefined) fail(field, 'must have either fwmark or protocol, address and port');
  if (k.protocol !== 'tcp' && k.protocol !== 'udp' && k.protocol !== 'sctp') {
    fail(`${field}.protocol`, `must be 'tcp', 'udp' or 'sctp', got ${JSON.stringify(k.protocol)}`);
  }
  const a = checkAddress(k.address, field, 'address');
  const port = checkInteger(k.port, field, 0, 65535, 'port');
  if ('family' in key && (key as { family?: unknown }).family !== undefined && (key as { family?: unknown }).family !== a.family) {
    fail(`${field}.family`, `is ${JSON.stringify((key as { family?: unknown }).family)} but the address ${k.address} is ${a.family}`);
  }
  return {
    family: a.family,
    af: a.family === 'ipv4' ? C.AF_INET : C.AF_INET6,
    protocol: k.protocol,
    address: a.address,
    addressBytes: a.bytes,
    port,
  };
}

/** Parse a persistence netmask into a prefix length; dotted IPv4 masks must be contiguous. */
export function netmaskPrefix(value: unknown, family: Family, field: string): number {
  if (typeof value === 'number') {
    return family === 'ipv4' ? checkInteger(value, field, 0, 32) : checkInteger(value, field, 1, 128);
  }
  if (typeof value === 'string' && family === 'ipv4' && addressFamily(value) === 'ipv4') {
    const b = addressToBytes(value, 'ipv4');
    const mask = ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
    let prefix = 0;
    while (prefix < 32 && (mask >>> (31 - prefix)) & 1) prefix++;
    if (prefixMask(prefix) !== mask) fail(field, `${value} is not a contiguous netmask`);
    return prefix;
  }
  if (typeof value === 'string' && /^\/?\d+$/.test(value)) return netmaskPrefix(Number(value.replace('/', '')), family, field);
  return fail(field, family === 'ipv4' ? 'must be a prefix length 0..32 or a dotted mask like "255.255.255.0"' : 'must be a prefix length 1..128');
}

/** Encoded netmasks by family and prefix; shared and never modified (every service names one). */
const netmaskCache = new Map<number, Uint8Array>();

/** The raw NETMASK attribute for a prefix length (a shared array: do not modify it). */
export function netmaskBytes(prefix: number, family: Family): Uint8Array {
  const id = family === 'ipv4' ? prefix : 256 + prefix;
  const cached = netmaskCache.get(id);
  if (cached) return cached;
  const out = new Uint8Array(4);
  const dv = new DataView(out.buffer);
  if (family === 'ipv4') dv.setUint32(0, prefixMask(prefix), false);
  else dv.setUint32(0, prefix, HOST_LITTLE_ENDIAN);
  netmaskCache.set(id, out);
  return out;
}

/** The 32-bit IPv4 mask of a prefix length. */
export function prefixMask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Validate a full service spec (key plus options) and fill in defaults. */
export function normalizeServiceSpec(spec: ServiceSpec, field = 'service', strict = true): NormalServiceSpec {
  const key = normalizeServiceKey(spec, field);
  const s = spec as ServiceSpec & Record<string, unknown>;
  const scheduler = s.scheduler === undefined ? 'wlc' : checkName(s.scheduler, `${field}.scheduler`, C.IP_VS_SCHEDNAME_MAXLEN - 1, 'scheduler');
  let flags = 0;
  if (s.schedulerFlags !== undefined) {
    if (!Array.isArray(s.schedulerFlags)) fail(`${field}.schedulerFlags`, 'must be an array');
    s.schedulerFlags.forEach((f, i) => {
      const bit = SCHEDULER_FLAG_BITS[f as SchedulerFlag];
      if (bit === undefined) fail(`${field}.schedulerFlags[${i}]`, `unknown scheduler flag ${JSON.stringify(f)} (known: ${Object.keys(SCHEDULER_FLAG_BITS).join(', ')})`);
      const owner = schedulerOfFlag(f);
      if (owner !== undefined && owner !== scheduler) {
        const accepts = schedulerInfo(scheduler)?.flags ?? [];
        fail(
          `${field}.schedulerFlags[${i}]`,
          `${f} is a flag of scheduler '${owner}' only; scheduler ${JSON.stringify(scheduler)} ` +
            (accepts.length ? `takes ${accepts.join(', ')}` : 'reads no named flag') +
            ' (the generic flag-1..3 bits pass through to any scheduler)',
        );
      }
      flags |= bit;
    });
  }
  let timeout = 0;
  let netmask = netmaskBytes(key.family === 'ipv4' ? 32 : 128, key.family);
  if (s.persistence !== undefined) {
    if (!isObject(s.persistence)) fail(`${field}.persistence`, 'must be an object { timeout, netmask? }');
    timeout = checkInteger(s.persistence.timeout, `${field}.persistence.timeout`, 1, C.IPVS_MAX_PERSISTENT_TIMEOUT);
    const m = s.persistence.netmask;
    if (!strict && typeof m === 'string' && key.family === 'ipv4' && addressFamily(m) === 'ipv4') {
      // A table read back from the kernel may hold a mask other tools set; keep it as it is.
      netmask = addressToBytes(m, 'ipv4').slice(0, 4);
    } else if (m !== undefined) {
      netmask = netmaskBytes(netmaskPrefix(m, key.family, `${field}.persistence.netmask`), key.family);
    }
    flags |= C.IP_VS_SVC_F_PERSISTENT;
  }
  if (key.port === 0 && !(flags & C.IP_VS_SVC_F_PERSISTENT)) {
    fail(`${field}.port`, 'port 0 (all ports) is only allowed for a persistent service; give a port 1..65535 or persistence');
  }
  if (s.onePacket !== undefined && typeof s.onePacket !== 'boolean') fail(`${field}.onePacket`, 'must be true or false');
  if (s.onePacket) {
    if (key.protocol !== undefined && key.protocol !== 'udp') fail(`${field}.onePacket`, 'one-packet scheduling is only for UDP and fwmark services');
    flags |= C.IP_VS_SVC_F_ONEPACKET;
  }
  // The key object is this call's own: completing it costs less than a spread copy.
  const out = key as NormalServiceSpec;
  out.scheduler = scheduler;
  out.flags = flags;
  out.timeout = timeout;
  out.netmask = netmask;
  if (s.persistenceEngine !== undefined && s.persistenceEngine !== '') {
    out.persistenceEngine = checkName(s.persistenceEngine, `${field}.persistenceEngine`, C.IP_VS_PENAME_MAXLEN - 1, 'persistence engine');
  }
  return out;
}

/** The address and port of a destination (the port defaults to the service's). */
function destinationAddressPort(dest: DestinationKey, service: NormalServiceKey, field: string): { a: ParsedAddress; port: number } {
  if (!isObject(dest)) fail(field, 'must be an object with { address, port? }');
  const a = checkAddress(dest.address, field, 'address');
  const port = dest.port === undefined ? (service.port ?? 0) : checkInteger(dest.port, field, 0, 65535, 'port');
  return { a, port };
}

/** Validate a destination key (address and optional port) against its service. */
export function normalizeDestinationKey(
  dest: DestinationKey,
  service: NormalServiceKey,
  field = 'destination',
): Pick<NormalDestination, 'family' | 'af' | 'address' | 'addressBytes' | 'port'> {
  const { a, port } = destinationAddressPort(dest, service, field);
  return { family: a.family, af: a.family === 'ipv4' ? C.AF_INET : C.AF_INET6, address: a.address, addressBytes: a.bytes, port };
}

/** Validate a destination spec against its service and fill in defaults. */
export function normalizeDestination(dest: DestinationSpec, service: NormalServiceKey, field = 'destination', strict = true): NormalDestination {
  const { a, port } = destinationAddressPort(dest, service, field);
  const forwardName = dest.forward ?? 'route';
  const forward = FORWARD_METHODS[forwardName as ForwardMethod];
  if (forward === undefined) fail(`${field}.forward`, `unknown forwarding method ${JSON.stringify(dest.forward)} (known: ${Object.keys(FORWARD_METHODS).join(', ')})`);
  if (a.family !== service.family && forwardName !== 'tunnel') {
    fail(`${field}.address`, `is ${a.family} but the service is ${service.family}; mixing families needs forward: 'tunnel'`);
  }
  if (strict && (forwardName === 'route' || forwardName === 'tunnel') && service.port !== undefined && port !== service.port) {
    fail(`${field}.port`, `${forwardName} forwarding does not change the port, so it must equal the service port ${service.port} (or be left out), got ${port}`);
  }
  const weight = dest.weight === undefined ? 1 : checkInteger(dest.weight, field, 0, 0x7fffffff, 'weight');
  const upperThreshold = dest.upperThreshold === undefined ? 0 : checkInteger(dest.upperThreshold, field, 0, 0xffffffff, 'upperThreshold');
  const lowerThreshold = dest.lowerThreshold === undefined ? 0 : checkInteger(dest.lowerThreshold, field, 0, 0xffffffff, 'lowerThreshold');
  if (lowerThreshold > upperThreshold) {
    fail(`${field}.lowerThreshold`, `(${lowerThreshold}) must not exceed upperThreshold (${upperThreshold}${upperThreshold === 0 ? ', i.e. no limit' : ''})`);
  }
  let tunnelType = 0;
  let tunnelPort = 0;
  let tunnelFlags = 0;
  if (dest.tunnel !== undefined) {
    if (forwardName !== 'tunnel') fail(`${field}.tunnel`, `only applies with forward: 'tunnel', not ${JSON.stringify(forwardName)}`);
    if (!isObject(dest.tunnel)) fail(`${field}.tunnel`, 'must be an object { type, port?, checksum? }');
    const t = TUNNEL_TYPES[dest.tunnel.type as TunnelSpec['type']];
    if (t === undefined) fail(`${field}.tunnel.type`, `must be 'ipip', 'gue' or 'gre', got ${JSON.stringify(dest.tunnel.type)}`);
    tunnelType = t;
    if (dest.tunnel.type === 'gue') {
      if (dest.tunnel.port === undefined) fail(`${field}.tunnel.port`, 'is required for GUE tunnels');
      tunnelPort = checkInteger(dest.tunnel.port, `${field}.tunnel.port`, 1, 65535);
    } else if (dest.tunnel.port !== undefined) {
      fail(`${field}.tunnel.port`, `only applies to GUE tunnels, not ${dest.tunnel.type}`);
    }
    const cs = dest.tunnel.checksum ?? 'nocsum';
    const f = TUNNEL_CHECKSUMS[cs as NonNullable<TunnelSpec['checksum']>];
    if (f === undefined) fail(`${field}.tunnel.checksum`, `must be 'nocsum', 'csum' or 'remcsum', got ${JSON.stringify(cs)}`);
    if (dest.tunnel.type === 'ipip' && cs !== 'nocsum') fail(`${field}.tunnel.checksum`, 'IPIP tunnels have no checksum option');
    if (dest.tunnel.type === 'gre' && cs === 'remcsum') fail(`${field}.tunnel.checksum`, 'remote checksum offload is only for GUE tunnels');
    tunnelFlags = f;
  }
  return {
    family: a.family, af: a.family === 'ipv4' ? C.AF_INET : C.AF_INET6, address: a.address, addressBytes: a.bytes, port,
    forward, weight, upperThreshold, lowerThreshold, tunnelType, tunnelPort, tunnelFlags,
  };
}

/** Validate timeouts to set; at least one must be given. */
export function normalizeTimeouts(t: Partial<Timeouts>): Partial<Timeouts> {
  if (!isObject(t)) fail('timeouts', 'must be an object { tcp?, tcpFin?, udp? }');
  const out: Partial<Timeouts> = {};
  for (const k of ['tcp', 'tcpFin', 'udp'] as const) {
    if (t[k] !== undefined) out[k] = checkInteger(t[k], `timeouts.${k}`, 1, MAX_TIMEOUT_SECONDS);
  }
  const unknown = Object.keys(t).filter((k) => !['tcp', 'tcpFin', 'udp'].includes(k));
  if (unknown.length) fail(`timeouts.${unknown[0]}`, 'is not a timeout (known: tcp, tcpFin, udp)');
  if (Object.keys(out).length === 0) fail('timeouts', 'give at least one of tcp, tcpFin, udp (seconds)');
  return out;
}

/** Validate a sync daemon state name. */
export function normalizeDaemonState(state: unknown, field = 'daemon.state'): number {
  if (state === 'master') return C.IP_VS_STATE_MASTER;
  if (state === 'backup') return C.IP_VS_STATE_BACKUP;
  return fail(field, `must be 'master' or 'backup', got ${JSON.stringify(state)}`);
}

/** A daemon spec in wire terms. */
export interface NormalDaemon {
  state: number;
  interface: string;
  syncId: number;
  maxLength?: number;
  group?: Uint8Array;
  group6?: Uint8Array;
  port?: number;
  ttl?: number;
}

/** Validate a sync daemon spec. */
export function normalizeDaemon(spec: DaemonSpec): NormalDaemon {
  if (!isObject(spec)) fail('daemon', 'must be an object { state, interface, ... }');
  const state = normalizeDaemonState(spec.state);
  if (typeof spec.interface !== 'string' || !IFNAME.test(spec.interface)) {
    fail('daemon.interface', `must be an interface name of 1 to ${C.IP_VS_IFNAME_MAXLEN - 1} characters without spaces, '/' or ':', got ${JSON.stringify(spec.interface)}`);
  }
  const out: NormalDaemon = { state, interface: spec.interface, syncId: spec.syncId === undefined ? 0 : checkInteger(spec.syncId, 'daemon.syncId', 0, 255) };
  if (spec.maxLength !== undefined) out.maxLength = checkInteger(spec.maxLength, 'daemon.maxLength', 1, 65535 - 28);
  if (spec.multicastGroup !== undefined) {
    const a = checkAddress(spec.multicastGroup, 'daemon.multicastGroup');
    if (!isMulticast(a.address, a.family)) fail('daemon.multicastGroup', `${spec.multicastGroup} is not a multicast address`);
    if (a.family === 'ipv4') out.group = a.bytes.subarray(0, 4);
    else out.group6 = a.bytes;
  }
  if (spec.multicastPort !== undefined) out.port = checkInteger(spec.multicastPort, 'daemon.multicastPort', 1, 65535);
  if (spec.multicastTtl !== undefined) out.ttl = checkInteger(spec.multicastTtl, 'daemon.multicastTtl', 1, 255);
  return out;
}
