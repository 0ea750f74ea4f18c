import { describe, expect, it } from 'vitest';
import { HOST_LITTLE_ENDIAN } from '../../../src/netlink/constants.js';
import { Writer } from '../../../src/netlink/writer.js';
import { fromHex, toHex } from '../../helpers/hex.js';

const hostU16 = (b: Buffer, off: number): number => (HOST_LITTLE_ENDIAN ? b.readUInt16LE(off) : b.readUInt16BE(off));

/** Bytes written by `f` on a fresh writer. */
function bytes(f: (w: Writer) => void, capacity?: number): Buffer {
  const w = new Writer(capacity);
  f(w);
  return w.toBuffer();
}

// Expected bytes below are written out by hand for a little-endian host
// (x86-64, arm64): host-order fields are little-endian, be16/be32 big-endian.
describe.skipIf(!HOST_LITTLE_ENDIAN)('Writer golden bytes (little-endian host)', () => {
  it('hex helper round-trips', () => {
    expect(toHex(fromHex('01 02 03 04 05'))).toBe('01 02 03 04 | 05');
    expect(fromHex('0a0b # comment\n | 0c')).toEqual(Buffer.from([10, 11, 12]));
  });

  it('u8 attribute: nla_len 5, 3 bytes of zero padding', () => {
    expect(toHex(bytes((w) => w.attrU8(1, 0xab)))).toBe(toHex(fromHex('05 00 01 00  ab 00 00 00')));
  });

  it('u16 attribute (host order): nla_len 6, 2 bytes padding', () => {
    expect(bytes((w) => w.attrU16(2, 0x1234))).toEqual(fromHex('06 00 02 00  34 12 00 00'));
  });

  it('be16 attribute (network order): nla_len 6, 2 bytes padding', () => {
    expect(bytes((w) => w.attrBe16(3, 0x1234))).toEqual(fromHex('06 00 03 00  12 34 00 00'));
    expect(bytes((w) => w.attrBe16(4, 80))).toEqual(fromHex('06 00 04 00  00 50 00 00'));
  });

  it('u32 attribute (host order): nla_len 8, no padding', () => {
    expect(bytes((w) => w.attrU32(4, 0x12345678))).toEqual(fromHex('08 00 04 00  78 56 34 12'));
    expect(bytes((w) => w.attrU32(4, 0xffffffff))).toEqual(fromHex('08 00 04 00  ff ff ff ff'));
  });

  it('be32 attribute (network order)', () => {
    expect(bytes((w) => w.attrBe32(5, 0x0a000001))).toEqual(fromHex('08 00 05 00  0a 00 00 01'));
  });

  it('u64 attribute (host order): nla_len 12', () => {
    expect(bytes((w) => w.attrU64(6, 0x0102030405060708n))).toEqual(fromHex('0c 00 06 00  08 07 06 05 04 03 02 01'));
  });

  it('string attribute: NUL counted in nla_len, padded to 4', () => {
    expect(bytes((w) => w.attrString(7, 'rr'))).toEqual(fromHex('07 00 07 00  72 72 00 00'));
    expect(bytes((w) => w.attrString(7, 'abc'))).toEqual(fromHex('08 00 07 00  61 62 63 00'));
    expect(bytes((w) => w.attrString(7, 'abcd'))).toEqual(fromHex('09 00 07 00  61 62 63 64  00 00 00 00'));
    expect(bytes((w) => w.attrString(7, ''))).toEqual(fromHex('05 00 07 00  00 00 00 00'));
    // UTF-8: é is 2 bytes.
    expect(bytes((w) => w.attrString(2, 'é'))).toEqual(fromHex('07 00 02 00  c3 a9 00 00'));
  });

  it('flag attribute: header only', () => {
    expect(bytes((w) => w.attrFlag(8))).toEqual(fromHex('04 00 08 00'));
  });

  it('binary attribute: payload as is, padded', () => {
    expect(bytes((w) => w.attrBytes(9, Uint8Array.of(1, 2, 3, 4, 5)))).toEqual(fromHex('09 00 09 00  01 02 03 04  05 00 00 00'));
    expect(bytes((w) => w.attrBytes(9, new Uint8Array(0)))).toEqual(fromHex('04 00 09 00'));
    expect(bytes((w) => w.attrBytes(9, Uint8Array.of(0xde, 0xad, 0xbe, 0xef)))).toEqual(fromHex('08 00 09 00  de ad be ef'));
  });

  it('nested attribute: NLA_F_NESTED set by default, nla_len covers the padded children', () => {
    const b = bytes((w) => {
      const s = w.beginNested(10);
      w.attrU8(1, 7); // 8 bytes with padding
      w.attrU32(2, 1);
      w.endAttr(s);
    });
    expect(b).toEqual(
      fromHex(`
        14 00 0a 80          # len 20, type 10 | NLA_F_NESTED
        05 00 01 00 07 00 00 00
        08 00 02 00 01 00 00 00
      `),
    );
  });

  it('nested attribute without NLA_F_NESTED', () => {
    const b = bytes((w) => {
      const s = w.beginNested(10, false);
      w.attrU16(1, 2);
      w.endAttr(s);
    });
    expect(b).toEqual(fromHex('0c 00 0a 00  06 00 01 00 02 00 00 00'));
  });

  it('nests of nests patch each length', () => {
    const b = bytes((w) => {
      const outer = w.beginNested(1);
      const inner = w.beginNested(2);
      w.attrString(3, 'x');
      w.endAttr(inner);
      w.attrFlag(4);
      w.endAttr(outer);
    });
    expect(b).toEqual(
      fromHex(`
        14 00 01 80               # outer: 4 + 12 + 4 = 20
        0c 00 02 80               # inner: 4 + 8 = 12
        06 00 03 00 78 00 00 00   # "x\\0" + 2 pad
        04 00 04 00               # flag
      `),
    );
  });

  it('beginAttr/endAttr: nla_len excludes the trailing padding', () => {
    const b = bytes((w) => {
      const s = w.beginAttr(11);
      w.bytes(Uint8Array.of(1, 2, 3));
      w.endAttr(s);
      w.attrFlag(12);
    });
    expect(b).toEqual(fromHex('07 00 0b 00  01 02 03 00  04 00 0c 00'));
  });

  it('raw integers: s32 two-complement, u32 of a negative wraps, be32', () => {
    expect(bytes((w) => w.s32(-1).s32(-2))).toEqual(fromHex('ff ff ff ff  fe ff ff ff'));
    expect(bytes((w) => w.u32(-1))).toEqual(fromHex('ff ff ff ff'));
    expect(bytes((w) => w.be32(0x01020304).u16(0x0506).be16(0x0708))).toEqual(fromHex('01 02 03 04  06 05 07 08'));
    expect(bytes((w) => w.u8(1).align())).toEqual(fromHex('01 00 00 00'));
    expect(bytes((w) => w.zeros(3).u8(9))).toEqual(fromHex('00 00 00 09'));
  });

  it('beginMessage/endMessage: patches nlmsg_len (unpadded) and pads to 4', () => {
    const b = bytes((w) => {
      const m = w.beginMessage(0x24, 0x0005, 7, 0x1234);
      w.attrU8(1, 0xff);
      w.endMessage(m);
    });
    expect(b).toEqual(
      fromHex(`
        18 00 00 00  24 00 05 00  07 00 00 00  34 12 00 00   # len 24, type 0x24, flags 5, seq 7, pid 0x1234
        05 00 01 00  ff 00 00 00
      `),
    );
  });

  it('two messages in one buffer: the second starts aligned, each length patched', () => {
    const w = new Writer();
    const m1 = w.beginMessage(0x10, 1, 1);
    w.u8(0xaa); // odd payload: nlmsg_len 17, padded to 20
    w.endMessage(m1);
    const m2 = w.beginMessage(0x11, 1, 2);
    w.u32(0xdeadbeef);
    w.endMessage(m2);
    expect(m1).toBe(0);
    expect(m2).toBe(20);
    expect(w.toBuffer()).toEqual(
      fromHex(`
        11 00 00 00  10 00 01 00  01 00 00 00  00 00 00 00   aa 00 00 00
        14 00 00 00  11 00 01 00  02 00 00 00  00 00 00 00   ef be ad de
      `),
    );
  });

  it('empty message: nlmsg_len 16', () => {
    expect(bytes((w) => w.endMessage(w.beginMessage(3, 2, 9, 0)))).toEqual(fromHex('10 00 00 00 03 00 02 00 09 00 00 00 00 00 00 00'));
  });

  it('patchU16/patchU32 overwrite earlier bytes', () => {
    const w = new Writer();
    w.u32(0).u16(0);
    w.patchU32(0, 0x11223344);
    w.patchU16(4, 0x5566);
    expect(w.toBuffer()).toEqual(fromHex('44 33 22 11 66 55'));
  });
});

