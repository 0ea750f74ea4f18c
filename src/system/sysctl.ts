/**
 * Kernel parameters under `/proc/sys`, by dotted name, in any network namespace.
 *
 * Entries under `/proc/sys/net` belong to the network namespace of the thread
 * that *opens* them; once open, reads and writes go to that namespace whatever
 * thread does them. So each access opens its file through the native addon's
 * `openFile` (on a short-lived thread that joins the namespace, see
 * docs/native.md), then reads or writes it with `node:fs` and closes it. The
 * Node.js main thread never changes namespace.
 *
 * Names are checked before anything is opened: dotted components of letters,
 * digits, `_` and `-`, nothing empty, no `..`, no `/` — except in the interface
 * component of `net.ipv4.conf.<if>.*` & co., which is checked as an interface
 * name (1-15 bytes, no `/`, `:` or whitespace). An interface name containing
 * dots (`eth0.100`) can be written as is or with `/` for `.` as sysctl(8) and
 * sysctl.conf do (`net.ipv4.conf.eth0/100.rp_filter`); both mean the directory
 * `/proc/sys/net/ipv4/conf/eth0.100`. The last component is always the key,
 * so name an interface *directory* with dots in the `/` form. Canonical names
 * (what {@link SysctlName.name} and snapshot keys hold) use the `/` form, as
 * `sysctl -a` prints them.
 * @module
 */
import { closeSync, constants as fsConstants, readSync, writeSync } from 'node:fs';
import { InvalidArgumentError } from '../errors.js';
import { openFile } from '../netlink/binding.js';

/** Options of {@link Sysctl.open}. */
export interface SysctlOptions {
  /**
   * Network namespace file (`/run/netns/NAME`, `/proc/PID/ns/net`) whose
   * `net.*` values to read and write. Default: the namespace of the process.
   */
  netns?: string;
}

/** A value to write: text, an integer, or several integers (written tab-separated, as the kernel prints them). */
export type SysctlValue = string | number | readonly number[];

/**
 * Saved values by canonical dotted name, as read (trailing newline removed).
 * A plain object, so it can be stored as JSON and restored later.
 */
export type SysctlSnapshot = Readonly<Record<string, string>>;

/** A parsed, validated sysctl name. */
export interface SysctlName {
  /**
   * Canonical dotted name, as `sysctl -a` prints it: the dots of an interface
   * name are written `/` (`net.ipv4.conf.eth0/100.rp_filter`).
   */
  readonly name: string;
  /** The file: `/proc/sys/net/ipv4/conf/eth0.100/rp_filter`. */
  readonly path: string;
  /** The interface component, for per-interface keys (`eth0.100`; also `all`, `default`). */
  readonly interface?: string;
  /** Canonical dotted name of the directory holding the interface's keys (`net.ipv4.conf.eth0/100`). */
  readonly interfaceDirectory?: string;
}

/** Options of {@link SysctlError}. */
export interface SysctlErrorOptions {
  /** The dotted name concerned. */
  key?: string;
  /** Positive errno value, when a system call failed. */
  errno?: number;
  /** Symbolic code: the errno name (`'ENOENT'`, `'EINVAL'`, `'EACCES'`) or an `ERR_*` code. */
  code?: string;
  /** The system call that failed (`'open'`, `'setns'`, `'read'`, `'write'`). */
  syscall?: string;
  /** For a failed {@link Sysctl.restore}: one error per key that could not be restored. */
  errors?: Error[];
  /** Underlying error. */
  cause?: unknown;
}

/** Reading or writing a kernel parameter failed (no such key, refused value, no permission, bad namespace). */
export class SysctlError extends Error {
  override name = 'SysctlError';
  /** The dotted name concerned, when one was. */
  readonly key?: string;
  /** Positive errno value, when a system call failed. */
  readonly errno?: number;
  /** Symbolic code, e.g. `'ENOENT'` for a missing key. */
  readonly code: string;
  /** The system call that failed, when one did. */
  readonly syscall?: string;
  /** For a failed {@link Sysctl.restore}: one error per key that could not be restored. */
  readonly errors?: Error[];
  constructor(message: string, options: SysctlErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    if (options.key !== undefined) this.key = options.key;
    if (options.errno !== undefined) this.errno = options.errno;
    this.code = options.code ?? 'ERR_SYSCTL';
    if (options.syscall !== undefined) this.syscall = options.syscall;
    if (options.errors !== undefined) this.errors = options.errors;
  }
}

