/**
 * ipvsadm's rules text: formatting the table exactly as `ipvsadm -Sn` prints
 * it, and parsing what `ipvsadm -R` reads. Formats and sort order follow
 * ipvsadm 1.31 (`print_service_entry`, `ipvs_cmp_services`, `ipvs_cmp_dests`).
 * @module
 */
import { InvalidArgumentError } from '../errors.js';
import { addressFamily, addressToBytes, formatAddressPort, type Family } from './address.js';
import * as C from './constants.js';
import { prefixMask } from './validate.js';
import type {
  DaemonSpec,
  DaemonState,
  Destination,
  DestinationSpec,
  Protocol,
  SchedulerFlag,
  Service,
  ServiceKey,
  ServiceSpec,
  Timeouts,
} from './types.js';

// ---------------------------------------------------------------- formatting

/** C's `int r = a - b` on unsigned 32-bit values: the difference wraps. */
const wrap32 = (a: number, b: number): number => (a - b) | 0;

/**
 * A dotted-quad IPv4 address as one unsigned 32-bit word, without the
 * allocations of {@link addressToBytes}: sorting a large table compares
 * addresses tens of thousands of times, and in a fresh process the garbage
 * those comparisons left was a visible part of a cold `ipvs-ts list`.
 */
function ipv4Word(address: string): number {
  let word = 0;
  let part = 0;
  for (let i = 0; i < address.length; i++) {
    const c = address.charCodeAt(i);
    if (c === 46 /* . */) {
      word = (word << 8) | part;
      part = 0;
    } else part = part * 10 + (c - 48);
  }
  return ((word << 8) | part) >>> 0;
}

function addressWords(address: string, family: Family): number[] {
  const b = addressToBytes(address, family);
  const n = family === 'ipv4' ? 1 : 4;
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(((b[i * 4]! << 24) | (b[i * 4 + 1]! << 16) | (b[i * 4 + 2]! << 8) | b[i * 4 + 3]!) >>> 0);
  return out;
}

function compareAddresses(a: string, b: string, family: Family): number {
  if (family === 'ipv4') return wrap32(ipv4Word(a), ipv4Word(b));
  const wa = addressWords(a, family);
  const wb = addressWords(b, family);
  let r = 0;
  for (let i = 0; !r && i < wa.length; i++) r = wrap32(wa[i]!, wb[i]!);
  return r;
}

const PROTO_NUM: Record<Protocol, number> = { tcp: C.IPPROTO_TCP, udp: C.IPPROTO_UDP, sctp: C.IPPROTO_SCTP };
const afOf = (f: Family): number => (f === 'ipv4' ? C.AF_INET : C.AF_INET6);

/** ipvsadm's `ipvs_cmp_services`: fwmark, family, protocol, address, port (C subtraction semantics). */
export function compareServices(a: Service, b: Service): number {
  const fa = 'fwmark' in a ? a.fwmark : 0;
  const fb = 'fwmark' in b ? b.fwmark : 0;
  let r = wrap32(fa, fb);
  if (r) return r;
  r = afOf(a.family) - afOf(b.family);
  if (r) return r;
  const pa = 'protocol' in a ? PROTO_NUM[a.protocol] : 0;
  const pb = 'protocol' in b ? PROTO_NUM[b.protocol] : 0;
  r = pa - pb;
  if (r) return r;
  if ('address' in a && 'address' in b) r = compareAddresses(a.address, b.address, a.family);
  if (r) return r;
  return ('port' in a ? a.port : 0) - ('port' in b ? b.port : 0);
}

/** ipvsadm's `ipvs_cmp_dests`: address (in the first one's family), then port. */
export function compareDestinations(a: Destination, b: Destination): number {
  // ipvsadm compares by the first destination's family only.
  let r = 0;
  if (a.family === 'ipv6') {
    const wa = addressWords(a.address, 'ipv6');
    const wb = b.family === 'ipv6' ? addressWords(b.address, 'ipv6') : [addressWords(b.address, 'ipv4')[0]!, 0, 0, 0];
    for (let i = 0; !r && i < 4; i++) r = wrap32(wa[i]!, wb[i]!);
  } else {
    r = wrap32(ipv4Word(a.address), b.family === 'ipv4' ? ipv4Word(b.address) : addressWords(b.address, b.family)[0]!);
  }
  if (r) return r;
  return a.port - b.port;
}

