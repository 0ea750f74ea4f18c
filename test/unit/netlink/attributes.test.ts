import { describe, expect, it } from 'vitest';
import { DecodeError } from '../../../src/errors.js';
import { get, iterateAttributes, type RawAttribute } from '../../../src/netlink/attributes.js';
import { HOST_LITTLE_ENDIAN } from '../../../src/netlink/constants.js';
import { bytesOf, fromHex } from '../../helpers/hex.js';

function decodeError(f: () => unknown): DecodeError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(DecodeError);
    return e as DecodeError;
  }
  throw new Error('expected a DecodeError, nothing was thrown');
}

/** One attribute with `payload` (hex), at offset 0 of its own buffer. */
function attr(payload: string, type = 1): RawAttribute {
  const p = fromHex(payload);
  const b = Buffer.alloc(4 + ((p.length + 3) & ~3));
  b.writeUInt16LE(4 + p.length, 0);
  b.writeUInt16LE(type, 2);
  p.copy(b, 4);
  const [a] = [...iterateAttributes(b)];
  return a!;
}

describe.skipIf(!HOST_LITTLE_ENDIAN)('iterateAttributes (little-endian host)', () => {
  const buf = fromHex(`
    05 00 01 00  ab 00 00 00                  # type 1, u8
    0c 00 02 80  08 00 01 00  07 00 00 00     # type 2, nested (NLA_F_NESTED)
    08 00 03 40  0a 00 00 01                  # type 3 with NLA_F_NET_BYTEORDER
    04 00 04 00                               # type 4, empty
    00 00                                     # 2 bytes of trailing padding
  `);

  it('yields type (flags masked), nestedFlag, payload offset and length', () => {
    const attrs = [...iterateAttributes(buf)];
    expect(attrs.map(({ type, nestedFlag, offset, length }) => ({ type, nestedFlag, offset, length }))).toEqual([
      { type: 1, nestedFlag: false, offset: 4, length: 1 },
      { type: 2, nestedFlag: true, offset: 12, length: 8 },
      { type: 3, nestedFlag: false, offset: 24, length: 4 },
      { type: 4, nestedFlag: false, offset: 32, length: 0 },
    ]);
    expect(attrs.every((a) => a.buf === buf)).toBe(true);
  });

  it('iterates a sub-range; get.nested iterates a nest', () => {
    const attrs = [...iterateAttributes(buf, 8, 20)];
    expect(attrs).toHaveLength(1);
    const inner = [...get.nested(attrs[0]!)];
    expect(inner.map((a) => [a.type, get.u32(a)])).toEqual([[1, 7]]);
  });

  it('nla_len below 4 → DecodeError at its offset', () => {
    for (const len of ['00 00', '02 00', '03 00']) {
      const e = decodeError(() => [...iterateAttributes(fromHex(`04 00 01 00  ${len} 02 00`))]);
      expect(e.offset).toBe(4);
    }
  });

  it('nla_len past the container → DecodeError at its offset', () => {
    const e = decodeError(() => [...iterateAttributes(fromHex('04 00 01 00  0c 00 02 00  00 00 00 00'))]);
    expect(e.offset).toBe(4);
    expect(e.message).toMatch(/past the end/);
    // Inside a nest whose bounds are tighter than the buffer.
    const nest = fromHex('0c 00 01 00  0c 00 02 00  00 00 00 00  00 00 00 00');
    const [outer] = [...iterateAttributes(nest, 0, 12)];
    expect(decodeError(() => [...get.nested(outer!)]).offset).toBe(4);
  });

  it('a range outside the buffer → DecodeError', () => {
    expect(() => [...iterateAttributes(buf, 0, buf.length + 1)]).toThrow(DecodeError);
    expect(() => [...iterateAttributes(buf, -4)]).toThrow(DecodeError);
    expect(() => [...iterateAttributes(buf, 8, 4)]).toThrow(DecodeError);
  });

  it('empty input and lone padding yield nothing', () => {
    expect([...iterateAttributes(new Uint8Array(0))]).toEqual([]);
    expect([...iterateAttributes(new Uint8Array(3))]).toEqual([]);
  });

  it('works on a view at a non-zero byteOffset', () => {
    const backing = new Uint8Array(40);
    backing.set(fromHex('08 00 05 00  2a 00 00 00'), 9);
    const [a] = [...iterateAttributes(backing.subarray(9, 17))];
    expect(a!.type).toBe(5);
    expect(get.u32(a!)).toBe(42);
  });
});

