/**
 * IPVS attribute tables (data only). Types and sizes follow the kernel's
 * policies and fill functions in `net/netfilter/ipvs/ip_vs_ctl.c`; numbers come
 * from `include/uapi/linux/ip_vs.h` (see constants.ts).
 *
 * Field order is the order requests are written in; it follows libipvs
 * (ipvsadm 1.31), so our requests match ipvsadm's byte for byte.
 * @module
 */
import { defineTable } from '../netlink/schema.js';
import * as C from './constants.js';

/** 32-bit statistics (IPVS_SVC_ATTR_STATS / IPVS_DEST_ATTR_STATS): counters u32, byte counts u64. */
export const statsTable = defineTable('stats', {
  conns: { id: C.IPVS_STATS_ATTR_CONNS, type: 'u32' },
  inPackets: { id: C.IPVS_STATS_ATTR_INPKTS, type: 'u32' },
  outPackets: { id: C.IPVS_STATS_ATTR_OUTPKTS, type: 'u32' },
  inBytes: { id: C.IPVS_STATS_ATTR_INBYTES, type: 'u64' },
  outBytes: { id: C.IPVS_STATS_ATTR_OUTBYTES, type: 'u64' },
  cps: { id: C.IPVS_STATS_ATTR_CPS, type: 'u32' },
  inPps: { id: C.IPVS_STATS_ATTR_INPPS, type: 'u32' },
  outPps: { id: C.IPVS_STATS_ATTR_OUTPPS, type: 'u32' },
  inBps: { id: C.IPVS_STATS_ATTR_INBPS, type: 'u32' },
  outBps: { id: C.IPVS_STATS_ATTR_OUTBPS, type: 'u32' },
  pad: { id: C.IPVS_STATS_ATTR_PAD, type: 'pad' },
});

/** 64-bit statistics (IPVS_SVC_ATTR_STATS64 / IPVS_DEST_ATTR_STATS64, Linux 4.1+). */
export const stats64Table = defineTable('stats64', {
  conns: { id: C.IPVS_STATS_ATTR_CONNS, type: 'u64' },
  inPackets: { id: C.IPVS_STATS_ATTR_INPKTS, type: 'u64' },
  outPackets: { id: C.IPVS_STATS_ATTR_OUTPKTS, type: 'u64' },
  inBytes: { id: C.IPVS_STATS_ATTR_INBYTES, type: 'u64' },
  outBytes: { id: C.IPVS_STATS_ATTR_OUTBYTES, type: 'u64' },
  cps: { id: C.IPVS_STATS_ATTR_CPS, type: 'u64' },
  inPps: { id: C.IPVS_STATS_ATTR_INPPS, type: 'u64' },
  outPps: { id: C.IPVS_STATS_ATTR_OUTPPS, type: 'u64' },
  inBps: { id: C.IPVS_STATS_ATTR_INBPS, type: 'u64' },
  outBps: { id: C.IPVS_STATS_ATTR_OUTBPS, type: 'u64' },
  pad: { id: C.IPVS_STATS_ATTR_PAD, type: 'pad' },
});

/** Service (IPVS_SVC_ATTR_*). Ports are big-endian; FLAGS is struct ip_vs_flags {u32 flags; u32 mask}; NETMASK is raw (see codec). */
export const serviceTable = defineTable('service', {
  af: { id: C.IPVS_SVC_ATTR_AF, type: 'u16' },
  fwmark: { id: C.IPVS_SVC_ATTR_FWMARK, type: 'u32' },
  protocol: { id: C.IPVS_SVC_ATTR_PROTOCOL, type: 'u16' },
  address: { id: C.IPVS_SVC_ATTR_ADDR, type: 'binary', maxLength: 16 },
  port: { id: C.IPVS_SVC_ATTR_PORT, type: 'be16' },
  scheduler: { id: C.IPVS_SVC_ATTR_SCHED_NAME, type: 'string', maxLength: C.IP_VS_SCHEDNAME_MAXLEN - 1 },
  persistenceEngine: { id: C.IPVS_SVC_ATTR_PE_NAME, type: 'string', maxLength: C.IP_VS_PENAME_MAXLEN - 1 },
  flags: { id: C.IPVS_SVC_ATTR_FLAGS, type: 'binary', maxLength: 8 },
  timeout: { id: C.IPVS_SVC_ATTR_TIMEOUT, type: 'u32' },
  netmask: { id: C.IPVS_SVC_ATTR_NETMASK, type: 'binary', maxLength: 4 },
  stats: { id: C.IPVS_SVC_ATTR_STATS, type: 'nested', table: statsTable },
  stats64: { id: C.IPVS_SVC_ATTR_STATS64, type: 'nested', table: stats64Table },
});

