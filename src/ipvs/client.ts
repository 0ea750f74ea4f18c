/**
 * The Ipvs client: every IPVS generic-netlink command, typed.
 * @module
 */
import { NetlinkError } from '../errors.js';
import type { DumpsOptions, RequestOptions, SocketFactory } from '../netlink/conn.js';
import type { GenlRequestOptions } from '../netlink/genl.js';
import { NLM_F_DUMP } from '../netlink/constants.js';
import { decodeGenlAttributes, GenlConn, type GenlFamily, type GenlMessage } from '../netlink/genl.js';
import { decodeAttributes, encodeAttributes, type Attributes } from '../netlink/schema.js';
import type { Writer } from '../netlink/writer.js';
import { formatAddressPort } from './address.js';
import { commandTable, infoTable } from './attributes.js';
import {
  daemonAttributes,
  daemonOf,
  destinationAttributes,
  destinationKeyAttributes,
  destinationOf,
  serviceKeyAttributes,
  serviceOf,
  serviceSpecAttributes,
  writeServiceKeyNest,
} from './codec.js';
import * as C from './constants.js';
import { describeService, toIpvsError, type IpvsErrorContext } from './errors.js';
import { applyError, restrictTo, type ApplyOptions, type ApplyResult, type RunOutcome } from './apply.js';
import { planSource, wireRuleCommands, wireSource, type BulkSource } from './bulk.js';
import { liveDestinationAt, liveDestinationSpecAt } from './live-destination.js';
import { liveServiceAt } from './live-service.js';
import { formatRules, parseRules } from './rules.js';
import { daemonSpecOf, describeOperation, diffStates, diffStatesWithNormals, keyOf, liveSnapshotServices, liveState, type LiveService, type NormalState, type NormalizedPlan, normalizeState, type DesiredState, type Operation, type Plan, type Removal } from './state.js';
import type {
  Daemon,
  DaemonSpec,
  DaemonState,
  Destination,
  DestinationKey,
  DestinationSpec,
  Info,
  Service,
  ServiceKey,
  ServiceSpec,
  Timeouts,
} from './types.js';
import {
  normalizeDaemon,
  normalizeDaemonState,
  normalizeDestination,
  normalizeDestinationKey,
  normalizeServiceKey,
  normalizeServiceSpec,
  normalizeTimeouts,
  type NormalServiceKey,
} from './validate.js';

type CommandAttrs = Attributes<(typeof commandTable)['fields']>;

/** Options for {@link Ipvs.open}. */
export interface IpvsOptions {
  /** Network namespace to manage: a path like `/run/netns/lb` or `/proc/PID/ns/net`. Default: the caller's. */
  netns?: string;
  /** Default deadline of each kernel request in milliseconds (default 30 000). */
  timeoutMs?: number;
  /** Where the netlink socket comes from (tests pass a fake from `ipvs-ts/testing`). */
  socketFactory?: SocketFactory;
}

/** One service of {@link Ipvs.table}: the service and its destinations, with statistics. */
export interface TableEntry {
  service: Service;
  destinations: Destination[];
}

/** Per-call options of every client method. */
export type CallOptions = Pick<RequestOptions, 'signal' | 'timeoutMs'>;

/** Commands that only change the table: the kernel answers them with success or an error, no data. */
const CHANGE_COMMANDS = new Set([
  C.IPVS_CMD_NEW_SERVICE, C.IPVS_CMD_SET_SERVICE, C.IPVS_CMD_DEL_SERVICE,
  C.IPVS_CMD_NEW_DEST, C.IPVS_CMD_SET_DEST, C.IPVS_CMD_DEL_DEST,
  C.IPVS_CMD_NEW_DAEMON, C.IPVS_CMD_DEL_DAEMON, C.IPVS_CMD_SET_CONFIG,
  C.IPVS_CMD_ZERO, C.IPVS_CMD_FLUSH,
]);

function callOptions(o: CallOptions | undefined, operation: string, noReply: boolean): GenlRequestOptions {
  const r: GenlRequestOptions = { operation };
  if (noReply) r.noReply = true;
  if (o?.signal) r.signal = o.signal;
  if (o?.timeoutMs !== undefined) r.timeoutMs = o.timeoutMs;
  return r;
}

/**
 * A handle on the kernel's IPVS table (of one network namespace), safe for any
 * number of concurrent callers: requests share one netlink socket and are
 * matched to their answers by sequence number.
 *
 * @example
 * ```ts
 * import { Ipvs } from 'ipvs-ts';
 * const ipvs = await Ipvs.open();
 * await ipvs.addService({ protocol: 'tcp', address: '10.0.0.1', port: 80, scheduler: 'rr' });
 * await ipvs.addDestination({ protocol: 'tcp', address: '10.0.0.1', port: 80 }, { address: '10.0.1.1', forward: 'masq' });
 * console.log(await ipvs.listServices());
 * await ipvs.close();
 * ```
 */
