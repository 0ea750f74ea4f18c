/**
 * Health checks as data: the {@link CheckSpec} union (JSON-serialisable, apart
 * from the `function` escape hatch), the {@link CheckResult} every probe reports,
 * and the validation that names the bad field before anything is sent.
 * @module
 */
import { isIP } from 'node:net';
import { InvalidArgumentError } from '../errors.js';

/** Fields every check takes. */
export interface CheckCommon {
  /** Probe this port instead of the destination's (e.g. a health port). */
  port?: number;
  /** The whole check (connect, exchange, reading the answer) must finish within this many milliseconds (default: the caller's, else 5 000). */
  timeoutMs?: number;
  /** Local address to bind the probe's socket to (keepalived `bindto`). */
  source?: string;
}

/** Connect over TCP, then close (keepalived TCP_CHECK, ldirectord `checktype=connect`). */
export interface TcpCheck extends CheckCommon {
  type: 'tcp';
}

/** An HTTP or HTTPS request (keepalived HTTP_GET/SSL_GET, ldirectord negotiate for http). */
export interface HttpCheck extends CheckCommon {
  type: 'http' | 'https';
  /** Request path (default `'/'`). */
  path?: string;
  /** Method (default `'GET'`). */
  method?: 'GET' | 'HEAD';
  /** Host header, and the TLS server name (SNI) for https (default: the target address). */
  host?: string;
  /** Accepted status codes as ranges, e.g. `'200-299,301'` (default `'200-399'`, as HAProxy). */
  status?: string;
  /** A regular expression the body must match (the first 1 MiB of it). */
  expect?: string;
  /** https: accept any certificate (default false: verified against the system's CAs and `host`). */
  insecure?: boolean;
}

/** Send a string over TCP (or TLS) and wait for an answer matching a regex (ldirectord negotiate, nanny send/expect). */
export interface NegotiateCheck extends CheckCommon {
  type: 'negotiate';
  /** Sent right after connecting (nothing: just read a banner). Escapes are not interpreted: use real `\r\n`. */
  send?: string;
  /** Regular expression the received text must match (the first 64 KiB). */
  expect: string;
  /** Speak TLS (certificates not verified: a health check asks "does it answer", not "is it who it claims"). */
  tls?: boolean;
}

/** What a UDP check sends: bytes given as hex (`'0a1b…'`, spaces allowed) or as text (UTF-8). */
export type UdpPayload = { hex: string } | { text: string };

/** Send one UDP datagram and wait for a reply (keepalived UDP_CHECK). */
export interface UdpCheck extends CheckCommon {
  type: 'udp';
  /** The datagram's payload. */
  send: UdpPayload;
  /**
   * Regular expression the reply must match, tested on the reply as latin1 text
   * (one character per byte, so `\x00`-style escapes match bytes). Without it any reply is up.
   * An ICMP port unreachable is down at once.
   */
  expect?: string;
}

/** DNS record types the DNS check can ask for and render (RFC 1035, RFC 3596). */
export type DnsRecordType = 'A' | 'NS' | 'CNAME' | 'SOA' | 'PTR' | 'MX' | 'TXT' | 'AAAA' | 'SRV' | 'ANY';

/** Ask the server a real DNS question over UDP (keepalived DNS_CHECK). */
export interface DnsCheck extends CheckCommon {
  type: 'dns';
  /** The name asked for, e.g. `'example.test'`. */
  name: string;
  /** Record type (default `'SOA'`, as keepalived). */
  recordType?: DnsRecordType;
  /**
   * Regular expression one answer record of the asked type must match, in its
   * text form (`'192.0.2.1'`, `'2001:db8::1'`, `'10 mx.example.test'`, SOA as
   * `'mname rname serial refresh retry expire minimum'`). Without it: RCODE
   * NOERROR and at least one answer of the type.
   */
  expect?: string;
}

/** ICMP echo request/reply (keepalived PING_CHECK); needs CAP_NET_RAW. `port` is ignored. */
export interface IcmpCheck extends CheckCommon {
  type: 'icmp';
}

/**
 * Run a program (keepalived MISC_CHECK with `misc_dynamic`, ldirectord external).
 * The target is in its environment as `IPVS_TS_ADDRESS` and `IPVS_TS_PORT`.
 * Exit 0: up; 1: down; 2..255: up with weight (code − 2); killed or not found: down.
 */
