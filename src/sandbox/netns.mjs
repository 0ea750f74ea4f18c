// netns backend of the IPVS sandbox: the host kernel has IPVS and we are
// root (e.g. a privileged container): the command runs in fresh network and
// mount namespaces, so the host's own IPVS table is never touched.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { release } from 'node:os';
import { isRoot, say, signalExit, superviseChild, timeoutSeconds, which, SANDBOX_FAILURE } from './common.mjs';

/** Whether the host kernel has IPVS (after trying modprobe ip_vs when root). */
export function hostHasIpvs() {
  if (existsSync('/proc/net/ip_vs') || existsSync('/sys/module/ip_vs')) return true;
  const modprobe = which('modprobe');
  if (isRoot() && modprobe) spawnSync(modprobe, ['-q', 'ip_vs'], { stdio: 'ignore' });
  return existsSync('/proc/net/ip_vs') || existsSync('/sys/module/ip_vs');
}

/** @returns {Promise<{ code: number, kernel: string, booted: boolean }>} */
export async function runNetns(command, extraEnv, why) {
  const kernel = release();
  say(`backend=netns kernel=${kernel} (host kernel, fresh network namespace; ${why})`);
  // A private mount namespace with a tmpfs on /run/netns keeps `ip netns add`
  // inside the sandbox; everything vanishes when the command exits.
  const script = [
    'set -e',
    'mkdir -p /run/netns',
    'mount -t tmpfs -o mode=0755 ipvs-ts-netns /run/netns',
    'ip link set lo up',
    '[ -e /proc/net/ip_vs ] || { echo "[sandbox] /proc/net/ip_vs missing in the new network namespace" >&2; exit 125; }',
    'set +e',
    'exec "$@"',
  ].join('\n');
  const env = { ...process.env, ...extraEnv, IPVS_TS_SANDBOX: 'netns', IPVS_TS_SANDBOX_KERNEL: kernel };
  const child = spawn(
    which('unshare') ?? 'unshare',
    ['--net', '--mount', '--propagation', 'private', '--', 'sh', '-c', script, 'ipvs-ts-sandbox', ...command],
    { stdio: 'inherit', env },
  );
  const r = await superviseChild(child, {
    kill: (sig) => child.kill(sig),
    timeout: timeoutSeconds(),
    what: 'the netns sandbox',
  });
  if (r.signalled) return { code: signalExit(r.signalled), kernel, booted: true };
  if (r.timedOut) return { code: SANDBOX_FAILURE, kernel, booted: true };
  return { code: r.code ?? signalExit(r.signal), kernel, booted: true };
}
