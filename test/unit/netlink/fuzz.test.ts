/**
 * Fuzz the decoders: random byte strings and mutations of valid messages must
 * either decode or throw DecodeError (with a numeric offset) — never a
 * RangeError/TypeError, never an object with undefined values.
 *
 * Reproduce a failure with the printed seed: FUZZ_SEED=<seed> npx vitest run ... fuzz
 * (FUZZ_SEED=random picks a new seed; FUZZ_SCALE=10 runs ten times as many inputs).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { DecodeError, NetlinkError } from '../../../src/errors.js';
import { get, iterateAttributes, type RawAttribute } from '../../../src/netlink/attributes.js';
import { Conn } from '../../../src/netlink/conn.js';
import {
  CTRL_CMD_NEWFAMILY,
  GENL_ID_CTRL,
  NETLINK_GENERIC,
  NLMSG_DONE,
  NLMSG_ERROR,
  NLMSG_NOOP,
  NLMSG_OVERRUN,
  NLM_F_ACK_TLVS,
  NLM_F_CAPPED,
  NLM_F_DUMP,
  NLM_F_DUMP_INTR,
  NLM_F_MULTI,
  NLA_F_NESTED,
} from '../../../src/netlink/constants.js';
import { fakeSocketFactory, type FakeSocket } from '../../../src/netlink/fake-socket.js';
import { ctrlTable, decodeGenlAttributes, parseGenlMessage } from '../../../src/netlink/genl.js';
import { extackTable, parseDoneMessage, parseErrorMessage, parseMessages, type NetlinkMessage } from '../../../src/netlink/message.js';
import { decodeAttributes, defineTable, encodeAttributes, type AttributeTable, type FieldSpecs } from '../../../src/netlink/schema.js';
import { Writer } from '../../../src/netlink/writer.js';
import { compactHex } from '../../helpers/hex.js';
import { Prng, seedFromEnv } from '../../helpers/prng.js';

const SEED = seedFromEnv(0x5eed1234);
const SCALE = Number(process.env.FUZZ_SCALE ?? 1) || 1;
const rng = new Prng(SEED);

// ---- tables covering every wire type, nests of nests and arrays ----

const leafTable = defineTable('leaf', {
  u8: { id: 1, type: 'u8' },
  u16: { id: 2, type: 'u16' },
  be16: { id: 3, type: 'be16' },
  u32: { id: 4, type: 'u32' },
  be32: { id: 5, type: 'be32' },
  s32: { id: 6, type: 's32' },
  u64: { id: 7, type: 'u64' },
  str: { id: 8, type: 'string' },
  bin: { id: 9, type: 'binary' },
  flag: { id: 10, type: 'flag' },
  pad: { id: 11, type: 'pad' },
});
const opTable = defineTable('op', {
  id: { id: 1, type: 'u32' },
  flags: { id: 2, type: 'u32' },
  name: { id: 3, type: 'string' },
});
const deepTable = defineTable('deep', {
  leaf: { id: 1, type: 'nested', table: leafTable },
  n: { id: 2, type: 'u32' },
  ops: { id: 3, type: 'array', table: opTable },
});
const topTable = defineTable('top', {
  ...leafTable.fields,
  inner: { id: 12, type: 'nested', table: leafTable },
  deep: { id: 13, type: 'nested', table: deepTable },
  ops: { id: 14, type: 'array', table: opTable },
  tail: { id: 15, type: 'u64' },
});
const TABLES: AttributeTable<FieldSpecs>[] = [topTable, ctrlTable, extackTable, deepTable];

// ---- checks ----

interface Failure {
  label: string;
  error: unknown;
  input: string;
}
const failures: Failure[] = [];
let currentInput: Uint8Array = new Uint8Array(0);
let currentKind = '';
const counts = { inputs: 0, decoded: 0, decodeErrors: 0, attributes: 0 };

function fail(label: string, error: unknown): void {
  if (failures.length < 20) failures.push({ label: `${currentKind}: ${label}`, error, input: compactHex(currentInput) });
}

/** Run `f`; a DecodeError with an integer offset ≥ 0 is fine, anything else is a failure. */
function probe<T>(label: string, f: () => T): T | undefined {
  try {
    const v = f();
    counts.decoded++;
    return v;
  } catch (e) {
    if (e instanceof DecodeError && typeof e.offset === 'number' && Number.isInteger(e.offset) && e.offset >= 0) {
      counts.decodeErrors++;
      return undefined;
    }
    // Errors are built without stack traces while fuzzing (that is 4x faster);
    // run the failing call again with one so the report shows where it came from.
    let error = e;
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 20;
    try {
      f();
    } catch (again) {
      error = again;
    } finally {
      Error.stackTraceLimit = limit;
    }
    fail(label, error);
    return undefined;
  }
}

