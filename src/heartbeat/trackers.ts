/**
 * Trackers: inputs that move an election's priority or force it into fault
 * (keepalived's track_interface / track_script, heartbeat's ipfail).
 * @module
 */
import { connect, isIP } from 'node:net';
import { InvalidArgumentError } from '../errors.js';
import { Addresses } from '../system/addresses.js';

/** What a tracker says: a weight added to the priority, or fault. */
export interface TrackerState {
  /** Added to the base priority (may be negative). */
  weight?: number;
  /** Forces the election into `fault`. */
  fault?: boolean;
  /** Why, for transitions' reasons. */
  reason?: string;
}

/** A source of {@link TrackerState}s. */
export interface Tracker {
  /** Unique name within an election. */
  readonly name: string;
  /** Starts tracking; calls `report` with the first state and every change. */
  start(report: (state: TrackerState) => void): void | Promise<void>;
  /** Stops tracking. */
  stop(): void;
}

/**
 * A tracker set from code: a health signal such as a HealthChecker's quorum.
 * @example
 * ```ts
 * const quorum = new SignalTracker('quorum');
 * const election = new Election(hb, { priority: 100, trackers: [quorum] });
 * quorum.set({ fault: true, reason: 'no real server up' });
 * ```
 */
export class SignalTracker implements Tracker {
  private report?: (s: TrackerState) => void;
  private current: TrackerState;
  /** A tracker named `name`, initially `initial` (default: weight 0, no fault). */
  constructor(
    readonly name: string,
    initial: TrackerState = {},
  ) {
    this.current = { ...initial };
  }
  /** Called by the election. */
  start(report: (s: TrackerState) => void): void {
    this.report = report;
    report(this.current);
  }
  /** Called by the election. */
  stop(): void {
    this.report = undefined;
  }
  /** Changes the signal. */
  set(state: TrackerState): void {
    this.current = { ...state };
    this.report?.(this.current);
  }
}

/** Options of {@link LinkTracker}. */
export interface LinkTrackerOptions {
  /** Interface whose link state is tracked. */
  interface: string;
  /** Weight added while the link is down; 0 or absent: fault while down (keepalived's convention). */
  weight?: number;
  /** Polling period (default 200 ms). */
  pollMs?: number;
  /** Network namespace of the interface (default: the process's). */
  netns?: string;
  /** Reads the link state (tests pass a fake): true when up and running. Default: rtnetlink. */
  read?: () => Promise<boolean>;
}

const IFF_UP = 0x1;
const IFF_RUNNING = 0x40;

/**
 * Tracks an interface: up when it is administratively up and has carrier
 * (IFF_UP and IFF_RUNNING, read over rtnetlink every `pollMs`). A missing
 * interface counts as down.
 */
export class LinkTracker implements Tracker {
  /** `link:<interface>`. */
  readonly name: string;
  private timer?: NodeJS.Timeout;
  private addresses?: Addresses;
  private last?: boolean;
  private readonly read: () => Promise<boolean>;

  /** Validates the options. */
  constructor(private readonly options: LinkTrackerOptions) {
    if (typeof options?.interface !== 'string' || !options.interface) throw new InvalidArgumentError('interface', 'must be an interface name');
    if (options.weight !== undefined && (!Number.isInteger(options.weight) || Math.abs(options.weight) > 253)) throw new InvalidArgumentError('weight', 'must be an integer -253..253');
    if (options.pollMs !== undefined && (!Number.isInteger(options.pollMs) || options.pollMs < 10)) throw new InvalidArgumentError('pollMs', 'must be an integer >= 10');
    this.name = `link:${options.interface}`;
    this.read = options.read ?? (async () => {
      this.addresses ??= Addresses.open(options.netns !== undefined ? { netns: options.netns } : {});
      try {
        const l = await this.addresses.link(options.interface);
        return (l.flags & (IFF_UP | IFF_RUNNING)) === (IFF_UP | IFF_RUNNING);
      } catch {
        return false;
      }
    });
  }

  private state(up: boolean): TrackerState {
    const reason = `${this.options.interface} ${up ? 'up' : 'down'}`;
    if (up) return { weight: 0, fault: false, reason };
    return this.options.weight ? { weight: this.options.weight, fault: false, reason } : { fault: true, reason };
  }

  /** Reads the link once, reports, then polls. */
  async start(report: (s: TrackerState) => void): Promise<void> {
    this.last = await this.read();
    report(this.state(this.last));
    const poll = async () => {
      const up = await this.read();
      if (this.timer === undefined) return;
      if (up !== this.last) {
        this.last = up;
        report(this.state(up));
      }
      this.timer = setTimeout(poll, this.options.pollMs ?? 200);
    };
    this.timer = setTimeout(poll, this.options.pollMs ?? 200);
  }

  /** Stops polling. */
  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.addresses?.close();
    this.addresses = undefined;
  }
}

