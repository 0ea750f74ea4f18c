// qemu backend of the IPVS sandbox: Debian's linux-image-amd64 kernel, unpacked
// into the cache (apt-get download + dpkg-deb -x, never installed as the
// host's kernel), a busybox initramfs that mounts the host's root over
// virtio-9p and switch_roots into init.sh (the same PID 1 as user-mode-linux).
// KVM when a short probe boot works, TCG otherwise. See docs/testing.md.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  accessSync,
  constants as fsConstants,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  closeSync,
  readdirSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  SandboxError,
  cacheDir,
  consoleTail,
  isRoot,
  guestProcess,
  onCleanup,
  readText,
  say,
  superviseChild,
  timeoutSeconds,
  signalExit,
  shq,
  which,
  TAG,
  SANDBOX_FAILURE,
} from './common.mjs';
import { newcArchive } from './newc.mjs';
import { qemuAccelDecision } from './select.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const KERNEL_META_PACKAGE = 'linux-image-amd64';
/** Modules the initramfs loads (with their dependencies, from modules.dep). */
const INITRAMFS_MODULES = ['virtio_pci', '9pnet_virtio', '9p', 'virtio-rng'];
const PROBE_TIMEOUT_S = 30;

/** The qemu binary, if installed. */
export const qemuBinary = () => which('qemu-system-x86_64');

/** A statically linked busybox (Debian: busybox-static), if installed. */
export function staticBusybox() {
  for (const p of ['/bin/busybox', '/usr/bin/busybox', which('busybox')]) {
    if (!p || !existsSync(p)) continue;
    try {
      const fd = openSync(p, 'r');
      const head = Buffer.alloc(8192);
      readSync(fd, head, 0, head.length, 0);
      closeSync(fd);
      if (!head.includes('ld-linux')) return p; // no program interpreter: static
    } catch {
      /* unreadable */
    }
  }
  return undefined;
}

/** Missing Debian packages for the qemu backend. */
export function qemuMissingPackages() {
  const missing = [];
  if (process.arch !== 'x64') return ['(the qemu backend supports x86-64 hosts only)'];
  if (!qemuBinary()) missing.push('qemu-system-x86');
  if (!staticBusybox()) missing.push('busybox-static');
  if (!which('depmod') || !which('modprobe')) missing.push('kmod');
  if (!which('apt-get') || !which('dpkg-deb')) missing.push('apt (apt-get, dpkg-deb)');
  return missing;
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, ...opts });
  if (r.status !== 0) {
    const detail = `${r.stderr ?? ''}${r.stdout ?? ''}`.trim().split('\n').slice(-8).join('\n');
    throw new SandboxError(`${cmd} ${args.join(' ')} failed (${r.error?.message ?? `exit ${r.status ?? r.signal}`})${detail ? `:\n${detail}` : ''}`);
  }
  return r.stdout;
}

/**
 * The guest kernel, unpacked in <cache>/qemu-kernel/<package>_<version>/.
 * Downloaded at first use; reused from the cache afterwards (offline too).
 * IPVS_TS_QEMU_KERNEL_DIR points at another such tree (boot/vmlinuz-*, lib/modules/<release>).
 * @returns {{ root: string, release: string, vmlinuz: string, modulesSrc: string }}
 */
export function ensureKernel() {
  const fromEnv = process.env.IPVS_TS_QEMU_KERNEL_DIR;
  const base = join(cacheDir(), 'qemu-kernel');
  let root = fromEnv;
  if (!root) {
    mkdirSync(base, { recursive: true });
    const done = readdirSync(base).filter((d) => existsSync(join(base, d, '.complete'))).sort();
    root = done.length ? join(base, done[done.length - 1]) : downloadKernel(base);
  }
  const boot = join(root, 'boot');
  const vmlinuz = existsSync(boot) ? readdirSync(boot).find((f) => f.startsWith('vmlinuz-')) : undefined;
  if (!vmlinuz) throw new SandboxError(`no boot/vmlinuz-* in ${root}`);
  const release = vmlinuz.slice('vmlinuz-'.length);
  const modulesSrc = join(root, 'lib', 'modules');
  if (!existsSync(join(modulesSrc, release, 'modules.dep'))) run(which('depmod') ?? 'depmod', ['-b', root, release]);
  return { root, release, vmlinuz: join(boot, vmlinuz), modulesSrc };
}

