// Packs ipvs-ts as `npm pack` does for a release (running its prepack script) and
// installs the tarball, with install scripts disabled, into an empty project, the
// way a user installs it. Used by test/unit/package/pack.test.ts (on the host) and
// test/kernel/package.kernel.test.ts (in the sandbox, where IPVS exists).
//
// The project lives under node_modules/.cache/ (not /tmp, which the UML sandbox
// does not share with the host), so the kernel test reuses what the host test
// made, as long as the fingerprint of the package's inputs has not changed.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const WORK = join(ROOT, 'node_modules', '.cache', 'ipvs-ts-package');

/** A packed and installed copy of ipvs-ts. */
export interface InstalledPackage {
  /** The tarball `npm pack` made. */
  readonly tarball: string;
  /** The project ipvs-ts is installed in (has package.json and node_modules/ipvs-ts). */
  readonly project: string;
  /** `<project>/node_modules/ipvs-ts`. */
  readonly installed: string;
}

function files(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...files(path));
    else if (entry.isFile()) out.push(path);
  }
  return out;
}

/** Hash of everything the tarball is made from (sources, build scripts, package.json). */
export function packageFingerprint(): string {
  const hash = createHash('sha256');
  const inputs = [
    join(ROOT, 'package.json'),
    join(ROOT, 'tsconfig.json'),
    join(ROOT, 'native', 'binding.gyp'),
    ...files(join(ROOT, 'native', 'scripts')),
    ...files(join(ROOT, 'src')),
    ...files(join(ROOT, 'native', 'src')),
  ].sort();
  for (const file of inputs) hash.update(relative(ROOT, file)).update('\0').update(readFileSync(file)).update('\0');
  return hash.digest('hex');
}

/**
 * The environment for npm: without the npm_* variables of an enclosing `npm test`
 * (npm_config_ignore_scripts would skip prepack, npm_config_local_prefix and the
 * like point at this repository rather than the project being installed into).
 */
function npmEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name)));
}

/** Runs npm; on failure throws with its whole output. */
function npm(args: string[], cwd: string): string {
  try {
    return execFileSync('npm', args, { cwd, env: npmEnv(), encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(`npm ${args.join(' ')} (in ${cwd}) failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
  }
}

/**
 * `npm pack` the repository (prepack builds dist/src and the prebuilt addon), then
 * `npm install --ignore-scripts --offline` the tarball into a new empty project.
 * node-addon-api, the package's one dependency, is installed from the copy in
 * this repository's node_modules, so no network is needed.
 */
export function packAndInstall(): InstalledPackage {
  const fingerprint = packageFingerprint();
  rmSync(WORK, { recursive: true, force: true });
  const packs = join(WORK, 'tarballs');
  const project = join(WORK, 'project');
  mkdirSync(packs, { recursive: true });
  mkdirSync(project, { recursive: true });

  npm(['pack', '--pack-destination', packs], ROOT);
  npm(['pack', '--ignore-scripts', '--pack-destination', packs, join(ROOT, 'node_modules', 'node-addon-api')], ROOT);
  const tarballs = readdirSync(packs);
  const tarball = tarballs.find((f) => /^ipvs-ts-.*\.tgz$/.test(f));
  const addonApi = tarballs.find((f) => /^node-addon-api-.*\.tgz$/.test(f));
  if (!tarball || !addonApi) throw new Error(`npm pack made ${tarballs.join(', ') || 'nothing'} in ${packs}`);

  writeFileSync(join(project, 'package.json'), `${JSON.stringify({ name: 'ipvs-ts-user', private: true, type: 'module' }, null, 2)}\n`);
  npm(
    ['install', '--ignore-scripts', '--offline', '--no-audit', '--no-fund', join(packs, tarball), join(packs, addonApi)],
    project,
  );
  writeFileSync(join(WORK, 'fingerprint'), fingerprint);
  return { tarball: join(packs, tarball), project, installed: join(project, 'node_modules', 'ipvs-ts') };
}

/**
 * The installed copy made by {@link packAndInstall}, reused when it was made from
 * the present sources (the host test makes it before the kernel tests run);
 * packed and installed again otherwise.
 */
export function installedPackage(): InstalledPackage & { reused: boolean } {
  const project = join(WORK, 'project');
  const installed = join(project, 'node_modules', 'ipvs-ts');
  const stamp = join(WORK, 'fingerprint');
  const tarball = existsSync(join(WORK, 'tarballs'))
    ? readdirSync(join(WORK, 'tarballs')).find((f) => /^ipvs-ts-.*\.tgz$/.test(f))
    : undefined;
  if (tarball && existsSync(installed) && existsSync(stamp) && readFileSync(stamp, 'utf8') === packageFingerprint()) {
    return { tarball: join(WORK, 'tarballs', tarball), project, installed, reused: true };
  }
  return { ...packAndInstall(), reused: false };
}
