// A reload the kernel refuses part-way: the order of its sends, the undo of
// each kind of operation, what took effect read from the per-message answers,
// and the Director keeping its previous configuration (table with the
// checkers' weights, checkers, counters) — against a fake kernel.
import { describe, expect, it } from 'vitest';
import { validateDirectorConfig, type DirectorConfig } from '../../../src/director/config.js';
import { Director, type DirectorEvent } from '../../../src/director/director.js';
import { ReloadRefusedError, inverseOperations, reloadSends, sendReload } from '../../../src/director/reload-rollback.js';
import { directorMetricFamilies } from '../../../src/director/metrics.js';
import type { CheckResult } from '../../../src/health/spec.js';
import { describeOperation, type Operation } from '../../../src/ipvs/state.js';
import { FakeKernel } from './fake-kernel.js';

const svc = (port: number) => ({ protocol: 'tcp' as const, address: '192.0.2.10', port });
const d = (address: string, weight: number) => ({ address, port: 8080, forward: 'masq' as const, weight });
const lines = (ops: Operation[]) => ops.map(describeOperation);

/** A kernel holding services 80 (wrr: .1 at 5, .2 at 0, .3 at 5), 81 (rr: .1 at 1, .2 at 0) and 99 (not the reload's). */
function kernel(): FakeKernel {
  const k = new FakeKernel();
  const ops: Operation[] = [
    { op: 'add-service', service: { ...svc(80), scheduler: 'wrr' } },
    { op: 'add-destination', service: svc(80), destination: d('10.0.1.1', 5) },
    { op: 'add-destination', service: svc(80), destination: d('10.0.1.2', 0) },
    { op: 'add-destination', service: svc(80), destination: d('10.0.1.3', 5) },
    { op: 'add-service', service: { ...svc(81), scheduler: 'rr' } },
    { op: 'add-destination', service: svc(81), destination: d('10.0.1.1', 1) },
    { op: 'add-destination', service: svc(81), destination: d('10.0.1.2', 0) },
    { op: 'add-service', service: { ...svc(99), scheduler: 'rr' } },
  ];
  void k.runOperations(ops);
  k.batches.length = 0;
  return k;
}

/** A reload's operations against kernel(): adds 82 with two destinations, edits 80 and its .1, deletes 80's .2 and 81 whole. */
function reloadOps(scheduler80 = 'rr'): Operation[] {
  return [
    { op: 'delete-destination', service: svc(80), destination: { address: '10.0.1.2', port: 8080 }, before: d('10.0.1.2', 0) },
    { op: 'update-destination', service: svc(80), destination: d('10.0.1.1', 9), before: d('10.0.1.1', 5) },
    { op: 'delete-service', service: svc(81), before: { ...svc(81), scheduler: 'rr', destinations: [d('10.0.1.1', 1), d('10.0.1.2', 0)] } },
    { op: 'update-service', service: { ...svc(80), scheduler: scheduler80 }, before: { ...svc(80), scheduler: 'wrr' } },
    { op: 'add-service', service: { ...svc(82), scheduler: 'rr' } },
    { op: 'add-destination', service: svc(82), destination: d('10.0.2.1', 3) },
    { op: 'add-destination', service: svc(82), destination: d('10.0.2.2', 3) },
  ];
}

async function refusal(p: Promise<unknown>): Promise<ReloadRefusedError> {
  const e = await p.then(() => undefined, (x: unknown) => x);
  expect(e).toBeInstanceOf(ReloadRefusedError);
  return e as ReloadRefusedError;
}

