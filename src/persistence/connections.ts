/**
 * The kernel's IPVS connection table, `/proc/net/ip_vs_conn`, read as typed
 * entries and streamed: the file is read in chunks and each line is yielded
 * as it is parsed, so a table of any size never sits in memory as text.
 *
 * Line format (net/netfilter/ipvs/ip_vs_conn.c, `ip_vs_conn_seq_show`, Linux
 * 6.1): protocol name, client address and port, virtual address and port,
 * destination address and port, state, seconds to expiry, then for entries of
 * a persistence engine its name and data. IPv4 addresses are 8 hex digits of
 * the host-order address, IPv6 ones `%pI6` (eight 4-digit groups); ports are 4
 * hex digits. Persistence templates are the entries with client port 0 in a
 * template state (`NONE` or `ASSURED`, ip_vs_proto.c); a fwmark service's
 * templates have protocol `IP` and the mark in place of the virtual address
 * (ip_vs_core.c, `ip_vs_sched_persist`).
 * @module
 */
import { close, read, readSync } from 'node:fs';
import { constants as fsConstants } from 'node:fs';
import { AbortError, InvalidArgumentError } from '../errors.js';
import type { Family } from '../ipvs/address.js';
import type { Protocol, ServiceKey } from '../ipvs/types.js';
import { openFile } from '../netlink/binding.js';
import { parseConnectionBytes } from './connection-line.js';

export { parseConnectionLine } from './connection-line.js';

/** One entry of the connection table. */
export interface IpvsConnection {
  /** `'tcp'`, `'udp'`, `'sctp'`, or `'ip'` (a fwmark service's template); other protocols as the kernel names them, lower-cased. */
  protocol: Protocol | 'ip' | string;
  /** Family of the client and virtual addresses (the service's). */
  family: Family;
  /** Client address; for a template, the client address under the service's persistence netmask. */
  clientAddress: string;
  /** Client port (0 for a template). */
  clientPort: number;
  /** Virtual address the client connected to (for a fwmark template, the mark written as an address). */
  virtualAddress: string;
  /** Virtual port (0 for the templates of fwmark, port-zero and FTP services). */
  virtualPort: number;
  /** Real server address. */
  destinationAddress: string;
  /** Real server port. */
  destinationPort: number;
  /** Protocol state as the kernel names it (`ESTABLISHED`, `TIME_WAIT`, `UDP`, ...; templates `NONE` or `ASSURED`). */
  state: string;
  /** Seconds until the entry expires. */
  expires: number;
  /** Persistence engine name (e.g. `'sip'`), for entries that carry engine data; else `undefined` (every entry has every property). */
  persistenceEngine?: string;
  /** Persistence engine data (the SIP Call-ID). */
  persistenceData?: string;
  /** Whether this is a persistence template rather than a connection. */
  template: boolean;
  /** For a template: the service it belongs to (a fwmark service as `{ fwmark, family }`); else `undefined`. */
  service?: ServiceKey;
}

/** Options of {@link readConnections}. */
export interface ReadConnectionsOptions {
  /** Network namespace file (`/run/netns/NAME`); the table of that namespace is read. Default: this process's. */
  netns?: string;
  /** Stops the reading; the iteration then throws an AbortError. */
  signal?: AbortSignal;
  /** Bytes read per system call (default 256 KiB: each read makes the kernel walk its table again up to where the last one stopped; a read of the kernel's file holds the event loop while the kernel writes it). */
  chunkSize?: number;
  /** File to read instead of the kernel's (tests, or a saved copy); not combined with netns. */
  path?: string;
}

function readChunk(fd: number, buf: Buffer, offset: number): Promise<number> {
  return new Promise((resolve, reject) => read(fd, buf, offset, buf.length - offset, null, (err, n) => (err ? reject(err) : resolve(n))));
}

/** Whether buf[a, b) holds only blanks. */
function blank(buf: Buffer, a: number, b: number): boolean {
  for (let i = a; i < b; i++) if (buf[i] !== 32 && buf[i] !== 9 && buf[i] !== 13) return false;
  return true;
}

/** `Pro ` at buf[a]: the header line. */
const isHeader = (buf: Buffer, a: number, b: number): boolean => b - a >= 4 && buf[a] === 80 && buf[a + 1] === 114 && buf[a + 2] === 111 && buf[a + 3] === 32;

/**
 * The connection table of this or another network namespace, one array of
 * entries per chunk read (a chunk is at most `chunkSize` bytes of text, so
 * about 3,900 IPv4 entries by default): the cheapest way through a large table.
 * The file is opened once (in the namespace, on a short-lived native thread
 * that joins it: `/proc/thread-self/net/ip_vs_conn`) and read in chunks; the
 * lines of each chunk are parsed from its bytes as it arrives. The kernel's
 * file is read with blocking reads (it never waits for a device), one chunk
 * per turn of the event loop.
 * @throws Error with `code` ENOENT when IPVS is not loaded (no such file), or the namespace cannot be entered.
 */
