/**
 * `runCheck`: one health check against one target, with one timeout over the
 * whole of it, and never an exception for a failing server.
 * @module
 */
import { performance } from 'node:perf_hooks';
import { DeadlineQueue, type Deadline } from './deadlines.js';
import { probeExec } from './probe-exec.js';
import { probeDns, probeIcmp, probeUdp } from './probes-datagram.js';
import { errorText, probeHttp, probeNegotiate, probeTcp, type ProbeOutcome, type ProbeRun } from './probes-stream.js';
import { DEFAULT_CHECK_TIMEOUT_MS, validateCheckSpec, type CheckResult, type CheckSpec, type CheckTarget, type FunctionCheck } from './spec.js';
import { tickNow } from './tick-clock.js';
import { startTcpConnect, type SocketPlace, type TcpConnectHandle } from './transport.js';

/**
 * Specs already validated, by identity (a checker runs the same spec object
 * every interval). A spec is plain data that is not expected to change once
 * in use; changing one in place after a check skips its re-validation.
 */
const validated = new WeakSet<CheckSpec>();

function validateOnce(spec: CheckSpec): void {
  if (validated.has(spec)) return;
  validateCheckSpec(spec);
  validated.add(spec);
}

/** The abort reason once a check has its result. */
const CHECK_OVER = Object.freeze({ name: 'CheckOver', message: 'the check is over' });

/** Options of {@link runCheck}. */
export interface RunCheckOptions {
  /** Gives up the check (it then reports `ok: false`, detail `'aborted'`). */
  signal?: AbortSignal;
  /**
   * Run the probe inside this network namespace (`/run/netns/NAME`,
   * `/proc/PID/ns/net`): sockets are created there by the native addon, exec
   * checks run under `nsenter --net=`. The calling thread never changes namespace.
   */
  netns?: string;
  /** Timeout when the spec has none (default 5 000 ms). */
  timeoutMs?: number;
}

async function probeFunction(spec: FunctionCheck, target: CheckTarget, run: ProbeRun): Promise<ProbeOutcome> {
  const v = await spec.probe(target, { signal: run.signal, ...(run.place.netns !== undefined ? { netns: run.place.netns } : {}) });
  if (typeof v === 'boolean') return { ok: v, detail: v ? 'probe: up' : 'probe: down' };
  if (v === null || typeof v !== 'object' || typeof v.ok !== 'boolean') return { ok: false, detail: 'probe resolved with neither a boolean nor { ok }' };
  return { ok: v.ok, ...(v.weight !== undefined ? { weight: v.weight } : {}), detail: v.detail ?? (v.ok ? 'probe: up' : 'probe: down') };
}

function dispatch(spec: CheckSpec, target: CheckTarget, run: ProbeRun): Promise<ProbeOutcome> {
  switch (spec.type) {
    case 'tcp':
      return probeTcp(spec, target, run);
    case 'http':
    case 'https':
      return probeHttp(spec, target, run);
    case 'negotiate':
      return probeNegotiate(spec, target, run);
    case 'udp':
      return probeUdp(spec, target, run);
    case 'dns':
      return probeDns(spec, target, run);
    case 'icmp':
      return probeIcmp(spec, target, run);
    case 'exec':
      return probeExec(spec, target, run);
    case 'none':
      return Promise.resolve({ ok: true, detail: 'no check' });
    case 'function':
      return probeFunction(spec, target, run);
  }
}

/**
 * Run one check against `target`. The timeout (`spec.timeoutMs`, else
 * `options.timeoutMs`, else 5 s) covers everything: connecting, an
 * unreachable host, a server that accepts and then never answers or trickles
 * its answer. A failing server, a throwing function probe, or an abort all
 * resolve with `ok: false` and the reason in `detail`; only a malformed spec
 * rejects (with an InvalidArgumentError, before anything is sent).
 * @example
 * ```ts
 * const r = await runCheck({ type: 'http', path: '/health', status: '200-299', timeoutMs: 500 },
 *   { address: '10.0.1.1', port: 80 });
 * if (!r.ok) console.log(`down: ${r.detail} after ${r.latencyMs} ms`);
 * ```
 */
