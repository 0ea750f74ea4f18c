// The scheduler catalog, scheduler-flag validation built on it, and
// availableSchedulers() over a module tree written by the test.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../../src/errors.js';
import { normalizeServiceSpec } from '../../../src/ipvs/validate.js';
import * as C from '../../../src/ipvs/constants.js';
import { SCHEDULERS, availableSchedulers, schedulerInfo, schedulerOfFlag } from '../../../src/schedulers/catalog.js';

const svc = { protocol: 'tcp', address: '192.0.2.10', port: 80 } as const;

describe('SCHEDULERS', () => {
  it('names each scheduler once, with its module and a description', () => {
    const names = SCHEDULERS.map((s) => s.name);
    expect(new Set(names).size).toBe(names.length);
    for (const s of SCHEDULERS) {
      expect(s.module).toBe(`ip_vs_${s.name}`);
      expect(s.description.length).toBeGreaterThan(10);
    }
    for (const n of ['rr', 'wrr', 'lc', 'wlc', 'sed', 'nq', 'sh', 'dh', 'mh', 'fo', 'ovf', 'lblc', 'lblcr']) expect(schedulerInfo(n)).toBeDefined();
  });

  it('gives the named flags to sh and mh only', () => {
    expect(schedulerInfo('sh')!.flags).toEqual(['sh-fallback', 'sh-port']);
    expect(schedulerInfo('mh')!.flags).toEqual(['mh-fallback', 'mh-port']);
    expect(SCHEDULERS.filter((s) => s.flags.length > 0).map((s) => s.name)).toEqual(['sh', 'mh']);
    expect(schedulerOfFlag('mh-port')).toBe('mh');
    expect(schedulerOfFlag('flag-2')).toBeUndefined();
  });

  it('marks what each algorithm reads', () => {
    expect(schedulerInfo('rr')).toMatchObject({ usesWeights: false, usesConnections: false, usesSource: false });
    expect(schedulerInfo('sh')).toMatchObject({ usesWeights: true, usesSource: true, usesDestination: false });
    expect(schedulerInfo('dh')).toMatchObject({ usesWeights: false, usesDestination: true });
    expect(schedulerInfo('lc')).toMatchObject({ usesWeights: false, usesConnections: true });
  });
});

describe('scheduler flag validation', () => {
  it('rejects a named flag of another scheduler, naming the field and the owner', () => {
    let err: unknown;
    try {
      normalizeServiceSpec({ ...svc, scheduler: 'mh', schedulerFlags: ['mh-port', 'sh-fallback'] });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as InvalidArgumentError).field).toBe('service.schedulerFlags[1]');
    expect((err as Error).message).toMatch(/sh-fallback is a flag of scheduler 'sh' only; scheduler "mh" takes mh-fallback, mh-port/);
    expect(() => normalizeServiceSpec({ ...svc, scheduler: 'rr', schedulerFlags: ['sh-port'] })).toThrow(/reads no named flag/);
    // A scheduler the catalog does not know is still the kernel's to judge; named flags of others are wrong for it too.
    expect(() => normalizeServiceSpec({ ...svc, scheduler: 'custom', schedulerFlags: ['mh-port'] })).toThrow(/flag of scheduler 'mh'/);
  });

  it('passes the named flags of the scheduler and the generic bits of any scheduler', () => {
    expect(normalizeServiceSpec({ ...svc, scheduler: 'sh', schedulerFlags: ['sh-fallback', 'sh-port'] }).flags).toBe(
      C.IP_VS_SVC_F_SCHED_SH_FALLBACK | C.IP_VS_SVC_F_SCHED_SH_PORT,
    );
    expect(normalizeServiceSpec({ ...svc, scheduler: 'wlc', schedulerFlags: ['flag-1', 'flag-2', 'flag-3'] }).flags).toBe(
      C.IP_VS_SVC_F_SCHED1 | C.IP_VS_SVC_F_SCHED2 | C.IP_VS_SVC_F_SCHED3,
    );
  });
});

describe('availableSchedulers', () => {
  const root = mkdtempSync(join(tmpdir(), 'ipvs-ts-mod-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('tells built-in, loaded, loadable and missing apart', async () => {
    const dir = join(root, 'lib', '9.9.9');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'modules.builtin'), 'kernel/net/netfilter/ipvs/ip_vs_rr.ko\n');
    writeFileSync(
      join(dir, 'modules.dep'),
      ['kernel/net/netfilter/ipvs/ip_vs.ko: kernel/net/netfilter/nf_conntrack.ko', 'kernel/net/netfilter/ipvs/ip_vs_sh.ko.xz: kernel/net/netfilter/ipvs/ip_vs.ko', 'kernel/net/netfilter/ipvs/ip_vs_mh.ko: kernel/net/netfilter/ipvs/ip_vs.ko', ''].join('\n'),
    );
    mkdirSync(join(root, 'sys', 'ip_vs_sh'), { recursive: true });
    writeFileSync(join(root, 'sys', 'ip_vs_sh', 'initstate'), 'live\n');
    const rows = await availableSchedulers({ release: '9.9.9', modulesRoot: join(root, 'lib'), sysModule: join(root, 'sys') });
    const by = Object.fromEntries(rows.map((r) => [r.name, r.availability]));
    expect(by).toMatchObject({ rr: 'builtin', sh: 'loaded', mh: 'loadable', wlc: 'missing' });
    expect(rows.map((r) => r.name)).toEqual(SCHEDULERS.map((s) => s.name));
  });

  it('rejects an empty option naming it', async () => {
    await expect(availableSchedulers({ release: '' })).rejects.toMatchObject({ field: 'release' });
  });
});
