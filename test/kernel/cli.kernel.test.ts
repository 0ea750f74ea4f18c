// The ipvs-ts command line on the real kernel: `list` byte for byte equal to
// `ipvsadm -Ln` in every view on a varied table (with real traffic for the
// counters and rates), save/restore and snapshot/apply round trips, the plan
// printed by apply --dry-run, metrics from the same table, the loopback-down
// error and the exit codes. Most cases call main() in-process; the real
// executable is spawned twice (node starts slowly in the sandbox).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Ipvs, metrics, type DesiredState } from '../../src/index.js';
import { main } from '../../src/cli/main.js';
import { EXIT, type CliIo } from '../../src/cli/io.js';
import { requireKernel, run, type Netns } from './harness.js';
import { createLbNetns, ipvsadmRestore } from './ipvs-helpers.js';
import { CLI_BIN as BIN } from '../helpers/cli.js';

// Every forwarding method, tunnels of each type, IPv6 services and
// destinations, fwmarks (IPv4, IPv6), persistence with masks and engines,
// one-packet scheduling, scheduler flags, thresholds, weights 0 and large,
// addresses that stress ipvsadm's wrapping sort (10.x, 130.x, 200.x).
const RULES = `
-A -t 192.0.2.10:80 -s sh -b sh-fallback,sh-port
-a -t 192.0.2.10:80 -r 200.0.0.5:80 -g -w 2
-a -t 192.0.2.10:80 -r 10.0.0.3 -m -w 0 -x 100 -y 50
-a -t 192.0.2.10:80 -r 130.0.0.2 -i --tun-type gre --tun-csum
-a -t 192.0.2.10:80 -r 10.0.0.4:8080 -m -w 5
-a -t 192.0.2.10:80 -r 2001:db8::20 -i --tun-type gue --tun-port 6081 --tun-remcsum
-a -t 192.0.2.10:80 -r 10.200.0.1 -i --tun-type gue --tun-port 6080 --tun-csum
-a -t 192.0.2.10:80 -r 198.51.100.7 -i
-a -t 192.0.2.10:80 -r 200.0.0.1:80 -m -w 2147483647
-A -t 192.0.2.10:443 -s wlc -p 600 -M 255.255.255.0
-a -t 192.0.2.10:443 -r 10.0.0.6:8443 -m -w 3 -x 1000
-a -t 192.0.2.10:443 -r 10.0.0.5:443 -m
-A -u 192.0.2.10:5060 -s rr -p 300 --pe sip
-a -u 192.0.2.10:5060 -r 10.0.0.7:5060 -m
-A -u 192.0.2.13:53 -s rr -o
-a -u 192.0.2.13:53 -r 200.0.0.8:5353 -m
-a -u 192.0.2.13:53 -r 10.0.0.8:53 -m -x 7 -y 3
-A -t 130.1.1.1:80 -s mh -b mh-fallback,mh-port
-A --sctp-service 192.0.2.11:3868 -s lc
-a --sctp-service 192.0.2.11:3868 -r 10.0.0.9 -g
-A -t [2001:db8::10]:443 -s wlc -p 600 -M 64
-a -t [2001:db8::10]:443 -r [2001:db8::ff]:8443 -m -w 0
-a -t [2001:db8::10]:443 -r [2001:db8::2]:443 -m -x 20
-A -u [2001:db8::53]:53 -s rr -o
-A -t 192.0.2.12:0 -s rr -p 30
-a -t 192.0.2.12:0 -r 10.0.0.12:8000 -m
-A -f 1 -s rr -p 120 -M 255.255.0.0 -o
-a -f 1 -r 10.0.0.14:80 -m
-a -f 1 -r 10.0.0.13 -g
-A -f 2 -6 -s sh -b sh-port
-a -f 2 -6 -r 2001:db8::30 -g
-A -f 4294967295 -s wrr
-A -t 192.0.2.13:80 -s rr -b flag-1,flag-3
-A -t [2001:db8::11]:80 -s rr -p 10 -M 128
-A -t 192.0.2.18:80 -s rr -p 10 -M 255.0.255.0
`;

// The library refuses to write non-contiguous persistence masks (ipvsadm
// allows them), so a state with one cannot be applied: the apply round trip
// uses the table without it.
const APPLY_RULES = RULES.replace('-A -t 192.0.2.18:80 -s rr -p 10 -M 255.0.255.0\n', '');

