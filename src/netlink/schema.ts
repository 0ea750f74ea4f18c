/**
 * Attribute tables as data. A table lists each attribute once — its number,
 * wire type (with byte order in the name) and, for nests, the nested table —
 * and the encoder, decoder and TypeScript types all derive from it.
 *
 * Decoding is total: malformed input throws {@link DecodeError}; attributes the
 * table does not know are kept in `unknown` and re-emitted by {@link encodeAttributes}.
 * @module
 */
import { DecodeError } from '../errors.js';
import { HOST_LITTLE_ENDIAN as LE, NLA_F_NESTED, NLA_HDRLEN, NLA_TYPE_MASK } from './constants.js';
import type { Writer } from './writer.js';

/**
 * Wire types. `u16`/`u32`/`u64`/`s32` are host order; `be16`/`be32` network order.
 * `string` is NUL-terminated; `binary` is raw bytes; `flag` has no payload;
 * `nested` holds a table; `array` holds numbered entries each holding a table
 * (like CTRL_ATTR_OPS); `pad` is alignment padding that decoders skip.
 */
export type WireType =
  | 'u8' | 'u16' | 'be16' | 'u32' | 'be32' | 's32' | 'u64'
  | 'string' | 'binary' | 'flag' | 'nested' | 'array' | 'pad';

/** One attribute in a table. */
export interface FieldSpec {
  /** Attribute number. */
  readonly id: number;
  /** How the payload is laid out. */
  readonly type: WireType;
  /** For `nested` and `array`: the table of the nested attributes. */
  readonly table?: AttributeTable<any>;
  /** For `string`/`binary`: the largest payload the kernel accepts (string: characters, without the NUL). */
  readonly maxLength?: number;
}

/** Field name → spec. */
export type FieldSpecs = Record<string, FieldSpec>;

/** An attribute kept verbatim because the table did not know it. */
export interface UnknownAttribute {
  type: number;
  nestedFlag: boolean;
  data: Uint8Array;
}

/** A table: a name (for error messages), its fields, and an index by attribute number. */
export interface AttributeTable<F extends FieldSpecs> {
  readonly name: string;
  readonly fields: F;
  /** Attribute number → [field name, spec]. */
  readonly byId: ReadonlyMap<number, readonly [string, FieldSpec]>;
  /** [field name, spec] in table order (what the encoder walks). */
  readonly entries: readonly (readonly [string, FieldSpec])[];
  /** The decoder's index: attribute number → slot (an array, as attribute numbers are small). */
  readonly slots: readonly (DecodeSlot | undefined)[];
}

/** What the decoder needs of one field, precomputed. */
export interface DecodeSlot {
  readonly key: string;
  readonly spec: FieldSpec;
  /** The wire type as a small number (see KIND). */
  readonly kind: number;
  /** The exact payload size of fixed-size types, else -1. */
  readonly size: number;
}

/** Payload sizes of the fixed-size wire types. */
const FIXED_SIZE: Partial<Record<WireType, number>> = { u8: 1, u16: 2, be16: 2, u32: 4, be32: 4, s32: 4, u64: 8, flag: 0 };

/** Wire types as numbers, for the decoder's switch. */
const KIND: Record<WireType, number> = { u8: 0, u16: 1, be16: 2, u32: 3, be32: 4, s32: 5, u64: 6, string: 7, binary: 8, flag: 9, nested: 10, array: 11, pad: 12 };

/** The TypeScript value type of a field. */
export type FieldValue<S> = S extends { type: 'u64' }
  ? bigint
  : S extends { type: 'string' }
    ? string
    : S extends { type: 'binary' }
      ? Uint8Array
      : S extends { type: 'flag' }
        ? true
        : S extends { type: 'nested'; table: AttributeTable<infer G> }
          ? Attributes<G>
          : S extends { type: 'array'; table: AttributeTable<infer G> }
            ? Attributes<G>[]
            : S extends { type: 'pad' }
              ? never
              : number;