/** A service's fields of {@link compareServices}, worked out once (addresses as 32-bit words). */
interface ServiceSortKey<T> {
  item: T;
  fwmark: number;
  af: number;
  protocol: number;
  /** Address words (one for IPv4, four for IPv6); undefined for a fwmark service. */
  words: number[] | undefined;
  port: number;
}

/** {@link compareServices} on keys: the same result for the same two services. */
function compareServiceKeys<T>(a: ServiceSortKey<T>, b: ServiceSortKey<T>): number {
  let r = wrap32(a.fwmark, b.fwmark);
  if (r) return r;
  r = a.af - b.af;
  if (r) return r;
  r = a.protocol - b.protocol;
  if (r) return r;
  if (a.words !== undefined && b.words !== undefined) {
    // Same family here (the af decided otherwise): compareAddresses in a's family.
    for (let i = 0; !r && i < a.words.length; i++) r = wrap32(a.words[i]!, b.words[i]!);
    if (r) return r;
  }
  return a.port - b.port;
}

/**
 * Entries sorted by their services as ipvsadm sorts them: {@link glibcMergeSort}
 * with {@link compareServices}, the same comparisons in the same order, but
 * each service's address parsed once instead of at every comparison (a large
 * table's sort then no longer shows in a cold `ipvs-ts list`).
 */
export function sortByService<T extends { service: Service }>(entries: readonly T[]): T[] {
  const keys = entries.map((item): ServiceSortKey<T> => {
    const s = item.service;
    const address = 'address' in s;
    return {
      item,
      fwmark: 'fwmark' in s ? s.fwmark : 0,
      af: afOf(s.family),
      protocol: 'protocol' in s ? PROTO_NUM[s.protocol] : 0,
      words: address ? (s.family === 'ipv4' ? [ipv4Word(s.address)] : addressWords(s.address, s.family)) : undefined,
      port: 'port' in s ? s.port : 0,
    };
  });
  const sorted = glibcMergeSort(keys, compareServiceKeys);
  const out = new Array<T>(sorted.length);
  for (let i = 0; i < sorted.length; i++) out[i] = sorted[i]!.item;
  return out;
}

/** A destination's fields of {@link compareDestinations}: four address words (IPv4: the address and three zeros). */
interface DestinationSortKey {
  item: Destination;
  ipv6: boolean;
  w0: number;
  w1: number;
  w2: number;
  w3: number;
  port: number;
}

/** {@link compareDestinations} on keys: the same result for the same two destinations. */
function compareDestinationKeys(a: DestinationSortKey, b: DestinationSortKey): number {
  let r = wrap32(a.w0, b.w0);
  if (a.ipv6) {
    if (!r) r = wrap32(a.w1, b.w1);
    if (!r) r = wrap32(a.w2, b.w2);
    if (!r) r = wrap32(a.w3, b.w3);
  }
  if (r) return r;
  return a.port - b.port;
}

/**
 * Destinations sorted as ipvsadm sorts them: {@link glibcMergeSort} with
 * {@link compareDestinations}, each address parsed once (see {@link sortByService}).
 */
export function sortDestinations(destinations: readonly Destination[]): Destination[] {
  if (destinations.length < 2) return destinations.slice();
  const keys = destinations.map((item): DestinationSortKey => {
    if (item.family === 'ipv4') return { item, ipv6: false, w0: ipv4Word(item.address), w1: 0, w2: 0, w3: 0, port: item.port };
    const w = addressWords(item.address, item.family);
    return { item, ipv6: true, w0: w[0]!, w1: w[1]!, w2: w[2]!, w3: w[3]!, port: item.port };
  });
  const sorted = glibcMergeSort(keys, compareDestinationKeys);
  const out = new Array<Destination>(sorted.length);
  for (let i = 0; i < sorted.length; i++) out[i] = sorted[i]!.item;
  return out;
}

/**
 * glibc's qsort on these inputs is a top-down merge sort (msort). The ipvsadm
 * comparators are not transitive when addresses differ by 2^31 or more, so the
 * exact merge order matters for byte-identical output.
 */
export function glibcMergeSort<T>(items: T[], cmp: (a: T, b: T) => number): T[] {
  const out = items.slice();
  if (out.length > 1) mergeSortRange(out, new Array<T>(out.length), 0, out.length, cmp);
  return out;
}

