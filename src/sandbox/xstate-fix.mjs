// Builds (once) and finds the xstate-fix LD_PRELOAD library for
// user-mode-linux; see xstate-fix.c and docs/testing.md ("AMX hosts").
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { arch } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SandboxError, cacheDir, say, which } from './common.mjs';

const SOURCE = join(dirname(fileURLToPath(import.meta.url)), 'xstate-fix.c');

/** The C compiler used (the one that builds the native addon), if any. */
export const findCompiler = () => which(process.env.CC || 'cc') ?? which('gcc') ?? which('clang');

/** Path of the compiled library, keyed by a hash of the source; compiled at first use. */
export function xstateFixLibrary() {
  const src = readFileSync(SOURCE);
  const hash = createHash('sha256').update(src).update(arch()).digest('hex').slice(0, 16);
  const lib = join(cacheDir(), `xstate-fix-${hash}.so`);
  if (existsSync(lib)) return lib;
  const cc = findCompiler();
  if (!cc) {
    throw new SandboxError(
      'user-mode-linux needs the xstate-fix library on this CPU, and no C compiler was found to build it ' +
        '(install gcc: apt-get install -y gcc, or set CC)',
    );
  }
  const tmp = `${lib}.${process.pid}.tmp`;
  const r = spawnSync(cc, ['-shared', '-fPIC', '-O2', '-Wall', '-o', tmp, SOURCE, '-ldl'], { encoding: 'utf8' });
  if (r.status !== 0) {
    rmSync(tmp, { force: true });
    throw new SandboxError(`building ${SOURCE} with ${cc} failed:\n${(r.stderr || r.error?.message || '').trim()}`);
  }
  renameSync(tmp, lib);
  say(`built the xstate-fix library for user-mode-linux: ${lib}`);
  return lib;
}