/** Decoded (or to-be-encoded) attributes of a table: every field optional, unknown ones kept. */
export type Attributes<F extends FieldSpecs> = { -readonly [K in keyof F]?: FieldValue<F[K]> } & {
  unknown?: UnknownAttribute[];
};

/** Define an attribute table. Field order is the order the encoder writes them in. */
export function defineTable<const F extends FieldSpecs>(name: string, fields: F): AttributeTable<F> {
  const byId = new Map<number, readonly [string, FieldSpec]>();
  const slots: (DecodeSlot | undefined)[] = [];
  for (const [key, spec] of Object.entries(fields)) {
    if (byId.has(spec.id)) throw new Error(`table ${name}: attribute ${spec.id} defined twice`);
    if ((spec.type === 'nested' || spec.type === 'array') && !spec.table) throw new Error(`table ${name}: ${key} needs a nested table`);
    if (!Number.isInteger(spec.id) || spec.id < 0 || spec.id > NLA_TYPE_MASK) throw new Error(`table ${name}: ${key} has attribute number ${spec.id}`);
    byId.set(spec.id, [key, spec]);
    while (slots.length <= spec.id) slots.push(undefined);
    slots[spec.id] = { key, spec, kind: KIND[spec.type], size: FIXED_SIZE[spec.type] ?? -1 };
  }
  return { name, fields, byId, entries: Object.entries(fields), slots };
}

/**
 * A copy of `buf[start, end)` as a plain Uint8Array. (`Buffer#slice` would
 * return a view that keeps the whole received datagram alive and changes with
 * it.) Payloads are a few bytes (addresses, masks): a loop beats creating a
 * view to copy from.
 */
function copyBytes(buf: Uint8Array, start: number, end: number): Uint8Array {
  const out = new Uint8Array(end - start);
  for (let i = start; i < end; i++) out[i - start] = buf[i]!;
  return out;
}

/**
 * Decode the attributes in `buf[start, end)` with `table`. Duplicate attributes:
 * the last one wins (as in the kernel's nla_parse).
 */
export function decodeAttributes<F extends FieldSpecs>(
  table: AttributeTable<F>,
  buf: Uint8Array,
  start = 0,
  end = buf.length,
): Attributes<F> {
  if (start < 0 || end > buf.length || start > end) throw new DecodeError(`${table.name}: attribute range outside buffer`, start);
  return decodeRange(table, buf, new DataView(buf.buffer, buf.byteOffset, buf.byteLength), start, end);
}

