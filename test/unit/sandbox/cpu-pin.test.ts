// The CPU a user-mode-linux guest is pinned to: list parsing, /proc/stat
// readings, the least busy choice, and the IPVS_TS_SANDBOX_CPU setting.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { cpuTimes, guestCpu, leastBusy, parseCpuList } from '../../../src/sandbox/cpu-pin.mjs';

describe('parseCpuList', () => {
  it('reads ranges and single CPUs, and nothing from a malformed list', () => {
    expect(parseCpuList('0-3,6\n')).toEqual([0, 1, 2, 3, 6]);
    expect(parseCpuList('1')).toEqual([1]);
    expect(parseCpuList('3-1')).toEqual([]);
    expect(parseCpuList('a-b')).toEqual([]);
  });
});

describe('leastBusy', () => {
  const stat = (rows: number[][]) => rows.map((f, i) => `cpu${i} ${f.join(' ')}`).join('\n');
  // user nice system idle iowait irq softirq
  const before = cpuTimes(`cpu  1 1 1 1 1 1 1\n${stat([[100, 0, 50, 1000, 0, 0, 0], [100, 0, 50, 1000, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0]])}`);

  it('picks the allowed CPU with the smallest busy share between two readings', () => {
    const after = cpuTimes(stat([[180, 0, 60, 1010, 0, 0, 0], [105, 0, 52, 1093, 0, 0, 0], [0, 0, 0, 100, 0, 0, 0]]));
    expect(leastBusy([0, 1], before, after)).toBe(1);
    expect(leastBusy([0], before, after)).toBe(0);
    // CPU 2 was idle throughout: 0 busy of 100
    expect(leastBusy([0, 1, 2], before, after)).toBe(2);
  });

  it('prefers the later CPU on a tie, and the first allowed one without readings', () => {
    const same = cpuTimes(stat([[110, 0, 50, 1090, 0, 0, 0], [110, 0, 50, 1090, 0, 0, 0]]));
    expect(leastBusy([0, 1], before, same)).toBe(1);
    expect(leastBusy([5, 7], before, same)).toBe(5);
  });
});

describe('guestCpu', () => {
  it('takes IPVS_TS_SANDBOX_CPU: a number, none, or an error naming the setting', async () => {
    const allowed = parseCpuList(/^Cpus_allowed_list:\s*(.+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]!);
    expect(await guestCpu({ IPVS_TS_SANDBOX_CPU: String(allowed[0]) })).toBe(allowed[0]);
    await expect(guestCpu({ IPVS_TS_SANDBOX_CPU: '4095' })).rejects.toThrow(/IPVS_TS_SANDBOX_CPU=4095: this process may run on CPU/);
    expect(await guestCpu({ IPVS_TS_SANDBOX_CPU: 'none' })).toBeUndefined();
    await expect(guestCpu({ IPVS_TS_SANDBOX_CPU: 'fast' })).rejects.toThrow(/IPVS_TS_SANDBOX_CPU/);
  });

  it('by default chooses one of the CPUs this process may run on, or none when it may run on one only', async () => {
    const m = /^Cpus_allowed_list:\s*(.+)$/m.exec(await import('node:fs').then((fs) => fs.readFileSync('/proc/self/status', 'utf8')));
    const allowed = parseCpuList(m![1]!);
    const cpu = await guestCpu({});
    if (allowed.length < 2) expect(cpu).toBeUndefined();
    else expect(allowed).toContain(cpu);
  });
});
