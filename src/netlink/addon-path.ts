/**
 * Where the native addon is looked for, in which order, and the one-line error
 * when none loads. Pure: the file-system check and the loader are passed in, so
 * the decision is unit-tested without touching a real addon. The loading itself
 * happens only in `src/netlink/binding.ts`. See docs/native.md.
 * @module
 */
import { dirname, join } from 'node:path';

/** File name of the compiled addon (binding.gyp's target_name + `.node`). */
export const ADDON_FILE = 'ipvs_ts_native.node';

/** The `platform-arch` pairs a published package carries a prebuilt addon for. */
export const PREBUILT_PLATFORMS: readonly string[] = ['linux-x64'];

/** One place the addon may be: the prebuilt shipped in the package, or a local source build. */
export interface AddonCandidate {
  readonly kind: 'prebuilt' | 'build';
  readonly path: string;
}

/** The addon that was loaded and where from. */
export interface LoadedAddon<T> {
  readonly addon: T;
  readonly candidate: AddonCandidate;
}

/**
 * The package root: the nearest directory at or above `moduleDir` that holds a
 * `package.json` (`src/netlink` in a checkout, `dist/src/netlink` once compiled
 * or installed). Falls back to two levels up when none is found.
 */
export function findPackageRoot(moduleDir: string, exists: (path: string) => boolean): string {
  let dir = moduleDir;
  for (let i = 0; i < 5; i++) {
    if (exists(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return join(moduleDir, '..', '..');
}

/**
 * The candidates in loading order: the prebuilt for `platform-arch`
 * (`native/prebuilds/<platform>-<arch>/`), then a source build
 * (`native/build/Release/`, made by `npm run build:native`).
 */
export function addonCandidates(root: string, platform: string, arch: string): AddonCandidate[] {
  return [
    { kind: 'prebuilt', path: join(root, 'native', 'prebuilds', `${platform}-${arch}`, ADDON_FILE) },
    { kind: 'build', path: join(root, 'native', 'build', 'Release', ADDON_FILE) },
  ];
}

/** First line of an error's message, for a one-line report. */
function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split('\n', 1)[0]!.trim();
}

/**
 * Load the first candidate that exists and loads. When none does, throw one
 * `Error` (code `ERR_IPVS_TS_NO_ADDON`) whose single-line message says what is
 * missing or failed and how to build the addon.
 * @param candidates from {@link addonCandidates}, in order
 * @param platformArch e.g. `linux-x64`, named in the error
 * @param root the package root, where `npm run build:native` is run
 */
export function loadFirstAddon<T>(
  candidates: readonly AddonCandidate[],
  platformArch: string,
  root: string,
  exists: (path: string) => boolean,
  load: (path: string) => T,
): LoadedAddon<T> {
  const failures = new Map<AddonCandidate, string>();
  for (const candidate of candidates) {
    if (!exists(candidate.path)) continue;
    try {
      return { addon: load(candidate.path), candidate };
    } catch (error) {
      failures.set(candidate, firstLine(error));
    }
  }
  const describe = (candidate: AddonCandidate): string => {
    const failure = failures.get(candidate);
    if (candidate.kind === 'prebuilt') {
      if (failure !== undefined) return `the prebuilt addon for ${platformArch} failed to load (${failure})`;
      return PREBUILT_PLATFORMS.includes(platformArch)
        ? `the prebuilt addon for ${platformArch} is missing (${candidate.path})`
        : `there is no prebuilt addon for ${platformArch} (prebuilt: ${PREBUILT_PLATFORMS.join(', ')})`;
    }
    if (failure !== undefined) return `the source build failed to load (${candidate.path}: ${failure})`;
    return `there is no source build (${candidate.path})`;
  };
  const error = new Error(
    `ipvs-ts: native addon not loaded: ${candidates.map(describe).join(' and ')}; ` +
      `build it with \`npm run build:native\` in ${root} (needs g++, make and python3)`,
  ) as Error & { code: string };
  error.code = 'ERR_IPVS_TS_NO_ADDON';
  throw error;
}
