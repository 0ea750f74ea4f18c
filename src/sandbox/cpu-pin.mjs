// Which host CPU a user-mode-linux guest is pinned to (src/sandbox/uml.mjs).
// Plain Node ESM, node: builtins only; see docs/testing.md.
//
// Why: a UML guest runs as several host processes that hand the one virtual
// CPU to each other through ptrace stops and wake-ups. Left free, the host
// places them on different CPUs, and every hand-over becomes a cross-CPU
// wake-up — on a virtual machine whose other CPU is idle, a halted vCPU to
// wake. Measured on a 2-vCPU host (docs/testing.md): the same kernel test
// files took 89–105 s unpinned and 32–37 s pinned to one CPU, and a health
// benchmark's CPU per check halved. The guest has one CPU, so nothing is lost.
import { readFileSync } from 'node:fs';

/** CPUs in a list such as "0-3,6" (Cpus_allowed_list); [] for anything else. */
export function parseCpuList(text) {
  const cpus = [];
  for (const part of String(text).trim().split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) return [];
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (to < from || to - from > 4096) return [];
    for (let c = from; c <= to; c++) cpus.push(c);
  }
  return cpus;
}

/** Busy and total jiffies per CPU from /proc/stat text: Map cpu → { busy, total }. */
export function cpuTimes(procStat) {
  const times = new Map();
  for (const line of procStat.split('\n')) {
    const m = /^cpu(\d+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const f = m[2].trim().split(/\s+/).map(Number);
    const total = f.reduce((a, b) => a + b, 0);
    const idle = (f[3] ?? 0) + (f[4] ?? 0); // idle + iowait
    times.set(Number(m[1]), { busy: total - idle, total });
  }
  return times;
}

/**
 * The least busy of `allowed` between two /proc/stat readings (the later CPU
 * on a tie: CPU 0 takes most interrupts); `allowed[0]` without readings.
 */
export function leastBusy(allowed, before, after) {
  let best;
  let bestShare = Infinity;
  for (const cpu of allowed) {
    const a = before.get(cpu);
    const b = after.get(cpu);
    if (!a || !b) continue;
    const total = b.total - a.total;
    const share = total > 0 ? (b.busy - a.busy) / total : 0;
    if (share <= bestShare) {
      bestShare = share;
      best = cpu;
    }
  }
  return best ?? allowed[0];
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * The CPU to pin the guest to, or undefined for none: IPVS_TS_SANDBOX_CPU=N
 * asks for CPU N, `none` for no pinning; by default the least busy CPU this
 * process may run on over 100 ms (so that sandboxes started side by side tend
 * to spread), none when only one is allowed or the lists cannot be read.
 * @param {NodeJS.ProcessEnv} env
 * @returns {Promise<number | undefined>}
 */
export async function guestCpu(env = process.env) {
  const asked = env.IPVS_TS_SANDBOX_CPU;
  if (asked === 'none') return undefined;
  let allowed;
  try {
    const m = /^Cpus_allowed_list:\s*(.+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    allowed = m ? parseCpuList(m[1]) : [];
  } catch {
    allowed = [];
  }
  if (asked !== undefined && asked !== '') {
    if (!/^\d+$/.test(asked)) throw new Error(`IPVS_TS_SANDBOX_CPU must be a CPU number or "none", got "${asked}"`);
    const cpu = Number(asked);
    // taskset would refuse it only after the boot began, in words about affinity.
    if (allowed.length > 0 && !allowed.includes(cpu)) throw new Error(`IPVS_TS_SANDBOX_CPU=${cpu}: this process may run on CPU ${allowed.join(', ')} only`);
    return cpu;
  }
  if (allowed.length < 2) return undefined;
  try {
    const before = cpuTimes(readFileSync('/proc/stat', 'utf8'));
    await sleep(100);
    return leastBusy(allowed, before, cpuTimes(readFileSync('/proc/stat', 'utf8')));
  } catch {
    return allowed[allowed.length - 1];
  }
}
