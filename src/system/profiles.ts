/**
 * Host profiles: the setup around IPVS that the classic LVS how-tos do with
 * shell scripts, as data that can be planned, applied, verified and reverted.
 *
 * - {@link realServer}: a real server behind an LVS-DR or LVS-TUN director
 *   (the VIP on `lo` or `tunl0`, ARP replies and announcements restricted,
 *   reverse-path filtering relaxed for tunnels).
 * - {@link director}: the director (VIP up on its interface and announced,
 *   forwarding on for NAT, ICMP redirects off for DR and TUN).
 *
 * `revert()` puts back exactly what `apply()` changed — each sysctl to the
 * value it had, each address it added removed, each link it brought up down —
 * and touches nothing else.
 * @module
 */
import { InvalidArgumentError } from '../errors.js';
import { Addresses } from './addresses.js';
import { announce } from './announce.js';
import { checkInterfaceName, parsePrefix } from './rtnetlink.js';
import { Sysctl } from './sysctl.js';

/** One change a profile makes. */
export type HostStep =
  | { kind: 'sysctl'; name: string; value: string; before: string }
  | { kind: 'address'; interface: string; address: string }
  | { kind: 'link-up'; interface: string }
  | { kind: 'announce'; interface: string; address: string };

/** What {@link HostProfile.plan} returns: the steps still needed, and a summary. */
export interface HostPlan {
  steps: HostStep[];
  /** e.g. `"set 4 sysctls; add 1 address"`, or `"no changes"`. */
  summary: string;
}

/** What {@link HostProfile.verify} returns. */
export interface VerifyResult {
  ok: boolean;
  /** One line per thing that is not as the profile wants it. */
  problems: string[];
}

/** Options of {@link realServer}. */
export interface RealServerOptions {
  /** Virtual IPs this real server answers for (IPv4 or IPv6). */
  vips: string[];
  /** The interface facing the director and the clients, e.g. `'eth0'`. */
  interface: string;
  /** `'dr'`: VIP on `lo`; `'tun'`: VIP on the IPIP device `tunl0`, reverse-path filtering off on it. */
  mode: 'dr' | 'tun';
  /** Network namespace file to configure (default: the process's own). */
  netns?: string;
}

/** Options of {@link director}. */
export interface DirectorOptions {
  /** Virtual IPs the director takes over. */
  vips: string[];
  /** The interface the VIPs go on and are announced from. */
  interface: string;
  /** How the director forwards to its real servers. */
  forwarding: 'nat' | 'dr' | 'tun';
  /** Network namespace file to configure (default: the process's own). */
  netns?: string;
  /** Gratuitous ARP / unsolicited NA after adding the VIPs (default `{ count: 3, intervalMs: 200 }`; `false` for none). */
  announce?: { count?: number; intervalMs?: number } | false;
}

/** The desired host state of a profile (what {@link realServer} and {@link director} build). */
export interface HostSpec {
  /** Sysctls by dotted name, with the value they should have. */
  sysctls: [name: string, value: string][];
  /** Interfaces that should be up. */
  links: string[];
  /** Addresses (`ADDR/PREFIX`) that should be on an interface. */
  addresses: { interface: string; address: string }[];
  /** Addresses to announce (gratuitous ARP / unsolicited NA) on apply. */
  announce: { interface: string; address: string; count: number; intervalMs: number }[];
}

function checkVips(vips: unknown): { address: string; family: 'ipv4' | 'ipv6'; prefix: number }[] {
  if (!Array.isArray(vips) || vips.length === 0) throw new InvalidArgumentError('vips', 'must be a non-empty array of IP addresses');
  return vips.map((v, i) => {
    if (typeof v !== 'string' || v.includes('/')) throw new InvalidArgumentError(`vips[${i}]`, `must be an IPv4 or IPv6 address without a prefix, got ${JSON.stringify(v)}`);
    const p = parsePrefix(v, `vips[${i}]`);
    return { address: p.address, family: p.family, prefix: p.family === 'ipv4' ? 32 : 128 };
  });
}

/**
 * A host configured as a profile says. Create one with {@link realServer} or
 * {@link director}.
 */
export class HostProfile {
  /** Steps applied by {@link apply} and not yet reverted, in order. */
  private applied: HostStep[] = [];

  /** A profile for `spec` in network namespace `netns` (the process's own when undefined). */
  constructor(
    private readonly spec: HostSpec,
    /** The network namespace file, or undefined for the process's own. */
    readonly netns: string | undefined,
  ) {}

  private open(): { sysctl: Sysctl; addrs: Addresses } {
    const opts = this.netns === undefined ? {} : { netns: this.netns };
    return { sysctl: Sysctl.open(opts), addrs: Addresses.open(opts) };
  }

