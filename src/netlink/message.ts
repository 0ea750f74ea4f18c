/**
 * struct nlmsghdr framing: splitting datagrams into messages, and reading the
 * control messages NLMSG_ERROR (error or ACK, with extended-ACK TLVs) and
 * NLMSG_DONE (end of a dump, with its status).
 * @module
 */
import { DecodeError, type ExtendedAck } from '../errors.js';
import {
  NLMSG_DONE,
  NLMSG_ERROR,
  NLMSG_HDRLEN,
  NLM_F_ACK_TLVS,
  NLM_F_CAPPED,
  NLMSGERR_ATTR_MISS_NEST,
  NLMSGERR_ATTR_MISS_TYPE,
  NLMSGERR_ATTR_MSG,
  NLMSGERR_ATTR_OFFS,
} from './constants.js';
import { hostI32, hostU16, hostU32 } from './host-order.js';
import { decodeAttributes, defineTable } from './schema.js';

/** One netlink message; `payload` is a view into the received datagram (no copy). */
export interface NetlinkMessage {
  /** nlmsg_type: a family id or an NLMSG_* control type. */
  type: number;
  /** nlmsg_flags. */
  flags: number;
  /** nlmsg_seq. */
  seq: number;
  /** nlmsg_pid. */
  pid: number;
  /** Everything after the 16-byte header, up to nlmsg_len. */
  payload: Buffer;
}

/** Split one datagram into its messages. A length field that does not fit throws DecodeError. */
export function parseMessages(datagram: Buffer): NetlinkMessage[] {
  const out: NetlinkMessage[] = [];
  let off = 0;
  const n = datagram.length;
  while (off + NLMSG_HDRLEN <= n) {
    const len = hostU32(datagram, off);
    if (len < NLMSG_HDRLEN) throw new DecodeError(`nlmsg_len ${len} is shorter than the header`, off);
    if (off + len > n) throw new DecodeError(`nlmsg_len ${len} runs past the end of the datagram (${n - off} bytes left)`, off);
    out.push({
      type: hostU16(datagram, off + 4),
      flags: hostU16(datagram, off + 6),
      seq: hostU32(datagram, off + 8),
      pid: hostU32(datagram, off + 12),
      payload: datagram.subarray(off + NLMSG_HDRLEN, off + len),
    });
    off += (len + 3) & ~3;
  }
  if (off < n && n - off >= NLMSG_HDRLEN) throw new DecodeError('trailing bytes after messages', off);
  return out;
}

/** Extended-ACK TLVs (enum nlmsgerr_attrs, include/uapi/linux/netlink.h). */
export const extackTable = defineTable('extack', {
  message: { id: NLMSGERR_ATTR_MSG, type: 'string' },
  offset: { id: NLMSGERR_ATTR_OFFS, type: 'u32' },
  missingType: { id: NLMSGERR_ATTR_MISS_TYPE, type: 'u32' },
  missingNest: { id: NLMSGERR_ATTR_MISS_NEST, type: 'u32' },
});

function readExtack(payload: Buffer, start: number): ExtendedAck | undefined {
  if (start > payload.length) throw new DecodeError('extended ACK starts past the end of the message', start);
  const a = decodeAttributes(extackTable, payload, start, payload.length);
  const ext: ExtendedAck = {};
  if (a.message !== undefined) ext.message = a.message;
  if (a.offset !== undefined) ext.offset = a.offset;
  if (a.missingType !== undefined) ext.missingType = a.missingType;
  if (a.missingNest !== undefined) ext.missingNest = a.missingNest;
  return Object.keys(ext).length ? ext : undefined;
}

/** A decoded NLMSG_ERROR: `error` is 0 for an ACK, else a negative errno. */
export interface ErrorMessage {
  error: number;
  /** The header of the request this answers. */
  request: { length: number; type: number; flags: number; seq: number; pid: number };
  extack?: ExtendedAck;
}

/** Decode the payload of an NLMSG_ERROR message. */
export function parseErrorMessage(msg: NetlinkMessage): ErrorMessage {
  if (msg.type !== NLMSG_ERROR) throw new DecodeError(`not an NLMSG_ERROR (type ${msg.type})`, 0);
  const p = msg.payload;
  if (p.length < 4 + NLMSG_HDRLEN) throw new DecodeError(`NLMSG_ERROR payload too short (${p.length} bytes)`, 0);
  // Lengths checked above; one of these per ACK of a bulk apply.
  const error = hostI32(p, 0);
  const request = { length: hostU32(p, 4), type: hostU16(p, 8), flags: hostU16(p, 10), seq: hostU32(p, 12), pid: hostU32(p, 16) };
  const out: ErrorMessage = { error, request };
  if (msg.flags & NLM_F_ACK_TLVS) {
    // With NLM_F_CAPPED only the request header is echoed; otherwise (error
    // and no NETLINK_CAP_ACK) the whole request follows.
    const echoed = msg.flags & NLM_F_CAPPED || error === 0 ? NLMSG_HDRLEN : request.length;
    if (echoed < NLMSG_HDRLEN) throw new DecodeError(`echoed request length ${echoed} is shorter than a header`, 4);
    // Not `(echoed + 3) & ~3`: the echoed nlmsg_len is a u32, and 32-bit bitwise
    // arithmetic would wrap a value >= 2^31 to a negative offset.
    const ext = readExtack(p, 4 + Math.ceil(echoed / 4) * 4);
    if (ext) out.extack = ext;
  }
  return out;
}

/** A decoded NLMSG_DONE: `status` is 0 or a negative errno when the dump failed. */
export interface DoneMessage {
  status: number;
  extack?: ExtendedAck;
}

/** Decode the payload of an NLMSG_DONE message (an empty payload counts as status 0). */
export function parseDoneMessage(msg: NetlinkMessage): DoneMessage {
  if (msg.type !== NLMSG_DONE) throw new DecodeError(`not an NLMSG_DONE (type ${msg.type})`, 0);
  const p = msg.payload;
  if (p.length === 0) return { status: 0 };
  if (p.length < 4) throw new DecodeError(`NLMSG_DONE payload too short (${p.length} bytes)`, 0);
  const out: DoneMessage = { status: hostI32(p, 0) };
  if (msg.flags & NLM_F_ACK_TLVS) {
    const ext = readExtack(p, 4);
    if (ext) out.extack = ext;
  }
  return out;
}