/** Run `f` with stack traces off: throwing a DecodeError costs a quarter as much. */
function fast(f: () => void): void {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    f();
  } finally {
    Error.stackTraceLimit = limit;
  }
}

class ShapeError extends Error {
  override name = 'ShapeError';
}

const INT_RANGE: Record<string, [number, number]> = {
  u8: [0, 0xff],
  u16: [0, 0xffff],
  be16: [0, 0xffff],
  u32: [0, 0xffffffff],
  be32: [0, 0xffffffff],
  s32: [-0x80000000, 0x7fffffff],
};

/** Every own property is defined and has the JS type its wire type promises. */
function checkDecoded(table: AttributeTable<FieldSpecs>, obj: unknown, path: string): void {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw new ShapeError(`${path}: not an object`);
  for (const key of Object.keys(obj)) {
    const v = (obj as Record<string, unknown>)[key];
    const where = `${path}.${key}`;
    if (v === undefined) throw new ShapeError(`${where} is present but undefined`);
    const spec = table.fields[key];
    if (!spec) {
      if (key !== 'unknown' || !Array.isArray(v)) throw new ShapeError(`${where}: unexpected key`);
      for (const u of v as unknown[]) {
        const x = u as { type: unknown; nestedFlag: unknown; data: unknown };
        if (!Number.isInteger(x.type) || (x.type as number) < 0 || (x.type as number) > 0x3fff) throw new ShapeError(`${where}: bad type`);
        if (typeof x.nestedFlag !== 'boolean' || !(x.data instanceof Uint8Array)) throw new ShapeError(`${where}: bad entry`);
        if (table.byId.has(x.type as number)) throw new ShapeError(`${where}: known attribute ${String(x.type)} kept as unknown`);
      }
      continue;
    }
    const range = INT_RANGE[spec.type];
    if (range) {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < range[0] || v > range[1]) throw new ShapeError(`${where}: ${String(v)} is not a ${spec.type}`);
      continue;
    }
    switch (spec.type) {
      case 'u64':
        if (typeof v !== 'bigint' || v < 0n || v > 0xffffffffffffffffn) throw new ShapeError(`${where}: not a u64`);
        break;
      case 'string':
        if (typeof v !== 'string') throw new ShapeError(`${where}: not a string`);
        break;
      case 'binary':
        if (!(v instanceof Uint8Array)) throw new ShapeError(`${where}: not bytes`);
        break;
      case 'flag':
        if (v !== true) throw new ShapeError(`${where}: flag is not true`);
        break;
      case 'nested':
        checkDecoded(spec.table!, v, where);
        break;
      case 'array':
        if (!Array.isArray(v)) throw new ShapeError(`${where}: not an array`);
        v.forEach((item, i) => checkDecoded(spec.table!, item, `${where}[${i}]`));
        break;
      default:
        throw new ShapeError(`${where}: a ${spec.type} field should never be decoded`);
    }
  }
}

/** Deep check: no own property anywhere is undefined. */
function checkNoUndefined(v: unknown, path: string): void {
  if (typeof v !== 'object' || v === null || v instanceof Uint8Array) return;
  for (const [k, x] of Object.entries(v)) {
    if (x === undefined) throw new ShapeError(`${path}.${k} is present but undefined`);
    checkNoUndefined(x, `${path}.${k}`);
  }
}

const FIXED_GETTERS = [get.u8, get.u16, get.be16, get.u32, get.s32, get.be32, get.u64] as const;
const GETTER_BY_LENGTH: Record<number, ((a: RawAttribute) => number | bigint)[]> = {
  1: [get.u8],
  2: [get.u16, get.be16],
  4: [get.u32, get.s32, get.be32],
  8: [get.u64],
};

