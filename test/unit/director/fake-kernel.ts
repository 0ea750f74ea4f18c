// A small in-memory IPVS table that answers like the kernel does for the
// director's reload: operations go out in sends of `sendSize` messages; a
// refused message draws its own error and the rest of its send still runs
// (with stopOnError nothing more is sent); failures are ApplyErrors carrying
// `refused` and `sent`, as Ipvs.runOperations throws them. Refusals: a
// scheduler not in `schedulers` (ENOENT), a sync daemon on an interface not
// in `interfaces` (ENODEV), anything listed in `refuse` (by description).
import { ApplyError } from '../../../src/ipvs/apply.js';
import { describeService, IpvsError } from '../../../src/ipvs/errors.js';
import { describeOperation, keyOf, type DesiredState, type Operation, type ServiceState } from '../../../src/ipvs/state.js';
import type { DaemonSpec, Destination, DestinationSpec, ServiceKey, ServiceSpec } from '../../../src/ipvs/types.js';
import { normalizeServiceKey } from '../../../src/ipvs/validate.js';

const ZERO = { connections: 0n, inPackets: 0n, outPackets: 0n, inBytes: 0n, outBytes: 0n, cps: 0, inPps: 0, outPps: 0, inBps: 0, outBps: 0 };

function sid(k: ServiceKey): string {
  return describeService(normalizeServiceKey(k));
}

/** The kernel's refusal (`code` is the errno's name; given for the reader). */
function refusal(errno: number, _code: string, text: string): IpvsError {
  return new IpvsError(errno, text, { operation: 'batch' });
}

export class FakeKernel {
  readonly services = new Map<string, { spec: ServiceSpec; dests: Map<string, Required<Pick<DestinationSpec, 'address' | 'port' | 'weight' | 'forward'>> & DestinationSpec> }>();
  readonly daemons: DaemonSpec[] = [];
  schedulers = new Set(['rr', 'wrr', 'wlc', 'lc']);
  interfaces = new Set(['eth0']);
  /** Operations (by describeOperation) refused with EINVAL. */
  refuse = new Set<string>();
  sendSize = 1000;
  /** Every batch sent (for assertions). */
  readonly batches: Operation[][] = [];

  private portOf(k: ServiceKey, d: { port?: number }): number {
    return d.port ?? ('port' in k && k.port !== undefined ? k.port : 0);
  }

  /** Apply one operation, or throw the kernel's refusal. */
  private one(op: Operation): void {
    if (this.refuse.has(describeOperation(op))) throw refusal(22, 'EINVAL', `${describeOperation(op)}: refused (EINVAL)`);
    switch (op.op) {
      case 'add-service':
      case 'update-service': {
        const id = sid(op.service);
        const sched = op.service.scheduler ?? 'wlc';
        if (!this.schedulers.has(sched)) throw refusal(2, 'ENOENT', `${op.op}: scheduler "${sched}" does not exist in this kernel (no ip_vs_${sched} module)`);
        const have = this.services.get(id);
        if (op.op === 'add-service') {
          if (have) throw refusal(17, 'EEXIST', `service ${id} already exists`);
          const { destinations: _d, ...spec } = op.service as ServiceState;
          this.services.set(id, { spec: { ...spec, scheduler: sched }, dests: new Map() });
        } else {
          if (!have) throw refusal(3, 'ESRCH', `no such service ${id}`);
          const { destinations: _d, ...spec } = op.service as ServiceState;
          have.spec = { ...spec, scheduler: sched };
        }
        return;
      }
      case 'delete-service':
        if (!this.services.delete(sid(op.service))) throw refusal(3, 'ESRCH', `no such service ${sid(op.service)}`);
        return;
      case 'add-destination':
      case 'update-destination':
      case 'delete-destination': {
        const s = this.services.get(sid(op.service));
        if (!s) throw refusal(3, 'ESRCH', `no such service ${sid(op.service)}`);
        const port = this.portOf(op.service, op.destination);
        const name = `${op.destination.address}|${port}`;
        if (op.op === 'delete-destination') {
          if (!s.dests.delete(name)) throw refusal(2, 'ENOENT', `no such destination ${name}`);
          return;
        }
        if (op.op === 'add-destination' && s.dests.has(name)) throw refusal(17, 'EEXIST', `destination ${name} exists`);
        if (op.op === 'update-destination' && !s.dests.has(name)) throw refusal(2, 'ENOENT', `no such destination ${name}`);
        const d = op.destination;
        s.dests.set(name, { ...d, address: d.address, port, weight: d.weight ?? 1, forward: d.forward ?? 'route' });
        return;
      }
      case 'start-daemon':
        if (!this.interfaces.has(op.daemon.interface)) throw refusal(19, 'ENODEV', `startDaemon: no such network interface "${op.daemon.interface}"`);
        this.daemons.push(op.daemon);
        return;
      case 'stop-daemon': {
        const i = this.daemons.findIndex((d) => d.state === op.state);
        if (i < 0) throw refusal(3, 'ESRCH', `no ${op.state} daemon`);
        this.daemons.splice(i, 1);
        return;
      }
      case 'set-timeouts':
        return;
    }
  }

