// The Prometheus text format and the IPVS families, from a captured table.
import { afterEach, describe, expect, it } from 'vitest';
import { Ipvs } from '../../../src/ipvs/client.js';
import { formatExposition, escapeLabelValue } from '../../../src/metrics/exposition.js';
import { ipvsMetricFamilies, metrics } from '../../../src/metrics/ipvs.js';
import { MetricsRegistry } from '../../../src/metrics/registry.js';
import { replayKernel } from '../../fixtures/ipvs/fixtures.js';

let clients: Ipvs[] = [];
afterEach(async () => {
  for (const c of clients) await c.close();
  clients = [];
});

describe('formatExposition', () => {
  it('HELP and TYPE before the samples; label values and help escaped', () => {
    const text = formatExposition([
      { name: 'a_total', help: 'Line one\nback\\slash', type: 'counter', samples: [{ labels: { path: 'C:\\x "q"\nz' }, value: 18446744073709551615n }] },
      { name: 'b', help: 'B.', type: 'gauge', samples: [{ value: NaN }, { labels: { k: 'v' }, value: Infinity }, { value: -Infinity }, { value: 0.5 }] },
    ]);
    expect(text).toBe(
      '# HELP a_total Line one\\nback\\\\slash\n# TYPE a_total counter\na_total{path="C:\\\\x \\"q\\"\\nz"} 18446744073709551615\n' +
        '# HELP b B.\n# TYPE b gauge\nb NaN\nb{k="v"} +Inf\nb -Inf\nb 0.5\n',
    );
    expect(escapeLabelValue('plain')).toBe('plain');
  });

  it('refuses invalid metric and label names and a family given twice', () => {
    expect(() => formatExposition([{ name: '1bad', help: '', type: 'gauge', samples: [] }])).toThrow(/1bad/);
    expect(() => formatExposition([{ name: 'ok', help: '', type: 'gauge', samples: [{ labels: { 'bad-label': 'x' }, value: 1 }] }])).toThrow(/bad-label/);
    expect(() => formatExposition([{ name: 'ok', help: '', type: 'gauge', samples: [{ labels: { __reserved: 'x' }, value: 1 }] }])).toThrow(/__reserved/);
    const f = { name: 'twice', help: '', type: 'gauge' as const, samples: [] };
    expect(() => formatExposition([f, f])).toThrow(/twice/);
  });
});

describe('MetricsRegistry', () => {
  it('collects every registered collector once per scrape, in registration order; names are unique', async () => {
    const registry = new MetricsRegistry();
    let calls = 0;
    registry.register('one', () => {
      calls++;
      return [{ name: 'one', help: 'One.', type: 'gauge', samples: [{ value: 1 }] }];
    });
    registry.register('two', async () => [{ name: 'two', help: 'Two.', type: 'gauge', samples: [{ value: 2 }] }]);
    expect(() => registry.register('one', () => [])).toThrow(/already registered/);
    const text = await registry.exposition();
    expect(text.indexOf('one 1')).toBeLessThan(text.indexOf('two 2'));
    expect(calls).toBe(1);
    expect(registry.unregister('two')).toBe(true);
    expect(await registry.exposition()).not.toContain('two');
  });
});

describe('IPVS families', () => {
  it('one table read per scrape: a service dump and one destination dump per service, nothing per destination', async () => {
    const kernel = replayKernel();
    const ipvs = await Ipvs.open({ socketFactory: kernel.factory });
    clients.push(ipvs);
    const table = await ipvs.table();
    const before = kernel.ipvsRequests.length;
    const text = await metrics(ipvs);
    expect(kernel.ipvsRequests.length - before).toBe(1 + table.length);
    expect(kernel.unmatched).toEqual([]);
    // node_exporter's names, types and label set.
    for (const n of ['connections_total', 'incoming_packets_total', 'outgoing_packets_total', 'incoming_bytes_total', 'outgoing_bytes_total']) {
      expect(text).toContain(`# TYPE node_ipvs_${n} counter\n`);
    }
    for (const n of ['backend_connections_active', 'backend_connections_inactive', 'backend_weight']) expect(text).toContain(`# TYPE node_ipvs_${n} gauge\n`);
    const families = ipvsMetricFamilies(table);
    const total = table.reduce((n, e) => n + e.service.stats.connections, 0n);
    expect(families.find((f) => f.name === 'node_ipvs_connections_total')!.samples).toEqual([{ value: total }]);
    const weights = families.find((f) => f.name === 'node_ipvs_backend_weight')!.samples;
    expect(weights).toHaveLength(table.reduce((n, e) => n + e.destinations.length, 0));
    for (const s of weights) expect(Object.keys(s.labels!)).toEqual(['local_address', 'local_port', 'remote_address', 'remote_port', 'proto', 'local_mark']);
    const fwm = table.find((e) => 'fwmark' in e.service && e.destinations.length)!;
    const mark = (fwm.service as { fwmark: number }).fwmark;
    expect(weights).toContainEqual({
      labels: { local_address: '', local_port: '0', remote_address: fwm.destinations[0]!.address, remote_port: String(fwm.destinations[0]!.port), proto: 'FWM', local_mark: mark.toString(16).toUpperCase().padStart(8, '0') },
      value: fwm.destinations[0]!.weight,
    });
  });

  it('sums equal label sets as node_exporter does (an IPv4 and an IPv6 fwmark service with the same real server)', () => {
    const stats = { connections: 1n, inPackets: 2n, outPackets: 3n, inBytes: 4n, outBytes: 5n, cps: 0, inPps: 0, outPps: 0, inBps: 0, outBps: 0 };
    const dest = { address: '10.0.0.1', family: 'ipv4' as const, port: 0, weight: 2, forward: 'route' as const, upperThreshold: 0, lowerThreshold: 0, activeConnections: 1, inactiveConnections: 2, persistentConnections: 0, stats };
    const svc = (family: 'ipv4' | 'ipv6') => ({ fwmark: 5, family, scheduler: 'rr', schedulerFlags: [], onePacket: false, flags: 2, stats });
    const families = ipvsMetricFamilies([
      { service: svc('ipv4'), destinations: [dest] },
      { service: svc('ipv6'), destinations: [dest] },
    ]);
    expect(families.find((f) => f.name === 'node_ipvs_backend_weight')!.samples).toEqual([
      { labels: { local_address: '', local_port: '0', remote_address: '10.0.0.1', remote_port: '0', proto: 'FWM', local_mark: '00000005' }, value: 4 },
    ]);
    expect(families.find((f) => f.name === 'node_ipvs_incoming_bytes_total')!.samples).toEqual([{ value: 8n }]);
    expect(families.find((f) => f.name === 'ipvs_backend_incoming_bytes_total')!.samples).toHaveLength(2);
  });
});
