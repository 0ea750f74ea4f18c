/**
 * IPVS metric families from one read of the table (`Ipvs.table()`: a service
 * dump and one dump series for all destinations, whatever their number).
 *
 * The `node_ipvs_*` families keep node_exporter's IPVS collector names,
 * labels and types (prometheus/node_exporter collector/ipvs_linux.go), so
 * existing dashboards keep working; `ipvs_service_*` and `ipvs_backend_*`
 * add what node_exporter does not give: per-service and per-destination
 * counters and the kernel's rate estimates.
 * @module
 */
import type { Ipvs, TableEntry } from '../ipvs/client.js';
import type { Destination, Service, Stats } from '../ipvs/types.js';
import type { MetricFamily, MetricSample } from './exposition.js';
import { MetricsRegistry } from './registry.js';

const PROTO = { tcp: 'TCP', udp: 'UDP', sctp: 'SCTP' } as const;

/**
 * A service's labels as node_exporter writes them from /proc/net/ip_vs:
 * `proto` TCP/UDP/SCTP or FWM; for a fwmark service an empty address, port 0
 * and the mark as 8 upper-case hex digits (the kernel's `%08X`).
 */
export function serviceLabels(s: Service): Record<string, string> {
  if ('fwmark' in s) return { local_address: '', local_port: '0', proto: 'FWM', local_mark: (s.fwmark >>> 0).toString(16).toUpperCase().padStart(8, '0') };
  return { local_address: s.address, local_port: String(s.port), proto: PROTO[s.protocol], local_mark: '' };
}

/** node_exporter's backend labels, in its order. */
function backendLabels(s: Record<string, string>, d: Destination): Record<string, string> {
  return { local_address: s.local_address!, local_port: s.local_port!, remote_address: d.address, remote_port: String(d.port), proto: s.proto!, local_mark: s.local_mark! };
}

const COUNTERS: { key: keyof Stats; node: string; what: string }[] = [
  { key: 'connections', node: 'connections_total', what: 'connections' },
  { key: 'inPackets', node: 'incoming_packets_total', what: 'incoming packets' },
  { key: 'outPackets', node: 'outgoing_packets_total', what: 'outgoing packets' },
  { key: 'inBytes', node: 'incoming_bytes_total', what: 'incoming bytes' },
  { key: 'outBytes', node: 'outgoing_bytes_total', what: 'outgoing bytes' },
];

const RATES: { key: keyof Stats; name: string; what: string }[] = [
  { key: 'cps', name: 'connections_per_second', what: 'connections per second' },
  { key: 'inPps', name: 'incoming_packets_per_second', what: 'incoming packets per second' },
  { key: 'outPps', name: 'outgoing_packets_per_second', what: 'outgoing packets per second' },
  { key: 'inBps', name: 'incoming_bytes_per_second', what: 'incoming bytes per second' },
  { key: 'outBps', name: 'outgoing_bytes_per_second', what: 'outgoing bytes per second' },
];

/**
 * The IPVS metric families of a table read with `Ipvs.table()`. Pure.
 *
 * - `node_ipvs_connections_total`, `node_ipvs_{incoming,outgoing}_{packets,bytes}_total`
 *   (counters, no labels): node_exporter reads the kernel's global totals;
 *   here they are the sums over the services present (equal while no service
 *   with traffic has been deleted).
 * - `node_ipvs_backend_connections_active`, `..._inactive`, `node_ipvs_backend_weight`
 *   (gauges) with `local_address`, `local_port`, `remote_address`, `remote_port`,
 *   `proto`, `local_mark`, summed over equal label sets as node_exporter does.
 * - `ipvs_service_*_total` / `ipvs_backend_*_total` counters and
 *   `ipvs_service_*_per_second` / `ipvs_backend_*_per_second` rate gauges
 *   (the kernel's estimator, 2-second granularity), plus
 *   `ipvs_backend_connections_persistent` and `ipvs_services` / `ipvs_backends`.
 */
