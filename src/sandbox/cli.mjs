#!/usr/bin/env node
// The IPVS sandbox: runs a command in a Linux kernel that has IPVS, streams its
// output live and exits with its exit code (125 when the sandbox itself
// fails). Plain Node ESM, node: builtins only. Installed as the
// `ipvs-ts-sandbox` bin; the project runs it as `npm run sandbox`.
//
//   ipvs-ts-sandbox [--kernel-tests] [--backend auto|netns|uml|qemu] -- command args...
//   ipvs-ts-sandbox --check
//
// Backends (see docs/testing.md):
//   netns  root on a host kernel with IPVS (e.g. a privileged container): the
//          command runs in fresh network and mount namespaces.
//   uml    a throwaway user-mode-linux kernel (Debian user-mode-linux) with
//          the host filesystem as its root; init.sh is its PID 1. On CPUs
//          with AMX it runs with the xstate-fix library (xstate-fix.c).
//   qemu   Debian's linux-image-amd64 in qemu (KVM if a probe boot works,
//          TCG otherwise), the host's root over virtio-9p, the same init.sh:
//          the fallback when user-mode-linux cannot boot.
//
// Environment: IPVS_TS_BACKEND, IPVS_TS_SANDBOX_TIMEOUT, IPVS_TS_SANDBOX_MEM,
// IPVS_TS_SANDBOX_CPUS, IPVS_TS_SANDBOX_KEEP, IPVS_TS_SKIP_KERNEL_TESTS,
// IPVS_TS_UML_XSTATE_FIX, IPVS_TS_QEMU_ACCEL, IPVS_TS_CACHE_DIR (docs/testing.md).
// The command sees IPVS_TS_SANDBOX=<backend> and IPVS_TS_SANDBOX_KERNEL=<uname -r>.
import { spawn } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  SANDBOX_FAILURE,
  SandboxError,
  cleanup,
  exposedTmpDirs,
  isRoot,
  onCleanup,
  readText,
  say,
  signalExit,
  superviseChild,
  timeoutSeconds,
  writeRunScript,
} from './common.mjs';
import { runCheck } from './check.mjs';
import { hostHasIpvs, runNetns } from './netns.mjs';
import { ensurePackages, installCommand } from './packages.mjs';
import { runQemu } from './qemu.mjs';
import { SettingError, backendPlan, requestedBackend, xstateFixDecision } from './select.mjs';
import { runUml } from './uml.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));

// ---------------------------------------------------------------- arguments

function usage() {
  return (
    'usage: ipvs-ts-sandbox [--kernel-tests] [--backend auto|netns|uml|qemu] -- command [args...]\n' +
    '       ipvs-ts-sandbox --check     (what each backend needs, and whether it works here)\n' +
    '   or: npm run sandbox -- command [args...]'
  );
}

