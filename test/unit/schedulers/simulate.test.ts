// The simulator's hash functions and algorithms: the 32-bit-halves SipHash
// against a plain BigInt transcription of lib/siphash.c's macros, and the
// properties each scheduler's kernel code implies. Placements the real kernel
// made are checked in test/unit/schedulers/kernel-fixtures.test.ts and
// test/kernel/schedulers.kernel.test.ts.
import { describe, expect, it } from 'vitest';
import { foldAddress, hash32, hsiphash32, MH_KEY1, MH_KEY2 } from '../../../src/schedulers/hash.js';
import { buildMhTable, buildShTable, mhTableSize } from '../../../src/schedulers/tables.js';
import { remap, simulate, wrrStartState, type SimDestination } from '../../../src/schedulers/index.js';
import { addressToBytes } from '../../../src/ipvs/address.js';
import { Prng } from '../../helpers/prng.js';

const M64 = (1n << 64n) - 1n;
const rol = (x: bigint, r: bigint) => ((x << r) | (x >> (64n - r))) & M64;
function bigSipHash13(value: number, k0: bigint, k1: bigint): number {
  let v0 = 0x736f6d6570736575n ^ k0, v1 = 0x646f72616e646f6dn ^ k1, v2 = 0x6c7967656e657261n ^ k0, v3 = 0x7465646279746573n ^ k1;
  const round = () => {
    v0 = (v0 + v1) & M64; v1 = rol(v1, 13n); v1 ^= v0; v0 = rol(v0, 32n);
    v2 = (v2 + v3) & M64; v3 = rol(v3, 16n); v3 ^= v2;
    v0 = (v0 + v3) & M64; v3 = rol(v3, 21n); v3 ^= v0;
    v2 = (v2 + v1) & M64; v1 = rol(v1, 17n); v1 ^= v2; v2 = rol(v2, 32n);
  };
  const b = (4n << 56n) | BigInt(value >>> 0);
  v3 ^= b; round(); v0 ^= b; v2 ^= 0xffn; round(); round(); round();
  return Number((v0 ^ v1 ^ v2 ^ v3) & 0xffffffffn);
}

const svc = { protocol: 'tcp', address: '10.0.0.1', port: 80 } as const;
const dests = (weights: number[]): SimDestination[] => weights.map((weight, i) => ({ address: `10.1.0.${i + 1}`, weight }));
const clients = (n: number) => Array.from({ length: n }, (_, i) => ({ source: `172.16.${i >> 8}.${i & 255}`, sourcePort: 30000 + i }));

describe('hash functions', () => {
  it('hsiphash32 equals a BigInt SipHash-1-3 for random inputs and both mh keys', () => {
    const rnd = new Prng(7);
    for (let i = 0; i < 2000; i++) {
      const v = rnd.u32();
      expect(hsiphash32(v, MH_KEY1)).toBe(bigSipHash13(v, 2654435761n, 2654435761n));
      expect(hsiphash32(v, MH_KEY2)).toBe(bigSipHash13(v, 2654446892n, 2654446892n));
    }
    const big = { k0: 2 ** 52 + 12345, k1: 0xfedcba98 * 2 ** 20 };
    expect(hsiphash32(0xdeadbeef, big)).toBe(bigSipHash13(0xdeadbeef, BigInt(big.k0), BigInt(big.k1)));
  });

  it('hash32 keeps the top bits of the product with GOLDEN_RATIO_32, modulo 2^32', () => {
    for (const v of [0, 1, 0xffffffff, 0x0a000001, 123456789]) {
      const p = (BigInt(v) * 0x61c88647n) & 0xffffffffn;
      expect(hash32(v, 8)).toBe(Number(p >> 24n));
    }
  });

  it('folds IPv6 addresses by XOR of their words and IPv4 as a number', () => {
    expect(foldAddress(addressToBytes('10.0.0.1', 'ipv4'), false)).toBe(0x0a000001);
    expect(foldAddress(addressToBytes('2001:db8::1:2', 'ipv6'), true)).toBe((0x20010db8 ^ 0 ^ 0 ^ 0x00010002) >>> 0);
  });
});

describe('tables', () => {
  it('sh gives each destination weight consecutive buckets, weight 0 one bucket, cycling', () => {
    const t = buildShTable([2, 0, 3].map((weight) => ({ weight, lastWeight: weight, fold: 0, port: 0 })));
    expect(Array.from(t.subarray(0, 12))).toEqual([0, 0, 1, 2, 2, 2, 0, 0, 1, 2, 2, 2]);
    expect(t.length).toBe(256);
  });

  it('mh fills every slot, in proportion to the last weights, and none for last weight 0', () => {
    const size = mhTableSize();
    expect(size).toBe(4093);
    const t = buildMhTable([1, 2, 0, 1].map((w, i) => ({ weight: w, lastWeight: w, fold: 0x0a010001 + i, port: 80 })));
    const counts = [0, 0, 0, 0];
    for (const d of t) counts[d]!++;
    expect(counts.reduce((a, b) => a + b)).toBe(size);
    expect(counts[2]).toBe(0);
    expect(Math.abs(counts[1]! - 2 * counts[0]!)).toBeLessThan(4);
    expect(Math.abs(counts[0]! - counts[3]!)).toBeLessThan(3);
  });
});

