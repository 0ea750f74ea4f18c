/**
 * rtnetlink encoders and decoders against golden bytes laid out by hand from
 * struct nlmsghdr (16 bytes), struct ifinfomsg (16), struct ifaddrmsg (8) and
 * struct nlattr (4 + payload, padded to 4), host order (little-endian here);
 * and the Addresses class against a fake kernel (idempotency, errors).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { DecodeError, InvalidArgumentError, NetlinkError } from '../../../src/errors.js';
import { HOST_LITTLE_ENDIAN, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_MULTI, NLM_F_REQUEST } from '../../../src/netlink/constants.js';
import { fakeSocketFactory, type FakeHandler } from '../../../src/netlink/fake-socket.js';
import type { NetlinkMessage } from '../../../src/netlink/message.js';
import { Writer } from '../../../src/netlink/writer.js';
import { Addresses } from '../../../src/system/addresses.js';
import {
  IFA_F_NODAD,
  IFA_F_NOPREFIXROUTE,
  IFA_F_PERMANENT,
  RTM_DELADDR,
  RTM_GETADDR,
  RTM_GETLINK,
  RTM_NEWADDR,
  RTM_NEWLINK,
  decodeAddress,
  decodeLink,
  encodeAddressChange,
  formatMac,
  parsePrefix,
  writeIfInfoMsg,
} from '../../../src/system/rtnetlink.js';
import { encodeAttributes } from '../../../src/netlink/schema.js';
import { linkTable } from '../../../src/system/rtnetlink.js';
import { fromHex, toHex } from '../../helpers/hex.js';

const msg = (type: number, payload: Uint8Array, flags = 0): NetlinkMessage => ({ type, flags, seq: 1, pid: 0, payload: Buffer.from(payload) });
const bytes = (write: (w: Writer) => void): Buffer => {
  const w = new Writer();
  write(w);
  return w.toBuffer();
};

describe.runIf(HOST_LITTLE_ENDIAN)('rtnetlink golden bytes (little-endian host)', () => {
  it('parsePrefix normalises and defaults the prefix', () => {
    expect(parsePrefix('192.0.2.10/32')).toEqual({ family: 'ipv4', address: '192.0.2.10', bytes: new Uint8Array([192, 0, 2, 10]), prefix: 32 });
    expect(parsePrefix('192.0.2.10')).toMatchObject({ prefix: 32 });
    expect(parsePrefix('2001:0db8:0:0::0010/64')).toMatchObject({ family: 'ipv6', address: '2001:db8::10', prefix: 64 });
    expect(parsePrefix('::1')).toMatchObject({ prefix: 128 });
    expect(parsePrefix('2001:db8::10').bytes).toEqual(new Uint8Array(fromHex('20010db8 00000000 00000000 00000010')));
    for (const [bad, re] of [
      ['192.0.2.10/33', /prefix length in "192\.0\.2\.10\/33" must be 0\.\.32/],
      ['2001:db8::/129', /must be 0\.\.128/],
      ['192.0.2.10/', /prefix length/],
      ['192.0.2.10/+1', /prefix length/],
      ['192.0.2.300/32', /is not an IPv4 or IPv6 address/],
      ['fe80::1%eth0', /is not an IPv4 or IPv6 address/],
      ['', /is not an IPv4 or IPv6 address/],
    ] as const) {
      expect(() => parsePrefix(bad), bad).toThrow(re);
    }
    expect(() => parsePrefix(7, 'vip')).toThrow(/^vip: must be a string/);
  });

  it('RTM_NEWADDR payload for an IPv4 /32: ifaddrmsg, IFA_LOCAL, IFA_ADDRESS', () => {
    const out = bytes((w) => encodeAddressChange(w, { index: 5, prefix: parsePrefix('192.0.2.10/32') }));
    expect(toHex(out)).toBe(
      toHex(
        fromHex(`
          02 20 00 00  05 00 00 00   # ifa_family AF_INET, prefixlen 32, flags 0, scope universe; ifa_index 5
          08 00 02 00  c0 00 02 0a   # IFA_LOCAL 192.0.2.10
          08 00 01 00  c0 00 02 0a   # IFA_ADDRESS 192.0.2.10
        `),
      ),
    );
  });

  it('loopback addresses get host scope, as ip(8) gives them', () => {
    const out = bytes((w) => encodeAddressChange(w, { index: 1, prefix: parsePrefix('127.0.0.2/8') }));
    expect(toHex(out.subarray(0, 8))).toBe(toHex(fromHex('02 08 00 fe  01 00 00 00')));
  });

  it('RTM_NEWADDR payload for an IPv6 /128 with IFA_F_NODAD in the header', () => {
    const out = bytes((w) => encodeAddressChange(w, { index: 3, prefix: parsePrefix('2001:db8::10/128'), flags: IFA_F_NODAD }));
    expect(toHex(out)).toBe(
      toHex(
        fromHex(`
          0a 80 02 00  03 00 00 00                          # AF_INET6, /128, IFA_F_NODAD, scope 0; index 3
          14 00 02 00  20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 10   # IFA_LOCAL
          14 00 01 00  20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 10   # IFA_ADDRESS
        `),
      ),
    );
  });

  it('IFA_LABEL, and IFA_FLAGS for flags beyond 8 bits', () => {
    const out = bytes((w) =>
      encodeAddressChange(w, { index: 1, prefix: parsePrefix('10.0.0.1/24'), label: 'lo:vip', flags: IFA_F_NOPREFIXROUTE, scope: 200 }),
    );
    expect(toHex(out)).toBe(
      toHex(
        fromHex(`
          02 18 00 c8  01 00 00 00       # AF_INET, /24, flags & 0xff = 0, scope site (200); index 1
          08 00 02 00  0a 00 00 01       # IFA_LOCAL
          08 00 01 00  0a 00 00 01       # IFA_ADDRESS
          0b 00 03 00  6c 6f 3a 76 69 70 00  00   # IFA_LABEL "lo:vip\\0" (len 11) + 1 pad
          08 00 08 00  00 02 00 00       # IFA_FLAGS 0x200
        `),
      ),
    );
  });

  it('RTM_GETLINK by name and RTM_NEWLINK "set up": ifinfomsg (+ IFLA_IFNAME)', () => {
    const get = bytes((w) => {
      writeIfInfoMsg(w);
      encodeAttributes(w, linkTable, { name: 'eth0' });
    });
    expect(toHex(get)).toBe(
      toHex(
        fromHex(`
          00 00 00 00  00 00 00 00  00 00 00 00  00 00 00 00   # ifinfomsg: all zero
          09 00 03 00  65 74 68 30  00 00 00 00                # IFLA_IFNAME "eth0\\0" (len 9) + 3 pad
        `),
      ),
    );
    const up = bytes((w) => writeIfInfoMsg(w, { index: 7, flags: 1, change: 1 }));
    expect(toHex(up)).toBe(toHex(fromHex('00 00 00 00  07 00 00 00  01 00 00 00  01 00 00 00')));
  });

  it('decodes RTM_NEWLINK', () => {
    const payload = fromHex(`
      00 00 01 00  04 00 00 00  43 10 01 00  00 00 00 00   # AF_UNSPEC, ARPHRD_ETHER, index 4, flags UP|BROADCAST|RUNNING|MULTICAST|LOWER_UP
      08 00 03 00  76 41 00 00                             # IFLA_IFNAME "vA"
      08 00 04 00  dc 05 00 00                             # IFLA_MTU 1500
      0a 00 01 00  02 11 22 33 44 55 00 00                 # IFLA_ADDRESS 02:11:22:33:44:55
      0a 00 02 00  ff ff ff ff ff ff 00 00                 # IFLA_BROADCAST
      08 00 07 00  01 02 03 04                             # IFLA_STATS (ignored)
    `);
    const link = decodeLink(msg(RTM_NEWLINK, payload));
    expect(link).toEqual({
      index: 4,
      name: 'vA',
      type: 1,
      flags: 0x11043,
      up: true,
      mtu: 1500,
      address: new Uint8Array([2, 0x11, 0x22, 0x33, 0x44, 0x55]),
      broadcast: new Uint8Array([255, 255, 255, 255, 255, 255]),
    });
    expect(formatMac(link.address!)).toBe('02:11:22:33:44:55');
    expect(() => decodeLink(msg(RTM_NEWLINK, payload.subarray(0, 10)))).toThrow(DecodeError);
    expect(() => decodeLink(msg(RTM_NEWLINK, payload.subarray(0, 16)))).toThrow(/has no IFLA_IFNAME/);
  });

  it('decodes RTM_NEWADDR, IPv4 (IFA_LOCAL wins over a peer IFA_ADDRESS) and IPv6 (IFA_FLAGS wins)', () => {
    const names = new Map([[2, 'eth0']]);
    const v4 = fromHex(`
      02 18 80 00  02 00 00 00   # AF_INET /24 PERMANENT scope 0, index 2
      08 00 01 00  0a 00 00 02   # IFA_ADDRESS (peer) 10.0.0.2
      08 00 02 00  0a 00 00 01   # IFA_LOCAL 10.0.0.1
      0b 00 03 00  65 74 68 30 3a 31 00 00   # IFA_LABEL "eth0:1\0" (len 11) + 1 pad
    `);
    expect(decodeAddress(msg(RTM_NEWADDR, v4), names)).toEqual({
      interface: 'eth0', index: 2, address: '10.0.0.1', prefix: 24, family: 'ipv4', scope: 0, flags: IFA_F_PERMANENT, label: 'eth0:1',
    });
    const v6 = fromHex(`
      0a 40 80 fd  09 00 00 00   # AF_INET6 /64 (flags byte 0x80) scope link, index 9
      14 00 01 00  fe 80 00 00 00 00 00 00 00 00 00 00 00 00 00 01
      08 00 08 00  82 02 00 00   # IFA_FLAGS 0x282
    `);
    expect(decodeAddress(msg(RTM_NEWADDR, v6), names)).toEqual({
      interface: 'if9', index: 9, address: 'fe80::1', prefix: 64, family: 'ipv6', scope: 253, flags: 0x282,
    });
    expect(decodeAddress(msg(RTM_NEWADDR, fromHex('11 00 00 00  01 00 00 00')), names)).toBeUndefined();
    expect(() => decodeAddress(msg(RTM_NEWADDR, fromHex('02 20 00 00  01 00 00 00')), names)).toThrow(/no 4-byte IFA_LOCAL\/IFA_ADDRESS/);
    expect(() => decodeAddress(msg(RTM_NEWADDR, fromHex('02 20 00 00')), names)).toThrow(DecodeError);
  });
});

// ---- Addresses against a fake kernel ----

const ENODEV = 19;
const EEXIST = 17;
const EADDRNOTAVAIL = 99;

interface FakeState {
  links: { index: number; name: string; up: boolean }[];
  /** [index, family 2|10, address bytes, prefix] */
  addrs: { index: number; family: number; bytes: Uint8Array; prefix: number }[];
}

