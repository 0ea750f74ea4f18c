// keepalived.conf import: a DR pair with VRRP, checkers and an include
// (test/fixtures/importers/keepalived.conf), and the format's edge cases.
import { createSocket } from 'node:dgram';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { importKeepalived } from '../../../src/importers/keepalived.js';
import { ImportError } from '../../../src/importers/types.js';
import { runCheck } from '../../../src/health/run-check.js';
import { validateCheckSpec } from '../../../src/health/spec.js';
import { normalizeState } from '../../../src/ipvs/state.js';

const DIR = fileURLToPath(new URL('../../fixtures/importers/', import.meta.url));
const MAIN = join(DIR, 'keepalived.conf');
const lineOf = (text: string, needle: string): number => text.split('\n').findIndex((l) => l.includes(needle)) + 1;
/** Reads `keepalived.d/*.conf` relative to the including file, as the command line does. */
const readInclude = (name: string, from: string) => {
  expect(name).toBe('keepalived.d/*.conf');
  const dir = join(from, '..', 'keepalived.d');
  return readdirSync(dir).filter((f) => f.endsWith('.conf')).sort().map((f) => ({ file: join(dir, f), text: readFileSync(join(dir, f), 'utf8') }));
};

function importError(text: string): ImportError {
  try {
    importKeepalived(text, { file: 'k.conf' });
  } catch (e) {
    expect(e).toBeInstanceOf(ImportError);
    return e as ImportError;
  }
  throw new Error('expected an ImportError');
}

