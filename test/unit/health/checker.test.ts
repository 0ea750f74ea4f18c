// The HealthChecker's state machine on a fake clock, fake probes and an in-memory table.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HealthChecker } from '../../../src/health/checker.js';
import type { HealthCheckerOptions, HealthEvent } from '../../../src/health/checker-types.js';
import { FakeClock, FakeIpvs, fakeRunner, type Behaviour } from './fakes.js';

const service = { protocol: 'tcp' as const, address: '192.0.2.10', port: 80, scheduler: 'wlc' };
const pool = [
  { address: '10.0.1.1', forward: 'masq' as const, weight: 10 },
  { address: '10.0.1.2', forward: 'masq' as const, weight: 20 },
  { address: '10.0.1.3', forward: 'masq' as const, weight: 30 },
];

function setup(extra: Partial<HealthCheckerOptions> = {}, ipvs = new FakeIpvs()) {
  const clock = new FakeClock();
  const health = new Map<string, Behaviour>();
  const calls: string[] = [];
  const checker = new HealthChecker(ipvs, {
    service, destinations: pool, check: { type: 'tcp' }, intervalMs: 100, startJitterMs: 0,
    clock, runner: fakeRunner(health, calls), ...extra,
  });
  const events: HealthEvent[] = [];
  checker.on('event', (e: HealthEvent) => events.push(e));
  return { clock, health, calls, checker, ipvs, events };
}