/** Runs main() in-process; returns exit code and what it wrote. */
async function cli(args: string[], stdin = ''): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIo = {
    stdout: (t) => void (out += typeof t === 'string' ? t : Buffer.from(t).toString('utf8')),
    stderr: (t) => void (err += t),
    readStdin: async () => stdin,
    readFile: async (p) => (await import('node:fs/promises')).readFile(p, 'utf8'),
  };
  const code = await main(args, io);
  return { code, out, err };
}

/**
 * Compare `ipvs-ts list ARGS` with `ipvsadm -Ln ARGS` read just before and
 * just after it. The kernel's rate estimates move every 2 seconds, so our
 * output must equal one of the two; when both differ (two estimator ticks
 * in between, on a slow sandbox) the reads are repeated.
 */
async function expectSameListing(ns: Netns, args: string[]): Promise<void> {
  let last: { ours: string; theirs: string } | undefined;
  for (let attempt = 0; attempt < 5; attempt++) {
    const before = ns.ipvsadm('-Ln', ...args);
    const ours = await cli(['list', ...args, '--netns', ns.name]);
    const after = ns.ipvsadm('-Ln', ...args);
    expect(ours.code).toBe(EXIT.OK);
    expect(ours.err).toBe('');
    if (ours.out === before || ours.out === after) {
      expect(ours.out.length).toBeGreaterThan(0);
      return;
    }
    // Without rates, nothing moves: the outputs must be equal at once.
    if (before === after) expect(ours.out, `ipvs-ts list ${args.join(' ')}`).toBe(before);
    last = { ours: ours.out, theirs: after };
  }
  expect(last!.ours).toBe(last!.theirs);
}

