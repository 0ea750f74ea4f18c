/**
 * The sandbox's pure decisions (src/sandbox/select.mjs): when user-mode-linux
 * gets the xstate-fix library, which backends `auto` tries in which order,
 * which qemu accelerator, and the errors for bad settings.
 */
import { describe, expect, it } from 'vitest';
import {
  SettingError,
  backendPlan,
  cpuFlags,
  qemuAccelDecision,
  requestedBackend,
  xstateFixDecision,
} from '../../../src/sandbox/select.mjs';

const cpuinfo = (flags: string): string =>
  [
    'processor\t: 0',
    'vendor_id\t: GenuineIntel',
    `flags\t\t: ${flags}`,
    'bugs\t\t: spectre_v1',
    '',
    'processor\t: 1',
    `flags\t\t: ${flags}`,
    '',
  ].join('\n');

const SAPPHIRE_RAPIDS = 'fpu vme de pse tsc msr pae avx512f avx512bw amx_bf16 avx512_fp16 amx_tile amx_int8 xsave';
const EPYC = 'fpu vme de pse tsc msr pae sse sse2 avx avx2 xsave xsaveopt xsavec xsaves hypervisor';

describe('cpuFlags', () => {
  it('reads the flags line of the first processor', () => {
    const flags = cpuFlags(cpuinfo(SAPPHIRE_RAPIDS));
    expect(flags.has('amx_tile')).toBe(true);
    expect(flags.has('xsave')).toBe(true);
    expect(flags.has('GenuineIntel')).toBe(false);
    expect(flags.size).toBe(SAPPHIRE_RAPIDS.split(' ').length);
  });

  it('is empty without a flags line (e.g. no /proc/cpuinfo)', () => {
    expect(cpuFlags('').size).toBe(0);
    expect(cpuFlags(undefined as unknown as string).size).toBe(0);
    expect(cpuFlags('processor : 0\nvendor_id : x\n').size).toBe(0);
  });

  it('does not take amx_tile from a longer flag name', () => {
    expect(cpuFlags(cpuinfo('fpu amx_tile_extra xsave')).has('amx_tile')).toBe(false);
  });
});

describe('xstateFixDecision', () => {
  it('uses the library on an AMX CPU, without any setting', () => {
    const d = xstateFixDecision({ env: {}, cpuinfo: cpuinfo(SAPPHIRE_RAPIDS) });
    expect(d.use).toBe(true);
    expect(d.reason).toMatch(/AMX/);
  });

  it('does not use it without AMX', () => {
    const d = xstateFixDecision({ env: {}, cpuinfo: cpuinfo(EPYC) });
    expect(d).toEqual({ use: false, reason: 'the CPU has no AMX' });
  });

  it('IPVS_TS_UML_XSTATE_FIX=1 forces it, =0 disables it, auto decides', () => {
    expect(xstateFixDecision({ env: { IPVS_TS_UML_XSTATE_FIX: '1' }, cpuinfo: cpuinfo(EPYC) })).toMatchObject({ use: true, reason: expect.stringMatching(/forced/) });
    expect(xstateFixDecision({ env: { IPVS_TS_UML_XSTATE_FIX: '0' }, cpuinfo: cpuinfo(SAPPHIRE_RAPIDS) })).toMatchObject({ use: false, reason: expect.stringMatching(/disabled/) });
    expect(xstateFixDecision({ env: { IPVS_TS_UML_XSTATE_FIX: 'auto' }, cpuinfo: cpuinfo(SAPPHIRE_RAPIDS) }).use).toBe(true);
    expect(xstateFixDecision({ env: { IPVS_TS_UML_XSTATE_FIX: ' Auto ' }, cpuinfo: cpuinfo(EPYC) }).use).toBe(false);
    expect(xstateFixDecision({ env: { IPVS_TS_UML_XSTATE_FIX: '' }, cpuinfo: cpuinfo(SAPPHIRE_RAPIDS) }).use).toBe(true);
  });

  it('rejects other values, naming the variable', () => {
    expect(() => xstateFixDecision({ env: { IPVS_TS_UML_XSTATE_FIX: 'maybe' }, cpuinfo: '' })).toThrow(SettingError);
    expect(() => xstateFixDecision({ env: { IPVS_TS_UML_XSTATE_FIX: 'maybe' }, cpuinfo: '' })).toThrow(/IPVS_TS_UML_XSTATE_FIX.*"maybe"/);
  });
});

