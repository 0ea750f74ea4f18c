/**
 * Client and virtual addresses folded to the 32-bit value the hashing
 * schedulers hash (see foldAddress in hash.ts), straight from their text:
 * plain IPv4 dotted quads and IPv6 hex groups without allocating (the
 * simulator places millions of clients), anything else through the general
 * address parser.
 * @module
 */
import { InvalidArgumentError } from '../errors.js';
import { addressFamily, addressToBytes } from '../ipvs/address.js';
import { foldAddress } from './hash.js';

/** The fold of any address text, or an error naming `field`. */
export function foldOf(text: unknown, ipv6: boolean, field: string): number {
  if (typeof text !== 'string') fail(field, `must be an IP address string, got ${JSON.stringify(text)}`);
  const fam = addressFamily(text);
  if (!fam) fail(field, `${JSON.stringify(text)} is not an IPv4 or IPv6 address`);
  return foldAddress(addressToBytes(text, fam), ipv6);
}

/**
 * The IPv4 address `text` as a number, or -1 when it is not a plain dotted
 * quad (then the general parser decides). Allocation-free: simulations place
 * millions of clients.
 */
function fastIpv4(text: string): number {
  const n = text.length;
  if (n < 7 || n > 15) return -1;
  let value = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || dots === 3) return -1;
      value = value * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && part === 0) return -1; // leading zero
      part = part * 10 + (c - 48);
      if (part > 255 || ++digits > 3) return -1;
    } else {
      return -1;
    }
  }
  if (dots !== 3 || digits === 0) return -1;
  return value * 256 + part;
}

const head6 = new Int32Array(8);
const tail6 = new Int32Array(8);

/**
 * The fold of a plain IPv6 address text (hex groups, at most one `::`), or -1
 * when it is anything else (then the general parser decides). Allocation-free.
 */
function fastIpv6Fold(text: string): number {
  const n = text.length;
  if (n < 2 || n > 39) return -1;
  let heads = 0;
  let tails = 0;
  let inTail = false;
  let group = 0;
  let digits = 0;
  for (let i = 0; i <= n; i++) {
    const c = i < n ? text.charCodeAt(i) : 58;
    if (c === 58) {
      if (i < n && i + 1 < n && text.charCodeAt(i + 1) === 58) {
        // '::'
        if (inTail) return -1;
        if (digits > 0) {
          head6[heads++] = group;
        } else if (i !== 0) return -1;
        inTail = true;
        group = 0;
        digits = 0;
        i++;
        continue;
      }
      if (digits === 0) {
        if (i === n && inTail && text.charCodeAt(n - 1) === 58) break; // trailing '::'
        return -1;
      }
      if (inTail) tail6[tails++] = group;
      else head6[heads++] = group;
      if (heads + tails > 8) return -1;
      group = 0;
      digits = 0;
      continue;
    }
    let d: number;
    if (c >= 48 && c <= 57) d = c - 48;
    else if (c >= 97 && c <= 102) d = c - 87;
    else if (c >= 65 && c <= 70) d = c - 55;
    else return -1;
    if (++digits > 4) return -1;
    group = group * 16 + d;
  }
  if (inTail ? heads + tails > 7 : heads !== 8) return -1;
  let fold = 0;
  for (let k = 0; k < 8; k++) {
    const g = k < heads ? head6[k]! : k >= 8 - tails ? tail6[k - (8 - tails)]! : 0;
    fold ^= k & 1 ? g : g << 16;
  }
  return fold >>> 0;
}

/** The fold of a client or virtual address under the service's family; `field` names it in an error. */
export function foldFast(text: unknown, ipv6: boolean, field: () => string): number {
  if (typeof text === 'string') {
    const v4 = fastIpv4(text);
    // An IPv4 address folds to itself under either family (it sits in the first word of nf_inet_addr).
    if (v4 >= 0) return v4;
    if (ipv6) {
      const v6 = fastIpv6Fold(text);
      if (v6 >= 0) return v6;
    }
  }
  return foldOf(text, ipv6, field());
}


function fail(field: string, message: string): never {
  throw new InvalidArgumentError(field, message);
}