export class Ipvs {
  private constructor(
    private readonly genl: GenlConn,
    /** The resolved IPVS generic netlink family. */
    readonly family: GenlFamily,
  ) {}

  /**
   * Open a netlink socket (in `options.netns` if given) and resolve the IPVS family.
   * Rejects with an {@link IpvsError} when the ip_vs module is not loaded (ENOENT)
   * or the process lacks CAP_NET_ADMIN.
   * @example
   * ```ts
   * const ipvs = await Ipvs.open({ netns: '/run/netns/lb' });
   * ```
   */
  static async open(options: IpvsOptions = {}): Promise<Ipvs> {
    const genl = GenlConn.open({
      ...(options.netns !== undefined ? { netns: options.netns } : {}),
      ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
      ...(options.socketFactory ? { socketFactory: options.socketFactory } : {}),
    });
    try {
      const family = await genl.family(C.IPVS_GENL_NAME);
      return new Ipvs(genl, family);
    } catch (e) {
      genl.close();
      throw toIpvsError(e, { operation: 'open', kind: 'family', object: 'IPVS family' });
    }
  }

  /** Run one IPVS command; map kernel errors with `ctx`. */
  private async command(cmd: number, attrs: CommandAttrs, ctx: IpvsErrorContext, options?: CallOptions, dump = false): Promise<GenlMessage[]> {
    const request = callOptions(options, ctx.operation, CHANGE_COMMANDS.has(cmd));
    try {
      return await this.genl.request(this.family.id, cmd, C.IPVS_GENL_VERSION, dump ? NLM_F_DUMP : 0, (w) => encodeAttributes(w, commandTable, attrs), request);
    } catch (e) {
      throw toIpvsError(e, ctx);
    }
  }

  /**
   * IPVS version and connection table size.
   * @example
   * ```ts
   * const { version, connTableSize } = await ipvs.info(); // '1.2.1', 4096
   * ```
   */
  async info(options?: CallOptions): Promise<Info> {
    const [m] = await this.command(C.IPVS_CMD_GET_INFO, {}, { operation: 'info', kind: 'info' }, options);
    const a = m ? decodeGenlAttributes(infoTable, m) : {};
    const v = a.version ?? 0;
    return { version: `${(v >> 16) & 0xff}.${(v >> 8) & 0xff}.${v & 0xff}`, connTableSize: a.connTableSize ?? 0 };
  }

  /**
   * Add a virtual service. Defaults: scheduler `'wlc'`, not persistent.
   * @example
   * ```ts
   * await ipvs.addService({ protocol: 'tcp', address: '192.0.2.10', port: 443, scheduler: 'sh',
   *   schedulerFlags: ['sh-port'], persistence: { timeout: 600, netmask: 24 } });
   * ```
   */
  async addService(spec: ServiceSpec, options?: CallOptions): Promise<void> {
    const s = normalizeServiceSpec(spec);
    const object = `service ${describeService(s)}`;
    await this.command(
      C.IPVS_CMD_NEW_SERVICE,
      { service: serviceSpecAttributes(s) },
      { operation: 'addService', kind: 'add-service', object, scheduler: s.scheduler, ...(s.persistenceEngine ? { persistenceEngine: s.persistenceEngine } : {}) },
      options,
    );
  }

  /**
   * Replace a service's options (scheduler, flags, persistence). Fields left out
   * take their defaults, as with {@link addService}.
   * @example
   * ```ts
   * await ipvs.updateService({ protocol: 'tcp', address: '192.0.2.10', port: 443, scheduler: 'rr' });
   * ```
   */
  async updateService(spec: ServiceSpec, options?: CallOptions): Promise<void> {
    const s = normalizeServiceSpec(spec);
    const name = describeService(s);
    await this.command(
      C.IPVS_CMD_SET_SERVICE,
      { service: serviceSpecAttributes(s) },
      { operation: 'updateService', kind: 'add-service', object: `service ${name}`, service: name, scheduler: s.scheduler, ...(s.persistenceEngine ? { persistenceEngine: s.persistenceEngine } : {}) },
      options,
    );
  }

  /**
   * Delete a service and its destinations.
   * @example
   * ```ts
   * await ipvs.deleteService({ fwmark: 7 });
   * ```
   */
  async deleteService(key: ServiceKey, options?: CallOptions): Promise<void> {
    const k = normalizeServiceKey(key);
    const name = describeService(k);
    await this.command(C.IPVS_CMD_DEL_SERVICE, { service: serviceKeyAttributes(k) }, { operation: 'deleteService', kind: 'service', object: `service ${name}`, service: name }, options);
  }