/** Prefixes whose next component (up to the last one) is an interface name. */
const INTERFACE_PREFIXES: readonly string[] = ['net.ipv4.conf', 'net.ipv6.conf', 'net.ipv4.neigh', 'net.ipv6.neigh', 'net.mpls.conf'];
const COMPONENT = /^[A-Za-z0-9_-]+$/;
const MAX_NAME_LENGTH = 512;
/** IFNAMSIZ (16) minus the NUL. */
const MAX_INTERFACE_BYTES = 15;

/**
 * Check an interface name the way the kernel's dev_valid_name() does: 1-15
 * bytes, not `.` or `..`, no `/`, `:` or whitespace. Returns the problem, or
 * undefined when the name is valid.
 */
export function interfaceNameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string') return `must be a string, got ${typeof name}`;
  if (name.length === 0) return 'must not be empty';
  const bytes = Buffer.byteLength(name);
  if (bytes > MAX_INTERFACE_BYTES) return `"${name}" is ${bytes} bytes long; interface names have at most ${MAX_INTERFACE_BYTES}`;
  if (name === '.' || name === '..') return `"${name}" is not a valid interface name`;
  if (/[/:\s\u0000]/.test(name)) return `"${name}" contains '/', ':', whitespace or NUL, which interface names cannot`;
  return undefined;
}

/**
 * Validate a dotted sysctl name and map it to its file under `/proc/sys`.
 * Throws {@link InvalidArgumentError} (field = the name as given) when the name
 * is malformed: empty components, characters outside `[A-Za-z0-9_-]`, `..`, `/`,
 * or an invalid interface component.
 */
