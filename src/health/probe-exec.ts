/**
 * The exec probe: run a program with the target in its environment and read
 * its exit code as keepalived's MISC_CHECK with `misc_dynamic` does.
 * @module
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { errorText, settleOnce, type ProbeOutcome, type ProbeRun } from './probes-stream.js';
import type { CheckTarget, ExecCheck } from './spec.js';

/** Environment variables that carry the target to an exec check. */
export const EXEC_ENV = { address: 'IPVS_TS_ADDRESS', port: 'IPVS_TS_PORT' } as const;

/**
 * Map an exit code to an outcome: 0 up, 1 down, 2..255 up with weight (code − 2).
 */
export function execOutcome(code: number | null, signal: NodeJS.Signals | null, stderr: string): ProbeOutcome {
  const tail = stderr.trim().split('\n').pop()?.slice(0, 200) ?? '';
  const why = tail ? `: ${tail}` : '';
  if (code === null) return { ok: false, detail: `killed by ${signal ?? 'a signal'}${why}` };
  if (code === 0) return { ok: true, detail: 'exit 0' };
  if (code === 1) return { ok: false, detail: `exit 1${why}` };
  return { ok: true, weight: code - 2, detail: `exit ${code}: weight ${code - 2}` };
}

/**
 * Run the program; in another network namespace through `nsenter --net=<file>`
 * (util-linux), so the program's sockets live there. On abort the program's
 * whole process group is killed.
 */
export function probeExec(spec: ExecCheck, target: CheckTarget, run: ProbeRun): Promise<ProbeOutcome> {
  let child: ChildProcess | undefined;
  const kill = (): void => {
    if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }
  };
  return settleOnce(run.signal, kill, (done) => {
    const args = spec.args ?? [];
    const [file, argv] = run.place.netns !== undefined ? ['nsenter', [`--net=${run.place.netns}`, '--', spec.command, ...args]] : [spec.command, args];
    child = spawn(file, argv, {
      stdio: ['ignore', 'ignore', 'pipe'],
      detached: true,
      env: { ...process.env, [EXEC_ENV.address]: target.address, [EXEC_ENV.port]: String(target.port) },
    });
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => {
      if (stderr.length < 4096) stderr += c.toString('utf8');
    });
    child.once('error', (e) => done({ ok: false, detail: `${spec.command}: ${errorText(e)}` }));
    child.once('close', (code, signal) => done(execOutcome(code, signal, stderr)));
  });
}
