/**
 * ldirectord.cf → ipvs-ts JSON: the desired IPVS table, the checks, and a
 * warning for every key that is not carried over.
 *
 * Format and defaults as ldirectord reads them (ClusterLabs/resource-agents
 * ldirectord/ldirectord.in, `read_config`, `set_defaults`, `add_real_server`):
 * global `key = value` lines start in column 0; a `virtual=` (IPv4 address:port
 * or fwmark) or `virtual6=` line opens a section whose lines are indented by
 * at least 4 columns (a tab counts 4); the first line that is not (a blank
 * line too) closes it; `#` starts a comment. Defaults: scheduler `wrr`,
 * protocol `tcp` (`udp` for port 53, `fwm` for marks), checktype
 * `negotiate`, checkinterval 10 s, checktimeout 5 s, negotiatetimeout 30 s,
 * failurecount 1, quiescent `no`, real server weight 1, its port the
 * virtual's.
 * @module
 */
import type { ServiceState } from '../ipvs/state.js';
import type { DestinationSpec, ForwardMethod, ServiceKey, ServiceSpec } from '../ipvs/types.js';
import { fail, parseCount, parseHostPort, SERVICE_PORTS, stripComment, unquote, type Place } from './common.js';
import type { ImportedCheck, ImportedHealth, ImportOptions, ImportResult, ImportWarning } from './types.js';

const FORWARD: Record<string, ForwardMethod> = { gate: 'route', masq: 'masq', ipip: 'tunnel' };

/** ldirectord's port → service table (`ld_port_to_service`). */
const PORT_SERVICE: Record<number, string> = {
  21: 'ftp', 25: 'smtp', 53: 'dns', 80: 'http', 110: 'pop', 119: 'nntp', 143: 'imap', 389: 'ldap', 443: 'https', 587: 'submission',
  636: 'ldaps', 995: 'pops', 993: 'imaps', 1521: 'oracle', 1812: 'radius', 3128: 'http_proxy', 3306: 'mysql', 5060: 'sip', 5432: 'pgsql',
};

/** Keys read but not carried over, with why. */
const NOT_CARRIED: Record<string, string> = {
  autoreload: 'the file is not watched; reload with `ipvs-ts apply`',
  callback: 'no callback is run',
  logfile: 'ipvs-ts logs to its standard error',
  execute: 'other ldirectord instances are not started',
  fork: 'all checks run in one process',
  supervised: 'no effect',
  readdquiescent: 'not supported',
  emailalert: 'no e-mail alerts',
  emailalertfreq: 'no e-mail alerts',
  emailalertstatus: 'no e-mail alerts',
  emailalertfrom: 'no e-mail alerts',
  cleanstop: 'what a stop leaves in the kernel is chosen when running',
  smtp: 'no e-mail alerts',
  fallbackcommand: 'no fallback command is run',
  monitorfile: 'no monitor file is written',
  comment: 'comments are not kept',
  load: 'load-based weights are not supported',
  login: 'the check does not log in',
  passwd: 'the check does not log in',
  database: 'SQL checks are not supported',
  secret: 'RADIUS checks are not supported',
  servicename: 'not used',
  checkcount: 'deprecated in ldirectord; use failurecount',
};

/** Keys that only a virtual= section takes. */
const VIRTUAL_KEYS = new Set([
  'real', 'real6', 'request', 'receive', 'checktype', 'checkcommand', 'checkport', 'scheduler', 'schedflags', 'persistent', 'netmask',
  'protocol', 'service', 'httpmethod', 'virtualhost', 'ops', 'login', 'passwd', 'database', 'secret',
]);

interface Virtual {
  place: Place;
  key: ServiceKey;
  family: 'ipv4' | 'ipv6';
  port: number;
  protocol: 'tcp' | 'udp' | 'fwm';
  fwmark?: number;
  scheduler: string;
  schedFlags?: string;
  persistent?: number;
  netmask?: string | number;
  ops: boolean;
  reals: { place: Place; text: string }[];
  checktype: string;
  connects?: number;
  service?: string;
  request: string;
  receive: string;
  httpmethod: 'GET' | 'HEAD';
  virtualhost?: string;
  checkport?: number;
  checkcommand: string;
  checktimeout?: number;
  negotiatetimeout?: number;
  checkinterval?: number;
  failurecount?: number;
  quiescent?: boolean;
  fallback?: { place: Place; text: string };
}

/**
 * Read an ldirectord.cf. Throws an {@link ImportError} with file:line:column
 * for what ldirectord itself would refuse (and for host names, which are not
 * resolved); returns warnings for keys that have no counterpart.
 * @example
 * ```ts
 * const { desired, health, warnings } = importLdirectord(readFileSync('ldirectord.cf', 'utf8'), { file: 'ldirectord.cf' });
 * await ipvs.apply(desired);
 * ```
 */
