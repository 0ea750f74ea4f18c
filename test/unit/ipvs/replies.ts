// Kernel-like IPVS replies for the in-place readers' unit tests (live-service,
// live-destination, listing-read): a reply message written by the table
// encoder, and addresses as the kernel's 16-byte attribute holds them.
import { commandTable } from '../../../src/ipvs/attributes.js';
import { parseGenlMessage, type GenlMessage } from '../../../src/netlink/genl.js';
import { parseMessages } from '../../../src/netlink/message.js';
import { encodeAttributes, type Attributes } from '../../../src/netlink/schema.js';
import { Writer } from '../../../src/netlink/writer.js';
import { CAPTURED_FAMILY_ID } from '../../fixtures/ipvs/fixtures.js';

/** Attributes of an IPVS command message. */
export type CommandAttrs = Attributes<(typeof commandTable)['fields']>;

/** A reply of command `cmd` with these attributes (and `extra` bytes after them), parsed back. */
export function reply(cmd: number, attrs: CommandAttrs, extra?: (w: Writer) => void): GenlMessage {
  const w = new Writer(256);
  const start = w.beginMessage(CAPTURED_FAMILY_ID, 0, 1, 0);
  w.u8(cmd).u8(1).u16(0);
  encodeAttributes(w, commandTable, attrs);
  extra?.(w);
  w.endMessage(start);
  return parseGenlMessage(parseMessages(w.toBuffer())[0]!);
}

/** An IPv4 address in the 16 bytes of an address attribute. */
export const v4 = (a: string): Uint8Array => {
  const b = new Uint8Array(16);
  a.split('.').forEach((x, i) => (b[i] = Number(x)));
  return b;
};
/** An IPv6 address from 32 hex digits. */
export const v6 = (hex: string): Uint8Array => Uint8Array.from(Buffer.from(hex, 'hex'));

/** `m` with the 16-bit length field at payload offset `at` set to `len` (a corrupt reply). */
export function withLength(m: GenlMessage, at: number, len: number): GenlMessage {
  const payload = Buffer.from(m.message.payload);
  payload.writeUInt16LE(len, at);
  return { ...m, message: { ...m.message, payload } };
}
