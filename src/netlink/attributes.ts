/**
 * Bounds-checked netlink attribute decoding. Every read checks its length and
 * throws {@link DecodeError} (never a RangeError, never a silent undefined).
 * Offsets in errors are relative to the start of the buffer passed in.
 * @module
 */
import { DecodeError } from '../errors.js';
import { HOST_LITTLE_ENDIAN as LE, NLA_F_NESTED, NLA_HDRLEN, NLA_TYPE_MASK } from './constants.js';

/** One attribute: its type (flags masked off), whether NLA_F_NESTED was set, and where its payload is. */
export interface RawAttribute {
  /** Attribute number with NLA_F_NESTED / NLA_F_NET_BYTEORDER masked off. */
  type: number;
  /** Whether the sender set NLA_F_NESTED (the IPVS kernel code never does). */
  nestedFlag: boolean;
  /** Offset of the payload in `buf`. */
  offset: number;
  /** Payload length (nla_len minus the 4-byte header). */
  length: number;
  /** The buffer the payload lives in. */
  buf: Uint8Array;
}

/**
 * Iterate the attributes in `buf[start, end)`. A header that runs past `end`,
 * or an nla_len below 4, throws DecodeError. Padding after the last attribute
 * is allowed.
 */
export function* iterateAttributes(buf: Uint8Array, start = 0, end = buf.length): Generator<RawAttribute> {
  if (end > buf.length || start < 0 || start > end) throw new DecodeError('attribute range outside buffer', start);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let off = start;
  while (off + NLA_HDRLEN <= end) {
    const len = view.getUint16(off, LE);
    const rawType = view.getUint16(off + 2, LE);
    if (len < NLA_HDRLEN) throw new DecodeError(`attribute length ${len} is shorter than its header`, off);
    if (off + len > end) throw new DecodeError(`attribute (type ${rawType & NLA_TYPE_MASK}, length ${len}) runs past the end of its container`, off);
    yield { type: rawType & NLA_TYPE_MASK, nestedFlag: (rawType & NLA_F_NESTED) !== 0, offset: off + NLA_HDRLEN, length: len - NLA_HDRLEN, buf };
    off += (len + 3) & ~3;
  }
  // Fewer than 4 trailing bytes can only be padding; they are ignored.
}

function view(a: RawAttribute): DataView {
  return new DataView(a.buf.buffer, a.buf.byteOffset, a.buf.byteLength);
}

function expectLength(a: RawAttribute, size: number, what: string): void {
  if (a.length !== size) {
    throw new DecodeError(`attribute type ${a.type} should be ${what} (${size} bytes) but has ${a.length} bytes`, a.offset - NLA_HDRLEN);
  }
}

/** Length-checked getters on a {@link RawAttribute}. */
export const get = {
  u8(a: RawAttribute): number {
    expectLength(a, 1, 'u8');
    return a.buf[a.offset]!;
  },
  u16(a: RawAttribute): number {
    expectLength(a, 2, 'u16');
    return view(a).getUint16(a.offset, LE);
  },
  be16(a: RawAttribute): number {
    expectLength(a, 2, 'be16');
    return view(a).getUint16(a.offset, false);
  },
  u32(a: RawAttribute): number {
    expectLength(a, 4, 'u32');
    return view(a).getUint32(a.offset, LE);
  },
  s32(a: RawAttribute): number {
    expectLength(a, 4, 's32');
    return view(a).getInt32(a.offset, LE);
  },
  be32(a: RawAttribute): number {
    expectLength(a, 4, 'be32');
    return view(a).getUint32(a.offset, false);
  },
  u64(a: RawAttribute): bigint {
    expectLength(a, 8, 'u64');
    return view(a).getBigUint64(a.offset, LE);
  },
  /** A copy of the payload. */
  bytes(a: RawAttribute): Uint8Array {
    // Not `slice`: on a Buffer that is a view, not a copy.
    return new Uint8Array(a.buf.subarray(a.offset, a.offset + a.length));
  },
  /** A NUL-terminated string; the NUL must be present. */
  string(a: RawAttribute): string {
    const end = a.offset + a.length;
    const nul = a.buf.indexOf(0, a.offset);
    if (nul < 0 || nul >= end) throw new DecodeError(`string attribute type ${a.type} is not NUL-terminated`, a.offset - NLA_HDRLEN);
    return Buffer.from(a.buf.buffer, a.buf.byteOffset + a.offset, nul - a.offset).toString('utf8');
  },
  /** Attributes nested in this one. */
  nested(a: RawAttribute): Generator<RawAttribute> {
    return iterateAttributes(a.buf, a.offset, a.offset + a.length);
  },
};
