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
import { close, read } from 'node:fs';
import { constants as fsConstants } from 'node:fs';
import { AbortError, InvalidArgumentError } from '../errors.js';
import { bytesToAddress, type Family } from '../ipvs/address.js';
import type { Protocol, ServiceKey } from '../ipvs/types.js';
import { openFile } from '../netlink/binding.js';

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
  /** Persistence engine name (e.g. `'sip'`), for entries that carry engine data. */
  persistenceEngine?: string;
  /** Persistence engine data (the SIP Call-ID). */
  persistenceData?: string;
  /** Whether this is a persistence template rather than a connection. */
  template: boolean;
  /** For a template: the service it belongs to (a fwmark service as `{ fwmark, family }`). */
  service?: ServiceKey;
}

/** Options of {@link readConnections}. */
export interface ReadConnectionsOptions {
  /** Network namespace file (`/run/netns/NAME`); the table of that namespace is read. Default: this process's. */
  netns?: string;
  /** Stops the reading; the iteration then throws an AbortError. */
  signal?: AbortSignal;
  /** Bytes read per system call (default 256 KiB: each read makes the kernel walk its table again up to where the last one stopped). */
  chunkSize?: number;
  /** File to read instead of the kernel's (tests, or a saved copy); not combined with netns. */
  path?: string;
}

const PROTOCOL_NAMES: Record<string, string> = { TCP: 'tcp', UDP: 'udp', SCTP: 'sctp', IP: 'ip', ICMP: 'icmp', ICMPv6: 'icmpv6' };
const TEMPLATE_STATES = new Set(['NONE', 'ASSURED']);

const DECIMAL = Array.from({ length: 256 }, (_, i) => String(i));

/** Value of a hex digit character code, or -1. */
function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

/** Field boundaries of one line: starts and ends of the whitespace-separated fields. */
const starts = new Int32Array(64);
const ends = new Int32Array(64);

function bad(line: string, what: string): never {
  throw new Error(`connection table line: ${what}: ${JSON.stringify(line)}`);
}

/** A hex number in line[a, b), at most 8 digits. */
function hexAt(line: string, a: number, b: number): number {
  if (b - a > 8 || b === a) bad(line, 'bad hex field');
  let v = 0;
  for (let i = a; i < b; i++) {
    const d = hexDigit(line.charCodeAt(i));
    if (d < 0) bad(line, 'bad hex field');
    v = v * 16 + d;
  }
  return v;
}

