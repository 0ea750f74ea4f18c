/**
 * The schedulers that read connection counts: lc, wlc, sed, nq, fo and ovf
 * (ip_vs_lc.c, ip_vs_wlc.c, ip_vs_sed.c, ip_vs_nq.c, ip_vs_fo.c,
 * ip_vs_ovf.c). Ties go to the earlier destination in list order, as the
 * kernel replaces its candidate only on a strictly better one.
 * @module
 */

/**
 * lc/wlc overhead (`ip_vs_dest_conn_overhead()`, include/net/ip_vs.h):
 * `'inactive'` = active << 8 + inactive; `'total'` = active << 8 + (active + inactive).
 */
export type OverheadFormula = 'inactive' | 'total';

/** Per-destination numbers the count-based schedulers read (index = list position). */
export interface CountState {
  weight: Int32Array;
  active: Float64Array;
  inactive: Float64Array;
  upper: Float64Array;
  overloaded: Uint8Array;
}

/** a * b > c * d for non-negative integers, exact also beyond 2^53 (the kernel compares __s64 products). */
function productGreater(a: number, b: number, c: number, d: number): boolean {
  const x = a * b;
  const y = c * d;
  if (x <= Number.MAX_SAFE_INTEGER && y <= Number.MAX_SAFE_INTEGER) return x > y;
  return BigInt(a) * BigInt(b) > BigInt(c) * BigInt(d);
}

/** The destination lc, wlc, sed, nq, fo or ovf picks (-1 for none). */
export function countBasedPick(sched: string, s: CountState, formula: OverheadFormula): number {
  const n = s.weight.length;
  const connOverhead = (i: number) => s.active[i]! * 256 + s.inactive[i]! + (formula === 'total' ? s.active[i]! : 0);
  switch (sched) {
    case 'lc': {
      let least = -1;
      let loh = 0;
      for (let i = 0; i < n; i++) {
        if (s.overloaded[i] || s.weight[i] === 0) continue;
        const doh = connOverhead(i);
        if (least < 0 || doh < loh) {
          least = i;
          loh = doh;
        }
      }
      return least;
    }
    case 'wlc':
    case 'sed': {
      const oh = sched === 'wlc' ? connOverhead : (i: number) => s.active[i]! + 1;
      let least = -1;
      for (let i = 0; i < n; i++) {
        if (!s.overloaded[i] && s.weight[i]! > 0) {
          least = i;
          break;
        }
      }
      if (least < 0) return -1;
      let loh = oh(least);
      // After the first candidate only overloaded destinations are skipped; weight 0 never wins the comparison.
      for (let i = least + 1; i < n; i++) {
        if (s.overloaded[i]) continue;
        const doh = oh(i);
        if (productGreater(loh, s.weight[i]!, doh, s.weight[least]!)) {
          least = i;
          loh = doh;
        }
      }
      return least;
    }
    case 'nq': {
      let least = -1;
      let loh = 0;
      for (let i = 0; i < n; i++) {
        if (s.overloaded[i] || s.weight[i] === 0) continue;
        const doh = s.active[i]! + 1;
        if (s.active[i] === 0) return i;
        if (least < 0 || productGreater(loh, s.weight[i]!, doh, s.weight[least]!)) {
          least = i;
          loh = doh;
        }
      }
      return least;
    }
    case 'fo': {
      let best = -1;
      let hw = 0;
      for (let i = 0; i < n; i++) {
        if (!s.overloaded[i] && s.weight[i]! > hw) {
          best = i;
          hw = s.weight[i]!;
        }
      }
      return best;
    }
    case 'ovf': {
      let best = -1;
      let hw = 0;
      for (let i = 0; i < n; i++) {
        const w = s.weight[i]!;
        if (s.overloaded[i] || s.active[i]! > w || w === 0) continue;
        if (best < 0 || w > hw) {
          best = i;
          hw = w;
        }
      }
      return best;
    }
    default:
      throw new Error(`not a count-based scheduler: ${sched}`);
  }
}
