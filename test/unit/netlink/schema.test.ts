import { describe, expect, it } from 'vitest';
import { DecodeError } from '../../../src/errors.js';
import { HOST_LITTLE_ENDIAN, NLA_F_NESTED } from '../../../src/netlink/constants.js';
import { decodeAttributes, defineTable, encodeAttributes, type AttributeTable, type Attributes, type FieldSpecs } from '../../../src/netlink/schema.js';
import { Writer } from '../../../src/netlink/writer.js';
import { bytesOf, fromHex, toHex } from '../../helpers/hex.js';

function encode<F extends FieldSpecs>(table: AttributeTable<F>, values: Attributes<F>, nestedFlag = true): Buffer {
  const w = new Writer();
  encodeAttributes(w, table, values, nestedFlag);
  return w.toBuffer();
}

function decodeError(f: () => unknown): DecodeError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(DecodeError);
    return e as DecodeError;
  }
  throw new Error('expected a DecodeError, nothing was thrown');
}

// A local copy of the IPVS service table, just the fields of the worked example
// (numbers from include/uapi/linux/ip_vs.h: IPVS_SVC_ATTR_*, IPVS_CMD_ATTR_SERVICE).
const svcTable = defineTable('svc', {
  af: { id: 1, type: 'u16' },
  protocol: { id: 2, type: 'u16' },
  address: { id: 3, type: 'binary' },
  port: { id: 4, type: 'be16' },
  fwmark: { id: 5, type: 'u32' },
  scheduler: { id: 6, type: 'string' },
  flags: { id: 7, type: 'binary' },
  timeout: { id: 8, type: 'u32' },
  netmask: { id: 9, type: 'be32' },
});
const cmdTable = defineTable('cmd', {
  service: { id: 1, type: 'nested', table: svcTable },
});

// A table exercising every wire type.
const innerTable = defineTable('inner', {
  a: { id: 1, type: 'u32' },
  s: { id: 2, type: 'string' },
});
const opTable = defineTable('op', {
  id: { id: 1, type: 'u32' },
  flags: { id: 2, type: 'u32' },
});
const allTable = defineTable('all', {
  u8: { id: 1, type: 'u8' },
  u16: { id: 2, type: 'u16' },
  be16: { id: 3, type: 'be16' },
  u32: { id: 4, type: 'u32' },
  be32: { id: 5, type: 'be32' },
  s32: { id: 6, type: 's32' },
  u64: { id: 7, type: 'u64' },
  str: { id: 8, type: 'string' },
  bin: { id: 9, type: 'binary' },
  flag: { id: 10, type: 'flag' },
  inner: { id: 11, type: 'nested', table: innerTable },
  ops: { id: 12, type: 'array', table: opTable },
  pad: { id: 13, type: 'pad' },
});