export function importLdirectord(text: string, options: ImportOptions = {}): ImportResult {
  const file = options.file ?? '<input>';
  const warnings: ImportWarning[] = [];
  const warn = (line: number, key: string, message: string): void => {
    warnings.push({ file, line, key, message });
  };
  const globals = { checkinterval: 10, checktimeout: 5, negotiatetimeout: 30, failurecount: 1, quiescent: false, fallback: undefined as { place: Place; text: string } | undefined, maintenanceDir: undefined as string | undefined };
  const globalSet = { checktimeout: false, negotiatetimeout: false };
  const virtuals: Virtual[] = [];
  let current: Virtual | undefined;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const raw = lines[i]!.replace(/\r$/, '');
    if (/^\s*#/.test(raw)) continue;
    const expanded = stripComment(raw).replace(/\t/g, '    ');
    const indent = /^ */.exec(expanded)![0].length;
    const body = expanded.trim();
    if (current && indent >= 4 && body) {
      readVirtualLine(current, body, { file, line: lineNo, column: indent + 1 }, warn);
      continue;
    }
    current = undefined;
    if (!body) continue;
    const place: Place = { file, line: lineNo, column: indent + 1 };
    if (indent > 0) fail(place, `indented line outside a virtual= section: ${JSON.stringify(body)}`);
    const m = /^([a-z0-9]+)\s*=\s*(.*)$/.exec(body);
    if (!m) {
      if (body === 'supervised') continue;
      fail(place, `expected key = value, got ${JSON.stringify(body)}`);
    }
    const [, key, rawValue] = m as unknown as [string, string, string];
    const value = unquote(rawValue.trim());
    const vplace: Place = { file, line: lineNo, column: indent + 1 + body.indexOf(rawValue) };
    switch (key) {
      case 'virtual':
      case 'virtual6':
        current = openVirtual(value, key === 'virtual6' ? 'ipv6' : 'ipv4', vplace);
        virtuals.push(current);
        break;
      case 'checkinterval': globals.checkinterval = parseCount(value, key, vplace, 1); break;
      case 'checktimeout': globals.checktimeout = parseCount(value, key, vplace, 1); globalSet.checktimeout = true; break;
      case 'negotiatetimeout': globals.negotiatetimeout = parseCount(value, key, vplace, 1); globalSet.negotiatetimeout = true; break;
      case 'failurecount': globals.failurecount = parseCount(value, key, vplace, 1); break;
      case 'quiescent': globals.quiescent = yesNo(value, key, vplace); break;
      case 'fallback':
      case 'fallback6': globals.fallback = { place: vplace, text: value }; break;
      case 'maintenancedir': globals.maintenanceDir = value; break;
      case 'connecttimeout':
      case 'timeout':
        fail(place, `${key} is deprecated in ldirectord in favour of checktimeout and negotiatetimeout`);
        break;
      default:
        if (NOT_CARRIED[key]) warn(lineNo, key, `${key} not carried over: ${NOT_CARRIED[key]}`);
        else if (VIRTUAL_KEYS.has(key)) fail(place, `${key}= belongs inside a virtual= section (indented by at least 4 columns, after a virtual= line)`);
        else fail(place, `unknown key ${JSON.stringify(key)}`);
    }
  }

  const services: ServiceState[] = [];
  const health: ImportedHealth[] = [];
  for (const v of virtuals) {
    const spec: ServiceSpec = { ...v.key, scheduler: v.scheduler };
    if (v.persistent !== undefined) spec.persistence = v.netmask === undefined ? { timeout: v.persistent } : { timeout: v.persistent, netmask: v.netmask };
    else if (v.netmask !== undefined) warn(v.place.line, 'netmask', 'netmask without persistent has no effect; not carried over');
    if (v.ops) spec.onePacket = true;
    if (v.schedFlags) spec.schedulerFlags = v.schedFlags.split(/[,|]/) as ServiceSpec['schedulerFlags'];
    const destinations: DestinationSpec[] = [];
    const overrides: { address: string; port: number; check: ImportedCheck }[] = [];
    const check = checkOf(v, v.request, v.receive, globals, globalSet, warn);
    for (const r of v.reals) {
      for (const d of readReal(r.text, v, r.place)) {
        destinations.push(d.spec);
        if (d.request !== undefined) overrides.push({ address: d.spec.address, port: d.spec.port!, check: checkOf(v, d.request, d.receive!, globals, globalSet, () => {}) });
      }
    }
    services.push({ ...spec, destinations });
    const h: ImportedHealth = {
      service: v.key,
      check,
      intervalMs: (v.checkinterval ?? globals.checkinterval) * 1000,
      rise: 1,
      fall: v.failurecount ?? globals.failurecount,
      onDown: v.quiescent ?? globals.quiescent ? 'quiesce' : 'remove',
    };
    const fb = v.fallback ?? globals.fallback;
    if (fb) h.sorryServer = readFallback(fb.text, v, fb.place);
    if (globals.maintenanceDir !== undefined) h.maintenanceDir = globals.maintenanceDir;
    if (overrides.length) h.destinationChecks = overrides;
    health.push(h);
  }
  warnings.sort((a, b) => a.line - b.line);
  return { format: 'ldirectord', desired: { services }, health, warnings };
}

