/**
 * Generic netlink: the 4-byte genlmsghdr, requests addressed to a family, and
 * resolving a family's id by name through the controller (CTRL_CMD_GETFAMILY).
 * @module
 */
import { DecodeError, NetlinkError } from '../errors.js';
import { Conn, type ConnOptions, type DumpsOptions, type RequestOptions } from './conn.js';
import {
  CTRL_ATTR_FAMILY_ID,
  CTRL_ATTR_FAMILY_NAME,
  CTRL_ATTR_HDRSIZE,
  CTRL_ATTR_MAXATTR,
  CTRL_ATTR_MCAST_GROUPS,
  CTRL_ATTR_MCAST_GRP_ID,
  CTRL_ATTR_MCAST_GRP_NAME,
  CTRL_ATTR_OPS,
  CTRL_ATTR_OP_FLAGS,
  CTRL_ATTR_OP_ID,
  CTRL_ATTR_VERSION,
  CTRL_CMD_GETFAMILY,
  GENL_HDRLEN,
  GENL_ID_CTRL,
  NETLINK_GENERIC,
} from './constants.js';
import type { NetlinkMessage } from './message.js';
import { decodeAttributes, defineTable, encodeAttributes, type AttributeTable, type Attributes, type FieldSpecs } from './schema.js';
import type { Writer } from './writer.js';

/** A generic netlink message: its genlmsghdr and where its attributes start. */
export interface GenlMessage {
  cmd: number;
  version: number;
  /** The netlink message it came in. */
  message: NetlinkMessage;
  /** Offset of the attributes in `message.payload` (after genlmsghdr and any family header). */
  attributesOffset: number;
}

/** Read the genlmsghdr of a message. */
export function parseGenlMessage(message: NetlinkMessage, familyHeaderSize = 0): GenlMessage {
  if (message.payload.length < GENL_HDRLEN + familyHeaderSize) {
    throw new DecodeError(`generic netlink message too short (${message.payload.length} bytes)`, 0);
  }
  return { cmd: message.payload[0]!, version: message.payload[1]!, message, attributesOffset: GENL_HDRLEN + familyHeaderSize };
}

/** Decode the attributes of a generic netlink message with a table. */
export function decodeGenlAttributes<F extends FieldSpecs>(table: AttributeTable<F>, m: GenlMessage): Attributes<F> {
  return decodeAttributes(table, m.message.payload, m.attributesOffset);
}

/** Per-request options of {@link GenlConn.request}: those of the connection, with replies streamed as generic netlink messages. */
export type GenlRequestOptions = Omit<RequestOptions, 'onMessage'> & {
  /** Each reply as it arrives, instead of collected (see RequestOptions.onMessage: valid only during the call). */
  onMessage?: (message: GenlMessage) => void;
};

/** Write a genlmsghdr. */
export function writeGenlHeader(w: Writer, cmd: number, version: number): void {
  w.u8(cmd).u8(version).u16(0);
}

const opTable = defineTable('ctrl op', {
  id: { id: CTRL_ATTR_OP_ID, type: 'u32' },
  flags: { id: CTRL_ATTR_OP_FLAGS, type: 'u32' },
});
const mcastGroupTable = defineTable('ctrl mcast group', {
  name: { id: CTRL_ATTR_MCAST_GRP_NAME, type: 'string' },
  id: { id: CTRL_ATTR_MCAST_GRP_ID, type: 'u32' },
});
/** Controller attributes (include/uapi/linux/genetlink.h). */
export const ctrlTable = defineTable('ctrl', {
  familyId: { id: CTRL_ATTR_FAMILY_ID, type: 'u16' },
  familyName: { id: CTRL_ATTR_FAMILY_NAME, type: 'string', maxLength: 15 },
  version: { id: CTRL_ATTR_VERSION, type: 'u32' },
  headerSize: { id: CTRL_ATTR_HDRSIZE, type: 'u32' },
  maxAttribute: { id: CTRL_ATTR_MAXATTR, type: 'u32' },
  ops: { id: CTRL_ATTR_OPS, type: 'array', table: opTable },
  multicastGroups: { id: CTRL_ATTR_MCAST_GROUPS, type: 'array', table: mcastGroupTable },
});