/**
 * Sort `a[lo, hi)` in place as glibc's msort does (first half `n >> 1`
 * elements, ties to the left), merging through `tmp`: the same comparisons in
 * the same order as slicing and concatenating, without an array per call.
 */
function mergeSortRange<T>(a: T[], tmp: T[], lo: number, hi: number, cmp: (a: T, b: T) => number): void {
  const n = hi - lo;
  if (n <= 1) return;
  const mid = lo + (n >> 1);
  mergeSortRange(a, tmp, lo, mid, cmp);
  mergeSortRange(a, tmp, mid, hi, cmp);
  let i = lo;
  let j = mid;
  let k = lo;
  while (i < mid && j < hi) tmp[k++] = cmp(a[i]!, a[j]!) <= 0 ? a[i++]! : a[j++]!;
  while (i < mid) tmp[k++] = a[i++]!;
  while (j < hi) tmp[k++] = a[j++]!;
  for (k = lo; k < hi; k++) a[k] = tmp[k]!;
}

const SERVICE_OPTION: Record<Protocol, string> = { tcp: '-t', udp: '-u', sctp: '--sctp-service' };

function serviceName(s: Service): string {
  // ipvsadm prints the mark with %d: marks of 2^31 and above come out negative.
  if ('fwmark' in s) return s.family === 'ipv6' ? `-f ${s.fwmark | 0} -6` : `-f ${s.fwmark | 0}`;
  return `${SERVICE_OPTION[s.protocol]} ${formatAddressPort(s.address, s.family, s.port)}`;
}

/** Scheduler flags as ipvsadm names them (`sh-fallback,sh-port`, `flag-1`...), comma-separated. */
export function schedFlagsText(s: Service): string {
  const f = s.flags;
  const names: string[] = [];
  if (s.scheduler === 'sh' || s.scheduler === 'mh') {
    if (f & C.IP_VS_SVC_F_SCHED1) names.push(`${s.scheduler}-fallback`);
    if (f & C.IP_VS_SVC_F_SCHED2) names.push(`${s.scheduler}-port`);
  } else {
    if (f & C.IP_VS_SVC_F_SCHED1) names.push('flag-1');
    if (f & C.IP_VS_SVC_F_SCHED2) names.push('flag-2');
    if (f & C.IP_VS_SVC_F_SCHED3) names.push('flag-3');
  }
  return names.join(',');
}

/**
 * A persistent service's mask as ipvsadm prints it (dotted for IPv4, a
 * prefix length for IPv6), or `''` for the whole address (/32, /128).
 */
export function persistenceMaskText(s: Service): string {
  const m = s.persistence!.netmask;
  if (s.family === 'ipv4') {
    if (typeof m === 'string') return m === '255.255.255.255' ? '' : m;
    if (m === 32) return '';
    const v = prefixMask(m);
    return `${v >>> 24}.${(v >>> 16) & 0xff}.${(v >>> 8) & 0xff}.${v & 0xff}`;
  }
  return m === 128 ? '' : `${m}`;
}

function netmaskText(s: Service): string {
  const m = persistenceMaskText(s);
  return m ? ` -M ${m}` : '';
}

const FORWARD_SWITCH: Record<Destination['forward'], string> = { masq: '-m', tunnel: '-i', local: '-g', route: '-g', bypass: '(null)' };

function destinationLine(svc: string, d: Destination): string {
  const head = `-a ${svc} -r ${formatAddressPort(d.address, d.family, d.port)} ${FORWARD_SWITCH[d.forward]} -w ${d.weight}`;
  if (d.forward !== 'tunnel') return head;
  const t = d.tunnel ?? { type: 'ipip', checksum: 'nocsum' };
  const cs = `--tun-${t.checksum}`;
  if (t.type === 'gre') return `${head} --tun-type gre ${cs}`;
  if (t.type === 'gue') return `${head} --tun-type gue --tun-port ${t.port ?? 0} ${cs}`;
  return `${head} --tun-type ipip`;
}