function yesNo(v: string, key: string, place: Place): boolean {
  if (v === 'yes') return true;
  if (v === 'no') return false;
  return fail(place, `${key} must be yes or no, got ${JSON.stringify(v)}`);
}

function openVirtual(value: string, family: 'ipv4' | 'ipv6', place: Place): Virtual {
  const base = {
    place, family, scheduler: 'wrr', ops: false, reals: [], checktype: 'negotiate', request: '/', receive: '', httpmethod: 'GET' as const, checkcommand: '/bin/true',
  };
  if (/^\d+$/.test(value)) {
    const fwmark = parseCount(value, 'virtual', place, 1, 0xffffffff);
    return { ...base, key: family === 'ipv6' ? { fwmark, family } : { fwmark }, port: 0, protocol: 'fwm', fwmark, service: 'none' };
  }
  if (family === 'ipv4' && value.startsWith('[')) fail(place, 'an IPv6 virtual server needs virtual6=');
  const hp = parseHostPort(value, 'virtual', place, SERVICE_PORTS);
  if (hp.port === undefined) fail(place, `virtual: ${JSON.stringify(value)} needs address:port or a firewall mark`);
  if (hp.address.includes(':') !== (family === 'ipv6')) fail(place, family === 'ipv6' ? 'virtual6= needs an IPv6 address in brackets' : 'an IPv6 virtual server needs virtual6=');
  const protocol = hp.port === 53 ? 'udp' : 'tcp';
  return { ...base, key: { protocol, address: hp.address, port: hp.port }, port: hp.port, protocol };
}

type Warn = (line: number, key: string, message: string) => void;

function readVirtualLine(v: Virtual, body: string, place: Place, warn: Warn): void {
  const m = /^([a-z0-9]+)\s*=\s*(.*)$/.exec(body);
  if (!m) fail(place, `expected key = value inside virtual=, got ${JSON.stringify(body)}`);
  const [, key, rawValue] = m as unknown as [string, string, string];
  const value = unquote(rawValue.trim());
  const vp: Place = { ...place, column: place.column + body.indexOf(rawValue) };
  switch (key) {
    case 'real':
    case 'real6':
      if ((key === 'real6') !== (v.family === 'ipv6')) fail(place, `use ${v.family === 'ipv6' ? 'real6' : 'real'}= in a ${v.family === 'ipv6' ? 'virtual6' : 'virtual'}= section`);
      v.reals.push({ place: vp, text: rawValue.trim() });
      return;
    case 'request': v.request = value.startsWith('/') ? value : `/${value}`; return;
    case 'receive': v.receive = value; return;
    case 'checktype':
      if (/^\d+$/.test(value)) {
        v.checktype = 'combined';
        v.connects = Number(value);
      } else if (['connect', 'negotiate', 'ping', 'off', 'on', 'external', 'external-perl'].includes(value)) v.checktype = value;
      else fail(vp, `checktype must be connect, negotiate, on, off, ping, external, external-perl or a number, got ${JSON.stringify(value)}`);
      return;
    case 'checkcommand': v.checkcommand = value; return;
    case 'checktimeout': v.checktimeout = parseCount(value, key, vp, 1); return;
    case 'negotiatetimeout': v.negotiatetimeout = parseCount(value, key, vp, 1); return;
    case 'checkinterval': v.checkinterval = parseCount(value, key, vp, 1); return;
    case 'failurecount': v.failurecount = parseCount(value, key, vp, 1); return;
    case 'checkport': v.checkport = parseCount(value, key, vp, 1, 65535); return;
    case 'scheduler': v.scheduler = value; return;
    case 'schedflags': v.schedFlags = value; return;
    case 'persistent': v.persistent = parseCount(value, key, vp, 1); return;
    case 'netmask': v.netmask = /^\d+$/.test(value) ? Number(value) : value; return;
    case 'protocol':
      if (v.protocol === 'fwm') {
        if (value !== 'fwm') fail(vp, 'a firewall-mark virtual service has protocol fwm');
        return;
      }
      if (value !== 'tcp' && value !== 'udp') {
        if (value === 'fwm') fail(vp, 'protocol fwm needs virtual=<mark>');
        fail(vp, `protocol must be tcp, udp or fwm, got ${JSON.stringify(value)}`);
      }
      v.protocol = value;
      v.key = { ...(v.key as { address: string; port: number }), protocol: value };
      return;
    case 'service': v.service = value; return;
    case 'httpmethod':
      if (value !== 'GET' && value !== 'HEAD') fail(vp, `httpmethod must be GET or HEAD, got ${JSON.stringify(value)}`);
      v.httpmethod = value;
      return;
    case 'virtualhost': v.virtualhost = value; return;
    case 'quiescent': v.quiescent = yesNo(value, key, vp); return;
    case 'fallback':
    case 'fallback6': v.fallback = { place: vp, text: rawValue.trim() }; return;
    case 'ops': v.ops = yesNo(value, key, vp); return;
    case 'connecttimeout':
      fail(place, 'connecttimeout is deprecated in ldirectord in favour of negotiatetimeout');
      return;
    default:
      if (NOT_CARRIED[key]) warn(place.line, key, `${key} not carried over: ${NOT_CARRIED[key]}`);
      else fail(place, `unknown key ${JSON.stringify(key)} in a virtual= section`);
  }
}