/** An address field in line[a, b): 8 hex digits (IPv4) or eight 4-digit groups (IPv6). */
function addressAt(line: string, a: number, b: number, out: { text: string; ipv6: boolean; firstWord: number }): void {
  if (b - a === 8) {
    const v = hexAt(line, a, b);
    out.text = `${DECIMAL[v >>> 24]}.${DECIMAL[(v >>> 16) & 255]}.${DECIMAL[(v >>> 8) & 255]}.${DECIMAL[v & 255]}`;
    out.ipv6 = false;
    out.firstWord = v;
    return;
  }
  if (b - a !== 39) bad(line, 'bad address field');
  const bytes = new Uint8Array(16);
  for (let g = 0; g < 8; g++) {
    const p = a + g * 5;
    if (g < 7 && line.charCodeAt(p + 4) !== 58) bad(line, 'bad IPv6 address field');
    const w = hexAt(line, p, p + 4);
    bytes[g * 2] = w >> 8;
    bytes[g * 2 + 1] = w & 255;
  }
  out.text = bytesToAddress(bytes, 'ipv6');
  out.ipv6 = true;
  out.firstWord = ((bytes[0]! << 24) | (bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!) >>> 0;
}

const client = { text: '', ipv6: false, firstWord: 0 };
const virt = { text: '', ipv6: false, firstWord: 0 };
const dest = { text: '', ipv6: false, firstWord: 0 };

/**
 * Parse one line of /proc/net/ip_vs_conn (not the header). Throws on a line
 * that does not have the kernel's format.
 */
export function parseConnectionLine(line: string): IpvsConnection {
  // Split on spaces by hand: this runs once per entry of tables of any size.
  let n = 0;
  const len = line.length;
  for (let i = 0; i < len && n < 64; ) {
    while (i < len && (line.charCodeAt(i) === 32 || line.charCodeAt(i) === 9)) i++;
    if (i >= len) break;
    starts[n] = i;
    while (i < len && line.charCodeAt(i) !== 32 && line.charCodeAt(i) !== 9) i++;
    ends[n++] = i;
  }
  if (n < 9) bad(line, `${n} fields, expected at least 9`);
  const protoName = line.slice(starts[0]!, ends[0]!);
  const protocol = PROTOCOL_NAMES[protoName] ?? protoName.toLowerCase();
  addressAt(line, starts[1]!, ends[1]!, client);
  addressAt(line, starts[3]!, ends[3]!, virt);
  addressAt(line, starts[5]!, ends[5]!, dest);
  const port = (k: number) => {
    if (ends[k]! - starts[k]! !== 4) bad(line, 'bad port field');
    return hexAt(line, starts[k]!, ends[k]!);
  };
  const clientPort = port(2);
  const state = line.slice(starts[7]!, ends[7]!);
  let expires = 0;
  for (let i = starts[8]!; i < ends[8]!; i++) {
    const c = line.charCodeAt(i) - 48;
    if (c < 0 || c > 9) bad(line, 'bad expiry');
    expires = expires * 10 + c;
  }
  const family: Family = client.ipv6 ? 'ipv6' : 'ipv4';
  const entry: IpvsConnection = {
    protocol,
    family,
    clientAddress: client.text,
    clientPort,
    virtualAddress: virt.text,
    virtualPort: port(4),
    destinationAddress: dest.text,
    destinationPort: port(6),
    state,
    expires,
    template: clientPort === 0 && TEMPLATE_STATES.has(state),
  };
  if (n >= 10) {
    entry.persistenceEngine = line.slice(starts[9]!, ends[9]!);
    if (n >= 11) entry.persistenceData = line.slice(starts[10]!).trimEnd();
  }
  if (entry.template) {
    entry.service =
      protocol === 'ip'
        ? { fwmark: virt.firstWord, family }
        : { protocol: protocol as Protocol, address: virt.text, port: entry.virtualPort };
  }
  return entry;
}

function readChunk(fd: number, buf: Buffer): Promise<number> {
  return new Promise((resolve, reject) => read(fd, buf, 0, buf.length, null, (err, n) => (err ? reject(err) : resolve(n))));
}

/**
 * The connection table of this or another network namespace, one array of
 * entries per chunk read (a chunk is at most `chunkSize` bytes of text, so
 * about 2,500 entries by default): the cheapest way through a large table.
 * The file is opened once (in the namespace, on a short-lived native thread
 * that joins it: `/proc/thread-self/net/ip_vs_conn`) and read in chunks; the
 * lines of each chunk are parsed as it arrives.
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
  const fd = openFile(path, fsConstants.O_RDONLY, netns === undefined ? {} : { netns });
  try {
    const buf = Buffer.allocUnsafe(chunkSize);
    let rest = '';
    let header = true;
    for (;;) {
      if (signal?.aborted) throw new AbortError('reading the connection table was aborted', { cause: signal.reason });
      const n = await readChunk(fd, buf);
      if (n === 0) break;
      const text = rest + buf.toString('latin1', 0, n);
      const batch: IpvsConnection[] = [];
      let start = 0;
      for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
        const line = text.slice(start, nl);
        start = nl + 1;
        if (header) {
          header = false;
          if (line.startsWith('Pro ')) continue;
        }
        if (line.length > 0) batch.push(parseConnectionLine(line));
      }
      rest = text.slice(start);
      if (batch.length > 0) yield batch;
    }
    if (rest.trim().length > 0) yield [parseConnectionLine(rest)];
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