export function parseSysctlName(name: unknown): SysctlName {
  const field = typeof name === 'string' && name.length > 0 && name.length <= MAX_NAME_LENGTH ? name : 'name';
  const bad = (message: string): never => {
    throw new InvalidArgumentError(field, message);
  };
  if (typeof name !== 'string') return bad(`a sysctl name must be a string, got ${typeof name}`);
  if (name.length === 0) return bad('a sysctl name must not be empty');
  if (name.length > MAX_NAME_LENGTH) return bad(`a sysctl name must be at most ${MAX_NAME_LENGTH} characters`);

  const prefix = INTERFACE_PREFIXES.find((p) => name.startsWith(`${p}.`));
  if (prefix !== undefined) {
    const rest = name.slice(prefix.length + 1);
    const dot = rest.lastIndexOf('.');
    // Without a leaf this names the interface's directory (useful for has()).
    const ifText = dot < 0 ? rest : rest.slice(0, dot);
    const leaf = dot < 0 ? undefined : rest.slice(dot + 1);
    // sysctl(8) writes the dots of an interface name as '/'.
    const iface = ifText.replace(/\//g, '.');
    const problem = interfaceNameProblem(iface);
    if (problem !== undefined) return bad(`invalid interface component in sysctl name: ${problem}`);
    if (leaf !== undefined && !COMPONENT.test(leaf)) {
      return bad(`invalid last component "${leaf}" in sysctl name (letters, digits, '_' and '-' only)`);
    }
    const dir = `${prefix}.${iface.replace(/\./g, '/')}`;
    return {
      name: leaf === undefined ? dir : `${dir}.${leaf}`,
      path: `/proc/sys/${prefix.replace(/\./g, '/')}/${iface}${leaf === undefined ? '' : `/${leaf}`}`,
      interface: iface,
      interfaceDirectory: dir,
    };
  }

  const parts = name.split('.');
  parts.forEach((part, i) => {
    if (part.length === 0) bad(`empty component ${i + 1} in sysctl name`);
    if (!COMPONENT.test(part)) bad(`invalid component "${part}" in sysctl name (letters, digits, '_' and '-' only)`);
  });
  return { name, path: `/proc/sys/${parts.join('/')}` };
}

// ---- values ----

/** The kernel's range for a typed key: integers from min to max, and optional extra rules. */
interface ValueRule {
  /** Number of integers expected (default 1). */
  count?: number;
  min: number;
  max: number;
  /** What the values mean, for messages. */
  what?: string;
  /** Extra check on the integers; returns the problem or undefined. */
  check?: (values: number[]) => string | undefined;
}

const INT_MAX = 2147483647;
const bool: ValueRule = { min: 0, max: 1, what: 'a boolean (0 or 1)' };
const range = (min: number, max: number, what?: string): ValueRule => (what === undefined ? { min, max } : { min, max, what });
const nonNegative: ValueRule = { min: 0, max: INT_MAX };
/** proc_dointvec_jiffies: seconds, at most INT_MAX / HZ (HZ up to 1000). */
const seconds: ValueRule = { min: 0, max: Math.floor(INT_MAX / 1000), what: 'seconds' };

/** Per-interface IPv4 keys (net.ipv4.conf.<if>.*), documented in ip-sysctl.rst. */
const IPV4_CONF: Readonly<Record<string, ValueRule>> = {
  arp_ignore: range(0, 8),
  arp_announce: range(0, 2),
  rp_filter: range(0, 2),
  arp_filter: bool,
  arp_accept: range(0, 2),
  arp_notify: bool,
  proxy_arp: bool,
  send_redirects: bool,
  accept_redirects: bool,
  secure_redirects: bool,
  forwarding: bool,
  accept_local: bool,
  route_localnet: bool,
  accept_source_route: bool,
  log_martians: bool,
  drop_gratuitous_arp: bool,
};

/** Per-interface IPv6 keys (net.ipv6.conf.<if>.*). */
const IPV6_CONF: Readonly<Record<string, ValueRule>> = {
  forwarding: bool,
  disable_ipv6: bool,
  accept_dad: range(0, 2),
  accept_ra: range(0, 2),
  accept_untracked_na: range(0, 2),
  drop_unsolicited_na: bool,
  ndisc_notify: bool,
  proxy_ndp: bool,
};

/** net.ipv4.vs.* (Documentation/networking/ipvs-sysctl.rst and the handlers in ip_vs_ctl.c). */
const IPVS: Readonly<Record<string, ValueRule>> = {
  amemthresh: nonNegative,
  am_droprate: nonNegative,
  backup_only: bool,
  cache_bypass: bool,
  conn_reuse_mode: range(0, 3, 'a bit map of 1 and 2'),
  conntrack: bool,
  debug_level: nonNegative,
  drop_entry: range(0, 3, 'a defense mode'),
  drop_packet: range(0, 3, 'a defense mode'),
  est_nice: range(-20, 19, 'a nice value'),
  expire_nodest_conn: bool,
  expire_quiescent_template: bool,
  ignore_tunneled: bool,
  nat_icmp_send: bool,
  pmtu_disc: bool,
  run_estimation: bool,
  schedule_icmp: bool,
  secure_tcp: range(0, 3, 'a defense mode'),
  sloppy_sctp: bool,
  sloppy_tcp: bool,
  snat_reroute: bool,
  sync_persist_mode: bool,
  sync_ports: {
    min: 1,
    max: 1 << 30,
    what: 'a power of two',
    check: ([v]) => ((v! & (v! - 1)) === 0 ? undefined : `must be a power of two, got ${v}`),
  },
  sync_qlen_max: { min: 0, max: Number.MAX_SAFE_INTEGER },
  sync_refresh_period: seconds,
  sync_retries: range(0, 3),
  sync_sock_size: nonNegative,
  sync_threshold: {
    count: 2,
    min: 0,
    max: INT_MAX,
    what: 'threshold and period',
    check: ([threshold, period]) =>
      period !== 0 && threshold! >= period! ? `the threshold (${threshold}) must be below the period (${period}), or the period 0` : undefined,
  },
  sync_version: range(0, 1),
  lblc_expiration: seconds,
  lblcr_expiration: seconds,
};

const EXACT: Readonly<Record<string, ValueRule>> = {
  'net.ipv4.ip_forward': bool,
  'net.ipv4.ip_nonlocal_bind': bool,
  'net.ipv6.ip_nonlocal_bind': bool,
};

function ruleFor(n: SysctlName): ValueRule | undefined {
  const leaf = n.name.slice(n.name.lastIndexOf('.') + 1);
  if (n.interfaceDirectory !== undefined && n.name !== n.interfaceDirectory) {
    if (n.name.startsWith('net.ipv4.conf.')) return IPV4_CONF[leaf];
    if (n.name.startsWith('net.ipv6.conf.')) return IPV6_CONF[leaf];
    return undefined;
  }
  if (n.name.startsWith('net.ipv4.vs.') && n.name.split('.').length === 4) return IPVS[leaf];
  return EXACT[n.name];
}

/**
 * The kernel's range for a key this module types (`net.ipv4.conf.<if>.arp_ignore`
 * → `{ min: 0, max: 8 }`), or undefined for keys it does not know. `count` is the
 * number of integers the key holds.
 */
export function sysctlRange(name: string): { min: number; max: number; count: number } | undefined {
  const r = ruleFor(parseSysctlName(name));
  return r && { min: r.min, max: r.max, count: r.count ?? 1 };
}

const MAX_VALUE_LENGTH = 4095;

/**
 * Validate `value` for key `name` and return the text to write (with the
 * trailing newline). Integers must be safe integers; strings must be one line;
 * keys with a known kernel range are range-checked. Throws
 * {@link InvalidArgumentError} whose field is the key and whose message gives the value.
 */
export function formatSysctlValue(name: string, value: SysctlValue): string {
  const n = parseSysctlName(name);
  const bad = (message: string): never => {
    throw new InvalidArgumentError(n.name, message);
  };
  let text: string;
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) bad(`value must be an integer, got ${value}`);
    text = String(value);
  } else if (typeof value === 'string') {
    text = value.endsWith('\n') ? value.slice(0, -1) : value;
    if (/[\u0000-\u0008\u000a-\u001f\u007f]/.test(text)) bad(`value must be one line of text without control characters, got ${JSON.stringify(value)}`);
    if (text.length > MAX_VALUE_LENGTH) bad(`value must be at most ${MAX_VALUE_LENGTH} characters`);
  } else if (Array.isArray(value)) {
    if (value.length === 0) bad('value must not be an empty list');
    for (const v of value) {
      if (typeof v !== 'number' || !Number.isSafeInteger(v)) bad(`every value must be an integer, got ${JSON.stringify(value)}`);
    }
    text = value.join('\t');
  } else {
    return bad(`value must be a string, an integer or a list of integers, got ${value === null ? 'null' : typeof value}`);
  }

  const rule = ruleFor(n);
  if (rule) {
    const tokens = text.trim().split(/\s+/).filter(Boolean);
    const count = rule.count ?? 1;
    const shown = JSON.stringify(typeof value === 'string' ? text : value);
    const expect = `${count === 1 ? 'an integer' : `${count} integers`} ${rule.min}..${rule.max}${rule.what ? ` (${rule.what})` : ''}`;
    if (tokens.length !== count || !tokens.every((t) => /^-?\d+$/.test(t))) bad(`value must be ${expect}, got ${shown}`);
    const nums = tokens.map(Number);
    if (nums.some((v) => v < rule.min || v > rule.max)) bad(`value must be ${expect}, got ${shown}`);
    const problem = rule.check?.(nums);
    if (problem !== undefined) bad(problem);
    text = nums.join('\t');
  }
  return `${text}\n`;
}

