/**
 * The lookup tables of the hashing schedulers, built the way the kernel
 * builds them from the destination list (in list order).
 *
 * - sh: `ip_vs_sh_reassign()` (ip_vs_sh.c): 2^CONFIG_IP_VS_SH_TAB_BITS buckets
 *   (8 → 256); destinations fill consecutive buckets, `weight` buckets each
 *   (at least one, also for weight 0), cycling through the list until the
 *   table is full. Rebuilt on every add, delete and update.
 * - dh: `ip_vs_dh_reassign()` (ip_vs_dh.c): 2^IP_VS_DH_TAB_BITS buckets (8 →
 *   256), one bucket per destination in turn; weights are not read.
 * - mh: `ip_vs_mh_permutate()` / `ip_vs_mh_populate()` (ip_vs_mh.c): a Maglev
 *   table of primes[CONFIG_IP_VS_MH_TAB_INDEX - 8] slots (index 12 → 4093),
 *   each destination's preference list from the hash of its address and port,
 *   `turns` = (last weight / gcd) >> rshift slots per round (destinations with
 *   last weight 0 take none).
 * @module
 */
import { mhHashKey, MH_KEY1, MH_KEY2 } from './hash.js';

/** Default CONFIG_IP_VS_SH_TAB_BITS (Debian and most distributions). */
export const SH_TAB_BITS = 8;
/** IP_VS_DH_TAB_BITS (fixed in ip_vs_dh.c). */
export const DH_TAB_BITS = 8;
/** The prime table sizes of ip_vs_mh.c, by CONFIG_IP_VS_MH_TAB_INDEX - 8. */
export const MH_PRIMES: readonly number[] = Object.freeze([251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071]);
/** Default CONFIG_IP_VS_MH_TAB_INDEX (12: 4093 slots). */
export const MH_TAB_INDEX = 12;

/** What the table builders read of a destination. */
export interface TableDestination {
  /** Current weight. */
  weight: number;
  /** mh: the last non-zero weight the kernel keeps (equals weight unless the destination was set to 0 after being non-zero). */
  lastWeight: number;
  /** Address fold (see foldAddress) under the service's family. */
  fold: number;
  /** Destination port. */
  port: number;
}

/** sh: the destination index of each of the 2^bits buckets (-1 when there are no destinations). */
export function buildShTable(dests: readonly TableDestination[], bits = SH_TAB_BITS): Int32Array {
  const size = 1 << bits;
  const table = new Int32Array(size).fill(-1);
  if (dests.length === 0) return table;
  let p = 0;
  let count = 0;
  for (let i = 0; i < size; i++) {
    table[i] = p;
    if (++count >= dests[p]!.weight) {
      p = (p + 1) % dests.length;
      count = 0;
    }
  }
  return table;
}

/** dh: the destination index of each of the 2^bits buckets (-1 when there are no destinations). */
export function buildDhTable(count: number, bits = DH_TAB_BITS): Int32Array {
  const size = 1 << bits;
  const table = new Int32Array(size).fill(-1);
  if (count === 0) return table;
  for (let i = 0; i < size; i++) table[i] = i % count;
  return table;
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** fls(): the 1-based index of the highest set bit, 0 for 0. */
function fls(x: number): number {
  return x === 0 ? 0 : 32 - Math.clz32(x);
}

/** The size of the mh table for a CONFIG_IP_VS_MH_TAB_INDEX. */
export function mhTableSize(tabIndex = MH_TAB_INDEX): number {
  const size = MH_PRIMES[tabIndex - 8];
  if (size === undefined) throw new RangeError(`CONFIG_IP_VS_MH_TAB_INDEX must be 8..17, got ${tabIndex}`);
  return size;
}

/**
 * mh: the destination index of each slot (-1 for none: no destination has a
 * non-zero last weight). Throws when there are more destinations than slots,
 * as the kernel refuses them (EINVAL).
 */
export function buildMhTable(dests: readonly TableDestination[], tabIndex = MH_TAB_INDEX): Int32Array {
  const size = mhTableSize(tabIndex);
  const tabBits = Math.floor(tabIndex / 2);
  const table = new Int32Array(size).fill(-1);
  if (dests.length > size) throw new RangeError(`mh holds at most ${size} destinations, got ${dests.length}`);
  let g = 0;
  let maxWeight = 0;
  for (const d of dests) {
    if (d.lastWeight > 0) g = g > 0 ? gcd(d.lastWeight, g) : d.lastWeight;
    if (d.lastWeight > maxWeight) maxWeight = d.lastWeight;
  }
  if (g < 1) return table;
  const shift = Math.max(fls(Math.trunc(maxWeight / g)) - tabBits, 0);
  const n = dests.length;
  const perm = new Int32Array(n);
  const skip = new Int32Array(n);
  const turns = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const d = dests[i]!;
    perm[i] = mhHashKey(d.fold, d.port, MH_KEY1, 0) % size;
    skip[i] = (mhHashKey(d.fold, d.port, MH_KEY2, 0) % (size - 1)) + 1;
    const lw = d.lastWeight;
    turns[i] = Math.trunc(lw / g) >> shift || (lw !== 0 ? 1 : 0);
  }
  const taken = new Uint8Array(size);
  let filled = 0;
  let dtCount = 0;
  for (;;) {
    for (let i = 0; i < n; ) {
      if (turns[i]! < 1) {
        i++;
        continue;
      }
      let c = perm[i]!;
      while (taken[c]) {
        c += skip[i]!;
        if (c >= size) c -= size;
      }
      perm[i] = c;
      taken[c] = 1;
      table[c] = i;
      if (++filled === size) return table;
      if (++dtCount >= turns[i]!) {
        dtCount = 0;
        i++;
      }
    }
  }
}