describe('Writer buffer management', () => {
  it('grows past its initial capacity without losing bytes', () => {
    const w = new Writer(1); // clamped to 64
    for (let i = 0; i < 5000; i++) w.u8(i & 0xff);
    const b = w.toBuffer();
    expect(b.length).toBe(5000);
    for (let i = 0; i < 5000; i++) expect(b[i]).toBe(i & 0xff);
  });

  it('grows in the middle of a string attribute', () => {
    const w = new Writer(64);
    w.zeros(60);
    const s = 'x'.repeat(300);
    w.attrString(1, s);
    const b = w.toBuffer();
    expect(hostU16(b, 60)).toBe(305);
    expect(b.subarray(64, 364).toString()).toBe(s);
    expect(b[364]).toBe(0);
    expect(w.length).toBe(60 + 308);
  });

  it('toBuffer copies, peek is a view; reset keeps nothing', () => {
    const w = new Writer();
    w.u8(1);
    const copy = w.toBuffer();
    const view = w.peek();
    w.reset();
    expect(w.length).toBe(0);
    w.u8(2);
    expect(copy[0]).toBe(1);
    expect(view[0]).toBe(2);
    expect(w.toBuffer()).toEqual(Buffer.from([2]));
  });

  it('endAttr refuses an attribute longer than nla_len can hold', () => {
    const w = new Writer();
    const s = w.beginAttr(1);
    w.zeros(0x10000);
    expect(() => w.endAttr(s)).toThrow(RangeError);
    expect(() => new Writer().attrString(1, 'a'.repeat(0xffff))).toThrow(RangeError);
  });

  it('attrBytes refuses a payload longer than nla_len can hold (no silent wrap of the u16 length)', () => {
    expect(() => new Writer().attrBytes(1, new Uint8Array(0xffff - 3))).toThrow(RangeError);
    // The largest that fits: 0xffff - 4 bytes of payload.
    const w = new Writer();
    w.attrBytes(1, new Uint8Array(0xffff - 4));
    expect(hostU16(w.peek(), 0)).toBe(0xffff);
    expect(w.length).toBe(0xffff + 1);
  });
});