  /**
   * One service, normalised, with statistics. Rejects with IpvsError ESRCH when it does not exist.
   * @example
   * ```ts
   * const svc = await ipvs.getService({ protocol: 'udp', address: '2001:db8::53', port: 53 });
   * ```
   */
  async getService(key: ServiceKey, options?: CallOptions): Promise<Service> {
    const k = normalizeServiceKey(key);
    const name = describeService(k);
    const replies = await this.command(C.IPVS_CMD_GET_SERVICE, { service: serviceKeyAttributes(k) }, { operation: 'getService', kind: 'service', object: `service ${name}`, service: name }, options);
    const svc = replies.map((m) => decodeGenlAttributes(commandTable, m).service).find((s) => s !== undefined);
    if (!svc) throw toIpvsError(new NetlinkError(3), { operation: 'getService', kind: 'service', service: name });
    return serviceOf(svc);
  }

  /**
   * Every service in the table (`[]` when empty), in the kernel's order.
   * @example
   * ```ts
   * for (const s of await ipvs.listServices()) console.log(s.scheduler, s.stats.connections);
   * ```
   */
  async listServices(options?: CallOptions): Promise<Service[]> {
    const replies = await this.command(C.IPVS_CMD_GET_SERVICE, {}, { operation: 'listServices', kind: 'service' }, options, true);
    const out: Service[] = [];
    for (const m of replies) {
      const s = decodeGenlAttributes(commandTable, m).service;
      if (s) out.push(serviceOf(s));
    }
    return out;
  }

  private destinationContext(operation: string, k: NormalServiceKey, address: string, family: 'ipv4' | 'ipv6', port: number, add = false): IpvsErrorContext {
    const service = describeService(k);
    return { operation, kind: add ? 'add-destination' : 'destination', object: `destination ${formatAddressPort(address, family, port)}`, service };
  }

  /**
   * Add a real server to a service. Defaults: weight 1, forward `'route'`, port = the service's.
   * @example
   * ```ts
   * await ipvs.addDestination({ protocol: 'tcp', address: '192.0.2.10', port: 443 },
   *   { address: '10.0.1.5', port: 8443, forward: 'masq', weight: 5 });
   * ```
   */
  async addDestination(key: ServiceKey, dest: DestinationSpec, options?: CallOptions): Promise<void> {
    const k = normalizeServiceKey(key);
    const d = normalizeDestination(dest, k);
    await this.command(
      C.IPVS_CMD_NEW_DEST,
      { service: serviceKeyAttributes(k), destination: destinationAttributes(d) },
      this.destinationContext('addDestination', k, d.address, d.family, d.port, true),
      options,
    );
  }

  /**
   * Change a real server's weight, forwarding method, thresholds or tunnel.
   * Fields left out take their defaults, as with {@link addDestination}.
   * @example
   * ```ts
   * await ipvs.updateDestination(svc, { address: '10.0.1.5', port: 8443, forward: 'masq', weight: 0 }); // quiesce
   * ```
   */
  async updateDestination(key: ServiceKey, dest: DestinationSpec, options?: CallOptions): Promise<void> {
    const k = normalizeServiceKey(key);
    const d = normalizeDestination(dest, k);
    await this.command(
      C.IPVS_CMD_SET_DEST,
      { service: serviceKeyAttributes(k), destination: destinationAttributes(d) },
      this.destinationContext('updateDestination', k, d.address, d.family, d.port),
      options,
    );
  }

  /**
   * Remove a real server from a service.
   * @example
   * ```ts
   * await ipvs.deleteDestination(svc, { address: '10.0.1.5', port: 8443 });
   * ```
   */
  async deleteDestination(key: ServiceKey, dest: DestinationKey, options?: CallOptions): Promise<void> {
    const k = normalizeServiceKey(key);
    const d = normalizeDestinationKey(dest, k);
    await this.command(
      C.IPVS_CMD_DEL_DEST,
      { service: serviceKeyAttributes(k), destination: destinationKeyAttributes(d) },
      this.destinationContext('deleteDestination', k, d.address, d.family, d.port),
      options,
    );
  }

