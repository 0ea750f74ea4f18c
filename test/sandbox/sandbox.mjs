#!/usr/bin/env node
// Runs a command in a Linux kernel that has IPVS, streams its output live and
// exits with its exit code. Plain Node ESM, node: builtins only.
//
//   node test/sandbox/sandbox.mjs [--kernel-tests] [--backend uml|netns] -- command args...
//
// Backends (see docs/testing.md):
//   netns  the host kernel has IPVS and we are root: the command runs in a
//          fresh network namespace (unshare --net --mount), so the host's own
//          IPVS table is never touched.
//   uml    otherwise: a throwaway user-mode-linux kernel (Debian package
//          user-mode-linux) boots with the host filesystem as its root and
//          runs the command (test/sandbox/init.sh is its PID 1).
//
// Environment:
//   IPVS_TS_BACKEND            uml | netns | auto (default auto; --backend wins)
//   IPVS_TS_SANDBOX_TIMEOUT    seconds before a hung sandbox is killed (1800)
//   IPVS_TS_SANDBOX_MEM        UML memory, e.g. 2G (default 2G)
//   IPVS_TS_SANDBOX_KEEP=1     keep the UML control directory (debugging)
//   IPVS_TS_SKIP_KERNEL_TESTS=1  with --kernel-tests: boot nothing, run the
//                              command on the host (kernel tests skip loudly)
// The command sees IPVS_TS_SANDBOX=<backend> and IPVS_TS_SANDBOX_KERNEL=<uname -r>.

import { spawn, spawnSync } from 'node:child_process';
import {
  accessSync,
  chmodSync,
  constants as fsConstants,
  copyFileSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  statfsSync,
  writeFileSync,
} from 'node:fs';
import { release, tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const TAG = '[sandbox]';
const SANDBOX_FAILURE = 125; // exit code when the sandbox itself fails
const PACKAGES = ['user-mode-linux', 'kmod', 'ipvsadm', 'iproute2'];
const INSTALL_CMD = `apt-get update && apt-get install -y ${PACKAGES.join(' ')}`;
const UML_MODULES = '/usr/lib/uml/modules';

const say = (msg) => process.stderr.write(`${TAG} ${msg}\n`);

class SandboxError extends Error {}

// ---------------------------------------------------------------- arguments

function usage() {
  return (
    'usage: node test/sandbox/sandbox.mjs [--kernel-tests] [--backend uml|netns|auto] -- command [args...]\n' +
    '   or: npm run sandbox -- command [args...]'
  );
}

function parseArgs(argv) {
  const opts = { kernelTests: false, backend: undefined, command: [] };
  let i = 0;
  const takeOption = () => {
    const a = argv[i];
    if (a === '--kernel-tests') {
      opts.kernelTests = true;
    } else if (a === '--backend') {
      opts.backend = argv[++i];
      if (opts.backend === undefined) throw new SandboxError('--backend needs a value: uml, netns or auto');
    } else if (a.startsWith('--backend=')) {
      opts.backend = a.slice('--backend='.length);
    } else if (a === '-h' || a === '--help') {
      process.stdout.write(`${usage()}\n`);
      process.exit(0);
    } else {
      return false;
    }
    i++;
    return true;
  };
  while (i < argv.length && argv[i] !== '--') {
    if (!takeOption()) throw new SandboxError(`unknown option ${argv[i]}\n${usage()}`);
  }
  if (argv[i] === '--') i++;
  // `npm run sandbox -- --backend netns -- cmd` arrives as `-- --backend netns -- cmd`.
  const rest = argv.slice(i);
  if (rest.includes('--') && /^--(backend|kernel-tests)/.test(rest[0] ?? '')) {
    argv = rest;
    i = 0;
    while (i < argv.length && argv[i] !== '--') {
      if (!takeOption()) throw new SandboxError(`unknown option ${argv[i]}\n${usage()}`);
    }
    i++;
    opts.command = argv.slice(i);
  } else {
    opts.command = rest;
  }
  if (opts.command.length === 0) throw new SandboxError(`no command given\n${usage()}`);
  return opts;
}

// ---------------------------------------------------------------- host probes

const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

function which(name) {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean);
  for (const d of ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin']) {
    if (!dirs.includes(d)) dirs.push(d);
  }
  for (const d of dirs) {
    const p = join(d, name);
    try {
      accessSync(p, fsConstants.X_OK);
      return p;
    } catch {
      /* keep looking */
    }
  }
  return undefined;
}

