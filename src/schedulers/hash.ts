/**
 * The hash functions of the IPVS hashing schedulers, bit for bit as the
 * kernel computes them on a 64-bit build.
 *
 * - `hash_32()`: multiply by GOLDEN_RATIO_32 (0x61C88647) and keep the top
 *   `bits` bits (include/linux/hash.h, generic version; x86 and UML have no
 *   arch-specific one).
 * - Address folding: IPv4 the address as a host-order number; IPv6 the XOR of
 *   its four 32-bit words, then host order (ip_vs_sh.c, ip_vs_dh.c, ip_vs_mh.c
 *   `*_hashkey`).
 * - `hsiphash()` of 4 bytes: on 64-bit kernels this is SipHash-1-3 with two
 *   64-bit key words, truncated to 32 bits (lib/siphash.c, BITS_PER_LONG == 64).
 *   ip_vs_mh.c uses the fixed keys {2654435761, 2654435761} and
 *   {2654446892, 2654446892} (`generate_hash_secret`).
 *
 * All arithmetic is done on unsigned 32-bit halves so that no BigInt is needed
 * (every XOR is brought back to unsigned, or the carry test would fail).
 * @module
 */

/** GOLDEN_RATIO_32 of include/linux/hash.h. */
export const GOLDEN_RATIO_32 = 0x61c88647;

/** The kernel's `hash_32(value, bits)`. */
export function hash32(value: number, bits: number): number {
  return Math.imul(value >>> 0, GOLDEN_RATIO_32) >>> (32 - bits);
}

/**
 * The 32-bit fold of an address as the hashing schedulers compute it: IPv4 the
 * address as a number, IPv6 the XOR of its four big-endian words. `bytes` is
 * 16 bytes (IPv4 in the first four, as in the kernel's `union nf_inet_addr`).
 */
export function foldAddress(bytes: Uint8Array, ipv6: boolean): number {
  const w = (i: number) => ((bytes[i]! << 24) | (bytes[i + 1]! << 16) | (bytes[i + 2]! << 8) | bytes[i + 3]!) >>> 0;
  return ipv6 ? (w(0) ^ w(4) ^ w(8) ^ w(12)) >>> 0 : w(0);
}

/** A 64-bit hsiphash key word pair, each word given as a number below 2^53. */
export interface HsiphashKey {
  readonly k0: number;
  readonly k1: number;
}

/** The first key of ip_vs_mh.c (`hash1`, lookup and starting offsets). */
export const MH_KEY1: HsiphashKey = Object.freeze({ k0: 2654435761, k1: 2654435761 });
/** The second key of ip_vs_mh.c (`hash2`, permutation skips). */
export const MH_KEY2: HsiphashKey = Object.freeze({ k0: 2654446892, k1: 2654446892 });

// SIPHASH_CONST_0..3 ("somepseudorandomlygeneratedbytes") as high/low halves (include/linux/siphash.h).
const C0H = 0x736f6d65, C0L = 0x70736575;
const C1H = 0x646f7261, C1L = 0x6e646f6d;
const C2H = 0x6c796765, C2L = 0x6e657261;
const C3H = 0x74656462, C3L = 0x79746573;

/** Initial state for a key: v0..v3 as [h, l] pairs, flattened. */
function initialState(key: HsiphashKey): Uint32Array {
  const k0h = Math.floor(key.k0 / 0x100000000) >>> 0, k0l = key.k0 >>> 0;
  const k1h = Math.floor(key.k1 / 0x100000000) >>> 0, k1l = key.k1 >>> 0;
  return Uint32Array.of(C0H ^ k0h, C0L ^ k0l, C1H ^ k1h, C1L ^ k1l, C2H ^ k0h, C2L ^ k0l, C3H ^ k1h, C3L ^ k1l);
}

const stateCache = new WeakMap<HsiphashKey, Uint32Array>();
function stateOf(key: HsiphashKey): Uint32Array {
  let s = stateCache.get(key);
  if (!s) {
    s = initialState(key);
    stateCache.set(key, s);
  }
  return s;
}
const MH_STATE1 = initialState(MH_KEY1);
const MH_STATE2 = initialState(MH_KEY2);