/** iterateAttributes + every applicable getter, recursing into payloads that look nested. */
function walk(buf: Uint8Array, start: number, end: number, depth: number, iter: () => Iterable<RawAttribute> = () => iterateAttributes(buf, start, end)): void {
  for (const a of iter()) {
    counts.attributes++;
    if (a.offset < 4 || a.offset + a.length > buf.length || a.length < 0) throw new ShapeError(`attribute payload [${a.offset}, +${a.length}) outside the buffer`);
    const bytes = probe('get.bytes', () => get.bytes(a));
    if (bytes && bytes.length !== a.length) fail('get.bytes', new ShapeError('wrong length'));
    // Getters that will most likely throw are called on a sample of attributes (exceptions are what costs).
    if (a.length > 0 && (a.buf[a.offset + a.length - 1] === 0 || rng.chance(0.3))) {
      const s = probe('get.string', () => get.string(a));
      if (s !== undefined && typeof s !== 'string') fail('get.string', new ShapeError('not a string'));
    }
    for (const g of GETTER_BY_LENGTH[a.length] ?? []) {
      const v = probe(`get.${g.name}`, () => g(a));
      if (v === undefined) fail(`get.${g.name}`, new ShapeError('no value for an attribute of the right length'));
    }
    if (rng.chance(0.25)) {
      const r = FIXED_GETTERS[rng.int(FIXED_GETTERS.length)]!;
      probe(`get.${r.name}`, () => r(a));
    }
    // Recurse where the payload could be attributes: a nest flag, or a plausible first nla_len.
    if (depth < 4 && a.length >= 4) {
      const first = a.buf[a.offset]! | (a.buf[a.offset + 1]! << 8);
      if (a.nestedFlag || (first >= 4 && first <= a.length) || rng.chance(0.1)) {
        probe('get.nested', () => walk(a.buf, 0, 0, depth + 1, () => get.nested(a)));
      }
    }
  }
}

function decodeWith(table: AttributeTable<FieldSpecs>, buf: Uint8Array, start: number, label: string): void {
  const d = probe(label, () => decodeAttributes(table, buf, start));
  if (d !== undefined) {
    try {
      checkDecoded(table, d, table.name);
    } catch (e) {
      fail(label, e);
    }
  }
}

const CONTROL_FLAGS = [0, NLM_F_MULTI, NLM_F_CAPPED, NLM_F_CAPPED | NLM_F_ACK_TLVS, NLM_F_ACK_TLVS, NLM_F_MULTI | NLM_F_ACK_TLVS, NLM_F_DUMP_INTR];

/** Feed one input to every decoder. */
function feed(input: Buffer, kind: string): void {
  counts.inputs++;
  currentInput = input;
  currentKind = kind;
  // 1. Framing, then each message by type.
  const messages = probe('parseMessages', () => parseMessages(input));
  if (messages) {
    for (const m of messages) {
      if (m.payload.length > input.length || !Number.isInteger(m.type) || !Number.isInteger(m.seq)) fail('parseMessages', new ShapeError('bad message'));
      feedMessage(m);
    }
  }
  // 2. The whole input as an NLMSG_ERROR / NLMSG_DONE payload (reached even when framing fails).
  const flags = rng.pick(CONTROL_FLAGS);
  feedMessage({ type: NLMSG_ERROR, flags, seq: 1, pid: 0, payload: input });
  feedMessage({ type: NLMSG_DONE, flags, seq: 1, pid: 0, payload: input });
  // 3. The whole input as attributes, with a nested/array table (one per input, in turn).
  const start = rng.pick([0, 0, 4, 16, 20]);
  const t = TABLES[counts.inputs % TABLES.length]!;
  decodeWith(t, input, start, `decodeAttributes(${t.name}, start ${start})`);
  // 4. Raw iteration and getters.
  probe('iterateAttributes', () => walk(input, start > input.length ? 0 : start, input.length, 0));
}

