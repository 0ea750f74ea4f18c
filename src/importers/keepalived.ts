/**
 * keepalived.conf → ipvs-ts JSON: the virtual servers as a desired IPVS
 * table, their checkers, and the VRRP instances as failover settings, with a
 * warning for every key that is not carried over.
 *
 * Format and defaults as keepalived reads them (keepalived.conf(5),
 * keepalived/check/check_parser.c, check_data.c): blocks in `{ }`, comments
 * from `#` or `!` to the end of the line, `include FILE` (relative to the
 * including file; the caller reads it); a trailing `\` ends a line as a line
 * break does; `$NAME=` parameter definitions are refused. Defaults: `lvs_sched wlc`, `lvs_method NAT`, `protocol TCP`, weight 1,
 * `delay_loop 60`, `connect_timeout 5`, `retry 1` (3 for DNS_CHECK, 0 for
 * MISC_CHECK), `persistence_timeout` without a value 360, a port-0 service
 * persistent. A checker fails after `retry` further failed attempts
 * `delay_before_retry` apart, and recovers on the first success.
 * @module
 */
import type { ServiceState } from '../ipvs/state.js';
import type { DestinationSpec, ForwardMethod, SchedulerFlag, ServiceKey, ServiceSpec, TunnelSpec } from '../ipvs/types.js';
import { fail, parseAddress, parseCount, parseSeconds, type Place } from './common.js';
import type { ImportedCheck, ImportedHealth, ImportOptions, ImportResult, ImportWarning } from './types.js';

interface Token {
  text: string;
  place: Place;
}

/** A statement: its keyword, its arguments, and its block when it opens one. */
interface Node {
  key: string;
  args: Token[];
  place: Place;
  children?: Node[];
}

/**
 * Split a file into tokens by line; `{` and `}` are tokens of their own;
 * "quoted strings" are one token. A trailing `\` (keepalived's multi-line
 * definitions) ends the line like a line break; parameter definitions
 * (`$NAME=...`) are refused, since they are not expanded here.
 */