describe('simulate', () => {
  it('rr visits available destinations in list order from the given position', () => {
    const d = dests([1, 0, 1, 1]);
    const conns = clients(6);
    expect(simulate({ ...svc, scheduler: 'rr' }, d, conns).indexes).toEqual([0, 2, 3, 0, 2, 3]);
    const r = simulate({ ...svc, scheduler: 'rr' }, d, conns, { rrPosition: 2 });
    expect(r.indexes).toEqual([3, 0, 2, 3, 0, 2]);
    expect(r.rrPosition).toBe(2);
  });

  it('wrr gives each destination its weight in every cycle, interleaved', () => {
    const d = dests([4, 3, 2]);
    const r = simulate({ ...svc, scheduler: 'wrr' }, d, clients(9 * 5), { wrr: { position: -1, cw: 4 } });
    const per = [0, 0, 0];
    for (const i of r.indexes) per[i]!++;
    expect(per).toEqual([20, 15, 10]);
    expect(r.indexes.slice(0, 9)).toEqual([0, 0, 1, 0, 1, 2, 0, 1, 2]);
  });

  it('wrr started by adding destinations one at a time does not start at the maximum weight', () => {
    // Added 1 then 2 then 4 (the list shows the newest first): cw stays at 1 after the first add.
    const d = dests([4, 2, 1]);
    expect(wrrStartState(d)).toEqual({ position: -1, cw: 1 });
    expect(simulate({ ...svc, scheduler: 'wrr' }, d, clients(3)).indexes).toEqual([0, 1, 2]);
  });

  it('lc/wlc/sed/nq follow their overhead formulas with ties to the earlier destination', () => {
    const d: SimDestination[] = [
      { address: '10.1.0.1', weight: 1, activeConnections: 1 },
      { address: '10.1.0.2', weight: 2, activeConnections: 2 },
      { address: '10.1.0.3', weight: 1, inactiveConnections: 300 },
    ];
    expect(simulate({ ...svc, scheduler: 'lc' }, d, clients(1)).indexes).toEqual([0]); // 256 < 300 < 512
    expect(simulate({ ...svc, scheduler: 'lc' }, d, clients(1), { overhead: 'total' }).indexes).toEqual([0]); // 257
    expect(simulate({ ...svc, scheduler: 'wlc' }, d, clients(1)).indexes).toEqual([0]); // 256 = 512/2: tie keeps the first
    expect(simulate({ ...svc, scheduler: 'sed' }, d, clients(1)).indexes).toEqual([2]); // (0+1)/1 beats 2/1 and 3/2
    expect(simulate({ ...svc, scheduler: 'nq' }, d, clients(1)).indexes).toEqual([2]); // idle
    const r = simulate({ ...svc, scheduler: 'wlc' }, d, clients(4));
    expect(r.counts.map((c) => c.activeConnections).reduce((a, b) => a + b)).toBe(7);
  });

  it('fo takes the highest weight; ovf moves on once active connections exceed the weight', () => {
    const d = dests([2, 3, 3]);
    expect(simulate({ ...svc, scheduler: 'fo' }, d, clients(3)).indexes).toEqual([1, 1, 1]);
    expect(simulate({ ...svc, scheduler: 'ovf' }, d, clients(10)).indexes).toEqual([1, 1, 1, 1, 2, 2, 2, 2, 0, 0]);
  });

  it('sh without fallback gives no destination for a weight-0 bucket; with fallback another one', () => {
    const d = dests([1, 0, 1]);
    const cs = clients(300);
    const plain = simulate({ ...svc, scheduler: 'sh' }, d, cs).indexes;
    const fb = simulate({ ...svc, scheduler: 'sh', schedulerFlags: ['sh-fallback'] }, d, cs).indexes;
    expect(plain).toContain(-1);
    expect(plain).not.toContain(1);
    expect(fb).not.toContain(-1);
    plain.forEach((p, i) => {
      if (p >= 0) expect(fb[i]).toBe(p);
    });
  });

  it('mh: a destination quiesced from weight 2 keeps its slots, one added with 0 takes none', () => {
    const cs = clients(500);
    const base = dests([1, 2, 1]);
    const quiesced = base.map((x, i) => (i === 1 ? { ...x, weight: 0, lastWeight: 2 } : x));
    const added0 = base.map((x, i) => (i === 1 ? { ...x, weight: 0 } : x));
    const s = { ...svc, scheduler: 'mh' };
    const before = simulate(s, base, cs).indexes;
    const q = simulate(s, quiesced, cs).indexes;
    before.forEach((p, i) => expect(q[i]).toBe(p === 1 ? -1 : p));
    expect(simulate(s, added0, cs).indexes).not.toContain(-1);
  });

  it('needs the source port with sh-port and mh-port, and rejects lblc', () => {
    expect(() => simulate({ ...svc, scheduler: 'mh', schedulerFlags: ['mh-port'] }, dests([1]), [{ source: '10.9.0.1' }])).toThrow(/connections\[0\]\.sourcePort/);
    expect(() => simulate({ ...svc, scheduler: 'lblc' }, dests([1]), [])).toThrow(/not simulated/);
    expect(() => simulate({ ...svc, scheduler: 'sh' }, [{ address: 'nope' }], [])).toThrow(/destinations\[0\]\.address/);
  });
});

