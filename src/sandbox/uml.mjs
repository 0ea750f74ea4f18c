// user-mode-linux backend of the IPVS sandbox: Debian's linux.uml boots with
// the host filesystem as its root (hostfs) and <ctl>/init.sh as PID 1; on
// hosts with AMX it runs with the xstate-fix LD_PRELOAD library. See docs/testing.md.
import { spawn } from 'node:child_process';
import { readdirSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  SANDBOX_FAILURE,
  SandboxError,
  TAG,
  consoleTail,
  isDir,
  guestProcess,
  readText,
  say,
  signalExit,
  shq,
  superviseChild,
  timeoutSeconds,
  which,
} from './common.mjs';
import { guestCpu } from './cpu-pin.mjs';
import { SettingError } from './select.mjs';
import { xstateFixLibrary } from './xstate-fix.mjs';

export const UML_MODULES = '/usr/lib/uml/modules';

export function umlModulesPresent() {
  try {
    return readdirSync(UML_MODULES).length > 0;
  } catch {
    return false;
  }
}

function umlMemory() {
  const mem = process.env.IPVS_TS_SANDBOX_MEM || '2G';
  if (!/^\d+[KMG]?$/i.test(mem)) throw new SandboxError(`IPVS_TS_SANDBOX_MEM must look like 2G or 1536M, got "${mem}"`);
  return mem.toUpperCase();
}

function memBytes(mem) {
  const n = Number.parseInt(mem, 10);
  const unit = mem.slice(-1);
  return n * ({ K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[unit] ?? 1);
}

function umlTmpdir(ctl, mem) {
  // UML backs its memory with an unlinked file in $TMPDIR or /dev/shm; a small
  // /dev/shm (containers) would make it crash once the guest touches it.
  try {
    const st = statfsSync('/dev/shm');
    if (st.bavail * st.bsize >= memBytes(mem) + 256 * 1024 ** 2) return undefined;
  } catch {
    /* no /dev/shm */
  }
  return ctl;
}

/**
 * Boots linux.uml with <ctl>/init.sh as PID 1 (run.sh and expose are already
 * there) and runs the command.
 * @param {string} ctl control directory
 * @param {{ xstateFix: boolean, why: string, fallback?: boolean }} how  fallback: another
 *   backend follows, so a failed boot is reported in one line
 * @returns {Promise<{ code: number, kernel?: string, booted: boolean }>}
 */
export async function runUml(ctl, { xstateFix, why, fallback = false }) {
  const linuxUml = which('linux.uml');
  if (!linuxUml) throw new SandboxError('linux.uml not found (Debian package user-mode-linux)');
  const mem = umlMemory();
  const preload = xstateFix ? xstateFixLibrary() : undefined;
  let cpu;
  try {
    cpu = await guestCpu();
  } catch (e) {
    // A bad setting: reported as such, not taken as this backend failing (no fallback to another).
    throw new SettingError(e.message);
  }
  // taskset (util-linux) sets the affinity and execs linux.uml: same pid, and its helpers inherit it.
  const taskset = cpu !== undefined ? which('taskset') : undefined;
  const pinned = taskset ? `; pinned to CPU ${cpu}` : '';
  const description = `user-mode-linux${preload ? ' with the xstate-fix library' : ''}; ${why}${pinned}`;
  writeFileSync(join(ctl, 'guest.conf'), `BACKEND=uml\nDESCRIPTION=${shq(description)}\n`);

  const args = [
    `mem=${mem}`,
    'root=/dev/root',
    'rootfstype=hostfs',
    'rootflags=/',
    'rw',
    `init=${ctl}/init.sh`,
    `uml_dir=${ctl}`, // UML's umid/mconsole dir (default ~/.uml), removed with ctl
    'con=null',
    'con0=fd:0,fd:1',
    'ssl=null',
    'ssl0=null,fd:3',
    'ssl1=null,fd:4',
    'quiet',
    'loglevel=1',
    // No panic=: a guest panic makes linux.uml abort, and the missing rc file
    // is reported below. (A panic *reboot* would re-exec UML and rerun init.)
  ];
  const umlEnv = { ...process.env };
  // linux.uml itself refuses to start if $TMPDIR does not exist.
  if (umlEnv.TMPDIR && !isDir(umlEnv.TMPDIR)) delete umlEnv.TMPDIR;
  const tmp = umlTmpdir(ctl, mem);
  if (tmp) umlEnv.TMPDIR = tmp;
  if (preload) umlEnv.LD_PRELOAD = umlEnv.LD_PRELOAD ? `${preload}:${umlEnv.LD_PRELOAD}` : preload;

  const child = spawn(taskset ?? linuxUml, taskset ? ['-c', String(cpu), linuxUml, ...args] : args, {
    stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe'],
    detached: true, // own process group: UML forks helper processes
    env: umlEnv,
    cwd: '/',
  });
  // Stopped hard (its guest cannot be signalled from here); the console is kept for error reports only.
  const guest = guestProcess(child);
  const killGroup = guest.killGroup;
  child.stdio[3]?.pipe(process.stdout, { end: false });
  child.stdio[4]?.pipe(process.stderr, { end: false });

  const r = await superviseChild(child, { kill: killGroup, timeout: timeoutSeconds(), what: 'user-mode-linux' });
  // UML helper processes may linger briefly; make sure none survive.
  killGroup();

  const read = (name) => readText(join(ctl, name))?.trim();
  const kernel = read('kernel');
  const rc = read('rc');
  if (r.signalled) return { code: signalExit(r.signalled), kernel, booted: true };
  if (rc !== undefined && /^\d+$/.test(rc)) return { code: Number(rc), kernel, booted: true };

  const initError = read('init-error');
  if (fallback && !kernel) {
    const last = consoleTail(guest.log(), 1).split('\n')[0];
    const detail = `linux.uml exited with ${r.code ?? r.signal}${initError ? `; init.sh: ${initError}` : ''}; console: ${last}`;
    say(`user-mode-linux did not boot (${detail})`);
    return { code: SANDBOX_FAILURE, kernel, booted: false, detail };
  }
  const xstateHint = /set fp regs failed|ptrace set fp/.test(guest.log()) && !preload
    ? `\n${TAG} "ptrace set fp regs failed" means the host's xstate is larger than user-mode-linux's (AMX CPUs): IPVS_TS_UML_XSTATE_FIX=1 runs it with the xstate-fix library; IPVS_TS_BACKEND=qemu avoids UML.`
    : '';
  say(
    `ERROR: the user-mode-linux sandbox did not report an exit code for the command` +
      (r.timedOut ? ` (killed after ${timeoutSeconds()} s)` : ` (linux.uml exited with ${r.code ?? r.signal})`) +
      (initError ? `.\n${TAG} init.sh failed: ${initError}` : '.') +
      (kernel ? '' : `\n${TAG} The kernel never became ready.`) +
      `\n${TAG} last lines of the UML console:\n${consoleTail(guest.log()).replace(/^/gm, '    ')}` +
      xstateHint,
  );
  return { code: SANDBOX_FAILURE, kernel, booted: kernel !== undefined };
}
