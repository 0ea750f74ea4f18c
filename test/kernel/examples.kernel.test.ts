// The examples run for real in the sandbox kernel (built by `npm run build`,
// which `npm test` runs first), and print what they promise.
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { run } from './harness.js';

function example(name: string): string {
  const file = `dist/examples/${name}.js`;
  if (!existsSync(file)) throw new Error(`${file} is missing: run "npm run build" first (npm test does)`);
  return run(process.execPath, [file]);
}

describe('examples', () => {
  it('quickstart builds a NAT and a DR service and prints them as ipvsadm -Sn would', () => {
    const out = example('quickstart');
    expect(out).toMatch(/^IPVS 1\.2\.1, connection table size \d+/m);
    expect(out).toContain('expected error: addService: service TCP 192.0.2.10:80 already exists [EEXIST]');
    expect(out).toContain('-A -t 192.0.2.10:80 -s rr\n-a -t 192.0.2.10:80 -r 10.0.0.11:8080 -m -w 3\n-a -t 192.0.2.10:80 -r 10.0.0.12:8080 -m -w 1\n');
    expect(out).toContain('-A -t 192.0.2.10:443 -s wlc -p 600\n');
  });

  it('desired-state plans, applies, drains and rolls back', () => {
    const out = example('desired-state');
    expect(out).toContain('plan: add 2 services, 4 destinations');
    expect(out).toContain('again: no changes');
    expect(out).toContain('drain: update 1 destination');
    expect(out).toContain('refused: ENOENT, table restored: true');
    const json = JSON.parse(out.slice(out.indexOf('{')));
    expect(json.services).toHaveLength(2);
    const web = json.services.find((s: { port: number }) => s.port === 80);
    expect(web.destinations.find((d: { address: string }) => d.address === '10.0.1.2').weight).toBe(0);
  });
});
