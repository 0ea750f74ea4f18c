// Shared by the benchmarks: the table they build and how they summarise runs.

/**
 * ipvsadm -R rules for `n` services (10.x.y.1:80, wlc) with `d` masq
 * destinations each (10.200.y.z:8080, weights 1..d): the benchmarks' table.
 */
export function rulesText(n, d) {
  let out = '';
  for (let s = 0; s < n; s++) {
    const vip = `10.${1 + Math.floor(s / 250)}.${s % 250}.1:80`;
    out += `-A -t ${vip} -s wlc\n`;
    for (let i = 0; i < d; i++) out += `-a -t ${vip} -r 10.200.${s % 250}.${i + 2}:8080 -m -w ${i + 1}\n`;
  }
  return out;
}

/** The median (for an even count, the upper of the two middle values). */
export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