  /**
   * The real servers of a service (`[]` when it has none). Rejects with ESRCH when the service does not exist.
   * @example
   * ```ts
   * const dests = await ipvs.listDestinations({ fwmark: 7 });
   * ```
   */
  async listDestinations(key: ServiceKey, options?: CallOptions): Promise<Destination[]> {
    const k = normalizeServiceKey(key);
    const name = describeService(k);
    const out = await this.dumpDestinations(k, 'listDestinations', options);
    // The kernel answers an unknown service with an empty dump; tell the two apart
    // (an unknown service then fails with ESRCH, reported as this operation's).
    if (out.length === 0) {
      await this.command(C.IPVS_CMD_GET_SERVICE, { service: serviceKeyAttributes(k) }, { operation: 'listDestinations', kind: 'service', object: `service ${name}`, service: name }, options);
    }
    return out;
  }

  /**
   * The real servers of a service as specs (address, port, weight,
   * forwarding, thresholds, tunnel), without statistics or connection counts:
   * each reply is read in place, as {@link snapshot} reads it, with no
   * attribute objects. For callers that re-read a service often (the health
   * checker's sync); {@link listDestinations} gives the counters too. Rejects
   * with ESRCH when the service does not exist.
   * @example
   * ```ts
   * const weights = (await ipvs.listDestinationSpecs({ protocol: 'tcp', address: '192.0.2.10', port: 80 })).map((d) => d.weight);
   * ```
   */
  async listDestinationSpecs(key: ServiceKey, options?: CallOptions): Promise<Array<DestinationSpec & { port: number; weight: number }>> {
    const k = normalizeServiceKey(key);
    const name = describeService(k);
    const out: Array<DestinationSpec & { port: number; weight: number }> = [];
    await this.dumpSeries(
      C.IPVS_CMD_GET_DEST,
      1,
      options,
      () => ({ operation: 'listDestinationSpecs', kind: 'service', service: name }),
      (_i, w) => writeServiceKeyNest(w, k),
      (_i, datagram, start, end) => {
        const d = liveDestinationSpecAt(datagram, start, end, k.family);
        if (d) out.push(d as DestinationSpec & { port: number; weight: number });
      },
    );
    // As in listDestinations: an empty dump is also what an unknown service gets.
    if (out.length === 0) {
      await this.command(C.IPVS_CMD_GET_SERVICE, { service: serviceKeyAttributes(k) }, { operation: 'listDestinationSpecs', kind: 'service', object: `service ${name}`, service: name }, options);
    }
    return out;
  }

  /**
   * Connection timeouts in seconds.
   * @example
   * ```ts
   * const { tcp, tcpFin, udp } = await ipvs.getTimeouts(); // 900, 120, 300 by default
   * ```
   */
  async getTimeouts(options?: CallOptions): Promise<Timeouts> {
    const [m] = await this.command(C.IPVS_CMD_GET_CONFIG, {}, { operation: 'getTimeouts', kind: 'config' }, options);
    const a = m ? decodeGenlAttributes(commandTable, m) : {};
    return { tcp: a.tcpTimeout ?? 0, tcpFin: a.tcpFinTimeout ?? 0, udp: a.udpTimeout ?? 0 };
  }

  /**
   * Set connection timeouts (seconds); those left out are unchanged.
   * @example
   * ```ts
   * await ipvs.setTimeouts({ tcp: 3600, udp: 60 });
   * ```
   */
  async setTimeouts(timeouts: Partial<Timeouts>, options?: CallOptions): Promise<void> {
    const t = normalizeTimeouts(timeouts);
    const attrs: CommandAttrs = {};
    if (t.tcp !== undefined) attrs.tcpTimeout = t.tcp;
    if (t.tcpFin !== undefined) attrs.tcpFinTimeout = t.tcpFin;
    if (t.udp !== undefined) attrs.udpTimeout = t.udp;
    await this.command(C.IPVS_CMD_SET_CONFIG, attrs, { operation: 'setTimeouts', kind: 'config', object: 'timeouts' }, options);
  }

  /**
   * Start a connection-synchronisation daemon.
   * @example
   * ```ts
   * await ipvs.startDaemon({ state: 'master', interface: 'eth0', syncId: 10 });
   * ```
   */
  async startDaemon(spec: DaemonSpec, options?: CallOptions): Promise<void> {
    const d = normalizeDaemon(spec);
    await this.command(
      C.IPVS_CMD_NEW_DAEMON,
      { daemon: daemonAttributes(d) },
      { operation: 'startDaemon', kind: 'daemon', object: `sync daemon ${spec.state}`, interface: spec.interface },
      options,
    );
  }

