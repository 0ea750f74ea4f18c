/**
 * What a connection table says about destinations and clients: counts of
 * connections and templates per destination (what draining or a quiesced
 * server has left), and the template a client is pinned by.
 * @module
 */
import { InvalidArgumentError } from '../errors.js';
import { addressFamily, canonicalAddress } from '../ipvs/address.js';
import type { ServiceKey, ServiceSpec } from '../ipvs/types.js';
import { persistenceNetwork } from './granularity.js';
import { readConnectionBatches, type IpvsConnection, type ReadConnectionsOptions } from './connections.js';

/** Counts for one destination (`address:port`, IPv6 in brackets). */
export interface DestinationConnections {
  /** Connections (not templates), all states. */
  connections: number;
  /** Persistence templates pointing at it. */
  templates: number;
  /** Connections by state name. */
  states: Record<string, number>;
}

/** The FTP control port: persistent FTP templates carry virtual port 0 (ip_vs_core.c). */
const FTPPORT = 21;

function templateKey(protocol: string, virtualAddress: string, virtualPort: number, client: string): string {
  return `${protocol}|${virtualAddress}|${virtualPort}|${client}`;
}

function addr(a: string): string {
  const f = addressFamily(a);
  return f ? canonicalAddress(a, f) : a;
}

/**
 * A connection table read once and indexed: templates by (service, client
 * network) and counts per destination. Normal connections are counted, not
 * kept, unless `keep` is set.
 */
export class ConnectionTable {
  /**
   * Counts per destination `address:port` as the entries name it. The
   * templates of fwmark, port-zero and FTP services carry port 0
   * (ip_vs_core.c), so they count under `address:0`; see {@link perAddress}.
   */
  readonly perDestination = new Map<string, DestinationConnections>();
  /** Counts per real server address, whatever the port (canonical address text). */
  readonly perAddress = new Map<string, DestinationConnections>();
  /** Every template, in table order. */
  readonly templates: IpvsConnection[] = [];
  /** Every entry, when read with `keep: true`; else empty. */
  readonly entries: IpvsConnection[] = [];
  /** Number of entries read (connections and templates). */
  size = 0;
  private readonly byKey = new Map<string, IpvsConnection>();

  /** Index entries from any iterable (e.g. a saved table or a filtered stream). */
  static async from(entries: AsyncIterable<IpvsConnection> | Iterable<IpvsConnection>, keep = false): Promise<ConnectionTable> {
    const t = new ConnectionTable();
    for await (const e of entries) t.add(e, keep);
    return t;
  }

  /**
   * Read the kernel's table (see {@link readConnectionBatches}) and index it.
   * @example
   * ```ts
   * const table = await ConnectionTable.read({ netns: '/run/netns/lb' });
   * table.affinity('10.3.0.7', { protocol: 'tcp', address: '10.4.0.1', port: 80, persistence: { timeout: 300 } });
   * ```
   */
  static async read(options: ReadConnectionsOptions & { keep?: boolean } = {}): Promise<ConnectionTable> {
    const { keep, ...rest } = options;
    const t = new ConnectionTable();
    for await (const batch of readConnectionBatches(rest)) for (const e of batch) t.add(e, keep ?? false);
    return t;
  }

  private add(e: IpvsConnection, keep: boolean): void {
    this.size++;
    if (keep) this.entries.push(e);
    const id = e.destinationAddress.includes(':') ? `[${e.destinationAddress}]:${e.destinationPort}` : `${e.destinationAddress}:${e.destinationPort}`;
    for (const [map, key] of [[this.perDestination, id], [this.perAddress, e.destinationAddress]] as const) {
      let d = map.get(key);
      if (!d) map.set(key, (d = { connections: 0, templates: 0, states: {} }));
      if (e.template) d.templates++;
      else {
        d.connections++;
        d.states[e.state] = (d.states[e.state] ?? 0) + 1;
      }
    }
    if (e.template) {
      this.templates.push(e);
      this.byKey.set(templateKey(e.protocol, e.virtualAddress, e.virtualPort, e.clientAddress), e);
    }
  }

  /**
   * The live templates of one service (`{ protocol, address, port }` or
   * `{ fwmark, family? }`), e.g. for `simulate(..., { templates })`.
   * Invalidated templates (ports 65535) are left out.
   */
  templatesOf(service: ServiceKey): IpvsConnection[] {
    if ('fwmark' in service && service.fwmark !== undefined) {
      const fam = service.family ?? 'ipv4';
      return this.templates.filter((t) => t.service && 'fwmark' in t.service && t.service.fwmark === service.fwmark && t.family === fam);
    }
    const s = service as { protocol?: unknown; address?: unknown; port?: unknown };
    if (typeof s.protocol !== 'string' || typeof s.address !== 'string' || typeof s.port !== 'number') {
      throw new InvalidArgumentError('service', 'must be { protocol, address, port } or { fwmark }');
    }
    const address = addr(s.address);
    const port = s.port === FTPPORT ? 0 : s.port;
    return this.templates.filter((t) => t.protocol === s.protocol && t.virtualAddress === address && t.virtualPort === port);
  }

  /**
   * The template that pins `clientAddress` to a destination of `service`, if
   * any: the client address is first masked with the service's persistence
   * netmask (give the service as `getService()` returns it, or the spec it was
   * created with). The template's destination is where the client's next
   * connection goes while the template lives.
   */
  affinity(clientAddress: string, service: ServiceKey | ServiceSpec): IpvsConnection | undefined {
    const netmask = (service as ServiceSpec).persistence?.netmask;
    const network = persistenceNetwork(clientAddress, netmask);
    if ('fwmark' in service && service.fwmark !== undefined) {
      const fam = service.family ?? 'ipv4';
      const markAddr = fam === 'ipv4'
        ? `${service.fwmark >>> 24}.${(service.fwmark >>> 16) & 255}.${(service.fwmark >>> 8) & 255}.${service.fwmark & 255}`
        : addr(`${((service.fwmark >>> 16) & 0xffff).toString(16)}:${(service.fwmark & 0xffff).toString(16)}::`);
      return this.byKey.get(templateKey('ip', markAddr, 0, network));
    }
    const s = service as { protocol?: unknown; address?: unknown; port?: unknown };
    if (typeof s.protocol !== 'string' || typeof s.address !== 'string' || typeof s.port !== 'number') {
      throw new InvalidArgumentError('service', 'must be { protocol, address, port } or { fwmark }');
    }
    const port = s.port === FTPPORT ? 0 : s.port;
    return this.byKey.get(templateKey(s.protocol, addr(s.address), port, network));
  }
}
