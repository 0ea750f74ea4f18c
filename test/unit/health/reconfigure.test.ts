// HealthChecker.reconfigure(): a new pool and options without a restart;
// destinations still configured keep their health.
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
const base: HealthCheckerOptions = { service, destinations: pool, check: { type: 'tcp' }, intervalMs: 100, startJitterMs: 0, rise: 2, fall: 1 };

function setup() {
  const clock = new FakeClock();
  const health = new Map<string, Behaviour>();
  const ipvs = new FakeIpvs();
  const checker = new HealthChecker(ipvs, { ...base, clock, runner: fakeRunner(health) });
  const events: HealthEvent[] = [];
  checker.on('event', (e: HealthEvent) => events.push(e));
  return { clock, health, ipvs, checker, events };
}

describe('HealthChecker.reconfigure', () => {
  it('keeps the health of kept destinations, checks new ones, forgets removed ones', async () => {
    const { clock, health, ipvs, checker, events } = setup();
    health.set('10.0.1.3', false);
    await checker.start();
    await clock.advance(1);
    expect(ipvs.weights()).toEqual({ '10.0.1.1': 10, '10.0.1.2': 20, '10.0.1.3': 0 });
    events.length = 0;
    const outcome = checker.reconfigure({ ...base, destinations: [{ ...pool[0]!, weight: 15 }, pool[2]!, { address: '10.0.1.4', forward: 'masq', weight: 40 }] });
    expect(outcome).toEqual({ kept: ['10.0.1.1:80', '10.0.1.3:80'], added: ['10.0.1.4:80'], removed: ['10.0.1.2:80'] });
    await clock.advance(1);
    // 10.0.1.1 moves to its new weight at once (it is up), 10.0.1.3 stays down at 0 (one success is not rise=2),
    // 10.0.1.4 is checked and comes up; 10.0.1.2 is no longer the checker's (the director deletes it).
    expect(ipvs.weights()).toEqual({ '10.0.1.1': 15, '10.0.1.2': 20, '10.0.1.3': 0, '10.0.1.4': 40 });
    expect(events.filter((e) => e.type === 'state').map((e) => e.type === 'state' && `${e.destination} ${e.from}->${e.to}`)).toEqual(['10.0.1.4:80 unknown->up']);
    expect(checker.status().destinations.map((d) => `${d.address} ${d.state}`)).toEqual(['10.0.1.1 up', '10.0.1.3 down', '10.0.1.4 up']);
    health.set('10.0.1.3', true);
    await clock.advance(250);
    expect(ipvs.weights()['10.0.1.3']).toBe(30);
    await checker.stop();
  });

  it('refuses invalid options whole (nothing changes) and another service', async () => {
    const { checker } = setup();
    expect(() => checker.reconfigure({ ...base, intervalMs: 0 })).toThrow(/^intervalMs: must be a positive integer/);
    expect(() => checker.reconfigure({ ...base, service: { ...service, port: 81 } })).toThrow(/^service: /);
    expect(checker.status().destinations).toHaveLength(3);
  });
});