export async function* readConnectionBatches(options: ReadConnectionsOptions = {}): AsyncGenerator<IpvsConnection[], void, undefined> {
  const { netns, signal } = options;
  if (netns !== undefined && (typeof netns !== 'string' || netns.length === 0)) throw new InvalidArgumentError('netns', 'must be a non-empty path to a network namespace file');
  if (options.path !== undefined && netns !== undefined) throw new InvalidArgumentError('path', 'cannot be combined with netns');
  const chunkSize = options.chunkSize ?? 262144;
  if (!Number.isInteger(chunkSize) || chunkSize < 256 || chunkSize > 1 << 24) throw new InvalidArgumentError('chunkSize', `must be an integer from 256 to ${1 << 24}, got ${chunkSize}`);
  if (signal?.aborted) throw new AbortError('reading the connection table was aborted', { cause: signal.reason });
  const path = options.path ?? (netns === undefined ? '/proc/net/ip_vs_conn' : '/proc/thread-self/net/ip_vs_conn');
  // The kernel's file is read with blocking reads: a read of /proc never waits
  // for a device, it is the kernel writing text, and in a thread-pool read
  // that hand-off cost more than the text itself (docs/benchmarks.md).
  // Another file may sit on a slow disk and is read through the thread pool.
  const fromKernel = options.path === undefined || options.path.startsWith('/proc/');
  const fd = openFile(path, fsConstants.O_RDONLY, netns === undefined ? {} : { netns });
  try {
    // Lines are parsed from the bytes as read; the unfinished last line of a
    // chunk moves to the front and the next read appends to it.
    let buf = Buffer.allocUnsafe(chunkSize);
    let kept = 0;
    let header = true;
    let first = true;
    for (;;) {
      if (signal?.aborted) throw new AbortError('reading the connection table was aborted', { cause: signal.reason });
      if (kept === buf.length) {
        // A line longer than the chunk (engine data): room for it.
        const bigger = Buffer.allocUnsafe(buf.length * 2);
        buf.copy(bigger, 0, 0, kept);
        buf = bigger;
      }
      let n: number;
      if (fromKernel) {
        // Let other work run between chunks (the reads themselves do not wait for anything).
        if (!first) await new Promise((resolve) => setImmediate(resolve));
        n = readSync(fd, buf, kept, buf.length - kept, null);
      } else n = await readChunk(fd, buf, kept);
      first = false;
      if (n === 0) break;
      const end = kept + n;
      const batch: IpvsConnection[] = [];
      let start = 0;
      for (let i = 0; i < end; i++) {
        if (buf[i] !== 10) continue;
        if (header) {
          header = false;
          if (isHeader(buf, start, i)) {
            start = i + 1;
            continue;
          }
        }
        if (i > start) batch.push(parseConnectionBytes(buf, start, i));
        start = i + 1;
      }
      kept = end - start;
      if (kept > 0) buf.copy(buf, 0, start, end);
      if (batch.length > 0) yield batch;
    }
    if (kept > 0 && !blank(buf, 0, kept) && !(header && isHeader(buf, 0, kept))) yield [parseConnectionBytes(buf, 0, kept)];
  } finally {
    close(fd, () => undefined);
  }
}

/**
 * The connection table of this or another network namespace, entry by entry
 * (see {@link readConnectionBatches} for how it is read). Entries are parsed a
 * chunk at a time, so a table of any size is never held as text.
 * @example
 * ```ts
 * for await (const c of readConnections({ netns: '/run/netns/lb' })) {
 *   if (c.template) console.log(`${c.clientAddress} pinned to ${c.destinationAddress}`);
 * }
 * ```
 * @throws Error with `code` ENOENT when IPVS is not loaded (no such file), or the namespace cannot be entered.
 */
export function readConnections(options: ReadConnectionsOptions = {}): AsyncIterableIterator<IpvsConnection> {
  const batches = readConnectionBatches(options);
  let current: IpvsConnection[] = [];
  let i = 0;
  const done: IteratorReturnResult<undefined> = { done: true, value: undefined };
  const pull = async (): Promise<IteratorResult<IpvsConnection>> => {
    for (;;) {
      const r = await batches.next();
      if (r.done) return done;
      current = r.value;
      i = 0;
      if (current.length > 0) return { done: false, value: current[i++]! };
    }
  };
  const it: AsyncIterableIterator<IpvsConnection> = {
    [Symbol.asyncIterator]: () => it,
    // A promise per entry is unavoidable for `for await`; entries already parsed resolve at once.
    next: () => (i < current.length ? Promise.resolve({ done: false, value: current[i++]! }) : pull()),
    return: async () => {
      await batches.return(undefined);
      current = [];
      return done;
    },
  };
  return it;
}
