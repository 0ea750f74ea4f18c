/**
 * The election's payload inside a heartbeat packet (data only): 4 bytes.
 *
 * ```
 * 0  version   u8  1
 * 1  state     u8  0 init, 1 backup, 2 master, 3 fault, 4 stopped
 * 2  priority  u8  effective priority 1..254 (trackers included)
 * 3  flags     u8  bit 0: preempt
 * ```
 * @module
 */

/** Election states. */
export type ElectionState = 'init' | 'backup' | 'master' | 'fault' | 'stopped';

/** Wire codes of the states, in wire order. */
export const ELECTION_STATES: readonly ElectionState[] = ['init', 'backup', 'master', 'fault', 'stopped'];

/** Version of the advert payload. */
export const ADVERT_VERSION = 1;
/** Length of the advert payload. */
export const ADVERT_LENGTH = 4;

/** What a node says about itself in each heartbeat. */
export interface Advert {
  /** Its state. */
  state: ElectionState;
  /** Its effective priority. */
  priority: number;
  /** Whether it preempts. */
  preempt: boolean;
}

/** Serialises an advert. */
export function encodeAdvert(a: Advert): Uint8Array {
  return Uint8Array.from([ADVERT_VERSION, ELECTION_STATES.indexOf(a.state), a.priority, a.preempt ? 1 : 0]);
}

/** Parses an advert; `undefined` for anything that is not a valid version-1 advert. */
export function decodeAdvert(p: Uint8Array): Advert | undefined {
  if (p.length !== ADVERT_LENGTH || p[0] !== ADVERT_VERSION) return undefined;
  const state = ELECTION_STATES[p[1]!];
  const priority = p[2]!;
  if (!state || priority < 1 || priority > 254 || (p[3]! & ~1) !== 0) return undefined;
  return { state, priority, preempt: (p[3]! & 1) === 1 };
}
