import { describe, expect, it } from 'vitest';
import { takeoverTable } from '../../../src/director/owned-table.js';
import type { DesiredState } from '../../../src/ipvs/state.js';
import type { Destination, ServiceKey } from '../../../src/ipvs/types.js';

const ZERO = { connections: 0n, inPackets: 0n, outPackets: 0n, inBytes: 0n, outBytes: 0n, cps: 0, inPps: 0, outPps: 0, inBps: 0, outBps: 0 };
const mem = (address: string, port: number, weight: number): Destination => ({
  address, family: 'ipv4', port, weight, forward: 'route', upperThreshold: 0, lowerThreshold: 0,
  activeConnections: 0, inactiveConnections: 0, persistentConnections: 0, stats: { ...ZERO },
});

const table: DesiredState = {
  services: [
    { protocol: 'tcp', address: '192.0.2.10', port: 80, scheduler: 'rr', destinations: [
      { address: '10.0.0.1', forward: 'route', weight: 5 },
      { address: '10.0.0.2', forward: 'route', weight: 5 },
      { address: '10.0.0.3', forward: 'route', weight: 5 },
    ] },
    { protocol: 'udp', address: '192.0.2.10', port: 53, scheduler: 'rr', destinations: [{ address: '10.0.0.1', forward: 'route', weight: 2 }] },
  ],
};

describe('takeoverTable', () => {
  it('takes the weights the backup remembered, leaves unplaced destinations to the checkers, keeps an active sorry server', () => {
    const remembered = (s: ServiceKey) =>
      'port' in s && s.port === 80 ? [mem('10.0.0.1', 80, 5), mem('10.0.0.2', 80, 0), mem('10.0.0.9', 8080, 1)] : undefined;
    const out = takeoverTable(table, remembered);
    expect(out.services[0]!.destinations).toEqual([
      { address: '10.0.0.1', forward: 'route', weight: 5 },
      { address: '10.0.0.2', forward: 'route', weight: 0 }, // down on the backup: stays at 0
      // 10.0.0.3 never placed by the checkers (removed while down, or not checked yet): left to them
      { address: '10.0.0.9', port: 8080, weight: 1, forward: 'route', upperThreshold: 0, lowerThreshold: 0 }, // the sorry server
    ]);
    expect(out.services[1]).toBe(table.services[1]); // nothing remembered: as configured
  });

  it('is the configured table when nothing is remembered', () => {
    expect(takeoverTable(table, () => undefined)).toEqual(table);
  });
});
