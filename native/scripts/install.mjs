// npm "install" script of ipvs-ts. Shipped in the package.
// - In an installed package whose prebuilt addon loads on this machine
//   (native/prebuilds/<platform>-<arch>/), it does nothing: no compiler needed,
//   and `npm install --ignore-scripts` gives the same result.
// - Otherwise (no prebuilt for this platform, or it does not load, e.g. on a
//   glibc older than the one it was built against), and always in a git
//   checkout (so development and CI use a fresh build), it builds the addon
//   from source: node-gyp rebuild -C native (needs g++, make and python3).
// See docs/native.md.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const platformArch = `${process.platform}-${process.arch}`;
const prebuilt = join(ROOT, 'native', 'prebuilds', platformArch, 'ipvs_ts_native.node');
const log = (line) => console.error(`ipvs-ts: ${line}`);

if (!existsSync(join(ROOT, '.git'))) {
  if (existsSync(prebuilt)) {
    try {
      process.dlopen({ exports: {} }, prebuilt);
      process.exit(0);
    } catch (error) {
      log(`the prebuilt addon for ${platformArch} does not load here (${String(error.message).split('\n', 1)[0]}); building from source`);
    }
  } else {
    log(`no prebuilt addon for ${platformArch}; building from source`);
  }
}

const args = ['rebuild', '-C', 'native'];
const bundled = process.env.npm_config_node_gyp;
const result = bundled
  ? spawnSync(process.execPath, [bundled, ...args], { cwd: ROOT, stdio: 'inherit' })
  : spawnSync('node-gyp', args, { cwd: ROOT, stdio: 'inherit' });
if (result.status !== 0) {
  log(`building the native addon failed (${result.error ? result.error.message : `exit ${result.status ?? result.signal}`}); it needs g++, make and python3`);
  process.exit(1);
}