  /**
   * Stop the master or backup sync daemon.
   * @example
   * ```ts
   * await ipvs.stopDaemon('master');
   * ```
   */
  async stopDaemon(state: DaemonState, options?: CallOptions): Promise<void> {
    const s = normalizeDaemonState(state, 'state');
    // Stopping a daemon whose kernel thread has not run yet (right after
    // startDaemon) stops it, but kthread_stop() then gives -EINTR and netlink
    // sends no answer at all for -EINTR (netlink_rcv_skb). So DEL_DAEMON goes
    // without an ACK request (it is in CHANGE_COMMANDS) and GET_INFO follows in
    // the same send: its answer confirms the stop, while an error (ESRCH) still
    // comes back as one.
    const stop = this.command(C.IPVS_CMD_DEL_DAEMON, { daemon: { state: s } }, { operation: 'stopDaemon', kind: 'stop-daemon', object: `sync daemon ${state}` }, options);
    const confirm = this.command(C.IPVS_CMD_GET_INFO, {}, { operation: 'stopDaemon', kind: 'info' }, options);
    await Promise.all([stop, confirm.catch(() => undefined)]);
  }

  /**
   * Running sync daemons (master first), `[]` when none.
   * @example
   * ```ts
   * const daemons = await ipvs.listDaemons();
   * ```
   */
  async listDaemons(options?: CallOptions): Promise<Daemon[]> {
    const replies = await this.command(C.IPVS_CMD_GET_DAEMON, {}, { operation: 'listDaemons', kind: 'daemon' }, options, true);
    const out: Daemon[] = [];
    for (const m of replies) {
      const d = decodeGenlAttributes(commandTable, m).daemon;
      if (d) out.push(daemonOf(d));
    }
    return out;
  }

  /**
   * Zero the counters of one service (and its destinations), or of everything.
   * @example
   * ```ts
   * await ipvs.zero({ protocol: 'tcp', address: '192.0.2.10', port: 443 });
   * await ipvs.zero();
   * ```
   */
  async zero(key?: ServiceKey, options?: CallOptions): Promise<void> {
    if (key === undefined) {
      await this.command(C.IPVS_CMD_ZERO, {}, { operation: 'zero', kind: 'config', object: 'all counters' }, options);
      return;
    }
    const k = normalizeServiceKey(key);
    const name = describeService(k);
    await this.command(C.IPVS_CMD_ZERO, { service: serviceKeyAttributes(k) }, { operation: 'zero', kind: 'service', object: `service ${name}`, service: name }, options);
  }

  /**
   * Delete every service and destination.
   * @example
   * ```ts
   * await ipvs.flush();
   * ```
   */
  async flush(options?: CallOptions): Promise<void> {
    await this.command(C.IPVS_CMD_FLUSH, {}, { operation: 'flush', kind: 'config', object: 'table' }, options);
  }

  /**
   * The table as `ipvsadm -Sn` prints it (rules text, sorted as ipvsadm sorts).
   * @example
   * ```ts
   * await writeFile('/etc/ipvs.rules', await ipvs.save());
   * ```
   */
  async save(options?: CallOptions): Promise<string> {
    return formatRules(await this.readTable('save', options));
  }

  /**
   * Every service with its destinations, statistics and connection counts
   * included (what `ipvsadm -Ln` shows), in the kernel's order: one service
   * dump, then the destinations of all services as one dump series. The cost
   * does not grow by a request per destination.
   * @example
   * ```ts
   * for (const { service, destinations } of await ipvs.table()) {
   *   console.log(service.scheduler, destinations.map((d) => d.activeConnections));
   * }
   * ```
   */
  async table(options?: CallOptions): Promise<TableEntry[]> {
    return this.readTable('table', options);
  }

  private async readTable(operation: string, options?: CallOptions): Promise<TableEntry[]> {
    const services = await this.listServices(options);
    // One dump series for all services' destinations (as a snapshot reads them).
    const withDests = services.map((service) => ({ service, key: normalizeServiceKey(keyOf(service)), destinations: [] as Destination[] }));
    await this.dumpSeries(
      C.IPVS_CMD_GET_DEST,
      withDests.length,
      options,
      (i) => ({ operation, kind: 'service', service: describeService(withDests[i]!.key) }),
      (i, w) => writeServiceKeyNest(w, withDests[i]!.key),
      (i, datagram, start, end) => {
        const d = decodeAttributes(commandTable, datagram, start, end).destination; // copies what it keeps
        if (d) withDests[i]!.destinations.push(destinationOf(d, withDests[i]!.key.family));
      },
    );
    return withDests.map(({ service, destinations }) => ({ service, destinations }));
  }

  /** Services without statistics, as specs with their normalised forms (for snapshots and plans). */
  private async listLiveServices(options?: CallOptions): Promise<LiveService[]> {
    const out: LiveService[] = [];
    await this.dumpSeries(C.IPVS_CMD_GET_SERVICE, 1, options, () => ({ operation: 'snapshot', kind: 'service' }), () => {}, (_i, datagram, start, end) => {
      const s = liveServiceAt(datagram, start, end);
      if (s) out.push(s);
    });
    return out;
  }

