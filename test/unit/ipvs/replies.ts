// Kernel-like IPVS replies for the in-place readers' unit tests (live-service,
// live-destination, listing-read): a reply message written by the table
// encoder, and addresses as the kernel's 16-byte attribute holds them.
import { commandTable } from '../../../src/ipvs/attributes.js';
import * as C from '../../../src/ipvs/constants.js';
import { parseGenlMessage, type GenlMessage } from '../../../src/netlink/genl.js';
import { parseMessages } from '../../../src/netlink/message.js';
import { encodeAttributes, type Attributes } from '../../../src/netlink/schema.js';
import { Writer } from '../../../src/netlink/writer.js';
import type { Family } from '../../../src/ipvs/address.js';
import { capturedReply, CAPTURED_FAMILY_ID, fixtureNames } from '../../fixtures/ipvs/fixtures.js';

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

const bytes = (...b: number[]): Uint8Array => Uint8Array.from(b);
/** ip_vs_flags {flags, mask} in host order, as the kernel sends them. */
const svcFlags = (f: number): Uint8Array => {
  const b = Buffer.alloc(8);
  b.writeUInt32LE(f, 0);
  b.writeUInt32LE(0xffffffff, 4);
  return b;
};

/** A TCP service's attributes as the kernel sends them (no statistics). */
export const SERVICE_BASE = { af: C.AF_INET, protocol: 6, address: v4('192.0.2.10'), port: 80, scheduler: 'wlc', flags: svcFlags(0), timeout: 0, netmask: bytes(255, 255, 255, 255) };

const v6svc = Uint8Array.from(Buffer.from('20010db8000000000000000000000010', 'hex'));
const base = SERVICE_BASE;
/** Every kind of service nest the service readers must read as the table path does. */
export const SERVICE_CASES: CommandAttrs['service'][] = [
  base,
  { ...base, protocol: 17, port: 53, scheduler: 'rr', flags: svcFlags(C.IP_VS_SVC_F_ONEPACKET) },
  { ...base, protocol: 132, scheduler: 'sh', flags: svcFlags(C.IP_VS_SVC_F_SCHED1 | C.IP_VS_SVC_F_SCHED2) },
  { ...base, scheduler: 'mh', flags: svcFlags(C.IP_VS_SVC_F_SCHED2 | C.IP_VS_SVC_F_SCHED3) },
  { ...base, flags: svcFlags(C.IP_VS_SVC_F_SCHED1 | C.IP_VS_SVC_F_HASHED) }, // flags a spec does not keep
  { ...base, flags: svcFlags(C.IP_VS_SVC_F_PERSISTENT), timeout: 300, netmask: bytes(255, 255, 255, 0) },
  { ...base, flags: svcFlags(C.IP_VS_SVC_F_PERSISTENT), timeout: 300, netmask: bytes(255, 0, 255, 0) }, // a mask that is no prefix
  { ...base, flags: svcFlags(C.IP_VS_SVC_F_PERSISTENT), timeout: 60, persistenceEngine: 'sip' },
  { ...base, flags: svcFlags(C.IP_VS_SVC_F_PERSISTENT), netmask: undefined },
  { ...base, flags: svcFlags(C.IP_VS_SVC_F_PERSISTENT), persistenceEngine: '' }, // an empty name: none
  { ...base, timeout: 300, netmask: bytes(255, 255, 0, 0) }, // timeout and mask of a service that is not persistent
  { ...base, af: C.AF_INET6, address: v6svc, netmask: bytes(128, 0, 0, 0) },
  { ...base, af: C.AF_INET6, address: v6svc, flags: svcFlags(C.IP_VS_SVC_F_PERSISTENT), netmask: Uint8Array.from(Buffer.from([64, 0, 0, 0])) },
  { af: C.AF_INET, fwmark: 7, scheduler: 'wlc', flags: svcFlags(0), timeout: 0, netmask: bytes(255, 255, 255, 255) },
  { af: C.AF_INET6, fwmark: 8, scheduler: 'lc', flags: svcFlags(C.IP_VS_SVC_F_PERSISTENT), timeout: 30, netmask: bytes(64, 0, 0, 0) },
  { ...base, fwmark: 0 }, // a zero mark is an address service
  { ...base, scheduler: undefined, flags: undefined, timeout: undefined, netmask: undefined },
  { ...base, flags: bytes(1, 0) }, // flags too short: none
  { ...base, stats: { conns: 1 }, stats64: { conns: 1n } },
];

/** Malformed service replies (each a DecodeError in the table path), made with `reply`. */
export function badServiceReplies(reply: (attrs: CommandAttrs) => GenlMessage): [string, GenlMessage][] {
  return [
    ['unknown family', reply({ service: { ...base, af: 99 } })],
    ['no family', reply({ service: { ...base, af: undefined } })],
    ['unknown protocol', reply({ service: { ...base, protocol: 99 } })],
    ['address too short', reply({ service: { ...base, address: new Uint8Array(3) } })],
    ['no address', reply({ service: { ...base, address: undefined } })],
    ['IPv6 address too short', reply({ service: { ...base, af: C.AF_INET6, address: new Uint8Array(8) } })],
    ['port of 4 bytes', reply({ service: { ...base, port: undefined, unknown: [{ type: C.IPVS_SVC_ATTR_PORT, nestedFlag: false, data: new Uint8Array(4) }] } })],
    ['scheduler without its NUL', reply({ service: { ...base, scheduler: undefined, unknown: [{ type: C.IPVS_SVC_ATTR_SCHED_NAME, nestedFlag: false, data: bytes(0x72, 0x72, 0x72, 0x72) }] } })],
    ['top-level timeout of 2 bytes', reply({ service: base, unknown: [{ type: C.IPVS_CMD_ATTR_TIMEOUT_TCP, nestedFlag: false, data: new Uint8Array(2) }] })],
  ];
}

/** The IPVS messages of the captured kernel replies whose fixture names start with one of `prefixes` (after `rep-`). */
function capturedMessages(prefixes: string[]): { name: string; message: GenlMessage }[] {
  const out: { name: string; message: GenlMessage }[] = [];
  for (const name of prefixes.flatMap((p) => fixtureNames(`rep-${p}`)).map((n) => n.replace(/^rep-/, ''))) {
    for (const d of capturedReply(name).datagrams) {
      for (const msg of parseMessages(d)) if (msg.type === CAPTURED_FAMILY_ID) out.push({ name, message: parseGenlMessage(msg) });
    }
  }
  return out;
}

/** Every captured kernel reply to a service dump. */
export function capturedServiceReplies(): GenlMessage[] {
  return capturedMessages(['get-service-', 'sort-get-service-']).map((m) => m.message);
}

/**
 * Every captured kernel reply to a destination dump, with its service's family
 * (from the capture's name: IPv6 address and fwmark services carry AF_INET6).
 */
export function capturedDestinationReplies(): { message: GenlMessage; family: Family }[] {
  return capturedMessages(['get-dest-dump-', 'sort-get-dest-dump-']).map(({ name, message }) => ({ message, family: /2001|fwmark6/.test(name) ? 'ipv6' : 'ipv4' }));
}
