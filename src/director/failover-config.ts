/**
 * The `failover` section of the daemon's configuration: this node's place in
 * a director pair (node id, priority, peers or multicast group, timers, keys)
 * and how it is checked. Only the master holds the VIPs of `host.vips` and
 * the IPVS table; see docs/daemon.md.
 * @module
 */
import { isIP } from 'node:net';
import { InvalidArgumentError } from '../errors.js';
import type { HeartbeatPeer } from '../heartbeat/heartbeat.js';
import { normaliseKeys, type HeartbeatKeys } from '../heartbeat/keys.js';
import type { DaemonSpec } from '../ipvs/types.js';
import { normalizeDaemon } from '../ipvs/validate.js';

/** A ping tracker: reaching more of `nodes` raises the priority (see the heartbeat module's `PingTracker`). */
export interface DirectorPingTracker {
  /** Addresses probed (a TCP connection attempt; a refusal counts as reachable). */
  nodes: string[];
  /** TCP port probed (default 7). */
  port?: number;
  /** Priority added per reachable node (default 10). */
  weight?: number;
  /** Fault (give up the master role) when no node is reachable (default false). */
  faultWhenNone?: boolean;
  /** Time between rounds (default 1 000 ms). */
  intervalMs?: number;
}

/**
 * The kernel's connection sync daemon following the role (keepalived's
 * `lvs_sync_daemon`): the master runs the `master` daemon, a backup the
 * `backup` one. The fields of `Ipvs.startDaemon()` without `state`.
 */
export type DirectorSyncDaemon = Omit<DaemonSpec, 'state'>;

/** The daemon's failover settings (`failover` in the configuration). */
export interface DirectorFailoverConfig {
  /** This node's id (1..2^32-1), unique in the pair. */
  nodeId: number;
  /** Base priority 1..254: the highest alive node is master. */
  priority: number;
  /** Whether a higher priority node takes the role back from a running master (default true). */
  preempt?: boolean;
  /** Wait this long before preempting (default 0). */
  preemptDelayMs?: number;
  /** Every other node: its id and, for unicast, its address (and port). */
  peers: HeartbeatPeer[];
  /** Send to a multicast group on an interface instead of each peer's address. */
  multicast?: { group: string; interface: string; ttl?: number };
  /** Local address the heartbeat binds (default 0.0.0.0). */
  bindAddress?: string;
  /** UDP port (default 694). */
  port?: number;
  /** Cluster id 0..65535 (default 1). */
  cluster?: number;
  /** Time between heartbeats (default 1 000 ms). */
  intervalMs?: number;
  /** Silence after which the peer is dead (default 3 × intervalMs). */
  deadMs?: number;
  /** At start, silence after which a never-heard peer is dead (default 2 × deadMs). */
  initDeadMs?: number;
  /** heartbeat's authkeys file (`auth N` and `N sha256 SECRET` lines, mode 0600). */
  keysFile?: string;
  /** Keys inline, by id (at least 16 bytes each); instead of `keysFile`. */
  keys?: HeartbeatKeys;
  /** With `keys`: the id that signs what this node sends (default: the lowest id). */
  activeKey?: number;
  /** File keeping this node's generation (increased at every start). */
  stateFile: string;
  /** Ping trackers moving the priority. */
  pingTrackers?: DirectorPingTracker[];
  /** Run the connection sync daemon as the role: `master` on the master, `backup` on a backup. */
  syncDaemon?: DirectorSyncDaemon;
}

const FIELDS = new Set(['nodeId', 'priority', 'preempt', 'preemptDelayMs', 'peers', 'multicast', 'bindAddress', 'port', 'cluster', 'intervalMs', 'deadMs', 'initDeadMs', 'keysFile', 'keys', 'activeKey', 'stateFile', 'pingTrackers', 'syncDaemon']);
const SYNC_FIELDS = new Set(['interface', 'syncId', 'maxLength', 'multicastGroup', 'multicastPort', 'multicastTtl']);
const TRACKER_FIELDS = new Set(['nodes', 'port', 'weight', 'faultWhenNone', 'intervalMs']);

const isInt = (v: unknown, min: number, max: number): boolean => Number.isInteger(v) && (v as number) >= min && (v as number) <= max;