function hostHasIpvs() {
  if (existsSync('/proc/net/ip_vs') || existsSync('/sys/module/ip_vs')) return true;
  const modprobe = which('modprobe');
  if (isRoot() && modprobe) {
    spawnSync(modprobe, ['-q', 'ip_vs'], { stdio: 'ignore' });
  }
  return existsSync('/proc/net/ip_vs') || existsSync('/sys/module/ip_vs');
}

function umlModulesPresent() {
  try {
    return readdirSync(UML_MODULES).length > 0;
  } catch {
    return false;
  }
}

/** Missing Debian packages needed by a backend. */
function missingPackages(backend) {
  const missing = new Set();
  if (backend === 'uml') {
    if (!which('linux.uml') || !umlModulesPresent()) missing.add('user-mode-linux');
    if (!which('modprobe')) missing.add('kmod');
  } else if (!which('unshare')) {
    missing.add('util-linux');
  }
  if (!which('ip')) missing.add('iproute2');
  if (!which('ipvsadm')) missing.add('ipvsadm');
  return [...missing];
}

function ensurePackages(backend) {
  const missing = missingPackages(backend);
  if (missing.length === 0) return;
  const aptGet = which('apt-get');
  if (!isRoot() || !aptGet) {
    throw new SandboxError(
      `the ${backend} sandbox needs the Debian package(s) ${missing.join(', ')}, which are not installed.\n` +
        `Install them as root, then run this again:\n` +
        `    ${isRoot() ? '' : 'sudo '}${INSTALL_CMD.replace('&& apt-get', `&& ${isRoot() ? '' : 'sudo '}apt-get`)}`,
    );
  }
  const pkgs = [...new Set([...missing, ...(backend === 'uml' ? PACKAGES : [])])];
  say(`installing missing Debian packages (${missing.join(', ')}): apt-get update && apt-get install -y ${pkgs.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const io = { stdio: ['ignore', 2, 2], env };
  let r = spawnSync(aptGet, ['update'], io);
  if (r.status !== 0) throw new SandboxError(`apt-get update failed (exit ${r.status ?? r.signal})`);
  r = spawnSync(aptGet, ['install', '-y', ...pkgs], io);
  if (r.status !== 0) throw new SandboxError(`apt-get install -y ${pkgs.join(' ')} failed (exit ${r.status ?? r.signal})`);
  const still = missingPackages(backend);
  if (still.length) throw new SandboxError(`still missing after apt-get install: ${still.join(', ')}`);
}

function chooseBackend(requested) {
  const b = (requested ?? process.env.IPVS_TS_BACKEND ?? 'auto').trim() || 'auto';
  if (b === 'uml') return 'uml';
  if (b === 'netns') {
    if (!isRoot()) throw new SandboxError('the netns backend needs root (it creates network and mount namespaces)');
    if (!hostHasIpvs()) {
      throw new SandboxError(
        `the netns backend needs IPVS in the host kernel (Linux ${release()}), but /proc/net/ip_vs is missing ` +
          'even after modprobe ip_vs. Use the uml backend (IPVS_TS_BACKEND=uml or unset).',
      );
    }
    return 'netns';
  }
  if (b !== 'auto') throw new SandboxError(`unknown backend "${b}" (expected uml, netns or auto)`);
  return isRoot() && hostHasIpvs() ? 'netns' : 'uml';
}

// ---------------------------------------------------------------- shared helpers

function timeoutSeconds() {
  const raw = process.env.IPVS_TS_SANDBOX_TIMEOUT;
  if (raw === undefined || raw === '') return 1800;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new SandboxError(`IPVS_TS_SANDBOX_TIMEOUT must be a positive number of seconds, got "${raw}"`);
  return Math.min(n, 2_000_000); // setTimeout's limit is ~24.8 days
}

/** Single-quote for /bin/sh. */
const shq = (s) => `'${String(s).replace(/'/g, `'\\''`)}'`;