describe.skipIf(!HOST_LITTLE_ENDIAN)('get.* getters check lengths (little-endian host)', () => {
  it('u8', () => {
    expect(get.u8(attr('ab'))).toBe(0xab);
    for (const bad of ['', 'ab cd']) {
      const e = decodeError(() => get.u8(attr(bad, 7)));
      expect(e.offset).toBe(0);
      expect(e.message).toMatch(/type 7 should be u8 \(1 bytes\)/);
    }
  });

  it('u16 and be16', () => {
    expect(get.u16(attr('34 12'))).toBe(0x1234);
    expect(get.be16(attr('12 34'))).toBe(0x1234);
    for (const bad of ['12', '12 34 56', '12 34 56 78']) {
      expect(() => get.u16(attr(bad))).toThrow(DecodeError);
      expect(() => get.be16(attr(bad))).toThrow(DecodeError);
    }
  });

  it('u32, s32 and be32', () => {
    expect(get.u32(attr('78 56 34 12'))).toBe(0x12345678);
    expect(get.u32(attr('ff ff ff ff'))).toBe(0xffffffff);
    expect(get.s32(attr('ff ff ff ff'))).toBe(-1);
    expect(get.be32(attr('0a 00 00 01'))).toBe(0x0a000001);
    for (const bad of ['01 02 03', '01 02 03 04 05', '']) {
      const e = decodeError(() => get.u32(attr(bad)));
      expect(e.message).toMatch(/should be u32/);
      expect(() => get.s32(attr(bad))).toThrow(DecodeError);
      expect(() => get.be32(attr(bad))).toThrow(DecodeError);
    }
  });

  it('u64', () => {
    expect(get.u64(attr('08 07 06 05 04 03 02 01'))).toBe(0x0102030405060708n);
    expect(() => get.u64(attr('01 02 03 04'))).toThrow(DecodeError);
    expect(() => get.u64(attr('01 02 03 04 05 06 07 08 09'))).toThrow(DecodeError);
  });

  it('string: needs its NUL inside the payload', () => {
    expect(get.string(attr('72 72 00'))).toBe('rr');
    expect(get.string(attr('61 00 62 00'))).toBe('a');
    expect(get.string(attr('00'))).toBe('');
    // "rr" without NUL: the padding byte after it is 0, but it is not part of the payload.
    const e = decodeError(() => get.string(attr('72 72', 6)));
    expect(e.message).toMatch(/type 6 is not NUL-terminated/);
    expect(e.offset).toBe(0);
    expect(() => get.string(attr(''))).toThrow(DecodeError);
  });

  it('bytes: a copy of the payload, as a plain Uint8Array', () => {
    const a = attr('01 02 03');
    const b = get.bytes(a);
    expect(b).toEqual(bytesOf('01 02 03'));
    (a.buf as Uint8Array)[a.offset] = 0xff;
    expect(b[0]).toBe(1);
    expect(get.bytes(attr(''))).toEqual(new Uint8Array(0));
  });

  it('error offsets point at the attribute header in the containing buffer', () => {
    const buf = fromHex('08 00 01 00  00 00 00 00  06 00 02 00  01 02 00 00');
    const [, second] = [...iterateAttributes(buf)];
    expect(decodeError(() => get.u32(second!)).offset).toBe(8);
  });
});