describe('importKeepalived', () => {
  const text = readFileSync(MAIN, 'utf8');
  const r = importKeepalived(text, { file: MAIN, readInclude });

  it('virtual servers become the desired table (DR, persistence, thresholds; the included fwmark service over GUE)', () => {
    expect(r.desired.services).toEqual([
      {
        protocol: 'tcp', address: '192.0.2.10', port: 80, scheduler: 'wlc', persistence: { timeout: 50, netmask: '255.255.255.0' },
        destinations: [
          { address: '10.0.0.1', port: 80, weight: 3, forward: 'route', upperThreshold: 100 },
          { address: '10.0.0.2', port: 80, weight: 1, forward: 'route' },
          { address: '10.0.0.3', port: 80, weight: 1, forward: 'route' },
        ],
      },
      {
        fwmark: 7, scheduler: 'rr', onePacket: true,
        destinations: [{ address: '10.0.1.1', port: 0, weight: 1, forward: 'tunnel', tunnel: { type: 'gue', port: 6080, checksum: 'csum' } }],
      },
    ]);
    expect(() => normalizeState(r.desired)).not.toThrow();
  });

  it("checkers: keepalived's timing (fall = retry + 1), inhibit_on_failure, quorum, sorry server with its own method, per-real checks", () => {
    expect(r.health[0]).toEqual({
      service: { protocol: 'tcp', address: '192.0.2.10', port: 80 },
      check: { type: 'http', path: '/health', status: '200-299,301', expect: '^OK', timeoutMs: 3000 },
      intervalMs: 6000, rise: 1, fall: 3, retryDelayMs: 2000, onDown: 'quiesce',
      quorum: { minWeight: 2, hysteresis: 1 },
      sorryServer: { address: '10.0.0.99', port: 8080, weight: 1, forward: 'masq' },
      destinationChecks: [{ address: '10.0.0.3', port: 80, check: { type: 'tcp', port: 8080, timeoutMs: 2000 } }],
    });
    // DNS_CHECK: retry defaults to 3, delay_before_retry to delay_loop (60 s by default).
    expect(r.health[1]).toEqual({
      service: { fwmark: 7 },
      check: { type: 'dns', name: 'example.org', recordType: 'A', timeoutMs: 5000 },
      intervalMs: 60000, rise: 1, fall: 4, retryDelayMs: 60000, onDown: 'remove',
    });
  });

  it('VRRP instances become failover settings', () => {
    expect(r.failover).toEqual({
      vrrpInstances: [
        {
          name: 'VI_1', state: 'master', interface: 'eth0', virtualRouterId: 51, priority: 150, advertIntMs: 1000,
          authentication: { type: 'PASS', password: 's3cret' },
          virtualAddresses: [{ address: '192.0.2.10/32', interface: 'eth0', label: 'eth0:1' }],
        },
      ],
    });
  });

  it('a warning with file and line for each key not carried over, the included file named', () => {
    const inc = readFileSync(join(DIR, 'keepalived.d', 'dns.conf'), 'utf8');
    expect(r.warnings.map((w) => [w.file, w.line, w.key])).toEqual([
      [MAIN, lineOf(text, 'global_defs'), 'global_defs'],
      [MAIN, lineOf(text, 'track_script'), 'track_script'],
      [MAIN, lineOf(text, 'digest'), 'digest'],
      [MAIN, lineOf(text, 'connect_port 22') - 1, 'TCP_CHECK'],
      [MAIN, lineOf(text, 'notify_down'), 'notify_down'],
      [join(DIR, 'keepalived.d', 'dns.conf'), lineOf(inc, 'virtual_server group'), 'virtual_server'],
    ]);
  });

  it('defaults: wlc, NAT, TCP, weight 1, delay_loop 60, connect_timeout 5, retry 1; a port-0 service is persistent (360 s)', () => {
    const d = importKeepalived('virtual_server 192.0.2.1 0 {\n  real_server 10.0.0.1 {\n    TCP_CHECK {\n    }\n  }\n}\n');
    expect(d.desired.services).toEqual([{ protocol: 'tcp', address: '192.0.2.1', port: 0, scheduler: 'wlc', persistence: { timeout: 360 }, destinations: [{ address: '10.0.0.1', port: 0, weight: 1, forward: 'masq' }] }]);
    expect(d.health[0]).toMatchObject({ check: { type: 'tcp', timeoutMs: 5000 }, intervalMs: 60000, fall: 2, retryDelayMs: 1000, onDown: 'remove' });
    const misc = importKeepalived('virtual_server 192.0.2.1 80 {\n  real_server 10.0.0.1 80 {\n    MISC_CHECK {\n      misc_path "/bin/check --fast"\n      misc_timeout 4\n    }\n  }\n}\n');
    expect(misc.health[0]).toMatchObject({ check: { type: 'exec', command: '/bin/check', args: ['--fast'], timeoutMs: 4000 }, fall: 1 });
  });

  it('errors with file:line:column; include without a reader and parameter definitions refused', () => {
    expect(importError('virtual_server 192.0.2.1 80 {\n  real_server 10.0.0.1 80 {\n')).toMatchObject({ message: expect.stringContaining('not closed') });
    expect(importError('}\n')).toMatchObject({ line: 1, column: 1 });
    expect(importError('virtual_server lb.example.org 80 {\n}\n')).toMatchObject({ line: 1, column: 16 });
    expect(importError('virtual_server 192.0.2.1 80 {\n  lvs_method FAST\n}\n')).toMatchObject({ line: 2, column: 14 });
    expect(importError('virtual_server 192.0.2.1 80 {\n  protocol ICMP\n}\n').message).toContain('protocol must be TCP, UDP or SCTP');
    expect(importError('virtual_server 192.0.2.1 80 {\n  delay_loop soon\n}\n').message).toBe('k.conf:2:14: delay_loop: expected seconds, got "soon"');
    expect(importError('include other.conf\n').message).toContain('include is not supported here');
    expect(importError('  $VS=1\n')).toMatchObject({ line: 1, column: 3 });
  });
});

describe('importKeepalived: UDP_CHECK becomes a check the health module runs as it is', () => {
  const conf = `virtual_server 192.0.2.53 53 {
  protocol UDP
  real_server 127.0.0.1 53 {
    UDP_CHECK {
      connect_port PORT
      connect_timeout 2
      payload 68656c6c6f
      require_reply 6f6b
    }
  }
}
`;

  it('payload and require_reply are hex: sent as bytes, the reply must start with them', async () => {
    const server = createSocket('udp4');
    server.on('message', (msg, from) => server.send(msg.toString() === 'hello' ? 'ok then' : 'no', from.port, from.address));
    await new Promise<void>((resolve) => server.bind(0, '127.0.0.1', resolve));
    try {
      const port = server.address().port;
      const r = importKeepalived(conf.replace('PORT', String(port)), { file: 'k.conf' });
      const check = r.health[0]!.check;
      expect(check).toEqual({ type: 'udp', send: { hex: '68656c6c6f' }, expect: '^\\x6f\\x6b', port, timeoutMs: 2000 });
      expect(validateCheckSpec(check)).toEqual(check);
      const up = await runCheck(check, { address: '127.0.0.1', port: 53 });
      expect(up).toMatchObject({ ok: true });
      const down = await runCheck({ ...check, send: { hex: '6e6f' } }, { address: '127.0.0.1', port: 53 });
      expect(down).toMatchObject({ ok: false });
    } finally {
      server.close();
    }
  });
});