function tokenize(text: string, file: string): Token[][] {
  const out: Token[][] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/\r$/, '').replace(/\\\s*$/, '');
    const def = /^\s*\$[A-Za-z_][A-Za-z0-9_]*=/.exec(line);
    if (def) fail({ file, line: i + 1, column: line.indexOf('$') + 1 }, 'parameter definitions ($NAME=...) are not supported; expand them first');
    const tokens: Token[] = [];
    const re = /"((?:[^"\\]|\\.)*)"|([{}])|([#!].*$)|([^\s{}"#!]+)/g;
    let m: RegExpExecArray | null;
    while ((m = re.exec(line))) {
      if (m[3] !== undefined) break;
      const place: Place = { file, line: i + 1, column: m.index + 1 };
      tokens.push({ text: m[1] !== undefined ? m[1].replace(/\\"/g, '"') : (m[2] ?? m[4])!, place });
    }
    if (tokens.length) out.push(tokens);
  }
  return out;
}

function parseTree(lines: Token[][], file: string, options: ImportOptions, depth = 0): Node[] {
  const root: Node[] = [];
  const stack: Node[][] = [root];
  let last: Node | undefined;
  for (const tokens of lines) {
    let current: Node | undefined;
    for (const t of tokens) {
      const level = stack[stack.length - 1]!;
      if (t.text === '{') {
        const owner = current ?? last;
        if (!owner || owner.children) fail(t.place, 'a { without a keyword before it');
        owner.children = [];
        stack.push(owner.children);
        current = undefined;
        last = undefined;
      } else if (t.text === '}') {
        if (stack.length === 1) fail(t.place, 'a } without an open block');
        stack.pop();
        current = undefined;
        last = undefined;
      } else if (!current) {
        current = { key: t.text, args: [], place: t.place };
        level.push(current);
        last = current;
      } else current.args.push(t);
    }
    if (current && current.key === 'include' && !current.children) {
      const level = stack[stack.length - 1]!;
      level.pop();
      if (!current.args.length) fail(current.place, 'include needs a file name');
      if (!options.readInclude) fail(current.place, 'include is not supported here (no way to read other files)');
      if (depth > 8) fail(current.place, 'includes nested too deeply (a loop?)');
      for (const inc of options.readInclude(current.args[0]!.text, file)) {
        level.push(...parseTree(tokenize(inc.text, inc.file), inc.file, options, depth + 1));
      }
    }
  }
  if (stack.length > 1) {
    const open = lines.flat().filter((t) => t.text === '{');
    fail(open[open.length - 1]?.place ?? { file, line: 1, column: 1 }, 'a block is not closed (missing })');
  }
  return root;
}

const METHOD: Record<string, ForwardMethod> = { NAT: 'masq', DR: 'route', TUN: 'tunnel' };

/**
 * Read a keepalived.conf. Throws an {@link ImportError} with file:line:column
 * for what cannot be read; returns warnings for what has no counterpart.
 * `options.readInclude(name, from)` reads `include` targets (the command
 * line resolves them against the including file and expands wildcards).
 * @example
 * ```ts
 * const r = importKeepalived(readFileSync('/etc/keepalived/keepalived.conf', 'utf8'), { file: 'keepalived.conf' });
 * ```
 */
export function importKeepalived(text: string, options: ImportOptions = {}): ImportResult {
  const file = options.file ?? '<input>';
  const warnings: ImportWarning[] = [];
  const warn = (n: Node | Token, key: string, message: string): void => {
    warnings.push({ file: n.place.file, line: n.place.line, key, message });
  };
  const tree = parseTree(tokenize(text, file), file, options);
  const services: ServiceState[] = [];
  const health: ImportedHealth[] = [];
  const vrrp: Record<string, unknown>[] = [];
  let sync: Record<string, unknown> | undefined;
  for (const n of tree) {
    switch (n.key) {
      case 'global_defs': {
        // Only lvs_sync_daemon has a counterpart (the failover's sync daemon); the rest is named in one warning.
        const other: string[] = [];
        for (const c of n.children ?? []) {
          if (c.key !== 'lvs_sync_daemon') other.push(c.key);
          else if (sync) warn(c, c.key, `lvs_sync_daemon ignored: the sync daemon is already given (on ${String(sync.interface)})`);
          else sync = readSyncDaemon(c, warn);
        }
        if (other.length) warn(n, n.key, `global_defs { ${other.join(', ')} } not carried over`);
        break;
      }
      case 'virtual_server': {
        const r = readVirtualServer(n, warn);
        if (r) {
          services.push(r.service);
          if (r.health) health.push(r.health);
        }
        break;
      }
      case 'vrrp_instance': {
        const { instance, syncInterface } = readVrrp(n, warn);
        // The form keepalived deprecated after 1.2.19: `lvs_sync_daemon_interface IFACE`
        // inside a vrrp_instance means `lvs_sync_daemon IFACE <that instance>`; the first one given wins.
        if (syncInterface) {
          if (sync) warn(syncInterface, syncInterface.key, `lvs_sync_daemon_interface ignored: the sync daemon is already given (on ${String(sync.interface)})`);
          else sync = { interface: arg(syncInterface).text, instance: instance.name };
        }
        vrrp.push(instance);
        break;
      }
      default:
        warn(n, n.key, `${n.key}${n.children ? ' { … }' : ''} not carried over`);
    }
  }
  warnings.sort((a, b) => (a.file === b.file ? a.line - b.line : 0));
  const result: ImportResult = { format: 'keepalived', desired: { services }, health, warnings };
  if (vrrp.length || sync) result.failover = { vrrpInstances: vrrp, ...(sync ? { syncDaemon: sync } : {}) };
  return result;
}

type Warn = (n: Node | Token, key: string, message: string) => void;

const arg = (n: Node, i = 0): Token => n.args[i] ?? fail(n.place, `${n.key} needs a value`);
const count = (n: Node, min = 0, max = 0x7fffffff): number => parseCount(arg(n).text, n.key, arg(n).place, min, max);
const seconds = (n: Node): number => parseSeconds(arg(n).text, n.key, arg(n).place);

function method(n: Node): { forward: ForwardMethod; tunnel?: TunnelSpec } {
  const m = arg(n).text.toUpperCase();
  const forward = METHOD[m];
  if (!forward) fail(arg(n).place, `${n.key} must be NAT, DR or TUN, got ${JSON.stringify(arg(n).text)}`);
  if (forward !== 'tunnel' || n.args.length === 1) return { forward };
  const words = n.args.slice(1).map((t) => t.text);
  const tunnel: TunnelSpec = { type: 'ipip' };
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    if (w === 'type') {
      const t = words[++i];
      if (t !== 'ipip' && t !== 'gue' && t !== 'gre') fail(n.args[i]?.place ?? n.place, `tunnel type must be ipip, gue or gre, got ${JSON.stringify(t ?? '')}`);
      tunnel.type = t;
    } else if (w === 'port') tunnel.port = parseCount(words[++i] ?? '', 'port', n.args[i]?.place ?? n.place, 1, 65535);
    else if (w === 'nocsum' || w === 'csum' || w === 'remcsum') tunnel.checksum = w;
    else fail(n.args[i + 1]!.place, `unexpected ${JSON.stringify(w)} in ${n.key}`);
  }
  return { forward, tunnel };
}

