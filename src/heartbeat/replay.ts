/**
 * Replay protection that does not trust any clock: per peer, the highest
 * generation seen and a sliding window over the sequence numbers of that
 * generation (like IPsec's anti-replay window, RFC 4303 §3.4.3).
 * @module
 */
import type { DropReason } from './wire.js';

/** Sequence numbers tracked behind the highest one. */
export const REPLAY_WINDOW = 64;
const FULL = (1n << BigInt(REPLAY_WINDOW)) - 1n;

/** What a peer's replay state says about a packet: accept, or drop and why. */
export type ReplayVerdict =
  /** `newest`: later than every packet accepted so far (a late, reordered packet is accepted but not newest). */
  | { ok: true; restarted: boolean; newest: boolean }
  | { ok: false; reason: Extract<DropReason, 'stale-generation' | 'replay' | 'out-of-window'> };

/**
 * Replay state of one peer. {@link check} is pure; only {@link commit}
 * changes the state, so a dropped packet changes nothing.
 */
export class ReplayWindow {
  /** Highest generation accepted (0: none yet). */
  generation = 0;
  /** Highest sequence accepted in {@link generation}. */
  highest = 0;
  /** Bit i set: sequence `highest - i` was accepted (bit 0 is `highest`). */
  private bits = 0n;

  /** Says whether a packet with this generation and sequence may be accepted. */
  check(generation: number, sequence: number): ReplayVerdict {
    if (generation < this.generation) return { ok: false, reason: 'stale-generation' };
    if (generation > this.generation) return { ok: true, restarted: this.generation !== 0, newest: true };
    if (sequence > this.highest) return { ok: true, restarted: false, newest: true };
    const behind = this.highest - sequence;
    if (behind >= REPLAY_WINDOW) return { ok: false, reason: 'out-of-window' };
    if ((this.bits >> BigInt(behind)) & 1n) return { ok: false, reason: 'replay' };
    return { ok: true, restarted: false, newest: false };
  }

  /** Records an accepted packet (call only after {@link check} said ok). */
  commit(generation: number, sequence: number): void {
    if (generation > this.generation) {
      // First packet of a generation: everything before it counts as seen,
      // so packets of this generation captured earlier elsewhere cannot be
      // played to us once each.
      this.generation = generation;
      this.highest = sequence;
      this.bits = FULL;
      return;
    }
    if (sequence > this.highest) {
      const shift = sequence - this.highest;
      this.bits = shift >= REPLAY_WINDOW ? 1n : ((this.bits << BigInt(shift)) | 1n) & FULL;
      this.highest = sequence;
    } else {
      this.bits |= 1n << BigInt(this.highest - sequence);
    }
  }
}
