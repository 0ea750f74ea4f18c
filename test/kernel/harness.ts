// Helpers for kernel tests (test/kernel/**/*.test.ts). See docs/testing.md.
//
// Every test file works in its own fresh network namespace (createNetns), so
// tests never touch the IPVS table of the sandbox's initial namespace, nor
// each other's.
import {
  execFile,
  spawn,
  spawnSync,
  type ChildProcess,
  type SpawnOptions,
} from 'node:child_process';
import { existsSync } from 'node:fs';
import { release } from 'node:os';

export interface KernelInfo {
  /** Sandbox backend: 'uml', 'qemu' or 'netns'. */
  backend: string;
  /** `uname -r` of the kernel running the tests. */
  kernel: string;
}

/**
 * Asserts that we run inside the IPVS sandbox with IPVS available; throws a
 * helpful error otherwise. test/kernel/global-setup.ts already checks this
 * once per run; call it in a file that must not run anywhere else.
 */
export function requireKernel(): KernelInfo {
  const backend = process.env.IPVS_TS_SANDBOX;
  if (!backend) {
    throw new Error('kernel tests must run inside the IPVS sandbox: use `npm run test:kernel` (see docs/testing.md)');
  }
  if (!existsSync('/proc/net/ip_vs')) {
    throw new Error(`IPVS is not available in this kernel (/proc/net/ip_vs missing, sandbox backend ${backend})`);
  }
  return { backend, kernel: process.env.IPVS_TS_SANDBOX_KERNEL || release() };
}

/** Error thrown when a command fails; carries its output. */
export class CommandError extends Error {
  constructor(
    message: string,
    readonly command: readonly string[],
    readonly status: number | null,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    super(message);
    this.name = 'CommandError';
  }
}

function describeCommand(argv: readonly string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

function failure(argv: readonly string[], where: string, status: number | null, signal: string | null, stdout: string, stderr: string, error?: Error): CommandError {
  const how = error ? error.message : signal ? `killed by ${signal}` : `exit code ${status}`;
  const detail = stderr.trim() || stdout.trim();
  return new CommandError(
    `\`${describeCommand(argv)}\`${where} failed (${how})${detail ? `:\n${detail}` : ''}`,
    argv,
    status,
    stdout,
    stderr,
  );
}

/** Runs a command synchronously; returns stdout, throws CommandError (with stderr) on failure. */
export function run(file: string, args: readonly string[] = [], where = ''): string {
  const r = spawnSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 });
  if (r.error || r.status !== 0) {
    throw failure([file, ...args], where, r.status, r.signal, r.stdout ?? '', r.stderr ?? '', r.error);
  }
  return r.stdout;
}

/** Async variant of run(). */
export function runAsync(file: string, args: readonly string[] = [], where = ''): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, [...args], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (!error) return resolve(stdout);
      const status = typeof error.code === 'number' ? error.code : null;
      reject(failure([file, ...args], where, status, error.signal ?? null, stdout, stderr, typeof error.code === 'number' || error.signal ? undefined : error));
    });
  });
}

export interface Netns {
  /** Namespace name, as used by `ip netns`. */
  readonly name: string;
  /** Bind-mounted namespace file, e.g. /run/netns/ipvs-ts-123-1 (for setns()). */
  readonly path: string;
  /** Runs `file args...` inside the namespace; returns stdout, throws with stderr on failure. */
  exec(file: string, args?: readonly string[]): string;
  /** Async variant of exec(). */
  execAsync(file: string, args?: readonly string[]): Promise<string>;
  /** Starts a long-running process inside the namespace (killed by destroy()). */
  spawn(file: string, args?: readonly string[], options?: SpawnOptions): ChildProcess;
  /** `ipvsadm args...` inside the namespace; returns stdout. */
  ipvsadm(...args: string[]): string;
  /** `ip args...` inside the namespace; returns stdout. */
  ip(...args: string[]): string;
  /** Kills processes still running in the namespace and deletes it. Idempotent. */
  destroy(): void;
}

let counter = 0;
const live = new Map<string, Netns>();

/**
 * Creates a fresh network namespace with `ip netns add` and brings its
 * loopback up. Call destroy() when done (e.g. in afterAll); namespaces still
 * alive when the test process exits are destroyed then.
 */
export function createNetns(prefix = 'ipvs-ts'): Netns {
  requireKernel();
  if (!/^[A-Za-z0-9_.-]{1,32}$/.test(prefix)) throw new Error(`invalid netns prefix "${prefix}"`);
  const name = `${prefix}-${process.pid}-${++counter}`;
  const path = `/run/netns/${name}`;
  const where = ` (in netns ${name})`;
  run('ip', ['netns', 'add', name]);
  const children = new Set<ChildProcess>();
  let destroyed = false;

  const inNs = (file: string, args: readonly string[]): string[] => ['netns', 'exec', name, file, ...args];
  const ns: Netns = {
    name,
    path,
    exec: (file, args = []) => run('ip', inNs(file, args), where),
    execAsync: (file, args = []) => runAsync('ip', inNs(file, args), where),
    spawn(file, args = [], options = {}) {
      const child = spawn('ip', inNs(file, args), options);
      children.add(child);
      child.on('exit', () => children.delete(child));
      return child;
    },
    ipvsadm: (...args) => ns.exec('ipvsadm', args),
    ip: (...args) => run('ip', ['-n', name, ...args], where),
    destroy() {
      if (destroyed) return;
      destroyed = true;
      live.delete(name);
      for (const child of children) child.kill('SIGKILL');
      const pids = spawnSync('ip', ['netns', 'pids', name], { encoding: 'utf8' }).stdout ?? '';
      for (const pid of pids.split(/\s+/).filter(Boolean)) {
        if (Number(pid) === process.pid || Number(pid) === process.ppid) continue;
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
      run('ip', ['netns', 'del', name]);
    },
  };
  live.set(name, ns);
  try {
    ns.ip('link', 'set', 'lo', 'up');
  } catch (err) {
    ns.destroy();
    throw err;
  }
  return ns;
}

process.on('exit', () => {
  for (const ns of [...live.values()]) {
    try {
      ns.destroy();
    } catch {
      /* best effort */
    }
  }
});

/**
 * Join `ns` to the bridge `br0` in `sw` by a veth pair (`name` on the bridge's
 * side, `eth0` in `ns`) and give `eth0` `address`/24.
 */
export function plugIntoBridge(sw: Netns, ns: Netns, name: string, address: string): void {
  run('ip', ['link', 'add', name, 'netns', sw.name, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns.name]);
  sw.ip('link', 'set', name, 'master', 'br0');
  sw.ip('link', 'set', name, 'up');
  ns.ip('addr', 'add', `${address}/24`, 'dev', 'eth0');
  ns.ip('link', 'set', 'eth0', 'up');
}
