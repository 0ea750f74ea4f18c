/**
 * `ipvs-ts/sandbox`: run a command in a throwaway Linux kernel that has IPVS
 * (user-mode-linux, qemu, or a fresh network namespace of a host kernel with
 * IPVS), with its output streamed and its exit code returned. See
 * docs/testing.md in the package.
 */

/** Options of {@link runInSandbox}. */
export interface SandboxOptions {
  /** Backend: `auto` (default, or `IPVS_TS_BACKEND`), `netns`, `uml` or `qemu`. */
  backend?: 'auto' | 'netns' | 'uml' | 'qemu';
  /** Extra environment for the sandbox and the command (merged over `process.env`). */
  env?: Record<string, string>;
  /** Working directory of the command (default: the caller's). It must be visible in the guest. */
  cwd?: string;
  /** Seconds before a hung sandbox is killed (default 1800). */
  timeoutSeconds?: number;
  /** stdio of the sandbox process, as for `child_process.spawn` (default `inherit`). */
  stdio?: 'inherit' | 'pipe' | 'ignore';
  /** Run as `--kernel-tests` (a test summary line, and failure if no kernel test passed). */
  kernelTests?: boolean;
}

/**
 * Runs `command` (program and arguments) in the sandbox. Resolves to the
 * command's exit code, or 125 when the sandbox itself failed (the reason is
 * printed on stderr).
 */
export function runInSandbox(command: readonly string[], options?: SandboxOptions): Promise<number>;

/** Path of the sandbox's command-line entry (the `ipvs-ts-sandbox` bin). */
export const sandboxCli: string;
