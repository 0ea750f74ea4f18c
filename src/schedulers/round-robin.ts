/**
 * rr and wrr as the kernel runs them (ip_vs_rr.c, ip_vs_wrr.c), on
 * destination indexes in list order; position -1 stands for the list head.
 * @module
 */

/** The wrr scheduler's state (`struct ip_vs_wrr_mark` without the derived gcd and maximum). */
export interface WrrState {
  /** Index of the destination picked last, or -1 for the list head (after any destination change). */
  position: number;
  /** Current weight threshold (`cw`). */
  cw: number;
}

/**
 * rr: the first available destination after `position`, wrapping round to
 * `position` itself (ip_vs_rr_schedule); -1 when none is.
 */
export function rrPick(n: number, position: number, available: (i: number) => boolean): number {
  for (let k = 1; k <= n; k++) {
    const i = (position + k) % n;
    if (available(i)) return i;
  }
  return -1;
}

/**
 * rr's position after the destination at `deleted` leaves the list
 * (ip_vs_rr_del_dest): the one before it when it was the position, else the
 * same destination at its new index.
 */
export function rrPositionAfterDelete(position: number, deleted: number): number {
  return position >= deleted ? position - 1 : position;
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** gcd of the positive weights (1 when none) and the maximum weight minus (gcd - 1), as ip_vs_wrr.c computes them. */
export function wrrDerived(weights: ArrayLike<number>): { di: number; mw: number } {
  let g = 0;
  let max = 0;
  for (let i = 0; i < weights.length; i++) {
    const w = weights[i]!;
    if (w > 0) g = g > 0 ? gcd(w, g) : w;
    if (w > max) max = w;
  }
  const di = g || 1;
  return { di, mw: max - (di - 1) };
}

/** ip_vs_wrr_dest_changed(): the state after a destination was added, removed or updated; `weights` are the list after the change. */
export function wrrDestChanged(prev: WrrState, weights: ArrayLike<number>): WrrState {
  const { di, mw } = wrrDerived(weights);
  let cw = prev.cw;
  if (cw > mw || !cw) cw = mw;
  else if (di > 1) cw = Math.trunc(cw / di) * di + 1;
  return { position: -1, cw };
}

/**
 * The state after creating an empty service (cw 0) and adding destinations
 * of these weights one at a time, the last of the list first.
 */
export function wrrState(weightsInListOrder: readonly number[]): WrrState {
  let s: WrrState = { position: -1, cw: 0 };
  for (let k = weightsInListOrder.length - 1; k >= 0; k--) s = wrrDestChanged(s, weightsInListOrder.slice(k));
  return s;
}

/**
 * ip_vs_wrr_schedule(): the next destination, updating `mark` in place; -1
 * when none is available (all weights 0, or all candidates overloaded).
 */
export function wrrPick(mark: WrrState, weights: Int32Array, notOverloaded: (i: number) => boolean): number {
  const n = weights.length;
  const { di, mw } = wrrDerived(weights);
  if (mw <= 0 || n === 0) return -1;
  const last = mark.position;
  let dest = mark.position;
  let stop = -2;
  let lastPass = false;
  let restarted = false;
  for (;;) {
    for (dest = dest + 1; dest < n; dest++) {
      if (notOverloaded(dest) && weights[dest]! >= mark.cw) {
        mark.position = dest;
        return dest;
      }
      if (dest === stop) {
        mark.position = dest;
        return -1;
      }
    }
    dest = -1; // back at the head
    mark.cw -= di;
    if (mark.cw <= 0) {
      mark.cw = mw;
      if (lastPass || last === -1) {
        mark.position = -1;
        return -1;
      }
      restarted = true;
    }
    lastPass = mark.cw <= di;
    if (lastPass && restarted && last !== -1) stop = last;
  }
}