function feedMessage(m: NetlinkMessage): void {
  if (m.type === NLMSG_ERROR) {
    const e = probe('parseErrorMessage', () => parseErrorMessage(m));
    if (e) {
      try {
        checkNoUndefined(e, 'error');
        if (!Number.isInteger(e.error)) throw new ShapeError('error is not an integer');
        if (e.extack && Object.keys(e.extack).length === 0) throw new ShapeError('empty extack object');
      } catch (x) {
        fail('parseErrorMessage', x);
      }
    }
  } else if (m.type === NLMSG_DONE) {
    const d = probe('parseDoneMessage', () => parseDoneMessage(m));
    if (d) {
      try {
        checkNoUndefined(d, 'done');
        if (!Number.isInteger(d.status)) throw new ShapeError('status is not an integer');
      } catch (x) {
        fail('parseDoneMessage', x);
      }
    }
  } else if (m.type === GENL_ID_CTRL) {
    const g = probe('parseGenlMessage', () => parseGenlMessage(m));
    if (g) {
      const d = probe('decodeGenlAttributes(ctrl)', () => decodeGenlAttributes(ctrlTable, g));
      if (d) {
        try {
          checkDecoded(ctrlTable, d, 'ctrl');
        } catch (x) {
          fail('decodeGenlAttributes(ctrl)', x);
        }
      }
    }
    probe('walk genl', () => walk(m.payload, Math.min(4, m.payload.length), m.payload.length, 0));
  } else {
    decodeWith(topTable, m.payload, 4, 'decodeAttributes(top) of a message');
    probe('walk message', () => walk(m.payload, Math.min(4, m.payload.length), m.payload.length, 0));
  }
}

// ---- valid seeds, built with the schema ----

function sampleLeaf(r: Prng): Record<string, unknown> {
  const v: Record<string, unknown> = {};
  if (r.chance(0.7)) v.u8 = r.int(256);
  if (r.chance(0.7)) v.u16 = r.int(65536);
  if (r.chance(0.7)) v.be16 = r.int(65536);
  if (r.chance(0.7)) v.u32 = r.u32();
  if (r.chance(0.7)) v.be32 = r.u32();
  if (r.chance(0.7)) v.s32 = r.u32() | 0;
  if (r.chance(0.7)) v.u64 = (BigInt(r.u32()) << 32n) | BigInt(r.u32());
  if (r.chance(0.7)) v.str = 'x'.repeat(r.int(20));
  if (r.chance(0.7)) v.bin = r.bytes(r.int(24));
  if (r.chance(0.5)) v.flag = true;
  if (r.chance(0.3)) v.unknown = [{ type: 100 + r.int(50), nestedFlag: r.chance(0.3), data: r.bytes(r.int(12)) }];
  return v;
}
function sampleOps(r: Prng): Record<string, unknown>[] {
  return Array.from({ length: r.int(5) }, () => ({ id: r.int(40), flags: r.int(16), ...(r.chance(0.3) ? { name: 'op' } : {}) }));
}
function sampleTop(r: Prng): Record<string, unknown> {
  return {
    ...sampleLeaf(r),
    ...(r.chance(0.8) ? { inner: sampleLeaf(r) } : {}),
    ...(r.chance(0.8) ? { deep: { leaf: sampleLeaf(r), n: r.u32(), ops: sampleOps(r) } } : {}),
    ...(r.chance(0.8) ? { ops: sampleOps(r) } : {}),
    ...(r.chance(0.5) ? { tail: 1n } : {}),
  };
}

function message(type: number, flags: number, seq: number, body: (w: Writer) => void): Buffer {
  const w = new Writer(512);
  const s = w.beginMessage(type, flags, seq, 4242);
  body(w);
  w.endMessage(s);
  return w.toBuffer();
}

