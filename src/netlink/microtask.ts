/**
 * Running a function in a microtask more cheaply than Node's
 * `queueMicrotask()`, which validates its argument and makes an
 * `AsyncResource` (an async id, a bound function, async-hook bookkeeping) for
 * every call. A connection schedules a flush per dump of a series, 1,000 for a
 * listing of 1,000 services: in a fresh process that bookkeeping, run by a
 * cold interpreter, was a visible share of a cold `ipvs-ts list`
 * (docs/benchmarks.md, "Cold command line").
 * @module
 */

const resolved = Promise.resolve();

/**
 * Run `fn` in a microtask (in order with every other microtask, as
 * `queueMicrotask` does). `fn` must not throw: an exception would surface as
 * an unhandled rejection rather than an uncaught exception.
 */
export function microtask(fn: () => void): void {
  void resolved.then(fn);
}
