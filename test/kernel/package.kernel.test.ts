// The package as a user installs it, against the kernel: the tarball installed
// with install scripts disabled (test/helpers/package.ts; made on the host by
// test/unit/package/pack.test.ts and reused here when the sources are unchanged)
// is imported from its project by a separate node process, which opens Ipvs in a
// namespace of this test, adds a service and lists it, through the prebuilt addon.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { installedPackage, type InstalledPackage } from '../helpers/package.js';
import { createNetns, type Netns } from './harness.js';

const PREBUILT = join('native', 'prebuilds', `${process.platform}-${process.arch}`, 'ipvs_ts_native.node');

const USER_SCRIPT = `
import { Ipvs } from 'ipvs-ts';
import { readFileSync } from 'node:fs';
const ipvs = await Ipvs.open({ netns: process.env.IPVS_TS_TEST_NETNS });
try {
  await ipvs.addService({ protocol: 'tcp', address: '192.0.2.80', port: 8080, scheduler: 'wrr' });
  const services = await ipvs.listServices();
  const addons = readFileSync('/proc/self/maps', 'utf8').split('\\n')
    .map((line) => line.split(/\\s+/).slice(5).join(' ')).filter((path) => path.endsWith('.node'));
  console.log(JSON.stringify({
    main: import.meta.resolve('ipvs-ts'),
    services: services.map((s) => [s.protocol, s.address, s.port, s.scheduler]),
    addons: [...new Set(addons)],
  }));
} finally {
  await ipvs.close();
}
`;

describe('the installed package on a kernel with IPVS', () => {
  let pkg: InstalledPackage & { reused: boolean };
  let ns: Netns;

  beforeAll(() => {
    ns = createNetns('pkg');
    pkg = installedPackage();
    if (!pkg.reused) console.log(`packed and installed ipvs-ts afresh in ${pkg.project}`);
  }, 300_000);
  afterAll(() => ns?.destroy());

  it('import("ipvs-ts") and Ipvs.open() work from the installed tarball', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', USER_SCRIPT], {
      cwd: pkg.project,
      env: { ...process.env, IPVS_TS_TEST_NETNS: ns.path },
    });
    const result = JSON.parse(stdout);
    expect(result.main.startsWith(`file://${pkg.installed}/`)).toBe(true);
    expect(result.services).toEqual([['tcp', '192.0.2.80', 8080, 'wrr']]);
    expect(result.addons).toEqual([join(pkg.installed, PREBUILT)]);
    // What the kernel holds, read by ipvsadm in the same namespace.
    expect(ns.ipvsadm('-Ln')).toMatch(/TCP\s+192\.0\.2\.80:8080 wrr/);
  });
});