/**
 * The kernel's 64-bit `hsiphash(&v, 4, key)` of a 32-bit value stored in
 * little-endian byte order (x86/UML memory order), as a 32-bit unsigned number.
 */
export function hsiphash32(value: number, key: HsiphashKey): number {
  return hsiphashFrom(value, key === MH_KEY1 ? MH_STATE1 : key === MH_KEY2 ? MH_STATE2 : stateOf(key));
}

/** hsiphash32 from a key's precomputed initial state. */
function hsiphashFrom(value: number, s: Uint32Array): number {
  let v0h = s[0]!, v0l = s[1]!, v1h = s[2]!, v1l = s[3]!, v2h = s[4]!, v2l = s[5]!, v3h = s[6]!, v3l = s[7]!;
  // b = (len << 56) | le32(data), len = 4
  const bh = 0x04000000, bl = value >>> 0;
  v3h = (v3h ^ bh) >>> 0; v3l = (v3l ^ bl) >>> 0;
  let t: number, h: number, l: number;
  for (let round = 0; round < 4; round++) {
    if (round === 1) {
      v0h = (v0h ^ bh) >>> 0; v0l = (v0l ^ bl) >>> 0;
      v2l = (v2l ^ 0xff) >>> 0;
    }
    // v0 += v1; v1 = rol(v1, 13); v1 ^= v0; v0 = rol(v0, 32)
    l = (v0l + v1l) >>> 0; v0h = (v0h + v1h + (l < v0l ? 1 : 0)) >>> 0; v0l = l;
    h = ((v1h << 13) | (v1l >>> 19)) >>> 0; l = ((v1l << 13) | (v1h >>> 19)) >>> 0;
    v1h = (h ^ v0h) >>> 0; v1l = (l ^ v0l) >>> 0;
    t = v0h; v0h = v0l; v0l = t;
    // v2 += v3; v3 = rol(v3, 16); v3 ^= v2
    l = (v2l + v3l) >>> 0; v2h = (v2h + v3h + (l < v2l ? 1 : 0)) >>> 0; v2l = l;
    h = ((v3h << 16) | (v3l >>> 16)) >>> 0; l = ((v3l << 16) | (v3h >>> 16)) >>> 0;
    v3h = (h ^ v2h) >>> 0; v3l = (l ^ v2l) >>> 0;
    // v0 += v3; v3 = rol(v3, 21); v3 ^= v0
    l = (v0l + v3l) >>> 0; v0h = (v0h + v3h + (l < v0l ? 1 : 0)) >>> 0; v0l = l;
    h = ((v3h << 21) | (v3l >>> 11)) >>> 0; l = ((v3l << 21) | (v3h >>> 11)) >>> 0;
    v3h = (h ^ v0h) >>> 0; v3l = (l ^ v0l) >>> 0;
    // v2 += v1; v1 = rol(v1, 17); v1 ^= v2; v2 = rol(v2, 32)
    l = (v2l + v1l) >>> 0; v2h = (v2h + v1h + (l < v2l ? 1 : 0)) >>> 0; v2l = l;
    h = ((v1h << 17) | (v1l >>> 15)) >>> 0; l = ((v1l << 17) | (v1h >>> 15)) >>> 0;
    v1h = (h ^ v2h) >>> 0; v1l = (l ^ v2l) >>> 0;
    t = v2h; v2h = v2l; v2l = t;
  }
  return (v0l ^ v1l ^ v2l ^ v3l) >>> 0;
}

/** ip_vs_sh.c `ip_vs_sh_hashkey`: bucket of (address fold, port) at `offset`, for a table of 2^bits. */
export function shHashKey(fold: number, port: number, offset: number, bits: number): number {
  return (offset + hash32((port + fold) >>> 0, bits)) & ((1 << bits) - 1);
}

/** ip_vs_dh.c `ip_vs_dh_hashkey`: bucket of an address fold, for a table of 2^bits. */
export function dhHashKey(fold: number, bits: number): number {
  return hash32(fold, bits);
}

/** ip_vs_mh.c `ip_vs_mh_hashkey`: hsiphash of (offset + port + address fold) under `key` (not yet reduced modulo the table size). */
export function mhHashKey(fold: number, port: number, key: HsiphashKey, offset: number): number {
  return hsiphash32((offset + port + fold) >>> 0, key);
}
