/**
 * Every sandbox backend that can work on this machine boots once and runs
 * `modprobe ip_vs && ipvsadm -Ln`: the command's stdout and stderr come back
 * apart, its exit code (3) comes back, and the header line names the backend.
 * user-mode-linux also runs once with the xstate-fix library forced onto its
 * read-overlay-write path (IPVS_TS_XSTATE_FIX_ALWAYS=1), which shows the path
 * is harmless where it is not needed.
 *
 * This file runs on the host (the unit project): a sandbox cannot be booted
 * from inside one. A backend this machine cannot run is reported as "not
 * applicable" in the test name (never skipped silently); backends listed in
 * IPVS_TS_REQUIRE_BACKENDS (comma-separated; .ci/run sets uml,qemu) fail
 * instead.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hostHasIpvs } from '../../../src/sandbox/netns.mjs';
import { missingPackages } from '../../../src/sandbox/packages.mjs';
import { findCompiler } from '../../../src/sandbox/xstate-fix.mjs';

const CLI = new URL('../../../src/sandbox/cli.mjs', import.meta.url).pathname;
const BOOT_TIMEOUT_MS = 300_000;
const required = new Set((process.env.IPVS_TS_REQUIRE_BACKENDS ?? '').split(',').map((s) => s.trim()).filter(Boolean));
const root = process.getuid?.() === 0;
const nested = process.env.IPVS_TS_SANDBOX;

function unavailable(backend: string): string | undefined {
  if (nested) return `already inside the ${nested} sandbox`;
  if (!root) return 'not root';
  if (backend === 'netns') return hostHasIpvs() ? missingPackages('netns').join(', ') || undefined : 'the host kernel has no IPVS';
  const missing = missingPackages(backend === 'uml+xstate-fix' ? 'uml' : backend);
  if (missing.length) return `missing ${missing.join(', ')}`;
  if (backend === 'uml+xstate-fix' && !findCompiler()) return 'no C compiler';
  return undefined;
}

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function sandbox(backend: string, env: Record<string, string>, script: string): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...(backend === 'auto' ? [] : ['--backend', backend]), '--', 'sh', '-c', script], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, IPVS_TS_SANDBOX_TIMEOUT: String(BOOT_TIMEOUT_MS / 1000 - 20), ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const SCRIPT = 'modprobe ip_vs && ipvsadm -Ln && echo "in=$IPVS_TS_SANDBOX kernel=$IPVS_TS_SANDBOX_KERNEL" && echo on-stderr >&2; exit 3';

function expectIpvsRun(r: Result, backend: string): void {
  const detail = `exit ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
  expect(r.code, detail).toBe(3);
  expect(r.stdout).toMatch(/^IP Virtual Server version \d+\.\d+\.\d+/m);
  expect(r.stdout).toMatch(new RegExp(`^in=${backend} kernel=\\d+\\.\\d+`, 'm'));
  expect(r.stdout).not.toContain('on-stderr');
  expect(r.stderr).toMatch(/^on-stderr$/m);
  expect(r.stderr).toMatch(new RegExp(`^\\[sandbox\\] backend=${backend} kernel=\\S+ \\(.+\\)$`, 'm'));
}

const tmp = mkdtempSync('/var/tmp/ipvs-ts-backends-test.');
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe.each(['netns', 'uml', 'uml+xstate-fix', 'qemu'])('sandbox backend %s', (name) => {
  const why = unavailable(name);
  if (why && !required.has(name) && !required.has(name.split('+')[0])) {
    console.warn(`[backends.test] sandbox backend ${name}: NOT APPLICABLE here (${why})`);
    it.skip(`not applicable here: ${why}`, () => {});
    return;
  }
  if (why) {
    it(`is required (IPVS_TS_REQUIRE_BACKENDS) but cannot run: ${why}`, () => {
      expect.fail(`sandbox backend ${name} is required by IPVS_TS_REQUIRE_BACKENDS but cannot run here: ${why}`);
    });
    return;
  }

  if (name === 'uml+xstate-fix') {
    it('boots with the library on its overlay path and runs ipvsadm', { timeout: BOOT_TIMEOUT_MS }, async () => {
      const log = join(tmp, 'xstate-fix.log');
      const r = await sandbox('uml', { IPVS_TS_UML_XSTATE_FIX: '1', IPVS_TS_XSTATE_FIX_ALWAYS: '1', IPVS_TS_XSTATE_FIX_LOG: log }, SCRIPT);
      expectIpvsRun(r, 'uml');
      expect(r.stderr).toMatch(/with the xstate-fix library; .*forced by IPVS_TS_UML_XSTATE_FIX=1/);
      const lines = readFileSync(log, 'utf8');
      expect(lines).toMatch(/(overlaid|padded) an? \d+-byte NT_X86_XSTATE SET .*: ok$/m);
      const counts = /exit: (\d+) short SETs padded, (\d+) full SETs overlaid, (\d+) passed through/.exec(lines);
      expect(counts, lines).not.toBeNull();
      expect(Number(counts![1]) + Number(counts![2])).toBeGreaterThan(100);
      expect(Number(counts![3])).toBe(0);
    });
    return;
  }

  it('runs modprobe ip_vs and ipvsadm, and returns the exit code', { timeout: BOOT_TIMEOUT_MS }, async () => {
    expectIpvsRun(await sandbox(name, {}, SCRIPT), name);
  });
});

describe('sandbox failures', () => {
  // (Where root and the host kernel has IPVS, auto takes netns instead.)
  it.skipIf(nested || (root && hostHasIpvs()))('auto falls back from a user-mode-linux that cannot boot to qemu, and reports all it tried', { timeout: 60_000 }, async () => {
    // A linux.uml that dies like Debian's does on an AMX host without the
    // xstate-fix library, and a qemu kernel directory that does not exist.
    const bin = join(tmp, 'fake-bin');
    mkdirSync(bin, { recursive: true });
    writeFileSync(
      join(bin, 'linux.uml'),
      '#!/bin/sh\necho "userspace - ptrace set fp regs failed, errno = 14"\necho "Kernel panic - not syncing: Attempted to kill init! exitcode=0x0000000b"\nkill -ABRT $$\n',
    );
    chmodSync(join(bin, 'linux.uml'), 0o755);
    const r = await sandbox('auto', {
      PATH: `${bin}:${process.env.PATH}`,
      IPVS_TS_BACKEND: '',
      IPVS_TS_UML_XSTATE_FIX: '0',
      IPVS_TS_SANDBOX_NO_INSTALL: '1',
      IPVS_TS_QEMU_KERNEL_DIR: join(tmp, 'no-such-kernel'),
    }, 'echo must-not-run');
    expect(r.code, r.stderr).toBe(125);
    expect(r.stdout).not.toContain('must-not-run');
    expect(r.stderr).toMatch(/no sandbox backend works here\. Tried:\n {2}uml: .*\n {2}qemu: /);
    if (missingPackages('uml').length === 0) {
      expect(r.stderr).toMatch(/^\[sandbox\] user-mode-linux did not boot \(linux\.uml exited with SIGABRT; console: Kernel panic/m);
      expect(r.stderr).toMatch(/^\[sandbox\] trying the qemu backend \(fallback: uml could not boot\)$/m);
    }
    expect(r.stderr).toMatch(/apt-get install -y user-mode-linux kmod ipvsadm iproute2\).* apt-get install -y qemu-system-x86 busybox-static/);
    expect(r.stderr).toContain('ipvs-ts-sandbox --check');
  });

  it('exits 125 with a message naming the setting for an unknown backend', async () => {
    const r = await sandbox('vmware', {}, 'true');
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(/--backend must be one of netns, uml, qemu or auto, got "vmware"/);
  });
});
