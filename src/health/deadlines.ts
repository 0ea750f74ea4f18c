/**
 * One timer for many deadlines: checks started every few microseconds each
 * need a deadline, and nearly all of them finish long before it. A queue kept
 * in deadline order, with one timer armed for its first live entry, replaces a
 * timer per check; a finished check only marks its entry cancelled, and the
 * sweep drops cancelled entries when it passes them.
 * @module
 */

/** The timer functions a {@link DeadlineQueue} needs (a checker's clock fits). */
export interface DeadlineClock {
  now(): number;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** A deadline in a {@link DeadlineQueue}; {@link Deadline.cancel} before it fires. */
export interface Deadline {
  /** Do not fire (no effect once fired or cancelled). */
  cancel(): void;
}

class Entry implements Deadline {
  cancelled = false;
  constructor(
    readonly at: number,
    readonly fire: () => void,
    private readonly queue: DeadlineQueue,
  ) {}
  cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.queue.cancelled();
  }
}

/**
 * Deadlines in time order with one timer. Adding is O(1) when deadlines come
 * in order (checks of one timeout do); an out-of-order one is inserted in place.
 */
export class DeadlineQueue {
  private entries: Entry[] = [];
  private head = 0;
  private timer: unknown;
  private armedAt = Infinity;
  /** Entries neither fired nor cancelled. */
  private live = 0;
  private sweeping = false;

  /**
   * @param clock time and timers (the process's by default)
   * @param unref the timer does not keep the process alive (for callers whose
   * own work — a socket — does)
   * @param earlyMs a wake-up also fires the entries due within this many
   * milliseconds after it (0: none early). Schedules of periodic work use it
   * to start what is due in the next few milliseconds in one turn of the loop
   * instead of a wake-up each; deadlines that must not fire early keep 0.
   */
  constructor(
    private readonly clock: DeadlineClock,
    private readonly unref = false,
    private readonly earlyMs = 0,
  ) {}

  /** Call `fire` in `ms` milliseconds unless cancelled first. */
  add(ms: number, fire: () => void): Deadline {
    const e = new Entry(this.clock.now() + ms, fire, this);
    this.live++;
    const list = this.entries;
    let i = list.length;
    while (i > this.head && list[i - 1]!.at > e.at) i--;
    if (i === list.length) list.push(e);
    else list.splice(i, 0, e);
    if (e.at < this.armedAt && !this.sweeping) this.arm(e.at);
    return e;
  }

  /** An entry was cancelled: with none left live, the timer goes (it must not hold the process). */
  cancelled(): void {
    if (--this.live > 0) return;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.armedAt = Infinity;
    this.entries = [];
    this.head = 0;
  }

  private arm(at: number): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.armedAt = at;
    // Whole milliseconds: Node keeps one timer list per distinct duration.
    const h = this.clock.setTimeout(() => this.sweep(), Math.max(1, Math.ceil(at - this.clock.now())));
    if (this.unref && typeof h === 'object' && h !== null && 'unref' in h) (h as { unref(): void }).unref();
    this.timer = h;
  }

  private sweep(): void {
    this.timer = undefined;
    this.armedAt = Infinity;
    const now = this.clock.now() + this.earlyMs;
    this.sweeping = true;
    // this.entries is read afresh each turn: a callback may add or cancel entries.
    while (this.head < this.entries.length) {
      const e = this.entries[this.head]!;
      if (!e.cancelled && e.at > now) break;
      this.head++;
      if (e.cancelled) continue;
      e.cancelled = true;
      this.live--;
      try {
        e.fire();
      } catch (error) {
        // Reported as a timer's callback would be, without stopping the others due.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
    this.sweeping = false;
    const list = this.entries;
    if (this.head >= list.length) {
      this.entries = [];
      this.head = 0;
    } else {
      if (this.head > 1024 && this.head * 2 > list.length) {
        this.entries = list.slice(this.head);
        this.head = 0;
      }
      this.arm(this.entries[this.head]!.at);
    }
  }
}