/** `ip[->ip2][:port] gate|masq|ipip [weight] ["request", "receive"] [l:N] [u:N]` */
function readReal(text: string, v: Virtual, place: Place): { spec: DestinationSpec; request?: string; receive?: string }[] {
  const m = /^(\d+\.\d+\.\d+\.\d+|\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?:->(\d+\.\d+\.\d+\.\d+|\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+))?(?::(\d+|[A-Za-z0-9_-]+))?\s+(.*)$/.exec(text);
  if (!m) fail(place, `real: expected ip[->ip][:port] gate|masq|ipip [weight], got ${JSON.stringify(text)}`);
  const [, first, last, portText, flagsText] = m as unknown as [string, string, string | undefined, string | undefined, string];
  const strip = (a: string): string => a.replace(/^\[|\]$/g, '');
  let port = v.port;
  if (portText !== undefined) {
    const hp = parseHostPort(`${first}:${portText}`, 'real', place, SERVICE_PORTS);
    port = hp.port === 0 ? v.port : hp.port!;
  }
  const addresses = expandRange(strip(first), last === undefined ? undefined : strip(last), place);
  const flagPlace = { ...place, column: place.column + text.indexOf(flagsText) };
  const f = /^(\w+)(.*)$/.exec(flagsText);
  if (!f || !FORWARD[f[1]!]) fail(flagPlace, `real: forward method must be gate, masq or ipip, got ${JSON.stringify(flagsText.split(/\s/)[0] ?? '')}`);
  let rest = f[2]!;
  const spec: DestinationSpec = { address: '', port, forward: FORWARD[f[1]!]!, weight: 1 };
  let w = /^\s+(\d+)(.*)$/.exec(rest);
  if (w) {
    spec.weight = Number(w[1]);
    rest = w[2]!;
  }
  let request: string | undefined;
  let receive: string | undefined;
  const rr = /^\s+"(.*)"[, ]\s*"(.*)"(.*)$/.exec(rest);
  if (rr) {
    request = rr[1]!.startsWith('/') ? rr[1]! : `/${rr[1]!}`;
    receive = rr[2]!;
    rest = rr[3]!;
  }
  w = /^\s+l:(\d+)(.*)$/.exec(rest);
  if (w) {
    spec.lowerThreshold = Number(w[1]);
    rest = w[2]!;
  }
  w = /^\s+u:(\d+)(.*)$/.exec(rest);
  if (w) {
    spec.upperThreshold = Number(w[1]);
    rest = w[2]!;
  }
  if (rest.trim()) fail({ ...place, column: place.column + text.lastIndexOf(rest.trim()) }, `real: unexpected ${JSON.stringify(rest.trim())}`);
  return addresses.map((address) => ({ spec: { ...spec, address }, ...(request !== undefined ? { request, receive: receive! } : {}) }));
}