describe('ipvs-ts list, byte for byte as ipvsadm -Ln', () => {
  let ns: Netns;
  beforeAll(() => {
    ns = createLbNetns('cli-list');
    ipvsadmRestore(ns, RULES);
    // Real traffic through the VIPs: UDP datagrams of different sizes, and
    // TCP connection attempts (their SYNs go out unanswered, so the real
    // servers hold connections in SYN state).
    ns.exec('bash', [
      '-c',
      'for i in $(seq 30); do printf "%0${i}d" 0 > /dev/udp/192.0.2.13/53; done; ' +
        // Each connection attempt is left running until IPVS lists its connection, then stopped.
        'for p in 443 80; do bash -c "exec 3<>/dev/tcp/192.0.2.10/$p" 2>/dev/null & pid=$!; ' +
        'for i in $(seq 100); do ipvsadm -Lnc | grep -q "192.0.2.10:$p" && break; sleep 0.1; done; kill $pid 2>/dev/null; done; ' +
        // The counters ipvsadm reads are summed from the per-CPU ones by the
        // kernel's estimator, every 2 seconds: wait for that to have run.
        'for i in $(seq 100); do ipvsadm -Ln --stats --exact | grep -Eq "TCP  192\\.0\\.2\\.10:443 +[1-9]" && break; sleep 0.1; done; true',
    ]);
  });
  afterAll(() => ns?.destroy());

  it('has traffic in the table it compares', () => {
    const stats = ns.ipvsadm('-Ln', '--stats', '--exact');
    expect(stats).toMatch(/UDP {2}192\.0\.2\.13:53 +[1-9]/);
    expect(stats).toMatch(/TCP {2}192\.0\.2\.10:443 +[1-9]/);
  });

  for (const args of [[], ['--stats'], ['--rate'], ['--thresholds'], ['--persistent-conn'], ['--tun-info'], ['--stats', '--exact'], ['--rate', '--exact'], ['--sort'], ['--nosort'], ['--stats', '--nosort']]) {
    it(`list ${args.join(' ') || '(default view)'}`, async () => {
      await expectSameListing(ns, args);
    });
  }

  it('the executable itself (spawned) prints the same bytes', () => {
    const r = spawnSync(process.execPath, [BIN, 'list', '--netns', ns.name], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(EXIT.OK);
    expect(r.stdout).toBe(ns.ipvsadm('-Ln'));
  });

  it('list --json gives the typed table, counters as exact numbers', async () => {
    const r = await cli(['list', '--json', '--netns', ns.name]);
    expect(r.code).toBe(EXIT.OK);
    const parsed = JSON.parse(r.out) as { info: { version: string }; services: { service: { stats: { connections: number } } }[] };
    expect(parsed.services).toHaveLength(RULES.split('\n').filter((l) => l.startsWith('-A')).length);
    const exact = ns.ipvsadm('-Ln', '--stats', '--exact');
    const conns = exact.split('\n').filter((l) => /^(TCP|UDP|SCTP|FWM) /.test(l)).reduce((n, l) => n + Number(l.slice(33).trim().split(/\s+/)[0]), 0);
    expect(parsed.services.reduce((n, s) => n + s.service.stats.connections, 0)).toBe(conns);
  });

  it('metrics(): node_exporter names and labels, one table read, the numbers ipvsadm shows', async () => {
    const ipvs = await Ipvs.open({ netns: ns.path });
    try {
      const text = await metrics(ipvs);
      const exact = ns.ipvsadm('-Ln', '--stats', '--exact');
      const total = exact.split('\n').filter((l) => /^(TCP|UDP|SCTP|FWM) /.test(l)).reduce((n, l) => n + BigInt(l.slice(33).trim().split(/\s+/)[0]!), 0n);
      expect(text).toContain(`\nnode_ipvs_connections_total ${total}\n`);
      expect(text).toContain('# TYPE node_ipvs_backend_connections_active gauge\n');
      // The UDP real server's inactive connections, as ipvsadm's thresholds view shows them.
      const row = ns.ipvsadm('-Ln', '--thresholds').split('\n').find((l) => l.startsWith('  -> 10.0.0.8:53'))!;
      const inactive = row.trim().split(/\s+/)[5];
      expect(text).toContain(`node_ipvs_backend_connections_inactive{local_address="192.0.2.13",local_port="53",remote_address="10.0.0.8",remote_port="53",proto="UDP",local_mark=""} ${inactive}\n`);
      expect(text).toContain('node_ipvs_backend_weight{local_address="",local_port="0",remote_address="10.0.0.13",remote_port="0",proto="FWM",local_mark="00000001"} 1\n');
      expect(text).toContain('node_ipvs_backend_weight{local_address="192.0.2.10",local_port="80",remote_address="200.0.0.1",remote_port="80",proto="TCP",local_mark=""} 2147483647\n');
    } finally {
      await ipvs.close();
    }
  });
});

describe('ipvs-ts save, restore, snapshot, apply', () => {
  let source: Netns;
  let target: Netns;
  let dir: string;
  beforeAll(() => {
    source = createLbNetns('cli-src');
    target = createLbNetns('cli-dst');
    ipvsadmRestore(source, RULES);
    dir = mkdtempSync(join(tmpdir(), 'ipvs-ts-cli-'));
  });
  afterAll(() => {
    source?.destroy();
    target?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('save prints exactly ipvsadm -Sn; restore of it rebuilds the same table', async () => {
    const saved = await cli(['save', '--netns', source.name]);
    expect(saved.code).toBe(EXIT.OK);
    expect(saved.out).toBe(source.ipvsadm('-Sn'));
    const restored = await cli(['restore', '--netns', target.name], saved.out);
    expect(restored).toEqual({ code: EXIT.OK, out: '', err: '' });
    expect(target.ipvsadm('-Sn')).toBe(saved.out);
    target.ipvsadm('-C');
  });

  it('restore of bad rules changes nothing and exits 3 naming the line', async () => {
    const r = await cli(['restore', '--netns', target.name], '-A -t 192.0.2.99:80 -s rr\n-a -t 192.0.2.99:80 -r 10.0.0.1 --bogus\n');
    expect(r.code).toBe(EXIT.INVALID_INPUT);
    expect(r.err).toMatch(/^ipvs-ts: line 2 --bogus: unknown option\n$/);
    expect(target.ipvsadm('-Sn')).toBe('');
  });

  it('snapshot → apply --dry-run prints one line per operation and changes nothing; apply makes the table equal', async () => {
    source.ipvsadm('-C');
    ipvsadmRestore(source, APPLY_RULES);
    const snap = await cli(['snapshot', '--netns', source.name]);
    expect(snap.code).toBe(EXIT.OK);
    const state = JSON.parse(snap.out) as DesiredState;
    const file = join(dir, 'state.json');
    writeFileSync(file, snap.out);
    // One service and one destination of the target are not in the state: they are planned away.
    target.ipvsadm('-A', '-t', '192.0.2.99:80', '-s', 'rr');
    target.ipvsadm('-a', '-t', '192.0.2.99:80', '-r', '10.0.0.99', '-m');
    const before = target.ipvsadm('-Sn');

    const dry = await cli(['apply', file, '--dry-run', '--netns', target.name]);
    expect(dry.err).toMatch(/^dry run: /);
    expect(dry.code).toBe(EXIT.OK);
    const lines = dry.out.trimEnd().split('\n');
    const destinations = state.services.reduce((n, s) => n + s.destinations.length, 0);
    expect(lines.filter((l) => l.startsWith('+ service '))).toHaveLength(state.services.length);
    expect(lines.filter((l) => l.startsWith('+ destination '))).toHaveLength(destinations);
    expect(lines).toContain('- service TCP 192.0.2.99:80 (and its 1 destination)');
    expect(lines).toContain('+ destination 10.0.0.3:80 to TCP 192.0.2.10:80 weight=0 forward=masq upperThreshold=100 lowerThreshold=50');
    expect(dry.err).toMatch(/^dry run: add \d+ services?, \d+ destinations?; delete 1 service\n$/);
    expect(target.ipvsadm('-Sn')).toBe(before);

    const quiesce = await cli(['apply', file, '--dry-run', '--removal', 'quiesce', '--netns', target.name]);
    expect(quiesce.out).toContain('~ destination 10.0.0.99:80 in TCP 192.0.2.99:80: weight 1 -> 0\n');

    const applied = await cli(['apply', file, '--netns', target.name]);
    expect(applied.code).toBe(EXIT.OK);
    expect(applied.out).toBe(dry.out);
    expect(target.ipvsadm('-Sn')).toBe(source.ipvsadm('-Sn'));
    expect(target.ipvsadm('-Ln', '--thresholds')).toBe(source.ipvsadm('-Ln', '--thresholds'));

    const again = await cli(['apply', file, '--dry-run', '--netns', target.name]);
    expect(again).toEqual({ code: EXIT.OK, out: '', err: 'dry run: no changes\n' });
  });

  it('apply of a file that is not a state exits 3 before touching the kernel', async () => {
    const file = join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ services: [{ protocol: 'tcp', address: '192.0.2.1', port: 99999, destinations: [] }] }));
    const r = await cli(['apply', file, '--netns', target.name]);
    expect(r.code).toBe(EXIT.INVALID_INPUT);
    expect(r.err.split('\n')).toHaveLength(2);
    expect(r.err).toMatch(/port/);
  });
});

