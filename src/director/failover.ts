/**
 * The daemon's election: a heartbeat to the peers, an {@link Election} on it
 * and a {@link Failover} whose resources are
 * the daemon's own table (`owned-table.ts`), the connection sync daemon
 * (with `failover.syncDaemon`) and one `vip` per VIP of `host.vips`,
 * plus a hook that points the health checkers at the kernel (master) or at
 * memory (backup). Events: `'transition'` (a {@link Transition} fully
 * handled), `'resource'` (a failed resource action).
 * @module
 */
import { EventEmitter } from 'node:events';
import { Election, type Transition } from '../heartbeat/election.js';
import { Failover, type Resource, type ResourceEvent } from '../heartbeat/failover.js';
import { Heartbeat, type HeartbeatStats } from '../heartbeat/heartbeat.js';
import { loadAuthKeys } from '../heartbeat/keys.js';
import { syncDaemon, vip } from '../heartbeat/resources.js';
import { PingTracker } from '../heartbeat/trackers.js';
import type { ElectionState } from '../heartbeat/advert.js';
import { defaultActiveKey, type DirectorFailoverConfig } from './failover-config.js';
import type { DirectorHostConfig } from './host.js';

/** What an election of the daemon needs. */
export interface DirectorFailoverOptions {
  /** The failover settings. */
  failover: DirectorFailoverConfig;
  /** The host setup: its `vips` on its `interface` follow the role. */
  host?: DirectorHostConfig;
  /** The master's table as a resource: the daemon's own services only ({@link ownedTable}). */
  table: Resource;
  /** Namespace of the IPVS table and VIPs (the heartbeat runs in the process's own). */
  netns?: string;
  /** Called on becoming master (true) and on leaving it (false): right after the table is installed, and before it is given up. */
  onRole(master: boolean): void;
  /** Called for every transition once handled (from the first one, `init -> backup`). */
  onTransition?(t: Transition): void;
  /** Called for a resource action that failed. */
  onResourceError?(e: ResourceEvent): void;
}

/** The settings whose change restarts the election (the failover section and the VIPs). */
export function failoverIdentity(failover: DirectorFailoverConfig | undefined, host: DirectorHostConfig | undefined): string {
  return JSON.stringify({ failover, vips: failover ? (host?.vips ?? []) : [], interface: failover ? host?.interface : undefined });
}

/** A running election of the daemon. */
export class DirectorFailover extends EventEmitter {
  /** Transitions handled since start. */
  transitions = 0;
  private constructor(
    private readonly heartbeat: Heartbeat,
    private readonly election: Election,
    private readonly failover: Failover,
  ) {
    super();
  }

  /** Open the heartbeat (reads the keys file), build the election and its resources, and start it. */
  static async start(o: DirectorFailoverOptions): Promise<DirectorFailover> {
    const f = o.failover;
    const keySet = f.keysFile !== undefined ? loadAuthKeys(f.keysFile) : { keys: f.keys!, activeKey: f.activeKey ?? defaultActiveKey(f.keys!) };
    const heartbeat = await Heartbeat.open({
      nodeId: f.nodeId,
      peers: f.peers,
      stateFile: f.stateFile,
      keys: keySet.keys,
      activeKey: keySet.activeKey,
      ...(f.multicast !== undefined ? { multicast: f.multicast } : {}),
      ...(f.bindAddress !== undefined ? { bindAddress: f.bindAddress } : {}),
      ...(f.port !== undefined ? { port: f.port } : {}),
      ...(f.cluster !== undefined ? { cluster: f.cluster } : {}),
      ...(f.intervalMs !== undefined ? { intervalMs: f.intervalMs } : {}),
      ...(f.deadMs !== undefined ? { deadMs: f.deadMs } : {}),
      ...(f.initDeadMs !== undefined ? { initDeadMs: f.initDeadMs } : {}),
    });
    heartbeat.on('error', () => undefined); // counted in stats().socketErrors
    const trackers = (f.pingTrackers ?? []).map((t) => new PingTracker(t));
    const election = new Election(heartbeat, { priority: f.priority, ...(f.preempt !== undefined ? { preempt: f.preempt } : {}), ...(f.preemptDelayMs !== undefined ? { preemptDelayMs: f.preemptDelayMs } : {}), trackers });
    const ns = o.netns !== undefined ? { netns: o.netns } : {};
    // Start order: the table, then the checkers write to the kernel (a server that dies while the VIPs are being
    // announced is taken out at once, not at their first sync after), the sync daemon, the VIPs; the stop order is
    // the reverse (the checkers stop writing before the table goes). The sync daemon runs as master while master
    // and as backup while backup (stopped when leaving either).
    const resources: Resource[] = [
      o.table,
      { name: 'health checks', acquire: async () => o.onRole(true), release: async () => o.onRole(false) },
      ...(f.syncDaemon !== undefined ? [syncDaemon({ ...f.syncDaemon, ...ns })] : []),
      ...(o.host?.vips ?? []).map((v) => vip({ address: v, interface: o.host!.interface, ...ns, announce: { count: 3, intervalMs: 200 } })),
    ];
    const failover = new Failover(election, { resources });
    const d = new DirectorFailover(heartbeat, election, failover);
    failover.on('resource', (e: ResourceEvent) => {
      if (!e.error) return;
      o.onResourceError?.(e);
      d.emit('resource', e);
    });
    failover.on('handled', (t: Transition) => {
      d.transitions++;
      o.onTransition?.(t);
      d.emit('transition', t);
    });
    await election.start();
    return d;
  }

  /** The election's state (`init`, `backup`, `master`, `fault`, `stopped`). */
  get state(): ElectionState {
    return this.election.state;
  }

  /** The effective priority. */
  get priority(): number {
    return this.election.priority;
  }

  /** The heartbeat's counters (packets sent, received, accepted, dropped by reason). */
  stats(): HeartbeatStats {
    return this.heartbeat.stats();
  }

  /** The peers' liveness (`up`, `late`, `dead`, `unknown`) by node id. */
  peers(): Map<number, string> {
    return new Map(this.heartbeat.peers().map((p) => [p.nodeId, p.state]));
  }

  /**
   * Leave: the election stops (a master releases the checkers, its VIPs and
   * the table, in that order), then the heartbeat closes, sending a goodbye
   * so that the peer takes over without waiting for the dead time.
   */
  async stop(reason = 'daemon stopping'): Promise<void> {
    this.election.stop(reason);
    await this.failover.done;
    await this.heartbeat.close();
  }
}

