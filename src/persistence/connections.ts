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
  /** Bytes read per system call (default 65536). */
  chunkSize?: number;
  /** File to read instead of the kernel's (tests, or a saved copy); not combined with netns. */
  path?: string;
}

const PROTOCOL_NAMES: Record<string, string> = { TCP: 'tcp', UDP: 'udp', SCTP: 'sctp', IP: 'ip', ICMP: 'icmp', ICMPv6: 'icmpv6' };
const TEMPLATE_STATES = new Set(['NONE', 'ASSURED']);

function hex4(s: string): number {
  const v = parseInt(s, 16);
  if (!(s.length === 4 && v >= 0)) throw new Error(`bad port ${JSON.stringify(s)}`);
  return v;
}

/** An IPv4 address printed as `%08X` (host order) → dotted text. */
function ipv4Hex(s: string): string {
  if (s.length !== 8) throw new Error(`bad IPv4 field ${JSON.stringify(s)}`);
  const v = parseInt(s, 16);
  if (!(v >= 0)) throw new Error(`bad IPv4 field ${JSON.stringify(s)}`);
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

/** An IPv6 address printed as `%pI6` (eight 4-digit groups) → canonical text; also its first word. */
function ipv6Full(s: string): { text: string; firstWord: number } {
  const groups = s.split(':');
  if (groups.length !== 8) throw new Error(`bad IPv6 field ${JSON.stringify(s)}`);
  const bytes = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    const g = parseInt(groups[i]!, 16);
    if (!(g >= 0 && g <= 0xffff)) throw new Error(`bad IPv6 field ${JSON.stringify(s)}`);
    bytes[i * 2] = g >> 8;
    bytes[i * 2 + 1] = g & 255;
  }
  return { text: bytesToAddress(bytes, 'ipv6'), firstWord: ((bytes[0]! << 24) | (bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!) >>> 0 };
}

/** An address field of either family (IPv6 fields contain colons). */
function addressField(s: string): { text: string; family: Family; firstWord: number } {
  if (s.includes(':')) return { ...ipv6Full(s), family: 'ipv6' };
  return { text: ipv4Hex(s), family: 'ipv4', firstWord: parseInt(s, 16) >>> 0 };
}

/**
 * Parse one line of /proc/net/ip_vs_conn (not the header). Throws on a line
 * that does not have the kernel's format.
 */
export function parseConnectionLine(line: string): IpvsConnection {
  const f = line.trim().split(/\s+/);
  if (f.length < 9) throw new Error(`connection table line has ${f.length} fields, expected at least 9: ${JSON.stringify(line)}`);
  const protoName = f[0]!;
  const protocol = PROTOCOL_NAMES[protoName] ?? protoName.toLowerCase();
  const client = addressField(f[1]!);
  const virt = addressField(f[3]!);
  const dest = addressField(f[5]!);
  const clientPort = hex4(f[2]!);
  const state = f[7]!;
  const expires = Number(f[8]);
  if (!Number.isInteger(expires) || expires < 0) throw new Error(`bad expiry ${JSON.stringify(f[8])} in ${JSON.stringify(line)}`);
  const entry: IpvsConnection = {
    protocol,
    family: client.family,
    clientAddress: client.text,
    clientPort,
    virtualAddress: virt.text,
    virtualPort: hex4(f[4]!),
    destinationAddress: dest.text,
    destinationPort: hex4(f[6]!),
    state,
    expires,
    template: clientPort === 0 && TEMPLATE_STATES.has(state),
  };
  if (f.length >= 10) {
    entry.persistenceEngine = f[9]!;
    if (f.length >= 11) entry.persistenceData = f.slice(10).join(' ');
  }
  if (entry.template) {
    entry.service =
      protocol === 'ip'
        ? { fwmark: virt.firstWord, family: client.family }
        : { protocol: protocol as Protocol, address: virt.text, port: entry.virtualPort };
  }
  return entry;
}

function readChunk(fd: number, buf: Buffer): Promise<number> {
  return new Promise((resolve, reject) => read(fd, buf, 0, buf.length, null, (err, n) => (err ? reject(err) : resolve(n))));
}

/**
 * The connection table of this or another network namespace, entry by entry.
 * The file is opened once (in the namespace, on a short-lived native thread:
 * `/proc/thread-self/net/ip_vs_conn`) and read in chunks; lines are parsed
 * as they arrive.
 * @example
 * ```ts
 * for await (const c of readConnections({ netns: '/run/netns/lb' })) {
 *   if (c.template) console.log(`${c.clientAddress} pinned to ${c.destinationAddress}`);
 * }
 * ```
 * @throws Error with `code` ENOENT when IPVS is not loaded (no such file), or the namespace cannot be entered.
 */
export async function* readConnections(options: ReadConnectionsOptions = {}): AsyncGenerator<IpvsConnection, void, undefined> {
  const { netns, signal } = options;
  if (netns !== undefined && (typeof netns !== 'string' || netns.length === 0)) throw new InvalidArgumentError('netns', 'must be a non-empty path to a network namespace file');
  if (options.path !== undefined && netns !== undefined) throw new InvalidArgumentError('path', 'cannot be combined with netns');
  const chunkSize = options.chunkSize ?? 65536;
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
      let start = 0;
      for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
        const line = text.slice(start, nl);
        start = nl + 1;
        if (header) {
          header = false;
          if (line.startsWith('Pro ')) continue;
        }
        if (line.length > 0) yield parseConnectionLine(line);
      }
      rest = text.slice(start);
    }
    if (rest.trim().length > 0) yield parseConnectionLine(rest);
  } finally {
    close(fd, () => undefined);
  }
}
