/**
 * The failover settings of imported files (keepalived's `vrrp_instance` and
 * `lvs_sync_daemon`, lvs.cf's primary/backup/heartbeat and sync daemon
 * settings) as a draft of the daemon's `failover` section: what maps cleanly
 * is carried over, what a daemon still needs (node ids, an HMAC key, the
 * state file) and what does not map are listed. A bare imported file's draft
 * is shown in a warning; a JSON configuration that imports the file
 * completes it and runs it (`import-config.ts`).
 * @module
 */
import type { DirectorFailoverConfig, DirectorSyncDaemon } from './failover-config.js';

/** A failover section drafted from an import. */
export interface FailoverDraft {
  /** The fields that map cleanly. */
  failover: Partial<DirectorFailoverConfig>;
  /** VIPs and their interface, for `host` (keepalived's `virtual_ipaddress`, lvs.cf's virtual server addresses). */
  host?: { vips: string[]; interface: string };
  /** Fields a daemon needs that the file does not give. */
  missing: string[];
  /** Settings read that have no place in the section, with why. */
  notMapped: string[];
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

const SYNC_FIELDS = ['syncId', 'maxLength', 'multicastGroup', 'multicastPort', 'multicastTtl'] as const;

/** The sync daemon fields of an importer's record (the names of {@link DirectorSyncDaemon}). */
function syncSettings(interfaceName: string, from: Record<string, unknown>): DirectorSyncDaemon {
  const out: DirectorSyncDaemon = { interface: interfaceName };
  for (const k of SYNC_FIELDS) if (from[k] !== undefined) (out as Record<string, unknown>)[k] = from[k];
  return out;
}

function fromVrrp(instances: Record<string, unknown>[], sync: Record<string, unknown> | undefined): FailoverDraft {
  const notMapped: string[] = [];
  const v = instances[0]!;
  if (instances.length > 1) notMapped.push(`${instances.length - 1} more vrrp_instance(s) (the daemon runs one election)`);
  const f: Partial<DirectorFailoverConfig> = {};
  if (sync && str(sync.interface)) {
    // lvs_sync_daemon follows one VRRP instance: the daemon's election is the first one.
    if (sync.instance === v.name) f.syncDaemon = syncSettings(str(sync.interface)!, sync);
    else notMapped.push(`lvs_sync_daemon on ${String(sync.interface)} follows vrrp_instance ${String(sync.instance)}, not ${String(v.name)} (the one the daemon runs)`);
  }
  const priority = num(v.priority);
  if (priority !== undefined) f.priority = Math.min(254, priority);
  if (priority === 255) notMapped.push('priority 255 (address owner) taken as 254');
  if (v.preempt === false) f.preempt = false;
  if (num(v.preemptDelayMs) !== undefined) f.preemptDelayMs = num(v.preemptDelayMs)!;
  const advert = num(v.advertIntMs);
  if (advert !== undefined) {
    f.intervalMs = advert;
    f.deadMs = 3 * advert; // VRRP's master down interval is three advertisement intervals (plus a skew)
  }
  if (num(v.virtualRouterId) !== undefined) f.cluster = num(v.virtualRouterId)!;
  if (str(v.unicastSource)) f.bindAddress = str(v.unicastSource)!;
  const peers = Array.isArray(v.unicastPeers) ? (v.unicastPeers as string[]) : [];
  if (peers.length) f.peers = peers.map((address) => ({ nodeId: 0, address }));
  const missing = ['nodeId', 'keysFile or keys', 'stateFile'];
  if (peers.length) missing.push('peers[].nodeId');
  else missing.push('peers (no unicast_peer: VRRP multicast is not the heartbeat protocol)');
  if (priority === undefined) missing.push('priority');
  if (v.state !== undefined) notMapped.push(`state ${String(v.state).toUpperCase()} (every node starts as backup; priorities decide)`);
  if (v.authentication !== undefined) notMapped.push('authentication (auth_pass is not an HMAC key of 16 bytes or more)');
  const addrs = Array.isArray(v.virtualAddresses) ? (v.virtualAddresses as { address: string; interface?: string }[]) : [];
  const iface = str(v.interface);
  const draft: FailoverDraft = { failover: f, missing, notMapped };
  if (addrs.length && iface) {
    const other = addrs.filter((a) => a.interface !== undefined && a.interface !== iface);
    if (other.length) notMapped.push(`virtual_ipaddress on another interface (${other.map((a) => a.address).join(', ')}): the daemon's VIPs share host.interface`);
    draft.host = { vips: addrs.filter((a) => !other.includes(a)).map((a) => a.address.replace(/\/(32|128)$/, '')), interface: iface };
  }
  return draft;
}

function fromLvs(lvs: Record<string, unknown>): FailoverDraft {
  const f: Partial<DirectorFailoverConfig> = {};
  const notMapped: string[] = [];
  if (num(lvs.keepaliveMs) !== undefined) f.intervalMs = num(lvs.keepaliveMs)!;
  if (num(lvs.deadtimeMs) !== undefined) f.deadMs = num(lvs.deadtimeMs)!;
  if (num(lvs.heartbeatPort) !== undefined) f.port = num(lvs.heartbeatPort)!;
  const primary = str(lvs.primaryPrivate) ?? str(lvs.primary);
  const backup = str(lvs.backupPrivate) ?? str(lvs.backup);
  // Written for the primary; on the backup swap the addresses and lower the priority.
  if (primary) f.bindAddress = primary;
  if (backup) f.peers = [{ nodeId: 2, address: backup }];
  f.nodeId = 1;
  f.priority = 200;
  if (lvs.heartbeat === false) notMapped.push('heartbeat = 0 (no heartbeat: the section would not be wanted)');
  if (lvs.backupActive === false) notMapped.push('backup_active = 0');
  for (const k of ['natRouter', 'natNetmask', 'monitorLinks', 'service']) if (lvs[k] !== undefined) notMapped.push(`${k} (${JSON.stringify(lvs[k])})`);
  const missing = ['keysFile or keys', 'stateFile'];
  const draft: FailoverDraft = { failover: f, missing, notMapped };
  // The virtual servers' addresses (`address = VIP eth0:1`) on one device: the VIPs that follow the role.
  const vips = Array.isArray(lvs.virtualAddresses) ? (lvs.virtualAddresses as { address: string; interface?: string }[]) : [];
  const devices = new Set(vips.map((v) => v.interface?.split(':')[0]));
  if (vips.length && devices.size === 1 && [...devices][0]) draft.host = { vips: [...new Set(vips.map((v) => v.address))], interface: [...devices][0]! };
  else if (vips.length) notMapped.push(`virtual addresses on ${devices.size > 1 ? 'several devices' : 'no device'} (${vips.map((v) => v.address).join(', ')}): give host.vips and host.interface`);
  // syncdaemon = 1 runs the kernel's sync daemon on syncd_iface with syncd_id, following the role.
  if (lvs.syncDaemon === true) {
    if (str(lvs.syncInterface)) f.syncDaemon = syncSettings(str(lvs.syncInterface)!, num(lvs.syncId) !== undefined ? { syncId: lvs.syncId } : {});
    else missing.push('syncDaemon.interface (syncdaemon = 1 without syncd_iface)');
  } else if (lvs.syncInterface !== undefined || lvs.syncId !== undefined) {
    notMapped.push(`syncd_iface/syncd_id without syncdaemon = 1 (no sync daemon is run)`);
  }
  if (!backup) missing.push('peers (no backup address)');
  return draft;
}

/**
 * A draft `failover` section from an importer's failover settings
 * (undefined when the format has none the daemon can use).
 * @example
 * ```ts
 * const draft = draftFailover('keepalived', importKeepalived(text).failover);
 * console.log(draft?.failover, draft?.missing);
 * ```
 */
export function draftFailover(format: string, failover: Record<string, unknown> | undefined): FailoverDraft | undefined {
  if (!failover) return undefined;
  if (format === 'keepalived' && Array.isArray(failover.vrrpInstances) && failover.vrrpInstances.length) {
    const sync = failover.syncDaemon !== null && typeof failover.syncDaemon === 'object' ? (failover.syncDaemon as Record<string, unknown>) : undefined;
    return fromVrrp(failover.vrrpInstances as Record<string, unknown>[], sync);
  }
  if (format === 'lvs') return fromLvs(failover);
  return undefined;
}

/**
 * The warning text for an imported file's failover settings: how to run
 * them (an ipvs-ts JSON configuration importing `file` with the missing
 * fields), the draft, what is missing and what is not carried over.
 */
export function failoverDraftWarning(format: string, failover: Record<string, unknown>, file = `${format}.conf`): string {
  const d = draftFailover(format, failover);
  const run = `{"import": {"file": ${JSON.stringify(file)}, "format": ${JSON.stringify(format)}}, "failover": {...}}`;
  const head = `failover settings are not run from an imported file as it is: to run them, use an ipvs-ts JSON configuration ${run} that completes them (docs/daemon.md#running-an-imported-file)`;
  if (!d) return `${head}; nothing in this file maps to the failover section: write all of it`;
  const parts = [`${head}; drafted from this file: ${JSON.stringify({ failover: d.failover, ...(d.host ? { host: d.host } : {}) })}`, `still needed in "failover": ${d.missing.join(', ')}`];
  if (format === 'lvs') parts.push('the draft is the primary\'s (on the backup: swap bindAddress and the peer address, nodeId 2, peer nodeId 1, a lower priority)');
  if (d.notMapped.length) parts.push(`not carried over: ${d.notMapped.join('; ')}`);
  return parts.join('; ');
}
