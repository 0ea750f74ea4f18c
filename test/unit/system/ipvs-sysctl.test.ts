/**
 * The typed IPVS sysctl object: field ↔ key mapping and validation, which
 * happens before the kernel is touched. Reading and writing real values is
 * covered by test/kernel/system.kernel.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { InvalidArgumentError } from '../../../src/errors.js';
import { Sysctl, sysctlRange } from '../../../src/system/sysctl.js';
import {
  IPVS_SYSCTL_FIELDS,
  IpvsNotLoadedError,
  getIpvsSysctls,
  ipvsSysctlName,
  setIpvsSysctls,
  type IpvsSysctls,
} from '../../../src/system/ipvs-sysctl.js';

function thrown(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an exception');
}

describe('IPVS sysctl fields', () => {
  it('map to the kernel names in net.ipv4.vs', () => {
    expect(ipvsSysctlName('expireNodestConn')).toBe('net.ipv4.vs.expire_nodest_conn');
    expect(ipvsSysctlName('amDroprate')).toBe('net.ipv4.vs.am_droprate');
    expect(ipvsSysctlName('syncThreshold')).toBe('net.ipv4.vs.sync_threshold');
    expect(ipvsSysctlName('estCpulist')).toBe('net.ipv4.vs.est_cpulist');
    expect(() => ipvsSysctlName('nope' as keyof IpvsSysctls)).toThrow(/nope: not an IPVS sysctl field/);
  });

  it('cover the 6.1 kernel list, each name being camelCase of the kernel name', () => {
    // `ls /proc/sys/net/ipv4/vs` on the 6.1 UML sandbox kernel.
    const kernel61 = [
      'am_droprate', 'amemthresh', 'backup_only', 'cache_bypass', 'conn_reuse_mode', 'conntrack', 'debug_level', 'drop_entry',
      'drop_packet', 'expire_nodest_conn', 'expire_quiescent_template', 'ignore_tunneled', 'nat_icmp_send', 'pmtu_disc',
      'run_estimation', 'schedule_icmp', 'secure_tcp', 'sloppy_sctp', 'sloppy_tcp', 'snat_reroute', 'sync_persist_mode',
      'sync_ports', 'sync_qlen_max', 'sync_refresh_period', 'sync_retries', 'sync_sock_size', 'sync_threshold', 'sync_version',
    ];
    const names = IPVS_SYSCTL_FIELDS.map((f) => ipvsSysctlName(f).slice('net.ipv4.vs.'.length));
    for (const k of kernel61) expect(names, k).toContain(k);
    for (const f of IPVS_SYSCTL_FIELDS) {
      const key = ipvsSysctlName(f).slice('net.ipv4.vs.'.length);
      expect(key.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()), key).toBe(f);
    }
  });

  it('every numeric field has a kernel range in the sysctl table', () => {
    for (const f of IPVS_SYSCTL_FIELDS) {
      if (f === 'estCpulist') continue;
      expect(sysctlRange(ipvsSysctlName(f)), f).toBeDefined();
    }
  });
});

describe('setIpvsSysctls validation (before anything is opened)', () => {
  // A handle on a namespace that does not matter: validation fails first.
  const sysctl = Sysctl.open();

  it.each<[Partial<IpvsSysctls>, string]>([
    [{ conntrack: 1 as unknown as boolean }, 'conntrack: net.ipv4.vs.conntrack takes a boolean, got 1'],
    [{ syncPorts: 3 }, 'syncPorts: net.ipv4.vs.sync_ports: must be a power of two, got 3'],
    [{ connReuseMode: 4 }, 'connReuseMode: net.ipv4.vs.conn_reuse_mode: value must be an integer 0..3 (a bit map of 1 and 2), got 4'],
    [{ syncThreshold: [50, 5] }, 'syncThreshold: net.ipv4.vs.sync_threshold: the threshold (50) must be below the period (5), or the period 0'],
    [{ syncThreshold: [1] as unknown as [number, number] }, 'syncThreshold: net.ipv4.vs.sync_threshold takes [threshold, period], got [1]'],
    [{ syncVersion: 2 }, 'syncVersion: net.ipv4.vs.sync_version: value must be an integer 0..1, got 2'],
    [{ amemthresh: 1.5 }, 'amemthresh: net.ipv4.vs.amemthresh: value must be an integer, got 1.5'],
    [{ estCpulist: 5 as unknown as string }, 'estCpulist: net.ipv4.vs.est_cpulist takes a string, got 5'],
  ])('refuses %j', (values, message) => {
    const e = thrown(() => setIpvsSysctls(sysctl, values));
    expect(e).toBeInstanceOf(InvalidArgumentError);
    expect(e.message).toBe(message);
  });

  it('reports every bad field at once, and unknown ones', () => {
    const e = thrown(() => setIpvsSysctls(sysctl, { syncPorts: 3, dropEntry: 9, bogus: true } as unknown as Partial<IpvsSysctls>)) as InvalidArgumentError;
    expect(e.field).toBe('syncPorts');
    expect(e.problems).toHaveLength(3);
    expect(e.problems[1]).toMatch(/^dropEntry: net\.ipv4\.vs\.drop_entry: value must be an integer 0\.\.3/);
    expect(e.problems[2]).toMatch(/^bogus: not an IPVS sysctl field \(known: amDroprate, amemthresh/);
    expect(e.message).toMatch(/^3 invalid fields:/);
    // Prototype keys are not fields.
    expect(() => setIpvsSysctls(sysctl, JSON.parse('{"constructor": 1}') as Partial<IpvsSysctls>)).toThrow(/constructor: not an IPVS sysctl field/);
    expect(() => setIpvsSysctls(sysctl, null as unknown as Partial<IpvsSysctls>)).toThrow(/values: must be an object/);
  });

  it('does nothing for an empty object or undefined fields', () => {
    expect(() => setIpvsSysctls(sysctl, {})).not.toThrow();
    expect(() => setIpvsSysctls(sysctl, { conntrack: undefined })).not.toThrow();
  });

  it.runIf(!existsSync('/proc/sys/net/ipv4/vs/amemthresh'))('says ip_vs is not loaded on a host without it', () => {
    const e = thrown(() => getIpvsSysctls(sysctl));
    expect(e).toBeInstanceOf(IpvsNotLoadedError);
    expect(e).toMatchObject({ code: 'ERR_IPVS_NOT_LOADED', key: 'net.ipv4.vs' });
    expect(e.message).toMatch(/^the ip_vs module is not loaded \(modprobe ip_vs\)/);
    expect(() => setIpvsSysctls(sysctl, { conntrack: true })).toThrow(IpvsNotLoadedError);
  });
});