  /**
   * Fill in the destinations of live services (without statistics): one
   * GET_DEST dump per service, run back to back as one series, each reply read
   * in place as it arrives and nothing of it kept.
   */
  private async listLiveDestinations(services: LiveService[], options: CallOptions | undefined, withNormal: boolean): Promise<void> {
    await this.liveDestinationDumps(services, options, (i, datagram, start, end) => {
      const s = services[i]!;
      const d = liveDestinationAt(datagram, start, end, s.norm.family, withNormal);
      if (d) s.destinations.push(d);
    });
  }

  /**
   * One GET_DEST dump per live service, back to back as one series; `each`
   * reads each reply in place as it arrives (service `i`, the reply's
   * attributes at `datagram[start, end)`).
   */
  private liveDestinationDumps(services: readonly LiveService[], options: CallOptions | undefined, each: (i: number, datagram: Buffer, start: number, end: number) => void): Promise<void> {
    return this.dumpSeries(
      C.IPVS_CMD_GET_DEST,
      services.length,
      options,
      (i) => ({ operation: 'snapshot', kind: 'service', service: describeService(services[i]!.norm) }),
      (i, w) => writeServiceKeyNest(w, services[i]!.norm),
      each,
    );
  }

  /**
   * `count` dumps of `cmd`, back to back (Conn.requestDumps); errors are worded
   * with `context(i)` of the dump that failed.
   */
  private async dumpSeries(
    cmd: number,
    count: number,
    options: CallOptions | undefined,
    context: (index: number) => IpvsErrorContext,
    encode: (index: number, w: Writer) => void,
    onReply: (index: number, datagram: Buffer, start: number, end: number) => void,
  ): Promise<void> {
    const dumps: DumpsOptions = {
      operation: (i) => {
        const c = context(i);
        return c.service ? `${c.operation} (service ${c.service})` : c.operation;
      },
    };
    if (options?.signal) dumps.signal = options.signal;
    if (options?.timeoutMs !== undefined) dumps.timeoutMs = options.timeoutMs;
    let at = 0;
    const encodeAt = (i: number, w: Writer): void => {
      at = i;
      encode(i, w);
    };
    try {
      await this.genl.requestDumps(this.family.id, cmd, C.IPVS_GENL_VERSION, count, encodeAt, onReply, dumps);
    } catch (e) {
      throw toIpvsError(e, context(at));
    }
  }

  /** The destinations of a service (one GET_DEST dump). */
  private async dumpDestinations(k: NormalServiceKey, operation: string, options?: CallOptions): Promise<Destination[]> {
    const replies = await this.command(C.IPVS_CMD_GET_DEST, { service: serviceKeyAttributes(k) }, { operation, kind: 'service', service: describeService(k) }, options, true);
    const out: Destination[] = [];
    for (const m of replies) {
      const d = decodeGenlAttributes(commandTable, m).destination;
      if (d) out.push(destinationOf(d, k.family));
    }
    return out;
  }

  /**
   * Apply rules text as `ipvsadm -R` does (the output of `ipvsadm -S` or {@link save}).
   * Every line is parsed and checked before anything is sent; the commands then
   * go out in large batches. By default (`atomic`) a failure undoes the
   * commands already applied and rejects with an {@link ApplyError} naming the
   * failing line.
   * @example
   * ```ts
   * await ipvs.restore('-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.1:80 -r 10.0.0.2:80 -m -w 1\n');
   * ```
   */
  async restore(text: string, options: Pick<ApplyOptions, 'atomic' | 'onProgress' | 'signal'> = {}): Promise<void> {
    const commands = parseRules(text);
    const wire = wireRuleCommands(commands);
    const before = options.atomic === false ? undefined : await this.snapshot(options.signal ? { signal: options.signal } : undefined);
    const outcome = await this.sendBulk(wireSource(wire), { stopOnError: true, ...(options.signal ? { signal: options.signal } : {}), ...(options.onProgress ? { onProgress: options.onProgress } : {}) });
    if (!outcome.failure && !outcome.aborted) return;
    const restored = before ? await this.rollback(before) : { ok: false, error: new Error('atomic: false') };
    throw applyError(commands.length, (i) => `line ${commands[i]!.line}: ${commands[i]!.op}`, outcome, restored.ok, restored.error, 'restore');
  }

