/**
 * Maintenance by file: a destination is in maintenance while a file named
 * after it (`address:port`, or its bare address) exists in the checker's
 * `maintenanceDir`. Read at the start of every sync.
 * @module
 */
import { readdirSync } from 'node:fs';
import type { Member, Pool } from './pool.js';

/** Set each member's `dirMaintenance` from the directory; `changed` is called for each one that flipped. */
export function readMaintenanceDir(pool: Pool, changed: (m: Member) => void): void {
  const dir = pool.options.maintenanceDir;
  if (dir === undefined) return;
  let names: Set<string>;
  try {
    names = new Set(readdirSync(dir));
  } catch {
    names = new Set();
  }
  for (const m of pool.members.values()) {
    const on = names.has(m.name) || names.has(m.spec.address);
    if (on !== m.dirMaintenance) {
      m.dirMaintenance = on;
      changed(m);
    }
  }
}
