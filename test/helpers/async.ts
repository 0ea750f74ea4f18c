/** Small async helpers for tests driving the fake socket (which delivers on setImmediate). */

/** Resolve after one turn of the event loop (after pending setImmediate callbacks). */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Let `n` event-loop turns pass. */
export async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await nextTurn();
}

/** Wait until `cond()` holds, checking once per turn; throws after `maxTurns`. */
export async function until(cond: () => boolean, what = 'condition', maxTurns = 1000): Promise<void> {
  for (let i = 0; i < maxTurns; i++) {
    if (cond()) return;
    await nextTurn();
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Settle a promise into a value or an error, without an unhandled rejection. */
export async function settle<T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  try {
    return { ok: true, value: await p };
  } catch (error) {
    return { ok: false, error };
  }
}

/** Attach a no-op catch now (so an early rejection is not "unhandled") and return the same promise. */
export function quiet<T>(p: Promise<T>): Promise<T> {
  p.catch(() => {});
  return p;
}