/** Compare two values as the kernel prints them (any run of whitespace is one separator). */
function sameValue(a: string, b: string): boolean {
  return a.trim().split(/\s+/).join(' ') === b.trim().split(/\s+/).join(' ');
}

const O_DIRECTORY = fsConstants.O_DIRECTORY;

/**
 * Read and write `/proc/sys` keys of one network namespace. Every call is a
 * small synchronous file operation (open, read or write, close); nothing is
 * kept open between calls, so there is nothing to close.
 *
 * ```ts
 * const sysctl = Sysctl.open({ netns: '/run/netns/rs1' });
 * const saved = sysctl.snapshot(['net.ipv4.conf.lo.arp_ignore', 'net.ipv4.conf.all.arp_announce']);
 * sysctl.set('net.ipv4.conf.lo.arp_ignore', 1);
 * sysctl.set('net.ipv4.conf.all.arp_announce', 2);
 * // ... later
 * sysctl.restore(saved);
 * ```
 */
export class Sysctl {
  /** The network namespace file, or undefined for the process's own namespace. */
  readonly netns: string | undefined;

  private constructor(netns: string | undefined) {
    this.netns = netns;
  }

  /**
   * Bind to a network namespace. With `netns`, the namespace is entered once
   * here to check that it can be (a bad path or missing privilege throws
   * {@link SysctlError} now rather than on first use).
   */
  static open(options: SysctlOptions = {}): Sysctl {
    const { netns } = options;
    if (netns !== undefined) {
      if (typeof netns !== 'string' || netns.length === 0) throw new InvalidArgumentError('netns', 'must be a non-empty path to a network namespace file');
      const s = new Sysctl(netns);
      closeSync(s.openPath('/proc/sys/net', fsConstants.O_RDONLY | O_DIRECTORY, undefined));
      return s;
    }
    return new Sysctl(undefined);
  }

