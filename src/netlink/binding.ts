/**
 * The only file that loads the native addon. Everything above this talks to the
 * {@link NativeSocket} interface, so tests can substitute a fake.
 *
 * The addon is a protocol-agnostic socket bridge: it opens, binds, configures,
 * sends and receives datagrams, and connects stream sockets in bulk. It never
 * parses what it carries.
 * @module
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname } from 'node:path';
import { addonCandidates, findPackageRoot, loadFirstAddon } from './addon-path.js';

/** Options for opening a socket (see `openSocket` in src/netlink/binding.ts). */
export interface OpenSocketOptions {
  /**
   * Path of a network namespace file (`/run/netns/NAME`, `/proc/PID/ns/net`).
   * The socket is created inside that namespace on a short-lived native thread;
   * the Node.js main thread never changes namespace.
   */
  netns?: string;
}

/**
 * A non-blocking, close-on-exec datagram socket owned by the addon.
 * Every system-call failure throws an `Error` with `errno` (positive number),
 * `code` (e.g. `'EPERM'`) and `syscall`.
 */
export interface NativeSocket {
  /** The file descriptor, or -1 once closed. */
  readonly fd: number;
  /** bind(2) with the socket address given as raw bytes (e.g. a 12-byte sockaddr_nl). */
  bind(address: Uint8Array): void;
  /** getsockname(2): the bound address as raw bytes. */
  getsockname(): Buffer;
  /** setsockopt(2); a number is passed as a C `int`. */
  setsockopt(level: number, name: number, value: number | Uint8Array): void;
  /**
   * sendto(2) of one buffer (which may hold many netlink messages); returns the
   * number of bytes sent. `address` is an optional raw destination address.
   * EINTR is retried; EAGAIN is thrown like any other error (the caller decides).
   */
  send(data: Uint8Array, address?: Uint8Array): number;
  /**
   * Read the datagrams already queued on the socket, now (recvmsg until EAGAIN
   * or `max`, at most 64), without waiting for the poll. A receive error throws, with
   * the datagrams read before it in the error's `datagrams` property.
   * Optional: fakes may leave it out.
   */
  receive?(max?: number): Buffer[];
  /**
   * Read one queued datagram straight into `buffer` (no allocation); returns its
   * length, or -1 when nothing is queued. A receive error throws; a datagram
   * longer than `buffer` is lost and thrown as EMSGSIZE. Optional: fakes may
   * leave it out.
   */
  receiveInto?(buffer: Uint8Array): number;
  /**
   * Start watching for readability on the loop thread (uv_poll). On each wakeup
   * the addon reads datagrams until EAGAIN or a fixed budget (64), and hands them to
   * `onData` in one call (never with an empty array). Receive errors (ENOBUFS,
   * datagrams over 64 KiB as EMSGSIZE) go to `onError`; polling continues afterwards.
   * Order is kept: datagrams read before an error are passed to `onData` first, so
   * a wakeup with an error may call `onData` twice. Exceptions thrown by either
   * callback become uncaught exceptions. Can be called once per socket; a started
   * socket is kept alive (not garbage-collected) until `close()`.
   */
  start(onData: (datagrams: Buffer[]) => void, onError: (error: NodeJS.ErrnoException) => void): void;
  /** Keep the event loop alive while the socket is polled (the default; may be called before start). */
  ref(): void;
  /** Let the event loop exit even while the socket is polled (may be called before start). */
  unref(): void;
  /**
   * Stop polling and close the descriptor. Idempotent; safe inside the callbacks,
   * after which nothing more is delivered. Other methods then throw EBADF.
   */
  close(): void;
}

/**
 * Many non-blocking stream connects at once (`SOCK_STREAM`, protocol 0), their
 * completions read through one epoll descriptor that the event loop polls. It
 * only connects sockets; what a connection means is the caller's business.
 */
export interface NativeConnector {
  /**
   * Create a socket of `address`'s family (inside `netns` when given), bind it
   * to `source` when given, and start connecting it to `address` (raw
   * sockaddr_in/sockaddr_in6 bytes). Returns the socket's descriptor; the
   * outcome is reported later as the pair (`id`, 0 or an errno) in the results
   * array. A connect that fails at once (no route, `source` not local) throws
   * an `Error` with `errno`, `code` and `syscall`, and leaves nothing open.
   * `id`: an int32 >= 0 of the caller's choosing.
   */
  connect(id: number, address: Uint8Array, source?: Uint8Array | null, netns?: string | null): number;
  /** Close a pending connect by its descriptor (its outcome is then never reported); false if it is not pending. */
  cancel(fd: number): boolean;
  /** Connects started and neither reported nor cancelled. */
  readonly pending: number;
  /** Close every pending connect and stop polling. Idempotent. */
  close(): void;
}

