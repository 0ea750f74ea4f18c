// npm "prepack" script: builds what the published package needs, in place.
//   1. dist/src: the compiled JavaScript and .d.ts (tsc -p tsconfig.json), with
//      outputs whose source no longer exists removed, so none is shipped stale,
//      and dist/cli/ipvs-ts.js, the executable bundled from it (`npm run build:cli`);
//   2. the native addon (node-gyp, incremental), copied to
//      native/prebuilds/<platform>-<arch>/ipvs_ts_native.node, checked to load.
// The "postpack" script (native/scripts/postpack.mjs) removes native/prebuilds again, so a
// checkout never keeps a prebuilt that could shadow its own fresh build.
// See docs/native.md.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const ADDON = 'ipvs_ts_native.node';
const log = (line) => console.error(`[prepack] ${line}`);

function fail(line) {
  console.error(`[prepack] ERROR: ${line}`);
  process.exit(1);
}

function run(file, args, what) {
  const result = spawnSync(file, args, { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
  if (result.error) fail(`${what}: ${result.error.message}`);
  if (result.status !== 0) fail(`${what} failed (exit ${result.status ?? result.signal})`);
}

/**
 * node-gyp as npm provides it to scripts (npm_config_node_gyp), else the copy
 * bundled with the npm installed beside this node, else from PATH.
 */
function nodeGyp(args, what) {
  const bundled = [
    process.env.npm_config_node_gyp,
    join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ].find((path) => path && existsSync(path));
  if (bundled) run(process.execPath, [bundled, ...args], what);
  else run('node-gyp', args, `${what}; node-gyp not found, run this through \`npm pack\``);
}

function walk(dir) {
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...walk(path));
    else out.push(path);
  }
  return out;
}

// 1. JavaScript and declarations.
const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
if (!existsSync(tsc)) fail('typescript is not installed: run `npm ci` before packing');
log('tsc -p tsconfig.json');
run(process.execPath, [tsc, '-p', 'tsconfig.json'], 'tsc');
const dist = join(ROOT, 'dist', 'src');
let pruned = 0;
for (const file of walk(dist)) {
  const stem = relative(dist, file).replace(/\.(d\.ts\.map|js\.map|d\.ts|js)$/, '');
  if (!existsSync(join(ROOT, 'src', `${stem}.ts`))) {
    unlinkSync(file);
    pruned++;
  }
}
if (pruned) log(`removed ${pruned} file(s) from dist/src whose source is gone`);
// The executable: one file bundled from dist/src (docs/cli.md, "One file").
log('npm run build:cli');
// npm's own script when npm runs this (npm_execpath), else npm from PATH.
const npmCli = process.env.npm_execpath;
if (npmCli && /\.[cm]?js$/.test(npmCli)) run(process.execPath, [npmCli, 'run', 'build:cli'], 'npm run build:cli');
else run('npm', ['run', 'build:cli'], 'npm run build:cli');

// 2. The addon: configure once, then an incremental build.
const build = join(ROOT, 'native', 'build');
if (!existsSync(join(build, 'Makefile')) || !existsSync(join(build, 'config.gypi'))) {
  log('node-gyp configure');
  nodeGyp(['configure', '-C', 'native'], 'node-gyp configure (needs g++, make and python3)');
}
log('node-gyp build');
nodeGyp(['build', '-C', 'native'], 'node-gyp build (needs g++, make and python3)');
const built = join(build, 'Release', ADDON);
if (!existsSync(built)) fail(`node-gyp did not produce ${relative(ROOT, built)}`);

const platformArch = `${process.platform}-${process.arch}`;
rmSync(join(ROOT, 'native', 'prebuilds'), { recursive: true, force: true });
const prebuilt = join(ROOT, 'native', 'prebuilds', platformArch, ADDON);
mkdirSync(dirname(prebuilt), { recursive: true });
copyFileSync(built, prebuilt);

// It must load and export the addon's functions.
const check = spawnSync(
  process.execPath,
  ['-e', `const m = { exports: {} }; process.dlopen(m, process.argv[1]);
if (typeof m.exports.open !== 'function' || typeof m.exports.openFile !== 'function') process.exit(3);`, prebuilt],
  { stdio: ['ignore', 'inherit', 'inherit'] },
);
if (check.status !== 0) {
  // npm runs no postpack after a failed prepack: leave no prebuilt behind.
  rmSync(join(ROOT, 'native', 'prebuilds'), { recursive: true, force: true });
  fail(`${relative(ROOT, prebuilt)} does not load (exit ${check.status ?? check.signal})`);
}

// The newest glibc symbol version the binary needs is the oldest glibc it runs on.
const versions = readFileSync(prebuilt, 'latin1').match(/GLIBC_\d+(\.\d+)+/g) ?? [];
const floor = versions
  .map((v) => v.slice(6))
  .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))
  .pop();
log(`${relative(ROOT, prebuilt)}: ${statSync(prebuilt).size} bytes, N-API 8, needs glibc >= ${floor ?? '?'}`);