describe.skipIf(!HOST_LITTLE_ENDIAN)('schema golden bytes (little-endian host)', () => {
  const example = {
    service: {
      af: 2, // AF_INET
      protocol: 6, // IPPROTO_TCP
      address: Uint8Array.from([10, 0, 0, 1, ...new Array(12).fill(0)]),
      port: 80,
      scheduler: 'rr',
      flags: fromHex('00000000 ffffffff'),
      timeout: 0,
      netmask: 0xffffffff,
    },
  };
  const serviceBody = `
    06 00 01 00  02 00 00 00                  # AF        len 6  type 1: 02 00 + 2 pad
    06 00 02 00  06 00 00 00                  # PROTOCOL  len 6  type 2: 06 00 + 2 pad
    14 00 03 00  0a 00 00 01  00 00 00 00  00 00 00 00  00 00 00 00   # ADDR len 20 type 3
    06 00 04 00  00 50 00 00                  # PORT      len 6  type 4: big-endian 80 + 2 pad
    07 00 06 00  72 72 00 00                  # SCHED     len 7  type 6: "rr\\0" + 1 pad
    0c 00 07 00  00 00 00 00  ff ff ff ff     # FLAGS     len 12 type 7: flags 0, mask ~0
    08 00 08 00  00 00 00 00                  # TIMEOUT   len 8  type 8
    08 00 09 00  ff ff ff ff                  # NETMASK   len 8  type 9
  `;

  it('worked example: NEW_SERVICE IPv4 TCP 10.0.0.1:80 rr — the CMD_ATTR_SERVICE nest', () => {
    const got = encode(cmdTable, example);
    // 8 + 8 + 20 + 8 + 8 + 12 + 8 + 8 = 80 bytes of children, + 4 header = 84 = 0x54.
    const expected = fromHex(`54 00 01 80   # CMD_ATTR_SERVICE len 84, type 1 | NLA_F_NESTED\n${serviceBody}`);
    expect(toHex(got)).toBe(toHex(expected));
    // The kernel's IPVS code does not set NLA_F_NESTED; without it only that bit differs.
    expect(toHex(encode(cmdTable, example, false))).toBe(toHex(fromHex(`54 00 01 00\n${serviceBody}`)));
  });

  it('worked example: the whole generic netlink message', () => {
    const w = new Writer();
    const m = w.beginMessage(0x24, 0x0005 /* REQUEST|ACK */, 1, 0);
    w.u8(1).u8(1).u16(0); // genlmsghdr: IPVS_CMD_NEW_SERVICE, version 1
    encodeAttributes(w, cmdTable, example, false);
    w.endMessage(m);
    expect(toHex(w.toBuffer())).toBe(
      toHex(
        fromHex(`
          68 00 00 00  24 00 05 00  01 00 00 00  00 00 00 00   # nlmsg_len 104 = 16 + 4 + 84
          01 01 00 00                                         # cmd 1, version 1
          54 00 01 00
          ${serviceBody}
        `),
      ),
    );
  });

  it('worked example decodes back to the same values (with or without NLA_F_NESTED)', () => {
    for (const nested of ['54 00 01 80', '54 00 01 00']) {
      const decoded = decodeAttributes(cmdTable, fromHex(`${nested}\n${serviceBody}`));
      expect(decoded).toEqual({ service: { ...example.service, address: new Uint8Array(example.service.address), flags: new Uint8Array(example.service.flags) } });
    }
  });

  it('every wire type encodes as hand-computed', () => {
    const got = encode(allTable, {
      u8: 0x12,
      u16: 0x3456,
      be16: 0x789a,
      u32: 0xdeadbeef,
      be32: 0x01020304,
      s32: -2,
      u64: 0x1122334455667788n,
      str: 'hi',
      bin: Uint8Array.of(9, 8, 7),
      flag: true,
      inner: { a: 5, s: 'x' },
      ops: [{ id: 1, flags: 2 }, { id: 3 }],
    });
    expect(toHex(got)).toBe(toHex(allTypesBytes));
  });
});

const allTypesBytes = fromHex(`
  05 00 01 00  12 00 00 00                         # u8
  06 00 02 00  56 34 00 00                         # u16 host order
  06 00 03 00  78 9a 00 00                         # be16
  08 00 04 00  ef be ad de                         # u32
  08 00 05 00  01 02 03 04                         # be32
  08 00 06 00  fe ff ff ff                         # s32 -2
  0c 00 07 00  88 77 66 55  44 33 22 11            # u64
  07 00 08 00  68 69 00 00                         # string "hi"
  07 00 09 00  09 08 07 00                         # binary 3 bytes + 1 pad
  04 00 0a 00                                      # flag
  14 00 0b 80  08 00 01 00  05 00 00 00  06 00 02 00  78 00 00 00   # nested: a=5, s="x"
  24 00 0c 80                                      # array: 4 + 20 + 12 = 36
    14 00 01 80  08 00 01 00  01 00 00 00  08 00 02 00  02 00 00 00  # entry 1 {id 1, flags 2}
    0c 00 02 80  08 00 01 00  03 00 00 00                            # entry 2 {id 3}
`);