  /**
   * The whole live table as plain, JSON-serialisable data — services with
   * their destinations (including thresholds and tunnel settings, which
   * `ipvsadm -S` drops), timeouts and sync daemons. Feed it to {@link apply}
   * to recreate the table.
   * @example
   * ```ts
   * const state = await ipvs.snapshot();
   * await writeFile('ipvs.json', JSON.stringify(state));
   * ```
   */
  async snapshot(options?: CallOptions): Promise<DesiredState> {
    const [services, timeouts, daemons] = await Promise.all([this.listLiveServices(options), this.getTimeouts(options), this.listDaemons(options)]);
    // Each destination's spec goes straight into its service's list: one
    // object kept per destination, nothing per reply to collect later.
    const states = liveSnapshotServices(services);
    await this.liveDestinationDumps(services, options, (i, datagram, start, end) => {
      const d = liveDestinationSpecAt(datagram, start, end, services[i]!.norm.family);
      if (d) states[i]!.destinations.push(d);
    });
    return { services: states, timeouts, daemons: daemons.map(daemonSpecOf) };
  }

  /** The live table as a state and its normalised form (for plans). */
  private async readLive(options?: CallOptions): Promise<{ state: DesiredState; normal: NormalState }> {
    const [services, timeouts, daemons] = await Promise.all([this.listLiveServices(options), this.getTimeouts(options), this.listDaemons(options)]);
    await this.listLiveDestinations(services, options, true);
    return liveState(services, timeouts, daemons.map(daemonSpecOf));
  }

  /**
   * The minimal ordered operations that turn the live table into `desired`,
   * with a readable summary. Nothing is changed. Invalid entries are all
   * reported at once in one InvalidArgumentError.
   * @example
   * ```ts
   * const { summary, operations } = await ipvs.plan(desired);
   * console.log(summary); // "add 1 service, 2 destinations; delete 1 destination"
   * ```
   */
  async plan(desired: DesiredState, options: CallOptions & { removal?: Removal } = {}): Promise<Plan> {
    const want = normalizeState(desired);
    const live = await this.readLive(options);
    return diffStates(live.state, desired, options.removal ?? 'delete', want, live.normal);
  }

  /**
   * Make the live table equal `desired`: plan against a fresh snapshot, then
   * send the operations many per system call. With `atomic` (the default) a
   * failure or abort undoes what was already applied and rejects with an
   * {@link ApplyError} that names the failing operation and says whether the
   * table was restored. Nothing already in the table is lost.
   * @example
   * ```ts
   * const result = await ipvs.apply({ services: [{ protocol: 'tcp', address: '10.0.0.1', port: 80,
   *   scheduler: 'rr', destinations: [{ address: '10.0.1.1', forward: 'masq' }] }] });
   * console.log(result.plan.summary, result.durationMs);
   * ```
   */
  async apply(desired: DesiredState, options: ApplyOptions = {}): Promise<ApplyResult> {
    const started = performance.now();
    const callOpts: CallOptions | undefined = options.signal ? { signal: options.signal } : undefined;
    const { before, plan } = await this.planAgainstLive(desired, options.removal ?? 'delete', callOpts);
    const { operations, normals } = plan;
    const summary = { counts: plan.counts, summary: plan.summary };
    if (options.dryRun || operations.length === 0) {
      return { applied: 0, plan: summary, operations, durationMs: performance.now() - started, dryRun: !!options.dryRun };
    }
    // Messages are built as they are sent (the plan was validated whole above),
    // so memory does not hold a second copy of a large state.
    const outcome = await this.sendBulk(planSource(operations, normals), {
      stopOnError: true,
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    });
    if (!outcome.failure && !outcome.aborted) {
      return { applied: outcome.applied, plan: summary, operations, durationMs: performance.now() - started, dryRun: false };
    }
    const restored = options.atomic === false ? { ok: false, error: new Error('atomic: false') } : await this.rollback(restrictTo(before, desired));
    throw applyError(operations.length, (i) => describeOperation(operations[i]!), outcome, restored.ok, restored.error, 'apply');
  }

  /**
   * Send operations (as in a {@link Plan}: typically several destination
   * weight changes) as they are, through the batch path: many per system call,
   * without reading the table first and without undo. Every operation is tried
   * (with `stopOnError`, nothing more is sent after a refusal; the operations
   * already sent with it still run); rejects with an {@link ApplyError} naming
   * the first that the kernel refused, whose `refused` and `sent` say exactly
   * which operations took effect (from the kernel's answer to each message).
   * @example
   * ```ts
   * const service = { protocol: 'tcp' as const, address: '10.0.0.1', port: 80 };
   * await ipvs.runOperations([
   *   { op: 'update-destination', service, destination: { address: '10.0.1.1', forward: 'masq', weight: 0 }, before: { address: '10.0.1.1' } },
   *   { op: 'update-destination', service, destination: { address: '10.0.1.2', forward: 'masq', weight: 5 }, before: { address: '10.0.1.2' } },
   * ]);
   * ```
   */
  async runOperations(operations: readonly Operation[], options: CallOptions & { stopOnError?: boolean } = {}): Promise<{ applied: number }> {
    if (operations.length === 0) return { applied: 0 };
    const outcome = await this.sendBulk(planSource(operations), { stopOnError: options.stopOnError ?? false, ...(options.signal ? { signal: options.signal } : {}) });
    if (outcome.failure || outcome.aborted) {
      throw applyError(operations.length, (i) => describeOperation(operations[i]!), outcome, false, new Error('runOperations does not undo'), 'runOperations');
    }
    return { applied: outcome.applied };
  }