describe('remap', () => {
  it('under mh removing one destination moves mostly its own clients; under sh many more', () => {
    const cs = clients(2000).map(({ source }) => ({ source }));
    const all = dests([1, 1, 1, 1, 1]);
    const without = all.filter((_, i) => i !== 2);
    const mh = remap({ service: { ...svc, scheduler: 'mh' }, destinations: all }, { service: { ...svc, scheduler: 'mh' }, destinations: without }, cs);
    const sh = remap({ service: { ...svc, scheduler: 'sh' }, destinations: all }, { service: { ...svc, scheduler: 'sh' }, destinations: without }, cs);
    const removed = mh.perDestination.get('10.1.0.3:80')!;
    expect(removed.after).toBe(0);
    expect(removed.movedOut).toBe(removed.before);
    expect(mh.moves.length).toBeLessThan(removed.before * 1.3);
    expect(sh.moves.length).toBeGreaterThan(mh.moves.length * 2);
    expect(mh.moves.length + mh.unchanged).toBe(cs.length);
  });
});

describe('IPv6 client addresses', () => {
  it('fold the same through the fast path as through the general parser, for every written form', () => {
    const forms = ['2001:db8::1', '2001:DB8:0:0:0:0:0:1', '::1', '::', 'fe80::', '1:2:3:4:5:6:7:8', '1::8', '1:2:3:4:5:6:7::', '::2:3:4:5:6:7:8', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', '::ffff:10.1.2.3', 'fd00:3::1ff'];
    const svc6 = { protocol: 'tcp', address: 'fd00:4::1', port: 80, scheduler: 'mh' } as const;
    const d6 = [1, 2, 3].map((i) => ({ address: `fd00:5::${i}` }));
    for (const f of forms) {
      const expected = foldAddress(addressToBytes(f, 'ipv6'), true);
      // sh hashes the fold directly: equal folds give equal buckets for any port.
      const viaSim = simulate({ ...svc6, scheduler: 'sh' }, d6, [{ source: f }]).indexes[0];
      const t = buildShTable(d6.map(() => ({ weight: 1, lastWeight: 1, fold: 0, port: 0 })));
      expect(viaSim, f).toBe(t[hash32(expected, 8)]);
      expect(simulate(svc6, d6, [{ source: f }]).indexes[0], f).toBeGreaterThanOrEqual(0);
    }
    expect(() => simulate(svc6, d6, [{ source: '1:2:3' }])).toThrow(/connections\[0\]\.source/);
    expect(() => simulate(svc6, d6, [{ source: '1:::2' }])).toThrow(/connections\[0\]\.source/);
  });
});

describe('persistent services', () => {
  const psvc = { ...svc, scheduler: 'rr', persistence: { timeout: 300, netmask: 24 } };
  it('schedule a client network once; later connections follow its template, also to a quiesced destination', () => {
    const d = dests([1, 1, 1]);
    const cs = ['10.9.0.1', '10.9.1.1', '10.9.0.2', '10.9.2.1', '10.9.1.7', '10.9.3.3'].map((source) => ({ source }));
    const r = simulate(psvc, d, cs);
    expect(r.indexes).toEqual([0, 1, 0, 2, 1, 0]);
    expect([...r.templates!]).toEqual([['10.9.0.0', 0], ['10.9.1.0', 1], ['10.9.2.0', 2], ['10.9.3.0', 0]]);
    const quiesced = d.map((x, i) => (i === 1 ? { ...x, weight: 0 } : x));
    const templates = [{ clientAddress: '10.9.1.0', destinationAddress: '10.1.0.2', destinationPort: 80 }];
    expect(simulate(psvc, quiesced, [{ source: '10.9.1.50' }], { templates }).indexes).toEqual([1]);
    expect(simulate(psvc, quiesced, [{ source: '10.9.1.50' }], { templates, expireQuiescentTemplate: true }).indexes).toEqual([0]);
    // A template whose destination is gone pins nothing.
    expect(simulate(psvc, d, [{ source: '10.9.1.50' }], { templates: [{ clientAddress: '10.9.1.0', destinationAddress: '10.1.0.99' }] }).indexes).toEqual([0]);
    expect(() => simulate({ ...svc, scheduler: 'rr' }, d, [], { templates })).toThrow(/options\.templates/);
  });
});
