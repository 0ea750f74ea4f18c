/**
 * What the daemon sends to the kernel on start, reload and stop: pure
 * functions of the live table and the configuration.
 *
 * A reload touches only the difference, and only the services the daemon
 * owns (those of the old and the new configuration). In a health-checked
 * service the weights belong to the checker, not to the plan: a destination
 * already in the kernel keeps its live weight (a down one stays at 0, an up
 * one is moved to a new configured weight by its checker), and one not yet in
 * the kernel is left to the checker to add. Its sorry server, when active,
 * stays.
 * @module
 */
import { diffStates, normalizeState, type DesiredState, type Operation, type Plan, type ServiceState } from '../ipvs/state.js';
import type { DestinationSpec } from '../ipvs/types.js';
import type { OnExit, ValidatedConfig } from './config.js';

/** Same address and port (both normalised forms, or a spec with its port filled in). */
function sameDestination(a: { address: string; port?: number }, b: { address: string; port?: number }): boolean {
  return a.address === b.address && a.port === b.port;
}

/**
 * The table the daemon wants, given what the kernel holds: the configured
 * table, where each health-checked service's destinations take their live
 * weights and those absent from the kernel are left out (the checker adds
 * them), and an active sorry server of the new configuration is kept.
 */
export function wantedTable(live: DesiredState, next: ValidatedConfig): DesiredState {
  const liveNormal = normalizeState(live, 'live');
  const services: ServiceState[] = [];
  for (const [id, svc] of next.normal.services) {
    const checker = next.checkers.get(id);
    if (!checker) {
      services.push(svc.spec as ServiceState);
      continue;
    }
    const have = liveNormal.services.get(id);
    const destinations: DestinationSpec[] = [];
    if (have) {
      const liveDests = [...have.destinations.values()];
      for (const d of svc.destinations.values()) {
        const l = liveDests.find((x) => sameDestination(x.norm, d.norm));
        if (l) destinations.push({ ...d.spec, weight: l.norm.weight });
      }
      const sorry = checker.sorryServer;
      if (sorry) {
        const port = sorry.port ?? ('port' in svc.norm ? (svc.norm.port ?? 0) : 0);
        const l = liveDests.find((x) => sameDestination(x.norm, { address: sorry.address, port }));
        if (l && !destinations.some((d) => sameDestination(d, { address: l.norm.address, port: l.norm.port }))) destinations.push({ ...sorry, weight: l.norm.weight });
      }
    }
    services.push({ ...(svc.spec as ServiceState), destinations });
  }
  const out: DesiredState = { services };
  if (next.config.table.timeouts !== undefined) out.timeouts = next.config.table.timeouts;
  if (next.config.table.daemons !== undefined) out.daemons = next.config.table.daemons;
  return out;
}

/** The live table restricted to the services in `owned` (by id), with timeouts and daemons only where `want` manages them. */
export function ownedPart(live: DesiredState, owned: ReadonlySet<string>, want?: DesiredState): DesiredState {
  const normal = normalizeState(live, 'live');
  const services = [...normal.services.values()].filter((s) => owned.has(s.id)).map((s) => s.spec as ServiceState);
  const out: DesiredState = { services };
  if (want?.timeouts !== undefined && live.timeouts !== undefined) out.timeouts = live.timeouts;
  if (want?.daemons !== undefined && live.daemons !== undefined) out.daemons = live.daemons;
  return out;
}

/**
 * The operations of a start or reload: the difference between the owned part
 * of the live table (services of the previous configuration, `owned`, and of
 * the next) and {@link wantedTable}. Services the daemon does not own are
 * never in it.
 */
export function reloadPlan(live: DesiredState, next: ValidatedConfig, owned: ReadonlySet<string>): Plan {
  const want = wantedTable(live, next);
  const ids = new Set([...owned, ...next.normal.services.keys()]);
  return diffStates(ownedPart(live, ids, want), want, 'delete');
}

/**
 * The operations of a stop: none for `'leave'`; every destination of the
 * owned services at weight 0 for `'quiesce'`; the owned services deleted for
 * `'flush'`.
 */
export function exitPlan(live: DesiredState, owned: ReadonlySet<string>, onExit: OnExit): Operation[] {
  if (onExit === 'leave') return [];
  const mine = ownedPart(live, owned);
  if (onExit === 'flush') return diffStates(mine, { services: [] }, 'delete').operations;
  return diffStates(mine, { services: [] }, 'quiesce').operations;
}