  /** Put the table back to `before` (no signal: a rollback must not be cut short). */
  /**
   * Check `desired` whole (before anything is read or sent), read the live
   * table and plan against it. A function of its own so that the normalised
   * forms of both tables (a large part of a large apply's memory) are garbage
   * once the plan is made, not held through the sending.
   */
  private async planAgainstLive(desired: DesiredState, removal: Removal, options: CallOptions | undefined): Promise<{ before: DesiredState; plan: NormalizedPlan }> {
    const want = normalizeState(desired);
    const live = await this.readLive(options);
    return { before: live.state, plan: diffStatesWithNormals(live.state, desired, removal, want, live.normal) };
  }

  private async rollback(before: DesiredState): Promise<{ ok: boolean; error?: unknown }> {
    try {
      // What was there before is taken as it was, even where it holds what this
      // library would not write itself (e.g. a mask set by another tool).
      const want = normalizeState(before, 'live');
      for (let attempt = 0; attempt < 3; attempt++) {
        const live = await this.readLive();
        const plan = diffStatesWithNormals(live.state, before, 'delete', want, live.normal);
        if (plan.operations.length === 0) return { ok: true };
        await this.sendBulk(planSource(plan.operations, plan.normals), { stopOnError: false });
      }
      const live = await this.readLive();
      return diffStates(live.state, before, 'delete', want, live.normal).operations.length === 0 ? { ok: true } : { ok: false, error: new Error('the table still differs after 3 attempts') };
    } catch (error) {
      return { ok: false, error };
    }
  }

  /**
   * Send messages through the batch path: many per system call, one ACK per
   * send. Resolves with how many succeeded and the first refusal (as an
   * IpvsError in its operation's terms).
   */
  private async sendBulk(
    source: BulkSource,
    options: { stopOnError: boolean; signal?: AbortSignal; onProgress?: (p: { done: number; total: number }) => void },
  ): Promise<RunOutcome> {
    // DEL_DAEMON cannot end a send: when it races the daemon thread's start the
    // kernel answers nothing at all (see stopDaemon). So the run is cut into
    // batches at each DEL_DAEMON, and those go through stopDaemon's confirmed path.
    const { count } = source;
    const result: RunOutcome = { applied: 0, aborted: false, refused: [], sent: 0 };
    let start = 0;
    while (start < count) {
      let end = start;
      while (end < count && source.stopsDaemon(end) === undefined) end++;
      if (end > start) {
        const base = start;
        const outcome = await this.genl.conn.requestBatch(this.family.id, end - start, (i, w) => source.write(base + i, w), {
          stopOnError: options.stopOnError,
          operation: 'batch',
          ...(options.signal ? { signal: options.signal } : {}),
          ...(options.onProgress ? { onProgress: (done: number) => options.onProgress!({ done: base + done, total: count }) } : {}),
        });
        result.applied += outcome.succeeded;
        result.sent = base + outcome.sent;
        for (const e of outcome.errors) result.refused.push(base + e.index);
        const first = outcome.errors[0];
        if (first && !result.failure) result.failure = { index: base + first.index, error: toIpvsError(first.error, source.context(base + first.index)) };
        if (outcome.stopped && !first) result.aborted = true;
        if (result.aborted || (result.failure && options.stopOnError)) return result;
      }
      if (end < count) {
        if (options.signal?.aborted) {
          result.aborted = true;
          return result;
        }
        result.sent = end + 1;
        try {
          await this.stopDaemon(source.stopsDaemon(end)!);
          result.applied++;
        } catch (e) {
          result.refused.push(end);
          if (!result.failure) result.failure = { index: end, error: e };
          if (options.stopOnError) return result;
        }
        options.onProgress?.({ done: end + 1, total: count });
      }
      start = end + 1;
    }
    return result;
  }

  /** Close the socket. Pending calls reject with ConnectionClosedError. */
  async close(): Promise<void> {
    this.genl.close();
  }
}

