/**
 * The daemon's IPVS table as a failover resource. On becoming master the
 * services of the configuration are made what it says, with the weights the
 * health checks found while the node was backup (so a server that is down
 * does not get traffic between the takeover and the checkers' first sync);
 * on leaving master they are deleted. Services the daemon does not own are
 * never touched: the heartbeat module's generic `ipvsTable` resource makes
 * the whole table equal to its state, which a daemon sharing the kernel with
 * other writers must not do.
 * @module
 */
import type { Resource } from '../heartbeat/failover.js';
import { Ipvs } from '../ipvs/client.js';
import { diffStates, normalizeState, type DesiredState, type ServiceState } from '../ipvs/state.js';
import type { Destination, DestinationSpec, ServiceKey } from '../ipvs/types.js';
import { exitPlan, ownedPart } from './reload-plan.js';

/** What the resource needs from the daemon. */
export interface OwnedTableOptions {
  /** The configured table (read at every takeover and release: reloads change it). */
  table(): DesiredState;
  /** The destinations a backup's checkers hold in memory for a service, or undefined when they hold none. */
  remembered(service: ServiceKey): Destination[] | undefined;
  /** Network namespace of the table. */
  netns?: string;
}

/**
 * The table to install on takeover: each service whose checkers hold its
 * destinations in memory takes them as they are there (configured
 * destinations with the remembered weights, configured ones the checkers have
 * not placed left to them, an active sorry server kept); other services as
 * configured.
 */
export function takeoverTable(table: DesiredState, remembered: OwnedTableOptions['remembered']): DesiredState {
  const services = table.services.map((svc): ServiceState => {
    const memory = remembered(svc);
    if (!memory) return svc;
    const key = (d: { address: string; port?: number }) => `${d.address}|${d.port ?? 0}`;
    const byKey = new Map(memory.map((d) => [key(d), d]));
    const configured = svc.destinations ?? [];
    const destinations: DestinationSpec[] = [];
    for (const d of configured) {
      const m = byKey.get(key({ address: d.address, port: d.port ?? ('port' in svc ? svc.port : 0) }));
      if (m) destinations.push({ ...d, weight: m.weight });
    }
    const known = new Set(configured.map((d) => key({ address: d.address, port: d.port ?? ('port' in svc ? svc.port : 0) })));
    for (const m of memory) {
      if (!known.has(key(m))) destinations.push({ address: m.address, port: m.port, weight: m.weight, forward: m.forward, upperThreshold: m.upperThreshold, lowerThreshold: m.lowerThreshold });
    }
    return { ...svc, destinations };
  });
  return { ...table, services };
}

/** The failover resource described in the module's comment. */
export function ownedTable(o: OwnedTableOptions): Resource {
  const withIpvs = async (fn: (ipvs: Ipvs) => Promise<unknown>) => {
    const ipvs = await Ipvs.open(o.netns !== undefined ? { netns: o.netns } : {});
    try {
      await fn(ipvs);
    } finally {
      await ipvs.close();
    }
  };
  const ownedIds = (table: DesiredState) => new Set(normalizeState(table, 'desired').services.keys());
  return {
    name: 'ipvs table',
    async acquire() {
      const want = takeoverTable(o.table(), o.remembered);
      await withIpvs(async (ipvs) => {
        const live = await ipvs.snapshot();
        const plan = diffStates(ownedPart(live, ownedIds(want), want), want, 'delete');
        if (plan.operations.length) await ipvs.runOperations(plan.operations);
      });
    },
    async release() {
      const table = o.table();
      await withIpvs(async (ipvs) => {
        const ops = exitPlan(await ipvs.snapshot(), ownedIds(table), 'flush');
        if (ops.length) await ipvs.runOperations(ops);
      });
    },
  };
}