  /** What a real Ipvs.runOperations does, per the kernel's answer to each message. */
  runOperations = async (ops: readonly Operation[], options: { stopOnError?: boolean } = {}): Promise<{ applied: number }> => {
    this.batches.push([...ops]);
    const refused: number[] = [];
    let first: unknown;
    let sent = 0;
    for (let start = 0; start < ops.length; start += this.sendSize) {
      const end = Math.min(ops.length, start + this.sendSize);
      for (let i = start; i < end; i++) {
        try {
          this.one(ops[i]!);
        } catch (e) {
          refused.push(i);
          first ??= e;
        }
      }
      sent = end;
      if (refused.length && options.stopOnError) break;
    }
    if (refused.length) {
      const code = (first as { code: string }).code;
      throw new ApplyError(`runOperations failed at operation ${refused[0]! + 1} of ${ops.length} (${describeOperation(ops[refused[0]!]!)})`, {
        operation: describeOperation(ops[refused[0]!]!), errno: (first as { errno: number }).errno, code, restored: false, applied: sent - refused.length, refused, sent, cause: first,
      });
    }
    return { applied: ops.length };
  };

  async snapshot(): Promise<DesiredState> {
    return {
      services: [...this.services.values()].map((s) => ({ ...s.spec, destinations: [...s.dests.values()].map((d) => ({ ...d })) })),
      daemons: this.daemons.map((d) => ({ ...d })),
    };
  }

  /** `ipvsadm -Ln`-like text, sorted (for byte comparisons). */
  text(): string {
    const out: string[] = [];
    for (const [id, s] of [...this.services].sort(([a], [b]) => a.localeCompare(b))) {
      out.push(`${id} ${s.spec.scheduler}`);
      for (const [n, d] of [...s.dests].sort(([a], [b]) => a.localeCompare(b))) out.push(`  -> ${n} ${d.forward} ${d.weight}`);
    }
    for (const d of this.daemons) out.push(`daemon ${d.state} ${d.interface}`);
    return out.join('\n');
  }

  // --- what a HealthChecker uses (HealthIpvs) ---
  getService = async (k: ServiceKey) => {
    const s = this.services.get(sid(k));
    if (!s) throw refusal(3, 'ESRCH', `no such service ${sid(k)}`);
    return s.spec as never;
  };
  addService = async (spec: ServiceSpec) => void (await this.runOperations([{ op: 'add-service', service: spec }]));
  listDestinations = async (k: ServiceKey): Promise<Destination[]> => {
    const s = this.services.get(sid(k));
    if (!s) throw refusal(3, 'ESRCH', `no such service ${sid(k)}`);
    return [...s.dests.values()].map((d) => ({
      address: d.address, family: d.address.includes(':') ? 'ipv6' : 'ipv4', port: d.port, weight: d.weight, forward: d.forward,
      upperThreshold: d.upperThreshold ?? 0, lowerThreshold: d.lowerThreshold ?? 0, activeConnections: 0, inactiveConnections: 0, persistentConnections: 0, stats: { ...ZERO },
    }));
  };
  addDestination = async (k: ServiceKey, d: DestinationSpec) => void (await this.runOperations([{ op: 'add-destination', service: keyOf(k as ServiceSpec), destination: d }]));
  updateDestination = async (k: ServiceKey, d: DestinationSpec) => void (await this.runOperations([{ op: 'update-destination', service: k, destination: d, before: d }]));
  deleteDestination = async (k: ServiceKey, d: DestinationSpec) => void (await this.runOperations([{ op: 'delete-destination', service: k, destination: d, before: d }]));
}
