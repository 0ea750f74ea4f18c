/**
 * The daemon's Prometheus metrics: the IPVS table (node_exporter's names, one
 * table read per scrape), the health of each checked destination with its
 * last check's latency, and the daemon's own counters; and the HTTP server
 * that serves them on `/metrics`.
 * @module
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Ipvs } from '../ipvs/client.js';
import type { NormalServiceKey } from '../ipvs/validate.js';
import { EXPOSITION_CONTENT_TYPE, type MetricFamily, type MetricSample } from '../metrics/exposition.js';
import { ipvsCollector } from '../metrics/ipvs.js';
import { MetricsRegistry } from '../metrics/registry.js';
import type { DestinationState } from '../health/checker-types.js';
import type { Director } from './director.js';

const STATES: DestinationState[] = ['up', 'down', 'unknown', 'maintenance', 'draining'];

/** node_exporter's service labels from a normalised key (as `serviceLabels` gives them for a live service). */
function keyLabels(k: NormalServiceKey): Record<string, string> {
  if (k.fwmark !== undefined) return { local_address: '', local_port: '0', proto: 'FWM', local_mark: (k.fwmark >>> 0).toString(16).toUpperCase().padStart(8, '0') };
  return { local_address: k.address!, local_port: String(k.port), proto: k.protocol!.toUpperCase(), local_mark: '' };
}

/**
 * The health and daemon families of a director, from memory (no kernel read):
 * - `ipvs_ts_destination_up` (gauge): 1 when the destination's checks say up;
 * - `ipvs_ts_destination_state` (gauge): 1 for the destination's current state (label `state`), 0 for the others;
 * - `ipvs_ts_destination_check_latency_seconds` (gauge): the last check's duration;
 * - `ipvs_ts_service_sorry_active`, `ipvs_ts_service_quorum` (gauges, per checked service);
 * - `ipvs_ts_reloads_total`, `ipvs_ts_reload_failures_total`, `ipvs_ts_operations_total` (counters);
 * - `ipvs_ts_reload_rollbacks_total` (counter, label `result`: `complete` when a reload the kernel
 *   refused part-way was undone whole, `incomplete` when the undo was refused too or the outcome is unknown).
 *
 * Destination labels are node_exporter's backend labels.
 */
export function directorMetricFamilies(director: Director): MetricFamily[] {
  const up: MetricSample[] = [];
  const state: MetricSample[] = [];
  const latency: MetricSample[] = [];
  const sorry: MetricSample[] = [];
  const quorum: MetricSample[] = [];
  const services = director.config?.normal.services;
  for (const [id, status] of director.health()) {
    const norm = services?.get(id)?.norm;
    if (!norm) continue;
    const sl = keyLabels(norm);
    sorry.push({ labels: sl, value: status.sorryActive ? 1 : 0 });
    if (status.quorum !== undefined) quorum.push({ labels: sl, value: status.quorum ? 1 : 0 });
    for (const d of status.destinations) {
      const bl = { local_address: sl.local_address!, local_port: sl.local_port!, remote_address: d.address, remote_port: String(d.port), proto: sl.proto!, local_mark: sl.local_mark! };
      up.push({ labels: bl, value: d.state === 'up' ? 1 : 0 });
      for (const s of STATES) state.push({ labels: { ...bl, state: s }, value: d.state === s ? 1 : 0 });
      if (d.last) latency.push({ labels: bl, value: d.last.latencyMs / 1000 });
    }
  }
  const c = director.counters;
  return [
    ...failoverFamilies(director),
    { name: 'ipvs_ts_destination_up', help: 'Whether the destination is up by its health checks (1) or not (0).', type: 'gauge', samples: up },
    { name: 'ipvs_ts_destination_state', help: 'The destination state (up, down, unknown, maintenance, draining): 1 for the current one.', type: 'gauge', samples: state },
    { name: 'ipvs_ts_destination_check_latency_seconds', help: 'Duration of the last health check of the destination.', type: 'gauge', samples: latency },
    { name: 'ipvs_ts_service_sorry_active', help: 'Whether the sorry server of the service is in the table.', type: 'gauge', samples: sorry },
    { name: 'ipvs_ts_service_quorum', help: 'Whether the service has quorum (services with a quorum setting).', type: 'gauge', samples: quorum },
    { name: 'ipvs_ts_reloads_total', help: 'Configuration reloads carried out.', type: 'counter', samples: [{ value: c.reloads }] },
    { name: 'ipvs_ts_reload_failures_total', help: 'Configuration reloads refused (invalid) or failed.', type: 'counter', samples: [{ value: c.reloadFailures }] },
    {
      name: 'ipvs_ts_reload_rollbacks_total',
      help: 'Reloads the kernel refused part-way, by whether what had been applied was undone whole (complete) or not (incomplete).',
      type: 'counter',
      samples: [
        { labels: { result: 'complete' }, value: c.reloadRollbacks },
        { labels: { result: 'incomplete' }, value: c.reloadRollbackFailures },
      ],
    },
    { name: 'ipvs_ts_operations_total', help: 'Operations the daemon sent to the kernel on start, reload and stop.', type: 'counter', samples: [{ value: c.operations }] },
  ];
}

