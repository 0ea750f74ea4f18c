/**
 * The table as `ipvsadm -Ln` prints it, byte for byte: the default view and
 * the `--stats`, `--rate`, `--thresholds`, `--persistent-conn` and
 * `--tun-info` views, with `--exact` and `--nosort`. Pure: a table in, text
 * out. Column widths, headers and number formatting follow ipvsadm 1.31
 * (`print_title`, `print_service_entry`, `print_largenum`, `fwd_tun_info`).
 * @module
 */
import { formatAddressPort } from './address.js';
import { persistenceMaskText, schedFlagsText, sortByService, sortDestinations } from './rules.js';
import * as C from './constants.js';
import { TextSink } from './text-sink.js';
import type { Destination, ForwardMethod, Info, Service } from './types.js';

/** Which columns `formatListing` prints (ipvsadm's list options). */
export type ListingView = 'default' | 'stats' | 'rate' | 'thresholds' | 'persistent-conn' | 'tun-info';

/** Options of {@link formatListing}. */
export interface ListingOptions {
  /** Columns, as ipvsadm's `--stats`, `--rate`, `--thresholds`, `--persistent-conn`, `--tun-info` (default `'default'`). */
  view?: ListingView;
  /** Whole numbers instead of K/M/G/T suffixes (ipvsadm `--exact`). */
  exact?: boolean;
  /** Sort services and destinations as ipvsadm does (default true; `false` is ipvsadm `--nosort`: the kernel's order). */
  sort?: boolean;
}

/** One service with its destinations, statistics included (what `Ipvs.table()` returns). */
export interface ListingEntry {
  service: Service;
  destinations: Destination[];
}

/** Runs of spaces by length, for padding: one string each instead of a `repeat()` per column of every line. */
const SPACES: string[] = [];
for (let i = 0; i <= 64; i++) SPACES.push(' '.repeat(i));
const spaces = (n: number): string => SPACES[n] ?? ' '.repeat(n);

// C's "%-Ns" / "%Ns": pad to a minimum width, never truncate.
const left = (s: string, w: number): string => (s.length >= w ? s : s + spaces(w - s.length));
const right = (s: string, w: number): string => (s.length >= w ? s : spaces(w - s.length) + s);

/** ipvsadm's `print_largenum`: 9 columns, K/M/G/T above 10^8 unless exact. */
export function formatLargeNumber(value: bigint | number, exact = false): string {
  const i = typeof value === 'bigint' ? value : BigInt(Math.max(0, Math.trunc(value)));
  if (exact) {
    const t = i.toString();
    return right(t, t.length <= 8 ? 9 : t.length + 1);
  }
  if (i < 100000000n) return right(i.toString(), 9);
  if (i < 1000000000n) return `${right((i / 1000n).toString(), 8)}K`;
  if (i < 100000000000n) return `${right((i / 1000000n).toString(), 8)}M`;
  if (i < 100000000000000n) return `${right((i / 1000000000n).toString(), 8)}G`;
  return `${right((i / 1000000000000n).toString(), 8)}T`;
}

const FORWARD_NAME: Record<ForwardMethod, string> = {
  masq: 'Masq',
  local: 'Local',
  tunnel: 'Tunnel',
  route: 'Route',
  bypass: '(null)', // ipvsadm passes NULL to printf, which glibc prints so
};

const TUNNEL_CHECKSUM: Record<string, string> = { nocsum: '-c', csum: '+c', remcsum: 'r+c' };

/** ipvsadm's `fwd_tun_info`: `ipip`, `gue:PORT:-c`, `gre:+c`, or `n/a` for other methods. */
function tunnelInfo(d: Destination): string {
  if (d.forward !== 'tunnel') return 'n/a';
  const t = d.tunnel ?? { type: 'ipip' as const, checksum: 'nocsum' as const };
  if (t.type === 'gue') return `gue:${t.port ?? 0}:${TUNNEL_CHECKSUM[t.checksum]}`.slice(0, 15);
  if (t.type === 'gre') return `gre:${TUNNEL_CHECKSUM[t.checksum]}`;
  return 'ipip';
}

