// lvs.cf import: the piranha seed configuration (as piranha generates it and
// as the how-to annotates it) and the format's edge cases.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { importPiranha } from '../../../src/importers/piranha.js';
import { ImportError } from '../../../src/importers/types.js';
import { normalizeState } from '../../../src/ipvs/state.js';

const DIR = new URL('../../fixtures/importers/', import.meta.url);
const fixture = (name: string): string => readFileSync(new URL(name, DIR), 'utf8');
const lineOf = (text: string, needle: string): number => text.split('\n').findIndex((l) => l.includes(needle)) + 1;

function importError(text: string): ImportError {
  try {
    importPiranha(text, { file: 'lvs.cf' });
  } catch (e) {
    expect(e).toBeInstanceOf(ImportError);
    return e as ImportError;
  }
  throw new Error('expected an ImportError');
}

describe('importPiranha on the seed configuration', () => {
  it("piranha's generated section: a NAT service with three weighted real servers, nanny's timing, pulse's defaults", () => {
    const text = fixture('piranha-generated.lvs.cf');
    const r = importPiranha(text, { file: 'lvs.cf' });
    expect(r.desired).toEqual({
      services: [
        {
          protocol: 'tcp', address: '1.2.3.1', port: 80, scheduler: 'wlc',
          destinations: [
            { address: '192.168.1.3', port: 80, weight: 2000, forward: 'masq' },
            { address: '192.168.1.4', port: 80, weight: 1000, forward: 'masq' },
            { address: '192.168.1.5', port: 80, weight: 1000, forward: 'masq' },
          ],
        },
      ],
    });
    // timeout = 5 is nanny's interval and connect deadline; reentry defaults to 180 s: 36 good checks.
    expect(r.health).toEqual([{ service: { protocol: 'tcp', address: '1.2.3.1', port: 80 }, check: { type: 'tcp', timeoutMs: 5000 }, intervalMs: 5000, rise: 36, fall: 1, onDown: 'remove' }]);
    expect(r.failover).toEqual({
      keepaliveMs: 2000, deadtimeMs: 5000, heartbeatPort: 539, network: 'nat',
      natRouter: { address: '192.168.1.254', interface: 'eth1:1' },
      virtualAddresses: [{ address: '1.2.3.1', interface: 'eth0:1' }],
    });
    expect(r.warnings).toEqual([{ file: 'lvs.cf', line: lineOf(text, 'load_monitor'), key: 'load_monitor', message: expect.stringContaining('not carried over') }]);
    expect(() => normalizeState(r.desired)).not.toThrow();
  });

  it('the how-to text with its step numbers: the block line is refused at the number; the values import with a warning each', () => {
    const text = fixture('piranha-howto-annotated.lvs.cf');
    const e = importError(text);
    const line = lineOf(text, 'virtual server vs1 {');
    expect(e).toMatchObject({ line, column: text.split('\n')[line - 1]!.indexOf('8') + 1 });
    expect(e.message).toContain('unexpected "8" after {');

    const fixed = text.replace(/(virtual server vs1 \{) +8 */, '$1').replace(/(server rs\d \{) +8/g, '$1');
    const r = importPiranha(fixed, { file: 'lvs.cf' });
    expect(r.failover).toMatchObject({ primary: '1.2.3.2', backup: '1.2.3.3', keepaliveMs: 2000, deadtimeMs: 10000, heartbeatPort: 1050 });
    expect(r.desired.services[0]!.destinations.map((d) => d.weight)).toEqual([2000, 1000, 1000]);
    expect(r.health[0]).toMatchObject({ intervalMs: 10000, rise: 18, fall: 1 });
    // Every annotated value warns that its trailing number is ignored.
    // (After address, the second word is the interface, as piranha reads it: the step number 1 here.)
    expect(r.failover!.virtualAddresses).toEqual([{ address: '1.2.3.1', interface: '1' }]);
    const annotated = fixed.split('\n').map((l, i) => [l, i + 1] as const).filter(([l]) => /=\s*\S+.*\s\d+\s*$/.test(l) && !/^\s*address =/.test(l));
    for (const [, n] of annotated) expect(r.warnings.some((w) => w.line === n), `line ${n}`).toBe(true);
  });
});

describe('importPiranha edge cases', () => {
  it('send/expect become a negotiate check (expect escaped unless use_regex), quiesce_server, sorry server, persistence, fwmark, inactive servers left out', () => {
    const r = importPiranha(`
network = direct
virtual web {
  address = 192.0.2.1 eth0:1
  port = https
  persistent = 600
  pmask = 255.255.255.0
  send = "GET / HTTP/1.0\\r\\n\\r\\n"
  expect = "HTTP/1.1 200"
  quiesce_server = 1
  sorry_server = 10.0.0.99
  reentry = 30
  timeout = 6
  server a {
    address = 10.0.0.1
  }
  server b {
    address = 10.0.0.2
    active = 0
  }
}
virtual marked {
  fwmark = 5
  scheduler = rr
  use_regex = 1
  expect = "^220 .*"
  server c {
    address = 10.0.0.3
    weight = 3
  }
}
virtual off {
  address = 192.0.2.2
  active = 0
}
`);
    expect(r.desired.services).toEqual([
      { protocol: 'tcp', address: '192.0.2.1', port: 443, scheduler: 'wlc', persistence: { timeout: 600, netmask: '255.255.255.0' }, destinations: [{ address: '10.0.0.1', port: 443, weight: 1, forward: 'route' }] },
      { fwmark: 5, scheduler: 'rr', destinations: [{ address: '10.0.0.3', port: 0, weight: 3, forward: 'route' }] },
    ]);
    expect(r.health[0]).toEqual({
      service: { protocol: 'tcp', address: '192.0.2.1', port: 443 },
      check: { type: 'negotiate', send: 'GET / HTTP/1.0\r\n\r\n', expect: 'HTTP/1\\.1 200', timeoutMs: 6000 },
      intervalMs: 6000, rise: 5, fall: 1, onDown: 'quiesce',
      sorryServer: { address: '10.0.0.99', port: 443, weight: 1, forward: 'route' },
    });
    expect(r.health[1]!.check).toEqual({ type: 'negotiate', expect: '^220 .*', timeoutMs: 10000 });
    expect(() => normalizeState(r.desired)).not.toThrow();
  });

  it("send and expect read lvs.cf's escapes (\\n, \\r, \\\\, \\'); a regex expect keeps them for the regex", () => {
    const check = (lines: string) => importPiranha(`virtual v {\n  address = 192.0.2.1\n${lines}\n  server a {\n    address = 10.0.0.1\n  }\n}\n`).health[0]!.check;
    expect(check(`  send = "HELO x\\r\\n"\n  expect = "it\\'s \\\\ok\\n"`)).toEqual({ type: 'negotiate', send: 'HELO x\r\n', expect: "it's \\\\ok\n", timeoutMs: 10000 });
    expect(check(`  use_regex = 1\n  expect = "^220\\r\\n"`)).toEqual({ type: 'negotiate', expect: '^220\\r\\n', timeoutMs: 10000 });
    expect(check(`  send = "a\\tb"`)).toMatchObject({ send: 'a\\tb' }); // not one of the four: left as it is
  });

  it('errors with line and column', () => {
    expect(importError('virtual a {\n  address = 192.0.2.1\n')).toMatchObject({ line: 1, message: expect.stringContaining('not closed') });
    expect(importError('}\n')).toMatchObject({ line: 1, column: 1 });
    expect(importError('server a {\n}\n').message).toContain('inside a virtual block');
    expect(importError('keepalive = often\n')).toMatchObject({ line: 1, column: 13 });
    expect(importError('network = carrier-pigeon\n').message).toContain('network must be nat, direct or tunnel');
    expect(importError('virtual a {\n  address = lb.example.org\n}\n')).toMatchObject({ line: 2, column: 13 });
    expect(importError('virtual a {\n  colour = blue\n}\n').message).toContain('unknown key "colour" in virtual a');
    expect(importError('primary\n').message).toContain('expected key = value');
  });

  it('connection timeouts are carried over only as a set of three', () => {
    expect(importPiranha('tcp_timeout = 900\ntcpfin_timeout = 120\nudp_timeout = 300\n').desired.timeouts).toEqual({ tcp: 900, tcpFin: 120, udp: 300 });
    const partial = importPiranha('tcp_timeout = 900\n');
    expect(partial.desired.timeouts).toBeUndefined();
    expect(partial.warnings).toEqual([{ file: '<input>', line: 1, key: 'tcp_timeout', message: expect.stringContaining('set together') }]);
  });
});
