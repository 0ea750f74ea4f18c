/**
 * A monotonic clock read once per turn of the event loop.
 *
 * `performance.now()` is a `clock_gettime` call. On a host that is a vDSO
 * call of a few tens of nanoseconds, but where the vDSO is missing (user-mode
 * Linux, some sandboxes) it is a real system call: 65–90 µs each in the
 * sandbox, several per check, which was most of a TCP check's CPU there. The
 * health engine only needs "now" at the granularity of one synchronous run of
 * JavaScript (a timer callback that starts a hundred checks, a batch of
 * completed connects), which is what libuv itself does for timers (one loop
 * time per iteration). So the first read in a run reads the clock and every
 * later read in the same run reuses it; a queued microtask drops the value
 * once the run is over, so the next callback reads the clock afresh.
 * @module
 */
import { performance } from 'node:perf_hooks';

let cached = -1;
const forget = (): void => {
  cached = -1;
};

/**
 * `performance.now()`, read at most once per synchronous run of JavaScript:
 * a value at most one run old (the start of the current callback's work).
 */
export function tickNow(): number {
  if (cached < 0) {
    cached = performance.now();
    queueMicrotask(forget);
  }
  return cached;
}
