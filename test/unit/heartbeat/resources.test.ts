// Resource factories: validation before anything is opened, and the hook's
// once-per-transition contract inside a Failover.
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../../src/errors.js';
import { hook, ipvsTable, syncDaemon, vip } from '../../../src/heartbeat/resources.js';

describe('resources', () => {
  it('refuse bad options naming the field, before opening anything', () => {
    expect(() => vip({ address: '', interface: 'eth0' })).toThrow(/^address/);
    expect(() => vip({ address: '10.0.0.1/24', interface: '' })).toThrow(/^interface/);
    expect(() => ipvsTable({} as never)).toThrow(/desired\.services/);
    expect(() => syncDaemon({} as never)).toThrow(InvalidArgumentError);
    expect(() => hook(42 as never)).toThrow(/^hook/);
  });

  it('name themselves for events and fault reasons', () => {
    expect(vip({ address: '10.0.0.1/24', interface: 'eth0' }).name).toBe('vip 10.0.0.1/24 on eth0');
    expect(syncDaemon({ interface: 'eth1', syncId: 3 }).name).toBe('sync daemon on eth1');
    expect(ipvsTable({ services: [] }).standby).toBeUndefined();
    expect(ipvsTable({ services: [] }, { onBackup: true }).standby).toBeTypeOf('function');
    const s = syncDaemon({ interface: 'eth1' });
    for (const m of ['acquire', 'release', 'standby', 'leaveStandby'] as const) expect(s[m]).toBeTypeOf('function');
  });
});
