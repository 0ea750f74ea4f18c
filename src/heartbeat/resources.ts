/**
 * The resources a director moves on failover: a virtual IP (with gratuitous
 * ARP / unsolicited NA), the IPVS table, the connection sync daemon, and a
 * hook for anything else. Each follows {@link Resource}.
 * @module
 */
import { InvalidArgumentError } from '../errors.js';
import { Ipvs } from '../ipvs/client.js';
import type { DesiredState } from '../ipvs/state.js';
import type { DaemonSpec } from '../ipvs/types.js';
import { Addresses } from '../system/addresses.js';
import { announce } from '../system/announce.js';
import { Sysctl } from '../system/sysctl.js';
import { setIpvsSysctls } from '../system/ipvs-sysctl.js';
import type { Transition } from './election.js';
import type { Resource } from './failover.js';

/** Options of {@link vip}. */
export interface VipOptions {
  /** `ADDR/PREFIX` (a bare address means /32 or /128). */
  address: string;
  /** Interface to put it on. */
  interface: string;
  /** Announcements on takeover: `false` for none; default 5 packets 200 ms apart. */
  announce?: false | { count?: number; intervalMs?: number; refreshMs?: number };
  /** Network namespace (default: the process's). */
  netns?: string;
}

/**
 * The VIP: address added on becoming master, then gratuitous ARP (IPv4) or
 * unsolicited NA (IPv6) sent with the host-setup module's `announce()` (the
 * first packet before `acquire` resolves, the rest in the background;
 * again every `refreshMs` if given, and on `reannounce`); address deleted on
 * release. Only a failure to add the address fails `acquire`: announcing is
 * best effort there (the interface may be down during a partition), while
 * `reannounce` rejects when it cannot announce.
 */
export function vip(options: VipOptions): Resource {
  if (typeof options?.address !== 'string' || !options.address) throw new InvalidArgumentError('address', 'must be ADDR/PREFIX');
  if (typeof options.interface !== 'string' || !options.interface) throw new InvalidArgumentError('interface', 'must be an interface name');
  const a = options.announce === false ? undefined : { count: 5, intervalMs: 200, ...options.announce };
  const ns = options.netns !== undefined ? { netns: options.netns } : {};
  let addresses: Addresses | undefined;
  let abort: AbortController | undefined;
  let refresh: NodeJS.Timeout | undefined;
  const address = options.address.split('/')[0]!;
  const burst = async (): Promise<void> => {
    if (!a) return;
    abort?.abort();
    const ac = (abort = new AbortController());
    const common = { interface: options.interface, address, ...ns };
    await announce({ ...common, count: 1, intervalMs: 0 });
    if (a.count > 1) {
      void announce({ ...common, count: a.count - 1, intervalMs: a.intervalMs, signal: ac.signal }).catch(() => undefined);
    }
  };
  return {
    name: `vip ${options.address} on ${options.interface}`,
    async acquire() {
      addresses ??= Addresses.open(ns);
      await addresses.add(options.interface, options.address);
      // Announcing is best effort: the interface may be down (a partition),
      // and the address must be held anyway. A failure shows in reannounce.
      await burst().catch(() => undefined);
      if (a?.refreshMs) refresh = setInterval(() => void burst().catch(() => undefined), a.refreshMs);
    },
    async release() {
      clearInterval(refresh);
      abort?.abort();
      addresses ??= Addresses.open(ns);
      try {
        await addresses.delete(options.interface, options.address);
      } finally {
        addresses.close();
        addresses = undefined;
      }
    },
    reannounce: burst,
  };
}

/** Options of {@link ipvsTable}. */
export interface IpvsTableOptions {
  /** Network namespace (default: the process's). */
  netns?: string;
  /**
   * Keep the table on the backup too, with `net.ipv4.vs.backup_only=1` there
   * (so a backup that receives traffic does not forward it: no DR loops) and
   * 0 on the master. Default false: the table is emptied on leaving master.
   */
  onBackup?: boolean;
}

/** The IPVS table: `Ipvs.apply(desired)` on becoming master; emptied (or kept, with `onBackup`) on leaving. */
export function ipvsTable(desired: DesiredState, options: IpvsTableOptions = {}): Resource {
  if (!desired || !Array.isArray(desired.services)) throw new InvalidArgumentError('desired.services', 'must be an array');
  const ns = options.netns !== undefined ? { netns: options.netns } : {};
  const withIpvs = async (fn: (ipvs: Ipvs) => Promise<unknown>) => {
    const ipvs = await Ipvs.open(ns);
    try {
      await fn(ipvs);
    } finally {
      await ipvs.close();
    }
  };
  const backupOnly = (on: boolean) => setIpvsSysctls(Sysctl.open(ns), { backupOnly: on });
  const table: Resource = {
    name: 'ipvs table',
    async acquire() {
      if (options.onBackup) backupOnly(false);
      await withIpvs((ipvs) => ipvs.apply(desired));
    },
    async release() {
      if (!options.onBackup) await withIpvs((ipvs) => ipvs.apply({ services: [] }));
    },
  };
  if (options.onBackup) {
    table.standby = async () => {
      backupOnly(true);
      await withIpvs((ipvs) => ipvs.apply(desired));
    };
  }
  return table;
}

/** Options of {@link syncDaemon}: the daemon spec without its state, plus the namespace. */
export type SyncDaemonOptions = Omit<DaemonSpec, 'state'> & { netns?: string };

/**
 * The kernel's connection sync daemon following the role (keepalived's
 * `lvs_sync_daemon`): `master` while master, `backup` while backup.
 */
export function syncDaemon(options: SyncDaemonOptions): Resource {
  if (typeof options?.interface !== 'string' || !options.interface) throw new InvalidArgumentError('interface', 'must be an interface name');
  const { netns, ...spec } = options;
  const open = () => Ipvs.open(netns !== undefined ? { netns } : {});
  const daemon = (state: 'master' | 'backup', start: boolean) => async () => {
    const ipvs = await open();
    try {
      if (start) {
        // A daemon of that state left by an earlier run would make the start fail with EEXIST.
        if ((await ipvs.listDaemons()).some((d) => d.state === state)) await ipvs.stopDaemon(state);
        await ipvs.startDaemon({ ...spec, state });
      } else if ((await ipvs.listDaemons()).some((d) => d.state === state)) {
        await ipvs.stopDaemon(state);
      }
    } finally {
      await ipvs.close();
    }
  };
  return {
    name: `sync daemon on ${options.interface}`,
    acquire: daemon('master', true),
    release: daemon('master', false),
    standby: daemon('backup', true),
    leaveStandby: daemon('backup', false),
  };
}

/**
 * Anything else, called once per transition with it: when becoming master at
 * its place in the start order, when leaving master at its place in the stop
 * order, otherwise after the other resources. A hook that throws while
 * becoming master fails like any resource (fault, release of what started).
 */
export function hook(fn: (t: Transition) => void | Promise<void>, name = 'hook'): Resource {
  if (typeof fn !== 'function') throw new InvalidArgumentError('hook', 'must be a function');
  const call = async (t?: Transition) => {
    await fn(t!);
  };
  return { name, acquire: call, release: call, notify: call };
}
