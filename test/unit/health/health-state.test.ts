import { describe, expect, it } from 'vitest';
import { newHealthRecord, quorumMet, ramping, recordResult, upWeight } from '../../../src/health/health-state.js';

const ok = { ok: true, latencyMs: 1, detail: 'up' };
const fail = { ok: false, latencyMs: 1, detail: 'down' };

describe('health state machine', () => {
  it('the first result decides; then rise and fall count consecutive results', () => {
    const r = newHealthRecord(0);
    expect(recordResult(r, fail, 1, 2, 3)).toBe('unknown');
    expect(r.health).toBe('down');
    expect(recordResult(r, ok, 2, 2, 3)).toBeUndefined();
    expect(recordResult(r, fail, 3, 2, 3)).toBeUndefined(); // the success run is broken
    expect(recordResult(r, ok, 4, 2, 3)).toBeUndefined();
    expect(recordResult(r, ok, 5, 2, 3)).toBe('down');
    expect(r).toMatchObject({ health: 'up', since: 5, recoveredAt: 5 });
    for (const t of [6, 7]) expect(recordResult(r, fail, t, 2, 3)).toBeUndefined();
    expect(recordResult(r, fail, 8, 2, 3)).toBe('up');
    expect(r.health).toBe('down');
  });

  it('slow start ramps linearly from 1 to the target after a recovery only', () => {
    const r = newHealthRecord(0);
    recordResult(r, ok, 0, 1, 1);
    expect(upWeight(r, 100, 10, 1000)).toBe(100); // first sight: no ramp
    recordResult(r, fail, 100, 1, 1);
    recordResult(r, ok, 1000, 1, 1);
    expect([1000, 1001, 1250, 1500, 1999, 2000, 3000].map((t) => upWeight(r, 100, t, 1000))).toEqual([1, 1, 25, 50, 100, 100, 100]);
    expect(ramping(r, 1500, 1000)).toBe(true);
    expect(ramping(r, 2000, 1000)).toBe(false);
    recordResult(r, { ...ok, weight: 7 }, 3000, 1, 1);
    expect(upWeight(r, 100, 3000, 1000)).toBe(7);
  });

  it('quorum keeps its state inside the hysteresis band', () => {
    expect(quorumMet(undefined, 10, 10, 3)).toBe(true);
    expect(quorumMet(undefined, 9, 10, 3)).toBe(false);
    expect(quorumMet(true, 7, 10, 3)).toBe(true);
    expect(quorumMet(true, 6, 10, 3)).toBe(false);
    expect(quorumMet(false, 12, 10, 3)).toBe(false);
    expect(quorumMet(false, 13, 10, 3)).toBe(true);
  });
});