function linkPayload(w: Writer, l: FakeState['links'][number]): void {
  writeIfInfoMsg(w, { index: l.index, type: 1, flags: l.up ? 1 : 0 });
  encodeAttributes(w, linkTable, { name: l.name, address: new Uint8Array([2, 0, 0, 0, 0, l.index]) });
}

/** A tiny rtnetlink kernel: links by name, addresses with EEXIST/EADDRNOTAVAIL semantics of the real one. */
function fakeKernel(state: FakeState): FakeHandler {
  return (req, k) => {
    const p = req.payload;
    switch (req.type) {
      case RTM_GETLINK: {
        if (req.flags & NLM_F_DUMP) {
          for (const l of state.links) k.reply(req, RTM_NEWLINK, NLM_F_MULTI, (w) => linkPayload(w, l));
          return k.done(req);
        }
        const name = p.subarray(20, p.indexOf(0, 20)).toString();
        const l = state.links.find((x) => x.name === name);
        if (!l) return k.ack(req, -ENODEV);
        k.reply(req, RTM_NEWLINK, 0, (w) => linkPayload(w, l));
        return k.ack(req);
      }
      case RTM_NEWLINK: {
        const index = p.readInt32LE(4);
        state.links.find((x) => x.index === index)!.up = (p.readUInt32LE(8) & 1) === 1;
        return k.ack(req);
      }
      case RTM_GETADDR:
        for (const a of state.addrs) {
          k.reply(req, RTM_NEWADDR, NLM_F_MULTI, (w) => {
            w.u8(a.family).u8(a.prefix).u8(0).u8(0).u32(a.index);
            w.attrBytes(a.family === 2 ? 2 : 1, a.bytes);
          });
        }
        return k.done(req);
      case RTM_NEWADDR:
      case RTM_DELADDR: {
        const family = p[0]!;
        const prefix = p[1]!;
        const index = p.readUInt32LE(4);
        const bytes = p.subarray(12, 12 + (family === 2 ? 4 : 16));
        const same = (a: FakeState['addrs'][number]) => a.index === index && Buffer.compare(Buffer.from(a.bytes), bytes) === 0;
        if (req.type === RTM_NEWADDR) {
          // IPv6: one address per device whatever the prefix; IPv4: same address and prefix.
          if (state.addrs.some((a) => same(a) && (family === 10 || a.prefix === prefix))) return k.ack(req, -EEXIST);
          state.addrs.push({ index, family, bytes: new Uint8Array(bytes), prefix });
          return k.ack(req);
        }
        const i = state.addrs.findIndex((a) => same(a) && a.prefix === prefix);
        if (i < 0) return k.ack(req, -EADDRNOTAVAIL);
        state.addrs.splice(i, 1);
        return k.ack(req);
      }
      default:
        return k.ack(req, -95);
    }
  };
}

