/**
 * Heartbeat and failover: an authenticated, replay-safe peer link, a master
 * election on top of it, and resources (VIP, IPVS table, sync daemon, hooks)
 * that follow the role. See docs/heartbeat.md.
 * @module
 */
export {
  HEARTBEAT_MAGIC,
  HEARTBEAT_VERSION,
  HEADER_LENGTH,
  MAC_LENGTH,
  MAX_PAYLOAD,
  MAX_PACKET,
  MIN_PACKET,
  DROP_REASONS,
  PacketType,
  decodePacket,
  encodePacket,
  type DecodeResult,
  type DropReason,
  type KeyLookup,
  type Packet,
  type PacketTypeName,
} from './wire.js';
export { ReplayWindow, REPLAY_WINDOW, type ReplayVerdict } from './replay.js';
export { GenerationFileError, nextGeneration, readGeneration, writeGeneration } from './generation.js';
export { MIN_KEY_LENGTH, loadAuthKeys, normaliseKeys, type HeartbeatKeys, type KeySet } from './keys.js';
export {
  DEFAULT_HEARTBEAT_PORT,
  Heartbeat,
  type HeartbeatDrop,
  type HeartbeatMessage,
  type HeartbeatOptions,
  type HeartbeatPeer,
  type HeartbeatStats,
  type PeerEvent,
  type PeerState,
  type PeerStatus,
} from './heartbeat.js';
export { ADVERT_LENGTH, ADVERT_VERSION, ELECTION_STATES, decodeAdvert, encodeAdvert, type Advert, type ElectionState } from './advert.js';
export { Election, outranks, type Candidate, type ElectionClock, type ElectionLink, type ElectionOptions, type Reannounce, type Transition } from './election.js';
export { LinkTracker, PingTracker, SignalTracker, tcpProbe, type LinkTrackerOptions, type PingTrackerOptions, type Tracker, type TrackerState } from './trackers.js';
export { Failover, type FailoverOptions, type Resource, type ResourceEvent } from './failover.js';
export { hook, ipvsTable, syncDaemon, vip, type IpvsTableOptions, type SyncDaemonOptions, type VipOptions } from './resources.js';
