// Global setup of the vitest "kernel" project (test/vitest.config.ts).
//
// Kernel tests never skip silently: outside the IPVS sandbox
// (src/sandbox/cli.mjs, run by test/sandbox/sandbox.mjs, sets IPVS_TS_SANDBOX) this setup fails the run,
// unless the user opted out with IPVS_TS_SKIP_KERNEL_TESTS=1. See docs/testing.md.
import { existsSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import type { TestProject } from 'vitest/node';

const PACKAGES = 'user-mode-linux kmod ipvsadm iproute2';

const NOT_IN_SANDBOX = `
Kernel tests must run inside the IPVS sandbox, and IPVS_TS_SANDBOX is not set.

  Run them with:   npm run test:kernel
  One file:        npm run sandbox -- npx vitest run --config test/vitest.config.ts --project kernel test/kernel/<name>.test.ts

The sandbox boots a throwaway kernel that has IPVS: user-mode-linux (qemu as the
fallback), or a fresh network namespace when the host kernel has IPVS and you
are root. It needs the Debian/Ubuntu packages: ${PACKAGES}
(installed automatically when run as root; otherwise:
  sudo apt-get update && sudo apt-get install -y ${PACKAGES}).
\`npm run sandbox -- --check\` shows what each backend needs and whether it works here.

To skip the kernel tests on purpose, set IPVS_TS_SKIP_KERNEL_TESTS=1.
`;

const banner = (lines: string[]): string => {
  const width = Math.max(...lines.map((l) => l.length)) + 4;
  const bar = '!'.repeat(width);
  return [bar, ...lines.map((l) => `! ${l.padEnd(width - 4)} !`), bar].join('\n');
};

interface Counts {
  files: number;
  tests: number;
  passed: number;
  failed: number;
  skipped: number;
  /** Test files that failed outside of a test (e.g. import errors). */
  failedFiles: number;
}

function countResults(project: TestProject): Counts | undefined {
  try {
    // `vitest.state` is marked experimental; fall back gracefully if it changes.
    const modules = project.vitest.state
      .getTestModules()
      .filter((m) => m.project.name === project.name);
    const c: Counts = { files: modules.length, tests: 0, passed: 0, failed: 0, skipped: 0, failedFiles: 0 };
    for (const m of modules) {
      if (m.state() === 'failed') c.failedFiles++;
      for (const t of m.children.allTests()) {
        c.tests++;
        const state = t.result().state;
        if (state === 'passed') c.passed++;
        else if (state === 'failed') c.failed++;
        else c.skipped++;
      }
    }
    return c;
  } catch {
    return undefined;
  }
}

function writeSummary(data: Record<string, unknown>): void {
  const file = process.env.IPVS_TS_KERNEL_SUMMARY;
  if (!file) return;
  try {
    writeFileSync(file, `${JSON.stringify(data)}\n`);
  } catch {
    /* the sandbox then reports that no summary arrived */
  }
}

export default function setup(project: TestProject): () => void {
  const backend = process.env.IPVS_TS_SANDBOX;

  if (!backend) {
    if (process.env.IPVS_TS_SKIP_KERNEL_TESTS !== '1') throw new Error(NOT_IN_SANDBOX);
    console.warn(
      `\n${banner([
        'KERNEL TESTS SKIPPED BY REQUEST (IPVS_TS_SKIP_KERNEL_TESTS=1).',
        'Nothing was tested against a real IPVS kernel. Run `npm run test:kernel` for that.',
      ])}\n`,
    );
    // Mark every kernel test as skipped (they are still collected and listed).
    project.config.testNamePattern = /(?!)/;
    return () => {
      const c = countResults(project);
      writeSummary({ backend: 'none', skippedByRequest: true, ...c });
      console.warn(
        `\n${banner([`KERNEL TESTS SKIPPED BY REQUEST: ${c ? `${c.tests} test(s) in ${c.files} file(s) not run` : 'none run'}.`])}\n`,
      );
    };
  }

  const kernel = process.env.IPVS_TS_SANDBOX_KERNEL || release();
  if (!existsSync('/proc/net/ip_vs')) {
    throw new Error(
      `IPVS_TS_SANDBOX=${backend} but /proc/net/ip_vs does not exist (Linux ${kernel}): ` +
        'this kernel has no IPVS. Run the kernel tests with `npm run test:kernel`.',
    );
  }
  console.log(`kernel backend: ${backend} (Linux ${kernel})`);

  return () => {
    const c = countResults(project);
    writeSummary({ backend, kernel, ...c });
    if (c) {
      console.log(
        `kernel tests: ${c.passed} passed, ${c.failed} failed, ${c.skipped} skipped ` +
          `(${c.tests} tests in ${c.files} files${c.failedFiles ? `, ${c.failedFiles} files failed` : ''}) ` +
          `on backend ${backend} (Linux ${kernel})`,
      );
    } else {
      console.log(`kernel tests finished on backend ${backend} (Linux ${kernel})`);
    }
  };
}