function buildSeeds(r: Prng): { messages: Buffer[]; blobs: Buffer[] } {
  const messages: Buffer[] = [];
  const blobs: Buffer[] = [];
  for (let i = 0; i < 12; i++) {
    const values = sampleTop(r);
    const nestedFlag = r.chance(0.5);
    messages.push(
      message(0x24, r.pick([0, NLM_F_MULTI]), i + 1, (w) => {
        w.u8(1).u8(1).u16(0);
        encodeAttributes(w, topTable, values, nestedFlag);
      }),
    );
    const b = new Writer();
    encodeAttributes(b, topTable, values, nestedFlag);
    blobs.push(b.toBuffer());
  }
  // A generic netlink controller reply (CTRL_CMD_NEWFAMILY), nests without NLA_F_NESTED as the kernel writes them.
  const ctrlValues = {
    familyId: 0x24,
    familyName: 'IPVS',
    version: 1,
    headerSize: 0,
    maxAttribute: 6,
    ops: Array.from({ length: 11 }, (_, i) => ({ id: i + 1, flags: 0x0b })),
    multicastGroups: [{ name: 'events', id: 7 }],
  };
  messages.push(
    message(GENL_ID_CTRL, 0, 99, (w) => {
      w.u8(CTRL_CMD_NEWFAMILY).u8(2).u16(0);
      encodeAttributes(w, ctrlTable, ctrlValues, false);
    }),
  );
  const cb = new Writer();
  encodeAttributes(cb, ctrlTable, ctrlValues, false);
  blobs.push(cb.toBuffer());
  // NLMSG_ERROR: ACK; capped error with extack; uncapped error echoing the request, with extack.
  const echoed = messages[0]!;
  const extack = (w: Writer) => {
    w.attrString(1, 'some text');
    w.attrU32(2, 20);
    w.attrU32(5, 3);
    w.attrU32(6, 24);
  };
  messages.push(message(NLMSG_ERROR, NLM_F_CAPPED, 1, (w) => w.s32(0).bytes(echoed.subarray(0, 16))));
  messages.push(message(NLMSG_ERROR, NLM_F_CAPPED | NLM_F_ACK_TLVS, 1, (w) => { w.s32(-17).bytes(echoed.subarray(0, 16)); extack(w); }));
  messages.push(message(NLMSG_ERROR, NLM_F_ACK_TLVS, 1, (w) => { w.s32(-22).bytes(echoed).align(); extack(w); }));
  const eb = new Writer();
  extack(eb);
  blobs.push(eb.toBuffer());
  // NLMSG_DONE: plain, and failed with extack.
  messages.push(message(NLMSG_DONE, NLM_F_MULTI, 5, (w) => w.s32(0)));
  messages.push(message(NLMSG_DONE, NLM_F_MULTI | NLM_F_ACK_TLVS, 5, (w) => { w.s32(-16); extack(w); }));
  // Multi-message datagrams: a dump (parts + DONE), and a reply + ACK.
  messages.push(Buffer.concat([messages[1]!, messages[2]!, messages[3]!, message(NLMSG_DONE, NLM_F_MULTI, 5, (w) => w.s32(0))]));
  messages.push(Buffer.concat([messages[12]!, messages[13]!]));
  return { messages, blobs };
}

/** Offsets of length fields (u32 nlmsg_len, u16 nla_len) in a valid seed, found by walking it. */
function lengthFields(seed: Buffer): { off: number; size: 2 | 4 }[] {
  const out: { off: number; size: 2 | 4 }[] = [];
  const attrsAt = (buf: Uint8Array, base: number, start: number, end: number, depth: number): void => {
    if (start >= end || depth > 5) return;
    let found: RawAttribute[];
    try {
      found = [...iterateAttributes(buf, start, end)];
    } catch {
      return;
    }
    for (const a of found) {
      out.push({ off: base + a.offset - 4, size: 2 });
      attrsAt(buf, base, a.offset, a.offset + a.length, depth + 1);
    }
  };
  let msgs: NetlinkMessage[];
  try {
    msgs = parseMessages(seed);
  } catch {
    attrsAt(seed, 0, 0, seed.length, 0);
    return out;
  }
  for (const m of msgs) {
    const base = m.payload.byteOffset - seed.byteOffset;
    out.push({ off: base - 16, size: 4 });
    if (m.type === NLMSG_ERROR && m.payload.length >= 20) {
      out.push({ off: base + 4, size: 4 }); // echoed nlmsg_len
      const reqLen = m.payload.readUInt32LE(4);
      attrsAt(m.payload, base, m.flags & NLM_F_CAPPED ? 20 : 4 + ((reqLen + 3) & ~3), m.payload.length, 0);
      if (!(m.flags & NLM_F_CAPPED)) attrsAt(m.payload, base, 24, 4 + reqLen, 0);
    } else {
      attrsAt(m.payload, base, 4, m.payload.length, 0);
    }
  }
  return out;
}

