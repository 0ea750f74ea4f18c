/**
 * The IPVS kernel parameters (`/proc/sys/net/ipv4/vs/*`, one set per network
 * namespace) as a typed object. Booleans are `boolean`, modes and sizes
 * `number`, `sync_threshold` a `[threshold, period]` pair. Meanings and ranges:
 * the kernel's Documentation/networking/ipvs-sysctl.rst.
 * @module
 */
import { InvalidArgumentError } from '../errors.js';
import { Sysctl, SysctlError, formatSysctlValue, type SysctlValue } from './sysctl.js';

/**
 * IPVS parameters of one network namespace. Fields marked optional exist only
 * on some kernels or configurations (noted on each); the others exist on every
 * kernel Node.js runs on.
 */
export interface IpvsSysctls {
  /** `am_droprate`: drop rate of drop_packet defense mode 3. */
  amDroprate: number;
  /** `amemthresh`: available-memory threshold (pages) of the automatic defense modes. */
  amemthresh: number;
  /** `backup_only`: a backup sync daemon disables the director function. */
  backupOnly: boolean;
  /** `cache_bypass`: forward to the original destination when no real server is available. */
  cacheBypass: boolean;
  /** `conn_reuse_mode`: handling of port reuse, a bit map of 1 and 2 (0..3; default 1). */
  connReuseMode: number;
  /** `conntrack`: keep netfilter connection tracking entries for IPVS connections. */
  conntrack: boolean;
  /**
   * `debug_level` (only with CONFIG_IP_VS_DEBUG). One global value: read-only
   * outside the initial network namespace.
   */
  debugLevel?: number;
  /** `drop_entry`: defense mode 0..3 (0 off, 1 auto off, 2 auto on, 3 always). */
  dropEntry: number;
  /** `drop_packet`: defense mode 0..3. */
  dropPacket: number;
  /** `est_cpulist`: CPUs for the estimation kthreads (Linux 6.2+). */
  estCpulist?: string;
  /** `est_nice`: nice value of the estimation kthreads, -20..19 (Linux 6.2+). */
  estNice?: number;
  /** `expire_nodest_conn`: expire connections of a removed real server at once. */
  expireNodestConn: boolean;
  /** `expire_quiescent_template`: expire persistence templates of a real server with weight 0. */
  expireQuiescentTemplate: boolean;
  /** `ignore_tunneled`: do not schedule tunneled packets. */
  ignoreTunneled: boolean;
  /** `lblc_expiration`: seconds (present while ip_vs_lblc is loaded). */
  lblcExpiration?: number;
  /** `lblcr_expiration`: seconds (present while ip_vs_lblcr is loaded). */
  lblcrExpiration?: number;
  /** `nat_icmp_send`: send ICMP errors for NAT-ed packets without a connection. */
  natIcmpSend: boolean;
  /** `pmtu_disc`: honour DF for tunnel forwarding. */
  pmtuDisc: boolean;
  /** `run_estimation`: compute rate statistics (Linux 5.18+). */
  runEstimation?: boolean;
  /** `schedule_icmp`: schedule ICMP packets as new connections. */
  scheduleIcmp: boolean;
  /** `secure_tcp`: defense mode 0..3 for the TCP state table. */
  secureTcp: number;
  /** `sloppy_sctp`: pick up SCTP associations in any state. */
  sloppySctp: boolean;
  /** `sloppy_tcp`: pick up TCP connections in any state. */
  sloppyTcp: boolean;
  /** `snat_reroute`: re-route NAT replies by their new source address. */
  snatReroute: boolean;
  /** `sync_persist_mode`: sync only persistence templates. */
  syncPersistMode: boolean;
  /** `sync_ports`: number of sync threads/ports, a power of two. */
  syncPorts: number;
  /** `sync_qlen_max`: most sync messages queued. */
  syncQlenMax: number;
  /** `sync_refresh_period`: seconds between syncs of a connection whose state did not change (0: use sync_threshold). */
  syncRefreshPeriod: number;
  /** `sync_retries`: retransmissions of sync messages, 0..3. */
  syncRetries: number;
  /** `sync_sock_size`: send/receive buffer of the sync sockets (0: the default). */
  syncSockSize: number;
  /** `sync_threshold`: `[threshold, period]` — sync a connection after `threshold` packets and every `period` after. */
  syncThreshold: [number, number];
  /** `sync_version`: sync protocol version, 0 or 1. */
  syncVersion: number;
}

type Kind = 'boolean' | 'number' | 'pair' | 'string';

/** A field: its key under net.ipv4.vs, how it is typed, and whether every kernel has it. */
interface FieldInfo {
  readonly key: string;
  readonly kind: Kind;
  readonly optional: boolean;
}

