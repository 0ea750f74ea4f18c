/**
 * `ipvs-ts sandbox [--backend B] [--check] -- command...`: the throwaway IPVS
 * kernel of the package's own tests (`ipvs-ts/sandbox`), for users' scripts.
 * The arguments go to the sandbox's own command line unchanged; its output is
 * streamed and its exit code returned (125 when the sandbox itself failed).
 * @module
 */
import { spawn } from 'node:child_process';

/** Run the sandbox's command line with `args`; resolves with its exit code. */
export async function runSandboxCommand(args: readonly string[]): Promise<number> {
  // The package refers to itself by name, so this resolves in a checkout and
  // in an installed copy alike (package.json "exports": "./sandbox").
  const { sandboxCli } = await import('ipvs-ts/sandbox');
  return new Promise<number>((resolve, reject) => {
    const child = spawn(process.execPath, [sandboxCli, ...args], { stdio: 'inherit' });
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve(code ?? (signal === 'SIGINT' ? 130 : 125)));
  });
}