describe.skipIf(!HOST_LITTLE_ENDIAN)('decodeAttributes (little-endian host)', () => {
  it('decodes every wire type', () => {
    expect(decodeAttributes(allTable, allTypesBytes)).toEqual({
      u8: 0x12,
      u16: 0x3456,
      be16: 0x789a,
      u32: 0xdeadbeef,
      be32: 0x01020304,
      s32: -2,
      u64: 0x1122334455667788n,
      str: 'hi',
      bin: Uint8Array.of(9, 8, 7),
      flag: true,
      inner: { a: 5, s: 'x' },
      ops: [{ id: 1, flags: 2 }, { id: 3 }],
    });
  });

  it('NLA_F_NESTED is masked: nests with and without the flag decode the same', () => {
    const withFlag = fromHex('14 00 0b 80  08 00 01 00 05 00 00 00  06 00 02 00 78 00 00 00');
    const without = fromHex('14 00 0b 00  08 00 01 00 05 00 00 00  06 00 02 00 78 00 00 00');
    const a = decodeAttributes(allTable, withFlag);
    const b = decodeAttributes(allTable, without);
    expect(a).toEqual({ inner: { a: 5, s: 'x' } });
    expect(b).toEqual(a);
    // NLA_F_NET_BYTEORDER is masked too.
    expect(decodeAttributes(allTable, fromHex('08 00 04 40  01 00 00 00'))).toEqual({ u32: 1 });
  });

  it('binary values are copies, not views of the datagram', () => {
    const buf = fromHex('07 00 09 00  09 08 07 00');
    const d = decodeAttributes(allTable, buf);
    buf[4] = 0xff;
    expect(d.bin).toEqual(Uint8Array.of(9, 8, 7));
  });

  it('unknown attributes are kept and re-emitted byte for byte', () => {
    const input = fromHex(`
      08 00 04 00  2a 00 00 00                 # u32 = 42 (known)
      07 00 08 00  61 62 00 00                 # str = "ab" (known)
      08 00 32 00  01 02 03 04                 # unknown type 50
      05 00 33 00  ff 00 00 00                 # unknown type 51, odd length
      0c 00 34 80  08 00 01 00  07 00 00 00    # unknown nest type 52 with NLA_F_NESTED
      04 00 35 00                              # unknown empty type 53
    `);
    const d = decodeAttributes(allTable, input);
    expect(d.u32).toBe(42);
    expect(d.str).toBe('ab');
    expect(d.unknown).toEqual([
      { type: 50, nestedFlag: false, data: Uint8Array.of(1, 2, 3, 4) },
      { type: 51, nestedFlag: false, data: Uint8Array.of(0xff) },
      { type: 52, nestedFlag: true, data: bytesOf('08 00 01 00 07 00 00 00') },
      { type: 53, nestedFlag: false, data: new Uint8Array(0) },
    ]);
    expect(toHex(encode(allTable, d))).toBe(toHex(input));
  });

  it('unknown attributes in a nest are re-emitted inside that nest', () => {
    const input = fromHex(`
      14 00 0b 80
        08 00 01 00  05 00 00 00               # a = 5
        08 00 63 00  aa bb cc dd               # unknown type 99 in the nest
    `);
    const d = decodeAttributes(allTable, input);
    expect(d).toEqual({ inner: { a: 5, unknown: [{ type: 99, nestedFlag: false, data: bytesOf('aa bb cc dd') }] } });
    expect(toHex(encode(allTable, d))).toBe(toHex(input));
  });

  it('duplicate attribute: the last one wins', () => {
    const d = decodeAttributes(allTable, fromHex('08 00 04 00 01 00 00 00  08 00 04 00 02 00 00 00  08 00 04 00 03 00 00 00'));
    expect(d).toEqual({ u32: 3 });
  });

  it('a u32 with 3 or 5 bytes is a DecodeError naming the field', () => {
    const three = decodeError(() => decodeAttributes(allTable, fromHex('04 00 0a 00  07 00 04 00  01 02 03 00')));
    expect(three.message).toContain('all.u32');
    expect(three.message).toMatch(/expected 4 bytes for u32, got 3/);
    expect(three.offset).toBe(4);
    const five = decodeError(() => decodeAttributes(allTable, fromHex('09 00 04 00  01 02 03 04  05 00 00 00')));
    expect(five.message).toContain('all.u32');
    expect(five.message).toMatch(/got 5/);
    expect(five.offset).toBe(0);
  });

  it('every fixed-size type checks its size', () => {
    const cases: [string, string][] = [
      ['all.u8', '06 00 01 00 01 02 00 00'],
      ['all.u16', '05 00 02 00 01 00 00 00'],
      ['all.be16', '08 00 03 00 01 02 03 04'],
      ['all.be32', '06 00 05 00 01 02 00 00'],
      ['all.s32', '04 00 06 00'],
      ['all.u64', '08 00 07 00 01 02 03 04'],
      ['all.flag', '05 00 0a 00 01 00 00 00'],
    ];
    for (const [field, bytes] of cases) {
      const e = decodeError(() => decodeAttributes(allTable, fromHex(bytes)));
      expect(e.message).toContain(field);
      expect(e.offset).toBe(0);
    }
  });

  it('a nested field error names the nested table and gives the absolute offset', () => {
    const e = decodeError(() => decodeAttributes(allTable, fromHex('04 00 0a 00  0c 00 0b 00  07 00 01 00  01 02 03 00')));
    expect(e.message).toContain('inner.a');
    expect(e.offset).toBe(8);
  });

  it('a string without its NUL is a DecodeError', () => {
    const e = decodeError(() => decodeAttributes(allTable, fromHex('07 00 08 00  61 62 63 00')));
    expect(e.message).toContain('all.str');
    expect(e.message).toMatch(/NUL/);
    // A NUL in the padding after the payload does not count.
    expect(() => decodeAttributes(allTable, fromHex('06 00 08 00  61 62 00 00'))).toThrow(DecodeError);
    // An empty payload has no NUL either.
    expect(() => decodeAttributes(allTable, fromHex('04 00 08 00'))).toThrow(DecodeError);
    // A NUL before the end ends the string.
    expect(decodeAttributes(allTable, fromHex('08 00 08 00  61 00 62 00'))).toEqual({ str: 'a' });
  });

  it('nla_len below 4 is a DecodeError with its offset', () => {
    for (const len of ['00 00', '01 00', '03 00']) {
      const e = decodeError(() => decodeAttributes(allTable, fromHex(`04 00 0a 00  ${len} 0a 00  00 00 00 00`)));
      expect(e.offset).toBe(4);
      expect(e.message).toMatch(/shorter than its header/);
    }
  });

  it('nla_len past the container is a DecodeError with its offset', () => {
    const e = decodeError(() => decodeAttributes(allTable, fromHex('04 00 0a 00  09 00 04 00  01 02 03 04')));
    expect(e.offset).toBe(4);
    expect(e.message).toMatch(/past the end/);
    // Inside a nest: the child fits in the buffer but not in its nest.
    const nested = fromHex(`
      0c 00 0b 00  0c 00 01 00  05 00 00 00
      08 00 04 00  00 00 00 00
    `);
    const n = decodeError(() => decodeAttributes(allTable, nested));
    expect(n.offset).toBe(4);
    expect(n.message).toContain('inner');
  });

  it('respects start/end: decodes a sub-range, rejects a range outside the buffer', () => {
    const buf = fromHex('ff ff ff ff  08 00 04 00  07 00 00 00  ff ff');
    expect(decodeAttributes(allTable, buf, 4, 12)).toEqual({ u32: 7 });
    expect(decodeError(() => decodeAttributes(allTable, buf, 4, 100)).offset).toBe(4);
    expect(() => decodeAttributes(allTable, buf, 8, 4)).toThrow(DecodeError);
    expect(() => decodeAttributes(allTable, buf, -1, 4)).toThrow(DecodeError);
  });

  it('fewer than 4 trailing bytes are padding and ignored; empty input decodes to {}', () => {
    expect(decodeAttributes(allTable, fromHex('04 00 0a 00  00 00 00'))).toEqual({ flag: true });
    expect(decodeAttributes(allTable, new Uint8Array(0))).toEqual({});
  });

  it('pad attributes are skipped whatever their length', () => {
    expect(decodeAttributes(allTable, fromHex('0c 00 0d 00  00 00 00 00  00 00 00 00  08 00 04 00  01 00 00 00'))).toEqual({ u32: 1 });
    expect(encode(allTable, { pad: 1 as never, u8: 1 })).toEqual(fromHex('05 00 01 00 01 00 00 00'));
  });

  it('works on a Uint8Array view at a non-zero byteOffset', () => {
    const backing = new Uint8Array(64);
    backing.set(fromHex('08 00 04 00  2a 00 00 00  07 00 08 00  6f 6b 00 00'), 13);
    const view = backing.subarray(13, 29);
    expect(decodeAttributes(allTable, view)).toEqual({ u32: 42, str: 'ok' });
  });
});

