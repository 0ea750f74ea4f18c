// The package as a user installs it: `npm pack` (whose prepack builds dist/src and
// the prebuilt addon), then `npm install --ignore-scripts` of the tarball into an
// empty project; importing `ipvs-ts` and `ipvs-ts/testing` there, opening a
// generic netlink socket through the prebuilt addon, and type-checking a user's
// file against the installed declarations. Runs on the host (no IPVS needed);
// test/kernel/package.kernel.test.ts opens Ipvs from the same installed copy.
import { beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT, packAndInstall, type InstalledPackage } from '../../helpers/package.js';

const PLATFORM = `${process.platform}-${process.arch}`;
const PREBUILT = `native/prebuilds/${PLATFORM}/ipvs_ts_native.node`;

// Run in the user's project: the bare specifiers resolve from its node_modules.
const USER_SCRIPT = `
import { GenlConn, Ipvs } from 'ipvs-ts';
import { fakeSocketFactory, Writer } from 'ipvs-ts/testing';
import { readFileSync } from 'node:fs';
const genl = GenlConn.open();
const ctrl = await genl.family('nlctrl');
genl.close();
const addons = readFileSync('/proc/self/maps', 'utf8').split('\\n')
  .map((line) => line.split(/\\s+/).slice(5).join(' ')).filter((path) => path.endsWith('.node'));
console.log(JSON.stringify({
  main: import.meta.resolve('ipvs-ts'),
  testing: import.meta.resolve('ipvs-ts/testing'),
  exports: [typeof Ipvs.open, typeof fakeSocketFactory, typeof Writer],
  family: ctrl.name,
  addons: [...new Set(addons)],
}));
`;

// A user's TypeScript file: must compile against the installed .d.ts, and the
// @ts-expect-error lines fail the compile if the types were missing (any).
const USER_TS = `
import { Ipvs, IpvsError, type IpvsOptions } from 'ipvs-ts';
import { fakeSocketFactory } from 'ipvs-ts/testing';
const options: IpvsOptions = { netns: '/run/netns/lb' };
export async function count(): Promise<number> {
  const ipvs = await Ipvs.open(options);
  try {
    return (await ipvs.listServices()).length;
  } finally {
    await ipvs.close();
  }
}
export const isIpvsError = (e: unknown): boolean => e instanceof IpvsError;
export const factory: typeof fakeSocketFactory = fakeSocketFactory;
// @ts-expect-error netns is a string
export const wrong: IpvsOptions = { netns: 42 };
// @ts-expect-error no such method
export const missing = (ipvs: Ipvs) => ipvs.noSuchMethod();
`;

describe('the packed package, installed with install scripts disabled', () => {
  let pkg: InstalledPackage;

  beforeAll(() => {
    pkg = packAndInstall();
  }, 180_000);

  it('the tarball holds the JavaScript, the declarations and the prebuilt addon, and no tests or local builds', () => {
    const entries = execFileSync('tar', ['-tzf', pkg.tarball], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map((e) => e.replace(/^package\//, ''));
    for (const file of [
      'package.json',
      'dist/src/index.js',
      'dist/src/index.d.ts',
      'dist/src/testing.js',
      'dist/src/testing.d.ts',
      'dist/src/netlink/binding.js',
      'dist/cli/ipvs-ts.js',
      PREBUILT,
      'native/binding.gyp',
      'native/scripts/install.mjs',
    ]) {
      expect(entries, file).toContain(file);
    }
    expect(entries.filter((e) => /\.test\.ts$|^(test\/unit|test\/kernel|examples|native\/build|dist\/examples|node_modules)\//.test(e))).toEqual([]);
    // The source-build fallback needs node-addon-api at install time.
    const manifest = JSON.parse(readFileSync(join(pkg.installed, 'package.json'), 'utf8'));
    expect(Object.keys(manifest.dependencies)).toEqual(['node-addon-api']);
  });

  it('packing leaves no prebuilt in the checkout (a checkout loads its own source build)', () => {
    expect(existsSync(join(ROOT, 'native', 'prebuilds'))).toBe(false);
  });

  it('imports ipvs-ts and ipvs-ts/testing and opens a netlink socket through the prebuilt addon', () => {
    // Nothing was built in the installed copy: the prebuilt is the only addon it can load.
    expect(existsSync(join(pkg.installed, 'native', 'build'))).toBe(false);
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', USER_SCRIPT], {
      cwd: pkg.project,
      encoding: 'utf8',
    });
    const result = JSON.parse(out);
    const base = pathToFileURL(pkg.installed).href;
    expect(result.main).toBe(`${base}/dist/src/index.js`);
    expect(result.testing).toBe(`${base}/dist/src/testing.js`);
    expect(result.exports).toEqual(['function', 'function', 'function']);
    expect(result.family).toBe('nlctrl');
    expect(result.addons).toEqual([join(pkg.installed, PREBUILT)]);
  });

  it('installs the ipvs-ts executable (the one-file bundle), which runs', () => {
    const bin = join(pkg.project, 'node_modules', '.bin', 'ipvs-ts');
    expect(realpathSync(bin)).toBe(join(pkg.installed, 'dist', 'cli', 'ipvs-ts.js'));
    const usage = execFileSync(bin, ['--help'], { cwd: pkg.project, encoding: 'utf8' });
    expect(usage).toMatch(/^Usage: ipvs-ts <command>/);
  });

  it('type-checks a user file against the installed declarations', () => {
    const file = join(pkg.project, 'user.ts');
    writeFileSync(file, USER_TS);
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const args = [tsc, '--noEmit', '--strict', '--skipLibCheck', '--target', 'es2022', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--types', 'node', file];
    let output = '';
    try {
      execFileSync(process.execPath, args, { cwd: pkg.project, encoding: 'utf8' });
    } catch (error) {
      output = String((error as { stdout?: string }).stdout ?? error);
    }
    expect(output).toBe('');
  }, 60_000);
});