  private async needed(sysctl: Sysctl, addrs: Addresses): Promise<HostStep[]> {
    const steps: HostStep[] = [];
    for (const name of this.spec.links) {
      const link = await addrs.link(name);
      if (!link.up) steps.push({ kind: 'link-up', interface: name });
    }
    for (const [name, value] of this.spec.sysctls) {
      const before = sysctl.get(name);
      if (before !== value) steps.push({ kind: 'sysctl', name, value, before });
    }
    for (const a of this.spec.addresses) {
      const p = parsePrefix(a.address);
      const present = (await addrs.list(a.interface)).some((x) => x.address === p.address && x.prefix === p.prefix);
      if (!present) steps.push({ kind: 'address', interface: a.interface, address: a.address });
    }
    for (const a of this.spec.announce) steps.push({ kind: 'announce', interface: a.interface, address: a.address });
    return steps;
  }

  /**
   * The steps needed now to reach the profile (only what differs; announcing
   * is always listed), without changing anything.
   * @example
   * ```ts
   * const rs = realServer({ vips: ['192.0.2.10'], interface: 'eth0', mode: 'dr' });
   * console.log((await rs.plan()).summary); // "set 4 sysctls; add 1 address"
   * ```
   */
  async plan(): Promise<HostPlan> {
    const { sysctl, addrs } = this.open();
    try {
      const steps = await this.needed(sysctl, addrs);
      return { steps, summary: summarize(steps) };
    } finally {
      addrs.close();
    }
  }

  /**
   * Make the host as the profile says, remembering what was there for
   * {@link revert}. A failure part-way undoes the steps already taken and rethrows.
   * @example
   * ```ts
   * const d = director({ vips: ['192.0.2.10'], interface: 'eth0', forwarding: 'nat' });
   * await d.apply();
   * ```
   */
  async apply(): Promise<HostPlan> {
    const { sysctl, addrs } = this.open();
    try {
      const steps = await this.needed(sysctl, addrs);
      const done: HostStep[] = [];
      try {
        for (const s of steps) {
          switch (s.kind) {
            case 'link-up':
              await addrs.setUp(s.interface, true);
              break;
            case 'sysctl':
              sysctl.set(s.name, s.value);
              break;
            case 'address':
              if (!(await addrs.add(s.interface, s.address))) continue; // appeared meanwhile: not ours
              break;
            case 'announce': {
              const a = this.spec.announce.find((x) => x.interface === s.interface && x.address === s.address)!;
              await announce({ interface: s.interface, address: s.address, count: a.count, intervalMs: a.intervalMs, ...(this.netns ? { netns: this.netns } : {}) });
              break;
            }
          }
          done.push(s);
        }
      } catch (e) {
        await undo(done, sysctl, addrs).catch(() => undefined);
        throw e;
      }
      this.applied.push(...done);
      return { steps, summary: summarize(steps) };
    } finally {
      addrs.close();
    }
  }

  /**
   * Check the host against the profile.
   * @example
   * ```ts
   * const { ok, problems } = await profile.verify();
   * if (!ok) console.error(problems.join('\n'));
   * ```
   */
  async verify(): Promise<VerifyResult> {
    const { sysctl, addrs } = this.open();
    try {
      const problems: string[] = [];
      for (const s of await this.needed(sysctl, addrs)) {
        if (s.kind === 'sysctl') problems.push(`${s.name} is ${s.before}, should be ${s.value}`);
        else if (s.kind === 'address') problems.push(`${s.address} is not on ${s.interface}`);
        else if (s.kind === 'link-up') problems.push(`${s.interface} is down`);
      }
      return { ok: problems.length === 0, problems };
    } finally {
      addrs.close();
    }
  }

  /**
   * Undo what {@link apply} changed, newest first: sysctls back to the values
   * they had, addresses it added removed, links it brought up taken down.
   * Nothing else is touched. Idempotent.
   * @example
   * ```ts
   * await profile.revert();
   * ```
   */
  async revert(): Promise<void> {
    const { sysctl, addrs } = this.open();
    try {
      const steps = this.applied;
      this.applied = [];
      await undo(steps, sysctl, addrs);
    } finally {
      addrs.close();
    }
  }
}

async function undo(steps: HostStep[], sysctl: Sysctl, addrs: Addresses): Promise<void> {
  const errors: unknown[] = [];
  for (const s of [...steps].reverse()) {
    try {
      if (s.kind === 'sysctl') sysctl.set(s.name, s.before);
      else if (s.kind === 'address') await addrs.delete(s.interface, s.address);
      else if (s.kind === 'link-up') await addrs.setUp(s.interface, false);
    } catch (e) {
      errors.push(e);
    }
  }
  if (errors.length) throw new AggregateError(errors, `could not revert ${errors.length} step(s)`);
}

