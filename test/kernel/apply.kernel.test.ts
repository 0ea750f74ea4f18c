// snapshot / plan / apply / restore against the real kernel: every outcome is
// checked with ipvsadm in the same namespace. A failed or aborted apply must
// leave the table exactly as it was; a successful one exactly as desired;
// never anything in between.
import { spawnSync } from 'node:child_process';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AbortError, InvalidArgumentError } from '../../src/errors.js';
import { ApplyError, Ipvs, type DesiredState, type ServiceState } from '../../src/index.js';
import * as C from '../../src/ipvs/constants.js';
import { nativeSocketFactory, type SocketFactory } from '../../src/netlink/conn.js';
import { parseMessages } from '../../src/netlink/message.js';
import { createNetns, type Netns } from './harness.js';

// ---------------------------------------------------------------- helpers

/**
 * A fresh namespace with a dummy interface `lan0` (10.0.0.1/8, 2001:db8::1/64):
 * the kernel refuses real servers it cannot route to.
 */
function lbNetns(prefix: string): Netns {
  const ns = createNetns(prefix);
  try {
    ns.ip('link', 'add', 'lan0', 'type', 'dummy');
    ns.ip('addr', 'add', '10.0.0.1/8', 'dev', 'lan0');
    ns.ip('-6', 'addr', 'add', '2001:db8::1/64', 'dev', 'lan0', 'nodad');
    ns.ip('link', 'set', 'lan0', 'up');
  } catch (e) {
    ns.destroy();
    throw e;
  }
  return ns;
}