  /** Where values come from, for messages. */
  private where(): string {
    return this.netns === undefined ? '' : ` in network namespace ${this.netns}`;
  }

  /** Open a file in this namespace; errors become SysctlError naming `key` (or the namespace). */
  private openPath(path: string, flags: number, key: SysctlName | undefined): number {
    try {
      return openFile(path, flags, this.netns === undefined ? {} : { netns: this.netns });
    } catch (e) {
      throw this.describe(e, key, flags);
    }
  }

  private describe(e: unknown, key: SysctlName | undefined, flags: number, value?: string): SysctlError {
    const err = e as NodeJS.ErrnoException;
    const code = typeof err?.code === 'string' ? err.code : 'ERR_SYSCTL';
    const syscall = typeof err?.syscall === 'string' ? err.syscall : undefined;
    const base = { code, cause: e, ...(syscall ? { syscall } : {}), ...(typeof err?.errno === 'number' ? { errno: Math.abs(err.errno) } : {}) };
    if (syscall === 'setns' || (syscall === 'open' && this.netns !== undefined && err.path === this.netns)) {
      return new SysctlError(`cannot enter network namespace ${this.netns}: ${err.message}`, base);
    }
    if (!key) return new SysctlError(`${err?.message ?? String(e)}${this.where()}`, base);
    const k = { ...base, key: key.name };
    const writing = (flags & fsConstants.O_WRONLY) !== 0;
    switch (syscall === 'open' ? code : `${code}/io`) {
      case 'ENOENT': {
        let hint = '';
        const dirPath = key.path.slice(0, key.path.lastIndexOf('/'));
        if (key.interface !== undefined && key.interfaceDirectory !== key.name && !this.exists(dirPath, key)) {
          hint = ` (no interface ${key.interface}${this.where() || ' in this network namespace'})`;
        }
        return new SysctlError(`no such sysctl ${key.name}${this.where()}${hint}`, k);
      }
      case 'EISDIR':
      case 'EISDIR/io':
        return new SysctlError(`${key.name} is a directory of sysctls, not a sysctl`, k);
      case 'EACCES':
      case 'EPERM':
        return new SysctlError(
          writing ? `cannot write ${key.name}${this.where()}: ${code} (read-only, or CAP_NET_ADMIN/CAP_SYS_ADMIN is missing)` : `cannot read ${key.name}${this.where()}: ${code}`,
          k,
        );
      case 'EINVAL/io':
      case 'ERANGE/io':
      case 'ENOENT/io':
        return writing
          ? new SysctlError(`the kernel refused ${value === undefined ? 'the value' : `value ${JSON.stringify(value)}`} for ${key.name}${this.where()}: ${code}`, k)
          : new SysctlError(`cannot read ${key.name}${this.where()}: ${err.message}`, k);
      default:
        return new SysctlError(`${writing ? 'cannot write' : 'cannot read'} ${key.name}${this.where()}: ${err?.message ?? String(e)}`, k);
    }
  }

  /**
   * Whether the key, or directory of keys (`net.ipv4.vs`, `net.ipv4.conf.eth0`),
   * exists in this namespace.
   */
  has(name: string): boolean {
    const n = parseSysctlName(name);
    return this.exists(n.path, n);
  }