describe('HealthChecker', () => {
  it('creates the service and the missing destinations, then brings them up in one batch', async () => {
    const { clock, checker, ipvs, events } = setup();
    await checker.start();
    expect(ipvs.service).toMatchObject(service);
    expect(ipvs.weights()).toEqual({ '10.0.1.1': 0, '10.0.1.2': 0, '10.0.1.3': 0 });
    await clock.advance(1);
    expect(ipvs.weights()).toEqual({ '10.0.1.1': 10, '10.0.1.2': 20, '10.0.1.3': 30 });
    expect(ipvs.batches.map((b) => b.map((o) => o.op))).toEqual([
      ['add-destination', 'add-destination', 'add-destination'],
      ['update-destination', 'update-destination', 'update-destination'],
    ]);
    expect(events.filter((e) => e.type === 'state').map((e) => e.type === 'state' && `${e.destination} ${e.from}→${e.to}`)).toEqual([
      '10.0.1.1:80 unknown→up', '10.0.1.2:80 unknown→up', '10.0.1.3:80 unknown→up',
    ]);
    await checker.stop();
  });

  it('goes down after `fall` failures, back up after `rise` successes; flapping does not move the weight', async () => {
    const { clock, checker, ipvs, health } = setup({ rise: 2, fall: 3 });
    await checker.start();
    await clock.advance(1);
    health.set('10.0.1.2', false);
    await clock.advance(200); // 2 failures
    expect(ipvs.weights()['10.0.1.2']).toBe(20);
    await clock.advance(100); // 3rd
    expect(ipvs.weights()['10.0.1.2']).toBe(0);
    health.set('10.0.1.2', true);
    await clock.advance(100);
    expect(ipvs.weights()['10.0.1.2']).toBe(0);
    await clock.advance(100);
    expect(ipvs.weights()['10.0.1.2']).toBe(20);
    const batches = ipvs.batches.length;
    for (let i = 0; i < 10; i++) {
      health.set('10.0.1.2', i % 2 === 0 ? false : true);
      await clock.advance(100);
    }
    expect(ipvs.batches.length).toBe(batches);
    expect(checker.status().destinations[1]).toMatchObject({ state: 'up', weight: 20, configuredWeight: 20 });
    await checker.stop();
  });

  it('retryDelayMs checks a failing destination sooner while it is still up', async () => {
    const { clock, checker, ipvs, health, calls } = setup({ fall: 3, retryDelayMs: 20, destinations: [pool[0]!] });
    await checker.start();
    await clock.advance(1);
    health.set('10.0.1.1', false);
    calls.length = 0;
    await clock.advance(100 + 20 + 20);
    expect(calls.length).toBe(3);
    expect(ipvs.weights()['10.0.1.1']).toBe(0);
    await checker.stop();
  });

  it("onDown 'remove' deletes a down destination and adds it back", async () => {
    const { clock, checker, ipvs, health } = setup({ onDown: 'remove', fall: 1, rise: 1 });
    await checker.start();
    expect(ipvs.weights()).toEqual({});
    await clock.advance(1);
    health.set('10.0.1.1', false);
    await clock.advance(100);
    expect(ipvs.weights()).toEqual({ '10.0.1.2': 20, '10.0.1.3': 30 });
    health.set('10.0.1.1', true);
    await clock.advance(100);
    expect(ipvs.weights()).toEqual({ '10.0.1.1': 10, '10.0.1.2': 20, '10.0.1.3': 30 });
    await checker.stop();
  });

  it('a restart over a populated table changes nothing that is right, and fixes a weight left at 0', async () => {
    const ipvs = new FakeIpvs();
    ipvs.service = service;
    ipvs.put({ address: '10.0.1.1', forward: 'masq', weight: 10 });
    ipvs.put({ address: '10.0.1.2', forward: 'masq', weight: 20 });
    ipvs.put({ address: '10.0.1.3', forward: 'masq', weight: 0 });
    ipvs.put({ address: '10.9.9.9', forward: 'masq', weight: 5 }); // not ours: left alone
    const { clock, checker } = setup({}, ipvs);
    await checker.start();
    expect(ipvs.batches).toEqual([]);
    await clock.advance(1);
    expect(ipvs.batches.map((b) => b.map((o) => o.op === 'update-destination' && `${o.destination.address} ${o.destination.weight}`))).toEqual([['10.0.1.3 30']]);
    expect(ipvs.weights()).toEqual({ '10.0.1.1': 10, '10.0.1.2': 20, '10.0.1.3': 30, '10.9.9.9': 5 });
    await checker.stop();
  });

  it('puts back within one interval a destination deleted or reweighted by someone else', async () => {
    const { clock, checker, ipvs, events } = setup();
    await checker.start();
    await clock.advance(1);
    ipvs.table.delete('10.0.1.2:80');
    ipvs.put({ address: '10.0.1.3', forward: 'masq', weight: 1 });
    await clock.advance(100);
    expect(ipvs.weights()).toEqual({ '10.0.1.1': 10, '10.0.1.2': 20, '10.0.1.3': 30 });
    expect(events.filter((e) => e.type === 'weights').at(-1)).toEqual({
      type: 'weights', external: true,
      changes: [{ destination: '10.0.1.2:80', from: null, to: 20 }, { destination: '10.0.1.3:80', from: 1, to: 30 }],
    });
    await checker.stop();
  });

  it('adds the sorry server when nothing serves and removes it when one is back; quorum lost and regained once each', async () => {
    const { clock, checker, ipvs, health, events } = setup({
      fall: 1, rise: 1, sorryServer: { address: '10.0.9.9', forward: 'masq', weight: 1 }, quorum: { minWeight: 30, hysteresis: 5 },
    });
    await checker.start();
    await clock.advance(1);
    expect(ipvs.weights()['10.0.9.9']).toBeUndefined();
    health.set('10.0.1.3', false); // 30 left: 30 ≥ 30 − 5, kept
    await clock.advance(100);
    health.set('10.0.1.2', false); // 10 left: lost
    await clock.advance(100);
    health.set('10.0.1.1', false);
    await clock.advance(100);
    expect(ipvs.weights()).toEqual({ '10.0.1.1': 0, '10.0.1.2': 0, '10.0.1.3': 0, '10.0.9.9': 1 });
    health.set('10.0.1.2', true); // 20 < 30 + 5: still lost
    await clock.advance(100);
    expect(ipvs.weights()['10.0.9.9']).toBeUndefined();
    health.set('10.0.1.3', true); // 50: regained
    await clock.advance(100);
    expect(events.filter((e) => e.type === 'sorry' || e.type === 'quorum').map((e) => ({ ...e }))).toEqual([
      { type: 'quorum', met: false, weight: 10 },
      { type: 'sorry', active: true },
      { type: 'sorry', active: false },
      { type: 'quorum', met: true, weight: 50 },
    ]);
    expect(checker.status()).toMatchObject({ sorryActive: false, quorum: true, serviceWeight: 50 });
    await checker.stop();
  });

  it('slow start ramps a recovered weight up over the configured time', async () => {
    const { clock, checker, ipvs, health } = setup({ fall: 1, rise: 1, slowStart: { durationMs: 1000 }, destinations: [pool[2]!] });
    await checker.start();
    await clock.advance(1);
    expect(ipvs.weights()['10.0.1.3']).toBe(30); // first sight: no ramp
    health.set('10.0.1.3', false);
    await clock.advance(100);
    health.set('10.0.1.3', true);
    await clock.advance(100);
    const seen: number[] = [];
    for (let i = 0; i < 12; i++) {
      seen.push(ipvs.weights()['10.0.1.3']!);
      await clock.advance(100);
    }
    expect(seen[0]).toBeGreaterThanOrEqual(1);
    expect(seen[0]).toBeLessThan(5);
    for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeGreaterThanOrEqual(seen[i - 1]!);
    expect(new Set(seen).size).toBeGreaterThan(5);
    expect(seen.at(-1)).toBe(30);
    await checker.stop();
  });

  it('takes the weight an exec-style check asks for', async () => {
    const { clock, checker, ipvs, health } = setup({ destinations: [pool[0]!] });
    health.set('10.0.1.1', 7);
    await checker.start();
    await clock.advance(1);
    expect(ipvs.weights()['10.0.1.1']).toBe(7);
    health.set('10.0.1.1', 3);
    await clock.advance(100);
    expect(ipvs.weights()['10.0.1.1']).toBe(3);
    await checker.stop();
  });

  it('a hanging or throwing check is a failure of that destination only', async () => {
    const { clock, checker, ipvs, health, events } = setup({ fall: 1, timeoutMs: 50 });
    health.set('10.0.1.1', 'hang');
    health.set('10.0.1.2', 'throw');
    await checker.start();
    await clock.advance(1100);
    expect(ipvs.weights()).toEqual({ '10.0.1.1': 0, '10.0.1.2': 0, '10.0.1.3': 30 });
    const checks = events.filter((e) => e.type === 'check');
    expect(checks.find((e) => e.type === 'check' && e.destination === '10.0.1.1:80')).toMatchObject({ result: { ok: false, detail: 'check did not settle within 1050 ms' } });
    expect(checks.find((e) => e.type === 'check' && e.destination === '10.0.1.2:80')).toMatchObject({ result: { ok: false, detail: 'check threw: probe crashed' } });
    expect(checks.filter((e) => e.type === 'check' && e.destination === '10.0.1.3:80').length).toBeGreaterThan(5);
    await checker.stop();
  });

  it('maintenance by call and by a file in the maintenance directory', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ipvs-ts-maint-'));
    try {
      const { clock, checker, ipvs } = setup({ maintenanceDir: dir });
      await checker.start();
      await clock.advance(1);
      checker.setMaintenance({ address: '10.0.1.1' }, true);
      await clock.advance(1);
      expect(ipvs.weights()['10.0.1.1']).toBe(0);
      expect(checker.status().destinations[0]!.state).toBe('maintenance');
      checker.setMaintenance({ address: '10.0.1.1' }, false);
      writeFileSync(join(dir, '10.0.1.2:80'), '');
      await clock.advance(100);
      expect(ipvs.weights()).toMatchObject({ '10.0.1.1': 10, '10.0.1.2': 0 });
      rmSync(join(dir, '10.0.1.2:80'));
      await clock.advance(100);
      expect(ipvs.weights()['10.0.1.2']).toBe(20);
      expect(() => checker.setMaintenance({ address: '10.0.7.7' }, true)).toThrow(/10\.0\.7\.7:80 is not in this checker's pool/);
      await checker.stop();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('drain: weight 0, waits for the connections (all, or active only), then removes', async () => {
    const { clock, checker, ipvs } = setup();
    await checker.start();
    await clock.advance(1);
    ipvs.table.get('10.0.1.1:80')!.activeConnections = 2;
    ipvs.table.get('10.0.1.2:80')!.inactiveConnections = 1;
    const drainAll = checker.drain({ address: '10.0.1.1' }, { pollMs: 50, timeoutMs: 10_000 });
    const drainActive = checker.drain({ address: '10.0.1.2' }, { pollMs: 50, until: 'active' });
    await clock.advance(1);
    expect(ipvs.weights()).toMatchObject({ '10.0.1.1': 0 });
    expect(checker.status().destinations[0]!.state).toBe('draining');
    await expect(drainActive).resolves.toMatchObject({ drained: true, removed: true, remaining: { active: 0, inactive: 1 } });
    await clock.advance(500);
    expect(ipvs.table.has('10.0.1.1:80')).toBe(true);
    ipvs.table.get('10.0.1.1:80')!.activeConnections = 0;
    await clock.advance(50);
    await expect(drainAll).resolves.toMatchObject({ drained: true, removed: true });
    expect(ipvs.weights()).toEqual({ '10.0.1.3': 30 });
    await clock.advance(300); // the drained ones are not checked nor re-added
    expect(ipvs.weights()).toEqual({ '10.0.1.3': 30 });
    expect(checker.status().destinations.map((d) => d.address)).toEqual(['10.0.1.3']);
    await checker.stop();
  });

  it('drain gives up at its timeout and leaves the destination quiesced', async () => {
    const { clock, checker, ipvs } = setup();
    await checker.start();
    await clock.advance(1);
    ipvs.table.get('10.0.1.1:80')!.persistentConnections = 1;
    const p = checker.drain({ address: '10.0.1.1' }, { pollMs: 50, timeoutMs: 300 });
    await clock.advance(400);
    await expect(p).resolves.toMatchObject({ drained: false, removed: false, waitedMs: 300, remaining: { persistent: 1 } });
    expect(ipvs.weights()['10.0.1.1']).toBe(0);
    await checker.stop();
  });

  it('events() yields the same events in order and ends on stop(); stop({ leave: false }) deletes ours', async () => {
    const { clock, checker, ipvs, events } = setup();
    const it = checker.events();
    await checker.start();
    await clock.advance(1);
    await checker.stop({ leave: false });
    const got: HealthEvent[] = [];
    for await (const e of it) got.push(e);
    expect(got).toEqual(events);
    expect(got.length).toBeGreaterThan(6);
    expect(ipvs.weights()).toEqual({});
  });

  it('a refused batch is an error event (no throw without an error listener) and the next sync tries again', async () => {
    const { clock, checker, ipvs, events } = setup();
    await checker.start();
    const real = ipvs.runOperations;
    let refusals = 1;
    ipvs.runOperations = async (ops) => {
      if (refusals-- > 0) throw Object.assign(new Error('refused'), { code: 'EPERM' });
      return real(ops);
    };
    await clock.advance(1);
    expect(events.filter((e) => e.type === 'error')).toMatchObject([{ type: 'error', during: 'sync', error: { message: 'refused' } }]);
    await clock.advance(100);
    expect(ipvs.weights()).toEqual({ '10.0.1.1': 10, '10.0.1.2': 20, '10.0.1.3': 30 });
    expect(events.filter((e) => e.type === 'weights').at(-1)).toMatchObject({ external: false });
    await checker.stop();
  });

  it('start() rejects when the kernel refuses the first sync, and checks nothing', async () => {
    const { clock, checker, ipvs, calls } = setup();
    ipvs.runOperations = async () => {
      throw Object.assign(new Error('no route to the real server'), { code: 'EINVAL' });
    };
    await expect(checker.start()).rejects.toThrow(/no route to the real server/);
    await clock.advance(500);
    expect(calls).toEqual([]);
  });

  it('rejects bad options naming the field', () => {
    const ipvs = new FakeIpvs();
    expect(() => new HealthChecker(ipvs, { service, destinations: pool, check: { type: 'tcp' }, rise: 0 })).toThrow(/^rise: must be a positive integer/);
    expect(() => new HealthChecker(ipvs, { service, destinations: [pool[0]!, pool[0]!], check: { type: 'tcp' } })).toThrow(/destinations\[1\]: 10\.0\.1\.1:80 appears twice/);
    expect(() => new HealthChecker(ipvs, { service, destinations: [{ ...pool[0]!, check: { type: 'http', path: 'x' } }], check: { type: 'tcp' } })).toThrow(/destinations\[0\]\.check\.path/);
    expect(() => new HealthChecker(ipvs, { service, destinations: [{ address: 'nope' }], check: { type: 'tcp' } })).toThrow(/destinations\[0\]\.address/);
  });
});
