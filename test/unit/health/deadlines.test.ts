// The shared deadline queue (one timer for many deadlines) and the TCP check's
// shared abort listener.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeadlineQueue } from '../../../src/health/deadlines.js';
import { runCheck } from '../../../src/health/run-check.js';
import { FakeClock } from './fakes.js';

describe('DeadlineQueue', () => {
  it('with earlyMs, one wake-up fires what is due within that window after it, and nothing later', async () => {
    const clock = new FakeClock();
    let armed = 0;
    const counting = { now: clock.now, clearTimeout: clock.clearTimeout, setTimeout: (cb: () => void, ms: number) => (armed++, clock.setTimeout(cb, ms)) };
    const q = new DeadlineQueue(counting, false, 2);
    const fired: Array<[string, number]> = [];
    for (const [name, at] of [['a', 10], ['b', 11], ['c', 12], ['d', 13]] as const) q.add(at, () => fired.push([name, clock.now()]));
    await clock.advance(10);
    expect(fired).toEqual([['a', 10], ['b', 10], ['c', 10]]);
    expect(armed).toBe(2); // the first add, then d after the sweep
    await clock.advance(3);
    expect(fired.at(-1)).toEqual(['d', 13]);
  });

  it('fires due deadlines in time order, skips cancelled ones, keeps one timer', async () => {
    const clock = new FakeClock();
    let armed = 0;
    const counting = { now: clock.now, clearTimeout: clock.clearTimeout, setTimeout: (cb: () => void, ms: number) => (armed++, clock.setTimeout(cb, ms)) };
    const q = new DeadlineQueue(counting);
    const fired: string[] = [];
    q.add(300, () => fired.push('c'));
    const b = q.add(200, () => fired.push('b')); // out of order: inserted before c
    q.add(100, () => fired.push('a'));
    const d = q.add(400, () => fired.push('d'));
    b.cancel();
    b.cancel(); // twice is harmless
    await clock.advance(150);
    expect(fired).toEqual(['a']);
    await clock.advance(200);
    expect(fired).toEqual(['a', 'c']);
    d.cancel();
    await clock.advance(1000);
    expect(fired).toEqual(['a', 'c']);
    // Three adds in decreasing order arm a timer each; then one per live head.
    expect(armed).toBeLessThanOrEqual(5);
  });

  it('drops its timer once nothing is live, so it holds nothing after the last cancel', async () => {
    const clock = new FakeClock();
    let cleared = 0;
    const q = new DeadlineQueue({ now: clock.now, setTimeout: clock.setTimeout, clearTimeout: (h) => (cleared++, clock.clearTimeout(h)) });
    const x = q.add(500, () => expect.unreachable());
    const y = q.add(600, () => expect.unreachable());
    x.cancel();
    expect(cleared).toBe(0);
    y.cancel();
    expect(cleared).toBe(1);
    const fired: number[] = [];
    q.add(50, () => fired.push(clock.now()));
    await clock.advance(1000);
    expect(fired).toEqual([50]);
  });

  it('a deadline added by a callback fires too', async () => {
    const clock = new FakeClock();
    const q = new DeadlineQueue(clock);
    const fired: number[] = [];
    q.add(10, () => {
      fired.push(clock.now());
      q.add(10, () => fired.push(clock.now()));
    });
    await clock.advance(100);
    expect(fired).toEqual([10, 20]);
  });
});

describe('TCP check under a shared signal', () => {
  const HOST = `127.0.${(process.pid % 200) + 20}.2`;
  let server: net.Server;
  let port: number;
  beforeAll(async () => {
    server = net.createServer((c) => c.destroy());
    await new Promise<void>((r) => server.listen(0, HOST, r));
    port = (server.address() as net.AddressInfo).port;
  });
  afterAll(() => server.close());

  it('one abort ends every check in flight on that signal; other checks are untouched', async () => {
    const shared = new AbortController();
    const other = new AbortController();
    const aborted = [1, 2, 3].map(() => runCheck({ type: 'tcp', timeoutMs: 2000 }, { address: HOST, port }, { signal: shared.signal }));
    const untouched = runCheck({ type: 'tcp', timeoutMs: 2000 }, { address: HOST, port }, { signal: other.signal });
    shared.abort();
    for (const r of await Promise.all(aborted)) expect(r).toMatchObject({ ok: false, detail: 'aborted' });
    expect(await untouched).toMatchObject({ ok: true, detail: 'connected' });
    expect(await runCheck({ type: 'tcp' }, { address: HOST, port }, { signal: shared.signal })).toMatchObject({ ok: false, detail: 'aborted' });
    expect(await runCheck({ type: 'tcp' }, { address: HOST, port }, { signal: other.signal })).toMatchObject({ ok: true });
  });
});
