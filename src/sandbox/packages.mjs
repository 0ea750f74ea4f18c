// What each sandbox backend needs from the host (Debian packages, root, ...)
// and installing missing packages with apt-get when we are root.
import { spawnSync } from 'node:child_process';
import { SandboxError, isRoot, say, which } from './common.mjs';
import { qemuMissingPackages } from './qemu.mjs';
import { umlModulesPresent } from './uml.mjs';

/** Debian packages each backend needs, all of them (for install hints). */
export const BACKEND_PACKAGES = {
  netns: ['util-linux', 'iproute2', 'ipvsadm'],
  uml: ['user-mode-linux', 'kmod', 'ipvsadm', 'iproute2'],
  qemu: ['qemu-system-x86', 'busybox-static', 'kmod', 'ipvsadm', 'iproute2'],
};

/** Missing Debian packages needed by a backend. */
export function missingPackages(backend) {
  const missing = new Set();
  if (backend === 'uml') {
    if (!which('linux.uml') || !umlModulesPresent()) missing.add('user-mode-linux');
    if (!which('modprobe')) missing.add('kmod');
  } else if (backend === 'qemu') {
    for (const p of qemuMissingPackages()) missing.add(p);
  } else if (!which('unshare')) {
    missing.add('util-linux');
  }
  if (!which('ip')) missing.add('iproute2');
  if (!which('ipvsadm')) missing.add('ipvsadm');
  return [...missing];
}

export const installCommand = (backend, sudo = !isRoot()) =>
  `${sudo ? 'sudo ' : ''}apt-get update && ${sudo ? 'sudo ' : ''}apt-get install -y ${BACKEND_PACKAGES[backend].join(' ')}`;

/** Installs what `backend` misses (root with apt-get), or throws saying what to install. */
export function ensurePackages(backend) {
  const missing = missingPackages(backend);
  if (missing.length === 0) return;
  const aptGet = which('apt-get');
  if (!isRoot() || !aptGet || process.env.IPVS_TS_SANDBOX_NO_INSTALL === '1' || missing.some((p) => p.startsWith('('))) {
    throw new SandboxError(
      `the ${backend} sandbox needs ${missing.join(', ')}, which ${missing.length > 1 ? 'are' : 'is'} not installed. ` +
        `Install as root: ${installCommand(backend)}`,
    );
  }
  const pkgs = [...new Set([...missing, ...BACKEND_PACKAGES[backend]])];
  say(`installing missing Debian packages (${missing.join(', ')}): apt-get update && apt-get install -y ${pkgs.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const io = { stdio: ['ignore', 2, 2], env };
  let r = spawnSync(aptGet, ['update'], io);
  if (r.status !== 0) throw new SandboxError(`apt-get update failed (exit ${r.status ?? r.signal})`);
  const noRec = backend === 'qemu' ? ['--no-install-recommends'] : [];
  r = spawnSync(aptGet, ['install', '-y', ...noRec, ...pkgs], io);
  if (r.status !== 0) throw new SandboxError(`apt-get install -y ${pkgs.join(' ')} failed (exit ${r.status ?? r.signal})`);
  const still = missingPackages(backend);
  if (still.length) throw new SandboxError(`still missing after apt-get install: ${still.join(', ')}`);
}
