/**
 * Plan operations and rules commands as IPVS messages, for the batch path
 * (`Conn.requestBatch`): each becomes a command number and its attributes,
 * validated before anything is sent.
 * @module
 */
import { writeGenlHeader } from '../netlink/genl.js';
import { encodeAttributes, type Attributes } from '../netlink/schema.js';
import { Writer } from '../netlink/writer.js';
import { commandTable } from './attributes.js';
import {
  daemonAttributes,
  destinationAttributes,
  destinationKeyAttributes,
  serviceKeyAttributes,
  serviceSpecAttributes,
  writeDestinationNest,
  writeServiceKeyNest,
} from './codec.js';
import * as C from './constants.js';
import { describeService, type IpvsErrorContext } from './errors.js';
import { formatAddressPort } from './address.js';
import type { RuleCommand } from './rules.js';
import type { Operation, OperationNormal } from './state.js';
import type { DaemonState, ServiceKey } from './types.js';
import {
  normalizeDaemon,
  normalizeDaemonState,
  normalizeDestination,
  normalizeDestinationKey,
  normalizeServiceKey,
  normalizeServiceSpec,
  normalizeTimeouts,
  type NormalDestination,
  type NormalServiceKey,
  type NormalServiceSpec,
} from './validate.js';

export type CommandAttributes = Attributes<(typeof commandTable)['fields']>;

/** One IPVS message: command, attributes, and how to word its errors. */
export interface WireOperation {
  cmd: number;
  attrs: CommandAttributes;
  context: () => IpvsErrorContext;
}

/** What {@link KeyCache} keeps per service. */
export interface CachedKey {
  norm: NormalServiceKey;
  attrs: CommandAttributes['service'];
  /** The encoded IPVS_CMD_ATTR_SERVICE nest of `attrs`, copied into every message about the service. */
  nest: Uint8Array;
}

/** Identifying service attributes are shared by every message about the same service. */
export class KeyCache {
  private readonly map = new Map<string, CachedKey>();
  /** By object: a plan reuses one key object for all operations on a service. */
  private readonly byObject = new WeakMap<object, CachedKey>();
  /** The last key asked for: a plan's operations on one service come one after another. */
  private lastKey: object | undefined;
  private lastEntry: CachedKey | undefined;
  /** Where each new key nest is encoded before it is copied out. */
  private readonly scratch = new Writer(64);
  get(key: ServiceKey): CachedKey {
    if (key === this.lastKey) return this.lastEntry!;
    let e = this.byObject.get(key);
    if (!e) {
      const id = 'fwmark' in key && key.fwmark !== undefined ? `f${key.fwmark}/${key.family ?? 'ipv4'}` : `${(key as { protocol: string }).protocol}/${(key as { address: string }).address}/${(key as { port: number }).port}`;
      e = this.map.get(id);
      if (!e) {
        const norm = normalizeServiceKey(key);
        const w = this.scratch;
        w.reset();
        writeServiceKeyNest(w, norm);
        e = { norm, attrs: serviceKeyAttributes(norm), nest: w.toBuffer() };
        this.map.set(id, e);
      }
      this.byObject.set(key, e);
    }
    this.lastKey = key;
    this.lastEntry = e;
    return e;
  }
}

const destContext = (operation: string, k: NormalServiceKey, address: string, family: 'ipv4' | 'ipv6', port: number, add: boolean) => (): IpvsErrorContext => ({
  operation,
  kind: add ? 'add-destination' : 'destination',
  object: `destination ${formatAddressPort(address, family, port)}`,
  service: describeService(k),
});

/**
 * One plan operation as a message (validated). `strict: false` accepts what
 * ipvsadm accepts and prints (rules text): non-contiguous dotted IPv4 masks.
 * `norm` is the operation's normalised form when the plan made one.
 */