// ---- mutations ----

const INTERESTING_U16 = [0, 1, 2, 3, 4, 5, 7, 8, 9, 12, 0x7fff, 0x8000, 0xfffc, 0xffff];
const INTERESTING_U32 = [0, 1, 15, 16, 17, 19, 20, 0x7fffffff, 0x80000000, 0xfffffffc, 0xfffffffd, 0xffffffff];

type Mutator = (b: Buffer, fields: { off: number; size: 2 | 4 }[]) => Buffer;

const mutators: [string, Mutator][] = [
  [
    'bit flips',
    (b) => {
      const c = Buffer.from(b);
      const n = 1 + rng.int(6);
      for (let i = 0; i < n && c.length; i++) c[rng.int(c.length)]! ^= 1 << rng.int(8);
      return c;
    },
  ],
  ['truncation', (b) => Buffer.from(b.subarray(0, rng.int(b.length + 1)))],
  ['truncation of the tail', (b) => Buffer.from(b.subarray(0, Math.max(0, b.length - 1 - rng.int(8))))],
  [
    'length-field corruption',
    (b, fields) => {
      const c = Buffer.from(b);
      const fit = fields.filter((f) => f.off + f.size <= c.length);
      if (!fit.length) return c;
      const n = 1 + rng.int(2);
      for (let i = 0; i < n; i++) {
        const f = rng.pick(fit);
        if (f.size === 2) {
          const old = c.readUInt16LE(f.off);
          const v = rng.pick([...INTERESTING_U16, old + 1, old - 1, old + 4, old - 4, old + rng.int(64), rng.int(0x10000)]);
          c.writeUInt16LE(((v % 0x10000) + 0x10000) % 0x10000, f.off);
        } else {
          const old = c.readUInt32LE(f.off);
          const v = rng.pick([...INTERESTING_U32, old + 1, old - 1, old + 4, old - 4, c.length, c.length - f.off + 4, rng.u32()]);
          c.writeUInt32LE(v >>> 0, f.off);
        }
      }
      return c;
    },
  ],
  [
    'byte insertion',
    (b) => {
      const at = rng.int(b.length + 1);
      return Buffer.concat([b.subarray(0, at), rng.bytes(1 + rng.int(8)), b.subarray(at)]);
    },
  ],
  [
    'byte deletion',
    (b) => {
      const at = rng.int(b.length + 1);
      return Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + rng.int(8)))]);
    },
  ],
  [
    'random overwrite',
    (b) => {
      const c = Buffer.from(b);
      const at = rng.int(c.length + 1);
      rng.bytes(Math.min(c.length - at, 1 + rng.int(4))).copy(c, at);
      return c;
    },
  ],
  [
    'type-field corruption',
    (b, fields) => {
      const c = Buffer.from(b);
      const fit = fields.filter((f) => f.off + (f.size === 2 ? 4 : 6) <= c.length);
      const f = fit.length ? rng.pick(fit) : undefined;
      if (!f) return c;
      if (f.size === 2) c.writeUInt16LE((rng.int(20) | (rng.chance(0.3) ? NLA_F_NESTED : 0)) & 0xffff, f.off + 2);
      else c.writeUInt16LE(rng.pick([NLMSG_NOOP, NLMSG_ERROR, NLMSG_DONE, NLMSG_OVERRUN, GENL_ID_CTRL, 0x24, rng.int(0x10000)]), f.off + 4);
      return c;
    },
  ],
];

/** After an insertion or deletion, sometimes make nlmsg_len match again so decoding reaches the attributes. */
function refit(b: Buffer): Buffer {
  if (b.length >= 16 && rng.chance(0.5)) b.writeUInt32LE(b.length, 0);
  return b;
}

