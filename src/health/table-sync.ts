/**
 * The table side of a checker: one sync reads the service's destinations,
 * compares them with the weights the pool wants (adopting what is there for
 * destinations not yet checked), notices changes made by someone else, works
 * out quorum and the sorry server, and sends the differences as one batch.
 * Also the removal of the checker's destinations on `stop({ leave: false })`.
 * @module
 */
import type { Operation } from '../ipvs/state.js';
import type { DestinationSpec } from '../ipvs/types.js';
import type { DestinationName, HealthEvent, HealthIpvs } from './checker-types.js';
import { quorumMet } from './health-state.js';
import type { Pool } from './pool.js';
import { readLiveSpecs } from './read-live.js';

/**
 * One sync of `pool` with the kernel (the service is created if it has gone).
 * On a refused batch the pool's `expected` stays as it was and the error propagates.
 */
export async function syncTable(pool: Pool, ipvs: HealthIpvs, emit: (e: HealthEvent) => void): Promise<void> {
  let live = await readLiveSpecs(ipvs, pool.key);
  if (!live) {
    await ipvs.addService(pool.options.service);
    live = new Map();
  }
  const ops: Operation[] = [];
  const changes: Array<{ destination: DestinationName; from: number | null; to: number | null }> = [];
  let external = false;
  const next = new Map<DestinationName, number | null>();
  const reconcile = (name: DestinationName, spec: DestinationSpec & { port: number }, want: number | null): void => {
    const d = live!.get(name);
    const have = d ? d.weight : null;
    if (pool.expected.has(name) && pool.expected.get(name) !== have) external = true;
    next.set(name, want);
    if (want === have) return;
    changes.push({ destination: name, from: have, to: want });
    const key = { address: spec.address, port: spec.port };
    if (want === null) ops.push({ op: 'delete-destination', service: pool.key, destination: key, before: d! });
    else if (!d) ops.push({ op: 'add-destination', service: pool.key, destination: { ...spec, weight: want } });
    else ops.push({ op: 'update-destination', service: pool.key, destination: { ...spec, weight: want }, before: d });
  };
  let serving = 0;
  let unknown = false;
  for (const m of pool.members.values()) {
    const have = live.get(m.name)?.weight ?? null;
    const want = pool.desired(m, have);
    reconcile(m.name, m.spec, want);
    if (m.health.health === 'unknown' && !m.maintenance && !m.dirMaintenance && !m.draining) unknown = true;
    if (want !== null && want > 0) serving += want;
  }
  pool.serviceWeight = serving;
  const quorum = pool.options.quorum;
  if (quorum && !unknown) {
    const met = quorumMet(pool.quorum, serving, quorum.minWeight, quorum.hysteresis ?? 0);
    const first = pool.quorum === undefined;
    if (met !== pool.quorum) {
      pool.quorum = met;
      if (!first || !met) emit({ type: 'quorum', met, weight: serving });
    }
  }
  const sorry = pool.sorry;
  if (sorry && !unknown) {
    const active = serving === 0;
    reconcile(sorry.name, sorry, active ? (sorry.weight ?? 1) : null);
    if (active !== pool.sorryActive) {
      pool.sorryActive = active;
      emit({ type: 'sorry', active });
    }
  }
  // On a refused batch `expected` stays as it was: the next sync re-reads the
  // table and tries again, without mistaking its own failure for someone else's change.
  if (ops.length > 0) {
    await ipvs.runOperations(ops);
    pool.expected = next;
    emit({ type: 'weights', changes, external });
  } else {
    pool.expected = next;
  }
  for (const m of [...pool.members.values()]) if (m.removing) pool.members.delete(m.name);
}

/** Delete the pool's destinations and sorry server from the table (those that are there). */
export async function removeFromTable(pool: Pool, ipvs: HealthIpvs): Promise<void> {
  const live = await readLiveSpecs(ipvs, pool.key);
  const ops: Operation[] = [];
  for (const name of [...pool.members.keys(), ...(pool.sorry ? [pool.sorry.name] : [])]) {
    const d = live?.get(name);
    if (d) ops.push({ op: 'delete-destination', service: pool.key, destination: { address: d.address, port: d.port }, before: d });
  }
  await ipvs.runOperations(ops);
}