/** Format services and their destinations as `ipvsadm -Sn` does (numeric, sorted). */
export function formatRules(table: { service: Service; destinations: Destination[] }[]): string {
  let out = '';
  const sorted = sortByService(table);
  for (const { service: s, destinations } of sorted) {
    const name = serviceName(s);
    let line = `-A ${name} -s ${s.scheduler}`;
    if (s.persistence) line += ` -p ${s.persistence.timeout}${netmaskText(s)}`;
    if (s.persistenceEngine) line += ` --pe ${s.persistenceEngine}`;
    if (s.onePacket) line += ' -o';
    if (s.flags & (C.IP_VS_SVC_F_SCHED1 | C.IP_VS_SVC_F_SCHED2 | C.IP_VS_SVC_F_SCHED3)) line += ` -b ${schedFlagsText(s)}`;
    out += `${line}\n`;
    for (const d of sortDestinations(destinations)) out += `${destinationLine(name, d)}\n`;
  }
  return out;
}

// ---------------------------------------------------------------- parsing

/** One command from rules text. */
export type RuleCommand = { line: number } & (
  | { op: 'add-service' | 'edit-service'; service: ServiceSpec }
  | { op: 'delete-service'; service: ServiceKey }
  | { op: 'add-destination' | 'edit-destination'; service: ServiceKey; destination: DestinationSpec }
  | { op: 'delete-destination'; service: ServiceKey; destination: { address: string; port?: number } }
  | { op: 'flush' }
  | { op: 'zero'; service?: ServiceKey }
  | { op: 'set-timeouts'; timeouts: Partial<Timeouts> }
  | { op: 'start-daemon'; daemon: DaemonSpec }
  | { op: 'stop-daemon'; state: DaemonState }
);

const COMMANDS: Record<string, RuleCommand['op']> = {
  '-A': 'add-service', '--add-service': 'add-service',
  '-E': 'edit-service', '--edit-service': 'edit-service',
  '-D': 'delete-service', '--delete-service': 'delete-service',
  '-a': 'add-destination', '--add-server': 'add-destination',
  '-e': 'edit-destination', '--edit-server': 'edit-destination',
  '-d': 'delete-destination', '--delete-server': 'delete-destination',
  '-C': 'flush', '--clear': 'flush',
  '-Z': 'zero', '--zero': 'zero',
  '--set': 'set-timeouts',
  '--start-daemon': 'start-daemon',
  '--stop-daemon': 'stop-daemon',
};

/** Split `host:port` / `[v6]:port` / `host`. */
function splitHostPort(text: string, field: string): { address: string; port?: number } {
  let host = text;
  let port: string | undefined;
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (m) {
    host = m[1]!;
    port = m[2];
  } else if (text.split(':').length === 2) {
    [host, port] = text.split(':') as [string, string];
  }
  if (!addressFamily(host)) throw new InvalidArgumentError(field, `${JSON.stringify(text)} is not a numeric address[:port] (names are not resolved)`);
  if (port === undefined) return { address: host };
  if (!/^\d+$/.test(port)) throw new InvalidArgumentError(field, `port ${JSON.stringify(port)} is not a number`);
  return { address: host, port: Number(port) };
}

function intArg(v: string | undefined, field: string): number {
  if (v === undefined || !/^\d+$/.test(v)) throw new InvalidArgumentError(field, `expects a number, got ${JSON.stringify(v ?? '')}`);
  return Number(v);
}

