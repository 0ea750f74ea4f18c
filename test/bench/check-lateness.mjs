// How late a HealthChecker's checks start, from its own `check` events (so the
// default runner, the production path, is what runs): a check started when
// its result came in less its latency, and its lateness is that start less
// the previous start of the same destination less the interval. Shared by
// health-probes.mjs and health-vs-keepalived.mjs.
//
// The clock is read once per turn of the event loop, as the checker does:
// performance.now() is a real system call in the sandbox (no vDSO), and this
// listener runs for every check, so reading it per check would bill the
// benchmark to the checker.

/**
 * @param {number} intervalMs the checks' interval
 * @returns {{ onCheck: (e: { destination: string, result: { ok: boolean, latencyMs: number, detail: string } }) => void,
 *   samples: number[], measuring: boolean, onMeasured?: (result: { ok: boolean, detail: string }) => void }}
 *   `onCheck` for checker.on('check'); lateness is kept in `samples` while `measuring`
 *   is true, and `onMeasured` (when set) hears each result checked while measuring
 */
export function checkLateness(intervalMs) {
  const lastStart = new Map();
  let turnNow = -1;
  const clockNow = () => {
    if (turnNow < 0) {
      turnNow = performance.now();
      queueMicrotask(() => (turnNow = -1));
    }
    return turnNow;
  };
  const recorder = {
    samples: [],
    measuring: false,
    onMeasured: undefined,
    onCheck: (e) => {
      const start = clockNow() - e.result.latencyMs;
      const prev = lastStart.get(e.destination);
      lastStart.set(e.destination, start);
      if (!recorder.measuring) return;
      if (prev !== undefined) recorder.samples.push(start - prev - intervalMs);
      recorder.onMeasured?.(e.result);
    },
  };
  return recorder;
}
