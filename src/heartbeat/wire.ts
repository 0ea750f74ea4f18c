/**
 * The heartbeat wire format (version 1): a fixed 24-byte header, a bounded
 * payload and an HMAC-SHA256 trailer. Data and pure functions only; the
 * engine that sends and receives is heartbeat.ts. Field by field description:
 * docs/heartbeat.md.
 *
 * ```
 *  0      magic       u32  0x49504842 ("IPHB")
 *  4      version     u8   1
 *  5      type        u8   1 = heartbeat, 2 = goodbye
 *  6      flags       u8   0 (reserved, must be 0)
 *  7      keyId       u8   index of the key in the key set
 *  8      cluster     u16  cluster id (several clusters may share a network)
 * 10      payloadLen  u16  0..64
 * 12      nodeId      u32  sender, 1..2^32-1
 * 16      generation  u32  sender's generation (increased at every start)
 * 20      sequence    u32  per-generation packet counter, from 1
 * 24      payload     payloadLen bytes
 * 24+len  mac         32 bytes: HMAC-SHA256(key, bytes 0 .. 24+len)
 * ```
 * All integers big-endian.
 * @module
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** "IPHB" in ASCII, the first four bytes of every packet. */
export const HEARTBEAT_MAGIC = 0x49504842;
/** The only wire version this code speaks. */
export const HEARTBEAT_VERSION = 1;
/** Bytes before the payload. */
export const HEADER_LENGTH = 24;
/** Bytes of the HMAC-SHA256 trailer. */
export const MAC_LENGTH = 32;
/** Largest payload a packet may carry. */
export const MAX_PAYLOAD = 64;
/** Smallest packet on the wire (no payload). */
export const MIN_PACKET = HEADER_LENGTH + MAC_LENGTH;
/** Largest packet on the wire. */
export const MAX_PACKET = HEADER_LENGTH + MAX_PAYLOAD + MAC_LENGTH;
/** Largest generation and sequence number (u32). */
export const MAX_U32 = 0xffffffff;

/** Packet types. */
export const PacketType = {
  /** "I am alive", sent every interval, carrying the sender's payload. */
  heartbeat: 1,
  /** "I am leaving": peers mark the sender dead at once. */
  goodbye: 2,
} as const;

/** A packet type name. */
export type PacketTypeName = keyof typeof PacketType;

/** The fields of one packet (the MAC is computed, not carried here). */
export interface Packet {
  /** What the packet says. */
  type: PacketTypeName;
  /** Key set index of the key that authenticates it (0..255). */
  keyId: number;
  /** Cluster id (0..65535). */
  cluster: number;
  /** Sender node id (1..2^32-1). */
  nodeId: number;
  /** Sender generation (1..2^32-1). */
  generation: number;
  /** Sequence number within the generation (1..2^32-1). */
  sequence: number;
  /** Opaque payload, at most {@link MAX_PAYLOAD} bytes. */
  payload: Uint8Array;
}

/**
 * Why a received datagram was dropped. The first nine are decided by
 * {@link decodePacket} alone; the others by the receiver's state (heartbeat.ts).
 */
export type DropReason =
  | 'truncated'
  | 'oversized'
  | 'bad-magic'
  | 'bad-version'
  | 'bad-length'
  | 'unknown-key'
  | 'bad-mac'
  | 'bad-type'
  | 'malformed'
  | 'other-cluster'
  | 'unknown-peer'
  | 'stale-generation'
  | 'replay'
  | 'out-of-window';

/** Every drop reason, in a stable order (for stats). */
export const DROP_REASONS: readonly DropReason[] = [
  'truncated', 'oversized', 'bad-magic', 'bad-version', 'bad-length', 'unknown-key', 'bad-mac',
  'bad-type', 'malformed', 'other-cluster', 'unknown-peer', 'stale-generation', 'replay', 'out-of-window',
];

/** Looks a key up by id; `undefined` when the id is not in the key set. */
export type KeyLookup = (keyId: number) => Uint8Array | undefined;

/** Result of {@link decodePacket}: a packet, or the reason it was refused. */
export type DecodeResult = { ok: true; packet: Packet } | { ok: false; reason: DropReason };

