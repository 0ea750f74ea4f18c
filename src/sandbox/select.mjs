// Pure decisions of the IPVS sandbox: which backend, whether user-mode-linux
// needs the xstate-fix library, which qemu accelerator. No I/O here, so that
// test/unit/sandbox/ can test every branch. See docs/testing.md.

/** Backends, in the order `auto` tries them. */
export const BACKENDS = ['netns', 'uml', 'qemu'];

/** Error in a setting (environment variable or option), naming it. */
export class SettingError extends Error {}

/** CPU feature flags of the first processor in a /proc/cpuinfo text. */
export function cpuFlags(cpuinfo) {
  const line = (cpuinfo ?? '').split('\n').find((l) => /^flags\s*:/.test(l));
  return new Set(line ? line.slice(line.indexOf(':') + 1).trim().split(/\s+/).filter(Boolean) : []);
}

/**
 * Whether linux.uml must run with the xstate-fix LD_PRELOAD library
 * (src/sandbox/xstate-fix.c). Needed when the host CPU has AMX (flag
 * amx_tile): its xstate is larger than user-mode-linux's buffer, and the
 * host kernel refuses UML's short PTRACE_SETREGSET. IPVS_TS_UML_XSTATE_FIX
 * = 1 forces it, 0 disables it, auto (or unset) decides from the CPU flags.
 * @returns {{ use: boolean, reason: string }}
 */
export function xstateFixDecision({ env = {}, cpuinfo = '' } = {}) {
  const raw = (env.IPVS_TS_UML_XSTATE_FIX ?? '').trim().toLowerCase();
  if (raw === '1' || raw === 'on' || raw === 'yes') return { use: true, reason: 'forced by IPVS_TS_UML_XSTATE_FIX=1' };
  if (raw === '0' || raw === 'off' || raw === 'no') return { use: false, reason: 'disabled by IPVS_TS_UML_XSTATE_FIX=0' };
  if (raw !== '' && raw !== 'auto') {
    throw new SettingError(`IPVS_TS_UML_XSTATE_FIX must be 1, 0 or auto, got "${env.IPVS_TS_UML_XSTATE_FIX}"`);
  }
  const flags = cpuFlags(cpuinfo);
  if (flags.has('amx_tile')) return { use: true, reason: 'the CPU has AMX (amx_tile), whose xstate user-mode-linux cannot restore' };
  return { use: false, reason: 'the CPU has no AMX' };
}

/**
 * The backend asked for: --backend wins over IPVS_TS_BACKEND; default auto.
 * @returns {{ backend: string, source: string }}
 */
export function requestedBackend(option, env = {}) {
  const from = option !== undefined ? '--backend' : 'IPVS_TS_BACKEND';
  const b = String(option ?? env.IPVS_TS_BACKEND ?? 'auto').trim().toLowerCase() || 'auto';
  if (b !== 'auto' && !BACKENDS.includes(b)) {
    throw new SettingError(`${from} must be one of ${BACKENDS.join(', ')} or auto, got "${option ?? env.IPVS_TS_BACKEND}"`);
  }
  return { backend: b, source: b === 'auto' && option === undefined && !env.IPVS_TS_BACKEND ? 'default' : from };
}

/**
 * The backends to try, in order, with the reason for the first. `auto`: netns
 * when root on a host kernel with IPVS (fast, nothing booted); else uml; qemu
 * as the fallback when uml cannot boot (or is not installed and cannot be).
 * @returns {{ order: string[], reason: string }}
 */
export function backendPlan(requested, { root, hostIpvs, source = 'request' }) {
  if (requested !== 'auto') return { order: [requested], reason: `requested by ${source}` };
  if (root && hostIpvs) return { order: ['netns', 'uml', 'qemu'], reason: 'auto: root, and the host kernel has IPVS' };
  const why = root ? 'the host kernel has no IPVS' : 'not root, so no netns';
  return { order: ['uml', 'qemu'], reason: `auto: ${why}` };
}

/**
 * The qemu accelerator. IPVS_TS_QEMU_ACCEL = kvm | tcg | auto (default). auto:
 * kvm when /dev/kvm is usable and a short probe boot with it finished (nested
 * virtualisation may hang at "Booting from ROM"), tcg otherwise.
 * @returns {{ accel: 'kvm'|'tcg', reason: string, needsProbe: boolean }}
 */
export function qemuAccelDecision({ env = {}, kvmDevice, probe }) {
  const raw = (env.IPVS_TS_QEMU_ACCEL ?? '').trim().toLowerCase();
  if (raw === 'kvm') return { accel: 'kvm', reason: 'IPVS_TS_QEMU_ACCEL=kvm', needsProbe: false };
  if (raw === 'tcg') return { accel: 'tcg', reason: 'IPVS_TS_QEMU_ACCEL=tcg', needsProbe: false };
  if (raw !== '' && raw !== 'auto') throw new SettingError(`IPVS_TS_QEMU_ACCEL must be kvm, tcg or auto, got "${env.IPVS_TS_QEMU_ACCEL}"`);
  if (!kvmDevice) return { accel: 'tcg', reason: 'no usable /dev/kvm', needsProbe: false };
  if (probe === undefined) return { accel: 'tcg', reason: 'kvm not probed yet', needsProbe: true };
  if (probe.ok) return { accel: 'kvm', reason: 'a probe boot with KVM worked', needsProbe: false };
  return { accel: 'tcg', reason: `a probe boot with KVM failed (${probe.detail})`, needsProbe: false };
}