const PROTOCOL_NAME = { tcp: 'TCP', udp: 'UDP', sctp: 'SCTP' } as const;

function serviceName(s: Service): string {
  if ('fwmark' in s) return s.family === 'ipv6' ? `FWM  ${s.fwmark | 0} IPv6` : `FWM  ${s.fwmark | 0}`;
  const name = `${left(PROTOCOL_NAME[s.protocol], 4)} ${formatAddressPort(s.address, s.family, s.port)}`;
  return s.family === 'ipv6' ? name : name.slice(0, 33);
}

function title(view: ListingView): string {
  const head = left('Prot LocalAddress:Port', 33);
  switch (view) {
    case 'stats':
      return `${head} ${['Conns', 'InPkts', 'OutPkts', 'InBytes', 'OutBytes'].map((c) => right(c, 8)).join(' ')}\n  -> RemoteAddress:Port\n`;
    case 'rate':
      return `${head} ${['CPS', 'InPPS', 'OutPPS', 'InBPS', 'OutBPS'].map((c) => right(c, 8)).join(' ')}\n  -> RemoteAddress:Port\n`;
    case 'thresholds':
      return `${head} ${['Uthreshold', 'Lthreshold', 'ActiveConn', 'InActConn'].map((c) => left(c, 10)).join(' ')}\n  -> RemoteAddress:Port\n`;
    case 'persistent-conn':
      return `${head} ${left('Weight', 9)} ${left('PersistConn', 11)} ${left('ActiveConn', 10)} ${left('InActConn', 10)}\n  -> RemoteAddress:Port\n`;
    case 'tun-info':
      return 'Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn\n';
    default:
      return 'Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n';
  }
}

function serviceLine(s: Service, view: ListingView, exact: boolean): string {
  const name = serviceName(s);
  if (view === 'stats') {
    const st = s.stats;
    return left(name, 33) + [st.connections, st.inPackets, st.outPackets, st.inBytes, st.outBytes].map((v) => formatLargeNumber(v, exact)).join('');
  }
  if (view === 'rate') {
    const st = s.stats;
    return left(name, 33) + [st.cps, st.inPps, st.outPps, st.inBps, st.outBps].map((v) => formatLargeNumber(v, exact)).join('');
  }
  let line = `${name} ${s.scheduler}`;
  if (s.flags & (C.IP_VS_SVC_F_SCHED1 | C.IP_VS_SVC_F_SCHED2 | C.IP_VS_SVC_F_SCHED3)) line += ` (${schedFlagsText(s)})`;
  if (s.persistence) {
    line += ` persistent ${s.persistence.timeout}`;
    const mask = persistenceMaskText(s);
    if (mask) line += ` mask ${mask}`;
    if (s.persistenceEngine) line += ` pe ${s.persistenceEngine}`;
  }
  if (s.flags & C.IP_VS_SVC_F_ONEPACKET) line += ' ops';
  return line;
}

const LF = 0x0a;
const SP = 0x20;