  private exists(path: string, n: SysctlName): boolean {
    let fd: number;
    try {
      fd = openFile(path, fsConstants.O_RDONLY, this.netns === undefined ? {} : { netns: this.netns });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return false;
      if (code === 'EACCES') return true; // a write-only key such as net.ipv4.route.flush
      throw this.describe(e, n, fsConstants.O_RDONLY);
    }
    closeSync(fd);
    return true;
  }

  /** The value of `name` as the kernel prints it, without the trailing newline (`'1'`, `'3\t50'`). */
  get(name: string): string {
    const n = parseSysctlName(name);
    const fd = this.openPath(n.path, fsConstants.O_RDONLY, n);
    try {
      const chunks: Buffer[] = [];
      const buf = Buffer.allocUnsafe(4096);
      for (;;) {
        let got: number;
        try {
          got = readSync(fd, buf, 0, buf.length, null);
        } catch (e) {
          throw this.describe(e, n, fsConstants.O_RDONLY);
        }
        if (got === 0) break;
        chunks.push(Buffer.from(buf.subarray(0, got)));
      }
      const text = Buffer.concat(chunks).toString('utf8');
      return text.endsWith('\n') ? text.slice(0, -1) : text;
    } finally {
      closeSync(fd);
    }
  }

  /**
   * Write `value` to `name` (as text with a newline, in one write). The value is
   * checked first ({@link formatSysctlValue}); a refused value changes nothing.
   */
  set(name: string, value: SysctlValue): void {
    const n = parseSysctlName(name);
    const text = formatSysctlValue(n.name, value);
    this.write(n, text);
  }

  private write(n: SysctlName, text: string): void {
    const fd = this.openPath(n.path, fsConstants.O_WRONLY, n);
    try {
      const data = Buffer.from(text, 'utf8');
      let written: number;
      try {
        written = writeSync(fd, data, 0, data.length, null);
      } catch (e) {
        throw this.describe(e, n, fsConstants.O_WRONLY, text.endsWith('\n') ? text.slice(0, -1) : text);
      }
      if (written !== data.length) {
        throw new SysctlError(`short write to ${n.name}${this.where()}: ${written} of ${data.length} bytes`, { key: n.name, code: 'EIO', syscall: 'write' });
      }
    } finally {
      closeSync(fd);
    }
  }

  /**
   * Read `keys` now, for {@link restore} later. Every name is validated before
   * anything is read; a missing key throws.
   */
  snapshot(keys: Iterable<string>): SysctlSnapshot {
    const names = [...keys].map((k) => parseSysctlName(k));
    const out: Record<string, string> = {};
    for (const n of names) out[n.name] = this.get(n.name);
    return out;
  }

  /**
   * Write back the values of a {@link Sysctl.snapshot | snapshot}, skipping keys that already
   * hold them. Every key is attempted; if some fail, a {@link SysctlError} with
   * code `'ERR_SYSCTL_RESTORE'` lists them (its `errors` property has each one).
   */
  restore(snapshot: SysctlSnapshot): void {
    if (snapshot === null || typeof snapshot !== 'object') throw new InvalidArgumentError('snapshot', 'must be an object of name → value');
    const entries = Object.entries(snapshot).map(([k, v]) => {
      const n = parseSysctlName(k);
      if (typeof v !== 'string') throw new InvalidArgumentError(n.name, `snapshot value must be a string, got ${typeof v}`);
      if (/[\u0000-\u0008\u000a-\u001f\u007f]/.test(v)) throw new InvalidArgumentError(n.name, `snapshot value must be one line of text, got ${JSON.stringify(v)}`);
      return [n, v] as const;
    });
    const errors: Error[] = [];
    for (const [n, v] of entries) {
      try {
        if (sameValue(this.get(n.name), v)) continue;
        this.write(n, `${v}\n`);
      } catch (e) {
        errors.push(e instanceof Error ? e : new Error(String(e)));
      }
    }
    if (errors.length > 0) {
      throw new SysctlError(`could not restore ${errors.length} of ${entries.length} sysctls${this.where()}:\n  ${errors.map((e) => e.message).join('\n  ')}`, {
        code: 'ERR_SYSCTL_RESTORE',
        errors,
      });
    }
  }
}