/** Shape of the compiled addon's exports. */
export interface NativeAddon {
  /**
   * `new Connector(results, onResults)`: completed connects are written to
   * `results` as pairs (id, 0 when connected or else the errno) and their
   * socket closed; then `onResults(count)` is called with the number of pairs.
   * Only pending connects keep the event loop alive. Absent from older builds.
   */
  Connector?: new (results: Int32Array, onResults: (count: number) => void) => NativeConnector;
  open(domain: number, type: number, protocol: number, netns?: string): NativeSocket;
  /** Like `open`, but returns the bare descriptor, owned by the caller. */
  openSocketFd(domain: number, type: number, protocol: number, netns?: string): number;
  /** open(2) with O_CLOEXEC added, inside `netns` when given; returns the descriptor. */
  openFile(path: string, flags: number, netns?: string): number;
}

let addon: NativeAddon | undefined;

/**
 * Load the addon once: the prebuilt for this platform and architecture
 * (`native/prebuilds/<platform>-<arch>/`), else the source build
 * (`native/build/Release/`), relative to the package root of this file (in
 * `src/` or `dist/src/`). See src/netlink/addon-path.ts and docs/native.md.
 */
function loadAddon(): NativeAddon {
  if (addon) return addon;
  const root = findPackageRoot(dirname(fileURLToPath(import.meta.url)), existsSync);
  const platformArch = `${process.platform}-${process.arch}`;
  const candidates = addonCandidates(root, process.platform, process.arch);
  const require = createRequire(import.meta.url);
  addon = loadFirstAddon(candidates, platformArch, root, existsSync, (path) => require(path) as NativeAddon).addon;
  return addon;
}

/**
 * Open a non-blocking, close-on-exec socket, optionally inside another network namespace.
 * @param domain address family, e.g. AF_NETLINK (16)
 * @param type socket type, e.g. SOCK_RAW (3)
 * @param protocol e.g. NETLINK_GENERIC (16)
 */
export function openSocket(domain: number, type: number, protocol: number, options: OpenSocketOptions = {}): NativeSocket {
  return loadAddon().open(domain, type, protocol, options.netns);
}

/**
 * Create a non-blocking, close-on-exec socket (optionally inside another network
 * namespace) and return its bare descriptor, owned by the caller. Used to hand a
 * TCP socket made in a namespace to `node:net` (`new net.Socket({ fd })`).
 * Failures throw an `Error` with `errno`, `code` and `syscall`.
 * @param domain address family, e.g. AF_INET (2)
 * @param type socket type, e.g. SOCK_STREAM (1)
 * @param protocol usually 0
 */
export function openSocketFd(domain: number, type: number, protocol: number, options: OpenSocketOptions = {}): number {
  return loadAddon().openSocketFd(domain, type, protocol, options.netns);
}

/**
 * A {@link NativeConnector}: completed connects are written to `results` as
 * pairs (id, 0 when connected or else the errno; their sockets are then
 * closed normally) and `onResults(count)` is called with the number of pairs.
 * Returns undefined when the loaded addon predates connectors (an old prebuilt).
 * @param results where completions are written, two elements each; its length bounds a batch
 * @param onResults called on the loop thread after each batch
 */
export function createConnector(results: Int32Array, onResults: (count: number) => void): NativeConnector | undefined {
  const Ctor = loadAddon().Connector;
  return Ctor === undefined ? undefined : new Ctor(results, onResults);
}

/** Options for {@link openFile}. */
export interface OpenFileOptions {
  /**
   * Path of a network namespace file (`/run/netns/NAME`, `/proc/PID/ns/net`).
   * The file is opened on a short-lived native thread that first joins that
   * namespace; the Node.js main thread never changes namespace. This matters for
   * `/proc/sys/net/...`, whose entries belong to the network namespace of the
   * thread that opens them, for as long as the descriptor stays open.
   */
  netns?: string;
}

/**
 * open(2) a file (always with O_CLOEXEC added) and return its descriptor, for use
 * with `node:fs` `readSync`/`writeSync`/`closeSync`. The caller owns the descriptor.
 * Failures throw an `Error` with `errno`, `code`, `syscall` (`'open'`, `'setns'`) and `path`.
 * @param path file to open
 * @param flags open(2) flags, e.g. `fs.constants.O_RDONLY`
 */
export function openFile(path: string, flags: number, options: OpenFileOptions = {}): number {
  return loadAddon().openFile(path, flags, options.netns);
}