/** A random message whose framing is valid but whose attributes are random. */
function randomFramed(): Buffer {
  const w = new Writer(600);
  const s = w.beginMessage(rng.pick([NLMSG_ERROR, NLMSG_DONE, GENL_ID_CTRL, 0x24, rng.int(0x10000)]), rng.pick([...CONTROL_FLAGS, rng.int(0x10000)]), rng.u32(), rng.u32());
  if (rng.chance(0.5)) w.u8(rng.int(8)).u8(rng.int(3)).u16(0);
  const attrs = (depth: number, budget: number): void => {
    const n = rng.int(6);
    for (let i = 0; i < n && budget > 0; i++) {
      const type = rng.int(16) | (rng.chance(0.2) ? NLA_F_NESTED : 0);
      if (depth < 3 && rng.chance(0.3)) {
        const a = w.beginAttr(type);
        attrs(depth + 1, budget - 8);
        w.endAttr(a);
      } else {
        const len = rng.pick([0, 1, 2, 3, 4, 5, 8, rng.int(24)]);
        w.attrBytes(type, rng.chance(0.2) ? Buffer.from('ab\0'.slice(0, len)) : rng.bytes(len));
        budget -= len + 4;
      }
    }
  };
  attrs(0, 400);
  w.endMessage(s);
  return w.toBuffer();
}

function report(what: string): void {
  const found = failures.splice(0);
  if (found.length) {
    const lines = found.slice(0, 5).map((f) => {
      const err = f.error instanceof Error ? `${f.error.name}: ${f.error.message}\n${f.error.stack?.split('\n').slice(1, 4).join('\n')}` : String(f.error);
      return `[${f.label}] ${err}\n  input (hex): ${f.input}`;
    });
    console.error(`fuzz (${what}) failures with seed ${SEED} (FUZZ_SEED=${SEED} to reproduce):\n${lines.join('\n\n')}`);
  }
  expect(found.map((f) => `${f.label}: ${f.error instanceof Error ? `${f.error.name}: ${f.error.message}` : String(f.error)} — input ${f.input}`)).toEqual([]);
}

describe('fuzz: decoders', () => {
  const seeds = buildSeeds(new Prng(SEED ^ 0xa5a5a5a5));
  const messageFields = seeds.messages.map(lengthFields);
  const blobFields = seeds.blobs.map(lengthFields);
  const started = Date.now();

  afterAll(() => {
    console.log(
      `fuzz: ${counts.inputs} inputs, seed ${SEED} (0x${SEED.toString(16)}), ${counts.decoded} successful decodes, ${counts.decodeErrors} DecodeErrors, ${counts.attributes} attributes walked, ${Date.now() - started} ms`,
    );
  });

  it('the seeds themselves decode without error', () => {
    for (const s of seeds.messages) {
      const ms = parseMessages(s);
      expect(ms.length).toBeGreaterThan(0);
      for (const m of ms) {
        if (m.type === NLMSG_ERROR) expect(parseErrorMessage(m).request.length).toBeGreaterThanOrEqual(16);
        else if (m.type === NLMSG_DONE) expect(typeof parseDoneMessage(m).status).toBe('number');
        else if (m.type === GENL_ID_CTRL) expect(decodeGenlAttributes(ctrlTable, parseGenlMessage(m)).familyName).toBe('IPVS');
        else checkDecoded(topTable, decodeAttributes(topTable, m.payload, 4), 'top');
      }
    }
    expect(messageFields.every((f) => f.length > 0)).toBe(true);
    // The uncapped error seed has its TLVs found after the echoed request.
    const uncapped = parseMessages(seeds.messages.find((m) => m.readUInt16LE(4) === NLMSG_ERROR && m.readUInt16LE(6) === NLM_F_ACK_TLVS)!)[0]!;
    expect(parseErrorMessage(uncapped).extack).toEqual({ message: 'some text', offset: 20, missingType: 3, missingNest: 24 });
  });

  it('random byte strings (length 0..512)', () => {
    fast(() => {
      for (let i = 0; i < 25_000 * SCALE; i++) feed(rng.bytes(rng.int(513)), 'random bytes');
    });
    report('random');
  });

  it('random attributes in valid framing', () => {
    fast(() => {
      for (let i = 0; i < 10_000 * SCALE; i++) feed(randomFramed(), 'random framed');
    });
    report('random framed');
  });

  it('mutations of valid messages (bit flips, truncation, length fields, insertions, ...)', () => {
    fast(() => {
    for (let i = 0; i < 45_000 * SCALE; i++) {
      const k = rng.int(seeds.messages.length);
      let b = seeds.messages[k]!;
      const rounds = 1 + (rng.chance(0.3) ? rng.int(3) : 0);
      const names: string[] = [];
      for (let j = 0; j < rounds; j++) {
        const [name, m] = rng.pick(mutators);
        names.push(name);
        b = m(b, messageFields[k]!);
      }
      if (names.some((n) => n.startsWith('byte '))) b = refit(b);
      feed(b, `seed ${k} + ${names.join(' + ')}`);
    }
    });
    report('message mutations');
  });

  it('mutations of attribute blobs (nested and array tables)', () => {
    fast(() => {
      for (let i = 0; i < 20_000 * SCALE; i++) {
        const k = rng.int(seeds.blobs.length);
        const [name, m] = rng.pick(mutators);
        feed(m(seeds.blobs[k]!, blobFields[k]!), `blob ${k} + ${name}`);
      }
    });
    report('blob mutations');
  });

  it(`ran at least ${100_000 * SCALE} inputs`, () => {
    expect(counts.inputs).toBeGreaterThanOrEqual(100_000 * SCALE);
    expect(counts.decodeErrors).toBeGreaterThan(0);
    expect(counts.decoded).toBeGreaterThan(0);
  });
});