const SKIP_ENV = new Set(['PWD', 'OLDPWD', 'SHLVL', '_', 'PPID', 'IFS', 'PS1', 'PS2', 'PS4', 'OPTIND', 'OPTARG']);

function readSummary(file) {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

function printKernelTestSummary(backend, kernel, code, summaryFile) {
  const s = summaryFile ? readSummary(summaryFile) : undefined;
  let line = `kernel tests: backend=${backend} kernel=${kernel ?? 'unknown'}`;
  if (s && typeof s.tests === 'number') {
    line += ` files=${s.files} tests=${s.tests} passed=${s.passed} failed=${s.failed} skipped=${s.skipped}`;
    if (s.failedFiles) line += ` failed-files=${s.failedFiles}`;
  } else if (s) {
    line += ' (test counts unavailable)';
  } else {
    line += ' (no summary from test/kernel/global-setup.ts: the test run did not finish normally)';
  }
  line += ` exit=${code}`;
  say(line);
  if (code === 0 && s && typeof s.passed === 'number' && s.passed === 0 && !s.skippedByRequest) {
    say('kernel tests: FAILED - no kernel test passed (did the filter match nothing?)');
    return 1;
  }
  return code;
}

let cleanupFns = [];
function cleanup() {
  const fns = cleanupFns;
  cleanupFns = [];
  for (const fn of fns.reverse()) {
    try {
      fn();
    } catch {
      /* best effort */
    }
  }
}

/** Wait for a child; forward termination signals to `kill`. */
function superviseChild(child, { kill, timeout, what }) {
  return new Promise((resolvePromise, reject) => {
    let timedOut = false;
    let signalled;
    const timer = setTimeout(() => {
      timedOut = true;
      say(`${what} did not finish within ${timeout} s (IPVS_TS_SANDBOX_TIMEOUT); killing it`);
      kill('SIGKILL');
    }, timeout * 1000);
    const onSignal = (sig) => {
      signalled = sig;
      say(`got ${sig}; stopping ${what}`);
      kill(sig);
    };
    const sigs = ['SIGINT', 'SIGTERM', 'SIGHUP'];
    for (const s of sigs) process.on(s, onSignal);
    child.on('error', (err) => {
      clearTimeout(timer);
      for (const s of sigs) process.off(s, onSignal);
      reject(new SandboxError(`cannot start ${what}: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      for (const s of sigs) process.off(s, onSignal);
      resolvePromise({ code, signal, timedOut, signalled });
    });
  });
}

const signalExit = (sig) => 128 + ({ SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 }[sig] ?? 1);

// ---------------------------------------------------------------- direct (nested / skipped)

async function runDirect(command, env, what) {
  const child = spawn(command[0], command.slice(1), { stdio: 'inherit', env });
  const r = await superviseChild(child, {
    kill: (sig) => child.kill(sig),
    timeout: timeoutSeconds(),
    what,
  });
  if (r.signalled) return signalExit(r.signalled);
  if (r.timedOut) return SANDBOX_FAILURE;
  return r.code ?? signalExit(r.signal);
}

// ---------------------------------------------------------------- netns backend

async function runNetns(command, extraEnv) {
  const kernel = release();
  say(`backend=netns kernel=${kernel} (host kernel, fresh network namespace)`);
  // A private mount namespace with a tmpfs on /run/netns keeps `ip netns add`
  // inside the sandbox; everything vanishes when the command exits.
  const script = [
    'set -e',
    'mkdir -p /run/netns',
    'mount -t tmpfs -o mode=0755 ipvs-ts-netns /run/netns',
    'ip link set lo up',
    '[ -e /proc/net/ip_vs ] || { echo "[sandbox] /proc/net/ip_vs missing in the new network namespace" >&2; exit 125; }',
    'set +e',
    'exec "$@"',
  ].join('\n');
  const env = { ...process.env, ...extraEnv, IPVS_TS_SANDBOX: 'netns', IPVS_TS_SANDBOX_KERNEL: kernel };
  const child = spawn(
    which('unshare') ?? 'unshare',
    ['--net', '--mount', '--propagation', 'private', '--', 'sh', '-c', script, 'ipvs-ts-sandbox', ...command],
    { stdio: 'inherit', env },
  );
  const r = await superviseChild(child, {
    kill: (sig) => child.kill(sig),
    timeout: timeoutSeconds(),
    what: 'the netns sandbox',
  });
  if (r.signalled) return { code: signalExit(r.signalled), kernel };
  if (r.timedOut) return { code: SANDBOX_FAILURE, kernel };
  return { code: r.code ?? signalExit(r.signal), kernel };
}

// ---------------------------------------------------------------- uml backend

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

/** Host directories under /tmp that the command needs (hidden by the tmpfs otherwise). */
function exposedTmpDirs(cwd) {
  const out = new Set();
  for (const p of [cwd, HERE]) {
    const m = /^\/tmp\/([^/]+)/.exec(p);
    if (m) out.add(`/tmp/${m[1]}`);
  }
  return [...out];
}

function writeRunScript(ctl, command, cwd, extraEnv) {
  const lines = ['# generated by test/sandbox/sandbox.mjs; sourced by init.sh inside user-mode-linux'];
  const env = { ...process.env, ...extraEnv };
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined || SKIP_ENV.has(k) || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) continue;
    if (k.startsWith('IPVS_TS_SANDBOX')) continue;
    lines.push(`export ${k}=${shq(v)}`);
  }
  lines.push(
    'case ":$PATH:" in *:/usr/sbin:*) ;; *) PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin" ;; esac',
    'export PATH',
    'export IPVS_TS_SANDBOX=uml',
    'export IPVS_TS_SANDBOX_KERNEL="$(uname -r)"',
    // /tmp and /run are fresh tmpfs mounts in here; recreate temp dirs the caller pointed at.
    'for d in "${TMPDIR:-}" "${TMP:-}" "${TEMP:-}" "${XDG_RUNTIME_DIR:-}"; do',
    '  case "$d" in /tmp/*|/run/*) mkdir -p "$d" ;; esac',
    'done',
    `cd ${shq(cwd)} || { echo "[sandbox] cannot cd to ${cwd.replace(/["$`\\]/g, '')} inside the sandbox" >&2; exit 125; }`,
    `exec ${command.map(shq).join(' ')}`,
    '',
  );
  writeFileSync(join(ctl, 'run.sh'), lines.join('\n'), { mode: 0o600 });
}

function isDir(p) {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
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

async function runUml(command, extraEnv) {
  const linuxUml = which('linux.uml');
  if (!linuxUml) throw new SandboxError('linux.uml not found (Debian package user-mode-linux)');
  const mem = umlMemory();
  const cwd = process.cwd();
  if (/^\/run(\/|$)/.test(cwd)) throw new SandboxError(`cannot run from ${cwd}: /run is a private tmpfs inside the sandbox`);

  // Not under /tmp: the guest mounts a tmpfs over /tmp (and /run).
  const ctl = mkdtempSync('/var/tmp/ipvs-ts-sandbox.');
  const keep = process.env.IPVS_TS_SANDBOX_KEEP === '1';
  cleanupFns.push(() => {
    if (keep) say(`kept control directory ${ctl}`);
    else rmSync(ctl, { recursive: true, force: true });
  });
  copyFileSync(join(HERE, 'init.sh'), join(ctl, 'init.sh'));
  chmodSync(join(ctl, 'init.sh'), 0o755);
  writeFileSync(join(ctl, 'expose'), exposedTmpDirs(cwd).map((d) => `${d}\n`).join(''));
  writeRunScript(ctl, command, cwd, extraEnv);

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

  const child = spawn(linuxUml, args, {
    stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe'],
    detached: true, // own process group: UML forks helper processes
    env: umlEnv,
    cwd: '/',
  });
  // UML is always stopped hard: its guest cannot be signalled from here anyway.
  const killGroup = () => {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  };
  cleanupFns.push(() => {
    if (child.exitCode === null && child.signalCode === null) killGroup();
  });

  // Boot/kernel console: kept for error reports only.
  let bootLog = '';
  const keepLog = (chunk) => {
    bootLog = (bootLog + chunk.toString('utf8')).slice(-64 * 1024);
  };
  child.stdio[1]?.on('data', keepLog);
  child.stdio[2]?.on('data', keepLog);
  child.stdio[3]?.pipe(process.stdout, { end: false });
  child.stdio[4]?.pipe(process.stderr, { end: false });

  const r = await superviseChild(child, { kill: killGroup, timeout: timeoutSeconds(), what: 'user-mode-linux' });
  // UML helper processes may linger briefly; make sure none survive.
  killGroup();

  const read = (name) => {
    try {
      return readFileSync(join(ctl, name), 'utf8').trim();
    } catch {
      return undefined;
    }
  };
  const kernel = read('kernel');
  const rc = read('rc');
  if (r.signalled) return { code: signalExit(r.signalled), kernel };
  if (rc !== undefined && /^\d+$/.test(rc)) return { code: Number(rc), kernel };

  const initError = read('init-error');
  const lines = bootLog.split(/\r?\n/).filter((l) => l.trim());
  let tail = lines.slice(-25);
  const panic = lines.findLast((l) => /Kernel panic|\[sandbox:init\]/.test(l));
  if (panic && !tail.includes(panic)) tail = [panic, '...', ...tail.slice(-15)];
  tail = tail.join('\n') || '(nothing)';
  say(
    `ERROR: the user-mode-linux sandbox did not report an exit code for the command` +
      (r.timedOut ? ` (killed after ${timeoutSeconds()} s)` : ` (linux.uml exited with ${r.code ?? r.signal})`) +
      (initError ? `.\n${TAG} init.sh failed: ${initError}` : '.') +
      (kernel ? '' : '\n[sandbox] The kernel never became ready.') +
      `\n${TAG} last lines of the UML console:\n${tail.replace(/^/gm, '    ')}`,
  );
  return { code: SANDBOX_FAILURE, kernel };
}

// ---------------------------------------------------------------- main

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const extraEnv = {};
  let summaryFile;
  if (opts.kernelTests) {
    // global-setup.ts writes a JSON summary here at teardown.
    const dir = mkdtempSync(join(existsSync('/var/tmp') ? '/var/tmp' : tmpdir(), 'ipvs-ts-kernel-tests.'));
    cleanupFns.push(() => rmSync(dir, { recursive: true, force: true }));
    summaryFile = join(dir, 'summary.json');
    extraEnv.IPVS_TS_KERNEL_SUMMARY = summaryFile;
  }

  if (opts.kernelTests && process.env.IPVS_TS_SKIP_KERNEL_TESTS === '1' && !process.env.IPVS_TS_SANDBOX) {
    say('IPVS_TS_SKIP_KERNEL_TESTS=1: NOT booting a sandbox; kernel tests will be SKIPPED by request');
    const code = await runDirect(opts.command, { ...process.env, ...extraEnv }, 'the command');
    say(`kernel tests: SKIPPED by request (IPVS_TS_SKIP_KERNEL_TESTS=1) exit=${code}`);
    return code;
  }

  const inside = process.env.IPVS_TS_SANDBOX;
  if (inside && !opts.backend && !process.env.IPVS_TS_BACKEND) {
    // Nested call (e.g. `npm test` inside `npm run sandbox`): already there.
    const kernel = process.env.IPVS_TS_SANDBOX_KERNEL ?? release();
    say(`backend=${inside} kernel=${kernel} (already inside the sandbox)`);
    const code = await runDirect(opts.command, { ...process.env, ...extraEnv }, 'the command');
    return opts.kernelTests ? printKernelTestSummary(inside, kernel, code, summaryFile) : code;
  }

  const backend = chooseBackend(opts.backend);
  ensurePackages(backend);
  const { code, kernel } =
    backend === 'netns' ? await runNetns(opts.command, extraEnv) : await runUml(opts.command, extraEnv);
  return opts.kernelTests ? printKernelTestSummary(backend, kernel, code, summaryFile) : code;
}

process.on('exit', cleanup);
let exitCode;
try {
  exitCode = await main();
} catch (err) {
  if (err instanceof SandboxError) say(`ERROR: ${err.message}`);
  else say(`ERROR: ${err?.stack ?? err}`);
  exitCode = SANDBOX_FAILURE;
}
cleanup();
// Let piped output drain before exiting.
process.exitCode = exitCode;
