/**
 * `ipvs-ts sandbox -- COMMAND`: the built executable boots the sandbox (the
 * backend auto picks here), runs the command there, and exits with its code.
 * Runs on the host, like test/unit/sandbox/backends.test.ts; needs `npm run
 * build` first (npm test builds).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { expect, it } from 'vitest';
import { CLI_BIN as BIN } from '../../helpers/cli.js';

it.runIf(!process.env.IPVS_TS_SANDBOX)('ipvs-ts sandbox -- COMMAND runs COMMAND in a kernel with IPVS and exits with its code', () => {
  expect(existsSync(BIN), `${BIN} (run npm run build)`).toBe(true);
  const r = spawnSync(process.execPath, [BIN, 'sandbox', '--', 'sh', '-c', 'ipvsadm -Ln | head -n 1; echo to-stderr >&2; exit 3'], {
    encoding: 'utf8',
    timeout: 300_000,
  });
  expect(r.stdout).toMatch(/^IP Virtual Server version \d+\.\d+\.\d+/);
  expect(r.stderr).toMatch(/\[sandbox\] backend=(uml|netns|qemu)/);
  expect(r.stderr).toContain('to-stderr');
  expect(r.status).toBe(3);
}, 300_000);
