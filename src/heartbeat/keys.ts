/**
 * Key sets for the heartbeat HMAC: validation and the authkeys-style file
 * loader, which, like Linux-HA heartbeat's, refuses a file that group or
 * others may read.
 * @module
 */
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { InvalidArgumentError } from '../errors.js';

/** Keys by id (0..255): a string (UTF-8) or raw bytes, at least 16 bytes each. */
export type HeartbeatKeys = Record<number, string | Uint8Array>;

/** A key set and the id of the key used to send. */
export interface KeySet {
  /** Every key accepted on receive, by id. */
  keys: HeartbeatKeys;
  /** Id of the key that signs outgoing packets. */
  activeKey: number;
}

/** Shortest key accepted, in bytes. */
export const MIN_KEY_LENGTH = 16;

/** Checks a key set; returns the keys as bytes by id. Throws InvalidArgumentError naming the field. */
export function normaliseKeys(keys: HeartbeatKeys, activeKey: number, field = 'keys'): Map<number, Uint8Array> {
  if (keys === null || typeof keys !== 'object') throw new InvalidArgumentError(field, 'must be an object of key id → key');
  const out = new Map<number, Uint8Array>();
  for (const [k, v] of Object.entries(keys)) {
    const id = Number(k);
    if (!/^\d+$/.test(k) || id > 255) throw new InvalidArgumentError(`${field}.${k}`, 'key ids must be integers 0..255');
    const bytes = typeof v === 'string' ? Buffer.from(v, 'utf8') : v instanceof Uint8Array ? Buffer.from(v) : undefined;
    if (!bytes) throw new InvalidArgumentError(`${field}.${k}`, 'must be a string or a Buffer');
    if (bytes.length < MIN_KEY_LENGTH) throw new InvalidArgumentError(`${field}.${k}`, `must be at least ${MIN_KEY_LENGTH} bytes, got ${bytes.length}`);
    out.set(id, bytes);
  }
  if (out.size === 0) throw new InvalidArgumentError(field, 'must hold at least one key');
  if (!Number.isInteger(activeKey) || !out.has(activeKey)) throw new InvalidArgumentError('activeKey', `must be the id of a key in ${field}, got ${String(activeKey)}`);
  return out;
}

/**
 * Reads an authkeys-style file:
 *
 * ```
 * # comment
 * auth 2
 * 1 sha256 an-old-secret-of-16-bytes-or-more
 * 2 sha256 the-new-secret-of-16-bytes-or-more
 * ```
 *
 * `auth N` names the active key; each key line is `id method secret`, where
 * the method must be `sha256` (HMAC-SHA256; heartbeat's `crc`, `md5` and
 * `sha1` are refused). The file's mode must give group and others no access
 * at all (0600 or 0400), as heartbeat requires; otherwise the loader throws
 * before reading a byte of it.
 */
export function loadAuthKeys(path: string): KeySet {
  const fd = openSync(path, 'r');
  let text: string;
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new InvalidArgumentError(path, 'is not a regular file');
    if (st.mode & 0o077) throw new InvalidArgumentError(path, `mode ${(st.mode & 0o777).toString(8)} lets group or others access the keys: chmod 600 it`);
    text = readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
  const keys: HeartbeatKeys = {};
  let active: number | undefined;
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) return;
    const where = `${path}:${i + 1}`;
    const parts = line.split(/\s+/);
    if (parts[0] === 'auth') {
      if (parts.length !== 2 || !/^\d+$/.test(parts[1]!)) throw new InvalidArgumentError(where, 'expected "auth <id>"');
      active = Number(parts[1]);
      return;
    }
    if (parts.length !== 3 || !/^\d+$/.test(parts[0]!)) throw new InvalidArgumentError(where, 'expected "<id> sha256 <secret>"');
    if (parts[1] !== 'sha256') throw new InvalidArgumentError(where, `method ${parts[1]} is not supported (only sha256: HMAC-SHA256)`);
    if (Object.prototype.hasOwnProperty.call(keys, Number(parts[0]))) throw new InvalidArgumentError(where, `key ${parts[0]} defined twice`);
    keys[Number(parts[0])] = parts[2]!;
  });
  if (active === undefined) throw new InvalidArgumentError(path, 'no "auth <id>" line naming the active key');
  normaliseKeys(keys, active, path);
  return { keys, activeKey: active };
}
