// The command line in-process without a kernel: usage errors, import, the
// plan diff format, JSON with exact counters.
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { readFile } from 'node:fs/promises';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../../src/cli/main.js';
import { EXIT, InputError, type CliIo } from '../../../src/cli/io.js';
import { toJson } from '../../../src/cli/commands.js';
import type { Operation } from '../../../src/ipvs/state.js';
import { formatOperation, formatPlanDiff, formatPlanDiffBytes } from '../../../src/cli/plan-diff.js';

const FIXTURES = fileURLToPath(new URL('../../fixtures/importers/', import.meta.url));

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIo = {
    stdout: (t) => void (out += typeof t === 'string' ? t : Buffer.from(t).toString('utf8')),
    stderr: (t) => void (err += t),
    readStdin: async () => '',
    readFile: async (p) => {
      try {
        return await readFile(p, 'utf8');
      } catch {
        throw new InputError(`${p}: cannot read (ENOENT)`);
      }
    },
  };
  return { code: await main(args, io), out, err };
}

describe('main()', () => {
  it('no command: usage on standard error, exit 2; --help: usage on standard output, exit 0', async () => {
    const none = await cli([]);
    expect(none.code).toBe(EXIT.USAGE);
    expect(none.err).toContain('Usage: ipvs-ts');
    const help = await cli(['--help']);
    expect(help).toMatchObject({ code: EXIT.OK, err: '' });
    expect(help.out).toContain('Exit codes:');
    expect((await cli(['list', '--help'])).code).toBe(EXIT.OK);
  });

  it('usage errors: one line naming what is wrong, exit 2', async () => {
    for (const [args, text] of [
      [['nope'], 'unknown command "nope" (try ipvs-ts --help)'],
      [['list', '--frob'], "list: Unknown option '--frob'"],
      [['list', 'extra'], 'list: takes no arguments, got "extra"'],
      [['list', '--rate', '--thresholds'], 'list: --rate and --thresholds cannot be combined'],
      [['save', '--netns', ''], '--netns: needs a namespace name or path'],
      [['import', 'haproxy', 'x.cfg'], 'import: format must be ldirectord, lvs or keepalived, got "haproxy"'],
      [['import', 'lvs'], 'import: expects ldirectord|lvs|keepalived FILE, got "lvs"'],
    ] as [string[], string][]) {
      const r = await cli(args);
      expect(r.code, args.join(' ')).toBe(EXIT.USAGE);
      expect(r.err).toBe(`ipvs-ts: ${text}\n`);
    }
  });

  it('a namespace that does not exist: exit 4', async () => {
    const r = await cli(['snapshot', '--netns', 'surely-not-a-namespace']);
    expect(r).toEqual({ code: EXIT.UNAVAILABLE, out: '', err: 'ipvs-ts: --netns surely-not-a-namespace: /run/netns/surely-not-a-namespace does not exist\n' });
  });

  it('apply of an invalid state: exit 3 naming the field, whether or not IPVS can be reached', async () => {
    // Without IPVS (this host) the command line validates the file itself before reporting exit 4;
    // with IPVS the client's validation refuses it before reading the table. Exit 3 either way.
    const dir = mkdtempSync(join(tmpdir(), 'ipvs-ts-main-'));
    try {
      const file = join(dir, 'bad.json');
      writeFileSync(file, JSON.stringify({ services: [{ protocol: 'tcp', address: '192.0.2.1', port: 99999, destinations: [] }] }));
      const r = await cli(['apply', file]);
      expect(r.code).toBe(EXIT.INVALID_INPUT);
      expect(r.out).toBe('');
      expect(r.err).toMatch(/^ipvs-ts: [^\n]*port[^\n]*\n$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('import: JSON on standard output, one warning line per key on standard error', async () => {
    const file = `${FIXTURES}ubuntu-dr-http.ldirectord.cf`;
    const r = await cli(['import', 'ldirectord', file]);
    expect(r.code).toBe(EXIT.OK);
    const parsed = JSON.parse(r.out);
    expect(parsed.format).toBe('ldirectord');
    expect(parsed.desired.services).toHaveLength(1);
    const lines = r.err.trimEnd().split('\n');
    expect(lines).toHaveLength(parsed.warnings.length);
    for (const [i, w] of parsed.warnings.entries()) expect(lines[i]).toBe(`${file}:${w.line}: warning: ${w.message}`);
  });

  it('import errors and unreadable files: exit 3 with file:line:column', async () => {
    const bad = await cli(['import', 'ldirectord', `${FIXTURES}mangled-000.ldirectord.cf`]);
    expect(bad.code).toBe(EXIT.INVALID_INPUT);
    expect(bad.err).toMatch(/^ipvs-ts: .*mangled-000\.ldirectord\.cf:\d+:1: real= belongs inside a virtual= section/);
    const missing = await cli(['import', 'lvs', '/nonexistent/lvs.cf']);
    expect(missing).toEqual({ code: EXIT.INVALID_INPUT, out: '', err: 'ipvs-ts: /nonexistent/lvs.cf: cannot read (ENOENT)\n' });
  });
});

describe('toJson', () => {
  it('writes bigints as exact JSON numbers', () => {
    const text = toJson({ n: 2n ** 64n - 1n, list: [1n, 'x'] });
    expect(text).toBe('{\n  "n": 18446744073709551615,\n  "list": [\n    1,\n    "x"\n  ]\n}\n');
  });
});

describe('plan diff', () => {
  it('one line per operation: + added, - deleted, ~ changed with old -> new', () => {
    const svc = { protocol: 'tcp' as const, address: '192.0.2.1', port: 80 };
    const text = formatPlanDiff([
      { op: 'add-service', service: { ...svc, scheduler: 'rr', persistence: { timeout: 300 } } },
      { op: 'add-destination', service: svc, destination: { address: '10.0.0.1', port: 80, weight: 2, forward: 'masq' } },
      { op: 'update-destination', service: svc, destination: { address: '10.0.0.2', port: 80, weight: 0, forward: 'masq' }, before: { address: '10.0.0.2', port: 80, weight: 5, forward: 'masq' } },
      { op: 'update-service', service: { ...svc, scheduler: 'wlc' }, before: { ...svc, scheduler: 'rr', onePacket: true } },
      { op: 'delete-destination', service: { fwmark: 7 }, destination: { address: '2001:db8::1', port: 0 }, before: { address: '2001:db8::1', port: 0 } },
      { op: 'delete-service', service: { fwmark: 8, family: 'ipv6' }, before: { fwmark: 8, family: 'ipv6', destinations: [] } },
      { op: 'set-timeouts', timeouts: { tcp: 900 }, before: { tcp: 60, tcpFin: 120, udp: 300 } },
    ]);
    expect(text).toBe(
      '+ service TCP 192.0.2.1:80 scheduler=rr persistence=timeout:300\n' +
        '+ destination 10.0.0.1:80 to TCP 192.0.2.1:80 weight=2 forward=masq\n' +
        '~ destination 10.0.0.2:80 in TCP 192.0.2.1:80: weight 5 -> 0\n' +
        '~ service TCP 192.0.2.1:80: scheduler rr -> wlc, onePacket true -> -\n' +
        '- destination [2001:db8::1]:0 from FWM 7\n' +
        '- service FWM 8 IPv6\n' +
        '~ timeouts: tcp 60 -> 900\n',
    );
    expect(formatOperation({ op: 'stop-daemon', state: 'backup', before: { state: 'backup', interface: 'eth0' } })).toBe('- sync daemon backup');
  });
});

describe('plan diff of every kind of operation', () => {
  it('text and bytes alike; numbers of any kind, IPv6, fwmark and port-less keys', () => {
    const svc = { protocol: 'tcp' as const, address: '192.0.2.1', port: 80 };
    const v6 = { protocol: 'udp' as const, address: '2001:db8::10', port: 53 };
    const ops: Operation[] = [
      { op: 'add-service', service: { ...svc, scheduler: 'sh', schedulerFlags: ['sh-port'], persistence: { timeout: 300, netmask: 24 }, onePacket: true } },
      { op: 'add-service', service: { fwmark: 7, family: 'ipv6', scheduler: 'wlc' } },
      { op: 'add-destination', service: svc, destination: { address: '10.0.0.1', port: 80, weight: 0, forward: 'masq', upperThreshold: 4294967295 } },
      { op: 'add-destination', service: v6, destination: { address: '2001:db8::2', port: 5353, weight: -0, forward: 'tunnel', tunnel: { type: 'gue', port: 6080, checksum: 'csum' } } },
      { op: 'add-destination', service: { fwmark: 7, family: 'ipv6' }, destination: { address: '2001:db8::3', weight: 1.5 } as never },
      { op: 'update-destination', service: svc, destination: { address: '10.0.0.2', port: 80, weight: 0, forward: 'masq' }, before: { address: '10.0.0.2', port: 80, weight: 5, forward: 'masq' } },
      { op: 'delete-service', service: { fwmark: 8 }, before: { fwmark: 8, destinations: [] } },
      { op: 'delete-service', service: svc, before: { ...svc, destinations: [{ address: '10.0.0.1', port: 80 }] } },
      { op: 'delete-destination', service: v6, destination: { address: '2001:db8::2', port: 5353 }, before: { address: '2001:db8::2', port: 5353 } },
      { op: 'start-daemon', daemon: { state: 'master', interface: 'eth0', syncId: 3 } },
      { op: 'stop-daemon', state: 'backup', before: { state: 'backup', interface: 'eth0' } },
    ];
    const expected =
      '+ service TCP 192.0.2.1:80 scheduler=sh schedulerFlags=sh-port persistence=timeout:300/netmask:24 onePacket=true\n' +
      '+ service FWM 7 IPv6 scheduler=wlc\n' +
      '+ destination 10.0.0.1:80 to TCP 192.0.2.1:80 weight=0 forward=masq upperThreshold=4294967295\n' +
      '+ destination [2001:db8::2]:5353 to UDP [2001:db8::10]:53 weight=0 forward=tunnel tunnel=type:gue/port:6080/checksum:csum\n' +
      '+ destination 2001:db8::3 to FWM 7 IPv6 weight=1.5\n' +
      '~ destination 10.0.0.2:80 in TCP 192.0.2.1:80: weight 5 -> 0\n' +
      '- service FWM 8\n' +
      '- service TCP 192.0.2.1:80 (and its 1 destination)\n' +
      '- destination [2001:db8::2]:5353 from UDP [2001:db8::10]:53\n' +
      '+ sync daemon master interface=eth0 syncId=3\n' +
      '- sync daemon backup\n';
    expect(formatPlanDiff(ops)).toBe(expected);
    expect(formatPlanDiffBytes(ops).toString('utf8')).toBe(expected);
    expect(ops.map((o) => `${formatOperation(o)}\n`).join('')).toBe(expected);
    expect(formatPlanDiff([])).toBe('');
  });
});

describe('run --check of a JSON configuration importing a file', () => {
  it('reads the imported file next to the JSON, validates the merged whole, names imported fields with their file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ipvs-run-import-'));
    try {
      writeFileSync(join(dir, 'lvs.cf'), 'primary = 10.0.0.1\nbackup = 10.0.0.2\nservice = lvs\nsyncdaemon = 1\nsyncd_iface = eth1\nsyncd_id = 4\nnetwork = direct\nvirtual web {\n  address = 192.0.2.10 eth0:1\n  port = 80\n  scheduler = rr\n  server a {\n    address = 10.0.1.1\n  }\n}\n');
      const good = join(dir, 'lb1.json');
      writeFileSync(good, JSON.stringify({ import: { file: 'lvs.cf' }, failover: { keysFile: '/etc/ipvs-ts/authkeys', stateFile: '/var/lib/ipvs-ts/gen' } }));
      const ok = await cli(['run', good, '--check']);
      expect(ok.code).toBe(EXIT.OK);
      expect(ok.out).toBe(`${good}: valid json configuration (importing ${join(dir, 'lvs.cf')} as lvs): 1 service, 1 destination, 1 checked; failover: node 1, priority 200, peers 2@10.0.0.2, sync daemon on eth1\n`);
      expect(ok.err).not.toMatch(/failover settings are not run/);

      const bad = join(dir, 'bad.json');
      writeFileSync(bad, JSON.stringify({ import: { file: 'lvs.cf' }, failover: { keysFile: '/k', stateFile: '/s', priority: 0 } }));
      const refused = await cli(['run', bad, '--check']);
      expect(refused.code).toBe(EXIT.INVALID_INPUT);
      expect(refused.err).toMatch(new RegExp(`^ipvs-ts: ${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: .*failover\\.priority: must be an integer 1\\.\\.254, got 0`));

      const missing = join(dir, 'missing.json');
      writeFileSync(missing, JSON.stringify({ import: { file: 'nowhere.cf' }, failover: {} }));
      const unread = await cli(['run', missing, '--check']);
      expect(unread.code).toBe(EXIT.INVALID_INPUT);
      expect(unread.err).toContain(`${missing}: import.file: cannot read ${join(dir, 'nowhere.cf')} (ENOENT)`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
