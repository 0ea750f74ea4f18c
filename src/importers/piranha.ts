/**
 * piranha's lvs.cf → ipvs-ts JSON: the desired IPVS table, nanny's checks
 * and pulse's failover settings, with a warning for every key that is not
 * carried over.
 *
 * Format and defaults as piranha reads them (lvs.cf(5), lvsconfig.c,
 * lvsd.c, nanny.c of the ssocopsacc/piranha fork): `key = value` lines, `#`
 * comments, `virtual NAME {` / `server NAME {` / `failover NAME {` blocks
 * closed by `}`. Defaults: port 80, protocol tcp, scheduler wlc, weight 1,
 * timeout 10 s, reentry 180 s, keepalive 2 s, deadtime 5 s, heartbeat_port
 * 539. lvsd starts nanny with `-t timeout` as its interval between checks
 * (and the connect deadline) and `-a reentry`; nanny re-adds a server after
 * reentry / timeout consecutive successes and takes it out at the first
 * failure.
 * @module
 */
import type { ServiceState } from '../ipvs/state.js';
import type { DestinationSpec, ForwardMethod, ServiceKey, ServiceSpec, Timeouts } from '../ipvs/types.js';
import { fail, parseAddress, parseCount, SERVICE_PORTS, stripComment, type Place } from './common.js';
import type { ImportedCheck, ImportedHealth, ImportOptions, ImportResult, ImportWarning } from './types.js';

const NETWORK: Record<string, ForwardMethod> = { nat: 'masq', direct: 'route', tunnel: 'tunnel' };

interface Entry {
  key: string;
  args: string[];
  place: Place;
  /** Column of each argument. */
  columns: number[];
}

interface Block {
  kind: 'virtual' | 'server' | 'failover';
  name: string;
  place: Place;
  entries: Entry[];
  servers: Block[];
}

