// `ipvs-ts run CONFIG`: a SIGHUP reload that the kernel refuses part-way is
// rolled back. One daemon in a namespace of its own (exec health checks: one
// server passes, one fails and is quiesced at 0 by its checker; a service the
// daemon does not own beside them). Two reloads the kernel refuses after
// operations of them took effect — a scheduler it has no module for (in the
// first send, after additions and before edits of the same send), and a sync
// daemon on an interface the namespace lacks (in the second send, after the
// deletions) — each leave `ipvsadm -Ln` as it was before the reload, the VIP
// the refused file added gone, the checkers running their previous pools;
// then a valid reload goes through. Below the daemon, Ipvs.runOperations'
// ApplyError is checked against the kernel's per-message answers.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DirectorConfig } from '../../src/director/config.js';
import { ApplyError } from '../../src/ipvs/apply.js';
import { Ipvs } from '../../src/ipvs/client.js';
import { createNetns, type Netns } from './harness.js';
import { OutputLines } from './output-lines.js';
import { CLI_BIN as BIN } from '../helpers/cli.js';

const VIP = '10.72.0.100';
const VIP2 = '10.72.0.101';
const VIP3 = '10.72.0.102';
const [A, B, C, D] = ['10.72.1.1', '10.72.1.2', '10.72.1.3', '10.72.1.4'] as const;
const PORT = 8080;

let ns: Netns;
let dir: string;
let proc: ChildProcess | undefined;
const lines: string[] = [];
let waiters: { re: RegExp; resolve: (l: string) => void }[] = [];

