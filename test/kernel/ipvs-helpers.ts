// Shared helpers of the Ipvs client kernel tests (test/kernel/ipvs-*.kernel.test.ts).
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import { InvalidArgumentError } from '../../src/errors.js';
import { Ipvs, IpvsError } from '../../src/index.js';
import { nativeSocketFactory, type SocketFactory } from '../../src/netlink/conn.js';
import { createNetns, type Netns } from './harness.js';

/**
 * A fresh namespace with a dummy interface `lan0` holding addresses in the
 * networks the tests use (10/8, 130/8, 192.0.2/24, 198.51.100/24, 200/8,
 * 2001:db8::/64) and default routes through it: the kernel refuses a real
 * server it cannot route to ("address not unicast", EINVAL).
 */
export function createLbNetns(prefix: string): Netns {
  const ns = createNetns(prefix);
  try {
    ns.ip('link', 'add', 'lan0', 'type', 'dummy');
    ns.ip('addr', 'add', '10.0.0.1/8', 'dev', 'lan0');
    ns.ip('addr', 'add', '192.0.2.1/24', 'dev', 'lan0');
    ns.ip('addr', 'add', '198.51.100.1/24', 'dev', 'lan0');
    ns.ip('addr', 'add', '200.0.0.1/8', 'dev', 'lan0');
    ns.ip('addr', 'add', '130.0.0.1/8', 'dev', 'lan0');
    ns.ip('-6', 'addr', 'add', '2001:db8::1/64', 'dev', 'lan0', 'nodad');
    ns.ip('link', 'set', 'lan0', 'up');
    // Default routes, so that any unicast address can be a real server.
    ns.ip('route', 'add', 'default', 'dev', 'lan0');
    ns.ip('-6', 'route', 'add', 'default', 'dev', 'lan0');
  } catch (e) {
    ns.destroy();
    throw e;
  }
  return ns;
}

/** Counts the send() calls of every socket it makes (to prove nothing was sent). */
export interface SendCounter {
  sends: number;
  factory: SocketFactory;
}

export function sendCounter(): SendCounter {
  const counter: SendCounter = {
    sends: 0,
    factory: (protocol, netns) => {
      const socket = nativeSocketFactory(protocol, netns);
      return new Proxy(socket, {
        get(target, prop) {
          if (prop === 'send') {
            return (data: Uint8Array, address?: Uint8Array) => {
              counter.sends++;
              return target.send(data, address);
            };
          }
          const v: unknown = Reflect.get(target, prop);
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
        },
      });
    },
  };
  return counter;
}

/** Opens the client in the namespace. */
export function openIn(ns: Netns, socketFactory?: SocketFactory): Promise<Ipvs> {
  return Ipvs.open({ netns: ns.path, ...(socketFactory ? { socketFactory } : {}) });
}

/**
 * For the describe block it is called in: a fresh namespace from createLbNetns
 * and an Ipvs handle in it, made before its tests (handed over through `set`)
 * and closed and deleted after them.
 */
export function useLbNetns(prefix: string, set: (ns: Netns, ipvs: Ipvs) => void): void {
  let ns: Netns | undefined;
  let ipvs: Ipvs | undefined;
  beforeAll(async () => {
    ns = createLbNetns(prefix);
    ipvs = await openIn(ns);
    set(ns, ipvs);
  });
  afterAll(async () => {
    await ipvs?.close();
    ns?.destroy();
  });
}

/** The rejection of a promise (fails the test when it resolves). */
export async function rejectionOf(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected the call to reject, but it resolved');
}

/** The exception a synchronous or asynchronous call throws. */
export async function failureOf(f: () => unknown): Promise<unknown> {
  try {
    await f();
  } catch (e) {
    return e;
  }
  throw new Error('expected the call to fail, but it succeeded');
}

/** Asserts an IpvsError with the given code, operation and message fragments. */
export function expectIpvsError(e: unknown, code: string, errno: number, operation: string, ...fragments: (string | RegExp)[]): IpvsError {
  expect(e).toBeInstanceOf(IpvsError);
  const err = e as IpvsError;
  expect({ code: err.code, errno: err.errno, operation: err.operation, name: err.name }).toEqual({ code, errno, operation, name: 'IpvsError' });
  for (const f of fragments) {
    if (typeof f === 'string') expect(err.message).toContain(f);
    else expect(err.message).toMatch(f);
  }
  return err;
}

/** Asserts an InvalidArgumentError for `field`. */
export function expectInvalid(e: unknown, field: string, fragment?: string | RegExp): InvalidArgumentError {
  expect(e).toBeInstanceOf(InvalidArgumentError);
  const err = e as InvalidArgumentError;
  expect(err.field).toBe(field);
  expect(err.code).toBe('ERR_INVALID_ARGUMENT');
  if (fragment !== undefined) expect(err.message).toMatch(fragment);
  return err;
}

/** Is this IPVS module available to the running kernel (built in or as a module file)? */
export function kernelHasModule(name: string): boolean {
  const r = process.env.IPVS_TS_SANDBOX_KERNEL || release();
  if (existsSync(`/sys/module/${name}`)) return true;
  for (const dir of [`/lib/modules/${r}/kernel/net/netfilter/ipvs`, `/usr/lib/uml/modules/${r}/kernel/net/netfilter/ipvs`]) {
    for (const ext of ['.ko', '.ko.xz', '.ko.zst', '.ko.gz']) if (existsSync(`${dir}/${name}${ext}`)) return true;
  }
  return false;
}

/** `ipvsadm -Sn` split into lines (without the final empty one). */
export function saveLines(ns: Netns): string[] {
  const out = ns.ipvsadm('-Sn');
  return out === '' ? [] : out.replace(/\n$/, '').split('\n');
}

/** A Stats object: bigint counters and number rates. */
export const anyStats = {
  connections: expect.any(BigInt),
  inPackets: expect.any(BigInt),
  outPackets: expect.any(BigInt),
  inBytes: expect.any(BigInt),
  outBytes: expect.any(BigInt),
  cps: expect.any(Number),
  inPps: expect.any(Number),
  outPps: expect.any(Number),
  inBps: expect.any(Number),
  outBps: expect.any(Number),
};

/** Zero stats, as a fresh service or destination has. */
export const zeroStats = {
  connections: 0n,
  inPackets: 0n,
  outPackets: 0n,
  inBytes: 0n,
  outBytes: 0n,
  cps: 0,
  inPps: 0,
  outPps: 0,
  inBps: 0,
  outBps: 0,
};

/** Runs `ipvsadm -R` in the namespace with `rules` on its standard input. */
export function ipvsadmRestore(ns: Netns, rules: string): void {
  const dir = mkdtempSync(join(tmpdir(), 'ipvs-rules-'));
  try {
    const file = join(dir, 'rules');
    writeFileSync(file, rules);
    ns.exec('sh', ['-c', `ipvsadm -R < ${file}`]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
