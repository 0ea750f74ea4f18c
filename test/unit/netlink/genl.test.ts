import { afterEach, describe, expect, it } from 'vitest';
import { DecodeError, NetlinkError } from '../../../src/errors.js';
import {
  CTRL_ATTR_FAMILY_ID,
  CTRL_ATTR_FAMILY_NAME,
  CTRL_ATTR_HDRSIZE,
  CTRL_ATTR_MAXATTR,
  CTRL_ATTR_MCAST_GROUPS,
  CTRL_ATTR_OPS,
  CTRL_ATTR_OP_FLAGS,
  CTRL_ATTR_OP_ID,
  CTRL_ATTR_VERSION,
  CTRL_CMD_GETFAMILY,
  CTRL_CMD_NEWFAMILY,
  GENL_ID_CTRL,
  HOST_LITTLE_ENDIAN,
  NETLINK_GENERIC,
  NLM_F_ACK,
  NLM_F_DUMP,
  NLM_F_MULTI,
  NLM_F_REQUEST,
} from '../../../src/netlink/constants.js';
import { fakeSocketFactory, type FakeHandler, type FakeSocket } from '../../../src/netlink/fake-socket.js';
import { GenlConn, parseGenlMessage, writeGenlHeader } from '../../../src/netlink/genl.js';
import type { NetlinkMessage } from '../../../src/netlink/message.js';
import type { Writer } from '../../../src/netlink/writer.js';
import { fromHex, toHex } from '../../helpers/hex.js';

const conns: GenlConn[] = [];
afterEach(() => {
  for (const c of conns.splice(0)) c.close();
});

function open(handler: FakeHandler): { genl: GenlConn; sockets: FakeSocket[] } {
  const { factory, sockets } = fakeSocketFactory(handler);
  const genl = GenlConn.open({ socketFactory: factory });
  conns.push(genl);
  return { genl, sockets };
}

/** The attributes of a controller reply for IPVS, written by hand (no schema) the way the kernel does: nests without NLA_F_NESTED. */
function writeIpvsFamily(w: Writer): void {
  w.u8(CTRL_CMD_NEWFAMILY).u8(2).u16(0);
  w.attrString(CTRL_ATTR_FAMILY_NAME, 'IPVS');
  w.attrU16(CTRL_ATTR_FAMILY_ID, 0x24);
  w.attrU32(CTRL_ATTR_VERSION, 1);
  w.attrU32(CTRL_ATTR_HDRSIZE, 0);
  w.attrU32(CTRL_ATTR_MAXATTR, 6);
  const ops = w.beginNested(CTRL_ATTR_OPS, false);
  const list: [number, number][] = [
    [1, 0x0b], // IPVS_CMD_NEW_SERVICE: GENL_ADMIN_PERM | CMD_CAP_DO | ...
    [4, 0x0e],
    [5, 0x0e],
  ];
  list.forEach(([id, flags], i) => {
    const e = w.beginNested(i + 1, false);
    w.attrU32(CTRL_ATTR_OP_ID, id);
    w.attrU32(CTRL_ATTR_OP_FLAGS, flags);
    w.endAttr(e);
  });
  w.endAttr(ops);
}

/** A controller that knows IPVS and nothing else. */
const controller: FakeHandler = (req, k) => {
  const name = familyNameOf(req);
  if (name === 'IPVS') {
    k.reply(req, GENL_ID_CTRL, 0, writeIpvsFamily);
    k.ack(req);
  } else {
    k.ack(req, -2);
  }
};

function familyNameOf(req: NetlinkMessage): string | undefined {
  // genlmsghdr (4) then CTRL_ATTR_FAMILY_NAME as the only attribute.
  const p = req.payload;
  if (p.length < 8) return undefined;
  const len = HOST_LITTLE_ENDIAN ? p.readUInt16LE(4) : p.readUInt16BE(4);
  return p.subarray(8, 4 + len - 1).toString();
}

