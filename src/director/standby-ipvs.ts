/**
 * What the health checkers of a failover director write to: the kernel while
 * the node is master, a table in memory while it is backup. A backup thus
 * keeps checking its destinations (and knows their weights) without holding
 * the IPVS table; on becoming master the checkers' next sync writes their
 * weights into the table the failover's table resource put there, which
 * takes them from this memory ({@link StandbyIpvs.remembered}).
 * @module
 */
import type { HealthIpvs } from '../health/checker-types.js';
import { formatAddressPort } from '../ipvs/address.js';
import { describeService, IpvsError } from '../ipvs/errors.js';
import type { Operation } from '../ipvs/state.js';
import type { Destination, DestinationKey, DestinationSpec, ServiceKey } from '../ipvs/types.js';
import { normalizeServiceKey } from '../ipvs/validate.js';

const ZERO_STATS: Destination['stats'] = { connections: 0n, inPackets: 0n, outPackets: 0n, inBytes: 0n, outBytes: 0n, cps: 0, inPps: 0, outPps: 0, inBps: 0, outBps: 0 };

function familyOf(address: string): 'ipv4' | 'ipv6' {
  return address.includes(':') ? 'ipv6' : 'ipv4';
}

function destName(d: DestinationKey): string {
  return formatAddressPort(d.address, familyOf(d.address), d.port ?? 0);
}

/** The kernel while active, a table in memory while on standby (see the module's description). */
export class StandbyIpvs implements HealthIpvs {
  private active: boolean;
  private readonly shadow = new Map<string, Map<string, Destination>>();

  /** @param real the kernel's client; @param active whether to start writing to it */
  constructor(private readonly real: HealthIpvs, active: boolean) {
    this.active = active;
  }

  /** Whether writes go to the kernel. */
  get isActive(): boolean {
    return this.active;
  }

  /** Write to the kernel from now on (master) or to memory (backup; the memory starts empty). */
  setActive(active: boolean): void {
    if (active === this.active) return;
    this.active = active;
    this.shadow.clear();
  }

  /** While on standby: a service's destinations as the checkers left them in memory (undefined when it is not there, or when active). */
  remembered(key: ServiceKey): Destination[] | undefined {
    if (this.active) return undefined;
    const s = this.shadow.get(describeService(normalizeServiceKey(key)));
    return s ? [...s.values()] : undefined;
  }

  private service(key: ServiceKey): Map<string, Destination> {
    const id = describeService(normalizeServiceKey(key));
    const s = this.shadow.get(id);
    if (!s) throw new IpvsError(3 /* ESRCH */, `service ${id} not found (standby table)`, { operation: 'get-service', object: `service ${id}` });
    return s;
  }

  /** @inheritDoc */
  getService: HealthIpvs['getService'] = async (key) => {
    if (this.active) return this.real.getService(key);
    this.service(key);
    return undefined as never; // the checker only tests that the service exists
  };

  /** @inheritDoc */
  addService: HealthIpvs['addService'] = async (spec) => {
    if (this.active) return this.real.addService(spec);
    this.shadow.set(describeService(normalizeServiceKey(spec)), new Map());
  };

  /** @inheritDoc */
  listDestinations: HealthIpvs['listDestinations'] = async (key) => {
    if (this.active) return this.real.listDestinations(key);
    return [...this.service(key).values()];
  };

  /** @inheritDoc */
  addDestination: HealthIpvs['addDestination'] = async (key, spec) => {
    if (this.active) return this.real.addDestination(key, spec);
    this.put(key, spec);
  };

  /** @inheritDoc */
  updateDestination: HealthIpvs['updateDestination'] = async (key, spec) => {
    if (this.active) return this.real.updateDestination(key, spec);
    this.put(key, spec);
  };

  /** @inheritDoc */
  deleteDestination: HealthIpvs['deleteDestination'] = async (key, d) => {
    if (this.active) return this.real.deleteDestination(key, d);
    this.service(key).delete(destName(d));
  };

  /** @inheritDoc */
  runOperations: HealthIpvs['runOperations'] = async (ops) => {
    if (this.active) return this.real.runOperations(ops);
    for (const op of ops as Operation[]) {
      if (op.op === 'add-destination' || op.op === 'update-destination') this.put(op.service, op.destination);
      else if (op.op === 'delete-destination') this.service(op.service).delete(destName(op.destination));
      else if (op.op === 'add-service') this.shadow.set(describeService(normalizeServiceKey(op.service)), new Map());
      else if (op.op === 'delete-service') this.shadow.delete(describeService(normalizeServiceKey(op.service)));
    }
    return { applied: ops.length };
  };

  private put(key: ServiceKey, spec: DestinationSpec): void {
    this.service(key).set(destName(spec), {
      address: spec.address,
      family: familyOf(spec.address),
      port: spec.port ?? 0,
      weight: spec.weight ?? 1,
      forward: spec.forward ?? 'masq',
      upperThreshold: spec.upperThreshold ?? 0,
      lowerThreshold: spec.lowerThreshold ?? 0,
      activeConnections: 0,
      inactiveConnections: 0,
      persistentConnections: 0,
      stats: { ...ZERO_STATS },
    });
  }
}
