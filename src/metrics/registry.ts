/**
 * A small registry of metric collectors: each part of a program (the IPVS
 * table, health checks, heartbeat) registers a function that returns its
 * families at scrape time; `collect()` runs them all once per scrape.
 * @module
 */
import { formatExposition, type MetricFamily } from './exposition.js';

/** Returns the families of one part of the program, read at scrape time. */
export type MetricsCollector = () => MetricFamily[] | Promise<MetricFamily[]>;

/**
 * Collectors by name. A scrape runs every collector concurrently and renders
 * their families in registration order.
 * @example
 * ```ts
 * const registry = new MetricsRegistry();
 * registry.register('ipvs', () => ipvsCollector(ipvs)());
 * registry.register('checks', () => [{ name: 'checks_up', help: 'Checks up.', type: 'gauge', samples: [{ value: 3 }] }]);
 * const text = await registry.exposition();
 * ```
 */
export class MetricsRegistry {
  private readonly collectors = new Map<string, MetricsCollector>();

  /** Add a collector under a name (a second one with the same name throws). */
  register(name: string, collector: MetricsCollector): void {
    if (this.collectors.has(name)) throw new TypeError(`a metrics collector named ${JSON.stringify(name)} is already registered`);
    this.collectors.set(name, collector);
  }

  /** Remove a collector; true when it was registered. */
  unregister(name: string): boolean {
    return this.collectors.delete(name);
  }

  /** Every collector's families, in registration order. */
  async collect(): Promise<MetricFamily[]> {
    const parts = await Promise.all([...this.collectors.values()].map(async (c) => c()));
    return parts.flat();
  }

  /** One scrape in the text exposition format. */
  async exposition(): Promise<string> {
    return formatExposition(await this.collect());
  }
}