const ELECTION_STATES = ['init', 'backup', 'master', 'fault', 'stopped'] as const;

/**
 * The election and heartbeat families (none without `failover`):
 * - `ipvs_ts_election_state` (gauge): 1 for the current state (label `state`), 0 for the others;
 * - `ipvs_ts_election_priority` (gauge), `ipvs_ts_election_transitions_total` (counter);
 * - `ipvs_ts_heartbeat_peer_up` (gauge, label `node`): 1 while the peer is heard;
 * - `ipvs_ts_heartbeat_packets_sent_total`, `..._received_total`, `..._accepted_total`,
 *   `ipvs_ts_heartbeat_send_errors_total` (counters);
 * - `ipvs_ts_heartbeat_packets_dropped_total` (counter, label `reason`: the heartbeat module's drop reasons).
 */
export function failoverFamilies(director: Director): MetricFamily[] {
  const f = director.failover;
  if (!f) return [];
  const st = f.stats();
  const counter = (name: string, help: string, value: number): MetricFamily => ({ name, help, type: 'counter', samples: [{ value }] });
  return [
    { name: 'ipvs_ts_election_state', help: 'The election state of this director (init, backup, master, fault, stopped): 1 for the current one.', type: 'gauge', samples: ELECTION_STATES.map((s) => ({ labels: { state: s }, value: f.state === s ? 1 : 0 })) },
    { name: 'ipvs_ts_election_priority', help: 'The effective election priority (base plus trackers).', type: 'gauge', samples: [{ value: f.priority }] },
    counter('ipvs_ts_election_transitions_total', 'Election transitions handled.', f.transitions),
    { name: 'ipvs_ts_heartbeat_peer_up', help: 'Whether the peer is heard (1) or late, dead or not heard yet (0).', type: 'gauge', samples: [...f.peers()].map(([node, state]) => ({ labels: { node: String(node) }, value: state === 'up' ? 1 : 0 })) },
    counter('ipvs_ts_heartbeat_packets_sent_total', 'Heartbeat packets sent.', st.sent),
    counter('ipvs_ts_heartbeat_send_errors_total', 'Heartbeat packets that could not be sent.', st.sendErrors),
    counter('ipvs_ts_heartbeat_packets_received_total', 'Heartbeat datagrams received.', st.received),
    counter('ipvs_ts_heartbeat_packets_accepted_total', 'Heartbeat packets accepted (authenticated, in sequence, from a peer).', st.accepted),
    { name: 'ipvs_ts_heartbeat_packets_dropped_total', help: 'Heartbeat datagrams rejected, by reason.', type: 'counter', samples: Object.entries(st.dropped).map(([reason, value]) => ({ labels: { reason }, value })) },
  ];
}

/** A registry with the IPVS table (one `Ipvs.table()` per scrape) and the director's families. */
export function directorRegistry(ipvs: Pick<Ipvs, 'table'>, director: Director): MetricsRegistry {
  const registry = new MetricsRegistry();
  registry.register('ipvs', ipvsCollector(ipvs));
  registry.register('director', () => directorMetricFamilies(director));
  return registry;
}

/**
 * Serve `registry` on `http://HOST:PORT/metrics` (anything else is 404).
 * Resolves once listening, with the server and the address bound (port 0
 * picks a free one).
 * @example
 * ```ts
 * const { server } = await serveMetrics(directorRegistry(ipvs, director), { host: '127.0.0.1', port: 9101 });
 * ```
 */
export async function serveMetrics(registry: MetricsRegistry, listen: { host: string; port: number }): Promise<{ server: http.Server; address: AddressInfo }> {
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '/').split('?')[0] !== '/metrics') {
      res.statusCode = 404;
      res.end('not found: try /metrics\n');
      return;
    }
    registry.exposition().then(
      (text) => {
        res.setHeader('Content-Type', EXPOSITION_CONTENT_TYPE);
        res.end(text);
      },
      (e: unknown) => {
        res.statusCode = 500;
        res.end(`scrape failed: ${(e as Error).message}\n`);
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return { server, address: server.address() as AddressInfo };
}
