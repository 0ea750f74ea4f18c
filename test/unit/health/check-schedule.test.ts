import { describe, expect, it } from 'vitest';
import { nextDueAt, spreadStartOffsets } from '../../../src/health/check-schedule.js';

/** A seeded linear congruential generator: repeatable randomness in [0, 1). */
function seeded(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 2 ** 32;
  };
}

describe('spreadStartOffsets', () => {
  it('puts one offset in each equal slot of the window', () => {
    const offsets = spreadStartOffsets(1000, 1000, seeded(1));
    expect(offsets).toHaveLength(1000);
    offsets.forEach((o, i) => {
      expect(o).toBeGreaterThanOrEqual(i);
      expect(o).toBeLessThan(i + 1);
    });
  });

  it('never puts more than ceil(count / window) in one millisecond, unlike independent draws', () => {
    const perMs = (offsets: number[]): number => {
      const counts = new Map<number, number>();
      for (const o of offsets) counts.set(o, (counts.get(o) ?? 0) + 1);
      return Math.max(...counts.values());
    };
    const random = seeded(7);
    expect(perMs(spreadStartOffsets(3000, 1000, random))).toBeLessThanOrEqual(3);
    const independent = Array.from({ length: 3000 }, () => Math.floor(random() * 1000));
    expect(perMs(independent)).toBeGreaterThan(3);
  });

  it('stays random within the slots and inside the window', () => {
    const a = spreadStartOffsets(10, 1000, seeded(1));
    const b = spreadStartOffsets(10, 1000, seeded(2));
    expect(a).not.toEqual(b);
    for (const o of [...a, ...b]) {
      expect(o).toBeGreaterThanOrEqual(0);
      expect(o).toBeLessThanOrEqual(1000);
    }
    expect(spreadStartOffsets(3, 1000, () => 0.999999)).toEqual([333, 666, 999]);
  });

  it('starts everything at once with a window of 0, and handles an empty pool', () => {
    expect(spreadStartOffsets(3, 0, seeded(1))).toEqual([0, 0, 0]);
    expect(spreadStartOffsets(0, 1000, seeded(1))).toEqual([]);
  });
});

describe('nextDueAt', () => {
  it('is an interval after the previous due time, however late that check started', () => {
    expect(nextDueAt(1000, 1000, 1003)).toBe(2000);
    expect(nextDueAt(1000, 1000, 1900)).toBe(2000);
  });

  it('is now when that is already past (no burst to catch up)', () => {
    expect(nextDueAt(1000, 1000, 2500)).toBe(2500);
    expect(nextDueAt(1000, 1000, 2000)).toBe(2000);
  });
});