interface Timing {
  delayLoop: number;
  connectTimeout: number;
  retry?: number;
  retryDelay?: number;
  inhibit: boolean;
}

/** Keys of the timing cascade (virtual server → real server → checker). */
function readTiming(n: Node, t: Timing): boolean {
  switch (n.key) {
    case 'delay_loop': t.delayLoop = seconds(n); return true;
    case 'connect_timeout': t.connectTimeout = seconds(n); return true;
    case 'retry': case 'nb_get_retry': t.retry = count(n); return true;
    case 'delay_before_retry': t.retryDelay = seconds(n); return true;
    case 'inhibit_on_failure':
      t.inhibit = n.args.length === 0 || /^(on|yes|true)$/i.test(n.args[0]!.text);
      return true;
    default: return false;
  }
}

function readChecker(c: Node, timing: Timing, warn: Warn): { check: ImportedCheck; timing: Timing } {
  const t: Timing = { ...timing };
  let port: number | undefined;
  const common = (): Partial<ImportedCheck> => ({ ...(port !== undefined ? { port } : {}), timeoutMs: t.connectTimeout });
  const urls: Node[] = [];
  let dns: { type?: string; name?: string } = {};
  let misc: { path?: string; timeout?: number } = {};
  let udp: { payload?: string; reply?: string } = {};
  for (const n of c.children ?? []) {
    if (readTiming(n, t)) continue;
    switch (n.key) {
      case 'connect_port': port = count(n, 1, 65535); break;
      case 'url': urls.push(n); break;
      case 'type': dns.type = arg(n).text; break;
      case 'name': dns.name = arg(n).text; break;
      case 'misc_path': misc.path = arg(n).text; break;
      case 'misc_timeout': misc.timeout = seconds(n); break;
      case 'payload': udp.payload = arg(n).text; break;
      case 'require_reply': udp.reply = n.args[0]?.text ?? ''; break;
      default: warn(n, n.key, `${c.key} ${n.key} not carried over`);
    }
  }
  switch (c.key) {
    case 'TCP_CHECK':
      return { check: { type: 'tcp', ...common() } as ImportedCheck, timing: t };
    case 'HTTP_GET':
    case 'SSL_GET': {
      if (urls.length > 1) warn(urls[1]!, 'url', `${c.key}: only the first url block is carried over`);
      const check = { type: c.key === 'SSL_GET' ? 'https' : 'http', ...common() } as ImportedCheck & { type: 'http' | 'https' };
      for (const n of urls[0]?.children ?? []) {
        switch (n.key) {
          case 'path': check.path = arg(n).text; break;
          case 'status_code': check.status = n.args.map((a) => a.text).join(','); break;
          case 'virtualhost': check.host = arg(n).text; break;
          case 'regex': check.expect = arg(n).text; break;
          default: warn(n, n.key, `url ${n.key} not carried over${n.key === 'digest' ? ' (no body digest checks; use regex)' : ''}`);
        }
      }
      return { check, timing: t };
    }
    case 'DNS_CHECK':
      if (t.retry === undefined) t.retry = 3;
      return { check: { type: 'dns', name: dns.name ?? '.', recordType: dns.type ?? 'SOA', ...common() } as ImportedCheck, timing: t };
    case 'MISC_CHECK': {
      if (t.retry === undefined) t.retry = 0;
      if (!misc.path) fail(c.place, 'MISC_CHECK needs misc_path');
      const [command, ...args] = misc.path.split(/\s+/);
      const check = { type: 'exec', command: command!, ...(args.length ? { args } : {}), timeoutMs: misc.timeout ?? t.delayLoop } as ImportedCheck;
      return { check, timing: t };
    }
    case 'PING_CHECK':
      return { check: { type: 'icmp', timeoutMs: t.connectTimeout }, timing: t };
    case 'SMTP_CHECK':
      return { check: { type: 'negotiate', expect: '^220', ...common() } as ImportedCheck, timing: t };
    case 'UDP_CHECK':
      // keepalived's payload and require_reply are hex strings; the reply must start with those bytes.
      return {
        check: { type: 'udp', send: { hex: udp.payload ?? '' }, ...(udp.reply ? { expect: hexPrefixPattern(udp.reply) } : {}), ...common() } as ImportedCheck,
        timing: t,
      };
    default:
      warn(c, c.key, `${c.key} not carried over; checked by a TCP connect instead`);
      return { check: { type: 'tcp', ...common() } as ImportedCheck, timing: t };
  }
}

