// The batch path's direct writers against the table-driven encoder: the bytes
// must be the same, whatever the destination holds.
import { describe, expect, it } from 'vitest';
import { commandTable } from '../../../src/ipvs/attributes.js';
import { KeyCache, planSource, wireOperation, writeOperation, writeWire } from '../../../src/ipvs/bulk.js';
import { destinationAttributes, serviceKeyAttributes, writeDestinationNest, writeServiceKeyNest } from '../../../src/ipvs/codec.js';
import { diffStates, diffStatesWithNormals, type DesiredState } from '../../../src/ipvs/state.js';
import type { DestinationSpec, ServiceSpec } from '../../../src/ipvs/types.js';
import { normalizeDestination, normalizeServiceSpec } from '../../../src/ipvs/validate.js';
import { encodeAttributes } from '../../../src/netlink/schema.js';
import { Writer } from '../../../src/netlink/writer.js';

const SERVICES: ServiceSpec[] = [
  { protocol: 'tcp', address: '192.0.2.10', port: 80, scheduler: 'wlc' },
  { protocol: 'udp', address: '2001:db8::10', port: 53, scheduler: 'rr' },
  { fwmark: 7, scheduler: 'sh', schedulerFlags: ['sh-port'], persistence: { timeout: 300, netmask: 24 } },
  { fwmark: 9, family: 'ipv6', scheduler: 'mh' },
];

const DESTINATIONS: DestinationSpec[] = [
  { address: '192.0.2.21', port: 8080, forward: 'masq', weight: 3 },
  { address: '192.0.2.22', forward: 'route', weight: 0 },
  { address: '192.0.2.23', forward: 'local', upperThreshold: 100, lowerThreshold: 10 },
  { address: '192.0.2.24', forward: 'tunnel', tunnel: { type: 'ipip' } },
  { address: '192.0.2.25', forward: 'tunnel', tunnel: { type: 'gue', port: 6080, checksum: 'remcsum' } },
  { address: '192.0.2.26', forward: 'tunnel', tunnel: { type: 'gre', checksum: 'csum' }, weight: 0x7fffffff },
  { address: '2001:db8::21', forward: 'tunnel', tunnel: { type: 'gue', port: 1, checksum: 'csum' }, upperThreshold: 0xffffffff },
  { address: '192.0.2.27', port: 0, forward: 'bypass' },
];

/** Destinations valid for a service: same family unless tunnelled, and route/tunnel keep the service port. */
function destinationsFor(service: ServiceSpec): DestinationSpec[] {
  const svc = normalizeServiceSpec(service);
  const out: DestinationSpec[] = [];
  for (const d of DESTINATIONS) {
    try {
      normalizeDestination(d, svc);
      out.push(d);
    } catch {
      // Not valid with this service (e.g. an IPv4 masq destination of an IPv6 service).
    }
  }
  return out;
}

const bytes = (fill: (w: Writer) => void): Buffer => {
  const w = new Writer(64);
  fill(w);
  return w.toBuffer();
};

describe('writeDestinationNest', () => {
  it('writes what the table encoder writes for destinationAttributes, for every kind of destination', () => {
    let compared = 0;
    for (const service of SERVICES) {
      const svc = normalizeServiceSpec(service);
      for (const spec of destinationsFor(service)) {
        const d = normalizeDestination(spec, svc);
        const direct = bytes((w) => writeDestinationNest(w, d));
        const table = bytes((w) => encodeAttributes(w, commandTable, { destination: destinationAttributes(d) }));
        expect(direct.toString('hex'), JSON.stringify(spec)).toBe(table.toString('hex'));
        compared++;
      }
    }
    // Every destination spec was valid with at least one service.
    expect(compared).toBeGreaterThanOrEqual(DESTINATIONS.length);
  });
});

describe('writeServiceKeyNest', () => {
  it('writes what the table encoder writes for serviceKeyAttributes, for address and fwmark services of both families', () => {
    for (const service of SERVICES) {
      const k = normalizeServiceSpec(service);
      const direct = bytes((w) => writeServiceKeyNest(w, k));
      const table = bytes((w) => encodeAttributes(w, commandTable, { service: serviceKeyAttributes(k) }));
      expect(direct.toString('hex'), JSON.stringify(service)).toBe(table.toString('hex'));
    }
  });
});

describe('writeOperation', () => {
  it('writes each operation of a plan as the generic path would, the direct destination path included', () => {
    const live: DesiredState = {
      services: [{ ...SERVICES[0]!, destinations: [{ address: '192.0.2.21', port: 8080, forward: 'masq', weight: 1 }, { address: '192.0.2.99', port: 80, forward: 'masq' }] }],
    };
    const desired: DesiredState = { services: SERVICES.map((s) => ({ ...s, destinations: destinationsFor(s) })) };
    const plan = diffStatesWithNormals(live, desired);
    const kinds = new Set(plan.operations.map((o) => o.op));
    expect([...kinds].sort()).toEqual(['add-destination', 'add-service', 'delete-destination', 'update-destination']);
    // Every add and update carries its normalised form; the direct path is taken for destinations.
    plan.operations.forEach((op, i) => expect(plan.normals[i] !== undefined, op.op).toBe(op.op.startsWith('add') || op.op.startsWith('update')));
    const keys = new KeyCache();
    plan.operations.forEach((op, i) => {
      const direct = bytes((w) => writeOperation(w, op, new KeyCache(), plan.normals[i]));
      const generic = bytes((w) => writeWire(w, wireOperation(op, keys)));
      expect(direct.toString('hex'), `${op.op} ${JSON.stringify(op)}`).toBe(generic.toString('hex'));
    });
    // The operations themselves hold no normalised forms (a caller keeping them keeps nothing more).
    expect(Object.getOwnPropertySymbols(plan.operations[0]!)).toEqual([]);
    expect('normals' in diffStates(live, desired)).toBe(false);
  });

  it('planSource words a failure by the operation and marks only stop-daemon as a daemon stop', () => {
    const ops = diffStates(
      { services: [], daemons: [{ state: 'backup', interface: 'eth0', syncId: 1 }] },
      { services: [{ ...SERVICES[0]!, destinations: [DESTINATIONS[0]!] }], daemons: [] },
    ).operations;
    const source = planSource(ops);
    expect(source.count).toBe(3);
    expect(ops.map((_, i) => source.stopsDaemon(i))).toEqual(['backup', undefined, undefined]);
    expect(source.context(2)).toMatchObject({ operation: 'addDestination', object: 'destination 192.0.2.21:8080', service: 'TCP 192.0.2.10:80' });
  });
});
