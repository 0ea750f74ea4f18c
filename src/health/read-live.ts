/**
 * The checker's read of its service's destinations, by name. Its sync re-reads
 * the service every interval (to notice and undo other writers' changes) and
 * needs only addresses, ports and weights, so it reads specs, each kernel
 * reply read in place (`Ipvs.listDestinationSpecs`), when the client has that;
 * a drain needs the connection counters and reads the full destinations.
 * @module
 */
import { formatAddressPort } from '../ipvs/address.js';
import type { Destination, DestinationSpec, ServiceKey } from '../ipvs/types.js';
import type { DestinationName, HealthIpvs } from './checker-types.js';

/** A live destination as the sync sees it. */
export type LiveEntry = DestinationSpec & { port: number; weight: number };

function isNoSuchService(e: unknown): boolean {
  return (e as { code?: string }).code === 'ESRCH';
}

/** The service's destinations by name (`address:port`, `[v6]:port`); undefined when the service is gone. */
export async function readLiveSpecs(ipvs: HealthIpvs, key: ServiceKey): Promise<Map<DestinationName, LiveEntry> | undefined> {
  if (ipvs.listDestinationSpecs === undefined) return readLiveDestinations(ipvs, key);
  try {
    const list = await ipvs.listDestinationSpecs(key);
    const out = new Map<DestinationName, LiveEntry>();
    for (const d of list) out.set(formatAddressPort(d.address, d.address.includes(':') ? 'ipv6' : 'ipv4', d.port), d);
    return out;
  } catch (e) {
    if (isNoSuchService(e)) return undefined;
    throw e;
  }
}

/** The same with the kernel's counters (connections, statistics). */
export async function readLiveDestinations(ipvs: HealthIpvs, key: ServiceKey): Promise<Map<DestinationName, Destination> | undefined> {
  try {
    const list = await ipvs.listDestinations(key);
    const out = new Map<DestinationName, Destination>();
    for (const d of list) out.set(formatAddressPort(d.address, d.family, d.port), d);
    return out;
  } catch (e) {
    if (isNoSuchService(e)) return undefined;
    throw e;
  }
}
