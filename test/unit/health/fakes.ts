// A fake clock, a fake probe runner and an in-memory IPVS table for the
// HealthChecker's state-machine tests.
import type { Clock, HealthIpvs, ProbeRunner } from '../../../src/health/checker-types.js';
import type { CheckResult } from '../../../src/health/spec.js';
import type { Operation } from '../../../src/ipvs/state.js';
import type { Destination, DestinationSpec, ServiceKey, ServiceSpec } from '../../../src/ipvs/types.js';

/** Let promises and setImmediate callbacks run. */
export async function flush(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
}

export class FakeClock implements Clock {
  t = 0;
  private seq = 0;
  private timers = new Map<number, { at: number; cb: () => void }>();
  now = (): number => this.t;
  setTimeout = (cb: () => void, ms: number): unknown => {
    const id = ++this.seq;
    this.timers.set(id, { at: this.t + Math.max(0, ms), cb });
    return id;
  };
  clearTimeout = (h: unknown): void => {
    this.timers.delete(h as number);
  };
  /** Move time forward, running every timer due on the way, in order. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      await flush();
      let next: [number, { at: number; cb: () => void }] | undefined;
      for (const e of this.timers) if (e[1].at <= end && (!next || e[1].at < next[1].at || (e[1].at === next[1].at && e[0] < next[0]))) next = e;
      if (!next) break;
      // Timers due at the same instant run in one turn, as Node's do.
      this.t = next[1].at;
      const due = [...this.timers].filter((e) => e[1].at === this.t).sort((a, b) => a[0] - b[0]);
      for (const [id, timer] of due) {
        this.timers.delete(id);
        timer.cb();
      }
    }
    this.t = end;
    await flush();
  }
}

/** What the fake runner answers for an address: up, down, a weight, a hang or a throw. */
export type Behaviour = boolean | number | 'hang' | 'throw';

export function fakeRunner(behaviour: Map<string, Behaviour>, calls: string[] = []): ProbeRunner {
  return async (_spec, target): Promise<CheckResult> => {
    calls.push(target.address);
    const b = behaviour.get(target.address) ?? true;
    if (b === 'hang') return new Promise(() => {});
    if (b === 'throw') throw new Error('probe crashed');
    if (typeof b === 'number') return { ok: true, weight: b, latencyMs: 1, detail: `weight ${b}` };
    return { ok: b, latencyMs: 1, detail: b ? 'up' : 'down' };
  };
}

const zeroStats = { connections: 0n, inPackets: 0n, outPackets: 0n, inBytes: 0n, outBytes: 0n, cps: 0, inPps: 0, outPps: 0, inBps: 0, outBps: 0 };

/** One service's destinations in memory; counts every kernel call. */
export class FakeIpvs implements HealthIpvs {
  service: ServiceSpec | undefined;
  table = new Map<string, Destination>();
  batches: Operation[][] = [];
  calls = 0;

  private dest(spec: DestinationSpec): Destination {
    return {
      address: spec.address, family: spec.address.includes(':') ? 'ipv6' : 'ipv4', port: spec.port ?? 80, weight: spec.weight ?? 1,
      forward: spec.forward ?? 'route', upperThreshold: 0, lowerThreshold: 0,
      activeConnections: 0, inactiveConnections: 0, persistentConnections: 0, stats: zeroStats,
    };
  }
  private key(d: { address: string; port?: number }): string {
    return `${d.address}:${d.port ?? 80}`;
  }
  private noService(): never {
    throw Object.assign(new Error('no such service'), { code: 'ESRCH' });
  }
  /** Put a destination straight in the table (as another tool would). */
  put(spec: DestinationSpec & Partial<Destination>): void {
    this.table.set(this.key(spec), { ...this.dest(spec), ...spec } as Destination);
  }
  weights(): Record<string, number> {
    return Object.fromEntries([...this.table.values()].map((d) => [d.address, d.weight]));
  }

  getService = async (_key: ServiceKey) => {
    this.calls++;
    if (!this.service) this.noService();
    return this.service as never;
  };
  addService = async (spec: ServiceSpec) => {
    this.calls++;
    this.service = spec;
  };
  listDestinations = async (_key: ServiceKey) => {
    this.calls++;
    if (!this.service) this.noService();
    return [...this.table.values()].map((d) => ({ ...d }));
  };
  addDestination = async (_key: ServiceKey, d: DestinationSpec) => {
    this.calls++;
    this.table.set(this.key(d), this.dest(d));
  };
  updateDestination = async (_key: ServiceKey, d: DestinationSpec) => {
    this.calls++;
    const old = this.table.get(this.key(d));
    this.table.set(this.key(d), { ...this.dest(d), ...(old ? { activeConnections: old.activeConnections, inactiveConnections: old.inactiveConnections, persistentConnections: old.persistentConnections } : {}) });
  };
  deleteDestination = async (_key: ServiceKey, d: { address: string; port?: number }) => {
    this.calls++;
    this.table.delete(this.key(d));
  };
  runOperations = async (ops: readonly Operation[]) => {
    this.calls++;
    this.batches.push([...ops]);
    for (const op of ops) {
      if (op.op === 'add-destination') this.table.set(this.key(op.destination), this.dest(op.destination));
      else if (op.op === 'update-destination') await this.updateDestination(op.service, op.destination);
      else if (op.op === 'delete-destination') this.table.delete(this.key(op.destination));
    }
    return { applied: ops.length };
  };
}