/** {@link decodeAttributes} within a checked range, with one DataView shared by the nests. */
function decodeRange<F extends FieldSpecs>(table: AttributeTable<F>, buf: Uint8Array, dv: DataView, start: number, end: number): Attributes<F> {
  const out: Record<string, unknown> = {};
  let off = start;
  while (off + NLA_HDRLEN <= end) {
    const len = dv.getUint16(off, LE);
    const rawType = dv.getUint16(off + 2, LE);
    const type = rawType & NLA_TYPE_MASK;
    if (len < NLA_HDRLEN) throw new DecodeError(`${table.name}: attribute length ${len} is shorter than its header`, off);
    if (off + len > end) throw new DecodeError(`${table.name}: attribute ${type} (length ${len}) runs past the end of its container`, off);
    const p = off + NLA_HDRLEN;
    const plen = len - NLA_HDRLEN;
    const slot = table.slots[type];
    if (slot === undefined) {
      ((out.unknown ??= []) as UnknownAttribute[]).push({ type, nestedFlag: (rawType & NLA_F_NESTED) !== 0, data: copyBytes(buf, p, p + plen) });
    } else {
      const key = slot.key;
      if (slot.size >= 0 && plen !== slot.size) {
        throw new DecodeError(`${table.name}.${key}: expected ${slot.size} bytes for ${slot.spec.type}, got ${plen}`, off);
      }
      switch (slot.kind) {
        case 0: out[key] = buf[p]; break; // u8
        case 1: out[key] = dv.getUint16(p, LE); break; // u16
        case 2: out[key] = dv.getUint16(p, false); break; // be16
        case 3: out[key] = dv.getUint32(p, LE); break; // u32
        case 4: out[key] = dv.getUint32(p, false); break; // be32
        case 5: out[key] = dv.getInt32(p, LE); break; // s32
        case 6: out[key] = dv.getBigUint64(p, LE); break; // u64
        case 9: out[key] = true; break; // flag
        case 12: break; // pad
        case 8: out[key] = copyBytes(buf, p, p + plen); break; // binary
        case 7: { // string
          const nul = buf.indexOf(0, p);
          if (nul < 0 || nul >= p + plen) throw new DecodeError(`${table.name}.${key}: string is not NUL-terminated`, off);
          out[key] = Buffer.from(buf.buffer, buf.byteOffset + p, nul - p).toString('utf8');
          break;
        }
        case 10: // nested
          out[key] = decodeRange(slot.spec.table!, buf, dv, p, p + plen);
          break;
        case 11: { // array
          const items: unknown[] = [];
          let q = p;
          const qend = p + plen;
          while (q + NLA_HDRLEN <= qend) {
            const ilen = dv.getUint16(q, LE);
            if (ilen < NLA_HDRLEN || q + ilen > qend) throw new DecodeError(`${table.name}.${key}: bad array entry length ${ilen}`, q);
            items.push(decodeRange(slot.spec.table!, buf, dv, q + NLA_HDRLEN, q + ilen));
            q += (ilen + 3) & ~3;
          }
          out[key] = items;
          break;
        }
      }
    }
    off += (len + 3) & ~3;
  }
  return out as Attributes<F>;
}

/**
 * Encode `values` with `table` into `w`: fields in table order, then any
 * `unknown` attributes verbatim. Undefined fields are skipped. Nests are
 * written with NLA_F_NESTED unless `nestedFlag` is false.
 */
export function encodeAttributes<F extends FieldSpecs>(
  w: Writer,
  table: AttributeTable<F>,
  values: Attributes<F>,
  nestedFlag = true,
): void {
  const v = values as Record<string, unknown>;
  // An indexed loop: `for (const [key, spec] of …)` allocated per field, and
  // the bulk path encodes a service per message.
  const entries = table.entries;
  for (let i = 0; i < entries.length; i++) {
    const key = entries[i]![0];
    const spec = entries[i]![1];
    const value = v[key];
    if (value === undefined) continue;
    const id = spec.id;
    switch (spec.type) {
      case 'u8': w.attrU8(id, value as number); break;
      case 'u16': w.attrU16(id, value as number); break;
      case 'be16': w.attrBe16(id, value as number); break;
      case 'u32': w.attrU32(id, value as number); break;
      case 'be32': w.attrBe32(id, value as number); break;
      case 's32': { const s = w.beginAttr(id); w.s32(value as number); w.endAttr(s); break; }
      case 'u64': w.attrU64(id, value as bigint); break;
      case 'flag': if (value) w.attrFlag(id); break;
      case 'pad': break;
      case 'binary': w.attrBytes(id, value as Uint8Array); break;
      case 'string': w.attrString(id, value as string); break;
      case 'nested': {
        const s = w.beginNested(id, nestedFlag);
        encodeAttributes(w, spec.table!, value as Attributes<FieldSpecs>, nestedFlag);
        w.endAttr(s);
        break;
      }
      case 'array': {
        const s = w.beginNested(id, nestedFlag);
        (value as Attributes<FieldSpecs>[]).forEach((item, i) => {
          const si = w.beginNested(i + 1, nestedFlag);
          encodeAttributes(w, spec.table!, item, nestedFlag);
          w.endAttr(si);
        });
        w.endAttr(s);
        break;
      }
    }
  }
  if (values.unknown) {
    for (const u of values.unknown) w.attrBytes(u.nestedFlag ? u.type | NLA_F_NESTED : u.type, u.data);
  }
}