const CHECKERS = new Set(['TCP_CHECK', 'HTTP_GET', 'SSL_GET', 'DNS_CHECK', 'MISC_CHECK', 'PING_CHECK', 'SMTP_CHECK', 'UDP_CHECK', 'BFD_CHECK', 'FILE_CHECK']);

function readVirtualServer(vs: Node, warn: Warn): { service: ServiceState; health?: ImportedHealth } | undefined {
  if (!vs.children) fail(vs.place, 'virtual_server needs a { } block');
  const a0 = arg(vs);
  let key: ServiceKey;
  let port = 0;
  let address: string | undefined;
  if (a0.text === 'group') {
    warn(vs, 'virtual_server', 'virtual_server group not carried over (list its addresses as separate virtual servers)');
    return undefined;
  }
  let fwmark: number | undefined;
  if (a0.text === 'fwmark') fwmark = parseCount(arg(vs, 1).text, 'fwmark', arg(vs, 1).place, 1, 0xffffffff);
  else {
    address = parseAddress(a0.text, 'virtual_server', a0.place);
    if (vs.args[1]) port = parseCount(vs.args[1].text, 'port', vs.args[1].place, 0, 65535);
  }
  let protocol: 'tcp' | 'udp' | 'sctp' = 'tcp';
  let family: 'ipv4' | 'ipv6' | undefined;
  let scheduler = 'wlc';
  const flags: SchedulerFlag[] = [];
  let onePacket = false;
  let fwd: { forward: ForwardMethod; tunnel?: TunnelSpec } = { forward: 'masq' };
  let persistence: { timeout: number; netmask?: string | number } | undefined;
  let granularity: string | undefined;
  let engine: string | undefined;
  let sorryNode: Node | undefined;
  let sorryMethod: Node | undefined;
  const quorum = { minWeight: 1, hysteresis: 0, set: false };
  const timing: Timing = { delayLoop: 60000, connectTimeout: 5000, inhibit: false };
  const reals: Node[] = [];
  for (const n of vs.children) {
    if (readTiming(n, timing)) continue;
    switch (n.key) {
      case 'lvs_sched': case 'lb_algo': scheduler = arg(n).text; break;
      case 'flag-1': case 'flag-2': case 'flag-3': case 'sh-port': case 'sh-fallback': case 'mh-port': case 'mh-fallback': flags.push(n.key); break;
      case 'ops': onePacket = true; break;
      case 'lvs_method': case 'lb_kind': fwd = method(n); break;
      case 'persistence_timeout': persistence = { timeout: n.args.length ? count(n, 1) : 360 }; break;
      case 'persistence_granularity': granularity = arg(n).text; break;
      case 'persistence_engine': engine = arg(n).text; break;
      case 'protocol': {
        const p = arg(n).text.toLowerCase();
        if (p !== 'tcp' && p !== 'udp' && p !== 'sctp') fail(arg(n).place, `protocol must be TCP, UDP or SCTP, got ${JSON.stringify(arg(n).text)}`);
        protocol = p;
        break;
      }
      case 'ip_family': family = arg(n).text === 'inet6' ? 'ipv6' : 'ipv4'; break;
      case 'quorum': quorum.minWeight = count(n); quorum.set = true; break;
      case 'hysteresis': quorum.hysteresis = count(n); quorum.set = true; break;
      case 'sorry_server': sorryNode = n; break;
      case 'sorry_server_lvs_method': sorryMethod = n; break;
      case 'real_server': reals.push(n); break;
      default: warn(n, n.key, `${n.key} not carried over`);
    }
  }
  if (fwmark !== undefined) key = family === 'ipv6' ? { fwmark, family } : { fwmark };
  else key = { protocol, address: address!, port };
  // keepalived makes a port-0 address service persistent.
  if (fwmark === undefined && port === 0 && !persistence) persistence = { timeout: 360 };
  const spec: ServiceSpec = { ...key, scheduler };
  if (flags.length) spec.schedulerFlags = flags;
  if (persistence) {
    if (granularity !== undefined) persistence.netmask = /^\d+$/.test(granularity) ? Number(granularity) : granularity;
    spec.persistence = persistence;
  }
  if (engine) spec.persistenceEngine = engine;
  if (onePacket) spec.onePacket = true;

  const destinations: DestinationSpec[] = [];
  const checks: { address: string; port: number; check: ImportedCheck; timing: Timing }[] = [];
  for (const r of reals) {
    const ra = parseAddress(arg(r).text, 'real_server', arg(r).place);
    const rport = r.args[1] ? parseCount(r.args[1].text, 'port', r.args[1].place, 0, 65535) : port;
    const d: DestinationSpec = { address: ra, port: rport, weight: 1, forward: fwd.forward };
    if (fwd.tunnel) d.tunnel = { ...fwd.tunnel };
    const rt: Timing = { ...timing };
    const checkers: Node[] = [];
    for (const n of r.children ?? []) {
      if (readTiming(n, rt)) continue;
      if (CHECKERS.has(n.key)) {
        checkers.push(n);
        continue;
      }
      switch (n.key) {
        case 'weight': d.weight = count(n); break;
        case 'lvs_method': case 'lb_kind': {
          const m = method(n);
          d.forward = m.forward;
          if (m.tunnel) d.tunnel = m.tunnel;
          else delete d.tunnel;
          break;
        }
        case 'uthreshold': d.upperThreshold = count(n); break;
        case 'lthreshold': d.lowerThreshold = count(n); break;
        default: warn(n, n.key, `real_server ${n.key} not carried over`);
      }
    }
    destinations.push(d);
    if (checkers.length > 1) warn(checkers[1]!, checkers[1]!.key, 'only the first checker of a real server is carried over');
    if (checkers[0]) checks.push({ address: ra, port: rport, ...readChecker(checkers[0], rt, warn) });
  }
  const service: ServiceState = { ...spec, destinations };
  if (!checks.length) return { service };
  const first = checks[0]!;
  const h: ImportedHealth = {
    service: key,
    check: first.check,
    intervalMs: first.timing.delayLoop,
    rise: 1,
    fall: (first.timing.retry ?? 1) + 1,
    onDown: first.timing.inhibit ? 'quiesce' : 'remove',
  };
  const retryDelay = first.timing.retryDelay ?? (first.check.type === 'http' || first.check.type === 'https' ? 3000 : first.check.type === 'dns' ? first.timing.delayLoop : 1000);
  h.retryDelayMs = retryDelay;
  if (quorum.set) h.quorum = { minWeight: quorum.minWeight, hysteresis: quorum.hysteresis };
  if (sorryNode) {
    const s = sorryNode;
    const sm = sorryMethod ? method(sorryMethod) : fwd;
    h.sorryServer = { address: parseAddress(arg(s).text, 'sorry_server', arg(s).place), port: s.args[1] ? parseCount(s.args[1].text, 'port', s.args[1].place, 0, 65535) : port, weight: 1, forward: sm.forward };
    if (sm.tunnel) h.sorryServer.tunnel = sm.tunnel;
  }
  const others = checks.slice(1).filter((c) => JSON.stringify(c.check) !== JSON.stringify(first.check));
  if (others.length) h.destinationChecks = others.map((c) => ({ address: c.address, port: c.port, check: c.check }));
  return { service, health: h };
}

