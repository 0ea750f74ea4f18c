// The TCP check's connect through the addon's connector (one epoll descriptor
// for every connect of the process), on loopback: outcomes, source binding,
// cancelling, failures at once, many connects at a time, and that nothing is
// left open or holding the event loop afterwards.
import { execFileSync } from 'node:child_process';
import { readdirSync, readlinkSync } from 'node:fs';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConnector } from '../../../src/netlink/binding.js';
import { runCheck, startCheck } from '../../../src/health/run-check.js';
import type { CheckResult } from '../../../src/health/spec.js';
import { sockaddr, startTcpConnect } from '../../../src/health/transport.js';

let server: net.Server;
let port: number;
let closedPort: number;
const accepted: string[] = [];

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

beforeAll(async () => {
  server = net.createServer((c) => {
    accepted.push(c.remoteAddress!);
    c.destroy();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  port = (server.address() as net.AddressInfo).port;
  closedPort = await freePort();
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const outcome = (address: string, p: number, source?: string): Promise<string | undefined> =>
  new Promise((resolve) => startTcpConnect(address, p, source !== undefined ? { source } : {}, resolve));

/** Descriptors open in this process (read synchronously: nothing else runs in between two reads in one test step). */
const openFds = (): number => readdirSync('/proc/self/fd').length;

describe('startTcpConnect', () => {
  it('reports a connection, a refusal, and binds the source address', async () => {
    expect(await outcome('127.0.0.1', port)).toBeUndefined();
    expect(await outcome('127.0.0.1', closedPort)).toBe('ECONNREFUSED');
    const source = `127.0.${(process.pid % 200) + 20}.7`;
    accepted.length = 0;
    expect(await outcome('127.0.0.1', port, source)).toBeUndefined();
    await expect.poll(() => accepted).toContain(source);
  });

  it('throws at once for a source address that is not local, leaving nothing open', async () => {
    const before = openFds();
    expect(() => startTcpConnect('127.0.0.1', port, { source: '192.0.2.1' }, () => expect.unreachable())).toThrow(expect.objectContaining({ code: 'EADDRNOTAVAIL', syscall: 'bind' }));
    expect(openFds()).toBe(before);
    const r = await runCheck({ type: 'tcp', source: '192.0.2.1', timeoutMs: 1000 }, { address: '127.0.0.1', port });
    expect(r).toMatchObject({ ok: false, detail: 'connect EADDRNOTAVAIL' });
  });

  it('a cancelled connect never reports', async () => {
    let called = false;
    const h = startTcpConnect('127.0.0.1', port, {}, () => (called = true));
    h.cancel();
    h.cancel(); // twice is harmless
    expect(await outcome('127.0.0.1', port)).toBeUndefined(); // the loop has gone round: a report would have come
    expect(called).toBe(false);
  });

  it('runs a thousand connects at once, each reported once, and closes every socket', async () => {
    const before = openFds();
    const results = await Promise.all(Array.from({ length: 1000 }, (_, i) => outcome('127.0.0.1', i % 2 ? port : closedPort)));
    expect(results.filter((r) => r === undefined)).toHaveLength(500);
    expect(results.filter((r) => r === 'ECONNREFUSED')).toHaveLength(500);
    // The server (in this process) accepts and closes its ends a little later.
    await expect.poll(openFds).toBe(before);
  });

  it('the TCP check over IPv6 loopback', async () => {
    const s6 = net.createServer((c) => c.destroy());
    const ok = await new Promise<boolean>((r) => s6.once('error', () => r(false)).listen(0, '::1', () => r(true)));
    if (!ok) return; // no IPv6 here
    const p6 = (s6.address() as net.AddressInfo).port;
    expect(await runCheck({ type: 'tcp' }, { address: '::1', port: p6 })).toMatchObject({ ok: true, detail: 'connected' });
    s6.close();
    expect(await runCheck({ type: 'tcp' }, { address: '::1', port: p6 })).toMatchObject({ ok: false, detail: 'connect ECONNREFUSED' });
  });
});

describe('the addon connector', () => {
  it('rejects a bad results array, id and address by name', () => {
    expect(() => createConnector(new Int32Array(1), () => {})).toThrow(/"results"/);
    const c = createConnector(new Int32Array(8), () => {})!;
    try {
      expect(() => c.connect(-1, sockaddr('127.0.0.1', port))).toThrow(/"id"/);
      expect(() => c.connect(1, new Uint8Array(1))).toThrow(/address/);
      expect(c.cancel(12345)).toBe(false);
      expect(c.pending).toBe(0);
      // cancel() closes the socket itself, at once.
      const fd = c.connect(7, sockaddr('127.0.0.1', port));
      expect(readlinkSync(`/proc/self/fd/${fd}`)).toMatch(/^socket:/);
      expect(c.pending).toBe(1);
      expect(c.cancel(fd)).toBe(true);
      expect(() => readlinkSync(`/proc/self/fd/${fd}`)).toThrow(expect.objectContaining({ code: 'ENOENT' }));
      expect(c.cancel(fd)).toBe(false);
      expect(c.pending).toBe(0);
    } finally {
      c.close();
      c.close();
    }
    expect(() => c.connect(1, sockaddr('127.0.0.1', port))).toThrow(expect.objectContaining({ code: 'EBADF' }));
  });

  it('reports in rounds no larger than its results array', async () => {
    const rounds: number[] = [];
    const seen = new Set<number>();
    const results = new Int32Array(8); // 4 pairs a round
    let resolveAll: () => void;
    const all = new Promise<void>((r) => (resolveAll = r));
    const c = createConnector(results, (count) => {
      rounds.push(count);
      for (let i = 0; i < count; i++) {
        expect(results[2 * i + 1]).toBe(0);
        seen.add(results[2 * i]!);
      }
      if (seen.size === 20) resolveAll();
    })!;
    for (let id = 0; id < 20; id++) c.connect(id, sockaddr('127.0.0.1', port));
    expect(c.pending).toBe(20);
    await all;
    expect(Math.max(...rounds)).toBeLessThanOrEqual(4);
    expect(c.pending).toBe(0);
    c.close();
  });

  it('connectors of a worker thread, with connects pending, are closed when the worker exits', () => {
    // The environment's cleanup hook closes the poll handle; the worker's exit
    // waits until its close callback has run (a hook never removed hangs it).
    const addon = fileURLToPath(new URL('../../../native/build/Release/ipvs_ts_native.node', import.meta.url));
    const address = JSON.stringify([...sockaddr('127.0.0.1', port)]);
    const worker =
      `const a = require(${JSON.stringify(addon)});` +
      `for (let i = 0; i < 3; i++) { const c = new a.Connector(new Int32Array(8), () => {}); for (let id = 0; id < 4; id++) c.connect(id, Uint8Array.from(${address})); }` +
      `require('worker_threads').parentPort.postMessage('ready');`;
    const out = execFileSync(
      process.execPath,
      [
        '-e',
        `const { Worker } = require('worker_threads');
         const count = () => require('fs').readdirSync('/proc/self/fd').length;
         const run = (src) => new Promise((resolve) => {
           const w = new Worker(src, { eval: true });
           w.on('message', () => w.terminate());
           w.on('exit', () => setTimeout(resolve, 50));
         });
         (async () => {
           await run("require('worker_threads').parentPort.postMessage('ready')"); // warm-up
           const before = count();
           for (let i = 0; i < 5; i++) await run(${JSON.stringify(worker)});
           console.log(JSON.stringify({ before, after: count() }));
         })();`,
      ],
      { timeout: 10_000, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const { before, after } = JSON.parse(out.trim()) as Record<string, number>;
    expect(after).toBe(before);
  });
});

describe('startCheck (the checker\'s path: a callback, no promise)', () => {
  const started = (spec: Parameters<typeof startCheck>[0], p: number, options: Parameters<typeof startCheck>[2] = {}) => {
    let sync = true;
    const calls: CheckResult[] = [];
    const result = new Promise<CheckResult>((resolve) =>
      startCheck(spec, { address: '127.0.0.1', port: p }, options, (r) => {
        calls.push(r);
        expect(sync).toBe(false);
        resolve(r);
      }),
    );
    sync = false;
    return { result, calls };
  };

  it('gives the same outcomes and details as runCheck, once each, never synchronously', async () => {
    const up = started({ type: 'tcp', timeoutMs: 1000 }, port);
    const refused = started({ type: 'tcp', timeoutMs: 1000 }, closedPort);
    expect(await up.result).toMatchObject({ ok: true, detail: 'connected' });
    expect(await refused.result).toMatchObject({ ok: false, detail: 'connect ECONNREFUSED' });
    expect(await runCheck({ type: 'tcp', timeoutMs: 1000 }, { address: '127.0.0.1', port: closedPort })).toMatchObject({ ok: false, detail: 'connect ECONNREFUSED' });
    await new Promise((r) => setTimeout(r, 20));
    expect(up.calls).toHaveLength(1);
    expect(refused.calls).toHaveLength(1);
  });

  it('reports an aborted signal, a connect that fails at once, and other check types, all asynchronously', async () => {
    const aborted = started({ type: 'tcp' }, port, { signal: AbortSignal.abort() });
    expect(await aborted.result).toMatchObject({ ok: false, detail: 'aborted' });
    const badSource = started({ type: 'tcp', source: '192.0.2.1', timeoutMs: 1000 }, port);
    expect((await badSource.result).ok).toBe(false);
    expect((await badSource.result).detail).toMatch(/^connect .*EADDRNOTAVAIL/);
    const none = started({ type: 'none' }, port);
    expect(await none.result).toMatchObject({ ok: true, detail: 'no check' });
  });

  it('refuses a malformed spec by throwing before anything is sent', () => {
    expect(() => startCheck({ type: 'tcp', timeoutMs: -1 }, { address: '127.0.0.1', port }, {}, () => expect.unreachable())).toThrow(/timeoutMs/);
  });
});