/** What the controller says about a family. */
export interface GenlFamily {
  id: number;
  name: string;
  version: number;
  headerSize: number;
  maxAttribute: number;
  /** Commands the family implements, with their GENL_* capability flags. */
  ops: { id: number; flags: number }[];
  multicastGroups: { name: string; id: number }[];
}

/** A generic netlink connection: a {@link Conn} plus family resolution. */
export class GenlConn {
  /** The underlying netlink connection. */
  readonly conn: Conn;
  private readonly families = new Map<string, Promise<GenlFamily>>();

  private constructor(conn: Conn) {
    this.conn = conn;
  }

  /** Open a NETLINK_GENERIC socket. */
  static open(options: Omit<ConnOptions, 'protocol'> = {}): GenlConn {
    return new GenlConn(Conn.open({ ...options, protocol: NETLINK_GENERIC }));
  }

  /**
   * Resolve a family by name (cached per connection). Rejects with a NetlinkError
   * ENOENT when the kernel has no such family (e.g. its module is not loaded).
   */
  family(name: string, options: Omit<RequestOptions, 'onMessage'> = {}): Promise<GenlFamily> {
    let f = this.families.get(name);
    if (!f) {
      f = this.resolveFamily(name, options);
      this.families.set(name, f);
      f.catch(() => this.families.delete(name));
    }
    return f;
  }

  private async resolveFamily(name: string, options: Omit<RequestOptions, 'onMessage'>): Promise<GenlFamily> {
    const replies = await this.request(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1, 0, (w) => encodeAttributes(w, ctrlTable, { familyName: name }), {
      operation: `resolve generic netlink family ${name}`,
      ...options,
    });
    const reply = replies[0];
    if (!reply) throw new NetlinkError(61 /* ENODATA */, `resolve generic netlink family ${name}: the kernel sent no reply`);
    const a = decodeGenlAttributes(ctrlTable, reply);
    if (a.familyId === undefined) throw new DecodeError(`family ${name}: reply has no CTRL_ATTR_FAMILY_ID`, 0);
    return {
      id: a.familyId,
      name: a.familyName ?? name,
      version: a.version ?? 0,
      headerSize: a.headerSize ?? 0,
      maxAttribute: a.maxAttribute ?? 0,
      ops: (a.ops ?? []).map((o) => ({ id: o.id ?? 0, flags: o.flags ?? 0 })),
      multicastGroups: (a.multicastGroups ?? []).map((g) => ({ name: g.name ?? '', id: g.id ?? 0 })),
    };
  }

  /**
   * Send a generic netlink request and resolve with the decoded genl headers of
   * the replies.
   */
  async request(
    familyId: number,
    cmd: number,
    version: number,
    flags: number,
    encodeAttributes: (w: Writer) => void,
    options: GenlRequestOptions = {},
  ): Promise<GenlMessage[]> {
    const { onMessage, ...rest } = options;
    const connOptions: RequestOptions = onMessage ? { ...rest, onMessage: (m) => onMessage(parseGenlMessage(m)) } : rest;
    const replies = await this.conn.request(
      familyId,
      flags,
      (w) => {
        writeGenlHeader(w, cmd, version);
        encodeAttributes(w);
      },
      connOptions,
    );
    return replies.map((m) => parseGenlMessage(m));
  }

  /**
   * Run `count` dumps of command `cmd` one after another (see
   * {@link Conn.requestDumps}): `encode(i, w)` writes dump i's attributes, and
   * `onReply(i, datagram, attributesStart, end)` gets each reply's attributes
   * in place, valid only during the call.
   */
  requestDumps(
    familyId: number,
    cmd: number,
    version: number,
    count: number,
    encode: (index: number, w: Writer) => void,
    onReply: (index: number, datagram: Buffer, attributesStart: number, end: number) => void,
    options: DumpsOptions = {},
  ): Promise<void> {
    return this.conn.requestDumps(
      familyId,
      count,
      (i, w) => {
        writeGenlHeader(w, cmd, version);
        encode(i, w);
      },
      (i, d, start, end) => {
        if (end - start < GENL_HDRLEN) throw new DecodeError(`generic netlink message too short (${end - start} bytes)`, 0);
        onReply(i, d, start + GENL_HDRLEN, end);
      },
      options,
    );
  }

  /** Close the socket; pending requests reject. */
  close(): void {
    this.conn.close();
  }
}