/** Options of {@link PingTracker}. */
export interface PingTrackerOptions {
  /** The ping nodes: addresses (IPv4 or IPv6), probed on `port`. */
  nodes: string[];
  /** TCP port probed (default 7). Any answer, even a refusal, counts as reachable. */
  port?: number;
  /** Weight added per reachable node (default 10). */
  weight?: number;
  /** Force fault when no node is reachable (default false). */
  faultWhenNone?: boolean;
  /** Time between rounds (default 1000 ms). */
  intervalMs?: number;
  /** Time a probe may take (default: intervalMs). */
  timeoutMs?: number;
  /** The probe (tests pass a fake): resolves true when the node answered. Default: a TCP connection attempt. */
  probe?: (address: string, port: number, timeoutMs: number) => Promise<boolean>;
}

/**
 * Whether `address` answers a TCP connection attempt on `port` within
 * `timeoutMs`: a SYN-ACK (connected) or a RST (ECONNREFUSED) both prove the
 * node reachable, as an ICMP echo reply would, without a raw socket. A
 * timeout or an ICMP error (EHOSTUNREACH, ENETUNREACH) means unreachable.
 */
export function tcpProbe(address: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: address, port });
    let settled = false;
    const done = (ok: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    // Confirmed after pending I/O is read: a blocked event loop must not turn an answer into a timeout.
    const timer = setTimeout(() => setImmediate(() => done(false)), timeoutMs);
    socket.once('connect', () => done(true));
    socket.once('error', (e: NodeJS.ErrnoException) => done(e.code === 'ECONNREFUSED'));
  });
}

/**
 * Heartbeat's ping nodes with ipfail: every round, each node is probed and
 * the weight is `weight × reachable nodes`, so that of two directors the one
 * that reaches fewer ping nodes has the lower priority and yields (with
 * `preempt`). Optionally, reaching none forces fault.
 */
export class PingTracker implements Tracker {
  /** `ping:<nodes>`. */
  readonly name: string;
  private timer?: NodeJS.Timeout;
  private last?: string;
  private readonly port: number;
  private readonly intervalMs: number;
  private readonly timeoutMs: number;
  private readonly probe: NonNullable<PingTrackerOptions['probe']>;

  /** Validates the options. */
  constructor(private readonly options: PingTrackerOptions) {
    if (!Array.isArray(options?.nodes) || options.nodes.length === 0) throw new InvalidArgumentError('nodes', 'must list at least one ping node');
    options.nodes.forEach((n, i) => {
      if (!isIP(n)) throw new InvalidArgumentError(`nodes[${i}]`, `must be an IP address, got ${String(n)}`);
    });
    this.port = options.port ?? 7;
    if (!Number.isInteger(this.port) || this.port < 1 || this.port > 65535) throw new InvalidArgumentError('port', 'must be an integer 1..65535');
    if (options.weight !== undefined && (!Number.isInteger(options.weight) || Math.abs(options.weight) > 253)) throw new InvalidArgumentError('weight', 'must be an integer -253..253');
    this.intervalMs = options.intervalMs ?? 1000;
    if (!Number.isInteger(this.intervalMs) || this.intervalMs < 10) throw new InvalidArgumentError('intervalMs', 'must be an integer >= 10');
    this.timeoutMs = options.timeoutMs ?? this.intervalMs;
    if (!Number.isInteger(this.timeoutMs) || this.timeoutMs < 1) throw new InvalidArgumentError('timeoutMs', 'must be a positive integer');
    this.probe = options.probe ?? tcpProbe;
    this.name = `ping:${options.nodes.join(',')}`;
  }

  private async round(): Promise<TrackerState> {
    const ok = await Promise.all(this.options.nodes.map((n) => this.probe(n, this.port, this.timeoutMs).catch(() => false)));
    const reachable = ok.filter(Boolean).length;
    const reason = `${reachable} of ${ok.length} ping nodes reachable${reachable < ok.length ? ` (lost ${this.options.nodes.filter((_, i) => !ok[i]).join(', ')})` : ''}`;
    if (reachable === 0 && this.options.faultWhenNone) return { fault: true, reason };
    return { weight: (this.options.weight ?? 10) * reachable, fault: false, reason };
  }

  /** Probes once, reports, then probes every intervalMs, reporting changes. */
  async start(report: (s: TrackerState) => void): Promise<void> {
    const first = await this.round();
    this.last = JSON.stringify(first);
    report(first);
    const again = async () => {
      const s = await this.round();
      if (this.timer === undefined) return;
      const key = JSON.stringify(s);
      if (key !== this.last) {
        this.last = key;
        report(s);
      }
      this.timer = setTimeout(again, this.intervalMs);
    };
    this.timer = setTimeout(again, this.intervalMs);
  }

  /** Stops probing. */
  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