describe('reloadSends', () => {
  it('puts additions and edits in the first send and deletions in the second, a service\'s add before its destinations\'', () => {
    const ops: Operation[] = [
      ...reloadOps(),
      { op: 'start-daemon', daemon: { state: 'master', interface: 'eth0' } },
      { op: 'stop-daemon', state: 'backup', before: { state: 'backup', interface: 'eth0' } },
      { op: 'set-timeouts', timeouts: { tcp: 100 }, before: { tcp: 900, tcpFin: 120, udp: 300 } },
    ];
    const [first, second] = reloadSends(ops);
    expect(lines(first)).toEqual([
      'stop sync daemon backup',
      'add service TCP 192.0.2.10:82',
      'add destination 10.0.2.1:8080 to service TCP 192.0.2.10:82',
      'add destination 10.0.2.2:8080 to service TCP 192.0.2.10:82',
      'update service TCP 192.0.2.10:80',
      'update destination 10.0.1.1:8080 in service TCP 192.0.2.10:80',
      'set timeouts {"tcp":100}',
    ]);
    expect(lines(second)).toEqual(['delete destination 10.0.1.2:8080 from service TCP 192.0.2.10:80', 'delete service TCP 192.0.2.10:81', 'start sync daemon master']);
  });
});

describe('inverseOperations', () => {
  it('each kind, applied then undone, leaves the table as it was (weights included)', async () => {
    const ops: Operation[] = [...reloadSends(reloadOps()).flat(), { op: 'start-daemon', daemon: { state: 'master', interface: 'eth0' } }];
    const k = kernel();
    for (const op of ops) {
      const before = k.text();
      await k.runOperations([op]);
      const after = k.text();
      expect(after, describeOperation(op)).not.toBe(before);
      await k.runOperations(inverseOperations(op));
      expect(k.text(), describeOperation(op)).toBe(before);
      await k.runOperations([op]); // on to the next operation, from the table with this one done
      expect(k.text()).toBe(after);
    }
  });

  it('a deleted service comes back with its destinations, a down one at weight 0', () => {
    const [del] = reloadOps().filter((o) => o.op === 'delete-service');
    expect(inverseOperations(del!)).toEqual([
      { op: 'add-service', service: { ...svc(81), scheduler: 'rr' } },
      { op: 'add-destination', service: svc(81), destination: d('10.0.1.1', 1) },
      { op: 'add-destination', service: svc(81), destination: d('10.0.1.2', 0) },
    ]);
  });

  it('timeouts get back only the values the operation changed; a stopped daemon is started as it was', () => {
    expect(inverseOperations({ op: 'set-timeouts', timeouts: { tcp: 100 }, before: { tcp: 900, tcpFin: 120, udp: 300 } })).toEqual([
      { op: 'set-timeouts', timeouts: { tcp: 900 }, before: { tcp: 100, tcpFin: 120, udp: 300 } },
    ]);
    const daemon = { state: 'backup' as const, interface: 'eth0', syncId: 7 };
    expect(inverseOperations({ op: 'stop-daemon', state: 'backup', before: daemon })).toEqual([{ op: 'start-daemon', daemon }]);
  });
});

