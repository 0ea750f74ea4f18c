/**
 * The first-in-first-out queue a netlink connection (Conn) keeps its waiting requests in.
 * @module
 */

/**
 * First-in-first-out queue that takes from the front in O(1): a connection can
 * hold thousands of queued requests (a snapshot's destination dumps), taken
 * one at a time.
 * @internal
 */
export class Fifo<T> {
  private items: T[] = [];
  private head = 0;
  get length(): number {
    return this.items.length - this.head;
  }
  push(item: T): void {
    this.items.push(item);
  }
  /** The i-th item from the front. */
  at(i: number): T | undefined {
    return this.items[this.head + i];
  }
  /** Drop n items from the front. */
  shift(n: number): void {
    this.head += n;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
  /** Remove one item wherever it is (rare: timeouts and aborts). */
  remove(item: T): void {
    const i = this.items.indexOf(item, this.head);
    if (i >= 0) this.items.splice(i, 1);
  }
  clear(): void {
    this.items = [];
    this.head = 0;
  }
  *[Symbol.iterator](): Iterator<T> {
    for (let i = this.head; i < this.items.length; i++) yield this.items[i]!;
  }
}
