/**
 * The xstate-fix library (src/sandbox/xstate-fix.c) on this machine, without
 * booting anything: xstate-fix-probe.c traces a child and sends it a
 * PTRACE_SETREGSET of NT_X86_XSTATE shorter than the host's xstate, which is
 * what user-mode-linux does on AMX hosts. Without the library the kernel
 * refuses it with EFAULT (errno 14: UML's "ptrace set fp regs failed, errno =
 * 14"); with it, the SET succeeds, the bytes given land in the tracee's state
 * and the rest of the state stays as it was. PTRACE_PEEKDATA keeps the C
 * library's return convention through the library.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { arch } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findCompiler, xstateFixLibrary } from '../../../src/sandbox/xstate-fix.mjs';

const PROBE_SOURCE = new URL('./xstate-fix-probe.c', import.meta.url).pathname;
const cc = findCompiler();
const why = arch() !== 'x64' ? `not x86-64 (${arch()})` : !cc ? 'no C compiler' : undefined;
if (why) console.warn(`[xstate-fix.test] NOT APPLICABLE here: ${why}`);

function parse(line: string): Record<string, string> {
  return Object.fromEntries(line.trim().split(/\s+/).map((kv) => kv.split('=') as [string, string]));
}

describe.skipIf(why !== undefined)('xstate-fix library', () => {
  let dir: string;
  let probe: string;
  let lib: string;
  const savedCache = process.env.IPVS_TS_CACHE_DIR;

  beforeAll(() => {
    dir = mkdtempSync('/var/tmp/ipvs-ts-xstate-test.');
    process.env.IPVS_TS_CACHE_DIR = join(dir, 'cache');
    lib = xstateFixLibrary(); // built here, as the sandbox builds it
    probe = join(dir, 'probe');
    const r = spawnSync(cc!, ['-O2', '-Wall', '-o', probe, PROBE_SOURCE], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
  });

  afterAll(() => {
    if (savedCache === undefined) delete process.env.IPVS_TS_CACHE_DIR;
    else process.env.IPVS_TS_CACHE_DIR = savedCache;
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const runProbe = (env: Record<string, string>): Record<string, string> => {
    const r = spawnSync(probe, [], { encoding: 'utf8', env: { ...process.env, ...env } });
    expect(r.status, r.stderr).toBe(0);
    return parse(r.stdout);
  };

  it('is built once into the cache, named by a hash of its source', () => {
    expect(lib).toMatch(/\/cache\/xstate-fix-[0-9a-f]{16}\.so$/);
    expect(xstateFixLibrary()).toBe(lib);
  });

  it('without it, the kernel refuses a short xstate SET with EFAULT', () => {
    const r = runProbe({});
    expect(Number(r.full)).toBeGreaterThan(576);
    expect(r.short_set).toBe('14');
    expect(r.xmm0).toBe('lost');
    expect(r.peek).toBe('ok');
  });

  it('with it, the short SET is padded to the host size: given bytes applied, the rest kept', () => {
    const log = join(dir, 'fix.log');
    const r = runProbe({ LD_PRELOAD: lib, IPVS_TS_XSTATE_FIX_LOG: log });
    expect(r.short_set).toBe('0');
    expect(r.xmm0).toBe('ok');
    expect(r.tail).toBe('same');
    expect(r.peek).toBe('ok');
    const notes = readFileSync(log, 'utf8');
    expect(notes).toContain(`padded a 576-byte NT_X86_XSTATE SET to the host's ${r.full} bytes: ok`);
    expect(notes).toMatch(/exit: 1 short SETs padded, 0 full SETs overlaid, 0 passed through/);
  });
});
