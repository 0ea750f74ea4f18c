/**
 * What the command line reads and writes, as an interface (so tests can run
 * `main()` in-process), its exit codes, and its error types.
 * @module
 */
import { isAscii } from 'node:buffer';
import { readFileSync } from 'node:fs';

/** Where the command line writes and reads. */
export interface CliIo {
  /** Write to standard output (bytes are UTF-8 text, as a large listing is written). */
  stdout(text: string | Uint8Array): void;
  /** Write to standard error. */
  stderr(text: string): void;
  /** All of standard input. */
  readStdin(): Promise<string>;
  /** A whole file (`-` is standard input). */
  readFile(path: string): Promise<string>;
}

/**
 * Exit codes of `ipvs-ts`, for scripts:
 * - 0 `OK`: done;
 * - 1 `FAILED`: the kernel refused an operation or it could not be completed (an apply rolled back, for instance);
 * - 2 `USAGE`: the command line is wrong (unknown command or option, missing argument);
 * - 3 `INVALID_INPUT`: an input file cannot be read, parsed or validated (nothing was changed);
 * - 4 `UNAVAILABLE`: IPVS cannot be reached: the ip_vs module is not loaded, no permission (CAP_NET_ADMIN), or no such network namespace.
 */
export const EXIT = {
  OK: 0,
  FAILED: 1,
  USAGE: 2,
  INVALID_INPUT: 3,
  UNAVAILABLE: 4,
} as const;

/** A wrong command line (exit code 2). */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** An input that cannot be used (exit code 3); the message names the file and what is wrong. */
export class InputError extends Error {
  override name = 'InputError';
}

/** IPVS or the namespace cannot be reached (exit code 4). */
export class UnavailableError extends Error {
  override name = 'UnavailableError';
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === 'string' ? Buffer.from(c) : (c as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

/** The process's own standard streams and file system. */
export const processIo: CliIo = {
  stdout: (t) => {
    process.stdout.write(t);
  },
  stderr: (t) => {
    process.stderr.write(t);
  },
  readStdin: () => readAll(process.stdin),
  readFile: async (path) => {
    if (path === '-') return readAll(process.stdin);
    try {
      // One read and one decode: the command does nothing else meanwhile, and
      // fs/promises reads a large state in chunks through a string decoder.
      // ASCII (what `ipvs-ts snapshot` writes) is the same text in Latin-1, and
      // that decode makes the string without the UTF-8 path's intermediate
      // copies: a cold apply of a large state read it in half the time
      // (docs/benchmarks.md, "Cold command line").
      const bytes = readFileSync(path);
      return isAscii(bytes) ? bytes.toString('latin1') : bytes.toString('utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new InputError(`${path}: cannot read (${code ?? String(e)})`);
    }
  },
};
