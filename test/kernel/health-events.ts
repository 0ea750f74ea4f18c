/**
 * Awaiting a HealthChecker's events in kernel tests: the first event matching
 * a predicate from now on, with a timeout that names the predicate.
 */
import type { HealthChecker } from '../../src/health/checker.js';
import type { HealthEvent } from '../../src/health/checker-types.js';

/** Resolve with the first event matching `pred` (from now on). */
export function nextEvent<T extends HealthEvent>(c: HealthChecker, pred: (e: HealthEvent) => e is T, timeoutMs?: number): Promise<T>;
export function nextEvent(c: HealthChecker, pred: (e: HealthEvent) => boolean, timeoutMs?: number): Promise<HealthEvent>;
export function nextEvent(c: HealthChecker, pred: (e: HealthEvent) => boolean, timeoutMs = 15_000): Promise<HealthEvent> {
  const p = new Promise<HealthEvent>((resolve, reject) => {
    const timer = setTimeout(() => {
      c.off('event', on);
      reject(new Error(`no event matching ${pred.toString().slice(0, 160)} within ${timeoutMs} ms`));
    }, timeoutMs);
    const on = (e: HealthEvent): void => {
      if (!pred(e)) return;
      clearTimeout(timer);
      c.off('event', on);
      resolve(e);
    };
    c.on('event', on);
  });
  p.catch(() => {}); // a test that fails before awaiting it reports its own error, not this one
  return p;
}