/** One destination's line, written into `out` (the hot path of a large listing: no string in between for the default view). */
function writeDestinationLine(out: TextSink, d: Destination, view: ListingView, exact: boolean): void {
  out.text('  -> ');
  // formatAddressPort, written in place; IPv4 cut to 28 bytes as ipvsadm's %-28.28s.
  const start = out.length;
  if (d.family === 'ipv6') out.byte(0x5b).text(d.address).byte(0x5d);
  else out.text(d.address);
  out.byte(0x3a).int(d.port);
  if (d.family !== 'ipv6') out.cutTo(start, 28);
  out.padTo(start, 28);
  const st = d.stats;
  switch (view) {
    case 'stats':
      for (const v of [st.connections, st.inPackets, st.outPackets, st.inBytes, st.outBytes]) out.text(formatLargeNumber(v, exact));
      break;
    case 'rate':
      out.byte(SP).right(String(Math.trunc(st.cps)), 8).byte(SP).right(String(Math.trunc(st.inPps)), 8).byte(SP).right(String(Math.trunc(st.outPps)), 8);
      out.text(formatLargeNumber(st.inBps, exact)).text(formatLargeNumber(st.outBps, exact));
      break;
    case 'thresholds':
      out.byte(SP).leftInt(d.upperThreshold >>> 0, 10).byte(SP).leftInt(d.lowerThreshold >>> 0, 10);
      out.byte(SP).leftInt(d.activeConnections >>> 0, 10).byte(SP).leftInt(d.inactiveConnections >>> 0, 10);
      break;
    case 'persistent-conn':
      out.byte(SP).leftInt(d.weight >>> 0, 9).byte(SP).leftInt(d.persistentConnections >>> 0, 11);
      out.byte(SP).leftInt(d.activeConnections >>> 0, 10).byte(SP).leftInt(d.inactiveConnections >>> 0, 10);
      break;
    case 'tun-info': {
      out.byte(SP);
      const f = out.length;
      out.text(FORWARD_NAME[d.forward]).padTo(f, 7).byte(SP);
      const t = out.length;
      out.text(tunnelInfo(d)).padTo(t, 13).byte(SP);
      out.leftInt(d.weight | 0, 6).byte(SP).leftInt(d.activeConnections >>> 0, 10).byte(SP).leftInt(d.inactiveConnections >>> 0, 10);
      break;
    }
    default: {
      out.byte(SP);
      const f = out.length;
      out.text(FORWARD_NAME[d.forward]).padTo(f, 7).byte(SP);
      out.leftInt(d.weight | 0, 6).byte(SP).leftInt(d.activeConnections >>> 0, 10).byte(SP).leftInt(d.inactiveConnections >>> 0, 10);
    }
  }
  out.byte(LF);
}

/** The listing written into a {@link TextSink} sized for it. */
function writeListing(info: Info, table: readonly ListingEntry[], options: ListingOptions): TextSink {
  const view = options.view ?? 'default';
  const exact = options.exact ?? false;
  const sort = options.sort ?? true;
  let lines = 4;
  for (const e of table) lines += 1 + e.destinations.length;
  // Lines of the default view are 77 bytes; the stats views' longer ones grow the buffer.
  const out = new TextSink(lines * 80);
  out.text(`IP Virtual Server version ${info.version} (size=${info.connTableSize})\n`).text(title(view));
  const entries = sort ? sortByService(table) : table;
  // Indexed loops: a for-of makes an iterator result per line in a cold process.
  for (let i = 0; i < entries.length; i++) {
    const { service, destinations } = entries[i]!;
    out.text(serviceLine(service, view, exact)).byte(LF);
    const ds = sort ? sortDestinations(destinations) : destinations;
    for (let j = 0; j < ds.length; j++) writeDestinationLine(out, ds[j]!, view, exact);
  }
  return out;
}

/**
 * The table as `ipvsadm -Ln` prints it (with the view's columns), including
 * the `IP Virtual Server version ...` line. Byte-identical to ipvsadm 1.31
 * for the same table.
 * @example
 * ```ts
 * const [info, table] = await Promise.all([ipvs.info(), ipvs.table()]);
 * process.stdout.write(formatListing(info, table, { view: 'stats' }));
 * ```
 */
export function formatListing(info: Info, table: readonly ListingEntry[], options: ListingOptions = {}): string {
  return writeListing(info, table, options).toString();
}

/**
 * {@link formatListing}'s text as UTF-8 bytes, written without building the
 * string (what `ipvs-ts list` writes to standard output).
 */
export function formatListingBytes(info: Info, table: readonly ListingEntry[], options: ListingOptions = {}): Buffer {
  return writeListing(info, table, options).bytes();
}