function downloadKernel(base) {
  say(`fetching the guest kernel for the qemu backend (apt-get download ${KERNEL_META_PACKAGE}; about 70 MB, once) into ${base}`);
  const work = mkdtempSync(join(base, '.download.'));
  onCleanup(() => rmSync(work, { recursive: true, force: true }));
  const apt = (pkg) => run(which('apt-get') ?? 'apt-get', ['download', pkg], { cwd: work });
  try {
    apt(KERNEL_META_PACKAGE);
  } catch (err) {
    // A fresh container often has no package lists yet.
    if (!isRoot() || process.env.IPVS_TS_SANDBOX_NO_INSTALL === '1') {
      throw new SandboxError(`${err.message}\n(is the apt package list there? run apt-get update as root)`);
    }
    say('apt-get download failed; running apt-get update and trying again');
    run(which('apt-get') ?? 'apt-get', ['update']);
    apt(KERNEL_META_PACKAGE);
  }
  const meta = readdirSync(work).find((f) => f.endsWith('.deb'));
  const depends = run('dpkg-deb', ['-f', join(work, meta), 'Depends']);
  const image = /linux-image-[0-9][^\s,(|]*/.exec(depends)?.[0];
  if (!image) throw new SandboxError(`cannot find the kernel image package in ${KERNEL_META_PACKAGE}'s Depends: ${depends.trim()}`);
  apt(image);
  const deb = readdirSync(work).find((f) => f.startsWith(`${image}_`) && f.endsWith('.deb'));
  if (!deb) throw new SandboxError(`apt-get download ${image} produced no .deb`);
  const version = run('dpkg-deb', ['-f', join(work, deb), 'Version']).trim();
  const tree = join(work, 'tree');
  run('dpkg-deb', ['-x', join(work, deb), tree]);
  const release = readdirSync(join(tree, 'lib', 'modules'))[0];
  run(which('depmod') ?? 'depmod', ['-b', tree, release]);
  writeFileSync(join(tree, '.complete'), `${image} ${version}\n`);
  const root = join(base, `${image}_${version}`);
  // Another sandbox may have unpacked the same kernel meanwhile: keep its copy.
  if (existsSync(join(root, '.complete'))) return root;
  rmSync(root, { recursive: true, force: true });
  renameSync(tree, root);
  return root;
}

/** Module files (relative to lib/modules/<release>) for `names`, dependencies first. */
export function moduleLoadOrder(modulesDep, names) {
  const deps = new Map();
  for (const line of modulesDep.split('\n')) {
    const i = line.indexOf(':');
    if (i < 0) continue;
    deps.set(line.slice(0, i), line.slice(i + 1).trim().split(/\s+/).filter(Boolean));
  }
  const byName = new Map();
  for (const file of deps.keys()) {
    byName.set(file.replace(/^.*\//, '').replace(/\.ko(\.[a-z]+)?$/, '').replace(/-/g, '_'), file);
  }
  const order = [];
  const visit = (file) => {
    if (order.includes(file)) return;
    // modules.dep lists the dependencies of a module with the deepest last.
    for (const d of [...(deps.get(file) ?? [])].reverse()) visit(d);
    order.push(file);
  };
  for (const n of names) {
    const file = byName.get(n.replace(/-/g, '_'));
    if (!file) throw new SandboxError(`module ${n} not found in the guest kernel's modules.dep`);
    visit(file);
  }
  return order;
}

/** The initramfs for `kernel`, built into the cache at first use. */
export function ensureInitramfs(kernel) {
  const busybox = staticBusybox();
  if (!busybox) throw new SandboxError('the qemu backend needs a static busybox (Debian package busybox-static)');
  const init = readFileSync(join(HERE, 'initramfs-init.sh'));
  const modDir = join(kernel.modulesSrc, kernel.release);
  const files = moduleLoadOrder(readFileSync(join(modDir, 'modules.dep'), 'utf8'), INITRAMFS_MODULES);
  const bb = readFileSync(busybox);
  const hash = createHash('sha256').update(init).update(bb).update(kernel.root).update(files.join('\n')).digest('hex').slice(0, 16);
  const out = join(kernel.root, `initramfs-${hash}.cpio`);
  if (existsSync(out)) return out;
  const entries = [
    { name: 'bin', type: 'dir' },
    { name: 'bin/busybox', type: 'file', mode: 0o755, data: bb },
    { name: 'bin/sh', type: 'symlink', target: 'busybox' },
    { name: 'dev', type: 'dir' },
    { name: 'proc', type: 'dir' },
    { name: 'sys', type: 'dir' },
    { name: 'newroot', type: 'dir' },
    { name: 'modules', type: 'dir' },
    { name: 'init', type: 'file', mode: 0o755, data: init },
    { name: 'modules/load.list', type: 'file', data: files.map((f) => f.replace(/^.*\//, '')).join('\n') + '\n' },
    ...files.map((f) => ({ name: `modules/${f.replace(/^.*\//, '')}`, type: 'file', data: readFileSync(join(modDir, f)) })),
  ];
  const tmp = `${out}.${process.pid}.tmp`;
  writeFileSync(tmp, newcArchive(entries));
  renameSync(tmp, out);
  return out;
}

/**
 * A FIFO whose read side streams here. We also hold a write end until qemu is
 * gone, so that the reader sees no end of file before qemu has opened it.
 */
function openFifo(path) {
  run(which('mkfifo') ?? 'mkfifo', ['-m', '600', path]);
  const readFd = openSync(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
  const holdFd = openSync(path, fsConstants.O_WRONLY | fsConstants.O_NONBLOCK);
  const stream = new Socket({ fd: readFd, readable: true, writable: false });
  const ended = new Promise((resolveEnd) => {
    stream.on('end', resolveEnd);
    stream.on('close', resolveEnd);
    stream.on('error', resolveEnd);
  });
  let held = true;
  const finish = () => {
    if (held) {
      held = false;
      closeSync(holdFd);
    }
    return Promise.race([ended, new Promise((r) => setTimeout(r, 2000).unref())]);
  };
  onCleanup(() => {
    if (held) closeSync(holdFd);
    held = false;
    stream.destroy();
  });
  return { path, stream, finish };
}

function kvmDeviceUsable() {
  try {
    accessSync('/dev/kvm', fsConstants.R_OK | fsConstants.W_OK);
    return true;
  } catch {
    return false;
  }
}

function bootId() {
  return (readText('/proc/sys/kernel/random/boot_id') ?? 'unknown').trim();
}

function qemuArgs({ accel, kernel, initramfs, mem, append, cpus }) {
  return [
    '-nodefaults',
    '-no-user-config',
    '-display', 'none',
    '-monitor', 'none',
    '-no-reboot',
    '-accel', accel,
    '-cpu', accel === 'kvm' ? 'host' : 'max',
    '-smp', String(cpus),
    '-m', mem,
    '-kernel', kernel.vmlinuz,
    '-initrd', initramfs,
    '-append', `console=ttyS0 quiet loglevel=1 panic=-1 ${append}`,
    '-device', 'virtio-rng-pci',
  ];
}

/**
 * Whether qemu with KVM boots here: a probe boot (bounded by a timeout, as
 * nested virtualisation may hang), remembered in the cache until the host reboots.
 * @returns {Promise<{ ok: boolean, detail: string }>}
 */
export async function probeKvm(kernel, initramfs) {
  const file = join(cacheDir(), 'kvm-probe.json');
  const cached = (() => {
    try {
      return JSON.parse(readFileSync(file, 'utf8'));
    } catch {
      return undefined;
    }
  })();
  if (cached && cached.bootId === bootId() && cached.qemu === qemuBinary()) return cached.result;
  const args = [...qemuArgs({ accel: 'kvm', kernel, initramfs, mem: '256M', append: 'ipvs_ts.probe=1', cpus: 1 }), '-serial', 'stdio'];
  const child = spawn(qemuBinary(), args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  child.stdout.on('data', (c) => (out += c));
  child.stderr.on('data', (c) => (out += c));
  const kill = () => {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  };
  onCleanup(kill);
  const r = await superviseChild(child, { kill, timeout: PROBE_TIMEOUT_S, what: 'the KVM probe boot', quiet: true });
  const ok = /ipvs-ts-probe-ok/.test(out);
  const detail = ok
    ? 'booted'
    : r.timedOut
      ? `no boot within ${PROBE_TIMEOUT_S} s`
      : (out.trim().split('\n').findLast((l) => l.trim()) ?? `exit ${r.code ?? r.signal}`).replace(/^qemu-system-x86_64: /, '').slice(0, 120);
  const result = { ok, detail };
  writeFileSync(file, `${JSON.stringify({ bootId: bootId(), qemu: qemuBinary(), result })}\n`);
  return result;
}

/** The accelerator to use, probing KVM (once per host boot) when it may work. */
export async function chooseAccel(kernel, initramfs) {
  let d = qemuAccelDecision({ env: process.env, kvmDevice: kvmDeviceUsable() });
  if (d.needsProbe) d = qemuAccelDecision({ env: process.env, kvmDevice: true, probe: await probeKvm(kernel, initramfs) });
  return d;
}

function qemuMemory() {
  const mem = process.env.IPVS_TS_SANDBOX_MEM || '2G';
  if (!/^\d+[KMG]?$/i.test(mem)) throw new SandboxError(`IPVS_TS_SANDBOX_MEM must look like 2G or 1536M, got "${mem}"`);
  return mem.toUpperCase();
}

function qemuCpus() {
  const raw = process.env.IPVS_TS_SANDBOX_CPUS || '1';
  if (!/^[1-9]\d*$/.test(raw)) throw new SandboxError(`IPVS_TS_SANDBOX_CPUS must be a positive integer, got "${raw}"`);
  return Number(raw);
}

/**
 * Boots qemu with <ctl>/init.sh as PID 1 (guest.conf, run.sh and expose are
 * already there) and runs the command.
 * @returns {Promise<{ code: number, kernel?: string, booted: boolean }>}
 */
export async function runQemu(ctl, why, { fallback = false } = {}) {
  const qemu = qemuBinary();
  if (!qemu) throw new SandboxError('qemu-system-x86_64 not found (Debian package qemu-system-x86)');
  const kernel = ensureKernel();
  const initramfs = ensureInitramfs(kernel);
  const accel = await chooseAccel(kernel, initramfs);
  writeFileSync(
    join(ctl, 'guest.conf'),
    [
      'BACKEND=qemu',
      `DESCRIPTION=${shq(`qemu ${accel.accel}, ${accel.reason}; ${why}`)}`,
      `MODULES_SRC=${shq(kernel.modulesSrc)}`,
      'OUT_TTY=/dev/ttyS1',
      'ERR_TTY=/dev/ttyS2',
      '',
    ].join('\n'),
  );
  const cache = process.env.IPVS_TS_QEMU_9P_CACHE || 'loose';
  if (!/^[a-z]+$/.test(cache)) throw new SandboxError(`IPVS_TS_QEMU_9P_CACHE must be a 9p cache mode such as none or loose, got "${cache}"`);
  // The command's stdout and stderr come back through FIFOs (node's pipes to a
  // child are sockets, which qemu's file chardev cannot open).
  const outFifo = openFifo(join(ctl, 'stdout.fifo'));
  const errFifo = openFifo(join(ctl, 'stderr.fifo'));
  const args = [
    ...qemuArgs({ accel: accel.accel, kernel, initramfs, mem: qemuMemory(), cpus: qemuCpus(), append: `ipvs_ts.ctl=${ctl} ipvs_ts.9p_cache=${cache}` }),
    // passthrough: files keep their owners and modes (needs root); none otherwise.
    '-virtfs', `local,path=/,mount_tag=hostroot,security_model=${isRoot() ? 'passthrough' : 'none'},multidevs=remap`,
    '-serial', 'stdio',
    '-serial', `file:${outFifo.path}`,
    '-serial', `file:${errFifo.path}`,
  ];
  const child = spawn(qemu, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, cwd: '/' });
  const guest = guestProcess(child, { showConsole: process.env.IPVS_TS_SANDBOX_CONSOLE === '1' });
  const killGroup = guest.killGroup;
  outFifo.stream.pipe(process.stdout, { end: false });
  errFifo.stream.pipe(process.stderr, { end: false });
  const r = await superviseChild(child, { kill: killGroup, timeout: timeoutSeconds(), what: 'qemu' });
  killGroup();
  await Promise.all([outFifo.finish(), errFifo.finish()]);

  const read = (name) => readText(join(ctl, name))?.trim();
  const kernelRelease = read('kernel');
  const rc = read('rc');
  if (r.signalled) return { code: signalExit(r.signalled), kernel: kernelRelease, booted: true };
  if (rc !== undefined && /^\d+$/.test(rc)) return { code: Number(rc), kernel: kernelRelease, booted: true };
  const initError = read('init-error');
  if (fallback && !kernelRelease) {
    const last = consoleTail(guest.log(), 1).split('\n')[0];
    const detail = `qemu ${accel.accel} exited with ${r.code ?? r.signal}${initError ? `; init: ${initError}` : ''}; console: ${last}`;
    say(`qemu did not boot (${detail})`);
    return { code: SANDBOX_FAILURE, kernel: kernelRelease, booted: false, detail };
  }
  say(
    `ERROR: the qemu sandbox (${accel.accel}) did not report an exit code for the command` +
      (r.timedOut ? ` (killed after ${timeoutSeconds()} s)` : ` (qemu exited with ${r.code ?? r.signal})`) +
      (initError ? `.\n${TAG} init.sh failed: ${initError}` : '.') +
      (kernelRelease ? '' : `\n${TAG} The kernel never became ready.`) +
      `\n${TAG} last lines of the qemu console:\n${consoleTail(guest.log()).replace(/^/gm, '    ')}`,
  );
  return { code: SANDBOX_FAILURE, kernel: kernelRelease, booted: kernelRelease !== undefined };
}