export interface ExecCheck extends CheckCommon {
  type: 'exec';
  /** Program to run (searched in PATH). */
  command: string;
  /** Its arguments. */
  args?: string[];
}

/** Always up (ldirectord `checktype=on`). */
export interface NoneCheck extends CheckCommon {
  type: 'none';
}

/** What a function probe may resolve with: a bare verdict, or a verdict with a weight and a reason. */
export type ProbeVerdict = boolean | { ok: boolean; weight?: number; detail?: string };

/** Arguments handed to a function probe. */
export interface ProbeContext {
  /** Aborted when the check's time is up or the caller gives up: stop then. */
  signal: AbortSignal;
  /** The namespace the probe should run in, if any. */
  netns?: string;
}

/** Escape hatch for code: any async function. Not JSON-serialisable, by nature. */
export interface FunctionCheck extends CheckCommon {
  type: 'function';
  /** The probe; a throw or a rejection is a failed check, never an exception to the caller. */
  probe: (target: CheckTarget, context: ProbeContext) => Promise<ProbeVerdict> | ProbeVerdict;
}

/** A health check, as data: a discriminated union on `type`. */
export type CheckSpec = TcpCheck | HttpCheck | NegotiateCheck | UdpCheck | DnsCheck | IcmpCheck | ExecCheck | NoneCheck | FunctionCheck;

/** What a check is run against. */
export interface CheckTarget {
  /** IPv4 or IPv6 address of the real server. */
  address: string;
  /** Its port (a check's own `port` takes precedence). */
  port: number;
}

/** The outcome of one check. */
export interface CheckResult {
  /** True when the server answered as expected. */
  ok: boolean;
  /** A weight the check asks for (exec exit codes 2..255, function probes). */
  weight?: number;
  /** Wall time of the check in milliseconds. */
  latencyMs: number;
  /** Why, in words: `'HTTP 200'`, `'connect ECONNREFUSED'`, `'timed out after 500 ms'`. */
  detail: string;
}

/** Default timeout of a check when neither the spec nor the caller gives one (keepalived's connect_timeout). */
export const DEFAULT_CHECK_TIMEOUT_MS = 5000;

const DNS_TYPES: readonly DnsRecordType[] = ['A', 'NS', 'CNAME', 'SOA', 'PTR', 'MX', 'TXT', 'AAAA', 'SRV', 'ANY'];

/** A parsed `status` field: inclusive [low, high] pairs. */
export type StatusRanges = Array<[number, number]>;

/**
 * Parse HTTP status ranges such as `'200-299,301'`. Throws an
 * {@link InvalidArgumentError} naming `field` for anything else.
 */
export function parseStatusRanges(text: string, field = 'status'): StatusRanges {
  const out: StatusRanges = [];
  for (const part of text.split(',')) {
    const m = /^\s*(\d{3})\s*(?:-\s*(\d{3})\s*)?$/.exec(part);
    if (!m) throw new InvalidArgumentError(field, `"${part.trim()}" is not a status code or a range like 200-299`);
    const low = Number(m[1]);
    const high = m[2] !== undefined ? Number(m[2]) : low;
    if (low < 100 || high > 599 || low > high) throw new InvalidArgumentError(field, `"${part.trim()}" is not a range of status codes 100..599`);
    out.push([low, high]);
  }
  return out;
}

/** Parse a hex payload (`'0a 1B ff'`); throws naming `field`. */
export function parseHex(text: string, field: string): Buffer {
  const clean = text.replace(/\s+/g, '');
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(clean)) throw new InvalidArgumentError(field, 'must be pairs of hex digits');
  return Buffer.from(clean, 'hex');
}

function checkRegex(source: unknown, field: string, problems: string[]): void {
  if (typeof source !== 'string') return void problems.push(`${field}: must be a string (a regular expression)`);
  try {
    new RegExp(source);
  } catch (e) {
    problems.push(`${field}: not a regular expression (${(e as Error).message})`);
  }
}

/**
 * Check a {@link CheckSpec} whole, reporting every bad field at once in one
 * {@link InvalidArgumentError} (fields named from `prefix`, e.g. `'check.expect'`).
 * Returns the spec unchanged.
 */