function parseArgs(argv) {
  const opts = { kernelTests: false, check: false, backend: undefined, command: [] };
  let i = 0;
  const takeOption = () => {
    const a = argv[i];
    if (a === '--kernel-tests') {
      opts.kernelTests = true;
    } else if (a === '--check') {
      opts.check = true;
    } else if (a === '--backend') {
      opts.backend = argv[++i];
      if (opts.backend === undefined) throw new SandboxError('--backend needs a value: auto, netns, uml or qemu');
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
  // `npm run sandbox -- --backend netns -- cmd` arrives as `-- --backend netns -- cmd`,
  // and `npm run sandbox -- --check` as `-- --check`.
  const rest = argv.slice(i);
  if (/^--(backend|kernel-tests|check)/.test(rest[0] ?? '') && (rest.includes('--') || rest.every((a) => a.startsWith('--')))) {
    argv = rest;
    i = 0;
    while (i < argv.length && argv[i] !== '--') {
      if (!takeOption()) throw new SandboxError(`unknown option ${argv[i]}\n${usage()}`);
    }
    if (argv[i] === '--') i++;
    opts.command = argv.slice(i);
  } else {
    opts.command = rest;
  }
  if (opts.command.length === 0 && !opts.check) throw new SandboxError(`no command given\n${usage()}`);
  return opts;
}

// ---------------------------------------------------------------- kernel test summary

function printKernelTestSummary(backend, kernel, code, summaryFile) {
  let s;
  try {
    s = summaryFile ? JSON.parse(readFileSync(summaryFile, 'utf8')) : undefined;
  } catch {
    s = undefined;
  }
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

// ---------------------------------------------------------------- running

async function runDirect(command, env, what) {
  const child = spawn(command[0], command.slice(1), { stdio: 'inherit', env });
  const r = await superviseChild(child, { kill: (sig) => child.kill(sig), timeout: timeoutSeconds(), what });
  if (r.signalled) return signalExit(r.signalled);
  if (r.timedOut) return SANDBOX_FAILURE;
  return r.code ?? signalExit(r.signal);
}

/** A fresh control directory for a guest kernel: init.sh, run.sh, expose. */
function controlDir(backend, command, extraEnv) {
  const cwd = process.cwd();
  if (/^\/run(\/|$)/.test(cwd)) throw new SandboxError(`cannot run from ${cwd}: /run is a private tmpfs inside the sandbox`);
  // Not under /tmp: the guest mounts a tmpfs over /tmp (and /run).
  const ctl = mkdtempSync('/var/tmp/ipvs-ts-sandbox.');
  const keep = process.env.IPVS_TS_SANDBOX_KEEP === '1';
  onCleanup(() => {
    if (keep) say(`kept control directory ${ctl}`);
    else rmSync(ctl, { recursive: true, force: true });
  });
  copyFileSync(join(HERE, 'init.sh'), join(ctl, 'init.sh'));
  chmodSync(join(ctl, 'init.sh'), 0o755);
  writeFileSync(join(ctl, 'expose'), exposedTmpDirs([cwd, HERE]).map((d) => `${d}\n`).join(''));
  writeRunScript(ctl, backend, command, cwd, extraEnv);
  return ctl;
}

/**
 * Runs the command with the first backend of the plan that works. A later
 * backend is tried only if an earlier one could not start or its kernel never
 * became ready, so the command never runs twice.
 */
async function runWithPlan(plan, command, extraEnv) {
  const tried = [];
  for (const [i, backend] of plan.order.entries()) {
    const why = i === 0 ? plan.reason : `fallback: ${tried.map((t) => `${t.backend} ${t.problem.replace(/ \(.*/s, '')}`).join('; ')}`;
    try {
      if (i > 0) say(`trying the ${backend} backend (${why})`);
      ensurePackages(backend);
      if (backend === 'netns') {
        if (!isRoot()) throw new SandboxError('needs root (it creates network and mount namespaces)');
        if (!hostHasIpvs()) throw new SandboxError(`needs IPVS in the host kernel (Linux ${release()}), but /proc/net/ip_vs is missing even after modprobe ip_vs`);
        return { backend, ...(await runNetns(command, extraEnv, why)) };
      }
      if (backend === 'uml') {
        const fix = xstateFixDecision({ env: process.env, cpuinfo: readText('/proc/cpuinfo') ?? '' });
        const ctl = controlDir(backend, command, extraEnv);
        const r = await runUml(ctl, {
          xstateFix: fix.use,
          why: `${why}; ${fix.use ? 'xstate-fix: ' : ''}${fix.reason}`,
          fallback: i < plan.order.length - 1,
        });
        if (r.booted || i === plan.order.length - 1) return { backend, ...r };
        tried.push({ backend, problem: `could not boot (${r.detail})` });
        continue;
      }
      const ctl = controlDir(backend, command, extraEnv);
      const r = await runQemu(ctl, why, { fallback: i < plan.order.length - 1 });
      if (r.booted || i === plan.order.length - 1) return { backend, ...r };
      tried.push({ backend, problem: `could not boot (${r.detail})` });
    } catch (err) {
      if (!(err instanceof SandboxError)) throw err;
      tried.push({ backend, problem: err.message });
      if (plan.order.length === 1) throw new SandboxError(`the ${backend} backend cannot run here: ${err.message}`);
    }
  }
  throw new SandboxError(
    `no sandbox backend works here. Tried:\n${tried.map((t) => `  ${t.backend}: ${t.problem}`).join('\n')}\n` +
      `Install the user-mode-linux backend (${installCommand('uml')}) or the qemu one (${installCommand('qemu')}); ` +
      '`ipvs-ts-sandbox --check` shows what each backend needs.',
  );
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.check) return runCheck(join(HERE, 'cli.mjs'));
  const extraEnv = {};
  let summaryFile;
  if (opts.kernelTests) {
    // global-setup.ts writes a JSON summary here at teardown.
    const dir = mkdtempSync(join(existsSync('/var/tmp') ? '/var/tmp' : tmpdir(), 'ipvs-ts-kernel-tests.'));
    onCleanup(() => rmSync(dir, { recursive: true, force: true }));
    summaryFile = join(dir, 'summary.json');
    extraEnv.IPVS_TS_KERNEL_SUMMARY = summaryFile;
  }

  if (opts.kernelTests && process.env.IPVS_TS_SKIP_KERNEL_TESTS === '1' && !process.env.IPVS_TS_SANDBOX) {
    say('IPVS_TS_SKIP_KERNEL_TESTS=1: NOT booting a sandbox; kernel tests will be SKIPPED by request');
    const code = await runDirect(opts.command, { ...process.env, ...extraEnv }, 'the command');
    say(`kernel tests: SKIPPED by request (IPVS_TS_SKIP_KERNEL_TESTS=1) exit=${code}`);
    return code;
  }

  let requested;
  try {
    requested = requestedBackend(opts.backend, process.env);
  } catch (err) {
    throw err instanceof SettingError ? new SandboxError(err.message) : err;
  }
  const inside = process.env.IPVS_TS_SANDBOX;
  if (inside && (requested.backend === 'auto' || requested.backend === inside)) {
    // Nested call (e.g. `npm test` inside `npm run sandbox`, IPVS_TS_BACKEND
    // passed down with the environment): already there.
    const kernel = process.env.IPVS_TS_SANDBOX_KERNEL ?? release();
    say(`backend=${inside} kernel=${kernel} (already inside the sandbox)`);
    const code = await runDirect(opts.command, { ...process.env, ...extraEnv }, 'the command');
    return opts.kernelTests ? printKernelTestSummary(inside, kernel, code, summaryFile) : code;
  }

  const root = isRoot();
  const plan = backendPlan(requested.backend, {
    root,
    hostIpvs: requested.backend === 'auto' && root ? hostHasIpvs() : false,
    source: requested.source === '--backend' ? '--backend' : `IPVS_TS_BACKEND=${requested.backend}`,
  });
  const { backend, code, kernel } = await runWithPlan(plan, opts.command, extraEnv);
  return opts.kernelTests ? printKernelTestSummary(backend, kernel, code, summaryFile) : code;
}

process.on('exit', cleanup);
let exitCode;
try {
  exitCode = await main();
} catch (err) {
  if (err instanceof SandboxError || err instanceof SettingError) say(`ERROR: ${err.message}`);
  else say(`ERROR: ${err?.stack ?? err}`);
  exitCode = SANDBOX_FAILURE;
}
cleanup();
// Let piped output drain before exiting.
process.exitCode = exitCode;