describe.runIf(HOST_LITTLE_ENDIAN)('Addresses (fake kernel)', () => {
  const open: Addresses[] = [];
  afterEach(() => {
    for (const a of open.splice(0)) a.close();
  });
  function setup(): { addrs: Addresses; state: FakeState; requests: () => NetlinkMessage[] } {
    const state: FakeState = { links: [{ index: 1, name: 'lo', up: true }, { index: 4, name: 'vip0', up: false }], addrs: [] };
    const { factory, sockets } = fakeSocketFactory(fakeKernel(state));
    const addrs = Addresses.open({ socketFactory: factory, netns: '/run/netns/fake' });
    open.push(addrs);
    return { addrs, state, requests: () => sockets[0]!.requests };
  }

  it('add: looks the interface up by name, sends NEWADDR with CREATE|EXCL, treats EEXIST of the same prefix as done', async () => {
    const { addrs, state, requests } = setup();
    expect(await addrs.add('vip0', '192.0.2.10/32')).toBe(true);
    const [get, add] = requests();
    expect(get!.type).toBe(RTM_GETLINK);
    expect(add!.type).toBe(RTM_NEWADDR);
    expect(add!.flags).toBe(NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
    expect(toHex(add!.payload)).toBe(toHex(fromHex('02 20 00 00 04 00 00 00  08 00 02 00 c0 00 02 0a  08 00 01 00 c0 00 02 0a')));
    expect(state.addrs).toHaveLength(1);
    expect(await addrs.add('vip0', '192.0.2.10/32')).toBe(false);
    expect(state.addrs).toHaveLength(1);
  });

  it('add: IPv6 gets IFA_F_NODAD unless asked not to', async () => {
    const { addrs, requests } = setup();
    await addrs.add('vip0', '2001:db8::1/128');
    await addrs.add('vip0', '2001:db8::2/128', { nodad: false });
    const adds = requests().filter((r) => r.type === RTM_NEWADDR);
    expect(adds[0]!.payload[2]).toBe(IFA_F_NODAD);
    expect(adds[1]!.payload[2]).toBe(0);
  });

  it('add: the same IPv6 address with another prefix is an error naming the prefix there', async () => {
    const { addrs } = setup();
    await addrs.add('vip0', '2001:db8::1/64');
    const e = await addrs.add('vip0', '2001:db8::1/128').catch((x: unknown) => x as NetlinkError);
    expect(e).toBeInstanceOf(NetlinkError);
    expect(e).toMatchObject({ code: 'EEXIST', errno: 17 });
    expect(e.message).toBe('add 2001:db8::1/128 to vip0: 2001:db8::1 is already on vip0 with prefix /64 (network namespace /run/netns/fake)');
  });

  it('delete: true when deleted, false when not there (EADDRNOTAVAIL)', async () => {
    const { addrs, state } = setup();
    await addrs.add('lo', '198.51.100.1');
    expect(await addrs.delete('lo', '198.51.100.1/32')).toBe(true);
    expect(state.addrs).toHaveLength(0);
    expect(await addrs.delete('lo', '198.51.100.1/32')).toBe(false);
  });

  it('list: by interface, or all with names from a link dump', async () => {
    const { addrs } = setup();
    await addrs.add('lo', '198.51.100.1/32');
    await addrs.add('vip0', '2001:db8::5/128');
    expect(await addrs.list('vip0')).toEqual([{ interface: 'vip0', index: 4, address: '2001:db8::5', prefix: 128, family: 'ipv6', scope: 0, flags: 0 }]);
    expect((await addrs.list()).map((a) => `${a.interface} ${a.address}/${a.prefix}`)).toEqual(['lo 198.51.100.1/32', 'vip0 2001:db8::5/128']);
  });

  it('setUp: changes the link state only when needed', async () => {
    const { addrs, state, requests } = setup();
    expect(await addrs.setUp('vip0', true)).toBe(true);
    expect(state.links[1]!.up).toBe(true);
    const set = requests().find((r) => r.type === RTM_NEWLINK)!;
    expect(toHex(set.payload)).toBe(toHex(fromHex('00 00 00 00  04 00 00 00  01 00 00 00  01 00 00 00')));
    expect(await addrs.setUp('vip0', true)).toBe(false);
    expect(await addrs.setUp('vip0', false)).toBe(true);
    await expect(addrs.setUp('vip0', 1 as unknown as boolean)).rejects.toThrow(/up: must be a boolean/);
  });

  it('names unknown interfaces and refuses bad input before sending', async () => {
    const { addrs, requests } = setup();
    const e = await addrs.add('eth9', '192.0.2.1').catch((x: unknown) => x as NetlinkError);
    expect(e).toBeInstanceOf(NetlinkError);
    expect(e).toMatchObject({ code: 'ENODEV', errno: 19, operation: 'look up interface eth9' });
    expect(e.message).toBe('no interface named eth9 in network namespace /run/netns/fake');
    const sent = requests().length;
    await expect(addrs.add('vip0', '192.0.2.1/40')).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(addrs.add('a:b', '192.0.2.1')).rejects.toThrow(/^interface: "a:b" contains/);
    await expect(addrs.delete('', '192.0.2.1')).rejects.toThrow(/^interface: must not be empty/);
    await expect(addrs.add('vip0', '2001:db8::1', { label: 'vip0:1' })).rejects.toThrow(/label: labels exist for IPv4 addresses only/);
    expect(requests().length).toBe(sent + 1); // only the interface lookup of the label case
    await expect(addrs.add('vip0', '192.0.2.1', { label: 'lo:1' })).rejects.toThrow(/label: "lo:1" must start with the interface name vip0/);
    expect(() => Addresses.open({ netns: '' })).toThrow(InvalidArgumentError);
  });
});
