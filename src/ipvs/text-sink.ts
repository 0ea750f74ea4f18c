/**
 * Text written straight into one growing byte buffer, for the large outputs
 * of the command line (a listing or a plan of 11,000 lines). Built from
 * strings, such an output is a tree of tens of thousands of small strings
 * that all live until it is written out; in a fresh process under
 * user-mode-linux the garbage collections and page faults that tree cost
 * were most of a cold `ipvs-ts list`'s formatting time (docs/benchmarks.md,
 * "Cold command line"). Here numbers are written as digits and padding as
 * spaces, with no string in between.
 *
 * Widths count bytes, as C's `printf("%-10s")` does.
 * @module
 */

const SPACE = 0x20;
const ZERO = 0x30;

export class TextSink {
  private buf: Buffer;
  /** Bytes written so far. */
  length = 0;

  constructor(initialBytes = 1 << 16) {
    this.buf = Buffer.allocUnsafe(initialBytes);
  }

  /** Make room for `n` more bytes. */
  private room(n: number): void {
    const need = this.length + n;
    if (need <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < need) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }

  /** Append a string (UTF-8). */
  text(s: string): this {
    const n = s.length;
    this.room(n * 3);
    const buf = this.buf;
    let at = this.length;
    // Short ASCII strings byte by byte; anything else through the encoder.
    if (n <= 32) {
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        buf[at++] = c;
      }
      if (i === n) {
        this.length = at;
        return this;
      }
      at = this.length;
    }
    this.length = at + buf.write(s, at, 'utf8');
    return this;
  }

  /** Append one byte (an ASCII character code). */
  byte(c: number): this {
    this.room(1);
    this.buf[this.length++] = c;
    return this;
  }

  /** Append `n` spaces (none when `n <= 0`). */
  spaces(n: number): this {
    if (n <= 0) return this;
    this.room(n);
    // A loop, not buf.fill(): padding is a few bytes at a time, 50,000 times in
    // a large listing, and fill() validates its arguments and crosses into C++
    // each time (docs/benchmarks.md, "Padding without fill()").
    const buf = this.buf;
    const end = this.length + n;
    for (let at = this.length; at < end; at++) buf[at] = SPACE;
    this.length = end;
    return this;
  }

  /** Pad with spaces what was written since `start` to at least `width` bytes (C's `%-Ns`). */
  padTo(start: number, width: number): this {
    return this.spaces(start + width - this.length);
  }

  /** Cut what was written since `start` to at most `width` bytes (C's `%.Ns`). */
  cutTo(start: number, width: number): this {
    if (this.length > start + width) this.length = start + width;
    return this;
  }

  /** Append a string right-aligned in `width` bytes (C's `%Ns`, ASCII). */
  right(s: string, width: number): this {
    return this.spaces(width - s.length).text(s);
  }

  /** Append a number as `String(value)` writes it, whole safe integers as digits without the string. */
  number(value: number): this {
    return Number.isSafeInteger(value) ? this.int(value) : this.text(String(value));
  }

  /**
   * Append a number truncated to a whole number, in decimal (negative with
   * `-`); what is not a finite safe integer then (NaN, ±Infinity, beyond
   * 2^53) is written as `String()` writes it.
   */
  int(value: number): this {
    let v = Math.trunc(value);
    if (!Number.isSafeInteger(v)) return this.text(String(v));
    if (v < 0) {
      this.byte(0x2d);
      v = -v;
    }
    const n = digits(v);
    this.room(n);
    const buf = this.buf;
    let at = this.length + n;
    this.length = at;
    // Remainder first: exact small-integer arithmetic, no heap number in a cold interpreter.
    do {
      const r = v % 10;
      buf[--at] = ZERO + r;
      v = (v - r) / 10;
    } while (v > 0);
    return this;
  }

  /** Append a whole number left-aligned in `width` bytes (C's `%-Nd`). */
  leftInt(value: number, width: number): this {
    const start = this.length;
    return this.int(value).padTo(start, width);
  }

  /** Append a whole number right-aligned in `width` bytes (C's `%Nd`, non-negative values). */
  rightInt(value: number, width: number): this {
    return this.spaces(width - digits(Math.trunc(value))).int(value);
  }

  /** What was written, as bytes (a view of the buffer: valid until the next write). */
  bytes(): Buffer {
    return this.buf.subarray(0, this.length);
  }

  /** What was written, as a string. */
  toString(): string {
    return this.buf.toString('utf8', 0, this.length);
  }
}

/** Decimal digits of a non-negative whole number. */
function digits(v: number): number {
  let n = 1;
  while (v >= 10) {
    v = (v - (v % 10)) / 10;
    n++;
  }
  return n;
}