describe('requestedBackend', () => {
  it('defaults to auto', () => {
    expect(requestedBackend(undefined, {})).toEqual({ backend: 'auto', source: 'default' });
  });

  it('takes IPVS_TS_BACKEND, and --backend over it', () => {
    expect(requestedBackend(undefined, { IPVS_TS_BACKEND: 'qemu' })).toEqual({ backend: 'qemu', source: 'IPVS_TS_BACKEND' });
    expect(requestedBackend('uml', { IPVS_TS_BACKEND: 'qemu' })).toEqual({ backend: 'uml', source: '--backend' });
    expect(requestedBackend(undefined, { IPVS_TS_BACKEND: ' NETNS ' }).backend).toBe('netns');
  });

  it('rejects unknown backends, naming where the value came from', () => {
    expect(() => requestedBackend('docker', {})).toThrow(/--backend must be one of netns, uml, qemu or auto, got "docker"/);
    expect(() => requestedBackend(undefined, { IPVS_TS_BACKEND: 'kvm' })).toThrow(/IPVS_TS_BACKEND .*"kvm"/);
  });
});

describe('backendPlan', () => {
  it('auto: netns first when root on a host kernel with IPVS', () => {
    const p = backendPlan('auto', { root: true, hostIpvs: true });
    expect(p.order).toEqual(['netns', 'uml', 'qemu']);
    expect(p.reason).toMatch(/host kernel has IPVS/);
  });

  it('auto: uml, then qemu as the fallback, otherwise', () => {
    expect(backendPlan('auto', { root: true, hostIpvs: false })).toEqual({ order: ['uml', 'qemu'], reason: 'auto: the host kernel has no IPVS' });
    expect(backendPlan('auto', { root: false, hostIpvs: true }).order).toEqual(['uml', 'qemu']);
  });

  it('a requested backend is the only one tried', () => {
    expect(backendPlan('qemu', { root: true, hostIpvs: true, source: 'IPVS_TS_BACKEND=qemu' })).toEqual({
      order: ['qemu'],
      reason: 'requested by IPVS_TS_BACKEND=qemu',
    });
    expect(backendPlan('netns', { root: false, hostIpvs: false }).order).toEqual(['netns']);
  });
});

describe('qemuAccelDecision', () => {
  it('tcg without a usable /dev/kvm', () => {
    expect(qemuAccelDecision({ env: {}, kvmDevice: false })).toMatchObject({ accel: 'tcg', needsProbe: false });
  });

  it('asks for a probe boot when /dev/kvm is there, and follows its result', () => {
    expect(qemuAccelDecision({ env: {}, kvmDevice: true })).toMatchObject({ needsProbe: true });
    expect(qemuAccelDecision({ env: {}, kvmDevice: true, probe: { ok: true, detail: 'booted' } })).toMatchObject({ accel: 'kvm', needsProbe: false });
    const hung = qemuAccelDecision({ env: {}, kvmDevice: true, probe: { ok: false, detail: 'no boot within 30 s' } });
    expect(hung).toMatchObject({ accel: 'tcg', needsProbe: false });
    expect(hung.reason).toContain('no boot within 30 s');
  });

  it('IPVS_TS_QEMU_ACCEL forces either, without a probe; other values are errors', () => {
    expect(qemuAccelDecision({ env: { IPVS_TS_QEMU_ACCEL: 'kvm' }, kvmDevice: false })).toMatchObject({ accel: 'kvm', needsProbe: false });
    expect(qemuAccelDecision({ env: { IPVS_TS_QEMU_ACCEL: 'tcg' }, kvmDevice: true })).toMatchObject({ accel: 'tcg', needsProbe: false });
    expect(() => qemuAccelDecision({ env: { IPVS_TS_QEMU_ACCEL: 'hvf' }, kvmDevice: true })).toThrow(/IPVS_TS_QEMU_ACCEL.*"hvf"/);
  });
});

describe('runInSandbox (ipvs-ts/sandbox)', () => {
  it('rejects bad arguments before starting anything, naming them', async () => {
    const { runInSandbox } = await import('../../../src/sandbox/index.mjs');
    await expect(runInSandbox([])).rejects.toThrow(/command must be a non-empty array of strings/);
    await expect(runInSandbox(['true'], { backend: 'docker' as 'uml' })).rejects.toThrow(/options\.backend must be auto, netns, uml or qemu, got docker/);
    await expect(runInSandbox(['true'], { timeoutSeconds: -1 })).rejects.toThrow(/options\.timeoutSeconds must be a positive number/);
  });
});