export function wireOperation(op: Operation, keys: KeyCache, strict = true, norm?: OperationNormal): WireOperation {
    switch (op.op) {
      case 'add-service':
      case 'update-service': {
        const s = (norm as NormalServiceSpec | undefined) ?? normalizeServiceSpec(op.service, 'service', strict);
        const add = op.op === 'add-service';
        return {
          cmd: add ? C.IPVS_CMD_NEW_SERVICE : C.IPVS_CMD_SET_SERVICE,
          attrs: { service: serviceSpecAttributes(s) },
          context: () => ({
            operation: add ? 'addService' : 'updateService',
            kind: 'add-service',
            object: `service ${describeService(s)}`,
            service: describeService(s),
            scheduler: s.scheduler,
            ...(s.persistenceEngine ? { persistenceEngine: s.persistenceEngine } : {}),
          }),
        };
      }
      case 'delete-service': {
        const k = keys.get(op.service);
        return {
          cmd: C.IPVS_CMD_DEL_SERVICE,
          attrs: { service: k.attrs! },
          context: () => ({ operation: 'deleteService', kind: 'service', object: `service ${describeService(k.norm)}`, service: describeService(k.norm) }),
        };
      }
      case 'add-destination':
      case 'update-destination': {
        const k = keys.get(op.service);
        const d = (norm as NormalDestination | undefined) ?? normalizeDestination(op.destination, k.norm);
        const add = op.op === 'add-destination';
        return {
          cmd: add ? C.IPVS_CMD_NEW_DEST : C.IPVS_CMD_SET_DEST,
          attrs: { service: k.attrs!, destination: destinationAttributes(d) },
          context: destContext(add ? 'addDestination' : 'updateDestination', k.norm, d.address, d.family, d.port, add),
        };
      }
      case 'delete-destination': {
        const k = keys.get(op.service);
        const d = normalizeDestinationKey(op.destination, k.norm);
        return {
          cmd: C.IPVS_CMD_DEL_DEST,
          attrs: { service: k.attrs!, destination: destinationKeyAttributes(d) },
          context: destContext('deleteDestination', k.norm, d.address, d.family, d.port, false),
        };
      }
      case 'set-timeouts': {
        const t = normalizeTimeouts(op.timeouts);
        const attrs: CommandAttributes = {};
        if (t.tcp !== undefined) attrs.tcpTimeout = t.tcp;
        if (t.tcpFin !== undefined) attrs.tcpFinTimeout = t.tcpFin;
        if (t.udp !== undefined) attrs.udpTimeout = t.udp;
        return { cmd: C.IPVS_CMD_SET_CONFIG, attrs, context: () => ({ operation: 'setTimeouts', kind: 'config', object: 'timeouts' }) };
      }
      case 'start-daemon': {
        const d = normalizeDaemon(op.daemon);
        return {
          cmd: C.IPVS_CMD_NEW_DAEMON,
          attrs: { daemon: daemonAttributes(d) },
          context: () => ({ operation: 'startDaemon', kind: 'daemon', object: `sync daemon ${op.daemon.state}`, interface: op.daemon.interface }),
        };
      }
      case 'stop-daemon': {
        const state = normalizeDaemonState(op.state, 'state');
        return {
          cmd: C.IPVS_CMD_DEL_DAEMON,
          attrs: { daemon: { state } },
          context: () => ({ operation: 'stopDaemon', kind: 'stop-daemon', object: `sync daemon ${op.state}` }),
        };
      }
    }
}

/**
 * Write one plan operation as an IPVS message body (generic netlink header and
 * attributes). Destinations that the plan has already normalised take a direct
 * path: the service's nest comes from the cache and the destination's is
 * written field by field, with no attribute objects in between.
 */
export function writeOperation(w: Writer, op: Operation, keys: KeyCache, norm?: OperationNormal): void {
  if (op.op === 'add-destination' || op.op === 'update-destination') {
    const d = norm as NormalDestination | undefined;
    if (d) {
      writeGenlHeader(w, op.op === 'add-destination' ? C.IPVS_CMD_NEW_DEST : C.IPVS_CMD_SET_DEST, C.IPVS_GENL_VERSION);
      w.bytes(keys.get(op.service).nest);
      writeDestinationNest(w, d);
      return;
    }
  }
  writeWire(w, wireOperation(op, keys, true, norm));
}

