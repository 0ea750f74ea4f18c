import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { Prng } from '../../helpers/prng.js';
import {
  HEADER_LENGTH, MAC_LENGTH, MAX_PACKET, MAX_PAYLOAD, MIN_PACKET,
  decodePacket, encodePacket, type Packet,
} from '../../../src/heartbeat/wire.js';
import { ReplayWindow, REPLAY_WINDOW } from '../../../src/heartbeat/replay.js';

const KEY1 = Buffer.from('key one, sixteen bytes or more');
const KEY2 = Buffer.from('key two, sixteen bytes or more');
const keys = (id: number) => (id === 1 ? KEY1 : id === 2 ? KEY2 : undefined);
const base: Packet = { type: 'heartbeat', keyId: 1, cluster: 7, nodeId: 0x01020304, generation: 9, sequence: 42, payload: Uint8Array.from([200, 2, 0, 0]) };

describe('wire format', () => {
  it('round-trips every field, for every payload size', () => {
    for (let n = 0; n <= MAX_PAYLOAD; n++) {
      const p: Packet = { ...base, type: n % 2 ? 'goodbye' : 'heartbeat', keyId: 1 + (n % 2), payload: randomBytes(n) };
      const buf = encodePacket(p, keys(p.keyId)!);
      expect(buf.length).toBe(HEADER_LENGTH + n + MAC_LENGTH);
      const r = decodePacket(buf, keys);
      expect(r).toEqual({ ok: true, packet: { ...p, payload: Uint8Array.from(p.payload) } });
    }
  });

  it('lays out the header as documented (big-endian, fixed offsets)', () => {
    const buf = encodePacket(base, KEY1);
    expect(buf.subarray(0, 4).toString('latin1')).toBe('IPHB');
    expect([buf[4], buf[5], buf[6], buf[7]]).toEqual([1, 1, 0, 1]);
    expect(buf.readUInt16BE(8)).toBe(7);
    expect(buf.readUInt16BE(10)).toBe(4);
    expect(buf.readUInt32BE(12)).toBe(0x01020304);
    expect(buf.readUInt32BE(16)).toBe(9);
    expect(buf.readUInt32BE(20)).toBe(42);
  });

  it('refuses out-of-range fields when encoding', () => {
    expect(() => encodePacket({ ...base, nodeId: 0 }, KEY1)).toThrow(/nodeId/);
    expect(() => encodePacket({ ...base, sequence: 2 ** 32 }, KEY1)).toThrow(/sequence/);
    expect(() => encodePacket({ ...base, payload: new Uint8Array(MAX_PAYLOAD + 1) }, KEY1)).toThrow(/payload/);
  });

  it('drops every kind of bad packet with its reason', () => {
    const good = encodePacket(base, KEY1);
    const cases: [string, Uint8Array, string][] = [
      ['empty', new Uint8Array(0), 'truncated'],
      ['header only', good.subarray(0, HEADER_LENGTH), 'truncated'],
      ['one byte short', good.subarray(0, good.length - 1), 'truncated'],
      ['too big', Buffer.concat([good, Buffer.alloc(MAX_PACKET)]), 'oversized'],
      ['one byte more', Buffer.concat([good, Buffer.alloc(1)]), 'bad-length'],
      ['forged with another key', encodePacket(base, Buffer.from('not the right key at all!')), 'bad-mac'],
      ['unknown key id', encodePacket({ ...base, keyId: 3 }, KEY1), 'unknown-key'],
    ];
    const withByte = (i: number, v: number) => {
      const b = Buffer.from(good);
      b[i] = v;
      return b;
    };
    cases.push(['bad magic', withByte(0, 0x50), 'bad-magic']);
    cases.push(['bad version', withByte(4, 2), 'bad-version']);
    cases.push(['payload length beyond limit', (() => { const b = Buffer.from(good); b.writeUInt16BE(1000, 10); return b; })(), 'oversized']);
    cases.push(['payload length beyond packet', (() => { const b = Buffer.from(good); b.writeUInt16BE(10, 10); return b; })(), 'truncated']);
    for (const [what, data, reason] of cases) expect(decodePacket(data, keys), what).toEqual({ ok: false, reason });
  });

  it('a single flipped bit anywhere is refused', () => {
    const good = encodePacket(base, KEY1);
    for (let i = 0; i < good.length; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const b = Buffer.from(good);
        b[i]! ^= 1 << bit;
        const r = decodePacket(b, keys);
        expect(r.ok, `byte ${i} bit ${bit}`).toBe(false);
      }
    }
  });

  it('never throws on random input, and accepts none of it', () => {
    const seed = Date.now() >>> 0;
    const rng = new Prng(seed);
    const good = encodePacket(base, KEY1);
    for (let i = 0; i < 5000; i++) {
      let data: Uint8Array;
      if (i % 2) {
        data = Uint8Array.from({ length: rng.int(MAX_PACKET + 40) }, () => rng.int(256));
      } else {
        // Mutations of a valid packet: random bytes changed, then cut or extended.
        const b = Buffer.from(good);
        for (let k = rng.range(1, 4); k > 0; k--) b[rng.int(b.length)] = rng.int(256);
        data = rng.chance(0.3) ? b.subarray(0, rng.int(b.length)) : b;
        if (Buffer.compare(Buffer.from(data), good) === 0) continue;
      }
      const r = decodePacket(data, keys);
      expect(r.ok, `seed ${seed} case ${i}`).toBe(false);
    }
  });

  it('MIN_PACKET and MAX_PACKET bound the datagram', () => {
    expect(MIN_PACKET).toBe(56);
    expect(MAX_PACKET).toBe(120);
  });
});