/** Parse one line's words into a command (throws InvalidArgumentError naming the line and option). */
function parseLine(words: string[], line: number): RuleCommand {
  const where = `line ${line}`;
  let op: RuleCommand['op'] | undefined;
  let svcKey: ServiceKey | undefined;
  let ipv6 = false;
  let fwmark: number | undefined;
  const svc: Partial<ServiceSpec> & { scheduler?: string } = {};
  const dest: Partial<DestinationSpec> & { address?: string } = {};
  let tunnelType: 'ipip' | 'gue' | 'gre' | undefined;
  let tunnelPort: number | undefined;
  let checksum: 'nocsum' | 'csum' | 'remcsum' | undefined;
  const timeouts: Partial<Timeouts> = {};
  let daemonState: DaemonState | undefined;
  let netmask: number | string | undefined;
  const daemon: Partial<DaemonSpec> = {};
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    const next = (): string => {
      const v = words[++i];
      if (v === undefined) throw new InvalidArgumentError(`${where} ${w}`, 'is missing its value');
      return v;
    };
    const field = `${where} ${w}`;
    if (COMMANDS[w]) {
      if (op) throw new InvalidArgumentError(field, `a second command on one line (already ${op})`);
      op = COMMANDS[w];
      if (op === 'set-timeouts') {
        timeouts.tcp = intArg(words[++i], `${field} tcp`);
        timeouts.tcpFin = intArg(words[++i], `${field} tcpfin`);
        timeouts.udp = intArg(words[++i], `${field} udp`);
        for (const k of ['tcp', 'tcpFin', 'udp'] as const) if (timeouts[k] === 0) delete timeouts[k];
      } else if (op === 'start-daemon' || op === 'stop-daemon') {
        const s = next();
        if (s !== 'master' && s !== 'backup') throw new InvalidArgumentError(field, `must be master or backup, got ${JSON.stringify(s)}`);
        daemonState = s;
      }
      continue;
    }
    switch (w) {
      case '-t': case '--tcp-service': case '-u': case '--udp-service': case '--sctp-service': {
        const protocol: Protocol = w === '-t' || w === '--tcp-service' ? 'tcp' : w === '-u' || w === '--udp-service' ? 'udp' : 'sctp';
        const hp = splitHostPort(next(), field);
        if (hp.port === undefined) throw new InvalidArgumentError(field, 'needs address:port');
        svcKey = { protocol, address: hp.address, port: hp.port };
        break;
      }
      case '-f': case '--fwmark-service': {
        // Also read back the negative marks ipvsadm -S prints for marks of 2^31 and above.
        const v = next();
        fwmark = /^-\d+$/.test(v) && Number(v) >= -0x80000000 ? Number(v) >>> 0 : intArg(v, field);
        break;
      }
      case '-6': case '--ipv6': ipv6 = true; break;
      case '-s': case '--scheduler': svc.scheduler = next(); break;
      case '-p': case '--persistent': {
        const v = words[i + 1];
        svc.persistence = { timeout: v !== undefined && /^\d+$/.test(v) ? intArg(words[++i], field) : C.IPVS_SVC_PERSISTENT_TIMEOUT };
        break;
      }
      case '-M': case '--netmask': {
        const v = next();
        netmask = /^\d+$/.test(v) ? Number(v) : v;
        break;
      }
      case '--pe': svc.persistenceEngine = next(); break;
      case '-o': case '--ops': svc.onePacket = true; break;
      case '-b': case '--sched-flags': svc.schedulerFlags = next().split(',') as SchedulerFlag[]; break;
      case '-r': case '--real-server': Object.assign(dest, splitHostPort(next(), field)); break;
      case '-g': case '--gatewaying': dest.forward = 'route'; break;
      case '-i': case '--ipip': dest.forward = 'tunnel'; break;
      case '-m': case '--masquerading': dest.forward = 'masq'; break;
      case '-w': case '--weight': dest.weight = intArg(next(), field); break;
      case '-x': case '--u-threshold': dest.upperThreshold = intArg(next(), field); break;
      case '-y': case '--l-threshold': dest.lowerThreshold = intArg(next(), field); break;
      case '--tun-type': {
        const v = next();
        if (v !== 'ipip' && v !== 'gue' && v !== 'gre') throw new InvalidArgumentError(field, `must be ipip, gue or gre, got ${JSON.stringify(v)}`);
        tunnelType = v;
        break;
      }
      case '--tun-port': tunnelPort = intArg(next(), field); break;
      case '--tun-nocsum': checksum = 'nocsum'; break;
      case '--tun-csum': checksum = 'csum'; break;
      case '--tun-remcsum': checksum = 'remcsum'; break;
      case '--mcast-interface': daemon.interface = next(); break;
      case '--syncid': daemon.syncId = intArg(next(), field); break;
      case '--sync-maxlen': daemon.maxLength = intArg(next(), field); break;
      case '--mcast-group': daemon.multicastGroup = next(); break;
      case '--mcast-port': daemon.multicastPort = intArg(next(), field); break;
      case '--mcast-ttl': daemon.multicastTtl = intArg(next(), field); break;
      default:
        throw new InvalidArgumentError(field, 'unknown option');
    }
  }
  if (!op) throw new InvalidArgumentError(where, 'no command (-A, -E, -D, -a, -e, -d, -C, -Z, --set, --start-daemon, --stop-daemon)');
  if (fwmark !== undefined) {
    if (svcKey) throw new InvalidArgumentError(`${where} -f`, 'a service is either -t/-u/--sctp-service or -f, not both');
    svcKey = { fwmark, family: ipv6 ? 'ipv6' : 'ipv4' };
  }
  const needService = (): ServiceKey => {
    if (!svcKey) throw new InvalidArgumentError(where, 'needs a service (-t, -u, --sctp-service or -f)');
    return svcKey;
  };
  const destination = (): DestinationSpec => {
    if (dest.address === undefined) throw new InvalidArgumentError(where, 'needs a real server (-r)');
    const d: DestinationSpec = { address: dest.address };
    const key = needService();
    const forward = dest.forward ?? 'route';
    d.forward = forward;
    // ipvsadm uses the service port for routing and tunnelling real servers.
    if ('port' in key && (forward === 'route' || forward === 'tunnel')) d.port = key.port;
    else if (dest.port !== undefined) d.port = dest.port;
    if (dest.weight !== undefined) d.weight = dest.weight;
    if (dest.upperThreshold !== undefined) d.upperThreshold = dest.upperThreshold;
    if (dest.lowerThreshold !== undefined) d.lowerThreshold = dest.lowerThreshold;
    if (tunnelType !== undefined || tunnelPort !== undefined || checksum !== undefined) {
      d.tunnel = { type: tunnelType ?? 'ipip' };
      if (tunnelPort !== undefined) d.tunnel.port = tunnelPort;
      if (checksum !== undefined) d.tunnel.checksum = checksum;
    }
    return d;
  };
  switch (op) {
    case 'add-service':
    case 'edit-service': {
      const spec: ServiceSpec = { ...needService() };
      if (svc.scheduler !== undefined) spec.scheduler = svc.scheduler;
      // As in ipvsadm, -M only matters for a persistent (-p) service.
      if (svc.persistence) spec.persistence = netmask === undefined ? svc.persistence : { ...svc.persistence, netmask };
      if (svc.persistenceEngine !== undefined) spec.persistenceEngine = svc.persistenceEngine;
      if (svc.onePacket) spec.onePacket = true;
      if (svc.schedulerFlags) spec.schedulerFlags = svc.schedulerFlags;
      return { line, op, service: spec };
    }
    case 'delete-service': return { line, op, service: needService() };
    case 'add-destination':
    case 'edit-destination': return { line, op, service: needService(), destination: destination() };
    case 'delete-destination': {
      // ipvsadm forces the service port only when adding or editing (-a/-e); -d uses the port given.
      if (dest.address === undefined) throw new InvalidArgumentError(where, 'needs a real server (-r)');
      const service = needService();
      // Without a port, -r means the service's port (as for -a).
      const port = dest.port ?? ('port' in service ? service.port : undefined);
      return { line, op, service, destination: port === undefined ? { address: dest.address } : { address: dest.address, port } };
    }
    case 'flush': return { line, op };
    case 'zero': return svcKey ? { line, op, service: svcKey } : { line, op };
    case 'set-timeouts': return { line, op, timeouts };
    case 'start-daemon': {
      const d: DaemonSpec = { state: daemonState!, interface: daemon.interface ?? 'eth0' };
      if (daemon.syncId !== undefined) d.syncId = daemon.syncId;
      if (daemon.maxLength !== undefined) d.maxLength = daemon.maxLength;
      if (daemon.multicastGroup !== undefined) d.multicastGroup = daemon.multicastGroup;
      if (daemon.multicastPort !== undefined) d.multicastPort = daemon.multicastPort;
      if (daemon.multicastTtl !== undefined) d.multicastTtl = daemon.multicastTtl;
      return { line, op, daemon: d };
    }
    case 'stop-daemon': return { line, op, state: daemonState! };
  }
}

/**
 * Parse rules text (as `ipvsadm -S` writes and `ipvsadm -R` reads) into
 * commands. Blank lines and `#` comments are skipped; a leading `ipvsadm` is
 * allowed. Every line is parsed before any is returned; the first bad one
 * throws an InvalidArgumentError naming its line number and option.
 */
export function parseRules(text: string): RuleCommand[] {
  if (typeof text !== 'string') throw new InvalidArgumentError('rules', 'must be a string');
  const out: RuleCommand[] = [];
  text.split('\n').forEach((raw, idx) => {
    const words = raw.replace(/#[^\n]*/, '').trim().split(/[ \t\r]+/).filter((w) => w !== '');
    if (words[0] === 'ipvsadm') words.shift();
    if (words.length === 0) return;
    out.push(parseLine(words, idx + 1));
  });
  return out;
}
