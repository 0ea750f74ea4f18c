/**
 * IP address text ↔ bytes, in the 16-byte `union nf_inet_addr` layout the
 * kernel uses (IPv4 in the first 4 bytes, zeros after). Formatting follows
 * glibc's inet_ntop so text matches what ipvsadm prints.
 * @module
 */
import { isIP } from 'node:net';

/** Address family in the public API. */
export type Family = 'ipv4' | 'ipv6';

/** Which family a textual address is, or undefined when it is not an address. */
export function addressFamily(text: string): Family | undefined {
  const v = isIP(text);
  return v === 4 ? 'ipv4' : v === 6 ? 'ipv6' : undefined;
}

/** Parse an IPv4 or IPv6 address (already validated with {@link addressFamily}) into 16 bytes. */
export function addressToBytes(text: string, family: Family): Uint8Array {
  const out = new Uint8Array(16);
  if (family === 'ipv4') {
    // Digit by digit, no split(): a bulk apply parses thousands of addresses.
    // (Valid dotted quads only, as the callers have checked; a missing part reads as 0.)
    let part = 0;
    let value = 0;
    for (let i = 0; i < text.length && part < 4; i++) {
      const c = text.charCodeAt(i);
      if (c === 46 /* . */) {
        out[part++] = value;
        value = 0;
      } else {
        value = value * 10 + (c - 48);
      }
    }
    if (part < 4) out[part] = value;
    return out;
  }
  let s = text;
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  // An embedded IPv4 tail counts as two 16-bit groups.
  const words: number[] = [];
  const parseGroups = (part: string): number[] => {
    if (part === '') return [];
    const groups: number[] = [];
    for (const g of part.split(':')) {
      if (g.includes('.')) {
        const b = g.split('.').map(Number);
        groups.push((b[0]! << 8) | b[1]!, (b[2]! << 8) | b[3]!);
      } else {
        groups.push(parseInt(g, 16));
      }
    }
    return groups;
  };
  const dbl = s.indexOf('::');
  if (dbl >= 0) {
    const head = parseGroups(s.slice(0, dbl));
    const tail = parseGroups(s.slice(dbl + 2));
    words.push(...head, ...new Array(8 - head.length - tail.length).fill(0), ...tail);
  } else {
    words.push(...parseGroups(s));
  }
  for (let i = 0; i < 8; i++) {
    out[i * 2] = (words[i]! >> 8) & 0xff;
    out[i * 2 + 1] = words[i]! & 0xff;
  }
  return out;
}

/** Format 4 (IPv4) or 16 (IPv6) address bytes as text, like glibc's inet_ntop. */
export function bytesToAddress(bytes: Uint8Array, family: Family): string {
  if (family === 'ipv4') return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  const w: number[] = [];
  for (let i = 0; i < 8; i++) w.push((bytes[i * 2]! << 8) | bytes[i * 2 + 1]!);
  // Longest run of zero words (at least 2), the first one on a tie.
  let bestBase = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (w[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) {
      bestBase = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestLen < 2) bestBase = -1;
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (bestBase >= 0 && i >= bestBase && i < bestBase + bestLen) {
      if (i === bestBase) out += ':';
      continue;
    }
    if (i !== 0) out += ':';
    // IPv4-compatible (::a.b.c.d) and IPv4-mapped (::ffff:a.b.c.d) forms.
    if (i === 6 && bestBase === 0 && (bestLen === 6 || (bestLen === 7 && w[7] !== 0x0001) || (bestLen === 5 && w[5] === 0xffff))) {
      out += `${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
      break;
    }
    out += w[i]!.toString(16);
  }
  if (bestBase >= 0 && bestBase + bestLen === 8) out += ':';
  return out;
}

/** Canonical text of an address (what the kernel hands back, formatted like inet_ntop). */
export function canonicalAddress(text: string, family: Family): string {
  return bytesToAddress(addressToBytes(text, family), family);
}

/** `10.0.0.1:80` or `[2001:db8::1]:80`. */
export function formatAddressPort(address: string, family: Family, port: number): string {
  return family === 'ipv6' ? `[${address}]:${port}` : `${address}:${port}`;
}

/** Is this (already valid) address a multicast address? */
export function isMulticast(text: string, family: Family): boolean {
  const b = addressToBytes(text, family);
  return family === 'ipv4' ? (b[0]! & 0xf0) === 0xe0 : b[0] === 0xff;
}

/**
 * IPv4 addresses as text, by their 32-bit value. Snapshots read the same
 * addresses again and again (destinations share them, controllers snapshot
 * the same table); the strings are immutable, so sharing them is safe.
 */
const ipv4Text = new Map<number, string>();
const IPV4_TEXT_LIMIT = 1 << 16;

/** The IPv4 address in `buf[p, p + 4)` as text. */
export function ipv4TextAt(buf: Uint8Array, p: number): string {
  const v = ((buf[p]! << 24) | (buf[p + 1]! << 16) | (buf[p + 2]! << 8) | buf[p + 3]!) >>> 0;
  let s = ipv4Text.get(v);
  if (s === undefined) {
    s = `${buf[p]}.${buf[p + 1]}.${buf[p + 2]}.${buf[p + 3]}`;
    if (ipv4Text.size >= IPV4_TEXT_LIMIT) ipv4Text.clear();
    ipv4Text.set(v, s);
  }
  return s;
}