describe.skipIf(!HOST_LITTLE_ENDIAN)('array attributes (CTRL_ATTR_OPS style)', () => {
  // CTRL_ATTR_OPS as the kernel sends it: nla_nest_start_noflag, entries numbered from 1.
  const opsBytes = fromHex(`
    2c 00 0c 00
      14 00 01 00  08 00 01 00  01 00 00 00  08 00 02 00  0a 00 00 00   # {id 1, flags 10}
      14 00 02 00  08 00 01 00  02 00 00 00  08 00 02 00  0e 00 00 00   # {id 2, flags 14}
  `);

  it('decodes entries in order and re-encodes identical bytes', () => {
    const d = decodeAttributes(allTable, opsBytes);
    expect(d).toEqual({ ops: [{ id: 1, flags: 10 }, { id: 2, flags: 14 }] });
    expect(toHex(encode(allTable, d, false))).toBe(toHex(opsBytes));
  });

  it('an empty array', () => {
    expect(decodeAttributes(allTable, fromHex('04 00 0c 00'))).toEqual({ ops: [] });
    expect(encode(allTable, { ops: [] }, false)).toEqual(fromHex('04 00 0c 00'));
  });

  it('a bad entry length is a DecodeError at the entry', () => {
    const short = decodeError(() => decodeAttributes(allTable, fromHex('08 00 0c 00  02 00 01 00')));
    expect(short.offset).toBe(4);
    expect(short.message).toContain('all.ops');
    const long = decodeError(() => decodeAttributes(allTable, fromHex('08 00 0c 00  10 00 01 00')));
    expect(long.offset).toBe(4);
    // An entry's own attributes are checked with the entry table.
    const inner = decodeError(() => decodeAttributes(allTable, fromHex('10 00 0c 00  0c 00 01 00  07 00 01 00 01 02 03 00')));
    expect(inner.message).toContain('op.id');
  });
});

