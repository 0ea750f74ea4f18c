// ldirectord.cf import: the seed configurations (test/fixtures/importers) and
// the format's edge cases. Line numbers are looked up in the fixture text.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { importLdirectord } from '../../../src/importers/ldirectord.js';
import { ImportError, type ImportResult } from '../../../src/importers/types.js';
import { normalizeState } from '../../../src/ipvs/state.js';

const DIR = new URL('../../fixtures/importers/', import.meta.url);
const fixture = (name: string): string => readFileSync(new URL(name, DIR), 'utf8');
/** 1-based number of the first line of `text` that contains `needle`. */
const lineOf = (text: string, needle: string): number => text.split('\n').findIndex((l) => l.includes(needle)) + 1;

function importError(text: string): ImportError {
  try {
    importLdirectord(text, { file: 'test.cf' });
  } catch (e) {
    expect(e).toBeInstanceOf(ImportError);
    return e as ImportError;
  }
  throw new Error('expected an ImportError');
}

describe('importLdirectord on the seed configurations', () => {
  it("the Ubuntu DR director's web service: a DR service, negotiate over HTTP, quiescent", () => {
    const text = fixture('ubuntu-dr-http.ldirectord.cf');
    const r = importLdirectord(text, { file: 'ldirectord.cf' });
    expect(r.desired).toEqual({
      services: [
        {
          protocol: 'tcp', address: '10.15.16.113', port: 80, scheduler: 'wlc',
          destinations: [
            { address: '10.15.16.39', port: 80, forward: 'route', weight: 1 },
            { address: '10.15.16.43', port: 80, forward: 'route', weight: 1 },
          ],
        },
      ],
    });
    // checktimeout=3 is given and negotiatetimeout is not: ldirectord's negotiate checks then use 3 s too.
    expect(r.health).toEqual([
      {
        service: { protocol: 'tcp', address: '10.15.16.113', port: 80 },
        check: { type: 'http', path: '/index.html', method: 'GET', expect: 'fake', timeoutMs: 3000 },
        intervalMs: 5000, rise: 1, fall: 1, onDown: 'quiesce',
      },
    ]);
    expect(r.warnings).toEqual([
      { file: 'ldirectord.cf', line: lineOf(text, 'autoreload='), key: 'autoreload', message: expect.stringContaining('autoreload not carried over') },
      { file: 'ldirectord.cf', line: lineOf(text, 'logfile='), key: 'logfile', message: expect.stringContaining('logfile not carried over') },
    ]);
    expect(() => normalizeState(r.desired)).not.toThrow();
  });

  it('the VDM service: sh, weights 1000, https negotiate, quiescent=no in the section overrides the global yes', () => {
    const r = importLdirectord(fixture('ubuntu-dr-https.ldirectord.cf'));
    expect(r.desired.services[0]).toMatchObject({ protocol: 'tcp', address: '10.13.246.4', port: 443, scheduler: 'sh' });
    expect(r.desired.services[0]!.destinations.map((d) => d.weight)).toEqual([1000, 1000]);
    expect(r.health[0]).toMatchObject({ check: { type: 'https', path: '/index.jsp', expect: 'Requirements' }, onDown: 'remove' });
  });

  it('the mangled file of seed 000 (real= lines without a virtual=) is refused with file:line:column', () => {
    const text = fixture('mangled-000.ldirectord.cf');
    const e = importError(text);
    expect(e).toMatchObject({ file: 'test.cf', line: lineOf(text, 'real= gate'), column: 1 });
    expect(e.message).toBe(`test.cf:${lineOf(text, 'real= gate')}:1: real= belongs inside a virtual= section (indented by at least 4 columns, after a virtual= line)`);
  });
});