function summarize(steps: HostStep[]): string {
  const count = (k: HostStep['kind']) => steps.filter((s) => s.kind === k).length;
  const parts: string[] = [];
  const n = (k: HostStep['kind'], one: string, many: string) => {
    const c = count(k);
    if (c) parts.push(`${c} ${c === 1 ? one : many}`);
  };
  n('link-up', 'link to bring up', 'links to bring up');
  n('sysctl', 'sysctl to set', 'sysctls to set');
  n('address', 'address to add', 'addresses to add');
  n('announce', 'address to announce', 'addresses to announce');
  return parts.length ? parts.join('; ') : 'no changes';
}

/**
 * A real server behind an LVS-DR or LVS-TUN director: the VIPs on `lo` (DR)
 * or `tunl0` (TUN) so the host accepts packets for them, and — so that it
 * neither answers ARP for them nor announces them — `arp_ignore=1` and
 * `arp_announce=2` on `all` and on the client-facing interface (the effective
 * value is the larger of the two). TUN also turns reverse-path filtering off
 * on `tunl0` and `all` (packets arrive on the tunnel with outside sources).
 * IPv6 VIPs get the address only (neighbour discovery answers per interface).
 * @example
 * ```ts
 * const rs = realServer({ vips: ['192.0.2.10'], interface: 'eth0', mode: 'dr' });
 * await rs.apply();   // ... and later
 * await rs.revert();
 * ```
 */
export function realServer(options: RealServerOptions): HostProfile {
  const vips = checkVips(options.vips);
  const iface = checkInterfaceName(options.interface, 'interface');
  if (options.mode !== 'dr' && options.mode !== 'tun') throw new InvalidArgumentError('mode', `must be 'dr' or 'tun', got ${JSON.stringify(options.mode)}`);
  const on = options.mode === 'dr' ? 'lo' : 'tunl0';
  const spec: HostSpec = { sysctls: [], links: [], addresses: [], announce: [] };
  if (options.mode === 'tun') spec.links.push('tunl0');
  if (vips.some((v) => v.family === 'ipv4')) {
    for (const scope of ['all', iface]) {
      spec.sysctls.push([`net.ipv4.conf.${scope}.arp_ignore`, '1'], [`net.ipv4.conf.${scope}.arp_announce`, '2']);
    }
    if (options.mode === 'tun') spec.sysctls.push(['net.ipv4.conf.tunl0.rp_filter', '0'], ['net.ipv4.conf.all.rp_filter', '0']);
  }
  for (const v of vips) spec.addresses.push({ interface: on, address: `${v.address}/${v.prefix}` });
  return new HostProfile(spec, options.netns);
}

/**
 * An LVS director: the VIPs on its interface as /32 (or /128) and announced
 * with gratuitous ARP / unsolicited neighbour advertisements; for NAT,
 * forwarding on; for DR and TUN, ICMP redirects off on `all`, `default` and the
 * interface (the director would otherwise tell clients to bypass it).
 * @example
 * ```ts
 * const d = director({ vips: ['192.0.2.10'], interface: 'eth0', forwarding: 'dr' });
 * await d.apply();
 * ```
 */
export function director(options: DirectorOptions): HostProfile {
  const vips = checkVips(options.vips);
  const iface = checkInterfaceName(options.interface, 'interface');
  if (!['nat', 'dr', 'tun'].includes(options.forwarding as string)) {
    throw new InvalidArgumentError('forwarding', `must be 'nat', 'dr' or 'tun', got ${JSON.stringify(options.forwarding)}`);
  }
  const ann = options.announce === false ? undefined : { count: options.announce?.count ?? 3, intervalMs: options.announce?.intervalMs ?? 200 };
  const spec: HostSpec = { sysctls: [], links: [], addresses: [], announce: [] };
  const v4 = vips.some((v) => v.family === 'ipv4');
  const v6 = vips.some((v) => v.family === 'ipv6');
  if (options.forwarding === 'nat') {
    if (v4) spec.sysctls.push(['net.ipv4.ip_forward', '1']);
    if (v6) spec.sysctls.push(['net.ipv6.conf.all.forwarding', '1']);
  } else if (v4) {
    for (const scope of ['all', 'default', iface]) spec.sysctls.push([`net.ipv4.conf.${scope}.send_redirects`, '0']);
  }
  for (const v of vips) {
    spec.addresses.push({ interface: iface, address: `${v.address}/${v.prefix}` });
    if (ann) spec.announce.push({ interface: iface, address: v.address, ...ann });
  }
  return new HostProfile(spec, options.netns);
}