describe('defineTable', () => {
  it('rejects an attribute number used twice', () => {
    expect(() => defineTable('t', { a: { id: 1, type: 'u8' }, b: { id: 1, type: 'u16' } })).toThrow(/defined twice/);
  });
  it('rejects a nest without a table', () => {
    expect(() => defineTable('t', { a: { id: 1, type: 'nested' } })).toThrow(/needs a nested table/);
    expect(() => defineTable('t', { a: { id: 1, type: 'array' } })).toThrow(/needs a nested table/);
  });
  it('indexes fields by number', () => {
    expect(allTable.byId.get(12)?.[0]).toBe('ops');
    expect(allTable.byId.get(99)).toBeUndefined();
  });
});

describe('encode/decode round trip in host order', () => {
  it('round-trips values of every type (any host)', () => {
    const values: Attributes<typeof allTable.fields> = {
      u8: 255,
      u16: 65535,
      be16: 1,
      u32: 0,
      be32: 0xfffffffe,
      s32: -2147483648,
      u64: 0xffffffffffffffffn,
      str: 'ünïcode ✓',
      bin: new Uint8Array(0),
      flag: true,
      inner: {},
      ops: [{}, { id: 7 }],
    };
    expect(decodeAttributes(allTable, encode(allTable, values))).toEqual(values);
    expect(decodeAttributes(allTable, encode(allTable, values, false))).toEqual(values);
  });

  it('undefined fields and a false flag are not written', () => {
    expect(encode(allTable, { u8: undefined, flag: false as never })).toEqual(Buffer.alloc(0));
  });

  it('unknown attributes with NLA_F_NESTED keep the flag', () => {
    const d = { unknown: [{ type: 40, nestedFlag: true, data: new Uint8Array(0) }] };
    const b = encode(allTable, d);
    expect((HOST_LITTLE_ENDIAN ? b.readUInt16LE(2) : b.readUInt16BE(2)) & NLA_F_NESTED).toBe(NLA_F_NESTED);
    expect(decodeAttributes(allTable, b)).toEqual(d);
  });
});