/**
 * `lvs_sync_daemon INTERFACE VRRP_INSTANCE [id N] [maxlen N] [port N] [ttl N] [group ADDR]`
 * (keepalived.conf(5), global_defs): the sync daemon follows that instance's role.
 */
function readSyncDaemon(n: Node, warn: Warn): Record<string, unknown> {
  const out: Record<string, unknown> = { interface: arg(n, 0).text, instance: arg(n, 1).text };
  const NAMES: Record<string, [string, number, number]> = { id: ['syncId', 0, 255], maxlen: ['maxLength', 1, 65507], port: ['multicastPort', 1, 65535], ttl: ['multicastTtl', 1, 255] };
  for (let i = 2; i < n.args.length; i++) {
    const w = n.args[i]!;
    const value = n.args[i + 1];
    const named = NAMES[w.text];
    if ((named || w.text === 'group') && !value) fail(w.place, `lvs_sync_daemon ${w.text} needs a value`);
    if (named) out[named[0]] = parseCount(value!.text, `lvs_sync_daemon ${w.text}`, value!.place, named[1], named[2]);
    else if (w.text === 'group') out.multicastGroup = parseAddress(value!.text, 'lvs_sync_daemon group', value!.place);
    else {
      warn(w, n.key, `lvs_sync_daemon option ${JSON.stringify(w.text)} not carried over`);
      continue;
    }
    i++;
  }
  return out;
}

