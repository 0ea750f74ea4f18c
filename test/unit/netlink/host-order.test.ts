// Host-order reads against Buffer's own read methods.
import { randomBytes } from 'node:crypto';
import { endianness } from 'node:os';
import { describe, expect, it } from 'vitest';
import { hostI32, hostU16, hostU32 } from '../../../src/netlink/host-order.js';

describe('host-order reads', () => {
  it('read what Buffer reads in the host byte order, at every offset', () => {
    const le = endianness() === 'LE';
    const b = Buffer.concat([randomBytes(61), Buffer.from([0xff, 0xff, 0xff, 0xff, 0x80, 0, 0, 0x80])]);
    for (let p = 0; p + 4 <= b.length; p++) {
      expect(hostU16(b, p)).toBe(le ? b.readUInt16LE(p) : b.readUInt16BE(p));
      expect(hostU32(b, p)).toBe(le ? b.readUInt32LE(p) : b.readUInt32BE(p));
      expect(hostI32(b, p)).toBe(le ? b.readInt32LE(p) : b.readInt32BE(p));
    }
    // A plain Uint8Array (a view into a larger buffer) reads the same.
    const view = new Uint8Array(b.buffer, b.byteOffset + 3, 8);
    expect(hostU32(view, 0)).toBe(le ? b.readUInt32LE(3) : b.readUInt32BE(3));
  });
});
