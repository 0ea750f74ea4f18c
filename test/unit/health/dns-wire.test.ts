import { describe, expect, it } from 'vitest';
import { buildDnsQuery, parseDnsResponse } from '../../../src/health/dns-wire.js';

/** A response built by hand: header, the question, then answer records (name as a pointer to offset 12). */
function response(id: number, flags: number, question: Buffer, answers: Array<{ type: number; rdata: Buffer }>): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt16BE(id, 0);
  h.writeUInt16BE(flags, 2);
  h.writeUInt16BE(1, 4);
  h.writeUInt16BE(answers.length, 6);
  const rrs = answers.map(({ type, rdata }) => {
    const rr = Buffer.alloc(12);
    rr.writeUInt16BE(0xc00c, 0);
    rr.writeUInt16BE(type, 2);
    rr.writeUInt16BE(1, 4);
    rr.writeUInt32BE(30, 6);
    rr.writeUInt16BE(rdata.length, 10);
    return Buffer.concat([rr, rdata]);
  });
  return Buffer.concat([h, question, ...rrs]);
}

describe('DNS wire format', () => {
  it('builds a standard recursive query (RFC 1035 §4.1)', () => {
    const q = buildDnsQuery(0x1234, 'www.example.test.', 'AAAA');
    expect(q.toString('hex')).toBe(
      '1234' + '0100' + '0001' + '0000' + '0000' + '0000' +
        '03777777' + '076578616d706c65' + '0474657374' + '00' + '001c' + '0001',
    );
  });

  it('reads A, AAAA, MX (with a compressed name), TXT answers and the RCODE', () => {
    const q = buildDnsQuery(7, 'example.test', 'A');
    const question = q.subarray(12);
    const mx = Buffer.concat([Buffer.from([0, 10, 2, 0x6d, 0x78]), Buffer.from([0xc0, 0x0c])]);
    const r = parseDnsResponse(response(7, 0x8180, question, [
      { type: 1, rdata: Buffer.from([192, 0, 2, 7]) },
      { type: 28, rdata: Buffer.from('20010db8000000000000000000000001', 'hex') },
      { type: 15, rdata: mx },
      { type: 16, rdata: Buffer.from('\x05hello\x06 world', 'latin1') },
    ]));
    expect(r).toEqual({
      id: 7,
      rcode: 'NOERROR',
      truncated: false,
      answers: [
        { name: 'example.test', type: 1, data: '192.0.2.7' },
        { name: 'example.test', type: 28, data: '2001:db8::1' },
        { name: 'example.test', type: 15, data: '10 mx.example.test' },
        { name: 'example.test', type: 16, data: 'hello world' },
      ],
    });
    expect(parseDnsResponse(response(7, 0x8383, question, [])).rcode).toBe('NXDOMAIN');
  });

  it('rejects queries, short and truncated messages, and pointer loops', () => {
    const q = buildDnsQuery(1, 'a.test', 'A');
    expect(() => parseDnsResponse(q)).toThrow(/not a response/);
    expect(() => parseDnsResponse(Buffer.alloc(5))).toThrow(/shorter than a DNS header/);
    const r = response(1, 0x8180, q.subarray(12), [{ type: 1, rdata: Buffer.from([1, 2, 3, 4]) }]);
    expect(() => parseDnsResponse(r.subarray(0, r.length - 2))).toThrow(/runs past/);
    const loop = Buffer.concat([Buffer.from('000181800001000000000000', 'hex'), Buffer.from([0xc0, 0x0c])]);
    expect(() => parseDnsResponse(loop)).toThrow(/loop/);
  });
});