describe('fuzz: Conn receiving mutated replies', () => {
  it('never throws out of the receive callback, and every request settles with a netlink error class', async () => {
    const { factory, sockets } = fakeSocketFactory();
    const conn = Conn.open({ protocol: NETLINK_GENERIC, socketFactory: factory, timeoutMs: 0 });
    const socket: FakeSocket = sockets[0]!;
    const deliver = (d: Buffer): void => {
      // Call the receive callback directly so a throw is seen here, not as an uncaught exception.
      const onData = (socket as unknown as { onData: (d: Buffer[]) => void }).onData;
      onData([d]);
    };
    const seeds = buildSeeds(new Prng(SEED ^ 0x3c3c3c3c));
    const fields = seeds.messages.map(lengthFields);
    const bad: string[] = [];
    const N = 3_000 * SCALE;
    for (let i = 0; i < N; i++) {
      const dump = rng.chance(0.4);
      const p = conn.request(0x24, dump ? NLM_F_DUMP : 0, (w) => w.u32(i));
      let outcome: unknown = 'pending';
      p.then(
        () => (outcome = 'ok'),
        (e: unknown) => (outcome = e),
      );
      await Promise.resolve();
      await Promise.resolve();
      const req = socket.requests.at(-1)!;
      // A valid seed re-addressed to this request, then mutated.
      const k = rng.int(seeds.messages.length);
      const d = Buffer.from(seeds.messages[k]!);
      for (const f of fields[k]!) if (f.size === 4 && f.off + 16 <= d.length && d.readUInt32LE(f.off) >= 16) d.writeUInt32LE(req.seq, f.off + 8);
      const [name, m] = rng.pick(mutators);
      const input = m(d, fields[k]!);
      currentInput = input;
      try {
        deliver(input);
        // Then end it properly, as the kernel would (a late terminator is simply unmatched).
        const end = dump
          ? message(NLMSG_DONE, NLM_F_MULTI, req.seq, (w) => w.s32(0))
          : message(NLMSG_ERROR, NLM_F_CAPPED, req.seq, (w) => w.s32(0).bytes(Buffer.alloc(16)));
        deliver(end);
      } catch (e) {
        bad.push(`${name}: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)} — input ${compactHex(input)}`);
      }
      await Promise.resolve();
      await Promise.resolve();
      if (outcome === 'pending') bad.push(`${name}: request ${req.seq} still pending — input ${compactHex(input)}`);
      else if (outcome !== 'ok' && !(outcome instanceof DecodeError || outcome instanceof NetlinkError)) {
        bad.push(`${name}: rejected with ${String(outcome)} — input ${compactHex(input)}`);
      }
      if (bad.length >= 5) break;
    }
    conn.close();
    console.log(`fuzz: Conn: ${N} mutated reply datagrams, seed ${SEED}, ${conn.stats.unmatched} unmatched`);
    expect(bad).toEqual([]);
  });
});
