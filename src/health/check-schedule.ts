/**
 * When checks are due: the first check of each destination spread evenly over
 * the start-up window, and every later one due a whole interval after the
 * time the previous one was *due*, not after the time it started.
 *
 * Why: a timer never fires early and usually fires a millisecond or two late
 * (whole-millisecond timers, the event loop's turn, the OS's scheduler). A
 * check rescheduled from its actual start carries that delay into every later
 * check, so the schedule drifts later by the delay each interval and the
 * delays of one destination add up against its original plan. Anchored to the
 * due time, a late start is late once; the next check is due on the plan.
 * Independent uniform start offsets (Math.random() × window) put several
 * destinations in the same millisecond now and then (Poisson clumps: with
 * 1,000 destinations over 1,000 ms, some millisecond holds 5–7 of them every
 * interval); one offset per equal slot of the window, random within its slot,
 * keeps the randomness (no two checkers in lock step) without the clumps.
 * @module
 */

/**
 * A wake-up of the schedule also starts the checks due within this many
 * milliseconds after it. Anchored to due times, a thousand destinations spread
 * over a second would otherwise wake the process about once a millisecond, one
 * check each (measured: about 0.02 ms more CPU per check than schedules that
 * coalesced by drifting); a check may start this much early instead, which is
 * within the timers' own granularity.
 */
export const SCHEDULE_EARLY_MS = 2;

/**
 * The start offsets of `count` destinations over `windowMs`: destination `i`
 * gets a random point in slot `i` of `count` equal slots (stratified jitter),
 * so the offsets are spread evenly and each is still random. `random` returns
 * [0, 1) like Math.random. A window of 0 starts every check at once.
 */
export function spreadStartOffsets(count: number, windowMs: number, random: () => number): number[] {
  const offsets = new Array<number>(count);
  if (windowMs <= 0 || count === 0) return offsets.fill(0);
  const slot = windowMs / count;
  for (let i = 0; i < count; i++) offsets[i] = Math.min(windowMs, Math.floor((i + random()) * slot));
  return offsets;
}

/**
 * When the next check is due, on the clock of `now`: `delayMs` after the
 * previous check was due. If that is already past (the previous check ran
 * very late, or the process was stopped), it is due now: a missed check is
 * not made up by a burst, and the plan restarts from now.
 */
export function nextDueAt(previousDueAt: number, delayMs: number, now: number): number {
  const due = previousDueAt + delayMs;
  return due < now ? now : due;
}
