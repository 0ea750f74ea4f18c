/**
 * Parsing the lines of `/proc/net/ip_vs_conn` straight from the bytes read,
 * with no string per line or per field: addresses, states and protocol names
 * repeat across thousands of entries, so their strings are made once and
 * found again by value (bounded caches); every entry is built with one shape.
 *
 * Line format (net/netfilter/ipvs/ip_vs_conn.c, `ip_vs_conn_seq_show`, Linux
 * 6.1): `%-3s` protocol name, client address and `%04X` port, virtual address
 * and port, destination address and port, `%-11s` state, `%7u` seconds to
 * expiry, then for entries of a persistence engine ` NAME DATA`. IPv4
 * addresses are `%08X` of the host-order address, IPv6 ones `%pI6` (eight
 * 4-digit lower-case groups, not compressed). Fields are read as
 * whitespace-separated tokens, so names wider than their column (`SCTP`,
 * `SHUTDOWN_ACK_SENT`) and expiry beyond 7 digits read the same.
 * @module
 */
import { bytesToAddress, type Family } from '../ipvs/address.js';
import type { Protocol, ServiceKey } from '../ipvs/types.js';
import type { IpvsConnection } from './connections.js';

/** Kernel protocol names (ip_vs_proto.c, `ip_vs_proto_name`) and the names entries carry. */
const PROTOCOL_NAMES: Record<string, string> = { TCP: 'tcp', UDP: 'udp', SCTP: 'sctp', IP: 'ip', ICMP: 'icmp', ICMPv6: 'icmpv6' };

/** Value of each byte as a hex digit, or -1. */
const HEX = new Int8Array(256).fill(-1);
for (let c = 0; c < 10; c++) HEX[48 + c] = c;
for (let c = 0; c < 6; c++) {
  HEX[65 + c] = 10 + c;
  HEX[97 + c] = 10 + c;
}

const DECIMAL = Array.from({ length: 256 }, (_, i) => String(i));

/**
 * Short tokens (protocol names, states) as strings, each made once: a small
 * list compared byte by byte (there are a dozen states at most per protocol).
 */
class TokenStrings {
  private readonly keys: Uint8Array[] = [];
  private readonly values: string[] = [];
  constructor(private readonly name: (raw: string) => string) {}

  get(buf: Uint8Array, a: number, b: number): string {
    const len = b - a;
    const keys = this.keys;
    outer: for (let k = 0; k < keys.length; k++) {
      const key = keys[k]!;
      if (key.length !== len) continue;
      for (let j = 0; j < len; j++) if (key[j] !== buf[a + j]) continue outer;
      return this.values[k]!;
    }
    const value = this.name(latin1(buf, a, b));
    // Bounded: a file that is not the kernel's could carry any number of distinct tokens.
    if (keys.length < 64) {
      keys.push(buf.slice(a, b));
      this.values.push(value);
    }
    return value;
  }
}

const protocols = new TokenStrings((raw) => PROTOCOL_NAMES[raw] ?? raw.toLowerCase());
const states = new TokenStrings((raw) => raw);

/**
 * Formatted addresses by value: direct-mapped caches (a slot per hash, a
 * newer address replaces an older one), so memory stays bounded whatever the
 * number of distinct clients, and the virtual and destination addresses that
 * fill a table are formatted once.
 */
const V4_BITS = 13;
const v4Keys = new Int32Array(1 << V4_BITS);
const v4Strings: string[] = new Array<string>(1 << V4_BITS).fill('');
const V6_BITS = 11;
const v6Keys = new Int32Array(4 << V6_BITS);
const v6Strings: string[] = new Array<string>(1 << V6_BITS).fill('');
const v6Bytes = new Uint8Array(16);

function ipv4String(v: number): string {
  const slot = Math.imul(v, 0x9e3779b1) >>> (32 - V4_BITS);
  const s = v4Strings[slot]!;
  if (s.length !== 0 && v4Keys[slot] === v) return s;
  const text = `${DECIMAL[v >>> 24]}.${DECIMAL[(v >>> 16) & 255]}.${DECIMAL[(v >>> 8) & 255]}.${DECIMAL[v & 255]}`;
  v4Keys[slot] = v;
  v4Strings[slot] = text;
  return text;
}

function ipv6String(w0: number, w1: number, w2: number, w3: number): string {
  const slot = Math.imul(w0 ^ Math.imul(w1, 0x85ebca6b) ^ Math.imul(w2, 0xc2b2ae35) ^ Math.imul(w3, 0x27d4eb2f), 0x9e3779b1) >>> (32 - V6_BITS);
  const s = v6Strings[slot]!;
  const k = slot * 4;
  if (s.length !== 0 && v6Keys[k] === w0 && v6Keys[k + 1] === w1 && v6Keys[k + 2] === w2 && v6Keys[k + 3] === w3) return s;
  const words = [w0, w1, w2, w3];
  for (let i = 0; i < 4; i++) {
    const w = words[i]!;
    v6Bytes[i * 4] = w >>> 24;
    v6Bytes[i * 4 + 1] = (w >>> 16) & 255;
    v6Bytes[i * 4 + 2] = (w >>> 8) & 255;
    v6Bytes[i * 4 + 3] = w & 255;
  }
  const text = bytesToAddress(v6Bytes, 'ipv6');
  v6Keys[k] = w0;
  v6Keys[k + 1] = w1;
  v6Keys[k + 2] = w2;
  v6Keys[k + 3] = w3;
  v6Strings[slot] = text;
  return text;
}

function latin1(buf: Uint8Array, a: number, b: number): string {
  return Buffer.from(buf.buffer, buf.byteOffset + a, b - a).toString('latin1');
}

