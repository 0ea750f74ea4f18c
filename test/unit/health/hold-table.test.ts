// HealthChecker.holdTable()/releaseTable(): while held, checks go on and
// their results count, but nothing is written to the table; the release
// writes what the checks found in one sync.
import { describe, expect, it } from 'vitest';
import { HealthChecker } from '../../../src/health/checker.js';
import type { HealthEvent } from '../../../src/health/checker-types.js';
import { FakeClock, FakeIpvs, fakeRunner, flush, type Behaviour } from './fakes.js';

const service = { protocol: 'tcp' as const, address: '192.0.2.10', port: 80, scheduler: 'wlc' };
const pool = [
  { address: '10.0.1.1', forward: 'masq' as const, weight: 10 },
  { address: '10.0.1.2', forward: 'masq' as const, weight: 20 },
];

describe('HealthChecker.holdTable', () => {
  it('holds writes (checks and state changes go on), and the release syncs what was found', async () => {
    const clock = new FakeClock();
    const health = new Map<string, Behaviour>();
    const ipvs = new FakeIpvs();
    const checker = new HealthChecker(ipvs, { service, destinations: pool, check: { type: 'tcp' }, intervalMs: 100, startJitterMs: 0, rise: 1, fall: 1, clock, runner: fakeRunner(health) });
    const events: HealthEvent[] = [];
    checker.on('event', (e: HealthEvent) => events.push(e));
    await checker.start();
    await clock.advance(1);
    expect(ipvs.weights()).toEqual({ '10.0.1.1': 10, '10.0.1.2': 20 });
    const batches = ipvs.batches.length;

    await checker.holdTable();
    health.set('10.0.1.2', false);
    await clock.advance(300); // checks run, .2 goes down; sync timers fire too
    expect(events.some((e) => e.type === 'state' && e.destination === '10.0.1.2:80' && e.to === 'down')).toBe(true);
    expect(ipvs.batches.length).toBe(batches);
    expect(ipvs.weights()['10.0.1.2']).toBe(20);

    checker.releaseTable();
    await flush();
    expect(ipvs.weights()).toEqual({ '10.0.1.1': 10, '10.0.1.2': 0 });
    expect(ipvs.batches.length).toBe(batches + 1);
    await checker.stop();
  });
});
