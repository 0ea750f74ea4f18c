// The hash functions against the kernel itself: placements that real TCP
// connections reached through IPVS in the sandbox (Linux 6.1.176, captured by
// test/kernel/schedulers.kernel.test.ts with IPVS_TS_CAPTURE_FIXTURES=1) for
// sh, sh-port, sh-fallback, mh, mh-port, mh-fallback, quiesced and
// weight-0 destinations, IPv6, and dh over sixteen virtual addresses.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { ServiceSpec } from '../../../src/ipvs/types.js';
import { simulate, type SimDestination, type SimulateOptions } from '../../../src/schedulers/index.js';

interface Scenario {
  service: ServiceSpec;
  destinations: SimDestination[];
  connections: [string, number][];
  observed: (string | null)[];
}

const scenarios = JSON.parse(readFileSync(new URL('../../fixtures/schedulers/kernel-placements.json', import.meta.url), 'utf8')) as Record<string, Scenario>;

const place = (s: Scenario, options?: SimulateOptions) =>
  simulate(s.service, s.destinations, s.connections.map(([source, sourcePort]) => ({ source, sourcePort })), options).placements.map((d) => d?.address ?? null);

describe('simulate() reproduces placements the kernel made', () => {
  const names = Object.keys(scenarios);
  it('has fixtures for every hashing scheduler variant', () => {
    for (const p of ['sh ', 'sh-port', 'sh-fallback', 'mh ', 'mh-port', 'mh-fallback', 'mh quiesced', 'sh ipv6', 'mh ipv6', 'dh vip']) {
      expect(names.some((n) => n.startsWith(p))).toBe(true);
    }
  });

  it.each(names)('%s', (name) => {
    const s = scenarios[name]!;
    expect(s.observed.length).toBeGreaterThan(0);
    expect(place(s)).toEqual(s.observed);
  });

  it('would notice a different table size or a lost last weight', () => {
    const sh = scenarios['sh 1,1,1,1']!;
    expect(place(sh, { shTabBits: 7 })).not.toEqual(sh.observed);
    const mh = scenarios['mh 1,1,1,1']!;
    expect(place(mh, { mhTabIndex: 11 })).not.toEqual(mh.observed);
    const q = scenarios['mh quiesced 1,2→0,1,1']!;
    expect(place({ ...q, destinations: q.destinations.map(({ lastWeight: _, ...d }) => d) })).not.toEqual(q.observed);
  });
});
