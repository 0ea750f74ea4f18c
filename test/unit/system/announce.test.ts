/**
 * Gratuitous ARP and unsolicited NA frames, byte for byte, laid out from RFC 826
 * / RFC 5227 (ARP), RFC 4861 §4.4 and §4.6.1 (NA), and the socket address
 * structs of include/uapi/linux/if_packet.h and in6.h; plus the argument
 * checks of announce(), which come before any socket is opened. Sending is
 * covered by test/kernel/system.kernel.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { AbortError, InvalidArgumentError } from '../../../src/errors.js';
import { HOST_LITTLE_ENDIAN } from '../../../src/netlink/constants.js';
import { ETH_P_ARP, announce, buildGratuitousArp, buildUnsolicitedNa, htons, sockaddrIn6, sockaddrLl } from '../../../src/system/announce.js';
import { parsePrefix } from '../../../src/system/rtnetlink.js';
import { fromHex, toHex } from '../../helpers/hex.js';

const MAC = fromHex('02 11 22 33 44 55');

describe('frames', () => {
  it('gratuitous ARP: a request with sender IP = target IP, zero target MAC', () => {
    const frame = buildGratuitousArp(MAC, parsePrefix('10.77.0.100').bytes);
    expect(toHex(frame)).toBe(
      toHex(
        fromHex(`
          00 01  08 00  06  04  00 01   # htype Ethernet, ptype IPv4, hlen 6, plen 4, op request
          02 11 22 33 44 55             # sender hardware address
          0a 4d 00 64                   # sender protocol address 10.77.0.100
          00 00 00 00 00 00             # target hardware address: zero (RFC 5227 announcement)
          0a 4d 00 64                   # target protocol address = sender's
        `),
      ),
    );
    expect(() => buildGratuitousArp(MAC.subarray(0, 5), new Uint8Array(4))).toThrow(/mac: must be 6 bytes, got 5/);
    expect(() => buildGratuitousArp(MAC, new Uint8Array(16))).toThrow(/address: must be 4 bytes, got 16/);
  });

  it('unsolicited NA: type 136, Override, target, target link-layer address option', () => {
    const target = parsePrefix('fd00:77::100').bytes;
    expect(toHex(buildUnsolicitedNa(MAC, target))).toBe(
      toHex(
        fromHex(`
          88 00 00 00                   # type 136, code 0, checksum 0 (the kernel computes it)
          20 00 00 00                   # R=0 S=0 O=1, reserved
          fd 00 00 77 00 00 00 00 00 00 00 00 00 00 01 00   # target address
          02 01 02 11 22 33 44 55       # option 2 (target link-layer address), length 1 (8 bytes), MAC
        `),
      ),
    );
    // Router flag on: R=1, O=1.
    expect(toHex(buildUnsolicitedNa(MAC, target, true).subarray(4, 8))).toBe(toHex(fromHex('a0 00 00 00')));
    expect(() => buildUnsolicitedNa(MAC, new Uint8Array(4))).toThrow(/address: must be 16 bytes, got 4/);
  });
});

describe.runIf(HOST_LITTLE_ENDIAN)('socket addresses (little-endian host)', () => {
  it('sockaddr_ll to the Ethernet broadcast address', () => {
    expect(toHex(sockaddrLl(4, ETH_P_ARP, fromHex('ff ff ff ff ff ff')))).toBe(
      toHex(
        fromHex(`
          11 00                # sll_family AF_PACKET (17), host order
          08 06                # sll_protocol ETH_P_ARP, network order
          04 00 00 00          # sll_ifindex 4
          00 00                # sll_hatype
          00                   # sll_pkttype
          06                   # sll_halen
          ff ff ff ff ff ff 00 00   # sll_addr[8]
        `),
      ),
    );
    expect(() => sockaddrLl(1, 0, new Uint8Array(9))).toThrow(/at most 8 bytes/);
  });

  it('sockaddr_in6 for ff02::1 with a scope id', () => {
    expect(toHex(sockaddrIn6(parsePrefix('ff02::1').bytes, 4))).toBe(
      toHex(
        fromHex(`
          0a 00  00 00  00 00 00 00                         # AF_INET6 (10), port 0, flowinfo 0
          ff 02 00 00 00 00 00 00 00 00 00 00 00 00 00 01   # ff02::1
          04 00 00 00                                       # sin6_scope_id 4
        `),
      ),
    );
  });

  it('htons swaps on a little-endian host', () => {
    expect(htons(0x0806)).toBe(0x0608);
    expect(htons(0x0003)).toBe(0x0300);
  });
});

describe('announce() argument checks (nothing is opened)', () => {
  const base = { interface: 'eth0', address: '192.0.2.1', netns: '/nonexistent/netns' };
  it.each([
    [{ ...base, interface: 'a b' }, /^interface: "a b" contains/],
    [{ ...base, interface: '' }, /^interface: must not be empty/],
    [{ ...base, address: '192.0.2.256' }, /^address: "192\.0\.2\.256" is not an IPv4 or IPv6 address/],
    [{ ...base, count: 0 }, /^count: must be an integer 1\.\.1000, got 0/],
    [{ ...base, count: 1.5 }, /^count: must be an integer 1\.\.1000, got 1\.5/],
    [{ ...base, intervalMs: -1 }, /^intervalMs: must be an integer 0\.\.3600000, got -1/],
    [{ ...base, netns: '' }, /^netns: must be a non-empty path/],
    [{ ...base, router: 'yes' as unknown as boolean }, /^router: must be a boolean/],
  ])('refuses %j', async (options, message) => {
    const e = await announce(options).catch((x: unknown) => x as Error);
    expect(e).toBeInstanceOf(InvalidArgumentError);
    expect(e.message).toMatch(message);
  });

  it('rejects at once with an already aborted signal', async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(announce({ ...base, signal: ac.signal })).rejects.toBeInstanceOf(AbortError);
  });

  it('passes on a namespace that cannot be entered', async () => {
    await expect(announce(base)).rejects.toMatchObject({ code: 'ENOENT', syscall: 'open' });
  });
});