/** Write a message built by {@link wireOperation} or {@link wireRuleCommands}. */
export function writeWire(w: Writer, o: WireOperation): void {
  writeGenlHeader(w, o.cmd, C.IPVS_GENL_VERSION);
  encodeAttributes(w, commandTable, o.attrs);
}

/** Messages for the batch path, by index: how to write each, word its errors, and spot DEL_DAEMON. */
export interface BulkSource {
  count: number;
  write(index: number, w: Writer): void;
  context(index: number): IpvsErrorContext;
  /** The daemon a DEL_DAEMON at `index` stops; undefined for every other message. */
  stopsDaemon(index: number): DaemonState | undefined;
}

/** A plan's operations (with their normalised forms, index for index, when the plan made them) as a {@link BulkSource}. */
export function planSource(operations: readonly Operation[], normals: readonly OperationNormal[] = []): BulkSource {
  const keys = new KeyCache();
  return {
    count: operations.length,
    write: (i, w) => writeOperation(w, operations[i]!, keys, normals[i]),
    context: (i) => wireOperation(operations[i]!, keys, true, normals[i]).context(),
    stopsDaemon: (i) => {
      const o = operations[i]!;
      return o.op === 'stop-daemon' ? o.state : undefined;
    },
  };
}

/** Built messages (from rules text) as a {@link BulkSource}. */
export function wireSource(wire: readonly WireOperation[]): BulkSource {
  return {
    count: wire.length,
    write: (i, w) => writeWire(w, wire[i]!),
    context: (i) => wire[i]!.context(),
    stopsDaemon: (i) => {
      const o = wire[i]!;
      if (o.cmd !== C.IPVS_CMD_DEL_DAEMON) return undefined;
      return o.attrs.daemon?.state === C.IP_VS_STATE_BACKUP ? 'backup' : 'master';
    },
  };
}

/** Turn rules commands (from ipvsadm rules text) into messages (validating each). */
export function wireRuleCommands(commands: readonly RuleCommand[]): WireOperation[] {
  const asOps: (Operation | WireOperation)[] = commands.map((c): Operation | WireOperation => {
    switch (c.op) {
      case 'add-service': return { op: 'add-service', service: c.service };
      case 'edit-service': return { op: 'update-service', service: c.service, before: c.service };
      case 'delete-service': return { op: 'delete-service', service: c.service, before: { ...c.service, destinations: [] } };
      case 'add-destination': return { op: 'add-destination', service: c.service, destination: c.destination };
      case 'edit-destination': return { op: 'update-destination', service: c.service, destination: c.destination, before: c.destination };
      case 'delete-destination': return { op: 'delete-destination', service: c.service, destination: c.destination, before: c.destination };
      case 'set-timeouts': return { op: 'set-timeouts', timeouts: c.timeouts, before: { tcp: 0, tcpFin: 0, udp: 0 } };
      case 'start-daemon': return { op: 'start-daemon', daemon: c.daemon };
      case 'stop-daemon': return { op: 'stop-daemon', state: c.state, before: { state: c.state, interface: '' } };
      case 'flush':
        return { cmd: C.IPVS_CMD_FLUSH, attrs: {}, context: () => ({ operation: 'flush', kind: 'config', object: 'table' }) };
      case 'zero': {
        if (!c.service) return { cmd: C.IPVS_CMD_ZERO, attrs: {}, context: () => ({ operation: 'zero', kind: 'config', object: 'all counters' }) };
        const k = normalizeServiceKey(c.service);
        return {
          cmd: C.IPVS_CMD_ZERO,
          attrs: { service: serviceKeyAttributes(k) },
          context: () => ({ operation: 'zero', kind: 'service', object: `service ${describeService(k)}`, service: describeService(k) }),
        };
      }
    }
  });
  // Validate everything, naming the line of the first bad command.
  const keys = new KeyCache();
  return asOps.map((o, i) => {
    if ('cmd' in o) return o;
    try {
      // ipvsadm -S prints non-contiguous masks (-M 255.0.255.0) and ipvsadm -R takes them back.
      return wireOperation(o, keys, false);
    } catch (e) {
      if (e instanceof Error) e.message = `line ${commands[i]!.line}: ${e.message}`;
      throw e;
    }
  });
}
