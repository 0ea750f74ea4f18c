/**
 * Host-order integers read from bytes without Buffer's read methods. In
 * Node 20, `buf.readUInt16LE(offset)` validates its argument through a
 * wrapper that copies the arguments on every call; the netlink headers and
 * attributes of a large dump are read tens of thousands of times in a fresh
 * process (`ipvs-ts list`), where that showed in the allocation profile
 * (docs/benchmarks.md, "Cold command line"). Callers have checked that the
 * bytes are there: an offset outside the buffer reads as 0 bits, not as an
 * error.
 * @module
 */
import { HOST_LITTLE_ENDIAN as LE } from './constants.js';

/** An unsigned 16-bit integer in host order at `p`. */
export function hostU16(b: Uint8Array, p: number): number {
  return LE ? b[p]! | (b[p + 1]! << 8) : (b[p]! << 8) | b[p + 1]!;
}

/** An unsigned 32-bit integer in host order at `p`. */
export function hostU32(b: Uint8Array, p: number): number {
  return LE ? (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) >>> 0 : ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
}

/** A signed 32-bit integer in host order at `p`. */
export function hostI32(b: Uint8Array, p: number): number {
  return hostU32(b, p) | 0;
}
