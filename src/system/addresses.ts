/**
 * Interface addresses of one network namespace over rtnetlink: list, add and
 * delete, idempotent — the VIP on a director's interface, or on a real
 * server's `lo` / dummy interface for direct routing and tunnelling — plus
 * interface lookup by name and link up/down.
 * @module
 */
import { InvalidArgumentError, NetlinkError } from '../errors.js';
import { Conn, type SocketFactory } from '../netlink/conn.js';
import { NETLINK_ROUTE } from '../netlink/constants.js';
import {
  IFA_F_NODAD,
  addAddress,
  checkInterfaceName,
  deleteAddress,
  dumpAddresses,
  getLink,
  listLinks,
  parsePrefix,
  setLinkUp,
  type AddressChange,
  type InterfaceAddress,
  type Link,
  type Prefix,
} from './rtnetlink.js';

export type { InterfaceAddress, Link } from './rtnetlink.js';

/** Options of {@link Addresses.open}. */
export interface AddressesOptions {
  /** Network namespace file (`/run/netns/NAME`, `/proc/PID/ns/net`); default: the process's own. */
  netns?: string;
  /** Deadline of each request in milliseconds (default 30 000). */
  timeoutMs?: number;
  /** Where the netlink socket comes from (default: the native addon); tests pass a fake. */
  socketFactory?: SocketFactory;
}

/** Options of {@link Addresses.add}. */
export interface AddAddressOptions {
  /**
   * IPv6 only: add with IFA_F_NODAD, usable at once without duplicate address
   * detection (default true, as keepalived adds its virtual IPv6 addresses:
   * during a takeover the old owner may still answer DAD, which would leave
   * the address "dadfailed"). Ignored for IPv4.
   */
  nodad?: boolean;
  /** RT_SCOPE_* (default: host for 127.0.0.0/8 and ::1, else global, as `ip addr add` chooses). */
  scope?: number;
  /** IPv4 label, e.g. `'lo:vip'`; must start with the interface name. */
  label?: string;
}

/**
 * Interface addresses of one network namespace, over one NETLINK_ROUTE socket.
 *
 * ```ts
 * const addrs = Addresses.open({ netns: '/run/netns/rs1' });
 * await addrs.add('lo', '192.0.2.10/32');      // true: added; false: already there
 * await addrs.list('lo');
 * await addrs.delete('lo', '192.0.2.10/32');   // true: deleted; false: was not there
 * addrs.close();
 * ```
 */
export class Addresses {
  /** The network namespace file, or undefined for the process's own namespace. */
  readonly netns: string | undefined;
  private readonly conn: Conn;

  private constructor(conn: Conn, netns: string | undefined) {
    this.conn = conn;
    this.netns = netns;
  }

  /** Open a NETLINK_ROUTE socket (in `netns` when given). */
  static open(options: AddressesOptions = {}): Addresses {
    const { netns, timeoutMs, socketFactory } = options;
    if (netns !== undefined && (typeof netns !== 'string' || netns.length === 0)) {
      throw new InvalidArgumentError('netns', 'must be a non-empty path to a network namespace file');
    }
    const conn = Conn.open({
      protocol: NETLINK_ROUTE,
      // Address dumps are small; no need for the 8 MiB IPVS default.
      receiveBufferBytes: 1024 * 1024,
      ...(netns !== undefined ? { netns } : {}),
      ...(timeoutMs !== undefined ? { timeoutMs } : {}),
      ...(socketFactory !== undefined ? { socketFactory } : {}),
    });
    return new Addresses(conn, netns);
  }

  /** One interface by name; an unknown name throws NetlinkError `ENODEV` naming it. */
  link(name: string): Promise<Link> {
    return getLink(this.conn, name, this.netns);
  }

  /** Every interface of the namespace. */
  links(): Promise<Link[]> {
    return listLinks(this.conn);
  }

  /**
   * Addresses of every interface, or of the one named (an unknown name throws
   * NetlinkError `ENODEV`). IPv4 and IPv6, in the kernel's order.
   */
  async list(iface?: string): Promise<InterfaceAddress[]> {
    if (iface !== undefined) {
      const link = await this.link(iface);
      const all = await dumpAddresses(this.conn, new Map([[link.index, link.name]]));
      return all.filter((a) => a.index === link.index);
    }
    const links = await this.links();
    return dumpAddresses(this.conn, new Map(links.map((l) => [l.index, l.name])));
  }