describe('sendReload', () => {
  it('a refusal in the first send: what took effect (also after it in the same send) is undone; deletions are never sent', async () => {
    const k = kernel();
    const before = k.text();
    const e = await refusal(sendReload(k, reloadOps('nosuch')));
    expect(k.text()).toBe(before);
    expect(e.rolledBack).toBe(true);
    expect(e.code).toBe('ENOENT');
    expect(e.errno).toBe(2);
    expect(e.operation).toBe('update service TCP 192.0.2.10:80');
    // Adds of 82 and the edit of .1 took effect (the update-service between them did not).
    expect(e.applied).toBe(4);
    expect(e.message).toMatch(/^reload refused by the kernel at "update service TCP 192\.0\.2\.10:80": .*scheduler "nosuch".*\[ENOENT, errno 2\]; rolled back: 4 operation\(s\)/);
    // Sent: the first send, then the undo; no deletion ever went out.
    expect(k.batches).toHaveLength(2);
    expect(k.batches[0]!.some((o) => o.op.startsWith('delete'))).toBe(false);
    expect(k.batches[1]!.some((o) => o.op === 'add-service' || o.op === 'add-destination')).toBe(false);
  });

  it('undoes newest first: the destination adds before their service\'s delete', async () => {
    const k = kernel();
    await refusal(sendReload(k, reloadOps('nosuch')));
    expect(lines(k.batches[1]!)).toEqual([
      'update destination 10.0.1.1:8080 in service TCP 192.0.2.10:80',
      'delete destination 10.0.2.2:8080 from service TCP 192.0.2.10:82',
      'delete destination 10.0.2.1:8080 from service TCP 192.0.2.10:82',
      'delete service TCP 192.0.2.10:82',
    ]);
  });

  it('a refusal in the second send (a sync daemon on an interface the kernel lacks): deletions are undone with the weights the table had', async () => {
    const k = kernel();
    const before = k.text();
    const e = await refusal(sendReload(k, [...reloadOps(), { op: 'start-daemon', daemon: { state: 'master', interface: 'nosuch0' } }]));
    expect(e.code).toBe('ENODEV');
    expect(e.operation).toBe('start sync daemon master');
    expect(e.applied).toBe(7);
    expect(e.rolledBack).toBe(true);
    expect(k.text()).toBe(before);
    expect(k.text()).toContain('TCP 192.0.2.10:81 rr\n  -> 10.0.1.1|8080 masq 1\n  -> 10.0.1.2|8080 masq 0');
  });

  it('stops sending after the send that drew a refusal (sends of 2 messages)', async () => {
    const k = kernel();
    k.sendSize = 2;
    const before = k.text();
    // First send: add 82, its .1 (refused), its .2 — the send of [add 82, add .1] is answered first.
    k.refuse.add('add destination 10.0.2.1:8080 to service TCP 192.0.2.10:82');
    const e = await refusal(sendReload(k, reloadOps()));
    expect(e.applied).toBe(1); // add 82; nothing after the refused send went
    expect(k.batches[0]).toHaveLength(5);
    expect(k.text()).toBe(before);
  });

  it('an undo the kernel refuses: not rolled back, and what is left is named', async () => {
    const k = kernel();
    k.refuse.add('delete service TCP 192.0.2.10:82');
    const e = await refusal(sendReload(k, reloadOps('nosuch')));
    expect(e.rolledBack).toBe(false);
    expect(e.left).toEqual(['could not delete service TCP 192.0.2.10:82 (delete service TCP 192.0.2.10:82: refused (EINVAL))']);
    expect(e.message).toMatch(/rollback INCOMPLETE: 4 operation\(s\) had taken effect, the kernel refused to undo 1: left in the table: could not delete service TCP 192\.0\.2\.10:82/);
    expect(k.text()).toContain('TCP 192.0.2.10:82 rr');
  });

  it('an error that is not the kernel\'s answer: nothing is undone, and it says the outcome is unknown', async () => {
    const k = kernel();
    const lost = Object.assign(new Error('batch: no progress within 5000 ms'), { name: 'TimeoutError' });
    const e = await refusal(sendReload({ runOperations: async () => Promise.reject(lost) }, reloadOps()));
    expect(e.rolledBack).toBe(false);
    expect(e.code).toBe('TimeoutError');
    expect(e.message).toMatch(/which operations of this send took effect is unknown: nothing was rolled back/);
    expect(k.batches).toHaveLength(0);
  });

  it('all taken: resolves with the operations in the order sent', async () => {
    const k = kernel();
    const { applied } = await sendReload(k, reloadOps());
    expect(applied.map((o) => o.op)).toEqual(['add-service', 'add-destination', 'add-destination', 'update-service', 'update-destination', 'delete-destination', 'delete-service']);
    expect(k.batches).toHaveLength(2);
  });
});