/** The next output line of the daemon matching `re` (from now on). */
function nextLine(re: RegExp, timeoutMs = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no line matching ${re} within ${timeoutMs} ms; output:\n${lines.join('\n')}`)), timeoutMs);
    waiters.push({ re, resolve: (l) => (clearTimeout(t), resolve(l)) });
  });
}

const svc = (port: number) => ({ protocol: 'tcp' as const, address: VIP, port });
const dest = (address: string, weight: number) => ({ address, port: PORT, forward: 'masq' as const, weight });
/**
 * Service 80 is checked: A and C always pass (`none`: no probe, so no flap on
 * a loaded machine), B fails (a TCP connect to an address of the namespace
 * where nothing listens: refused at once), and its checker holds it at 0
 * although the file says 5.
 */
const health = { service: svc(80), check: { type: 'none' as const }, destinationChecks: [{ address: B, port: PORT, check: { type: 'tcp' as const } }], intervalMs: 200, timeoutMs: 1000, rise: 1, fall: 1, startJitterMs: 0 };

const V1: DirectorConfig = {
  table: { services: [
    { ...svc(80), scheduler: 'wrr', destinations: [dest(A, 5), dest(B, 5), dest(C, 5)] },
    { ...svc(81), scheduler: 'rr', destinations: [dest(A, 1), dest(B, 3)] },
    { ...svc(83), scheduler: 'wlc', destinations: [dest(A, 2), dest(C, 2)] },
  ] },
  health: [health],
  host: { vips: [VIP2], interface: 'dummy0', forwarding: 'nat', announce: false },
};
/**
 * Adds service 82 and destination D of 80, edits 83 (scheduler, a weight),
 * deletes C of 80 and service 81, adds VIP3; `bad` decides what the kernel
 * refuses: 83's scheduler, or the sync daemon's interface.
 */
function v2(bad: 'scheduler' | 'daemon' | 'none'): DirectorConfig {
  return {
    table: {
      services: [
        { ...svc(80), scheduler: 'wrr', destinations: [dest(A, 5), dest(C, 5), dest(D, 5)] },
        { ...svc(82), scheduler: 'rr', destinations: [dest(A, 4), dest(D, 4)] },
        { ...svc(83), scheduler: bad === 'scheduler' ? 'nosuch' : 'lc', destinations: [dest(A, 2), dest(C, 7)] },
      ],
      ...(bad === 'daemon' ? { daemons: [{ state: 'master' as const, interface: 'nosuch0' }] } : {}),
    },
    health: [{ ...health, destinationChecks: [] }],
    host: { vips: [VIP2, VIP3], interface: 'dummy0', forwarding: 'nat', announce: false },
  };
}

const config = (c: DirectorConfig): void => writeFileSync(join(dir, 'director.json'), JSON.stringify(c, null, 2));
const table = (): string => ns.ipvsadm('-Ln');
const vips = (): string[] => [...ns.ip('-o', '-4', 'addr', 'show', 'dev', 'dummy0').matchAll(/inet (\S+)/g)].map((m) => m[1]!).sort();

beforeAll(async () => {
  ns = createNetns('rollback');
  ns.ip('link', 'add', 'dummy0', 'type', 'dummy');
  ns.ip('addr', 'add', '10.72.0.1/24', 'dev', 'dummy0');
  ns.ip('link', 'set', 'dummy0', 'up');
  ns.ip('link', 'add', 'dummy1', 'type', 'dummy');
  ns.ip('addr', 'add', `${B}/32`, 'dev', 'dummy1');
  ns.ip('link', 'set', 'dummy1', 'up');
  ns.ipvsadm('-A', '-t', '10.72.0.200:80', '-s', 'rr'); // not the daemon's
  ns.ipvsadm('-a', '-t', '10.72.0.200:80', '-r', `${C}:${PORT}`, '-m', '-w', '9');
  dir = mkdtempSync(join(tmpdir(), 'ipvs-ts-rollback-'));
  config(V1);
  proc = spawn(process.execPath, [BIN, 'run', join(dir, 'director.json'), '--netns', ns.name], { stdio: ['ignore', 'pipe', 'pipe'] });
  const onLine = (l: string): void => {
    lines.push(l);
    waiters = waiters.filter((w) => (w.re.test(l) ? (w.resolve(l), false) : true));
  };
  createInterface({ input: proc.stdout! }).on('line', onLine);
  createInterface({ input: proc.stderr! }).on('line', (l) => onLine(`stderr: ${l}`));
  // Every checked destination placed by its checker: A and C up at 5, B down (at 0 since it was added).
  const placed = [
    nextLine(new RegExp(`TCP ${VIP}:80 ${B}:${PORT}: unknown -> down`), 60_000),
    nextLine(new RegExp(`TCP ${VIP}:80: .*${A}:${PORT} \\d+ -> 5`), 60_000),
    nextLine(new RegExp(`TCP ${VIP}:80: .*${C}:${PORT} \\d+ -> 5`), 60_000),
  ];
  await nextLine(/^ready: 3 services, 7 destinations, 1 checked/, 60_000);
  await Promise.all(placed);
}, 90_000);

afterAll(() => {
  proc?.kill('SIGKILL');
  ns?.destroy();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('ipvs-ts run: a reload the kernel refuses part-way', () => {
  it('a scheduler the kernel has no module for: what the first send did is undone, the table and VIPs are as before', async () => {
    const before = table();
    expect(before).toMatch(new RegExp(`${B.replace(/\./g, '\\.')}:${PORT}\\s+Masq\\s+0\\s`)); // the down server, quiesced by its checker
    const beforeVips = vips();
    config(v2('scheduler'));
    const refused = nextLine(/^reload refused by the kernel/);
    proc!.kill('SIGHUP');
    const line = await refused;
    expect(line).toContain(`at "update service TCP ${VIP}:83": updateService: scheduler "nosuch" does not exist in this kernel (no ip_vs_nosuch module) [ENOENT, errno 2]; rolled back:`);
    expect(line).toMatch(/rolled back: \d+ operation\(s\) that had taken effect were undone, the table is as before the reload/);
    // Taken effect and undone: service 82 with A and D (before the refusal) and C's weight in 83 (after it, in
    // the same send: the kernel runs the whole send). D of the checked 80 is its checker's to add: not in the plan.
    expect(line).toContain('rolled back: 4 operation(s)');
    expect(table()).toBe(before);
    expect(vips()).toEqual(beforeVips);
    expect(lines).toContain(`reload: host: - address ${VIP3}/32 on dummy0`);
  });

  it('a sync daemon on an interface the namespace lacks (after the deletions): deleted services and destinations come back with their weights', async () => {
    const before = table();
    config(v2('daemon'));
    const refused = nextLine(/^reload refused by the kernel/);
    proc!.kill('SIGHUP');
    const line = await refused;
    expect(line).toContain('at "start sync daemon master": startDaemon: no such network interface "nosuch0" in this network namespace [ENODEV, errno 19]; rolled back:');
    // Undone: the four of the first send, 83's scheduler (lc), and the deletions of B (down, at 0) from 80 and of 81.
    expect(line).toContain('rolled back: 7 operation(s)');
    expect(table()).toBe(before);
  });

  it('the daemon runs on: a valid reload afterwards goes through', async () => {
    config(v2('none'));
    const reloaded = nextLine(/^reloaded: /);
    proc!.kill('SIGHUP');
    await reloaded;
    const t = table();
    expect(t).toMatch(new RegExp(`TCP\\s+${VIP.replace(/\./g, '\\.')}:82 rr`));
    expect(t).toMatch(new RegExp(`TCP\\s+${VIP.replace(/\./g, '\\.')}:83 lc`));
    expect(t).not.toMatch(new RegExp(`${VIP.replace(/\./g, '\\.')}:81`));
    expect(t).toContain('10.72.0.200:80 rr'); // not the daemon's: untouched
    expect(vips()).toContain(`${VIP3}/32`);
    expect(proc!.exitCode).toBeNull();
  });
});

describe('Ipvs.runOperations: which operations took effect, from the kernel\'s answer to each message', () => {
  it('with stopOnError: the refused index, the ones after it in the same send taken, `sent` counting them', async () => {
    const other = createNetns('rollback-ops');
    const ipvs = await Ipvs.open({ netns: other.path });
    try {
      const s = (port: number, scheduler: string) => ({ protocol: 'tcp' as const, address: '10.73.0.1', port, scheduler });
      const e = await ipvs
        .runOperations([
          { op: 'add-service', service: s(1, 'rr') },
          { op: 'add-service', service: s(2, 'nosuch') },
          { op: 'add-service', service: s(3, 'rr') },
          { op: 'add-service', service: s(1, 'rr') }, // exists by now: refused too
          { op: 'add-service', service: s(4, 'wrr') },
        ], { stopOnError: true })
        .then(() => undefined, (x: unknown) => x);
      expect(e).toBeInstanceOf(ApplyError);
      const a = e as ApplyError;
      expect(a.refused).toEqual([1, 3]);
      expect(a.sent).toBe(5); // one send: the kernel ran all of it
      expect(a.applied).toBe(3);
      expect(a.code).toBe('ENOENT');
      expect([...other.ipvsadm('-Ln').matchAll(/^TCP\s+(\S+)/gm)].map((m) => m[1])).toEqual(['10.73.0.1:1', '10.73.0.1:3', '10.73.0.1:4']);
    } finally {
      await ipvs.close();
      other.destroy();
    }
  });
});

describe('ipvs-ts run: a refused reload that had left the election', () => {
  it('joins the election again with the settings in force, and as master puts the table and the VIP back', async () => {
    // One node (its peer's address is in the namespace's subnet but nobody is there): master after initDeadMs.
    const fns = createNetns('rollback-fo');
    const fdir = mkdtempSync(join(tmpdir(), 'ipvs-ts-rollback-fo-'));
    let daemon: ChildProcess | undefined;
    try {
      fns.ip('link', 'add', 'dummy0', 'type', 'dummy');
      fns.ip('addr', 'add', '10.73.0.1/24', 'dev', 'dummy0');
      fns.ip('link', 'set', 'dummy0', 'up');
      const FVIP = '10.73.0.100';
      const service = { protocol: 'tcp' as const, address: FVIP, port: 80, scheduler: 'rr', destinations: [{ address: '10.73.1.1', port: PORT, forward: 'masq' as const, weight: 3 }] };
      const withFailover: DirectorConfig = {
        table: { services: [service] },
        host: { vips: [FVIP], interface: 'dummy0', forwarding: 'nat', announce: false },
        failover: {
          nodeId: 1, priority: 200, peers: [{ nodeId: 2, address: '10.73.0.2' }], bindAddress: '10.73.0.1', port: 16_960,
          intervalMs: 100, deadMs: 300, initDeadMs: 300, keys: { 1: 'a shared secret of the pair' }, stateFile: join(fdir, 'node.gen'),
        },
      };
      // The reload removes the failover section (the election is left, the table and VIP given up) and asks for a
      // scheduler the kernel lacks: refused.
      const refusedFile: DirectorConfig = { table: { services: [{ ...service, scheduler: 'nosuch' }] }, host: withFailover.host };
      const file = join(fdir, 'director.json');
      writeFileSync(file, JSON.stringify(withFailover));
      // Inside the namespace: the heartbeat's sockets are the process's own (as in daemon-failover.kernel.test.ts).
      daemon = spawn('ip', ['netns', 'exec', fns.name, process.execPath, BIN, 'run', file], { stdio: ['ignore', 'pipe', 'pipe'] });
      const out = new OutputLines(daemon.stdout!);
      const err = new OutputLines(daemon.stderr!);
      await out.next(/^election: backup -> master/, 30_000, 0).catch((e: Error) => {
        throw new Error(`${e.message}\nstderr:\n${err.all.join('\n')}`);
      });
      const held = fns.ipvsadm('-Ln');
      expect(held).toContain(`TCP  ${FVIP}:80 rr`);
      const addrs = () => fns.ip('-o', '-4', 'addr', 'show', 'dev', 'dummy0');
      expect(addrs()).toContain(`${FVIP}/32`);

      writeFileSync(file, JSON.stringify(refusedFile));
      const from = out.all.length;
      daemon.kill('SIGHUP');
      await out.next(/^reload refused by the kernel/, 30_000, from);
      await out.next(/failover: the reload failed: election joined again with the settings in force/, 30_000, from);
      await out.next(/^election: backup -> master/, 30_000, from);
      // Master again under the settings in force: the table as it was, the VIP back.
      await expect.poll(() => fns.ipvsadm('-Ln'), { timeout: 10_000, interval: 100 }).toBe(held);
      await expect.poll(addrs, { timeout: 10_000, interval: 100 }).toContain(`${FVIP}/32`);
      expect(out.all.slice(from).filter((l) => l.startsWith('stderr') || /^error/.test(l))).toEqual([]);
    } finally {
      daemon?.kill('SIGKILL');
      fns.destroy();
      rmSync(fdir, { recursive: true, force: true });
    }
  }, 90_000);
});