export function ipvsMetricFamilies(table: readonly TableEntry[]): MetricFamily[] {
  const totals = COUNTERS.map(() => 0n);
  const serviceCounters = COUNTERS.map(() => [] as MetricSample[]);
  const serviceRates = RATES.map(() => [] as MetricSample[]);
  const backendCounters = COUNTERS.map(() => [] as MetricSample[]);
  const backendRates = RATES.map(() => [] as MetricSample[]);
  const sums = new Map<string, { labels: Record<string, string>; active: number; inactive: number; weight: number }>();
  const persistent: MetricSample[] = [];
  let backends = 0;
  for (const { service, destinations } of table) {
    const sl = serviceLabels(service);
    COUNTERS.forEach((c, i) => {
      const v = service.stats[c.key] as bigint;
      totals[i]! += v;
      serviceCounters[i]!.push({ labels: sl, value: v });
    });
    RATES.forEach((r, i) => serviceRates[i]!.push({ labels: sl, value: service.stats[r.key] as number }));
    for (const d of destinations) {
      backends++;
      const bl = backendLabels(sl, d);
      const key = JSON.stringify(bl);
      const sum = sums.get(key) ?? { labels: bl, active: 0, inactive: 0, weight: 0 };
      sum.active += d.activeConnections;
      sum.inactive += d.inactiveConnections;
      sum.weight += d.weight;
      sums.set(key, sum);
      COUNTERS.forEach((c, i) => backendCounters[i]!.push({ labels: bl, value: d.stats[c.key] as bigint }));
      RATES.forEach((r, i) => backendRates[i]!.push({ labels: bl, value: d.stats[r.key] as number }));
      persistent.push({ labels: bl, value: d.persistentConnections });
    }
  }
  const summed = [...sums.values()];
  const out: MetricFamily[] = [];
  COUNTERS.forEach((c, i) => out.push({ name: `node_ipvs_${c.node}`, help: `The total number of ${c.what}, summed over the IPVS services.`, type: 'counter', samples: [{ value: totals[i]! }] }));
  out.push(
    { name: 'node_ipvs_backend_connections_active', help: 'The current active connections by local and remote address.', type: 'gauge', samples: summed.map((s) => ({ labels: s.labels, value: s.active })) },
    { name: 'node_ipvs_backend_connections_inactive', help: 'The current inactive connections by local and remote address.', type: 'gauge', samples: summed.map((s) => ({ labels: s.labels, value: s.inactive })) },
    { name: 'node_ipvs_backend_weight', help: 'The current backend weight by local and remote address.', type: 'gauge', samples: summed.map((s) => ({ labels: s.labels, value: s.weight })) },
    { name: 'ipvs_services', help: 'Number of IPVS virtual services.', type: 'gauge', samples: [{ value: table.length }] },
    { name: 'ipvs_backends', help: 'Number of IPVS destinations (real servers) over all services.', type: 'gauge', samples: [{ value: backends }] },
  );
  COUNTERS.forEach((c, i) => out.push({ name: `ipvs_service_${c.node}`, help: `Total ${c.what} of the virtual service.`, type: 'counter', samples: serviceCounters[i]! }));
  RATES.forEach((r, i) => out.push({ name: `ipvs_service_${r.name}`, help: `The kernel's estimate of ${r.what} of the virtual service.`, type: 'gauge', samples: serviceRates[i]! }));
  COUNTERS.forEach((c, i) => out.push({ name: `ipvs_backend_${c.node}`, help: `Total ${c.what} of the destination.`, type: 'counter', samples: backendCounters[i]! }));
  RATES.forEach((r, i) => out.push({ name: `ipvs_backend_${r.name}`, help: `The kernel's estimate of ${r.what} of the destination.`, type: 'gauge', samples: backendRates[i]! }));
  out.push({ name: 'ipvs_backend_connections_persistent', help: 'Persistence templates pointing at the destination.', type: 'gauge', samples: persistent });
  return out;
}

/**
 * A collector for a {@link MetricsRegistry}: each call reads the table once
 * (`Ipvs.table()`) and returns its families.
 * @example
 * ```ts
 * registry.register('ipvs', ipvsCollector(ipvs));
 * ```
 */
export function ipvsCollector(ipvs: Pick<Ipvs, 'table'>): () => Promise<MetricFamily[]> {
  return async () => ipvsMetricFamilies(await ipvs.table());
}

/**
 * One scrape of the IPVS table in the Prometheus text exposition format
 * (serve it with `Content-Type: text/plain; version=0.0.4`). Reads the table
 * once, whatever its size. For more families (health checks, heartbeat) use
 * a {@link MetricsRegistry} with {@link ipvsCollector}.
 * @example
 * ```ts
 * http.createServer(async (_req, res) => res.end(await metrics(ipvs))).listen(9101);
 * ```
 */
export async function metrics(ipvs: Pick<Ipvs, 'table'>): Promise<string> {
  const registry = new MetricsRegistry();
  registry.register('ipvs', ipvsCollector(ipvs));
  return registry.exposition();
}