/**
 * Every problem of a `failover` section, as `failover.FIELD: message`
 * (empty when valid). Does not read the keys file (the daemon does at start).
 */
export function failoverProblems(f: unknown, at = 'failover'): string[] {
  const out: string[] = [];
  const p = (field: string, message: string) => out.push(`${at}${field ? `.${field}` : ''}: ${message}`);
  if (f === null || typeof f !== 'object' || Array.isArray(f)) return [`${at}: must be an object { nodeId, priority, peers, stateFile, keysFile | keys }`];
  const c = f as DirectorFailoverConfig;
  for (const k of Object.keys(c)) if (!FIELDS.has(k)) p(k, 'unknown field');
  if (!isInt(c.nodeId, 1, 0xffffffff)) p('nodeId', `must be an integer 1..4294967295, got ${JSON.stringify(c.nodeId)}`);
  if (!isInt(c.priority, 1, 254)) p('priority', `must be an integer 1..254, got ${JSON.stringify(c.priority)}`);
  if (c.preempt !== undefined && typeof c.preempt !== 'boolean') p('preempt', 'must be true or false');
  for (const k of ['preemptDelayMs'] as const) if (c[k] !== undefined && !isInt(c[k], 0, 3_600_000)) p(k, 'must be an integer 0..3600000');
  for (const k of ['intervalMs', 'deadMs', 'initDeadMs'] as const) if (c[k] !== undefined && !isInt(c[k], 10, 3_600_000)) p(k, 'must be an integer 10..3600000 (milliseconds)');
  const interval = c.intervalMs ?? 1000;
  const dead = c.deadMs ?? 3 * interval;
  if (isInt(c.deadMs, 10, 3_600_000) && dead <= interval) p('deadMs', `must be more than intervalMs (${interval}), got ${dead}`);
  if (isInt(c.initDeadMs, 10, 3_600_000) && c.initDeadMs! < dead) p('initDeadMs', `must be at least deadMs (${dead}), got ${c.initDeadMs}`);
  if (c.port !== undefined && !isInt(c.port, 1, 65535)) p('port', 'must be an integer 1..65535');
  if (c.cluster !== undefined && !isInt(c.cluster, 0, 65535)) p('cluster', 'must be an integer 0..65535');
  if (c.bindAddress !== undefined && isIP(String(c.bindAddress)) !== 4) p('bindAddress', 'must be an IPv4 address');
  if (typeof c.stateFile !== 'string' || !c.stateFile) p('stateFile', 'missing (a file keeping this node\'s generation, e.g. /var/lib/ipvs-ts/heartbeat.gen)');
  if (c.multicast !== undefined) {
    const m = c.multicast;
    if (m === null || typeof m !== 'object') p('multicast', 'must be an object { group, interface, ttl }');
    else {
      if (isIP(String(m.group)) !== 4 || !/^2(2[4-9]|3\d)\./.test(String(m.group))) p('multicast.group', `must be an IPv4 multicast address (224.0.0.0/4), got ${JSON.stringify(m.group)}`);
      if (typeof m.interface !== 'string' || !m.interface) p('multicast.interface', 'must be an interface name');
      if (m.ttl !== undefined && !isInt(m.ttl, 1, 255)) p('multicast.ttl', 'must be an integer 1..255');
    }
  }
  if (!Array.isArray(c.peers) || c.peers.length === 0) p('peers', 'must list the other node(s): [{ "nodeId": 2, "address": "10.0.0.2" }]');
  else
    c.peers.forEach((peer, i) => {
      const pa = `peers[${i}]`;
      if (peer === null || typeof peer !== 'object') return p(pa, 'must be an object { nodeId, address, port }');
      for (const k of Object.keys(peer)) if (!['nodeId', 'address', 'port'].includes(k)) p(`${pa}.${k}`, 'unknown field');
      if (!isInt(peer.nodeId, 1, 0xffffffff)) p(`${pa}.nodeId`, 'must be an integer 1..4294967295');
      else if (peer.nodeId === c.nodeId) p(`${pa}.nodeId`, `is this node's own id (${c.nodeId})`);
      if (peer.address === undefined) {
        if (c.multicast === undefined) p(`${pa}.address`, 'missing (needed without multicast)');
      } else if (isIP(String(peer.address)) !== 4) p(`${pa}.address`, `must be an IPv4 address, got ${JSON.stringify(peer.address)}`);
      if (peer.port !== undefined && !isInt(peer.port, 1, 65535)) p(`${pa}.port`, 'must be an integer 1..65535');
    });
  if ((c.keysFile === undefined) === (c.keys === undefined)) p('keysFile', 'give exactly one of keysFile (an authkeys file) and keys (inline)');
  else if (c.keysFile !== undefined && (typeof c.keysFile !== 'string' || !c.keysFile)) p('keysFile', 'must be a file path');
  else if (c.keys !== undefined) {
    try {
      normaliseKeys(c.keys, c.activeKey ?? defaultActiveKey(c.keys), `${at}.keys`);
    } catch (e) {
      if (!(e instanceof InvalidArgumentError)) throw e;
      out.push(...e.problems.map((x) => (x.startsWith(`${at}.`) ? x : `${at}.${x}`)));
    }
  }
  if (c.activeKey !== undefined && c.keys === undefined) p('activeKey', 'only with keys (an authkeys file names its own with `auth N`)');
  if (c.pingTrackers !== undefined && !Array.isArray(c.pingTrackers)) p('pingTrackers', 'must be an array');
  (Array.isArray(c.pingTrackers) ? c.pingTrackers : []).forEach((t, i) => {
    const ta = `pingTrackers[${i}]`;
    if (t === null || typeof t !== 'object') return p(ta, 'must be an object { nodes, port, weight }');
    for (const k of Object.keys(t)) if (!TRACKER_FIELDS.has(k)) p(`${ta}.${k}`, 'unknown field');
    if (!Array.isArray(t.nodes) || t.nodes.length === 0 || t.nodes.some((n) => isIP(String(n)) === 0)) p(`${ta}.nodes`, 'must be a non-empty array of IP addresses');
    if (t.port !== undefined && !isInt(t.port, 1, 65535)) p(`${ta}.port`, 'must be an integer 1..65535');
    if (t.weight !== undefined && !isInt(t.weight, -253, 253)) p(`${ta}.weight`, 'must be an integer -253..253');
    if (t.faultWhenNone !== undefined && typeof t.faultWhenNone !== 'boolean') p(`${ta}.faultWhenNone`, 'must be true or false');
    if (t.intervalMs !== undefined && !isInt(t.intervalMs, 10, 3_600_000)) p(`${ta}.intervalMs`, 'must be an integer 10..3600000');
  });
  if (c.syncDaemon !== undefined) out.push(...syncDaemonProblems(c.syncDaemon, `${at}.syncDaemon`));
  return out;
}

