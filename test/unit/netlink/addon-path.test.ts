// Where the native addon is looked for and the one-line error when none loads
// (src/netlink/addon-path.ts). The file system and the loader are fakes here;
// test/unit/package/pack.test.ts loads the real prebuilt from an installed tarball.
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { ADDON_FILE, addonCandidates, findPackageRoot, loadFirstAddon } from '../../../src/netlink/addon-path.js';

const ROOT = '/srv/app/node_modules/ipvs-ts';
const PREBUILT = join(ROOT, 'native', 'prebuilds', 'linux-x64', ADDON_FILE);
const BUILD = join(ROOT, 'native', 'build', 'Release', ADDON_FILE);

/** A loader that records what it was asked for and fails for the paths in `broken`. */
function fakeLoader(broken: Record<string, string> = {}) {
  const calls: string[] = [];
  const load = (path: string) => {
    calls.push(path);
    if (path in broken) throw new Error(broken[path]);
    return { from: path };
  };
  return { calls, load };
}

const existing = (...paths: string[]) => (path: string) => paths.includes(path);

/** Run loadFirstAddon and return the thrown error. */
function failure(run: () => unknown): Error & { code?: string } {
  try {
    run();
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('expected loadFirstAddon to throw');
}

describe('addonCandidates', () => {
  it('lists the prebuilt for the platform and architecture first, then the source build', () => {
    expect(addonCandidates(ROOT, 'linux', 'x64')).toEqual([
      { kind: 'prebuilt', path: PREBUILT },
      { kind: 'build', path: BUILD },
    ]);
    expect(addonCandidates(ROOT, 'linux', 'arm64')[0]!.path).toBe(join(ROOT, 'native', 'prebuilds', 'linux-arm64', ADDON_FILE));
  });
});

describe('findPackageRoot', () => {
  it('finds the directory holding package.json from src/netlink and from dist/src/netlink', () => {
    const exists = existing(join(ROOT, 'package.json'));
    expect(findPackageRoot(join(ROOT, 'src', 'netlink'), exists)).toBe(ROOT);
    expect(findPackageRoot(join(ROOT, 'dist', 'src', 'netlink'), exists)).toBe(ROOT);
  });

  it('falls back to two levels up when no package.json is found', () => {
    expect(findPackageRoot('/a/b/c/d/e/f/g', () => false)).toBe('/a/b/c/d/e');
  });
});

describe('loadFirstAddon', () => {
  const candidates = addonCandidates(ROOT, 'linux', 'x64');

  it('loads the prebuilt when it exists, without touching the source build', () => {
    const { calls, load } = fakeLoader();
    const loaded = loadFirstAddon(candidates, 'linux-x64', ROOT, existing(PREBUILT, BUILD), load);
    expect(loaded.candidate.kind).toBe('prebuilt');
    expect(loaded.addon).toEqual({ from: PREBUILT });
    expect(calls).toEqual([PREBUILT]);
  });

  it('uses the source build when there is no prebuilt', () => {
    const { calls, load } = fakeLoader();
    const loaded = loadFirstAddon(candidates, 'linux-x64', ROOT, existing(BUILD), load);
    expect(loaded.candidate.kind).toBe('build');
    expect(calls).toEqual([BUILD]);
  });

  it('falls back to the source build when the prebuilt fails to load (e.g. an older glibc)', () => {
    const { calls, load } = fakeLoader({ [PREBUILT]: "/lib/x86_64-linux-gnu/libc.so.6: version `GLIBC_2.32' not found" });
    const loaded = loadFirstAddon(candidates, 'linux-x64', ROOT, existing(PREBUILT, BUILD), load);
    expect(loaded.candidate.kind).toBe('build');
    expect(calls).toEqual([PREBUILT, BUILD]);
  });

  it('names an unsupported platform and the missing build, in one line with the build command', () => {
    const other = addonCandidates(ROOT, 'linux', 'arm64');
    const error = failure(() => loadFirstAddon(other, 'linux-arm64', ROOT, existing(), fakeLoader().load));
    expect(error.code).toBe('ERR_IPVS_TS_NO_ADDON');
    expect(error.message).not.toContain('\n');
    expect(error.message).toContain('there is no prebuilt addon for linux-arm64 (prebuilt: linux-x64)');
    expect(error.message).toContain(`there is no source build (${BUILD})`);
    expect(error.message).toContain(`\`npm run build:native\` in ${ROOT} (needs g++, make and python3)`);
  });

  it('names a missing prebuilt on a supported platform', () => {
    const error = failure(() => loadFirstAddon(candidates, 'linux-x64', ROOT, existing(), fakeLoader().load));
    expect(error.message).toContain(`the prebuilt addon for linux-x64 is missing (${PREBUILT})`);
    expect(error.message).toContain('npm run build:native');
  });

  it('gives the first line of each load failure', () => {
    const { calls, load } = fakeLoader({
      [PREBUILT]: "version `GLIBC_2.32' not found\n(required by ipvs_ts_native.node)",
      [BUILD]: 'invalid ELF header',
    });
    const error = failure(() => loadFirstAddon(candidates, 'linux-x64', ROOT, existing(PREBUILT, BUILD), load));
    expect(calls).toEqual([PREBUILT, BUILD]);
    expect(error.message).not.toContain('\n');
    expect(error.message).toContain("the prebuilt addon for linux-x64 failed to load (version `GLIBC_2.32' not found)");
    expect(error.message).toContain(`the source build failed to load (${BUILD}: invalid ELF header)`);
  });
});