function expandRange(first: string, last: string | undefined, place: Place): string[] {
  parseHostPort(first, 'real', place);
  if (last === undefined) return [first];
  parseHostPort(last, 'real', place);
  const toInt = (a: string): number => a.split('.').reduce((n, o) => n * 256 + Number(o), 0);
  if (first.includes(':') || last.includes(':')) fail(place, 'real: address ranges are supported for IPv4 only');
  const a = toInt(first);
  const b = toInt(last);
  if (b < a) fail(place, `real: range ${first}->${last} ends before it starts`);
  if (b - a > 65535) fail(place, `real: range ${first}->${last} has more than 65536 addresses`);
  const out: string[] = [];
  for (let n = a; n <= b; n++) out.push([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.'));
  return out;
}

/** `fallback=ip[:port] [gate|masq]` */
function readFallback(text: string, v: Virtual, place: Place): DestinationSpec {
  const [hostPort, method] = text.split(/\s+/) as [string, string | undefined];
  const hp = parseHostPort(hostPort, 'fallback', place, SERVICE_PORTS);
  const spec: DestinationSpec = { address: hp.address, port: hp.port ?? v.port, weight: 1, forward: 'masq' };
  if (method !== undefined) {
    if (!FORWARD[method]) fail(place, `fallback: forward method must be gate, masq or ipip, got ${JSON.stringify(method)}`);
    spec.forward = FORWARD[method]!;
  }
  return spec;
}

function checkOf(
  v: Virtual,
  request: string,
  receive: string,
  globals: { checktimeout: number; negotiatetimeout: number },
  globalSet: { checktimeout: boolean; negotiatetimeout: boolean },
  warn: Warn,
): ImportedCheck {
  const line = v.place.line;
  // ldirectord's cascade (ld_setup): checktimeout bounds connect checks, negotiatetimeout the others;
  // each falls back to the other, then to the global ones, then to 5 s / 30 s.
  const g = (k: 'checktimeout' | 'negotiatetimeout'): number | undefined => (globalSet[k] ? globals[k] : undefined);
  const connectTimeout = (v.checktimeout ?? v.negotiatetimeout ?? g('checktimeout') ?? g('negotiatetimeout') ?? 5) * 1000;
  const negotiateTimeout = (v.negotiatetimeout ?? v.checktimeout ?? g('negotiatetimeout') ?? g('checktimeout') ?? 30) * 1000;
  const port = v.checkport !== undefined ? { port: v.checkport } : {};
  const service = v.service ?? PORT_SERVICE[v.port] ?? 'none';
  switch (v.checktype) {
    case 'off':
    case 'on':
      return { type: 'none' };
    case 'ping':
      return { type: 'icmp', timeoutMs: connectTimeout };
    case 'external':
    case 'external-perl':
      return { type: 'exec', command: v.checkcommand, timeoutMs: connectTimeout };
    case 'connect':
      if (v.protocol === 'udp') warn(line, 'checktype', 'checktype=connect on UDP: carried over as a TCP connect check to the same port');
      return { type: 'tcp', timeoutMs: connectTimeout, ...port };
    case 'combined':
      warn(line, 'checktype', `checktype=${v.connects}: carried over as the negotiate check alone (no connect checks in between)`);
  }
  switch (service) {
    case 'http':
    case 'https':
    case 'http_proxy': {
      const c: ImportedCheck = { type: service === 'https' ? 'https' : 'http', path: request, method: v.httpmethod, timeoutMs: negotiateTimeout, ...port };
      if (receive) c.expect = receive;
      if (v.virtualhost !== undefined) c.host = v.virtualhost;
      if (service === 'http_proxy') warn(line, 'service', 'service=http_proxy: carried over as a plain HTTP check of the path');
      return c;
    }
    case 'dns':
      return receive ? { type: 'dns', name: request.replace(/^\//, ''), expect: receive, timeoutMs: negotiateTimeout, ...port } : { type: 'dns', name: request.replace(/^\//, ''), timeoutMs: negotiateTimeout, ...port };
    case 'none':
    case 'simpletcp':
      if (!receive) return { type: 'tcp', timeoutMs: negotiateTimeout, ...port };
      return { type: 'negotiate', send: request.replace(/^\//, ''), expect: receive, timeoutMs: negotiateTimeout, ...port };
    case 'ftp':
    case 'smtp':
    case 'submission':
    case 'pop':
    case 'imap':
    case 'nntp':
      warn(line, 'service', `service=${service}: carried over as a banner check (connect and match ${receive ? 'receive' : 'any reply'}), not ldirectord's protocol dialogue`);
      return { type: 'negotiate', expect: receive || '.', timeoutMs: negotiateTimeout, ...port };
    default:
      warn(line, 'service', `service=${service}: no check of that protocol; carried over as a TCP connect check`);
      return { type: 'tcp', timeoutMs: negotiateTimeout, ...port };
  }
}
