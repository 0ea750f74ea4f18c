// TextSink: the byte writer behind large listings and plans.
import { describe, expect, it } from 'vitest';
import { TextSink } from '../../../src/ipvs/text-sink.js';

describe('TextSink', () => {
  it('writes text, numbers and padding as C printf would', () => {
    const out = new TextSink(4);
    out.text('ab').byte(0x3a).int(0).byte(0x20).int(-42).byte(0x20).int(4294967295).byte(0x20).int(2 ** 53 - 1);
    expect(out.toString()).toBe(`ab:0 -42 4294967295 ${2 ** 53 - 1}`);
    const pad = new TextSink();
    const start = pad.length;
    pad.text('Masq').padTo(start, 7).text('|').leftInt(5, 6).text('|').rightInt(123, 5).text('|').right('x', 3).text('|').leftInt(1234567, 3);
    expect(pad.toString()).toBe('Masq   |5     |  123|  x|1234567');
  });

  it('matches String() for whole numbers, including -0 and the truncation of fractions', () => {
    for (const v of [0, -0, 7, 10, 99, 100, 65535, 2147483647, -2147483648, 1e15]) {
      expect(new TextSink(1).int(v).toString()).toBe(String(Math.trunc(v)));
    }
    expect(new TextSink().int(12.9).toString()).toBe('12');
    // Never garbage bytes: what has no digits is written as String() writes it.
    for (const v of [NaN, Infinity, -Infinity, 2 ** 60]) expect(new TextSink().int(v).toString()).toBe(String(v));
  });

  it('number() writes what String() writes, fractions included', () => {
    for (const v of [0, -0, 80, -7, 80.5, 1e-7, NaN, Infinity, 2 ** 53]) expect(new TextSink(1).number(v).toString()).toBe(String(v));
  });

  it('cuts to a width and never pads below zero', () => {
    const out = new TextSink();
    out.text('0123456789').cutTo(0, 4).padTo(0, 2).spaces(-3);
    expect(out.toString()).toBe('0123');
  });

  it('encodes non-ASCII text as UTF-8, short or long, and grows past its initial size', () => {
    const long = 'é'.repeat(40) + 'x';
    const out = new TextSink(2);
    out.text('a€b').text(long).text('done');
    expect(out.toString()).toBe(`a€b${long}done`);
    expect(out.bytes().equals(Buffer.from(`a€b${long}done`, 'utf8'))).toBe(true);
    expect(out.length).toBe(Buffer.byteLength(`a€b${long}done`));
  });
});
