/**
 * The checker's events as async iterators: every open iterator gets each
 * event in order; ending the stream (the checker stops) ends them all.
 * @module
 */
import type { HealthEvent } from './checker-types.js';

/** The open iterators of one checker. */
export class EventStreams {
  private readonly sinks = new Set<{ push(e: HealthEvent | null): void }>();

  /** Someone iterates. */
  get size(): number {
    return this.sinks.size;
  }

  /** Hand `e` to every open iterator. */
  push(e: HealthEvent): void {
    for (const it of this.sinks) it.push(e);
  }

  /** End every open iterator (after the events already queued). */
  end(): void {
    for (const it of this.sinks) it.push(null);
    this.sinks.clear();
  }

  /** A new iterator over the events from now on. */
  open(): AsyncIterableIterator<HealthEvent> {
    const queue: Array<HealthEvent | null> = [];
    let wake: (() => void) | undefined;
    const sink = {
      push: (e: HealthEvent | null) => {
        queue.push(e);
        wake?.();
      },
    };
    this.sinks.add(sink);
    const sinks = this.sinks;
    const it: AsyncIterableIterator<HealthEvent> = {
      async next(): Promise<IteratorResult<HealthEvent>> {
        while (queue.length === 0) await new Promise<void>((r) => (wake = r));
        wake = undefined;
        const e = queue.shift()!;
        if (e === null) {
          sinks.delete(sink);
          return { done: true, value: undefined };
        }
        return { done: false, value: e };
      },
      async return(): Promise<IteratorResult<HealthEvent>> {
        sinks.delete(sink);
        return { done: true, value: undefined };
      },
      [Symbol.asyncIterator]() {
        return it;
      },
    };
    return it;
  }
}
