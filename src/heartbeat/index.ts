/**
 * Heartbeat and failover: an authenticated, replay-safe peer link, a master
 * election on top of it, and resources (VIP, IPVS table, sync daemon, hooks)
 * that follow the role. See docs/heartbeat.md.
 * @module
 */
// Generic names get a heartbeat prefix at the package level.
export {
  HEARTBEAT_MAGIC,
  HEARTBEAT_VERSION,
  HEADER_LENGTH as HEARTBEAT_HEADER_LENGTH,
  MAC_LENGTH as HEARTBEAT_MAC_LENGTH,
  MAX_PAYLOAD as HEARTBEAT_MAX_PAYLOAD,
  MAX_PACKET as HEARTBEAT_MAX_PACKET,
  MIN_PACKET as HEARTBEAT_MIN_PACKET,
  DROP_REASONS as HEARTBEAT_DROP_REASONS,
  PacketType as HeartbeatPacketType,
  decodePacket as decodeHeartbeatPacket,
  encodePacket as encodeHeartbeatPacket,
  type DecodeResult as HeartbeatDecodeResult,
  type DropReason as HeartbeatDropReason,
  type KeyLookup as HeartbeatKeyLookup,
  type Packet as HeartbeatPacket,
  type PacketTypeName as HeartbeatPacketTypeName,
} from './wire.js';
export { ReplayWindow, REPLAY_WINDOW, type ReplayVerdict } from './replay.js';
export { GenerationFileError, nextGeneration, readGeneration, writeGeneration } from './generation.js';
export { MIN_KEY_LENGTH as HEARTBEAT_MIN_KEY_LENGTH, loadAuthKeys, normaliseKeys, type HeartbeatKeys, type KeySet } from './keys.js';
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
export { Election, outranks, type Candidate as ElectionCandidate, type ElectionClock, type ElectionLink, type ElectionOptions, type Reannounce, type Transition } from './election.js';
export { LinkTracker, PingTracker, SignalTracker, tcpProbe, type LinkTrackerOptions, type PingTrackerOptions, type Tracker, type TrackerState } from './trackers.js';
export { Failover, type FailoverOptions, type Resource as FailoverResource, type ResourceEvent as FailoverResourceEvent } from './failover.js';
export { hook, ipvsTable, syncDaemon, vip, type IpvsTableOptions, type SyncDaemonOptions, type VipOptions } from './resources.js';