/** Every problem of a `syncDaemon` setting, as `AT.FIELD: message` (the kernel's ranges, as `Ipvs.startDaemon()` checks them). */
function syncDaemonProblems(d: unknown, at: string): string[] {
  if (d === null || typeof d !== 'object' || Array.isArray(d)) return [`${at}: must be an object { interface, syncId, maxLength, multicastGroup, multicastPort, multicastTtl }`];
  const out = Object.keys(d).filter((k) => !SYNC_FIELDS.has(k)).map((k) => `${at}.${k}: unknown field${k === 'state' ? ' (the state follows the role)' : ''}`);
  // normalizeDaemon stops at the first problem: check each field on its own to name them all.
  const spec = d as DirectorSyncDaemon;
  const probes: [keyof DirectorSyncDaemon, DaemonSpec][] = [['interface', { state: 'master', interface: spec.interface }]];
  for (const k of ['syncId', 'maxLength', 'multicastGroup', 'multicastPort', 'multicastTtl'] as const) {
    if (spec[k] !== undefined) probes.push([k, { state: 'master', interface: 'lo', [k]: spec[k] } as DaemonSpec]);
  }
  for (const [, probe] of probes) {
    try {
      normalizeDaemon(probe);
    } catch (e) {
      if (!(e instanceof InvalidArgumentError)) throw e;
      out.push(...e.problems.map((x) => `${at}.${x.replace(/^daemon\./, '')}`));
    }
  }
  return out;
}

/** The lowest key id of an inline key set (the default active key). */
export function defaultActiveKey(keys: HeartbeatKeys): number {
  const ids = Object.keys(keys ?? {}).map(Number).filter(Number.isInteger);
  return ids.length ? Math.min(...ids) : 0;
}
