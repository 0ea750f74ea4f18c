/**
 * Reading netlink attributes in place, for the snapshot's direct readers
 * (live-service.ts, destination-scan.ts): the bounds and size checks of the
 * table decoder (schema.ts), with the same DecodeErrors, on bytes that are
 * only valid while a reply is being handled.
 * @module
 */
import { DecodeError } from '../errors.js';
import { NLA_HDRLEN, NLA_TYPE_MASK } from '../netlink/constants.js';
import type { AttributeTable, FieldSpecs } from '../netlink/schema.js';
import { hostU16, hostU32 } from '../netlink/host-order.js';

/** Host-order fields (netlink's nla_len and nla_type, and most IPVS numbers). */
export const u16 = hostU16;
export const u32 = hostU32;

/** The bounds checks of the table decoder, for one attribute at `off` in a container ending at `end`. */
export function attributeLength(buf: Buffer, off: number, end: number, table: AttributeTable<FieldSpecs>): number {
  const len = u16(buf, off);
  if (len < NLA_HDRLEN) throw new DecodeError(`${table.name}: attribute length ${len} is shorter than its header`, off);
  if (off + len > end) throw new DecodeError(`${table.name}: attribute ${u16(buf, off + 2) & NLA_TYPE_MASK} (length ${len}) runs past the end of its container`, off);
  return len;
}

/** The fixed-size check of the table decoder. */
export function checkSize(table: AttributeTable<FieldSpecs>, type: number, plen: number, off: number): void {
  const slot = table.slots[type];
  if (slot && slot.size >= 0 && plen !== slot.size) {
    throw new DecodeError(`${table.name}.${slot.key}: expected ${slot.size} bytes for ${slot.spec.type}, got ${plen}`, off);
  }
}

/**
 * The offset of the last attribute of `type` among the attributes in
 * `buf[start, end)` (the last one wins, as in the table decoder), or -1; every
 * attribute on the way is checked as `table` would check it.
 */
export function lastAttributeAt(buf: Buffer, start: number, end: number, table: AttributeTable<FieldSpecs>, type: number): number {
  let found = -1;
  for (let off = start; off + NLA_HDRLEN <= end; ) {
    const len = attributeLength(buf, off, end, table);
    const t = u16(buf, off + 2) & NLA_TYPE_MASK;
    checkSize(table, t, len - NLA_HDRLEN, off);
    if (t === type) found = off;
    off += (len + 3) & ~3;
  }
  return found;
}