const f = (key: string, kind: Kind, optional = false): FieldInfo => ({ key, kind, optional });

/** Field → `net.ipv4.vs.<key>`, its type, and whether it may be absent. */
const FIELDS: Readonly<Record<keyof IpvsSysctls, FieldInfo>> = {
  amDroprate: f('am_droprate', 'number'),
  amemthresh: f('amemthresh', 'number'),
  backupOnly: f('backup_only', 'boolean'),
  cacheBypass: f('cache_bypass', 'boolean'),
  connReuseMode: f('conn_reuse_mode', 'number'),
  conntrack: f('conntrack', 'boolean'),
  debugLevel: f('debug_level', 'number', true),
  dropEntry: f('drop_entry', 'number'),
  dropPacket: f('drop_packet', 'number'),
  estCpulist: f('est_cpulist', 'string', true),
  estNice: f('est_nice', 'number', true),
  expireNodestConn: f('expire_nodest_conn', 'boolean'),
  expireQuiescentTemplate: f('expire_quiescent_template', 'boolean'),
  ignoreTunneled: f('ignore_tunneled', 'boolean'),
  lblcExpiration: f('lblc_expiration', 'number', true),
  lblcrExpiration: f('lblcr_expiration', 'number', true),
  natIcmpSend: f('nat_icmp_send', 'boolean'),
  pmtuDisc: f('pmtu_disc', 'boolean'),
  runEstimation: f('run_estimation', 'boolean', true),
  scheduleIcmp: f('schedule_icmp', 'boolean'),
  secureTcp: f('secure_tcp', 'number'),
  sloppySctp: f('sloppy_sctp', 'boolean'),
  sloppyTcp: f('sloppy_tcp', 'boolean'),
  snatReroute: f('snat_reroute', 'boolean'),
  syncPersistMode: f('sync_persist_mode', 'boolean'),
  syncPorts: f('sync_ports', 'number'),
  syncQlenMax: f('sync_qlen_max', 'number'),
  syncRefreshPeriod: f('sync_refresh_period', 'number'),
  syncRetries: f('sync_retries', 'number'),
  syncSockSize: f('sync_sock_size', 'number'),
  syncThreshold: f('sync_threshold', 'pair'),
  syncVersion: f('sync_version', 'number'),
};

/** The dotted sysctl name of a field (`'expireNodestConn'` → `'net.ipv4.vs.expire_nodest_conn'`). */
export function ipvsSysctlName(field: keyof IpvsSysctls): string {
  const info = FIELDS[field];
  if (!info) throw new InvalidArgumentError(String(field), 'not an IPVS sysctl field');
  return `net.ipv4.vs.${info.key}`;
}

/** Every field of {@link IpvsSysctls}, in alphabetical order of the kernel's names. */
export const IPVS_SYSCTL_FIELDS: readonly (keyof IpvsSysctls)[] = Object.keys(FIELDS) as (keyof IpvsSysctls)[];

/**
 * The IPVS sysctls do not exist in the namespace: the ip_vs module is not
 * loaded — or the namespace is owned by a non-initial user namespace, where
 * the kernel registers `/proc/sys/net/ipv4/vs` empty.
 */
export class IpvsNotLoadedError extends SysctlError {
  override name = 'IpvsNotLoadedError';
  constructor(netns: string | undefined) {
    super(
      `the ip_vs module is not loaded (modprobe ip_vs): net.ipv4.vs.* do not exist${netns === undefined ? '' : ` in network namespace ${netns}`}` +
        ' (the kernel also hides them in network namespaces owned by a non-initial user namespace)',
      { code: 'ERR_IPVS_NOT_LOADED', key: 'net.ipv4.vs' },
    );
  }
}

/**
 * Throw {@link IpvsNotLoadedError} unless the IPVS sysctls exist in the
 * handle's namespace (checked on `net.ipv4.vs.amemthresh`, which every kernel has:
 * the directory itself exists, empty, in namespaces of other user namespaces).
 */
export function requireIpvsSysctls(sysctl: Sysctl): void {
  if (!sysctl.has('net.ipv4.vs.amemthresh')) throw new IpvsNotLoadedError(sysctl.netns);
}

/** Compare values as the kernel prints them (any whitespace run is one separator). */
function sameValue(a: string, b: string): boolean {
  return a.trim().split(/\s+/).join(' ') === b.trim().split(/\s+/).join(' ');
}