/** Field boundaries of the line being parsed (11 fields at most; the 11th runs to the end of the line). */
const starts = new Int32Array(11);
const ends = new Int32Array(11);

function bad(buf: Uint8Array, a: number, b: number, what: string): never {
  throw new Error(`connection table line: ${what}: ${JSON.stringify(latin1(buf, a, b))}`);
}

/** `b - a` hex digits at buf[a, b) as an int32 (8 digits at most). */
function hex(buf: Uint8Array, a: number, b: number, line: number, lineEnd: number): number {
  let v = 0;
  for (let i = a; i < b; i++) {
    const d = HEX[buf[i]!]!;
    if (d < 0) bad(buf, line, lineEnd, 'bad hex field');
    v = (v << 4) | d;
  }
  return v;
}

/** Scratch for the address fields: text, family, and the first 32 bits (a fwmark template's mark). */
interface AddressField {
  text: string;
  ipv6: boolean;
  firstWord: number;
}
const client: AddressField = { text: '', ipv6: false, firstWord: 0 };
const virt: AddressField = { text: '', ipv6: false, firstWord: 0 };
const dest: AddressField = { text: '', ipv6: false, firstWord: 0 };

function address(buf: Uint8Array, k: number, out: AddressField, line: number, lineEnd: number): void {
  const a = starts[k]!;
  const width = ends[k]! - a;
  if (width === 8) {
    const v = hex(buf, a, a + 8, line, lineEnd);
    out.text = ipv4String(v);
    out.ipv6 = false;
    out.firstWord = v >>> 0;
    return;
  }
  if (width !== 39) bad(buf, line, lineEnd, 'bad address field');
  for (let g = 4; g < 39; g += 5) if (buf[a + g] !== 58) bad(buf, line, lineEnd, 'bad IPv6 address field');
  const w0 = (hex(buf, a, a + 4, line, lineEnd) << 16) | hex(buf, a + 5, a + 9, line, lineEnd);
  const w1 = (hex(buf, a + 10, a + 14, line, lineEnd) << 16) | hex(buf, a + 15, a + 19, line, lineEnd);
  const w2 = (hex(buf, a + 20, a + 24, line, lineEnd) << 16) | hex(buf, a + 25, a + 29, line, lineEnd);
  const w3 = (hex(buf, a + 30, a + 34, line, lineEnd) << 16) | hex(buf, a + 35, a + 39, line, lineEnd);
  out.text = ipv6String(w0, w1, w2, w3);
  out.ipv6 = true;
  out.firstWord = w0 >>> 0;
}

function port(buf: Uint8Array, k: number, line: number, lineEnd: number): number {
  const a = starts[k]!;
  if (ends[k]! - a !== 4) bad(buf, line, lineEnd, 'bad port field');
  return hex(buf, a, a + 4, line, lineEnd);
}

const isSpace = (c: number): boolean => c === 32 || c === 9;

/**
 * Parse the entry at buf[line, lineEnd) (one line without its newline, not
 * the header). Throws on a line that does not have the kernel's format.
 */
export function parseConnectionBytes(buf: Uint8Array, line: number, lineEnd: number): IpvsConnection {
  let n = 0;
  let i = line;
  while (n < 11) {
    while (i < lineEnd && isSpace(buf[i]!)) i++;
    if (i >= lineEnd) break;
    starts[n] = i;
    if (n === 10) {
      // Engine data: the rest of the line, trailing blanks left out.
      let e = lineEnd;
      while (isSpace(buf[e - 1]!) || buf[e - 1] === 13) e--;
      ends[n++] = e;
      break;
    }
    while (i < lineEnd && !isSpace(buf[i]!)) i++;
    ends[n++] = i;
  }
  if (n < 9) bad(buf, line, lineEnd, `${n} fields, expected at least 9`);
  const protocol = protocols.get(buf, starts[0]!, ends[0]!);
  address(buf, 1, client, line, lineEnd);
  address(buf, 3, virt, line, lineEnd);
  address(buf, 5, dest, line, lineEnd);
  const clientPort = port(buf, 2, line, lineEnd);
  const virtualPort = port(buf, 4, line, lineEnd);
  const destinationPort = port(buf, 6, line, lineEnd);
  const state = states.get(buf, starts[7]!, ends[7]!);
  let expires = 0;
  for (let j = starts[8]!; j < ends[8]!; j++) {
    const c = buf[j]! - 48;
    if (c < 0 || c > 9) bad(buf, line, lineEnd, 'bad expiry');
    expires = expires * 10 + c;
  }
  const family: Family = client.ipv6 ? 'ipv6' : 'ipv4';
  const template = clientPort === 0 && (state === 'NONE' || state === 'ASSURED');
  let service: ServiceKey | undefined;
  if (template) {
    service = protocol === 'ip' ? { fwmark: virt.firstWord, family } : { protocol: protocol as Protocol, address: virt.text, port: virtualPort };
  }
  // One literal with every property, in one order: every entry has the same shape.
  return {
    protocol,
    family,
    clientAddress: client.text,
    clientPort,
    virtualAddress: virt.text,
    virtualPort,
    destinationAddress: dest.text,
    destinationPort,
    state,
    expires,
    template,
    persistenceEngine: n >= 10 ? latin1(buf, starts[9]!, ends[9]!) : undefined,
    persistenceData: n >= 11 ? latin1(buf, starts[10]!, ends[10]!) : undefined,
    service,
  };
}

/**
 * Parse one line of /proc/net/ip_vs_conn (not the header). Throws on a line
 * that does not have the kernel's format.
 */
export function parseConnectionLine(line: string): IpvsConnection {
  const buf = Buffer.from(line, 'latin1');
  return parseConnectionBytes(buf, 0, buf.length);
}
