/**
 * ipvs-ts: a typed TypeScript SDK for Linux IPVS over generic netlink.
 *
 * ```ts
 * import { Ipvs } from 'ipvs-ts';
 * const ipvs = await Ipvs.open();
 * ```
 * @module
 */
export { Ipvs, type IpvsOptions, type CallOptions } from './ipvs/client.js';
export { IpvsError } from './ipvs/errors.js';
export type {
  AddressServiceKey,
  Daemon,
  DaemonSpec,
  DaemonState,
  Destination,
  DestinationKey,
  DestinationSpec,
  Family,
  ForwardMethod,
  FwmarkServiceKey,
  Info,
  Persistence,
  Protocol,
  SchedulerFlag,
  Service,
  ServiceKey,
  ServiceOptions,
  ServiceSpec,
  Stats,
  Timeouts,
  TunnelSpec,
} from './ipvs/types.js';
export { formatRules, parseRules, type RuleCommand } from './ipvs/rules.js';
export { ApplyError, type ApplyOptions, type ApplyProgress, type ApplyResult } from './ipvs/apply.js';
export { describeOperation, type DesiredState, type Operation, type Plan, type Removal, type ServiceState } from './ipvs/state.js';
export {
  AbortError,
  ConnectionClosedError,
  DecodeError,
  DumpInterruptedError,
  InvalidArgumentError,
  NetlinkError,
  RepliesLostError,
  TimeoutError,
  errnoCode,
  type ExtendedAck,
  type NetlinkErrorOptions,
} from './errors.js';
export { Conn, type BatchOptions, type BatchOutcome, type DumpsOptions, type ConnOptions, type RequestOptions, type SocketFactory, type ConnStats } from './netlink/conn.js';
export { GenlConn, type GenlFamily, type GenlMessage, type GenlRequestOptions } from './netlink/genl.js';
export type { NativeSocket, OpenSocketOptions } from './netlink/binding.js';
export * from './system/index.js';

// ---- command line, listing, metrics, importers ----------------------------
export type { TableEntry } from './ipvs/client.js';
export { formatListing, formatListingBytes, formatLargeNumber, type ListingEntry, type ListingOptions, type ListingView } from './ipvs/listing.js';
export { formatExposition, escapeLabelValue, EXPOSITION_CONTENT_TYPE, type MetricFamily, type MetricSample, type MetricType } from './metrics/exposition.js';
export { MetricsRegistry, type MetricsCollector } from './metrics/registry.js';
export { metrics, ipvsCollector, ipvsMetricFamilies, serviceLabels } from './metrics/ipvs.js';
export * from './importers/index.js';
export { main as cliMain } from './cli/main.js';
export { EXIT as CLI_EXIT, type CliIo } from './cli/io.js';
export { formatOperation, formatPlanDiff, formatPlanDiffBytes } from './cli/plan-diff.js';
// ---- end command line, listing, metrics, importers ------------------------
// ---- schedulers and persistence (src/schedulers) ----
export * from './schedulers/index.js';
export * from './persistence/index.js';
// ---- end schedulers and persistence ----
// --- heartbeat and failover (src/heartbeat, docs/heartbeat.md) ---
export * from './heartbeat/index.js';
// --- end heartbeat and failover ---
// ---- health checks (src/health) ----
export {
  runCheck,
  type RunCheckOptions,
} from './health/run-check.js';
export {
  DEFAULT_CHECK_TIMEOUT_MS,
  parseStatusRanges,
  validateCheckSpec,
  type CheckCommon,
  type CheckResult,
  type CheckSpec,
  type CheckTarget,
  type DnsCheck,
  type DnsRecordType,
  type ExecCheck,
  type FunctionCheck,
  type HttpCheck,
  type IcmpCheck,
  type NegotiateCheck,
  type NoneCheck,
  type ProbeContext,
  type ProbeVerdict,
  type StatusRanges,
  type TcpCheck,
  type UdpCheck,
  type UdpPayload,
} from './health/spec.js';
export { EXEC_ENV } from './health/probe-exec.js';
export { HealthChecker, systemClock } from './health/checker.js';
export type {
  Clock,
  DestinationName,
  DestinationState,
  DestinationStatus,
  DrainOptions,
  DrainOutcome,
  HealthCheckerOptions,
  HealthEvent,
  HealthIpvs,
  HealthStatus,
  PoolDestination,
  ProbeRunner,
} from './health/checker-types.js';
// ---- end health checks ----
// ---- director daemon (src/director, docs/daemon.md) ----
export * from './director/index.js';
export { type ReconfigureOutcome } from './health/reconfigure.js';
// ---- end director daemon ----