describe('ReplayWindow', () => {
  it('accepts increasing sequences, refuses duplicates and old ones, without state change on refusal', () => {
    const w = new ReplayWindow();
    expect(w.check(5, 10)).toEqual({ ok: true, restarted: false, newest: true });
    w.commit(5, 10);
    expect(w.check(5, 10)).toEqual({ ok: false, reason: 'replay' });
    expect(w.check(5, 9)).toEqual({ ok: false, reason: 'replay' }); // before the first seen: refused
    expect(w.check(5, 11)).toEqual({ ok: true, restarted: false, newest: true });
    w.commit(5, 12);
    // 11 missing (reordered) is still accepted once, as not the newest.
    expect(w.check(5, 11)).toEqual({ ok: true, restarted: false, newest: false });
    w.commit(5, 11);
    expect(w.check(5, 11)).toEqual({ ok: false, reason: 'replay' });
    w.commit(5, 12 + REPLAY_WINDOW + 5);
    const snapshot = { ...w };
    expect(w.check(5, 12)).toEqual({ ok: false, reason: 'out-of-window' });
    expect(w.check(4, 1000)).toEqual({ ok: false, reason: 'stale-generation' });
    expect({ ...w }).toEqual(snapshot);
    // A new generation (peer restart) resets the window.
    expect(w.check(6, 1)).toEqual({ ok: true, restarted: true, newest: true });
    w.commit(6, 1);
    expect(w.check(5, 99999)).toEqual({ ok: false, reason: 'stale-generation' });
  });

  it('tracks exactly the last 64 sequence numbers', () => {
    const w = new ReplayWindow();
    const seen = new Set<number>();
    const rng = new Prng(12345);
    let top = 0;
    let first = 0;
    for (let i = 0; i < 3000; i++) {
      const s = Math.max(1, top + rng.range(-80, 5));
      const v = w.check(1, s);
      const expected = top === 0 ? 'ok' : s > top ? 'ok' : top - s >= REPLAY_WINDOW ? 'out-of-window' : seen.has(s) || s < first ? 'replay' : 'ok';
      expect(v.ok ? 'ok' : v.reason, `seq ${s} top ${top}`).toBe(expected);
      if (v.ok) {
        if (top === 0) first = s;
        w.commit(1, s);
        seen.add(s);
        top = Math.max(top, s);
      }
    }
  });
});