describe('Director reload refused by the kernel', () => {
  const up = new Set(['10.0.1.1']);
  const runner = async (_spec: unknown, target: { address: string }): Promise<CheckResult> => ({ ok: up.has(target.address), latencyMs: 1, detail: up.has(target.address) ? 'ok' : 'refused' });
  const V1: DirectorConfig = {
    table: { services: [
      { ...svc(80), scheduler: 'wrr', destinations: [d('10.0.1.1', 5), d('10.0.1.2', 5)] },
      { ...svc(81), scheduler: 'rr', destinations: [d('10.0.1.1', 1)] },
    ] },
    health: [{ service: svc(80), check: { type: 'tcp' }, intervalMs: 100, rise: 1, fall: 1 }],
  };
  const V2 = (scheduler: string): DirectorConfig => ({
    table: { services: [
      { ...svc(80), scheduler, destinations: [d('10.0.1.1', 5), d('10.0.1.2', 5), d('10.0.1.3', 5)] },
      { ...svc(82), scheduler: 'rr', destinations: [d('10.0.2.1', 2)] },
    ] },
    health: [{ service: svc(80), check: { type: 'tcp' }, intervalMs: 100, rise: 1, fall: 1 }],
  });
  function next(director: Director, pred: (e: DirectorEvent) => boolean): Promise<DirectorEvent> {
    return new Promise((resolve) => {
      const on = (e: DirectorEvent) => {
        if (!pred(e)) return;
        director.off('event', on);
        resolve(e);
      };
      director.on('event', on);
    });
  }
  const stateTo = (dest: string, to: string) => (e: DirectorEvent) => e.type === 'health' && e.event.type === 'state' && e.event.destination === dest && e.event.to === to;

  it('keeps the table (a down server at 0), the configuration and the checkers; counts it; a later valid reload works', async () => {
    const k = new FakeKernel();
    const director = new Director(k, { checkerOverrides: { runner } });
    const events: DirectorEvent[] = [];
    director.on('event', (e: DirectorEvent) => events.push(e));
    const down = next(director, stateTo('10.0.1.2:8080', 'down'));
    const serving = next(director, (x) => x.type === 'health' && x.event.type === 'weights' && x.event.changes.some((c) => c.destination === '10.0.1.1:8080' && c.to === 5));
    await director.start(validateDirectorConfig(V1));
    await Promise.all([down, serving]);
    const before = k.text();
    expect(before).toContain('  -> 10.0.1.2|8080 masq 0');

    const v1 = director.config;
    const e = await refusal(director.reload(validateDirectorConfig(V2('nosuch'))));
    expect(e.rolledBack).toBe(true);
    expect(k.text()).toBe(before);
    expect(director.config).toBe(v1);
    expect(director.ownedServices().sort()).toEqual(['TCP 192.0.2.10:80', 'TCP 192.0.2.10:81']);
    expect(director.counters).toMatchObject({ reloads: 0, reloadFailures: 1, reloadRollbacks: 1, reloadRollbackFailures: 0 });
    expect(events.filter((x) => x.type === 'error')).toEqual([{ type: 'error', phase: 'reload', error: e }]);
    expect(events.some((x) => x.type === 'configured' && x.phase === 'reload')).toBe(false);
    const rollbacks = directorMetricFamilies(director).find((f) => f.name === 'ipvs_ts_reload_rollbacks_total')!;
    expect(rollbacks.samples).toEqual([{ labels: { result: 'complete' }, value: 1 }, { labels: { result: 'incomplete' }, value: 0 }]);

    // The checker runs on with its previous pool: .2 coming up gets its configured 5; .3 (only in V2) is not added.
    up.add('10.0.1.2');
    await next(director, (x) => x.type === 'health' && x.event.type === 'weights' && x.event.changes.some((c) => c.destination === '10.0.1.2:8080' && c.to === 5));
    expect(k.text()).not.toContain('10.0.1.3');

    const plan = await director.reload(validateDirectorConfig(V2('rr')));
    expect(plan.operations.length).toBeGreaterThan(0);
    expect(director.counters).toMatchObject({ reloads: 1, reloadFailures: 1 });
    expect(k.text()).toContain('TCP 192.0.2.10:80 rr');
    expect(k.text()).not.toContain('TCP 192.0.2.10:81');
    await director.stop();
  });
});