/** Destination (IPVS_DEST_ATTR_*). Ports and the tunnel port are big-endian. */
export const destinationTable = defineTable('destination', {
  af: { id: C.IPVS_DEST_ATTR_ADDR_FAMILY, type: 'u16' },
  address: { id: C.IPVS_DEST_ATTR_ADDR, type: 'binary', maxLength: 16 },
  port: { id: C.IPVS_DEST_ATTR_PORT, type: 'be16' },
  forward: { id: C.IPVS_DEST_ATTR_FWD_METHOD, type: 'u32' },
  weight: { id: C.IPVS_DEST_ATTR_WEIGHT, type: 'u32' },
  tunnelType: { id: C.IPVS_DEST_ATTR_TUN_TYPE, type: 'u8' },
  tunnelPort: { id: C.IPVS_DEST_ATTR_TUN_PORT, type: 'be16' },
  tunnelFlags: { id: C.IPVS_DEST_ATTR_TUN_FLAGS, type: 'u16' },
  upperThreshold: { id: C.IPVS_DEST_ATTR_U_THRESH, type: 'u32' },
  lowerThreshold: { id: C.IPVS_DEST_ATTR_L_THRESH, type: 'u32' },
  activeConnections: { id: C.IPVS_DEST_ATTR_ACTIVE_CONNS, type: 'u32' },
  inactiveConnections: { id: C.IPVS_DEST_ATTR_INACT_CONNS, type: 'u32' },
  persistentConnections: { id: C.IPVS_DEST_ATTR_PERSIST_CONNS, type: 'u32' },
  stats: { id: C.IPVS_DEST_ATTR_STATS, type: 'nested', table: statsTable },
  stats64: { id: C.IPVS_DEST_ATTR_STATS64, type: 'nested', table: stats64Table },
});

/**
 * Sync daemon (IPVS_DAEMON_ATTR_*). MCAST_PORT is host order (the kernel applies htons itself).
 * Field order is libipvs's (ipvs_start_daemon): maxlen, port and ttl before the group,
 * so NEW_DAEMON is byte-identical to ipvsadm's (test/fixtures/ipvs/req-start-daemon-*.hex).
 */
export const daemonTable = defineTable('daemon', {
  state: { id: C.IPVS_DAEMON_ATTR_STATE, type: 'u32' },
  interface: { id: C.IPVS_DAEMON_ATTR_MCAST_IFN, type: 'string', maxLength: C.IP_VS_IFNAME_MAXLEN - 1 },
  syncId: { id: C.IPVS_DAEMON_ATTR_SYNC_ID, type: 'u32' },
  maxLength: { id: C.IPVS_DAEMON_ATTR_SYNC_MAXLEN, type: 'u16' },
  port: { id: C.IPVS_DAEMON_ATTR_MCAST_PORT, type: 'u16' },
  ttl: { id: C.IPVS_DAEMON_ATTR_MCAST_TTL, type: 'u8' },
  group: { id: C.IPVS_DAEMON_ATTR_MCAST_GROUP, type: 'binary', maxLength: 4 },
  group6: { id: C.IPVS_DAEMON_ATTR_MCAST_GROUP6, type: 'binary', maxLength: 16 },
});

/** Top level of requests and replies (IPVS_CMD_ATTR_*). */
export const commandTable = defineTable('ipvs', {
  service: { id: C.IPVS_CMD_ATTR_SERVICE, type: 'nested', table: serviceTable },
  destination: { id: C.IPVS_CMD_ATTR_DEST, type: 'nested', table: destinationTable },
  daemon: { id: C.IPVS_CMD_ATTR_DAEMON, type: 'nested', table: daemonTable },
  tcpTimeout: { id: C.IPVS_CMD_ATTR_TIMEOUT_TCP, type: 'u32' },
  tcpFinTimeout: { id: C.IPVS_CMD_ATTR_TIMEOUT_TCP_FIN, type: 'u32' },
  udpTimeout: { id: C.IPVS_CMD_ATTR_TIMEOUT_UDP, type: 'u32' },
});

/** Top level of the GET_INFO reply (IPVS_INFO_ATTR_*; same numbers as CMD_ATTR 1 and 2). */
export const infoTable = defineTable('ipvs info', {
  version: { id: C.IPVS_INFO_ATTR_VERSION, type: 'u32' },
  connTableSize: { id: C.IPVS_INFO_ATTR_CONN_TAB_SIZE, type: 'u32' },
});

/** Pass-over stand-ins for the statistics nests, for reads that only want the configuration. */
const skipStats = {
  stats: { id: C.IPVS_SVC_ATTR_STATS, type: 'pad' },
  stats64: { id: C.IPVS_SVC_ATTR_STATS64, type: 'pad' },
} as const;

/** The service table without statistics: snapshots decode with it (less work, no BigInts). */
export const serviceConfigTable = defineTable('service', { ...serviceTable.fields, ...skipStats });

/** The destination table without statistics (same attribute numbers as the service's). */
export const destinationConfigTable = defineTable('destination', {
  ...destinationTable.fields,
  stats: { id: C.IPVS_DEST_ATTR_STATS, type: 'pad' },
  stats64: { id: C.IPVS_DEST_ATTR_STATS64, type: 'pad' },
});

/** Top level with the statistics-free nests. */
export const commandConfigTable = defineTable('ipvs', {
  ...commandTable.fields,
  service: { id: C.IPVS_CMD_ATTR_SERVICE, type: 'nested', table: serviceConfigTable },
  destination: { id: C.IPVS_CMD_ATTR_DEST, type: 'nested', table: destinationConfigTable },
});
