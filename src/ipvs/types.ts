/**
 * Public types of the IPVS client.
 * @module
 */
import type { Family } from './address.js';

export type { Family } from './address.js';

/** Transport protocol of an address/port virtual service. */
export type Protocol = 'tcp' | 'udp' | 'sctp';

/** A virtual service identified by protocol, virtual address and port. */
export interface AddressServiceKey {
  protocol: Protocol;
  /** Virtual IP address, IPv4 or IPv6; the service's family follows it. */
  address: string;
  /** 1..65535; 0 (all ports) only for a persistent service. */
  port: number;
}

/** A virtual service identified by a firewall mark. */
export interface FwmarkServiceKey {
  /** Firewall mark, 1..4294967295. */
  fwmark: number;
  /** Address family of the service (default `'ipv4'`). */
  family?: Family;
}

/** How a virtual service is identified. */
export type ServiceKey = AddressServiceKey | FwmarkServiceKey;

/** Scheduler flags: the sh and mh names are aliases of flag-1 and flag-2 for those schedulers. */
export type SchedulerFlag = 'sh-fallback' | 'sh-port' | 'mh-fallback' | 'mh-port' | 'flag-1' | 'flag-2' | 'flag-3';

/** Persistence ("sticky" clients) of a service. */
export interface Persistence {
  /** Seconds a client stays with its real server after its last connection (1..2678400, as ipvsadm allows; ipvsadm's default is 360). */
  timeout: number;
  /**
   * Granularity: clients whose addresses agree under this mask share a real
   * server. A prefix length (IPv4 0..32, IPv6 1..128), or for IPv4 a dotted
   * mask like `'255.255.255.0'`. Default: the whole address (/32 or /128).
   */
  netmask?: number | string;
}

/** Options of a service beyond its key. */
export interface ServiceOptions {
  /** Scheduler name (default `'wlc'`); the kernel decides which exist (ENOENT otherwise). `'none'` binds none. */
  scheduler?: string;
  /** Scheduler flags. */
  schedulerFlags?: SchedulerFlag[];
  /** Make the service persistent. */
  persistence?: Persistence;
  /** Persistence engine, e.g. `'sip'`. */
  persistenceEngine?: string;
  /** One-packet scheduling (UDP and fwmark services). */
  onePacket?: boolean;
}

/** What {@link Ipvs.addService} and {@link Ipvs.updateService} take: a key plus options. */
export type ServiceSpec = ServiceKey & ServiceOptions;

/** Forwarding method: direct routing (`route`, ipvsadm -g), NAT (`masq`, -m), IP tunnelling (`tunnel`, -i), local node, or cache bypass. */
export type ForwardMethod = 'route' | 'masq' | 'tunnel' | 'local' | 'bypass';

/** Encapsulation of a tunnelling destination (Linux 5.2+ for GUE, 5.3+ for GRE and checksums). */
export interface TunnelSpec {
  type: 'ipip' | 'gue' | 'gre';
  /** GUE destination UDP port (required for GUE). */
  port?: number;
  /** Checksum mode (GUE: all three; GRE: nocsum/csum; IPIP: nocsum). Default `'nocsum'`. */
  checksum?: 'nocsum' | 'csum' | 'remcsum';
}

/** A real server ("destination") of a virtual service. */
export interface DestinationSpec {
  /** Real server address; may differ in family from the service only with tunnel forwarding. */
  address: string;
  /** Real server port (default: the service's port; 0 for fwmark services). */
  port?: number;
  /** Weight 0..2147483647 (default 1); 0 quiesces the server. */
  weight?: number;
  /** Forwarding method (default `'route'`). */
  forward?: ForwardMethod;
  /** Stop sending new connections above this many (0 = no limit, the default). */
  upperThreshold?: number;
  /** Resume below this many; must not exceed the upper threshold. */
  lowerThreshold?: number;
  /** Tunnel encapsulation, only with `forward: 'tunnel'`. */
  tunnel?: TunnelSpec;
}

/** Identifies a destination within a service. */
export interface DestinationKey {
  address: string;
  port?: number;
}

/** Traffic counters (since the last zero) and rate estimates. */
export interface Stats {
  connections: bigint;
  inPackets: bigint;
  outPackets: bigint;
  inBytes: bigint;
  outBytes: bigint;
  /** Connections per second. */
  cps: number;
  inPps: number;
  outPps: number;
  /** Bytes per second. */
  inBps: number;
  outBps: number;
}

/** A service as the kernel reports it: the spec normalised, plus statistics. */
export type Service = (
  | (AddressServiceKey & { family: Family })
  | (Required<FwmarkServiceKey> & { family: Family })
) & {
  scheduler: string;
  schedulerFlags: SchedulerFlag[];
  /** Present when the service is persistent; netmask as a prefix length (or a dotted mask that is not contiguous). */
  persistence?: { timeout: number; netmask: number | string };
  persistenceEngine?: string;
  onePacket: boolean;
  /** Raw IP_VS_SVC_F_* flags as the kernel reports them. */
  flags: number;
  stats: Stats;
};

/** A destination as the kernel reports it. */
export interface Destination {
  address: string;
  family: Family;
  port: number;
  weight: number;
  forward: ForwardMethod;
  upperThreshold: number;
  lowerThreshold: number;
  /** Present for tunnel forwarding on kernels that report it. */
  tunnel?: Required<Pick<TunnelSpec, 'type' | 'checksum'>> & { port?: number };
  activeConnections: number;
  inactiveConnections: number;
  persistentConnections: number;
  stats: Stats;
}

/** Connection timeouts in seconds (each optional when setting: omitted ones are left unchanged). */
export interface Timeouts {
  tcp: number;
  tcpFin: number;
  udp: number;
}

/** Sync daemon role. */
export type DaemonState = 'master' | 'backup';

/** What {@link Ipvs.startDaemon} takes. */
export interface DaemonSpec {
  state: DaemonState;
  /** Multicast interface name (at most 15 characters). */
  interface: string;
  /** Sync id 0..255 (default 0). */
  syncId?: number;
  /** Largest sync message payload in bytes (Linux 4.3+). */
  maxLength?: number;
  /** Multicast group, IPv4 or IPv6 (default 224.0.0.81). */
  multicastGroup?: string;
  /** Base UDP port (default 8848). */
  multicastPort?: number;
  /** Multicast TTL 1..255 (default 1). */
  multicastTtl?: number;
}

/** A running sync daemon as the kernel reports it. */
export interface Daemon {
  state: DaemonState;
  interface: string;
  syncId: number;
  maxLength?: number;
  multicastGroup?: string;
  multicastPort?: number;
  multicastTtl?: number;
}

/** General IPVS information. */
export interface Info {
  /** IPVS version, e.g. `'1.2.1'`. */
  version: string;
  /** Size of the connection hash table. */
  connTableSize: number;
}