function parseField(field: keyof IpvsSysctls, info: FieldInfo, text: string): unknown {
  if (info.kind === 'string') return text.trim();
  const nums = text.trim().split(/\s+/).map(Number);
  const expected = info.kind === 'pair' ? 2 : 1;
  if (nums.length !== expected || nums.some((n) => !Number.isSafeInteger(n))) {
    throw new SysctlError(`unexpected value ${JSON.stringify(text)} in net.ipv4.vs.${info.key} (for ${field})`, { key: `net.ipv4.vs.${info.key}`, code: 'ERR_SYSCTL_VALUE' });
  }
  if (info.kind === 'pair') return [nums[0]!, nums[1]!];
  if (info.kind === 'boolean') return nums[0] !== 0;
  return nums[0];
}

/**
 * Read every IPVS parameter of the namespace. Optional fields the kernel lacks
 * are left out. Throws {@link IpvsNotLoadedError} when ip_vs is not loaded.
 */
export function getIpvsSysctls(sysctl: Sysctl): IpvsSysctls {
  requireIpvsSysctls(sysctl);
  const out: Record<string, unknown> = {};
  for (const field of IPVS_SYSCTL_FIELDS) {
    const info = FIELDS[field];
    const name = `net.ipv4.vs.${info.key}`;
    if (info.optional && !sysctl.has(name)) continue;
    out[field] = parseField(field, info, sysctl.get(name));
  }
  return out as unknown as IpvsSysctls;
}

/** Turn one typed field into the value to write, checking its type; range checks follow in formatSysctlValue. */
function toSysctlValue(field: string, info: FieldInfo | undefined, value: unknown): SysctlValue {
  if (!info) throw new InvalidArgumentError(field, `not an IPVS sysctl field (known: ${IPVS_SYSCTL_FIELDS.join(', ')})`);
  const name = `net.ipv4.vs.${info.key}`;
  switch (info.kind) {
    case 'boolean':
      if (typeof value !== 'boolean') throw new InvalidArgumentError(field, `${name} takes a boolean, got ${JSON.stringify(value)}`);
      return value ? 1 : 0;
    case 'number':
      if (typeof value !== 'number') throw new InvalidArgumentError(field, `${name} takes a number, got ${JSON.stringify(value)}`);
      return value;
    case 'pair':
      if (!Array.isArray(value) || value.length !== 2 || !value.every((v) => typeof v === 'number')) {
        throw new InvalidArgumentError(field, `${name} takes [threshold, period], got ${JSON.stringify(value)}`);
      }
      return value as [number, number];
    case 'string':
      if (typeof value !== 'string') throw new InvalidArgumentError(field, `${name} takes a string, got ${JSON.stringify(value)}`);
      return value;
  }
}

/**
 * Write the given IPVS parameters. Every field is checked (type and the
 * kernel's range) before anything is written, so a bad value changes nothing;
 * then each key that does not already hold its value is written, in the
 * object's order (a kernel refusal midway leaves the earlier writes done). Throws
 * {@link IpvsNotLoadedError} when ip_vs is not loaded. Fields set to undefined
 * are skipped, so the result of {@link getIpvsSysctls} can be written back as is.
 */
export function setIpvsSysctls(sysctl: Sysctl, values: Partial<IpvsSysctls>): void {
  if (values === null || typeof values !== 'object' || Array.isArray(values)) {
    throw new InvalidArgumentError('values', 'must be an object of IPVS sysctl fields');
  }
  const writes: [string, string][] = [];
  const problems: string[] = [];
  for (const [field, value] of Object.entries(values)) {
    if (value === undefined) continue;
    try {
      const info = Object.hasOwn(FIELDS, field) ? FIELDS[field as keyof IpvsSysctls] : undefined;
      const v = toSysctlValue(field, info, value);
      const name = `net.ipv4.vs.${info!.key}`;
      try {
        formatSysctlValue(name, v);
      } catch (e) {
        // Report the field name the caller used, with the kernel key in the message.
        if (e instanceof InvalidArgumentError) throw new InvalidArgumentError(field, `${name}: ${e.message.slice(e.field.length + 2)}`);
        throw e;
      }
      writes.push([name, typeof v === 'string' ? v : Array.isArray(v) ? v.join('\t') : String(v)]);
    } catch (e) {
      if (!(e instanceof InvalidArgumentError)) throw e;
      problems.push(...e.problems);
    }
  }
  if (problems.length > 0) {
    const first = problems[0]!;
    const colon = first.indexOf(': ');
    throw new InvalidArgumentError(first.slice(0, colon), first.slice(colon + 2), problems);
  }
  if (writes.length === 0) return;
  requireIpvsSysctls(sysctl);
  for (const [name, text] of writes) {
    if (sameValue(sysctl.get(name), text)) continue;
    sysctl.set(name, text);
  }
}