describe('GenlConn', () => {
  it('family("IPVS") sends CTRL_CMD_GETFAMILY to the controller with CTRL_ATTR_FAMILY_NAME "IPVS\\0"', async () => {
    const { genl, sockets } = open(controller);
    await genl.family('IPVS');
    const [req] = sockets[0]!.requests;
    expect(req!.type).toBe(0x10);
    expect(req!.type).toBe(GENL_ID_CTRL);
    expect(req!.flags).toBe(NLM_F_REQUEST | NLM_F_ACK);
    expect(req!.payload[0]).toBe(CTRL_CMD_GETFAMILY);
    expect(req!.payload[0]).toBe(3);
    if (HOST_LITTLE_ENDIAN) {
      expect(toHex(req!.payload)).toBe(
        toHex(
          fromHex(`
            03 01 00 00                    # cmd 3 (GETFAMILY), version 1, reserved
            09 00 02 00  49 50 56 53 00    # CTRL_ATTR_FAMILY_NAME, len 9: "IPVS\\0"
            00 00 00                       # padding
          `),
        ),
      );
    }
  });

  it('decodes the controller reply into a GenlFamily', async () => {
    const { genl } = open(controller);
    const family = await genl.family('IPVS');
    expect(family).toEqual({
      id: 0x24,
      name: 'IPVS',
      version: 1,
      headerSize: 0,
      maxAttribute: 6,
      ops: [
        { id: 1, flags: 0x0b },
        { id: 4, flags: 0x0e },
        { id: 5, flags: 0x0e },
      ],
      multicastGroups: [],
    });
  });

  it('multicast groups are decoded too', async () => {
    const { genl } = open((req, k) => {
      k.reply(req, GENL_ID_CTRL, 0, (w) => {
        w.u8(CTRL_CMD_NEWFAMILY).u8(2).u16(0);
        w.attrU16(CTRL_ATTR_FAMILY_ID, 0x1a);
        w.attrString(CTRL_ATTR_FAMILY_NAME, 'nlctrl');
        const groups = w.beginNested(CTRL_ATTR_MCAST_GROUPS, false);
        const g = w.beginNested(1, false);
        w.attrU32(2, 0x10); // CTRL_ATTR_MCAST_GRP_ID
        w.attrString(1, 'notify'); // CTRL_ATTR_MCAST_GRP_NAME
        w.endAttr(g);
        w.endAttr(groups);
      });
      k.ack(req);
    });
    const f = await genl.family('nlctrl');
    expect(f.id).toBe(0x1a);
    expect(f.multicastGroups).toEqual([{ name: 'notify', id: 0x10 }]);
    expect(f.ops).toEqual([]);
  });

  it('the result is cached: a second call sends nothing', async () => {
    const { genl, sockets } = open(controller);
    const a = await genl.family('IPVS');
    const b = await genl.family('IPVS');
    expect(b).toBe(a);
    expect(sockets[0]!.requests).toHaveLength(1);
    // Concurrent first calls share one request too.
    const { genl: g2, sockets: s2 } = open(controller);
    const [x, y] = await Promise.all([g2.family('IPVS'), g2.family('IPVS')]);
    expect(x).toBe(y);
    expect(s2[0]!.requests).toHaveLength(1);
  });

  it('ENOENT rejects with NetlinkError code ENOENT and is not cached: a later call asks again', async () => {
    let known = false;
    const { genl, sockets } = open((req, k) => {
      if (known) controller(req, k);
      else k.ack(req, -2);
    });
    const e = await genl.family('IPVS').then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(NetlinkError);
    expect((e as NetlinkError).code).toBe('ENOENT');
    expect((e as NetlinkError).errno).toBe(2);
    expect((e as NetlinkError).message).toContain('IPVS');
    expect(sockets[0]!.requests).toHaveLength(1);
    // The module got loaded; asking again goes to the kernel again.
    known = true;
    const f = await genl.family('IPVS');
    expect(f.id).toBe(0x24);
    expect(sockets[0]!.requests).toHaveLength(2);
  });

  it('a reply without CTRL_ATTR_FAMILY_ID is a DecodeError', async () => {
    const { genl } = open((req, k) => {
      k.reply(req, GENL_ID_CTRL, 0, (w) => {
        w.u8(CTRL_CMD_NEWFAMILY).u8(2).u16(0);
        w.attrString(CTRL_ATTR_FAMILY_NAME, 'IPVS');
      });
      k.ack(req);
    });
    await expect(genl.family('IPVS')).rejects.toBeInstanceOf(DecodeError);
  });

  it('an ACK with no reply is a NetlinkError (ENODATA)', async () => {
    const { genl } = open((req, k) => k.ack(req));
    const e = await genl.family('IPVS').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(NetlinkError);
    expect((e as NetlinkError).errno).toBe(61);
  });

  it('request() writes the genl header and returns parsed genl messages', async () => {
    const { genl, sockets } = open((req, k) => {
      if ((req.flags & NLM_F_DUMP) === NLM_F_DUMP) {
        k.reply(req, 0x24, NLM_F_MULTI, (w) => {
          writeGenlHeader(w, 1, 1);
          w.attrU32(1, 42);
        });
        k.done(req);
      } else k.ack(req);
    });
    const replies = await genl.request(0x24, 2, 1, NLM_F_DUMP, (w) => w.attrU32(5, 7));
    expect(replies).toHaveLength(1);
    expect(replies[0]!.cmd).toBe(1);
    expect(replies[0]!.version).toBe(1);
    expect(replies[0]!.attributesOffset).toBe(4);
    const req = sockets[0]!.requests[0]!;
    expect(req.type).toBe(0x24);
    expect([...req.payload.subarray(0, 4)]).toEqual([2, 1, 0, 0]);
    expect(genl.conn.isClosed).toBe(false);
    genl.close();
    expect(genl.conn.isClosed).toBe(true);
  });

  it('parseGenlMessage rejects a payload shorter than the genl (and family) header', () => {
    const m = (n: number): NetlinkMessage => ({ type: 0x24, flags: 0, seq: 1, pid: 0, payload: Buffer.alloc(n) });
    expect(() => parseGenlMessage(m(3))).toThrow(DecodeError);
    expect(parseGenlMessage(m(4)).attributesOffset).toBe(4);
    expect(() => parseGenlMessage(m(7), 4)).toThrow(DecodeError);
    expect(parseGenlMessage(m(8), 4).attributesOffset).toBe(8);
  });

  it('GenlConn.open uses NETLINK_GENERIC', () => {
    let protocol = -1;
    const { factory } = fakeSocketFactory();
    const genl = GenlConn.open({ socketFactory: (p, n) => ((protocol = p), factory(p, n)) });
    conns.push(genl);
    expect(protocol).toBe(NETLINK_GENERIC);
  });
});