export function validateCheckSpec(spec: CheckSpec, prefix = 'check'): CheckSpec {
  const problems: string[] = [];
  const f = (name: string): string => `${prefix}.${name}`;
  if (spec === null || typeof spec !== 'object') throw new InvalidArgumentError(prefix, 'must be an object with a "type"');
  const s = spec as unknown as Record<string, unknown>;
  if (s.port !== undefined && (!Number.isInteger(s.port) || (s.port as number) < 1 || (s.port as number) > 65535)) problems.push(`${f('port')}: must be an integer 1..65535`);
  if (s.timeoutMs !== undefined && (typeof s.timeoutMs !== 'number' || !(s.timeoutMs > 0) || !Number.isFinite(s.timeoutMs))) problems.push(`${f('timeoutMs')}: must be a positive number`);
  if (s.source !== undefined && (typeof s.source !== 'string' || isIP(s.source) === 0)) problems.push(`${f('source')}: must be an IPv4 or IPv6 address`);
  switch (spec.type) {
    case 'tcp':
    case 'icmp':
    case 'none':
      break;
    case 'http':
    case 'https':
      if (spec.path !== undefined && (typeof spec.path !== 'string' || !spec.path.startsWith('/'))) problems.push(`${f('path')}: must start with "/"`);
      if (spec.method !== undefined && spec.method !== 'GET' && spec.method !== 'HEAD') problems.push(`${f('method')}: must be "GET" or "HEAD"`);
      if (spec.host !== undefined && (typeof spec.host !== 'string' || spec.host === '')) problems.push(`${f('host')}: must be a non-empty string`);
      if (spec.status !== undefined) {
        try {
          parseStatusRanges(spec.status, f('status'));
        } catch (e) {
          problems.push((e as Error).message);
        }
      }
      if (spec.expect !== undefined) checkRegex(spec.expect, f('expect'), problems);
      break;
    case 'negotiate':
      if (spec.send !== undefined && typeof spec.send !== 'string') problems.push(`${f('send')}: must be a string`);
      checkRegex(spec.expect, f('expect'), problems);
      break;
    case 'udp': {
      const p = spec.send as unknown as Record<string, unknown> | undefined;
      if (!p || typeof p !== 'object' || (typeof p.hex !== 'string') === (typeof p.text !== 'string')) {
        problems.push(`${f('send')}: must be { hex: string } or { text: string }`);
      } else if (typeof p.hex === 'string') {
        try {
          parseHex(p.hex, f('send.hex'));
        } catch (e) {
          problems.push((e as Error).message);
        }
      }
      if (spec.expect !== undefined) checkRegex(spec.expect, f('expect'), problems);
      break;
    }
    case 'dns':
      if (typeof spec.name !== 'string' || spec.name.length > 253 || spec.name.replace(/\.$/, '').split('.').some((l) => l.length === 0 && spec.name !== '.' || l.length > 63)) {
        problems.push(`${f('name')}: must be a domain name (labels of 1..63 characters)`);
      }
      if (spec.recordType !== undefined && !DNS_TYPES.includes(spec.recordType)) problems.push(`${f('recordType')}: must be one of ${DNS_TYPES.join(', ')}`);
      if (spec.expect !== undefined) checkRegex(spec.expect, f('expect'), problems);
      break;
    case 'exec':
      if (typeof spec.command !== 'string' || spec.command === '') problems.push(`${f('command')}: must be a non-empty string`);
      if (spec.args !== undefined && (!Array.isArray(spec.args) || spec.args.some((a) => typeof a !== 'string'))) problems.push(`${f('args')}: must be an array of strings`);
      break;
    case 'function':
      if (typeof spec.probe !== 'function') problems.push(`${f('probe')}: must be a function`);
      break;
    default:
      problems.push(`${f('type')}: unknown check type "${String((spec as { type?: unknown }).type)}" (tcp, http, https, negotiate, udp, dns, icmp, exec, none, function)`);
  }
  if (problems.length > 0) {
    const first = problems[0]!;
    const colon = first.indexOf(':');
    throw new InvalidArgumentError(first.slice(0, colon), first.slice(colon + 2), problems);
  }
  return spec;
}