  private change(link: Link, p: Prefix, options: AddAddressOptions): AddressChange {
    const c: AddressChange = { index: link.index, prefix: p };
    if (options.scope !== undefined) {
      if (!Number.isInteger(options.scope) || options.scope < 0 || options.scope > 255) throw new InvalidArgumentError('scope', `must be 0..255, got ${options.scope}`);
      c.scope = options.scope;
    }
    if (options.label !== undefined) {
      if (p.family !== 'ipv4') throw new InvalidArgumentError('label', 'labels exist for IPv4 addresses only');
      if (typeof options.label !== 'string' || options.label.length === 0 || Buffer.byteLength(options.label) > 15 || /[\s\u0000]/.test(options.label)) {
        throw new InvalidArgumentError('label', `must be 1-15 bytes without whitespace, got ${JSON.stringify(options.label)}`);
      }
      if (!options.label.startsWith(link.name)) throw new InvalidArgumentError('label', `"${options.label}" must start with the interface name ${link.name}`);
      c.label = options.label;
    }
    if (p.family === 'ipv6' && options.nodad !== false) c.flags = IFA_F_NODAD;
    return c;
  }

  /**
   * Add `ADDR/PREFIX` (a bare address means /32 or /128) to the interface.
   * Resolves true when added, false when exactly that address and prefix was
   * already there. The same address with another prefix is an error (NetlinkError
   * `EEXIST` saying which prefix is there), since it is not what was asked for.
   */
  async add(iface: string, address: string, options: AddAddressOptions = {}): Promise<boolean> {
    checkInterfaceName(iface);
    const p = parsePrefix(address);
    const link = await this.link(iface);
    const c = this.change(link, p, options);
    const what = `add ${p.address}/${p.prefix} to ${link.name}`;
    try {
      await addAddress(this.conn, c, { operation: what });
      return true;
    } catch (e) {
      if (!(e instanceof NetlinkError) || e.code !== 'EEXIST') throw e;
      const present = (await dumpAddresses(this.conn, new Map([[link.index, link.name]]))).filter(
        (a) => a.index === link.index && a.family === p.family && a.address === p.address,
      );
      if (present.some((a) => a.prefix === p.prefix)) return false;
      const other = present.map((a) => `/${a.prefix}`).join(', ');
      throw new NetlinkError(e.errno, `${what}: ${p.address} is already on ${link.name}${other ? ` with prefix ${other}` : ''}${this.where()}`, {
        operation: what,
        cause: e,
      });
    }
  }

  /**
   * Delete `ADDR/PREFIX` from the interface. Resolves true when deleted, false
   * when it was not there (EADDRNOTAVAIL). Deleting a primary IPv4 address also
   * deletes the secondaries of its subnet unless `net.ipv4.conf.<if>.promote_secondaries` is set.
   */
  async delete(iface: string, address: string): Promise<boolean> {
    checkInterfaceName(iface);
    const p = parsePrefix(address);
    const link = await this.link(iface);
    const what = `delete ${p.address}/${p.prefix} from ${link.name}`;
    try {
      await deleteAddress(this.conn, { index: link.index, prefix: p }, { operation: what });
      return true;
    } catch (e) {
      if (e instanceof NetlinkError && e.code === 'EADDRNOTAVAIL') return false;
      throw e;
    }
  }

  /**
   * Bring the interface up (`true`) or down (`false`), like `ip link set DEV up`.
   * Resolves true when its state changed, false when it already was so.
   */
  async setUp(iface: string, up: boolean): Promise<boolean> {
    if (typeof up !== 'boolean') throw new InvalidArgumentError('up', `must be a boolean, got ${typeof up}`);
    const link = await this.link(iface);
    if (link.up === up) return false;
    await setLinkUp(this.conn, link.index, up, { operation: `set ${link.name} ${up ? 'up' : 'down'}` });
    return true;
  }

  private where(): string {
    return this.netns === undefined ? '' : ` (network namespace ${this.netns})`;
  }

  /** Close the socket; pending requests reject. Idempotent. */
  close(): void {
    this.conn.close();
  }
}