describe('ipvs-ts errors and exit codes', () => {
  // A namespace as `ip netns add` makes it: lo down, no address at all.
  const fresh = `cli-fresh-${process.pid}`;
  let dir: string;
  beforeAll(() => {
    requireKernel();
    run('ip', ['netns', 'add', fresh]);
    dir = mkdtempSync(join(tmpdir(), 'ipvs-ts-cli-'));
  });
  afterAll(() => {
    spawnSync('ip', ['netns', 'del', fresh]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('a fresh namespace with lo down: the EINVAL is explained in one line (spawned executable, exit 1)', () => {
    const rules = join(dir, 'rules');
    writeFileSync(rules, '-A -t 192.0.2.99:80 -s rr\n-a -t 192.0.2.99:80 -r 10.0.0.3:80 -m\n');
    const r = spawnSync(process.execPath, [BIN, 'restore', rules, '--netns', fresh], { encoding: 'utf8' });
    expect(r.stdout).toBe('');
    expect(r.stderr.split('\n')).toHaveLength(2);
    expect(r.stderr).toContain('EINVAL');
    expect(r.stderr).toContain(`the loopback interface lo is down in namespace /run/netns/${fresh}`);
    expect(r.stderr).toContain(`(fix: ip -n ${fresh} link set lo up)`);
    expect(r.status).toBe(EXIT.FAILED);
    expect(run('ip', ['netns', 'exec', fresh, 'ipvsadm', '-Sn'])).toBe('');
    // With lo up, the same rules go in.
    run('ip', ['-n', fresh, 'link', 'set', 'lo', 'up']);
    run('ip', ['netns', 'exec', fresh, 'sh', '-c', `ipvsadm -R < ${rules}`]);
    expect(run('ip', ['netns', 'exec', fresh, 'ipvsadm', '-Sn'])).toContain('-a -t 192.0.2.99:80 -r 10.0.0.3:80 -m -w 1');
  });

  it('usage errors exit 2, a missing namespace exits 4, each with one line', async () => {
    for (const [args, code] of [
      [['frobnicate'], EXIT.USAGE],
      [['list', '--bogus'], EXIT.USAGE],
      [['list', '--stats', '--rate'], EXIT.USAGE],
      [['apply'], EXIT.USAGE],
      [['apply', 'x.json', '--removal', 'later'], EXIT.USAGE],
      [['list', '--netns', 'no-such-namespace-here'], EXIT.UNAVAILABLE],
    ] as [string[], number][]) {
      const r = await cli(args);
      expect(r.code, args.join(' ')).toBe(code);
      expect(r.err).toMatch(/^ipvs-ts: [^\n]+\n$/);
    }
  });
});
