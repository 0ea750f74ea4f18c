/**
 * The kernel's IPVS schedulers as data: what each one reads and which
 * scheduler flags it gives a meaning to. The validator (validate.ts) checks
 * scheduler flags against this table; `src/schedulers` re-exports it with the
 * engines that use it (availability, the placement simulator).
 *
 * Facts from Linux net/netfilter/ipvs/ip_vs_*.c and Kconfig (6.1): module
 * names `ip_vs_<name>`; sh reads IP_VS_SVC_F_SCHED_SH_FALLBACK/PORT
 * (include/uapi/linux/ip_vs.h), mh reads SCHED1/SCHED2 as its fallback/port
 * flags (ip_vs_mh.c); no other scheduler reads the SCHED1..3 bits.
 * @module
 */

/** The name of a scheduler-specific flag. */
export type NamedSchedulerFlag = 'sh-fallback' | 'sh-port' | 'mh-fallback' | 'mh-port';

/** One kernel scheduler. */
export interface SchedulerInfo {
  /** Name as ipvsadm and the netlink API take it, e.g. `'wlc'`. */
  readonly name: string;
  /** Kernel module that provides it, e.g. `'ip_vs_wlc'`. */
  readonly module: string;
  /** One-line description. */
  readonly description: string;
  /** Scheduler-specific flags it gives a meaning to (the generic flag-1..3 bits are always accepted). */
  readonly flags: readonly NamedSchedulerFlag[];
  /** Whether destination weights change its choice (beyond weight 0 meaning "no new connections"). */
  readonly usesWeights: boolean;
  /** Whether it reads the destinations' active/inactive connection counts. */
  readonly usesConnections: boolean;
  /** Whether it hashes the client's (source) address. */
  readonly usesSource: boolean;
  /** Whether it hashes the packet's destination address (the virtual address). */
  readonly usesDestination: boolean;
  /** Linux version that added it, where later than 2.6. */
  readonly since?: string;
}

function s(
  name: string,
  description: string,
  uses: { weights?: boolean; connections?: boolean; source?: boolean; destination?: boolean },
  flags: readonly NamedSchedulerFlag[] = [],
  since?: string,
): SchedulerInfo {
  const info: SchedulerInfo = {
    name,
    module: `ip_vs_${name}`,
    description,
    flags,
    usesWeights: uses.weights ?? false,
    usesConnections: uses.connections ?? false,
    usesSource: uses.source ?? false,
    usesDestination: uses.destination ?? false,
  };
  return since === undefined ? Object.freeze(info) : Object.freeze({ ...info, since });
}

/**
 * Every scheduler of the Linux kernel, in the order of net/netfilter/ipvs/Kconfig
 * (6.1 stable).
 */
export const SCHEDULERS: readonly SchedulerInfo[] = Object.freeze([
  s('rr', 'round robin: each destination in list order in turn, skipping weight 0 and overloaded ones', {}),
  s('wrr', 'weighted round robin: turns in proportion to weight, interleaved by a falling weight threshold', { weights: true }),
  s('lc', 'least connection: fewest active*256 + inactive connections, weights ignored', { connections: true }),
  s('wlc', 'weighted least connection: fewest (active*256 + inactive) / weight; the default', { weights: true, connections: true }),
  s('fo', 'weighted failover: the available destination of highest weight', { weights: true }),
  s('ovf', 'weighted overflow: highest weight until its active connections exceed its weight', { weights: true, connections: true }),
  s('lblc', 'locality-based least connection: destination address pinned to a server until it is overloaded', { weights: true, connections: true, destination: true }),
  s('lblcr', 'locality-based least connection with replication: a server set per destination address', { weights: true, connections: true, destination: true }),
  s('dh', 'destination hashing: a static 256-bucket table by destination address', { destination: true }),
  s('sh', 'source hashing: a 256-bucket table by source address, weight-replicated', { weights: true, source: true }, ['sh-fallback', 'sh-port']),
  s('mh', 'Maglev hashing: a consistent lookup table by source address (4093 slots with the default CONFIG_IP_VS_MH_TAB_INDEX)', { weights: true, source: true }, ['mh-fallback', 'mh-port'], '4.18'),
  s('sed', 'shortest expected delay: fewest (active + 1) / weight', { weights: true, connections: true }),
  s('nq', 'never queue: an idle destination if any, else shortest expected delay', { weights: true, connections: true }),
  s('twos', 'weighted random twos choice: the less loaded of two random picks (6.2, and later 6.1 stable kernels)', { weights: true, connections: true }),
]);

/** The catalog entry of a scheduler name, or undefined for a name the catalog does not know. */
export function schedulerInfo(name: string): SchedulerInfo | undefined {
  return SCHEDULERS.find((x) => x.name === name);
}

/** The scheduler a named flag belongs to (`'sh-port'` → `'sh'`), or undefined for a generic flag. */
export function schedulerOfFlag(flag: string): string | undefined {
  for (const x of SCHEDULERS) if ((x.flags as readonly string[]).includes(flag)) return x.name;
  return undefined;
}