describe('importLdirectord edge cases', () => {
  const text = fixture('edge-cases.ldirectord.cf');
  const r: ImportResult = importLdirectord(text, { file: 'edge.cf' });

  it('global defaults reach every section; tabs indent; a named port; ranges expand; per-real checks and thresholds', () => {
    const web = r.desired.services[0]!;
    expect(web).toMatchObject({ protocol: 'tcp', address: '192.0.2.10', port: 80, scheduler: 'wlc', persistence: { timeout: 300, netmask: '255.255.255.0' } });
    expect(web.destinations).toEqual([
      { address: '10.0.0.1', port: 8080, forward: 'masq', weight: 5 },
      { address: '10.0.0.2', port: 8080, forward: 'masq', weight: 5 },
      { address: '10.0.0.3', port: 8080, forward: 'masq', weight: 5 },
      { address: '10.0.0.9', port: 80, forward: 'masq', weight: 0, lowerThreshold: 10, upperThreshold: 20 },
    ]);
    expect(r.health[0]).toEqual({
      service: { protocol: 'tcp', address: '192.0.2.10', port: 80 },
      check: { type: 'http', path: '/status', method: 'GET', host: 'www.example.org', expect: 'up and running', timeoutMs: 7000 },
      intervalMs: 2000, rise: 1, fall: 3, onDown: 'quiesce',
      sorryServer: { address: '127.0.0.1', port: 80, weight: 1, forward: 'masq' },
      maintenanceDir: '/etc/ha.d/maint',
      destinationChecks: [{ address: '10.0.0.9', port: 80, check: { type: 'http', path: '/healthz', method: 'GET', host: 'www.example.org', expect: 'ok', timeoutMs: 7000 } }],
    });
  });

  it('a firewall mark with a connect check on another port; quiescent=no in the section', () => {
    expect(r.desired.services[1]).toEqual({ fwmark: 7, scheduler: 'wrr', destinations: [{ address: '10.0.0.20', port: 0, forward: 'route', weight: 1 }] });
    expect(r.health[1]).toMatchObject({ service: { fwmark: 7 }, check: { type: 'tcp', port: 22, timeoutMs: 7000 }, onDown: 'remove' });
  });

  it('virtual6/real6 on port 53: UDP, a DNS check of the request name', () => {
    expect(r.desired.services[2]).toMatchObject({ protocol: 'udp', address: '2001:db8::10', port: 53, destinations: [{ address: '2001:db8::20', port: 53, forward: 'masq', weight: 2 }] });
    expect(r.health[2]!.check).toEqual({ type: 'dns', name: 'example.org', expect: '127.0.0.1', timeoutMs: 7000 });
  });

  it('a warning, with its line, for every key or behaviour not carried over', () => {
    expect(r.warnings.map((w) => [w.line, w.key])).toEqual([
      [lineOf(text, 'emailalert='), 'emailalert'],
      [lineOf(text, 'virtual=192.0.2.11:25'), 'checktype'],
      [lineOf(text, 'virtual=192.0.2.11:25'), 'service'],
      [lineOf(text, 'load=cpu'), 'load'],
    ]);
    expect(r.warnings.every((w) => w.file === 'edge.cf')).toBe(true);
    expect(() => normalizeState(r.desired)).not.toThrow();
  });

  it('comments: whole lines, after values, but not inside quotes', () => {
    const q = importLdirectord('virtual=192.0.2.1:80 # the web\n    real=10.0.0.1 gate\n    receive="a#b"\n');
    expect(q.health[0]!.check).toMatchObject({ expect: 'a#b' });
  });

  it('a blank line ends a section; an indented line after it is an error', () => {
    const e = importError('virtual=192.0.2.1:80\n    real=10.0.0.1 gate\n\n    real=10.0.0.2 gate\n');
    expect(e).toMatchObject({ line: 4, column: 5 });
    expect(e.message).toContain('outside a virtual= section');
  });

  it('errors name file, line and column of the value', () => {
    expect(importError('checkinterval=soon\n')).toMatchObject({ line: 1, column: 15, message: 'test.cf:1:15: checkinterval: expected a number, got "soon"' });
    expect(importError('virtual=web.example.org:80\n').message).toBe('test.cf:1:9: virtual: "web.example.org" is not a numeric IPv4 or IPv6 address (host names are not resolved)');
    expect(importError('virtual=192.0.2.1:80\n    real=10.0.0.1 tunnel\n')).toMatchObject({ line: 2, column: 19 });
    expect(importError('virtual=192.0.2.1:80\n    real=10.0.0.1 gate 3 extra\n').message).toMatch(/^test\.cf:2:\d+: real: unexpected "extra"$/);
    expect(importError('virtual=192.0.2.1:80\n    checktype=sometimes\n')).toMatchObject({ line: 2, column: 15 });
    expect(importError('virtual=192.0.2.1:80\n    frobnicate=yes\n').message).toContain('unknown key "frobnicate"');
    expect(importError('quiescent=maybe\n').message).toContain('quiescent must be yes or no');
    expect(importError('virtual=[2001:db8::1]:80\n').message).toContain('virtual6=');
    expect(importError('timeout=5\n').message).toContain('deprecated');
  });
});