/** A vrrp_instance's settings, and its `lvs_sync_daemon_interface` line if it has one. */
function readVrrp(n: Node, warn: Warn): { instance: Record<string, unknown>; syncInterface: Node | undefined } {
  const out: Record<string, unknown> = { name: n.args[0]?.text ?? '' };
  let syncInterface: Node | undefined;
  for (const c of n.children ?? []) {
    switch (c.key) {
      case 'state': out.state = arg(c).text.toLowerCase(); break;
      case 'interface': out.interface = arg(c).text; break;
      case 'virtual_router_id': out.virtualRouterId = count(c, 1, 255); break;
      case 'priority': out.priority = count(c, 1, 255); break;
      case 'advert_int': out.advertIntMs = seconds(c); break;
      case 'nopreempt': out.preempt = false; break;
      case 'preempt_delay': out.preemptDelayMs = seconds(c); break;
      case 'authentication': {
        const auth: Record<string, string> = {};
        for (const x of c.children ?? []) {
          if (x.key === 'auth_type') auth.type = arg(x).text;
          else if (x.key === 'auth_pass') auth.password = arg(x).text;
          else warn(x, x.key, `authentication ${x.key} not carried over`);
        }
        out.authentication = auth;
        break;
      }
      case 'virtual_ipaddress':
        out.virtualAddresses = (c.children ?? []).map((x) => {
          const v: Record<string, string> = { address: x.key };
          for (let i = 0; i < x.args.length; i++) {
            if (x.args[i]!.text === 'dev') v.interface = x.args[++i]?.text ?? '';
            else if (x.args[i]!.text === 'label') v.label = x.args[++i]?.text ?? '';
            else warn(x.args[i]!, 'virtual_ipaddress', `virtual_ipaddress option ${JSON.stringify(x.args[i]!.text)} not carried over`);
          }
          return v;
        });
        break;
      case 'unicast_peer': out.unicastPeers = (c.children ?? []).map((x) => x.key); break;
      case 'unicast_src_ip': out.unicastSource = arg(c).text; break;
      case 'lvs_sync_daemon_interface':
        arg(c);
        if (syncInterface) warn(c, c.key, 'lvs_sync_daemon_interface given twice: the first one counts');
        else syncInterface = c;
        break;
      default: warn(c, c.key, `vrrp_instance ${c.key} not carried over`);
    }
  }
  return { instance: out, syncInterface };
}

/** A regular expression matching a reply that starts with the bytes of `hex` (as latin1 text, the UDP check's view of a reply). */
function hexPrefixPattern(hex: string): string {
  const bytes = hex.replace(/^0x/i, '').match(/../g) ?? [];
  return `^${bytes.map((b) => `\\x${b.toLowerCase()}`).join('')}`;
}