/** `ipvsadm -R` with `rules` on its standard input. */
function ipvsadmRestore(ns: Netns, rules: string): void {
  const r = spawnSync('ip', ['netns', 'exec', ns.name, 'ipvsadm', '-R'], { input: rules, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`ipvsadm -R failed in ${ns.name}: ${r.stderr || r.error}`);
}

/** `ipvsadm -Sn`, exactly as printed. */
const saved = (ns: Netns): string => ns.ipvsadm('-Sn');
/** `ipvsadm -Sn` as a sorted list of rules (a destination's place in its service's list is not configuration). */
const rules = (ns: Netns): string[] => saved(ns).split('\n').filter(Boolean).sort();
/**
 * An `ipvsadm -Ln ...` listing as sorted rows, each destination row prefixed
 * with its service (so the rows can be compared whatever the list order).
 */
function listing(ns: Netns, ...args: string[]): string[] {
  const out: string[] = [];
  let service = '';
  for (const line of ns.ipvsadm('-Ln', ...args).split('\n').slice(3)) {
    if (!line.trim()) continue;
    if (line.startsWith('  ->')) out.push(`${service} ${line.replace(/\s+/g, ' ').trim()}`);
    else out.push((service = line.replace(/\s+/g, ' ').trim()));
  }
  return out.sort();
}
/** Everything ipvsadm shows of the table: rules, thresholds, tunnels, timeouts, daemons. */
function everything(ns: Netns): Record<string, string[] | string> {
  return {
    rules: rules(ns),
    thresholds: listing(ns, '--thresholds'),
    tunnels: listing(ns, '--tun-info'),
    timeouts: ns.ipvsadm('-Ln', '--timeout'),
    daemons: ns.ipvsadm('-Ln', '--daemon'),
  };
}

/** Clear the table, the daemons and the timeouts (0 0 0 leaves timeouts unchanged; set the defaults). */
function reset(ns: Netns): void {
  ns.ipvsadm('-C');
  for (const state of ['master', 'backup']) {
    if (ns.ipvsadm('-Ln', '--daemon').includes(`${state} sync daemon`)) ns.ipvsadm('--stop-daemon', state);
  }
  ns.ipvsadm('--set', '900', '120', '300');
}

async function failureOf(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected the call to reject, but it resolved');
}

/** A socket factory whose sockets call `onSend` with the IPVS commands of each datagram before sending it. */
function watchingFactory(onSend: (commands: number[]) => void): SocketFactory {
  return (protocol, netns) => {
    const socket = nativeSocketFactory(protocol, netns);
    return new Proxy(socket, {
      get(target, prop) {
        if (prop === 'send') {
          return (data: Uint8Array, address?: Uint8Array) => {
            const messages = parseMessages(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
            onSend(messages.map((m) => m.payload[0]!));
            return target.send(data, address);
          };
        }
        const v: unknown = Reflect.get(target, prop);
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
  };
}

const CHANGE_COMMANDS = new Set([C.IPVS_CMD_NEW_SERVICE, C.IPVS_CMD_SET_SERVICE, C.IPVS_CMD_DEL_SERVICE, C.IPVS_CMD_NEW_DEST, C.IPVS_CMD_SET_DEST, C.IPVS_CMD_DEL_DEST]);

/** The same rules as ipvsadm text (for `ipvsadm -R` into a reference namespace): IPv4 address services, masq/route destinations. */
function rulesText(state: DesiredState): string {
  const lines: string[] = [];
  for (const s of state.services) {
    const { protocol, address, port } = s as { protocol: string; address: string; port: number };
    const svc = `${protocol === 'tcp' ? '-t' : protocol === 'udp' ? '-u' : '--sctp-service'} ${address}:${port}`;
    lines.push(`-A ${svc} -s ${s.scheduler ?? 'wlc'}`);
    for (const d of s.destinations) {
      const fwd = d.forward === 'masq' ? '-m' : d.forward === 'tunnel' ? '-i' : '-g';
      lines.push(`-a ${svc} -r ${d.address}:${d.port ?? port} ${fwd} -w ${d.weight ?? 1}`);
    }
  }
  return lines.join('\n') + '\n';
}

// The large table: 300 services × 5 destinations, over a table of 20
// services of which 10 change (scheduler, weights, thresholds, an extra
// destination) and 10 go.
const N = 300;
const D = 5;
const vip = (i: number) => `10.200.${Math.floor(i / 200)}.${(i % 200) + 1}`;
const rip = (i: number, j: number) => `10.${10 + j}.${Math.floor(i / 200)}.${(i % 200) + 1}`;

function largeDesired(failing?: number): DesiredState {
  return {
    services: Array.from({ length: N }, (_, i): ServiceState => ({
      protocol: 'tcp',
      address: vip(i),
      port: 80,
      scheduler: i === failing ? 'nosuchsched' : 'wrr',
      destinations: Array.from({ length: D }, (_, j) => ({ address: rip(i, j), port: 8080, forward: 'masq' as const, weight: j + 1 })),
    })),
  };
}

const START_RULES = [
  ...Array.from({ length: 10 }, (_, i) => [
    `-A -t ${vip(i)}:80 -s ${i % 2 ? 'wrr' : 'rr'}`,
    ...Array.from({ length: 3 }, (_, j) => `-a -t ${vip(i)}:80 -r ${rip(i, j)}:8080 -m -w ${j === 0 ? 9 : j + 1} -x 100 -y 10`),
    `-a -t ${vip(i)}:80 -r 10.50.0.${i + 1}:8080 -m -w 1`,
  ]),
  ...Array.from({ length: 10 }, (_, k) => [`-A -t 10.201.0.${k + 1}:80 -s lc -p 120`, `-a -t 10.201.0.${k + 1}:80 -r 10.51.0.${k + 1}:80 -g -w 2 -x 50 -y 5`]),
]
  .flat()
  .join('\n') + '\n';

// ---------------------------------------------------------------- tests

describe('snapshot and apply: the whole table, losslessly', () => {
  let ns: Netns;
  let other: Netns;
  let ipvs: Ipvs;
  let ipvs2: Ipvs;
  beforeAll(async () => {
    ns = lbNetns('apply-a');
    other = lbNetns('apply-b');
    ipvs = await Ipvs.open({ netns: ns.path });
    ipvs2 = await Ipvs.open({ netns: other.path });
  });
  afterAll(async () => {
    await ipvs?.close();
    await ipvs2?.close();
    ns?.destroy();
    other?.destroy();
  });

  const desired: DesiredState = {
    services: [
      {
        protocol: 'tcp', address: '10.0.0.10', port: 80, scheduler: 'rr',
        destinations: [
          { address: '10.1.0.1', port: 80, forward: 'masq', weight: 1 },
          { address: '10.1.0.2', port: 8080, forward: 'masq', weight: 3 },
          { address: '10.1.0.3', forward: 'tunnel', tunnel: { type: 'gue', port: 6080, checksum: 'csum' } },
          { address: '10.1.0.4', forward: 'route', weight: 0 },
        ],
      },
      { protocol: 'udp', address: '10.0.0.10', port: 53, scheduler: 'wrr', onePacket: true, destinations: [{ address: '10.1.0.5', forward: 'masq', weight: 2 }] },
      { protocol: 'tcp', address: '10.0.0.11', port: 443, scheduler: 'wlc', persistence: { timeout: 600, netmask: 24 }, destinations: [{ address: '10.1.0.6', forward: 'route' }] },
      { fwmark: 7, scheduler: 'sh', schedulerFlags: ['sh-port'], destinations: [{ address: '10.1.0.7', forward: 'tunnel', tunnel: { type: 'ipip' } }] },
      { protocol: 'sctp', address: '10.0.0.12', port: 2905, scheduler: 'rr', destinations: [] },
      { protocol: 'tcp', address: '2001:db8::10', port: 80, scheduler: 'rr', destinations: [{ address: '2001:db8::20', port: 8080, forward: 'masq', weight: 4 }] },
    ],
  };
  const expectedRules = [
    '-A -t 10.0.0.10:80 -s rr',
    '-a -t 10.0.0.10:80 -r 10.1.0.1:80 -m -w 1',
    '-a -t 10.0.0.10:80 -r 10.1.0.2:8080 -m -w 3',
    '-a -t 10.0.0.10:80 -r 10.1.0.3:80 -i -w 1 --tun-type gue --tun-port 6080 --tun-csum',
    '-a -t 10.0.0.10:80 -r 10.1.0.4:80 -g -w 0',
    '-A -t 10.0.0.11:443 -s wlc -p 600 -M 255.255.255.0',
    '-a -t 10.0.0.11:443 -r 10.1.0.6:443 -g -w 1',
    '-A -u 10.0.0.10:53 -s wrr -o',
    '-a -u 10.0.0.10:53 -r 10.1.0.5:53 -m -w 2',
    '-A --sctp-service 10.0.0.12:2905 -s rr',
    '-A -t [2001:db8::10]:80 -s rr',
    '-a -t [2001:db8::10]:80 -r [2001:db8::20]:8080 -m -w 4',
    '-A -f 7 -s sh -b sh-port',
    '-a -f 7 -r 10.1.0.7:0 -i -w 1 --tun-type ipip',
  ];

  it('applies a desired state to an empty table: ipvsadm -Sn shows exactly it', async () => {
    expect(saved(ns)).toBe('');
    const result = await ipvs.apply(desired);
    expect(result.dryRun).toBe(false);
    expect(result.applied).toBe(6 + 8);
    expect(result.plan.summary).toBe('add 6 services, 8 destinations');
    expect(rules(ns)).toEqual([...expectedRules].sort());
    // Applying it again changes nothing.
    const again = await ipvs.apply(desired);
    expect(again.applied).toBe(0);
    expect(again.plan.summary).toBe('no changes');
  });

  it('snapshot() holds what ipvsadm -S drops (thresholds, timeouts, daemons); apply(snapshot) is a no-op; its JSON recreates the table elsewhere', async () => {
    ns.ipvsadm('-e', '-t', '10.0.0.10:80', '-r', '10.1.0.1:80', '-m', '-w', '1', '-x', '100', '-y', '10');
    ns.ipvsadm('-e', '-u', '10.0.0.10:53', '-r', '10.1.0.5:53', '-m', '-w', '2', '-x', '7');
    ns.ipvsadm('--set', '3600', '100', '200');
    ns.ipvsadm('--start-daemon', 'master', '--mcast-interface', 'lan0', '--syncid', '5');
    const sn = saved(ns);
    expect(sn).not.toMatch(/-x|-y|3600|daemon/); // what ipvsadm -S cannot give back

    const snap = await ipvs.snapshot();
    const web = snap.services.find((s) => 'port' in s && s.port === 80 && s.address === '10.0.0.10')!;
    expect(web.destinations.find((d) => d.address === '10.1.0.1')).toEqual({ address: '10.1.0.1', port: 80, weight: 1, forward: 'masq', upperThreshold: 100, lowerThreshold: 10 });
    expect(web.destinations.find((d) => d.address === '10.1.0.3')).toEqual({ address: '10.1.0.3', port: 80, weight: 1, forward: 'tunnel', tunnel: { type: 'gue', port: 6080, checksum: 'csum' } });
    const dns = snap.services.find((s) => 'protocol' in s && s.protocol === 'udp')!;
    expect(dns).toMatchObject({ onePacket: true, destinations: [{ address: '10.1.0.5', upperThreshold: 7 }] });
    expect(snap.timeouts).toEqual({ tcp: 3600, tcpFin: 100, udp: 200 });
    expect(snap.daemons).toEqual([{ state: 'master', interface: 'lan0', syncId: 5, maxLength: 1472, multicastGroup: '224.0.0.81', multicastPort: 8848, multicastTtl: 1 }]);

    const noop = await ipvs.apply(snap);
    expect(noop.applied).toBe(0);
    expect(noop.operations).toEqual([]);
    expect(saved(ns)).toBe(sn);

    // Through JSON into a second, fresh namespace.
    const json = JSON.stringify(snap);
    const fromJson = JSON.parse(json) as DesiredState;
    expect(fromJson).toEqual(snap);
    expect(saved(other)).toBe('');
    const result = await ipvs2.apply(fromJson);
    expect(result.plan.summary).toBe('add 6 services, 8 destinations; set timeouts; start 1 sync daemon');
    expect(saved(other)).toBe(sn);
    expect(ns.ipvsadm('-Ln', '--thresholds')).toBe(other.ipvsadm('-Ln', '--thresholds'));
    expect(ns.ipvsadm('-Ln', '--tun-info')).toBe(other.ipvsadm('-Ln', '--tun-info'));
    expect(other.ipvsadm('-Ln', '--timeout')).toBe(ns.ipvsadm('-Ln', '--timeout'));
    expect(other.ipvsadm('-Ln', '--daemon')).toBe(ns.ipvsadm('-Ln', '--daemon'));
    expect(everything(other)).toEqual(everything(ns));
    // And the copy plans to nothing against the original.
    expect((await ipvs.plan(JSON.parse(json) as DesiredState)).operations).toEqual([]);
    expect((await ipvs2.plan(snap)).operations).toEqual([]);
  });
});

describe('plan, dry run, quiesce, invalid states', () => {
  let ns: Netns;
  let ipvs: Ipvs;
  let sends = 0;
  beforeAll(async () => {
    ns = lbNetns('apply-plan');
    ipvs = await Ipvs.open({ netns: ns.path, socketFactory: watchingFactory(() => sends++) });
  });
  afterAll(async () => {
    await ipvs?.close();
    ns?.destroy();
  });
  afterEach(() => reset(ns));

  const start = [
    '-A -t 10.0.0.10:80 -s rr',
    '-a -t 10.0.0.10:80 -r 10.1.0.1:80 -m -w 1',
    '-a -t 10.0.0.10:80 -r 10.1.0.2:80 -m -w 1',
    '-a -t 10.0.0.10:80 -r 10.1.0.3:80 -m -w 1',
    '-A -t 10.0.0.11:80 -s wlc',
    '-a -t 10.0.0.11:80 -r 10.1.0.4:80 -g -w 1',
  ].join('\n') + '\n';
  const desired: DesiredState = {
    services: [
      {
        protocol: 'tcp', address: '10.0.0.10', port: 80, scheduler: 'wrr',
        destinations: [
          { address: '10.1.0.1', forward: 'masq', weight: 1 },
          { address: '10.1.0.2', forward: 'masq', weight: 5 },
          { address: '10.1.0.9', forward: 'masq', weight: 1 },
        ],
      },
      { protocol: 'udp', address: '10.0.0.12', port: 53, scheduler: 'rr', destinations: [{ address: '10.1.0.5', forward: 'masq' }] },
    ],
  };

  it('plan() returns the minimal operations and a readable summary, changing nothing; dryRun too', async () => {
    ipvsadmRestore(ns, start);
    const before = saved(ns);
    const plan = await ipvs.plan(desired);
    expect(plan.operations.map((o) => o.op)).toEqual([
      'delete-destination', // 10.1.0.3
      'update-destination', // 10.1.0.2 weight 5
      'delete-service', // 10.0.0.11:80
      'update-service', // rr → wrr
      'add-destination', // 10.1.0.9 (to the kept service)
      'add-service', // UDP 10.0.0.12:53, then its destination
      'add-destination', // 10.1.0.5
    ]);
    expect(plan.summary).toBe('add 1 service, 2 destinations; update 1 service, 1 destination; delete 1 service, 1 destination');
    expect(saved(ns)).toBe(before);

    const dry = await ipvs.apply(desired, { dryRun: true });
    expect(dry).toMatchObject({ applied: 0, dryRun: true, plan: { summary: plan.summary } });
    expect(JSON.parse(JSON.stringify(dry.operations))).toEqual(JSON.parse(JSON.stringify(plan.operations)));
    expect(saved(ns)).toBe(before);

    // And the real thing does exactly that.
    const real = await ipvs.apply(desired);
    expect(real.applied).toBe(7);
    expect(rules(ns)).toEqual([
      '-A -t 10.0.0.10:80 -s wrr',
      '-A -u 10.0.0.12:53 -s rr',
      '-a -t 10.0.0.10:80 -r 10.1.0.1:80 -m -w 1',
      '-a -t 10.0.0.10:80 -r 10.1.0.2:80 -m -w 5',
      '-a -t 10.0.0.10:80 -r 10.1.0.9:80 -m -w 1',
      '-a -u 10.0.0.12:53 -r 10.1.0.5:53 -m -w 1',
    ]);
  });

  it("removal 'quiesce' sets weight 0 instead of deleting", async () => {
    ipvsadmRestore(ns, start);
    const result = await ipvs.apply(desired, { removal: 'quiesce' });
    expect(result.operations.some((o) => o.op.startsWith('delete'))).toBe(false);
    const lines = rules(ns);
    expect(lines).toContain('-a -t 10.0.0.10:80 -r 10.1.0.3:80 -m -w 0');
    expect(lines).toContain('-A -t 10.0.0.11:80 -s wlc');
    expect(lines).toContain('-a -t 10.0.0.11:80 -r 10.1.0.4:80 -g -w 0');
    expect(lines).toContain('-a -t 10.0.0.10:80 -r 10.1.0.2:80 -m -w 5');
    expect(lines).toContain('-a -t 10.0.0.10:80 -r 10.1.0.9:80 -m -w 1');
    // Quiesced already: nothing more to do.
    expect((await ipvs.plan(desired, { removal: 'quiesce' })).operations).toEqual([]);
    // With removal 'delete' the quiesced ones go.
    expect((await ipvs.plan(desired)).summary).toBe('delete 1 service, 1 destination');
  });

  it('an invalid desired state is refused whole, before anything is sent: one InvalidArgumentError listing every entry', async () => {
    ipvsadmRestore(ns, start);
    const before = everything(ns);
    const bad: DesiredState = {
      services: [
        { protocol: 'tcp', address: '10.0.0.10', port: 80, scheduler: 'rr', destinations: [{ address: '10.1.0.1', forward: 'masq', weight: -1 }] },
        { protocol: 'tcp', address: '10.0.0.300', port: 80, destinations: [] },
        { protocol: 'tcp', address: '10.0.0.13', port: 80, destinations: [{ address: '10.1.0.8', upperThreshold: 5, lowerThreshold: 10 }, { address: '10.1.0.9' }] },
      ],
    };
    const sendsBefore = sends;
    for (const call of [() => ipvs.apply(bad), () => ipvs.apply(bad, { dryRun: true }), () => ipvs.plan(bad)]) {
      const e = await failureOf(call());
      expect(e).toBeInstanceOf(InvalidArgumentError);
      const problems = (e as InvalidArgumentError).problems;
      expect(problems).toHaveLength(3);
      expect(problems[0]).toMatch(/^desired\.services\[0\]\.destinations\[0\]\.weight: must be an integer from 0 to 2147483647, got -1/);
      expect(problems[1]).toMatch(/^desired\.services\[1\]\.address: "10\.0\.0\.300" is not a valid IPv4 or IPv6 address/);
      expect(problems[2]).toMatch(/^desired\.services\[2\]\.destinations\[0\]\.lowerThreshold: \(10\) must not exceed upperThreshold \(5\)/);
      expect((e as Error).message).toMatch(/^3 invalid fields:/);
    }
    expect(sends).toBe(sendsBefore);
    expect(everything(ns)).toEqual(before);
  });
});

describe('failures and aborts part-way through a large apply leave the table as it was', () => {
  let ns: Netns;
  let ref: Netns;
  let ipvs: Ipvs;
  let expectedDesired: string[];
  beforeAll(async () => {
    ns = lbNetns('apply-big');
    ref = lbNetns('apply-ref');
    ipvs = await Ipvs.open({ netns: ns.path });
    // What the large desired state looks like, made by ipvsadm itself.
    ipvsadmRestore(ref, rulesText(largeDesired()));
    expectedDesired = rules(ref);
    expect(expectedDesired).toHaveLength(N * (D + 1));
  });
  afterAll(async () => {
    await ipvs?.close();
    ns?.destroy();
    ref?.destroy();
  });
  afterEach(() => reset(ns));

  it('a kernel refusal in the middle (scheduler nosuchsched): ApplyError ENOENT naming it, restored, ipvsadm -Sn as before', async () => {
    ipvsadmRestore(ns, START_RULES);
    const before = everything(ns);
    expect(before.rules).toHaveLength(10 * 5 + 10 * 2);
    const desired = largeDesired(150);
    const plan = await ipvs.plan(desired);
    expect(plan.summary).toBe('add 290 services, 1470 destinations; update 5 services, 30 destinations; delete 10 services, 10 destinations');
    const total = plan.operations.length;
    const e = await failureOf(ipvs.apply(desired));
    expect(e).toBeInstanceOf(ApplyError);
    const err = e as ApplyError;
    expect(err).toMatchObject({ code: 'ENOENT', errno: 2, restored: true, operation: `add service TCP ${vip(150)}:80` });
    expect(err.message).toContain(`apply failed at operation`);
    expect(err.message).toContain(`of ${total} (add service TCP ${vip(150)}:80)`);
    expect(err.message).toContain('nosuchsched');
    expect(err.message).toContain('the table was restored to its state before the apply');
    // Part-way: some operations had been carried out, not all.
    expect(err.applied).toBeGreaterThan(100);
    expect(err.applied).toBeLessThan(total);
    expect(everything(ns)).toEqual(before);
  });

  it('an abort part-way: either ApplyError ABORT_ERR with the table as before, or (finished first) the table as desired', async () => {
    ipvsadmRestore(ns, START_RULES);
    const before = everything(ns);
    const total = (await ipvs.plan(largeDesired())).operations.length;
    expect(total).toBe(1815);
    const ac = new AbortController();
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    let abortedAt: { done: number; total: number } | undefined;
    const run = ipvs.apply(largeDesired(), {
      signal: ac.signal,
      onProgress: (p) => {
        if (!abortedAt && p.done > p.total / 3) {
          abortedAt = p;
          ac.abort();
        }
      },
    });
    let outcome: 'restored' | 'converged';
    try {
      const result = await run;
      outcome = 'converged';
      expect(result.applied).toBe(result.operations.length);
    } catch (e) {
      outcome = 'restored';
      expect(e).toBeInstanceOf(ApplyError);
      expect(e).toMatchObject({ code: 'ABORT_ERR', restored: true, operation: 'abort' });
      expect((e as ApplyError).message).toMatch(/^apply was aborted after \d+ of \d+ operations; the table was restored/);
      expect((e as ApplyError).applied).toBeLessThan(total);
    }
    expect(abortedAt).toBeDefined();
    // One signal for a snapshot of many services: no "possible EventTarget memory leak" warning.
    await new Promise((r) => setImmediate(r));
    process.off('warning', onWarning);
    expect(warnings.map((w) => w.name)).not.toContain('MaxListenersExceededWarning');
    if (outcome === 'restored') expect(everything(ns)).toEqual(before);
    else expect(rules(ns)).toEqual(expectedDesired);
    // Never half-applied: the table is one of the two.
    const now = rules(ns);
    expect(now.join('\n') === (before.rules as string[]).join('\n') || now.join('\n') === expectedDesired.join('\n')).toBe(true);
    // This run aborts after the second of several sends: restored.
    expect(outcome).toBe('restored');
  });

  it('a snapshot aborted while it reads rejects with AbortError; the same handle then reads the whole table again', async () => {
    ipvsadmRestore(ns, rulesText(largeDesired()));
    const whole = await ipvs.snapshot();
    expect(whole.services).toHaveLength(N);
    expect(whole.services.reduce((n, s) => n + s.destinations.length, 0)).toBe(N * D);
    // The snapshot lets the event loop run every few dozen dumps: an abort from
    // a timer lands part-way through its 301 dumps.
    const ac = new AbortController();
    const run = ipvs.snapshot({ signal: ac.signal });
    setImmediate(() => setImmediate(() => ac.abort(new Error('enough'))));
    const e = await failureOf(run);
    expect(e).toBeInstanceOf(AbortError);
    expect((e as AbortError).message).toMatch(/^snapshot \(service TCP 10\.200\.\d+\.\d+:80\) was aborted/);
    // The kernel finishes the dump it was running (drained, not read); then the handle works as before.
    const again = await ipvs.snapshot();
    expect(again).toEqual(whole);
    expect(rules(ns)).toEqual(expectedDesired);
  });

  it('a successful large apply reaches exactly the desired table', async () => {
    ipvsadmRestore(ns, START_RULES);
    const progress: number[] = [];
    const result = await ipvs.apply(largeDesired(), { onProgress: (p) => progress.push(p.done) });
    expect(result.applied).toBe(result.operations.length);
    expect(progress.at(-1)).toBe(result.operations.length);
    expect(rules(ns)).toEqual(expectedDesired);
    expect(listing(ns, '--thresholds').filter((l) => / 100 10 /.test(l))).toEqual([]); // the thresholds went with the update
  });
});

describe('another writer changes the table', () => {
  let ns: Netns;
  let ref: Netns;
  let ipvs: Ipvs;
  let onChange: (() => void) | undefined;
  beforeAll(async () => {
    ns = lbNetns('apply-race');
    ref = lbNetns('apply-race-ref');
    ipvs = await Ipvs.open({
      netns: ns.path,
      socketFactory: watchingFactory((commands) => {
        // Run the other writer once, right before the first change goes out.
        if (onChange && commands.some((c) => CHANGE_COMMANDS.has(c))) {
          const f = onChange;
          onChange = undefined;
          f();
        }
      }),
    });
  });
  afterAll(async () => {
    await ipvs?.close();
    ns?.destroy();
    ref?.destroy();
  });
  afterEach(() => {
    onChange = undefined;
    reset(ns);
  });

  const start = ['-A -t 10.0.0.10:80 -s rr', '-a -t 10.0.0.10:80 -r 10.1.0.1:80 -m -w 1', '-a -t 10.0.0.10:80 -r 10.1.0.2:80 -m -w 1'].join('\n') + '\n';
  const desired: DesiredState = {
    services: [
      { protocol: 'tcp', address: '10.0.0.10', port: 80, scheduler: 'rr', destinations: [{ address: '10.1.0.1', forward: 'masq', weight: 5 }, { address: '10.1.0.2', forward: 'masq' }] },
      { protocol: 'tcp', address: '10.0.0.11', port: 80, scheduler: 'wrr', destinations: [{ address: '10.1.0.3', forward: 'masq' }, { address: '10.1.0.4', forward: 'masq' }] },
    ],
  };
  const otherWriter = () => {
    ns.ipvsadm('-A', '-t', '10.0.0.11:80', '-s', 'wrr'); // a service the desired state adds
    ns.ipvsadm('-d', '-t', '10.0.0.10:80', '-r', '10.1.0.1:80'); // a destination the desired state updates
  };
  const desiredRules = (): string[] => {
    ref.ipvsadm('-C');
    ipvsadmRestore(ref, rulesText(desired));
    return rules(ref);
  };

  it('between plan() and apply(): apply plans afresh and converges (or would reject and leave the table as just before)', async () => {
    ipvsadmRestore(ns, start);
    const plan = await ipvs.plan(desired);
    expect(plan.summary).toBe('add 1 service, 2 destinations; update 1 destination');
    otherWriter();
    const justBefore = everything(ns);
    let outcome: 'converged' | 'rejected';
    try {
      const result = await ipvs.apply(desired);
      outcome = 'converged';
      // The plan made at the call, against the changed table.
      expect(result.plan.summary).toBe('add 3 destinations');
    } catch (e) {
      outcome = 'rejected';
      expect(e).toBeInstanceOf(ApplyError);
      expect(e).toMatchObject({ restored: true });
      expect(everything(ns)).toEqual(justBefore);
    }
    if (outcome === 'converged') expect(rules(ns)).toEqual(desiredRules());
    expect(outcome).toBe('converged');
  });

  it('during apply (after its snapshot, before its first change): a clear ApplyError, and the table as it was when apply was called', async () => {
    ipvsadmRestore(ns, start);
    const before = everything(ns);
    onChange = otherWriter;
    let outcome: 'converged' | 'rejected';
    let error: unknown;
    try {
      await ipvs.apply(desired);
      outcome = 'converged';
    } catch (e) {
      outcome = 'rejected';
      error = e;
    }
    expect(onChange).toBeUndefined(); // the other writer did run
    if (outcome === 'converged') {
      expect(rules(ns)).toEqual(desiredRules());
    } else {
      expect(error).toBeInstanceOf(ApplyError);
      const err = error as ApplyError;
      expect(err.restored).toBe(true);
      // The first refusal: the destination the other writer deleted (ENOENT on update) or the service it added (EEXIST).
      expect(['ENOENT', 'EEXIST']).toContain(err.code);
      expect(err.message).toContain('another writer?');
      expect(err.message).toMatch(/\((update destination 10\.1\.0\.1(:80)? in service TCP 10\.0\.0\.10:80|add service TCP 10\.0\.0\.11:80)\)/);
      expect(everything(ns)).toEqual(before);
    }
    expect(outcome).toBe('rejected');
  });
});

describe('restore(text)', () => {
  let ns: Netns;
  let other: Netns;
  let ipvs: Ipvs;
  beforeAll(async () => {
    ns = lbNetns('restore-a');
    other = lbNetns('restore-b');
    ipvs = await Ipvs.open({ netns: ns.path });
  });
  afterAll(async () => {
    await ipvs?.close();
    ns?.destroy();
    other?.destroy();
  });
  afterEach(() => {
    reset(ns);
    reset(other);
  });

  it('a line the kernel rejects in the middle: rolled back, ApplyError naming the line', async () => {
    ipvsadmRestore(ns, ['-A -t 10.0.0.10:80 -s rr', '-a -t 10.0.0.10:80 -r 10.1.0.1:80 -m -w 1 -x 20 -y 5', '-A -u 10.0.0.10:53 -s wlc', '-a -u 10.0.0.10:53 -r 10.1.0.2:53 -g -w 3'].join('\n') + '\n');
    const before = everything(ns);
    const text = [
      '-A -t 10.0.0.20:80 -s rr',
      '-a -t 10.0.0.20:80 -r 10.1.0.20:80 -m -w 2',
      '-E -t 10.0.0.10:80 -s wrr',
      '-d -u 10.0.0.10:53 -r 10.1.0.2:53',
      '-A -t 10.0.0.21:80 -s nosuchsched',
      '-a -t 10.0.0.21:80 -r 10.1.0.21:80 -m',
      '-A -t 10.0.0.22:80 -s wrr',
      '-D -t 10.0.0.10:80',
    ].join('\n') + '\n';
    const e = await failureOf(ipvs.restore(text));
    expect(e).toBeInstanceOf(ApplyError);
    const err = e as ApplyError;
    expect(err).toMatchObject({ code: 'ENOENT', restored: true, operation: 'line 5: add-service' });
    expect(err.message).toMatch(/^restore failed at operation 5 of 8 \(line 5: add-service\): .*nosuchsched.*; the table was restored to its state before the restore$/);
    expect(everything(ns)).toEqual(before);
  });

  it('valid text gives the same table as ipvsadm -R of the same text', async () => {
    const text = [
      '-A -t 10.0.0.10:80 -s rr',
      '-a -t 10.0.0.10:80 -r 10.1.0.1:80 -g -w 1',
      '-a -t 10.0.0.10:80 -r 10.1.0.2:8080 -m -w 7 -x 100 -y 20',
      '-a -t 10.0.0.10:80 -r 10.1.0.3:80 -i -w 1 --tun-type gue --tun-port 6080 --tun-csum',
      '-a -t 10.0.0.10:80 -r 10.1.0.4:80 -i -w 2 --tun-type gre',
      '-A -t 10.0.0.11:443 -s wrr -p 300 -M 255.255.255.0',
      '-a -t 10.0.0.11:443 -r 10.1.0.5:443 -g -w 4',
      '-A -t 10.0.0.12:0 -s rr -p 360',
      '-A -u 10.0.0.13:5060 -s rr -p 60 --pe sip',
      '-A -u 10.0.0.14:53 -s rr -o',
      '-a -u 10.0.0.14:53 -r 10.1.0.9:53 -m -w 1 -x 9',
      '-A --sctp-service 10.0.0.15:2905 -s rr',
      '-A -u [2001:db8::10]:53 -s wlc -p 600 -M 64',
      '-a -u [2001:db8::10]:53 -r [2001:db8::30]:5353 -m -w 3',
      '-A -f 7 -s sh -b sh-fallback,sh-port',
      '-a -f 7 -r 10.1.0.7:0 -g -w 1',
      '-A -f 8 -6 -s rr',
      '-E -t 10.0.0.10:80 -s wlc',
      '-e -t 10.0.0.10:80 -r 10.1.0.1:80 -g -w 5 -x 30',
      '-d -t 10.0.0.10:80 -r 10.1.0.4:80',
      '-A -t 10.0.0.16:80 -s rr',
      '-D -t 10.0.0.16:80',
    ].join('\n') + '\n';
    await ipvs.restore(text);
    ipvsadmRestore(other, text);
    expect(saved(ns)).toBe(saved(other));
    expect(everything(ns)).toEqual(everything(other));
    expect(saved(ns)).not.toBe('');
  });
});
