// The daemon's failover section: validation naming every bad field, what
// restarts the election on reload, and the backup's in-memory table that its
// health checkers write to.
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../../src/errors.js';
import { validateDirectorConfig, type DirectorConfig } from '../../../src/director/config.js';
import type { DirectorFailoverConfig } from '../../../src/director/failover-config.js';
import { failoverIdentity } from '../../../src/director/failover.js';
import { StandbyIpvs } from '../../../src/director/standby-ipvs.js';
import { draftFailover, failoverDraftWarning } from '../../../src/director/import-failover.js';
import type { HealthIpvs } from '../../../src/health/checker-types.js';

const svc = { protocol: 'tcp' as const, address: '192.0.2.10', port: 80 };
const failover = (): DirectorFailoverConfig => ({ nodeId: 1, priority: 150, peers: [{ nodeId: 2, address: '10.0.0.2' }], keys: { 1: 'sixteen bytes or more' }, stateFile: '/var/lib/ipvs-ts/hb.gen', intervalMs: 100, deadMs: 500 });
const base = (f: unknown): DirectorConfig => ({ table: { services: [{ ...svc, scheduler: 'rr', destinations: [{ address: '10.0.1.1', forward: 'masq' }] }] }, failover: f as DirectorFailoverConfig });

function problems(value: unknown): string[] {
  try {
    validateDirectorConfig(value);
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidArgumentError);
    return (e as InvalidArgumentError).problems;
  }
  throw new Error('expected the configuration to be refused');
}

describe('failover section', () => {
  it('takes a valid section as it is', () => {
    expect(validateDirectorConfig(base(failover())).config.failover).toEqual(failover());
    expect(() => validateDirectorConfig(base({ ...failover(), keys: undefined, keysFile: '/etc/ha.d/authkeys', peers: [{ nodeId: 2 }], multicast: { group: '239.0.0.94', interface: 'eth1' } }))).not.toThrow();
  });

  it('names every bad field', () => {
    const p = problems(base({ nodeId: 0, priority: 255, peers: [{ nodeId: 0, address: 'x' }], keys: { 1: 'short' }, keysFile: 'f', deadMs: 50, intervalMs: 100, extra: true, pingTrackers: [{ nodes: [] }] }));
    const fields = p.map((x) => x.slice(0, x.indexOf(':')));
    expect(fields).toEqual(expect.arrayContaining(['failover.extra', 'failover.nodeId', 'failover.priority', 'failover.deadMs', 'failover.stateFile', 'failover.peers[0].nodeId', 'failover.peers[0].address', 'failover.keysFile', 'failover.pingTrackers[0].nodes']));
  });

  it('checks inline keys with the heartbeat module (length) and the multicast group', () => {
    expect(problems(base({ ...failover(), keys: { 1: 'short' } })).join('\n')).toMatch(/^failover\.keys\.1: /m);
    expect(problems(base({ ...failover(), peers: [{ nodeId: 2 }], multicast: { group: '10.0.0.1', interface: 'eth0' } })).join('\n')).toMatch(/failover\.multicast\.group: must be an IPv4 multicast address/);
    expect(problems(base({ ...failover(), peers: [{ nodeId: 2 }] }))).toEqual(['failover.peers[0].address: missing (needed without multicast)']);
  });

  it('restarts the election only when its settings or the VIPs change', () => {
    const host = { vips: ['192.0.2.10'], interface: 'eth0' };
    expect(failoverIdentity(failover(), host)).toBe(failoverIdentity(failover(), { ...host }));
    expect(failoverIdentity(failover(), host)).not.toBe(failoverIdentity({ ...failover(), priority: 100 }, host));
    expect(failoverIdentity(failover(), host)).not.toBe(failoverIdentity(failover(), { ...host, vips: ['192.0.2.11'] }));
  });
});

describe('StandbyIpvs', () => {
  const calls: string[] = [];
  const real = new Proxy({}, { get: (_t, name) => async () => void calls.push(String(name)) }) as HealthIpvs;

  it('keeps a backup table in memory, passes through to the kernel while active', async () => {
    const g = new StandbyIpvs(real, false);
    await expect(g.getService(svc)).rejects.toMatchObject({ code: 'ESRCH' });
    await g.addService({ ...svc, scheduler: 'rr' });
    await g.runOperations([{ op: 'add-destination', service: svc, destination: { address: '10.0.1.1', port: 80, weight: 3 } }]);
    await g.updateDestination(svc, { address: '10.0.1.1', port: 80, weight: 0 });
    expect((await g.listDestinations(svc)).map((d) => [d.address, d.port, d.weight])).toEqual([['10.0.1.1', 80, 0]]);
    expect(calls).toEqual([]);
    g.setActive(true);
    await g.listDestinations(svc);
    await g.runOperations([]);
    expect(calls).toEqual(['listDestinations', 'runOperations']);
    g.setActive(false);
    await expect(g.listDestinations(svc)).rejects.toMatchObject({ code: 'ESRCH' });
  });
});

describe('draftFailover (imported failover settings)', () => {
  it('maps a keepalived vrrp_instance where it maps cleanly, and lists the rest', () => {
    const d = draftFailover('keepalived', { vrrpInstances: [{ state: 'master', interface: 'eth0', virtualRouterId: 51, priority: 150, advertIntMs: 1000, preempt: false, unicastSource: '10.0.0.1', unicastPeers: ['10.0.0.2'], authentication: { type: 'PASS', password: 'x' }, virtualAddresses: [{ address: '192.0.2.10/32', interface: 'eth0' }] }] })!;
    expect(d.failover).toEqual({ priority: 150, preempt: false, intervalMs: 1000, deadMs: 3000, cluster: 51, bindAddress: '10.0.0.1', peers: [{ nodeId: 0, address: '10.0.0.2' }] });
    expect(d.host).toEqual({ vips: ['192.0.2.10'], interface: 'eth0' });
    expect(d.missing).toEqual(['nodeId', 'keysFile or keys', 'stateFile', 'peers[].nodeId']);
    expect(d.notMapped.join('\n')).toMatch(/state MASTER[\s\S]*authentication/);
  });

  it('maps lvs.cf heartbeat settings for the primary', () => {
    const d = draftFailover('lvs', { primary: '10.0.0.1', backup: '10.0.0.2', keepaliveMs: 2000, deadtimeMs: 6000, heartbeatPort: 539, syncDaemon: true, syncInterface: 'eth1', syncId: 7, natRouter: { address: '10.0.0.254' } })!;
    expect(d.failover).toEqual({ nodeId: 1, priority: 200, bindAddress: '10.0.0.1', peers: [{ nodeId: 2, address: '10.0.0.2' }], intervalMs: 2000, deadMs: 6000, port: 539, syncDaemon: { interface: 'eth1', syncId: 7 } });
    expect(d.notMapped).toEqual(['natRouter ({"address":"10.0.0.254"})']);
    expect(failoverDraftWarning('lvs', { primary: '10.0.0.1' })).toMatch(/still needed in "failover": keysFile or keys, stateFile, peers/);
    expect(draftFailover('ldirectord', {})).toBeUndefined();
  });
});
