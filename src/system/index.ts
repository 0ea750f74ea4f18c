/**
 * Host setup for directors and real servers: kernel parameters, virtual IP
 * addresses and takeover announcements, per network namespace. See docs/system.md.
 * @module
 */
export {
  Sysctl,
  SysctlError,
  formatSysctlValue,
  interfaceNameProblem,
  parseSysctlName,
  sysctlRange,
  type SysctlErrorOptions,
  type SysctlName,
  type SysctlOptions,
  type SysctlSnapshot,
  type SysctlValue,
} from './sysctl.js';
export {
  IPVS_SYSCTL_FIELDS,
  IpvsNotLoadedError,
  getIpvsSysctls,
  ipvsSysctlName,
  requireIpvsSysctls,
  setIpvsSysctls,
  type IpvsSysctls,
} from './ipvs-sysctl.js';
export { Addresses, type AddAddressOptions, type AddressesOptions } from './addresses.js';
export type { InterfaceAddress, Link } from './rtnetlink.js';
export { announce, buildGratuitousArp, buildUnsolicitedNa, type AnnounceOptions } from './announce.js';
export {
  director,
  realServer,
  HostProfile,
  type DirectorOptions,
  type HostPlan,
  type HostSpec,
  type HostStep,
  type RealServerOptions,
  type VerifyResult,
} from './profiles.js';
