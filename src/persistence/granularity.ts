/**
 * Persistence granularity: which clients share a persistence template. The
 * kernel masks the client address before it looks the template up
 * (ip_vs_core.c, `ip_vs_sched_persist`): IPv4 `saddr & netmask` (any 32-bit
 * mask, as the service holds it), IPv6 the first `prefix` bits
 * (`ipv6_addr_prefix`).
 * @module
 */
import { InvalidArgumentError } from '../errors.js';
import { addressFamily, addressToBytes, bytesToAddress, type Family } from '../ipvs/address.js';

function parseClient(address: unknown, field: string): { family: Family; bytes: Uint8Array } {
  if (typeof address !== 'string') throw new InvalidArgumentError(field, `must be an IP address string, got ${JSON.stringify(address)}`);
  const family = addressFamily(address);
  if (!family) throw new InvalidArgumentError(field, `${JSON.stringify(address)} is not an IPv4 or IPv6 address`);
  return { family, bytes: addressToBytes(address, family) };
}

/** The 4 mask bytes of an IPv4 netmask given as a prefix length or dotted mask (non-contiguous masks are kept as they are, as the kernel does). */
function ipv4MaskBytes(netmask: number | string, field: string): Uint8Array {
  if (typeof netmask === 'number') {
    if (!Number.isInteger(netmask) || netmask < 0 || netmask > 32) throw new InvalidArgumentError(field, `must be a prefix length 0..32 or a dotted mask, got ${netmask}`);
    const m = netmask === 0 ? 0 : (0xffffffff << (32 - netmask)) >>> 0;
    return Uint8Array.of(m >>> 24, (m >>> 16) & 255, (m >>> 8) & 255, m & 255);
  }
  if (typeof netmask === 'string' && addressFamily(netmask) === 'ipv4') return addressToBytes(netmask, 'ipv4').subarray(0, 4);
  if (typeof netmask === 'string' && /^\/?\d+$/.test(netmask)) return ipv4MaskBytes(Number(netmask.replace('/', '')), field);
  throw new InvalidArgumentError(field, `must be a prefix length 0..32 or a dotted mask, got ${JSON.stringify(netmask)}`);
}

/**
 * The address a client's persistence template is keyed by: the client
 * address under the service's persistence netmask (default: the whole
 * address). Clients with the same result share one template, and so one real
 * server while it lasts.
 * @param netmask IPv4: prefix length or dotted mask; IPv6: prefix length 1..128.
 * @example
 * ```ts
 * persistenceNetwork('10.3.1.77', 24); // '10.3.1.0'
 * persistenceNetwork('2001:db8::1:2', 64); // '2001:db8::'
 * ```
 */
export function persistenceNetwork(clientAddress: string, netmask?: number | string): string {
  const { family, bytes } = parseClient(clientAddress, 'clientAddress');
  const out = new Uint8Array(16);
  if (family === 'ipv4') {
    const m = netmask === undefined ? Uint8Array.of(255, 255, 255, 255) : ipv4MaskBytes(netmask, 'netmask');
    for (let i = 0; i < 4; i++) out[i] = bytes[i]! & m[i]!;
    return bytesToAddress(out, 'ipv4');
  }
  const prefix = netmask === undefined ? 128 : typeof netmask === 'string' && /^\/?\d+$/.test(netmask) ? Number(netmask.replace('/', '')) : netmask;
  if (typeof prefix !== 'number' || !Number.isInteger(prefix) || prefix < 1 || prefix > 128) {
    throw new InvalidArgumentError('netmask', `must be a prefix length 1..128 for an IPv6 client, got ${JSON.stringify(netmask)}`);
  }
  for (let i = 0; i < 16; i++) {
    const bits = Math.min(8, Math.max(0, prefix - i * 8));
    out[i] = bytes[i]! & ((0xff << (8 - bits)) & 0xff);
  }
  return bytesToAddress(out, 'ipv6');
}

/** Whether two clients share a persistence template under `netmask` (both of one family). */
export function shareTemplate(a: string, b: string, netmask?: number | string): boolean {
  const fa = parseClient(a, 'a').family;
  const fb = parseClient(b, 'b').family;
  if (fa !== fb) return false;
  return persistenceNetwork(a, netmask) === persistenceNetwork(b, netmask);
}

/**
 * How many client addresses share one template under `netmask`: 2^(bits
 * outside the mask), as a bigint (an IPv6 /64 holds 2^64).
 */
export function clientsPerTemplate(netmask: number | string, family: Family): bigint {
  if (family === 'ipv6') {
    const p = typeof netmask === 'string' ? Number(netmask.replace('/', '')) : netmask;
    if (!Number.isInteger(p) || p < 1 || p > 128) throw new InvalidArgumentError('netmask', `must be a prefix length 1..128, got ${JSON.stringify(netmask)}`);
    return 1n << BigInt(128 - p);
  }
  if (family !== 'ipv4') throw new InvalidArgumentError('family', `must be 'ipv4' or 'ipv6', got ${JSON.stringify(family)}`);
  const m = ipv4MaskBytes(netmask, 'netmask');
  let zeros = 0;
  for (const b of m) for (let i = 0; i < 8; i++) if (!((b >> i) & 1)) zeros++;
  return 1n << BigInt(zeros);
}
