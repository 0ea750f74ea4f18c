/**
 * The director's host setup across starts, reloads and stops: the VIPs on
 * their interface and the forwarding sysctls, through the host-setup module's
 * `director()` profile. A reload adds only the VIPs that are new and deletes
 * only those the configuration dropped; a VIP in both configurations is never
 * deleted and re-added.
 * @module
 */
import { Addresses } from '../system/addresses.js';
import { director, HostProfile, type DirectorOptions, type HostStep } from '../system/profiles.js';
import { parsePrefix } from '../system/rtnetlink.js';

/** Host setup of the daemon's configuration (the `director()` profile's options, without the namespace). */
export type DirectorHostConfig = Omit<DirectorOptions, 'netns'>;

/** One change to the host, in words (`+ address 192.0.2.10/32 on eth0`, `~ sysctl net.ipv4.ip_forward 0 -> 1`). */
export type HostChange = string;

function describeStep(s: HostStep): HostChange {
  switch (s.kind) {
    case 'sysctl':
      return `~ sysctl ${s.name} ${s.before} -> ${s.value}`;
    case 'address':
      return `+ address ${s.address} on ${s.interface}`;
    case 'link-up':
      return `~ link ${s.interface} up`;
    case 'announce':
      return `announce ${s.address} on ${s.interface}`;
  }
}

/** The addresses (`ADDR/PREFIX` on an interface) a host configuration wants. */
function wantedAddresses(host: DirectorHostConfig | undefined): Map<string, { interface: string; address: string }> {
  const out = new Map<string, { interface: string; address: string }>();
  for (const v of host?.vips ?? []) {
    const p = parsePrefix(v);
    const address = `${p.address}/${p.family === 'ipv4' ? 32 : 128}`;
    out.set(`${host!.interface} ${address}`, { interface: host!.interface, address });
  }
  return out;
}

/** Validate a host configuration (throws an `InvalidArgumentError` naming the field). */
export function validateHost(host: DirectorHostConfig): void {
  director({ ...host });
}

/** Applies host configurations one after another; reverts on a flush. */
export class DirectorHostSetup {
  private readonly profiles: HostProfile[] = [];
  private current: DirectorHostConfig | undefined;

  /** @param netns the namespace file to configure (the process's own when undefined) */
  constructor(private readonly netns: string | undefined) {}

  /** VIPs of the previous configuration, until {@link prune} has deleted those the new one dropped. */
  private previous: DirectorHostConfig | undefined;
  /** What the last {@link configure} changed, for {@link undoConfigure}. */
  private last: { profile: HostProfile | undefined; steps: HostStep[]; current: DirectorHostConfig | undefined; previous: DirectorHostConfig | undefined } | undefined;

  /**
   * Add what `next` wants that is missing (VIPs, sysctls) and announce its
   * VIPs (with `vips: false`, only the sysctls: the VIPs follow an election). The VIPs the previous configuration had and `next` has not stay
   * until {@link prune} (after their services are gone). Resolves with the
   * changes made.
   */
  async configure(next: DirectorHostConfig | undefined, options: { vips?: boolean } = {}): Promise<HostChange[]> {
    const changes: HostChange[] = [];
    this.last = { profile: undefined, steps: [], current: this.current, previous: this.previous };
    if (next) {
      // Every VIP is announced again (unless `announce: false`): for one held already that is a
      // gratuitous ARP / unsolicited NA for the same address and link layer address, which moves nothing.
      const { netns: _ignored, ...rest } = next as DirectorOptions; // the namespace is the daemon's, not the file's
      let profile = director({ ...rest, ...(this.netns !== undefined ? { netns: this.netns } : {}) });
      if (options.vips === false) {
        // The VIPs follow an election (the failover's vip resources): only the sysctls here.
        const sysctls = (await profile.plan()).steps.flatMap((s): [string, string][] => (s.kind === 'sysctl' ? [[s.name, s.value]] : []));
        profile = new HostProfile({ sysctls, links: [], addresses: [], announce: [] }, this.netns);
      }
      const plan = await profile.apply();
      this.profiles.push(profile);
      this.last.profile = profile;
      this.last.steps = plan.steps;
      changes.push(...plan.steps.map(describeStep));
    }
    this.previous = this.current;
    this.current = next;
    return changes;
  }

  /**
   * Undo the last {@link configure} (a reload the kernel refused): the VIPs it
   * added are deleted, the sysctls it changed get their values back, and the
   * configuration before it is in force again. Resolves with the changes made.
   */
  async undoConfigure(): Promise<HostChange[]> {
    const last = this.last;
    this.last = undefined;
    if (!last) return [];
    this.current = last.current;
    this.previous = last.previous;
    if (!last.profile) return [];
    await last.profile.revert();
    this.profiles.splice(this.profiles.indexOf(last.profile), 1);
    return last.steps.flatMap((s): HostChange[] => {
      if (s.kind === 'sysctl') return [`~ sysctl ${s.name} ${s.value} -> ${s.before}`];
      if (s.kind === 'address') return [`- address ${s.address} on ${s.interface}`];
      if (s.kind === 'link-up') return [`~ link ${s.interface} down`];
      return [];
    });
  }

  /** Delete the VIPs the previous configuration had and the one in force has not. */
  async prune(): Promise<HostChange[]> {
    this.last = undefined;
    const changes = await this.remove(wantedAddresses(this.previous), wantedAddresses(this.current));
    this.previous = this.current;
    return changes;
  }

  /** Delete the VIPs of the configuration in force and restore the sysctls the daemon changed. */
  async flush(): Promise<HostChange[]> {
    const changes = await this.remove(new Map([...wantedAddresses(this.previous), ...wantedAddresses(this.current)]), new Map());
    for (const p of [...this.profiles].reverse()) await p.revert();
    this.profiles.length = 0;
    this.current = undefined;
    return changes;
  }

  private async remove(had: Map<string, { interface: string; address: string }>, keep: Map<string, unknown>): Promise<HostChange[]> {
    const gone = [...had].filter(([k]) => !keep.has(k));
    if (gone.length === 0) return [];
    const addrs = Addresses.open(this.netns === undefined ? {} : { netns: this.netns });
    const changes: HostChange[] = [];
    try {
      for (const [, a] of gone) if (await addrs.delete(a.interface, a.address)) changes.push(`- address ${a.address} on ${a.interface}`);
    } finally {
      addrs.close();
    }
    return changes;
  }
}
