/**
 * The generation number persisted in a state file: read, increased and
 * written back crash-safely at every start (temp file, fsync, rename, fsync
 * of the directory), so that a crash at any point leaves either the old or
 * the new number, never none.
 * @module
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { MAX_U32 } from './wire.js';

/** Error reading or writing the generation state file; the node must not start. */
export class GenerationFileError extends Error {
  override name = 'GenerationFileError';
  /** Stable error code. */
  readonly code = 'ERR_HEARTBEAT_GENERATION';
  /** The state file. */
  readonly path: string;
  constructor(path: string, message: string, options?: ErrorOptions) {
    super(`heartbeat state file ${path}: ${message}`, options);
    this.path = path;
  }
}

/** Reads the generation stored in `path`: 0 when the file does not exist. */
export function readGeneration(path: string): number {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw new GenerationFileError(path, `cannot read: ${(e as Error).message}`, { cause: e });
  }
  const m = /^generation (\d{1,10})\n$/.exec(text);
  const n = m ? Number(m[1]) : NaN;
  // A corrupt file must stop the node: restarting from 0 would let old packets in again.
  if (!Number.isSafeInteger(n) || n > MAX_U32) throw new GenerationFileError(path, `not a generation file (expected "generation N"), refusing to reset it`);
  return n;
}

/** Writes `generation` to `path` atomically and durably (mode 0600). */
export function writeGeneration(path: string, generation: number): void {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.tmp`);
  try {
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, `generation ${generation}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
    const dfd = openSync(dir, 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      /* already renamed or never created */
    }
    throw new GenerationFileError(path, `cannot write: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * Increases the generation stored in `path` by one, durably, and returns the
 * new value (1 for a new file). Refuses a corrupt file and a generation that
 * would overflow 32 bits.
 */
export function nextGeneration(path: string): number {
  const next = readGeneration(path) + 1;
  if (next > MAX_U32) throw new GenerationFileError(path, 'generation exhausted (2^32-1 starts)');
  writeGeneration(path, next);
  return next;
}
