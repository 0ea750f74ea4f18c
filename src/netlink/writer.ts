/**
 * Growable byte writer for netlink messages. Integers are written in host
 * order unless the method name says big-endian (`be16`, `be32`). Headers are
 * reserved first and their length fields patched when the body is complete.
 * @module
 */
import { HOST_LITTLE_ENDIAN as LE, NLA_F_NESTED, NLMSG_HDRLEN } from './constants.js';

const align4 = (n: number): number => (n + 3) & ~3;

/** Appends bytes to a buffer that grows as needed. */
export class Writer {
  private buf: Buffer;
  private view: DataView;
  /** Number of bytes written so far. */
  length = 0;

  constructor(initialCapacity = 4096) {
    this.buf = Buffer.allocUnsafe(Math.max(64, initialCapacity));
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  }

  private ensure(extra: number): void {
    const need = this.length + extra;
    if (need <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < need) cap *= 2;
    const next = Buffer.allocUnsafe(cap);
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
    this.view = new DataView(next.buffer, next.byteOffset, next.byteLength);
  }

  /** Forget everything written (keeps the capacity). */
  reset(): void {
    this.length = 0;
  }

  /** The bytes written so far, as a view (valid until the next write or reset). */
  peek(): Buffer {
    return this.buf.subarray(0, this.length);
  }

  /** A copy of the bytes written so far. */
  toBuffer(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.length));
  }

  /** A u8. */
  u8(v: number): this {
    this.ensure(1);
    this.view.setUint8(this.length, v);
    this.length += 1;
    return this;
  }
  /** Host-order u16. */
  u16(v: number): this {
    this.ensure(2);
    this.view.setUint16(this.length, v, LE);
    this.length += 2;
    return this;
  }
  /** Network-order (big-endian) u16. */
  be16(v: number): this {
    this.ensure(2);
    this.view.setUint16(this.length, v, false);
    this.length += 2;
    return this;
  }
  /** Host-order u32. */
  u32(v: number): this {
    this.ensure(4);
    this.view.setUint32(this.length, v >>> 0, LE);
    this.length += 4;
    return this;
  }
  /** Host-order s32. */
  s32(v: number): this {
    this.ensure(4);
    this.view.setInt32(this.length, v, LE);
    this.length += 4;
    return this;
  }
  /** Network-order (big-endian) u32. */
  be32(v: number): this {
    this.ensure(4);
    this.view.setUint32(this.length, v >>> 0, false);
    this.length += 4;
    return this;
  }
  /** Host-order u64. */
  u64(v: bigint): this {
    this.ensure(8);
    this.view.setBigUint64(this.length, v, LE);
    this.length += 8;
    return this;
  }
  /** Raw bytes. */
  bytes(b: Uint8Array): this {
    this.ensure(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
    return this;
  }
  /** `n` zero bytes. */
  zeros(n: number): this {
    this.ensure(n);
    // Padding is 1 to 3 bytes, written hundreds of thousands of times in a
    // bulk apply: a loop is far cheaper than Buffer#fill's argument checks.
    if (n <= 8) for (let i = 0; i < n; i++) this.buf[this.length + i] = 0;
    else this.buf.fill(0, this.length, this.length + n);
    this.length += n;
    return this;
  }
  /** Zero-pad to a multiple of 4. */
  align(): this {
    const pad = align4(this.length) - this.length;
    return pad ? this.zeros(pad) : this;
  }

  /** Overwrite a host-order u32 at an earlier offset. */
  patchU32(offset: number, v: number): void {
    this.view.setUint32(offset, v >>> 0, LE);
  }
  /** Overwrite a host-order u16 at an earlier offset. */
  patchU16(offset: number, v: number): void {
    this.view.setUint16(offset, v, LE);
  }

  // ---- netlink framing ----

  /** Write a struct nlmsghdr with a placeholder length; returns its offset for {@link endMessage}. */
  beginMessage(type: number, flags: number, seq: number, pid = 0): number {
    this.align();
    const start = this.length;
    this.u32(0).u16(type).u16(flags).u32(seq).u32(pid);
    return start;
  }
  /** Patch nlmsg_len of the message started at `start`, and pad to 4. */
  endMessage(start: number): void {
    this.patchU32(start, this.length - start);
    this.align();
  }
  /** Length of a message header, exported for callers computing offsets. */
  static readonly messageHeaderLength = NLMSG_HDRLEN;

  /** Start an attribute whose payload follows; returns its offset for {@link endAttr}. */
  beginAttr(type: number): number {
    const start = this.length;
    this.u16(0).u16(type);
    return start;
  }
  /** Patch nla_len of the attribute started at `start` (excluding padding), then pad to 4. */
  endAttr(start: number): void {
    const len = this.length - start;
    if (len > 0xffff) throw new RangeError(`netlink attribute too long (${len} bytes)`);
    this.patchU16(start, len);
    this.align();
  }
  /** Start a nested attribute. The kernel accepts it with or without NLA_F_NESTED; we set it. */
  beginNested(type: number, nestedFlag = true): number {
    return this.beginAttr(nestedFlag ? type | NLA_F_NESTED : type);
  }

  /** A u8 attribute. */
  attrU8(type: number, v: number): this {
    this.u16(5).u16(type).u8(v);
    return this.align();
  }
  /** A host-order u16 attribute. */
  attrU16(type: number, v: number): this {
    this.u16(6).u16(type).u16(v);
    return this.align();
  }
  /** A network-order (big-endian) u16 attribute, e.g. a port. */
  attrBe16(type: number, v: number): this {
    this.u16(6).u16(type).be16(v);
    return this.align();
  }
  /** A host-order u32 attribute. */
  attrU32(type: number, v: number): this {
    return this.u16(8).u16(type).u32(v);
  }
  /** A network-order (big-endian) u32 attribute. */
  attrBe32(type: number, v: number): this {
    return this.u16(8).u16(type).be32(v);
  }
  /** A host-order u64 attribute. */
  attrU64(type: number, v: bigint): this {
    return this.u16(12).u16(type).u64(v);
  }
  /** A raw-bytes attribute. */
  attrBytes(type: number, b: Uint8Array): this {
    if (4 + b.length > 0xffff) throw new RangeError(`netlink attribute too long (${4 + b.length} bytes)`);
    this.u16(4 + b.length).u16(type).bytes(b);
    return this.align();
  }
  /** A NUL-terminated string attribute (the NUL counts in nla_len, as the kernel's nla_put_string does). */
  attrString(type: number, s: string): this {
    const start = this.beginAttr(type);
    this.ensure(Buffer.byteLength(s) + 1);
    this.length += this.buf.write(s, this.length, 'utf8');
    this.u8(0);
    this.endAttr(start);
    return this;
  }
  /** A zero-length flag attribute. */
  attrFlag(type: number): this {
    return this.u16(4).u16(type);
  }
}