/** Split a line into words; double-quoted strings are one word (quotes removed, \" kept as "). */
function words(line: string): { text: string; column: number }[] {
  const out: { text: string; column: number }[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(line))) out.push({ text: m[1] !== undefined ? m[1].replace(/\\"/g, '"') : m[2]!, column: m.index + 1 });
  return out;
}

function parseBlocks(text: string, file: string): { globals: Entry[]; blocks: Block[] } {
  const globals: Entry[] = [];
  const blocks: Block[] = [];
  const stack: Block[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = stripComment(lines[i]!.replace(/\r$/, ''));
    const w = words(line);
    if (w.length === 0) continue;
    const place: Place = { file, line: i + 1, column: w[0]!.column };
    if (w[0]!.text === '}') {
      if (!stack.length) fail(place, 'a } without an open block');
      stack.pop();
      continue;
    }
    const brace = w.findIndex((x) => x.text === '{');
    if (brace >= 0 && brace < w.length - 1) fail({ ...place, column: w[brace + 1]!.column }, `unexpected ${JSON.stringify(w.slice(brace + 1).map((x) => x.text).join(' '))} after {`);
    if (w[w.length - 1]!.text === '{') {
      const kind = w[0]!.text;
      if (kind !== 'virtual' && kind !== 'server' && kind !== 'failover') fail(place, `unknown block ${JSON.stringify(kind)} (expected virtual, server or failover)`);
      if (w.length < 3) fail({ ...place, column: w[w.length - 1]!.column }, `${kind} needs a name before {`);
      const block: Block = { kind, name: w.slice(1, -1).map((x) => x.text).join(' '), place, entries: [], servers: [] };
      const parent = stack[stack.length - 1];
      if (kind === 'server') {
        if (!parent || parent.kind !== 'virtual') fail(place, 'a server block belongs inside a virtual block');
        parent.servers.push(block);
      } else {
        if (parent) fail(place, `a ${kind} block cannot be inside a ${parent.kind} block`);
        blocks.push(block);
      }
      stack.push(block);
      continue;
    }
    if (w.length < 2 || w[1]!.text !== '=') {
      const eq = /^(\S+?)=(.*)$/.exec(w[0]!.text);
      if (!eq) fail({ ...place, column: (w[1] ?? w[0]!).column }, `expected key = value, got ${JSON.stringify(line.trim())}`);
    }
    let key: string;
    let args: { text: string; column: number }[];
    if (w.length >= 2 && w[1]!.text === '=') {
      key = w[0]!.text;
      args = w.slice(2);
    } else {
      const [k, v] = w[0]!.text.split('=', 2) as [string, string];
      key = k;
      args = [...(v ? [{ text: v, column: w[0]!.column + k.length + 1 }] : []), ...w.slice(1)];
    }
    const entry: Entry = { key, args: args.map((a) => a.text), columns: args.map((a) => a.column), place };
    (stack.length ? stack[stack.length - 1]!.entries : globals).push(entry);
  }
  if (stack.length) {
    const open = stack[stack.length - 1]!;
    fail(open.place, `${open.kind} ${open.name} is not closed (missing })`);
  }
  return { globals, blocks };
}

/**
 * Read a piranha lvs.cf. Throws an {@link ImportError} with file:line:column
 * for what cannot be read; returns warnings for keys without a counterpart
 * (and for extra words after a value, which piranha ignores).
 * @example
 * ```ts
 * const { desired, health, failover } = importPiranha(readFileSync('/etc/lvs.cf', 'utf8'), { file: 'lvs.cf' });
 * ```
 */
export function importPiranha(text: string, options: ImportOptions = {}): ImportResult {
  const file = options.file ?? '<input>';
  const warnings: ImportWarning[] = [];
  const warn = (e: Entry, message: string): void => {
    warnings.push({ file, line: e.place.line, key: e.key, message });
  };
  const { globals, blocks } = parseBlocks(text, file);

  const one = (e: Entry, min = 1): string => {
    if (e.args.length < min) fail(e.place, `${e.key} needs a value`);
    if (e.args.length > min) warn(e, `${e.key}: extra words ${JSON.stringify(e.args.slice(min).join(' '))} ignored`);
    return e.args[0]!;
  };
  const at = (e: Entry, i = 0): Place => ({ ...e.place, column: e.columns[i] ?? e.place.column });
  const num = (e: Entry, min = 0, max = 0x7fffffff): number => parseCount(one(e), e.key, at(e), min, max);
  const flag = (e: Entry): boolean => {
    const v = one(e);
    if (v !== '0' && v !== '1') fail(at(e), `${e.key} must be 0 or 1, got ${JSON.stringify(v)}`);
    return v === '1';
  };

  const failover: Record<string, unknown> = { keepaliveMs: 2000, deadtimeMs: 5000, heartbeatPort: 539 };
  let network: ForwardMethod = 'masq';
  const timeouts: Partial<Timeouts> = {};
  const timeoutEntries: Entry[] = [];
  for (const e of globals) {
    switch (e.key) {
      case 'service': {
        const v = one(e);
        if (v !== 'lvs' && v !== 'fos') fail(at(e), `service must be lvs or fos, got ${JSON.stringify(v)}`);
        if (v === 'fos') warn(e, 'service = fos (failover services without IPVS) is not carried over; only the failover settings are');
        failover.service = v;
        break;
      }
      case 'primary':
      case 'backup':
      case 'primary_private':
      case 'backup_private': {
        const name = e.key.replace(/_private$/, 'Private');
        failover[name] = parseAddress(one(e), e.key, at(e));
        break;
      }
      case 'backup_active': failover.backupActive = flag(e); break;
      case 'heartbeat': failover.heartbeat = flag(e); break;
      case 'keepalive': failover.keepaliveMs = num(e, 1) * 1000; break;
      case 'deadtime': failover.deadtimeMs = num(e, 1) * 1000; break;
      case 'heartbeat_port': failover.heartbeatPort = num(e, 1, 65535); break;
      case 'network': {
        const v = one(e);
        if (!NETWORK[v]) fail(at(e), `network must be nat, direct or tunnel, got ${JSON.stringify(v)}`);
        network = NETWORK[v]!;
        failover.network = v;
        break;
      }
      case 'nat_router': {
        if (!e.args.length) fail(e.place, 'nat_router needs an address and a device');
        failover.natRouter = { address: parseAddress(e.args[0]!, e.key, at(e)), ...(e.args[1] ? { interface: e.args[1] } : {}) };
        if (e.args.length > 2) warn(e, `nat_router: extra words ${JSON.stringify(e.args.slice(2).join(' '))} ignored`);
        break;
      }
      case 'nat_nmask': failover.natNetmask = parseAddress(one(e), e.key, at(e)); break;
      case 'syncdaemon': failover.syncDaemon = flag(e); break;
      case 'syncd_iface': failover.syncInterface = one(e); break;
      case 'syncd_id': failover.syncId = num(e, 0, 255); break;
      case 'monitor_links': failover.monitorLinks = flag(e); break;
      case 'tcp_timeout': timeouts.tcp = num(e); timeoutEntries.push(e); break;
      case 'tcpfin_timeout': timeouts.tcpFin = num(e); timeoutEntries.push(e); break;
      case 'udp_timeout': timeouts.udp = num(e); timeoutEntries.push(e); break;
      case 'rsh_command':
      case 'debug_level':
      case 'hard_shutdown':
      case 'reservation_conflict_action':
      case 'serial_no':
      case 'active_cmd':
      case 'inactive_cmd':
      case 'primary_shared':
      case 'backup_shared':
      case 'ipvsadm':
        warn(e, `${e.key} not carried over`);
        break;
      default:
        fail(e.place, `unknown key ${JSON.stringify(e.key)} in the global section`);
    }
  }

  const services: ServiceState[] = [];
  const health: ImportedHealth[] = [];
  const virtualAddresses: { address: string; interface?: string; netmask?: string }[] = [];
  for (const b of blocks) {
    if (b.kind === 'failover') {
      warnings.push({ file, line: b.place.line, key: 'failover', message: `failover ${b.name} (a non-IPVS service run by fos) not carried over` });
      continue;
    }
    const r = readVirtual(b, network, { one, at, num, flag, warn });
    if (!r) continue;
    services.push(r.service);
    health.push(r.health);
    if (r.vip && !virtualAddresses.some((v) => v.address === r.vip!.address)) virtualAddresses.push(r.vip);
  }
  failover.virtualAddresses = virtualAddresses;
  warnings.sort((a, b) => a.line - b.line);
  const result: ImportResult = { format: 'lvs', desired: { services }, health, failover, warnings };
  if (timeoutEntries.length === 3) result.desired.timeouts = timeouts as Timeouts;
  else for (const e of timeoutEntries) warn(e, `${e.key} not carried over: tcp_timeout, tcpfin_timeout and udp_timeout are set together`);
  return result;
}

/**
 * The escapes lvs.cf(5) allows in `send` and `expect`: \n, \r, \\ and \'
 * (so `send = "GET / HTTP/1.0\r\n\r\n"` sends CR LF, as nanny does). A
 * regex `expect` (`use_regex = 1`) is left to the regex, which reads them the same way.
 */
function unescapeText(text: string): string {
  return text.replace(/\\([nr\\'])/g, (_, c: string) => (c === 'n' ? '\n' : c === 'r' ? '\r' : c));
}

interface Readers {
  one: (e: Entry, min?: number) => string;
  at: (e: Entry, i?: number) => Place;
  num: (e: Entry, min?: number, max?: number) => number;
  flag: (e: Entry) => boolean;
  warn: (e: Entry, message: string) => void;
}

function readVirtual(b: Block, forward: ForwardMethod, r: Readers): { service: ServiceState; health: ImportedHealth; vip?: { address: string; interface?: string; netmask?: string } } | undefined {
  let address: string | undefined;
  let iface: string | undefined;
  let netmask: string | undefined;
  let port = 80;
  let protocol: 'tcp' | 'udp' = 'tcp';
  let fwmark: number | undefined;
  let active = true;
  let scheduler = 'wlc';
  let persistent = 0;
  let pmask: string | undefined;
  let timeout = 10;
  let reentry = 180;
  let send: string | undefined;
  let expect: string | undefined;
  let useRegex = false;
  let sendProgram: string[] | undefined;
  let quiesce = false;
  let sorry: string | undefined;
  for (const e of b.entries) {
    switch (e.key) {
      case 'address': {
        if (!e.args.length) fail(e.place, 'address needs a value');
        address = parseAddress(e.args[0]!, 'address', r.at(e));
        iface = e.args[1];
        if (e.args.length > 2) r.warn(e, `address: extra words ${JSON.stringify(e.args.slice(2).join(' '))} ignored`);
        break;
      }
      case 'vip_nmask': netmask = parseAddress(r.one(e), e.key, r.at(e)); break;
      case 'port': {
        const v = r.one(e);
        port = SERVICE_PORTS[v] ?? parseCount(v, 'port', r.at(e), 0, 65535);
        break;
      }
      case 'protocol': {
        const v = r.one(e);
        if (v !== 'tcp' && v !== 'udp') fail(r.at(e), `protocol must be tcp or udp, got ${JSON.stringify(v)}`);
        protocol = v;
        break;
      }
      case 'fwmark': fwmark = r.num(e, 1, 0xffffffff); break;
      case 'active': active = r.flag(e); break;
      case 'scheduler': scheduler = r.one(e); break;
      case 'persistent': persistent = r.num(e); break;
      case 'pmask': pmask = parseAddress(r.one(e), e.key, r.at(e)); break;
      case 'timeout': timeout = r.num(e, 1); break;
      case 'reentry': reentry = r.num(e, 0); break;
      case 'send': send = unescapeText(e.args.join(' ')); break;
      case 'expect': expect = e.args.join(' '); break;
      case 'use_regex': useRegex = r.flag(e); break;
      case 'send_program': sendProgram = e.args; break;
      case 'quiesce_server': quiesce = r.flag(e); break;
      case 'sorry_server': sorry = parseAddress(r.one(e), e.key, r.at(e)); break;
      case 'load_monitor': {
        const v = r.one(e);
        if (v !== 'none') r.warn(e, `load_monitor = ${v} not carried over: weights are not adjusted by the real servers' load`);
        break;
      }
      case 'client_monitor':
      case 'dirs':
      case 'master':
        r.warn(e, `${e.key} not carried over`);
        break;
      default:
        fail(e.place, `unknown key ${JSON.stringify(e.key)} in virtual ${b.name}`);
    }
  }
  if (!active) return undefined;
  if (address === undefined && fwmark === undefined) fail(b.place, `virtual ${b.name} has no address`);
  const key: ServiceKey = fwmark !== undefined ? { fwmark } : { protocol, address: address!, port };
  const spec: ServiceSpec = { ...key, scheduler };
  if (persistent > 0) spec.persistence = pmask ? { timeout: persistent, netmask: pmask } : { timeout: persistent };
  const destinations: DestinationSpec[] = [];
  for (const s of b.servers) {
    let sAddress: string | undefined;
    let sActive = true;
    let weight = 1;
    let sPort = fwmark !== undefined ? 0 : port;
    for (const e of s.entries) {
      switch (e.key) {
        case 'address': sAddress = parseAddress(r.one(e), 'address', r.at(e)); break;
        case 'active': sActive = r.flag(e); break;
        case 'weight': weight = r.num(e, 0); break;
        case 'port': sPort = r.num(e, 0, 65535); break;
        case 'log_file': r.warn(e, 'log_file not carried over'); break;
        default: fail(e.place, `unknown key ${JSON.stringify(e.key)} in server ${s.name}`);
      }
    }
    if (sAddress === undefined) fail(s.place, `server ${s.name} has no address`);
    if (sActive) destinations.push({ address: sAddress, port: sPort, weight, forward });
  }
  let check: ImportedCheck;
  if (sendProgram) {
    const [command, ...args] = sendProgram;
    if (!command) fail(b.place, `virtual ${b.name}: send_program needs a path`);
    check = { type: 'exec', command, timeoutMs: timeout * 1000, ...(args.length ? { args } : {}) };
    r.warn(b.entries.find((e) => e.key === 'send_program')!, 'send_program: carried over as an exec check judged by its exit status (0 up); nanny matched its output against expect; %h is left for the check runner to replace with the real server address');
  } else if (expect !== undefined) {
    const pattern = useRegex ? expect : unescapeText(expect).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    check = send !== undefined ? { type: 'negotiate', send, expect: pattern, timeoutMs: timeout * 1000 } : { type: 'negotiate', expect: pattern, timeoutMs: timeout * 1000 };
    if (protocol === 'udp') check = { type: 'udp', send: { text: send ?? '' }, expect: pattern, timeoutMs: timeout * 1000 };
  } else if (protocol === 'udp') {
    check = send !== undefined ? { type: 'udp', send: { text: send }, timeoutMs: timeout * 1000 } : { type: 'none' };
  } else {
    check = { type: 'tcp', timeoutMs: timeout * 1000 };
    if (send !== undefined) check = { type: 'negotiate', send, expect: '', timeoutMs: timeout * 1000 };
  }
  const health: ImportedHealth = {
    service: key,
    check,
    intervalMs: timeout * 1000,
    rise: Math.max(1, Math.floor(reentry / timeout)),
    fall: 1,
    onDown: quiesce ? 'quiesce' : 'remove',
  };
  if (sorry !== undefined) health.sorryServer = { address: sorry, port: fwmark !== undefined ? 0 : port, weight: 1, forward };
  if (address === undefined) return { service: { ...spec, destinations }, health };
  const vip: { address: string; interface?: string; netmask?: string } = { address };
  if (iface !== undefined) vip.interface = iface;
  if (netmask !== undefined) vip.netmask = netmask;
  return { service: { ...spec, destinations }, health, vip };
}