const TYPE_NAMES = new Map<number, PacketTypeName>(Object.entries(PacketType).map(([k, v]) => [v, k as PacketTypeName]));

function mac(key: Uint8Array, data: Uint8Array): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

function checkU(field: string, v: number, lo: number, hi: number): void {
  if (!Number.isInteger(v) || v < lo || v > hi) throw new RangeError(`${field}: must be an integer ${lo}..${hi}, got ${String(v)}`);
}

/**
 * Serialises and authenticates a packet with `key`. Throws RangeError on a
 * field out of range (the engine validates its options before it gets here).
 */
export function encodePacket(p: Packet, key: Uint8Array): Buffer {
  checkU('keyId', p.keyId, 0, 255);
  checkU('cluster', p.cluster, 0, 0xffff);
  checkU('nodeId', p.nodeId, 1, MAX_U32);
  checkU('generation', p.generation, 1, MAX_U32);
  checkU('sequence', p.sequence, 1, MAX_U32);
  if (p.payload.length > MAX_PAYLOAD) throw new RangeError(`payload: at most ${MAX_PAYLOAD} bytes, got ${p.payload.length}`);
  const type = PacketType[p.type];
  if (type === undefined) throw new RangeError(`type: unknown packet type ${String(p.type)}`);
  const len = HEADER_LENGTH + p.payload.length;
  const buf = Buffer.alloc(len + MAC_LENGTH);
  buf.writeUInt32BE(HEARTBEAT_MAGIC, 0);
  buf[4] = HEARTBEAT_VERSION;
  buf[5] = type;
  buf[6] = 0;
  buf[7] = p.keyId;
  buf.writeUInt16BE(p.cluster, 8);
  buf.writeUInt16BE(p.payload.length, 10);
  buf.writeUInt32BE(p.nodeId, 12);
  buf.writeUInt32BE(p.generation, 16);
  buf.writeUInt32BE(p.sequence, 20);
  buf.set(p.payload, HEADER_LENGTH);
  mac(key, buf.subarray(0, len)).copy(buf, len);
  return buf;
}

/**
 * Parses and authenticates one datagram. Total: any input gives a packet or a
 * reason, never an exception. Lengths are checked against the datagram's own
 * size before anything is read; the MAC is checked (in constant time) before
 * any field other than the framing and the key id is trusted. Pure: no state
 * anywhere changes.
 */
export function decodePacket(data: Uint8Array, keys: KeyLookup): DecodeResult {
  if (data.length < MIN_PACKET) return { ok: false, reason: 'truncated' };
  if (data.length > MAX_PACKET) return { ok: false, reason: 'oversized' };
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (view.getUint32(0) !== HEARTBEAT_MAGIC) return { ok: false, reason: 'bad-magic' };
  if (data[4] !== HEARTBEAT_VERSION) return { ok: false, reason: 'bad-version' };
  const payloadLen = view.getUint16(10);
  if (payloadLen > MAX_PAYLOAD) return { ok: false, reason: 'oversized' };
  const len = HEADER_LENGTH + payloadLen;
  if (data.length !== len + MAC_LENGTH) return { ok: false, reason: data.length < len + MAC_LENGTH ? 'truncated' : 'bad-length' };
  const keyId = data[7]!;
  const key = keys(keyId);
  if (!key) return { ok: false, reason: 'unknown-key' };
  const expected = mac(key, data.subarray(0, len));
  if (!timingSafeEqual(expected, data.subarray(len))) return { ok: false, reason: 'bad-mac' };
  const type = TYPE_NAMES.get(data[5]!);
  if (!type) return { ok: false, reason: 'bad-type' };
  if (data[6] !== 0) return { ok: false, reason: 'malformed' };
  const nodeId = view.getUint32(12);
  const generation = view.getUint32(16);
  const sequence = view.getUint32(20);
  // Zero is never sent; an authentic packet with one is a peer bug.
  if (nodeId === 0 || generation === 0 || sequence === 0) return { ok: false, reason: 'malformed' };
  return {
    ok: true,
    packet: {
      type,
      keyId,
      cluster: view.getUint16(8),
      nodeId,
      generation,
      sequence,
      payload: new Uint8Array(data.subarray(HEADER_LENGTH, len)),
    },
  };
}