export async function runCheck(spec: CheckSpec, target: CheckTarget, options: RunCheckOptions = {}): Promise<CheckResult> {
  validateOnce(spec);
  const timeoutMs = spec.timeoutMs ?? options.timeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS;
  if (spec.type === 'tcp') return new Promise((resolve) => startTcpCheck(spec.port ?? target.port, target.address, spec.source, timeoutMs, options, resolve));
  const started = performance.now();
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort(new Error(`timed out after ${timeoutMs} ms`));
  }, timeoutMs);
  const onOuterAbort = (): void => controller.abort(options.signal?.reason);
  if (options.signal?.aborted) controller.abort(options.signal.reason);
  else options.signal?.addEventListener('abort', onOuterAbort, { once: true });
  const place = { ...(options.netns !== undefined ? { netns: options.netns } : {}), ...(spec.source !== undefined ? { source: spec.source } : {}) };
  const run: ProbeRun = { signal: controller.signal, place };
  const effective = { address: target.address, port: spec.port ?? target.port };
  let outcome: ProbeOutcome;
  try {
    // The race makes the deadline hold even for a function probe that ignores its signal.
    const aborted = new Promise<ProbeOutcome>((resolve) => {
      const fire = (): void => resolve({ ok: false, detail: 'aborted' });
      if (controller.signal.aborted) fire();
      else controller.signal.addEventListener('abort', fire, { once: true });
    });
    outcome = await Promise.race([dispatch(spec, effective, run), aborted]);
  } catch (e) {
    outcome = { ok: false, detail: `check failed: ${errorText(e)}` };
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onOuterAbort);
    // Release whatever still listens (a function probe's own work); a reason of
    // our own spares the DOMException an argument-less abort() would build.
    if (!controller.signal.aborted) controller.abort(CHECK_OVER);
  }
  if (timedOut && !outcome.ok) outcome = { ok: false, detail: `timed out after ${timeoutMs} ms` };
  return { ...outcome, latencyMs: Math.round((performance.now() - started) * 1000) / 1000 };
}

/** The deadlines of TCP checks: one timer for all (each check's socket keeps the process alive). */
const tcpDeadlines = new DeadlineQueue({ now: tickNow, setTimeout, clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) }, true);

/** Checks in flight under a caller's signal, so that one abort listener per signal serves them all. */
const underSignal = new WeakMap<AbortSignal, Set<() => void>>();

function watchSignal(signal: AbortSignal, onAbort: () => void): () => void {
  let set = underSignal.get(signal);
  if (set === undefined) {
    const members = new Set<() => void>();
    set = members;
    underSignal.set(signal, members);
    signal.addEventListener(
      'abort',
      () => {
        underSignal.delete(signal);
        for (const f of [...members]) f();
      },
      { once: true },
    );
  }
  set.add(onAbort);
  const members = set;
  return () => void members.delete(onAbort);
}

/**
 * {@link runCheck} reporting through a callback: the health checker's path,
 * which runs thousands of checks a second. A TCP check then costs no promise
 * at all (an async function, its awaited promise and their reaction jobs were
 * most of a check's garbage); other types go through {@link runCheck}. Same
 * results, timeouts and errors; `onResult` is called once, never synchronously.
 */
export function startCheck(spec: CheckSpec, target: CheckTarget, options: RunCheckOptions, onResult: (result: CheckResult) => void): void {
  validateOnce(spec);
  if (spec.type === 'tcp') {
    startTcpCheck(spec.port ?? target.port, target.address, spec.source, spec.timeoutMs ?? options.timeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS, options, onResult);
    return;
  }
  void runCheck(spec, target, options).then(onResult);
}

/**
 * The TCP check without the general machinery: no AbortController (the
 * caller's signal, if any, is watched through one shared listener), no
 * promise race (the probe is ours and settles once), and its deadline in the
 * shared {@link DeadlineQueue} instead of a timer of its own. Same outcomes
 * and details as the general path. `onResult` is never called synchronously
 * (an immediate failure waits for a microtask), as a promise's reaction would not be.
 */
function startTcpCheck(port: number, address: string, source: string | undefined, timeoutMs: number, options: RunCheckOptions, onResult: (result: CheckResult) => void): void {
  // The clock of this turn of the loop: checks started together, and connects completed together, share one reading.
  const started = tickNow();
  const signal = options.signal;
  let settled = false;
  let connect: TcpConnectHandle | undefined;
  let unwatch: (() => void) | undefined;
  let deadline: Deadline | undefined;
  const done = (ok: boolean, detail: string): void => {
    if (settled) return;
    settled = true;
    deadline?.cancel();
    unwatch?.();
    connect?.cancel();
    onResult({ ok, detail, latencyMs: Math.round((tickNow() - started) * 1000) / 1000 });
  };
  if (signal?.aborted) {
    queueMicrotask(() => done(false, 'aborted'));
    return;
  }
  deadline = tcpDeadlines.add(timeoutMs, () => done(false, `timed out after ${timeoutMs} ms`));
  if (signal !== undefined) unwatch = watchSignal(signal, () => done(false, 'aborted'));
  const place: SocketPlace = {};
  if (options.netns !== undefined) place.netns = options.netns;
  if (source !== undefined) place.source = source;
  try {
    connect = startTcpConnect(address, port, place, (error) => done(error === undefined, error === undefined ? 'connected' : `connect ${error}`));
  } catch (e) {
    const detail = `connect ${errorText(e)}`;
    queueMicrotask(() => done(false, detail));
  }
}
