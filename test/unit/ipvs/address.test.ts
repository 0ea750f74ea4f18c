// Address text ↔ bytes. The expected texts come from glibc 2.36's inet_ntop
// (what ipvsadm prints), obtained through Python's socket.inet_ntop on the
// machine that wrote this test.
import { describe, expect, it } from 'vitest';
import { addressFamily, addressToBytes, bytesToAddress, canonicalAddress, formatAddressPort, isMulticast } from '../../../src/ipvs/address.js';

const bytes = (hex: string): Uint8Array => new Uint8Array(Buffer.from(hex, 'hex'));
const hexOf = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** [16 bytes as hex, glibc inet_ntop(AF_INET6)] */
const INET_NTOP6: [string, string][] = [
  ['00000000000000000000000000000000', '::'],
  ['00000000000000000000000000000001', '::1'],
  ['00010000000000000000000000000000', '1::'],
  ['00000001000000000000000000000000', '0:1::'],
  ['00000000000000000000ffff01020304', '::ffff:1.2.3.4'], // IPv4-mapped
  ['00000000000000000000ffff00000000', '::ffff:0.0.0.0'],
  ['00000000000000000000000001020304', '::1.2.3.4'], // IPv4-compatible
  ['000000000000000000000000ffff0000', '::255.255.0.0'],
  ['00000000000000000000000000010000', '::0.1.0.0'],
  ['00000000000000000000000000000002', '::2'], // seven zero words: not written as ::0.0.0.2
  ['0000000000000000000000000000ffff', '::ffff'],
  ['0000000000000000ffff000001020304', '::ffff:0:102:304'], // SIIT form: not IPv4 in glibc's eyes
  ['00000000000000000000fffe01020304', '::fffe:102:304'],
  ['20010db8000000000001000000000001', '2001:db8::1:0:0:1'], // two runs of two zeros: the first is compressed
  ['00000000000100000000000100000001', '::1:0:0:1:0:1'], // leading run ties with a later one: the first wins
  ['00010000000000010000000000000001', '1:0:0:1::1'], // the longer (later) run wins
  ['20010db8000000010001000100010001', '2001:db8:0:1:1:1:1:1'], // a single zero word is never compressed
  ['00000000000000000001000000000000', '::1:0:0:0'],
  ['00010002000300040005000600070008', '1:2:3:4:5:6:7:8'],
  ['fe800000000000000000000000000001', 'fe80::1'],
  ['ff020000000000000000000000000082', 'ff02::82'],
];

describe('bytesToAddress formats IPv6 like glibc inet_ntop', () => {
  for (const [hex, text] of INET_NTOP6) {
    it(`${hex} → ${text}`, () => {
      expect(bytesToAddress(bytes(hex), 'ipv6')).toBe(text);
      // And the text parses back to the same bytes.
      expect(hexOf(addressToBytes(text, 'ipv6'))).toBe(hex);
    });
  }
});

describe('IPv4', () => {
  it('formats the first four bytes of the 16-byte union nf_inet_addr', () => {
    expect(bytesToAddress(bytes('c000020a000000000000000000000000'), 'ipv4')).toBe('192.0.2.10');
    expect(bytesToAddress(bytes('00000000'), 'ipv4')).toBe('0.0.0.0');
    expect(bytesToAddress(bytes('ffffffff'), 'ipv4')).toBe('255.255.255.255');
  });

  it('parses into 16 bytes, zero-padded', () => {
    expect(hexOf(addressToBytes('192.0.2.10', 'ipv4'))).toBe('c000020a000000000000000000000000');
  });
});

describe('parsing and canonical text', () => {
  it.each([
    ['2001:0DB8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['0:0:0:0:0:ffff:102:304', '::ffff:1.2.3.4'],
    ['::ffff:1.2.3.4', '::ffff:1.2.3.4'],
    ['::', '::'],
    ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0'],
    ['::2:3:4:5:6:7:8', '0:2:3:4:5:6:7:8'],
  ])('%s → %s', (input, canonical) => {
    expect(canonicalAddress(input, 'ipv6')).toBe(canonical);
  });

  it('recognises families and rejects what is not an address', () => {
    expect(addressFamily('192.0.2.1')).toBe('ipv4');
    expect(addressFamily('2001:db8::1')).toBe('ipv6');
    expect(addressFamily('::ffff:1.2.3.4')).toBe('ipv6');
    for (const bad of ['', '192.0.2', '192.0.2.256', '1.2.3.4.5', '2001:db8:::1', '2001:db8::1::2', 'g::1', 'localhost', '[::1]']) {
      expect(addressFamily(bad), bad).toBeUndefined();
    }
  });

  it('formats address:port as ipvsadm does', () => {
    expect(formatAddressPort('192.0.2.1', 'ipv4', 80)).toBe('192.0.2.1:80');
    expect(formatAddressPort('2001:db8::1', 'ipv6', 53)).toBe('[2001:db8::1]:53');
  });

  it('knows multicast groups', () => {
    expect(isMulticast('224.0.0.81', 'ipv4')).toBe(true);
    expect(isMulticast('239.255.255.255', 'ipv4')).toBe(true);
    expect(isMulticast('223.255.255.255', 'ipv4')).toBe(false);
    expect(isMulticast('240.0.0.1', 'ipv4')).toBe(false);
    expect(isMulticast('ff02::82', 'ipv6')).toBe(true);
    expect(isMulticast('fe80::1', 'ipv6')).toBe(false);
  });
});
