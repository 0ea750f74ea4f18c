// `ipvs-ts-sandbox --check`: what each backend needs, and whether it works on
// this machine (each available one boots once and runs modprobe ip_vs and
// ipvsadm). Exit code 0 if at least one works.
import { spawn } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import { release } from 'node:os';
import { isRoot, readText, say, which } from './common.mjs';
import { findCompiler } from './xstate-fix.mjs';
import { hostHasIpvs } from './netns.mjs';
import { BACKEND_PACKAGES, missingPackages } from './packages.mjs';
import { backendPlan, qemuAccelDecision, xstateFixDecision } from './select.mjs';

const PROBE_COMMAND = ['sh', '-c', 'modprobe ip_vs && ipvsadm -Ln >/dev/null && uname -r'];

function kvmUsable() {
  try {
    accessSync('/dev/kvm', fsConstants.R_OK | fsConstants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** Runs the sandbox once with `env`; resolves to { ok, detail, seconds }. */
function trial(cli, backend, env, timeoutS) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, [cli, '--backend', backend, '--', ...PROBE_COMMAND], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env, IPVS_TS_SANDBOX_NO_INSTALL: '1', IPVS_TS_SANDBOX_TIMEOUT: String(timeoutS) },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err += c));
    child.on('close', (code) => {
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      if (code === 0) resolve({ ok: true, detail: `works (kernel ${out.trim().split('\n').pop()}, ${seconds} s)` });
      else {
        const lines = err.split('\n');
        let why = lines.find((l) => /ERROR/.test(l))?.replace(/^\[sandbox\] ERROR: /, '').replace(/\.$/, '') ?? `exit ${code}`;
        const consoleLine = lines.findLast((l) => /^ {4}\S/.test(l));
        if (consoleLine) why += `; console: ${consoleLine.trim().slice(0, 160)}`;
        resolve({ ok: false, detail: `does not work (${why.slice(0, 400)}; ${seconds} s)` });
      }
    });
  });
}

export async function runCheck(cli) {
  const out = (s) => process.stdout.write(`${s}\n`);
  if (process.env.IPVS_TS_SANDBOX) {
    say(`--check runs on the host, not inside the ${process.env.IPVS_TS_SANDBOX} sandbox (nothing can be booted from here)`);
    return 1;
  }
  const cpuinfo = readText('/proc/cpuinfo') ?? '';
  const fix = xstateFixDecision({ env: process.env, cpuinfo });
  const root = isRoot();
  const ipvs = hostHasIpvs();
  const rows = [];
  const add = (name, needs, result) => {
    rows.push({ name, ok: result.ok });
    out(`${name.padEnd(15)} needs: ${needs}\n${''.padEnd(15)} ${result.ok ? 'OK  ' : 'NO  '} ${result.detail}`);
  };
  out(`ipvs-ts sandbox check (host kernel ${release()}, ${root ? 'root' : 'not root'}, ${fix.reason})`);

  // netns
  const netnsNeeds = `root, IPVS in the host kernel, Debian ${BACKEND_PACKAGES.netns.join(' ')}`;
  const netnsMissing = missingPackages('netns');
  if (!root) add('netns', netnsNeeds, { ok: false, detail: 'not applicable: not root' });
  else if (!ipvs) add('netns', netnsNeeds, { ok: false, detail: `not applicable: the host kernel (${release()}) has no IPVS` });
  else if (netnsMissing.length) add('netns', netnsNeeds, { ok: false, detail: `missing ${netnsMissing.join(', ')}` });
  else add('netns', netnsNeeds, await trial(cli, 'netns', {}, 60));

  // uml, with and without the xstate-fix library
  const umlNeeds = `Debian ${BACKEND_PACKAGES.uml.join(' ')}; a CPU without AMX, or the xstate-fix library`;
  const umlMissing = missingPackages('uml');
  const umlFixNeeds = `as uml, plus a C compiler (${findCompiler() ?? 'none found: install gcc'}) to build the library once`;
  if (umlMissing.length) {
    add('uml', umlNeeds, { ok: false, detail: `missing ${umlMissing.join(', ')}` });
    add('uml+xstate-fix', umlFixNeeds, { ok: false, detail: `missing ${umlMissing.join(', ')}` });
  } else {
    add('uml', umlNeeds, await trial(cli, 'uml', { IPVS_TS_UML_XSTATE_FIX: '0' }, 120));
    add('uml+xstate-fix', umlFixNeeds, findCompiler()
      ? await trial(cli, 'uml', { IPVS_TS_UML_XSTATE_FIX: '1' }, 120)
      : { ok: false, detail: 'no C compiler' });
  }

  // qemu, KVM and TCG
  const qemuNeeds = `Debian ${BACKEND_PACKAGES.qemu.join(' ')}; linux-image-amd64 (fetched with apt-get download into the cache at first use)`;
  const qemuMissing = missingPackages('qemu');
  if (qemuMissing.length) {
    add('qemu-kvm', `${qemuNeeds}; a usable /dev/kvm`, { ok: false, detail: `missing ${qemuMissing.join(', ')}` });
    add('qemu-tcg', qemuNeeds, { ok: false, detail: `missing ${qemuMissing.join(', ')}` });
  } else {
    add('qemu-kvm', `${qemuNeeds}; a usable /dev/kvm`, kvmUsable()
      ? await trial(cli, 'qemu', { IPVS_TS_QEMU_ACCEL: 'kvm' }, 60)
      : { ok: false, detail: 'not applicable: no usable /dev/kvm' });
    add('qemu-tcg', qemuNeeds, await trial(cli, 'qemu', { IPVS_TS_QEMU_ACCEL: 'tcg' }, 180));
  }

  const plan = backendPlan('auto', { root, hostIpvs: ipvs });
  const works = new Set(rows.filter((r) => r.ok).map((r) => r.name));
  const auto = plan.order.find((b) =>
    b === 'uml' ? works.has(fix.use ? 'uml+xstate-fix' : 'uml') : b === 'qemu' ? works.has('qemu-kvm') || works.has('qemu-tcg') : works.has(b),
  );
  const accel = qemuAccelDecision({ env: process.env, kvmDevice: works.has('qemu-kvm'), probe: { ok: works.has('qemu-kvm'), detail: 'see above' } });
  out(
    auto
      ? `auto would choose: ${auto}${auto === 'uml' && fix.use ? ' with the xstate-fix library' : ''}${auto === 'qemu' ? ` (${accel.accel})` : ''}`
      : 'no backend works here: install one of the above (as root the sandbox installs the packages itself)',
  );
  if (!which('apt-get')) say('note: apt-get not found; the backends expect a Debian-like host');
  return auto ? 0 : 1;
}
