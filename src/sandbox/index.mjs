// `ipvs-ts/sandbox`: run a command in a throwaway kernel that has IPVS, from
// JavaScript. The work is done by cli.mjs (the ipvs-ts-sandbox bin) in a child
// process; see index.d.mts for the documented types and docs/testing.md.
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Path of the sandbox's command-line entry (the ipvs-ts-sandbox bin). */
export const sandboxCli = join(dirname(fileURLToPath(import.meta.url)), 'cli.mjs');

export function runInSandbox(command, options = {}) {
  if (!Array.isArray(command) || command.length === 0 || !command.every((a) => typeof a === 'string')) {
    return Promise.reject(new TypeError('runInSandbox: command must be a non-empty array of strings'));
  }
  const { backend, env, cwd, timeoutSeconds, stdio = 'inherit', kernelTests = false } = options;
  if (backend !== undefined && !['auto', 'netns', 'uml', 'qemu'].includes(backend)) {
    return Promise.reject(new TypeError(`runInSandbox: options.backend must be auto, netns, uml or qemu, got ${String(backend)}`));
  }
  if (timeoutSeconds !== undefined && !(Number.isFinite(timeoutSeconds) && timeoutSeconds > 0)) {
    return Promise.reject(new TypeError('runInSandbox: options.timeoutSeconds must be a positive number'));
  }
  const args = [sandboxCli];
  if (kernelTests) args.push('--kernel-tests');
  if (backend !== undefined) args.push('--backend', backend);
  args.push('--', ...command);
  const childEnv = { ...process.env, ...env };
  if (timeoutSeconds !== undefined) childEnv.IPVS_TS_SANDBOX_TIMEOUT = String(timeoutSeconds);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio, env: childEnv, cwd });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve(code ?? 128 + (signal === 'SIGKILL' ? 9 : signal === 'SIGINT' ? 2 : 15)));
  });
}
