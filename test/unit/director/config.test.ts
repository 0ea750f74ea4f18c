// The daemon's configuration: validation naming every bad field, format
// detection, and the importers' output taken as a configuration.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../../src/errors.js';
import { parseListen, validateDirectorConfig, type DirectorConfig } from '../../../src/director/config.js';
import { ConfigSyntaxError, detectConfigFormat, parseDirectorConfig } from '../../../src/director/load-config.js';
import { ImportError } from '../../../src/importers/types.js';

const FIXTURES = fileURLToPath(new URL('../../fixtures/importers/', import.meta.url));
const svc = { protocol: 'tcp' as const, address: '192.0.2.10', port: 80 };
const base = (): DirectorConfig => ({
  table: { services: [{ ...svc, scheduler: 'wrr', destinations: [{ address: '10.0.1.1', forward: 'masq', weight: 5 }, { address: '10.0.1.2', port: 8080, forward: 'masq' }] }] },
  health: [{ service: svc, check: { type: 'tcp' }, intervalMs: 200, rise: 1, fall: 2 }],
});

function problems(value: unknown): string[] {
  try {
    validateDirectorConfig(value);
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidArgumentError);
    return (e as InvalidArgumentError).problems;
  }
  throw new Error('expected the configuration to be refused');
}

describe('validateDirectorConfig', () => {
  it('derives one checker per checked service, its pool from the table (ports filled in)', () => {
    const v = validateDirectorConfig(base());
    expect(v.serviceIds).toEqual(['TCP 192.0.2.10:80']);
    const opts = v.checkers.get('TCP 192.0.2.10:80')!;
    expect(opts.service).toEqual({ ...svc, scheduler: 'wrr' });
    expect(opts.destinations).toEqual([
      { address: '10.0.1.1', port: 80, forward: 'masq', weight: 5 },
      { address: '10.0.1.2', port: 8080, forward: 'masq' },
    ]);
    expect(opts).toMatchObject({ intervalMs: 200, rise: 1, fall: 2, check: { type: 'tcp' } });
  });

  it('names the field of each problem, all at once', () => {
    const c = base();
    c.health![0]!.intervalMs = -5;
    expect(problems(c)).toEqual(['health[0].intervalMs: must be a positive integer']);
    const d = base() as unknown as Record<string, unknown>;
    d.tabel = {};
    (d.health as { check: unknown }[])[0]!.check = { type: 'http', path: 'no-slash' };
    (d.table as DirectorConfig['table']).services[0]!.destinations[0]!.weight = -1;
    const p = problems(d);
    expect(p).toHaveLength(3);
    expect(p[0]).toMatch(/^tabel: unknown field/);
    expect(p[1]).toMatch(/^table\.services\[0\]\.destinations\[0\]\.weight: /);
    expect(p[2]).toMatch(/^health\[0\]\.check\.path: /);
  });

  it('refuses health for a service not in the table, twice for one service, and a per-destination check of a stranger', () => {
    const c = base();
    c.health!.push({ service: { ...svc, port: 81 }, check: { type: 'tcp' } });
    expect(problems(c)).toEqual(['health[1].service: TCP 192.0.2.10:81 is not in table.services']);
    const twice = base();
    twice.health!.push({ service: svc, check: { type: 'tcp' } });
    expect(problems(twice)).toEqual(['health[1].service: TCP 192.0.2.10:80 has health checks already']);
    const stranger = base();
    stranger.health![0]!.destinationChecks = [{ address: '10.9.9.9', port: 80, check: { type: 'tcp' } }];
    expect(problems(stranger)).toEqual(['health[0].destinationChecks[0]: 10.9.9.9:80 is not a destination of TCP 192.0.2.10:80']);
  });

  it('gives a per-destination check to that destination only', () => {
    const c = base();
    c.health![0]!.destinationChecks = [{ address: '10.0.1.2', port: 8080, check: { type: 'http', path: '/ok' } }];
    const pool = validateDirectorConfig(c).checkers.get('TCP 192.0.2.10:80')!.destinations;
    expect(pool[0]!.check).toBeUndefined();
    expect(pool[1]!.check).toEqual({ type: 'http', path: '/ok' });
  });

  it('checks onExit, metrics.listen and the top level', () => {
    expect(problems({ ...base(), onExit: 'explode' })).toEqual(['onExit: must be one of leave, quiesce, flush']);
    expect(problems({ ...base(), metrics: { listen: '9101' } })[0]).toMatch(/^metrics\.listen: must be HOST:PORT/);
    expect(problems({ health: [] })).toEqual(['table: missing (the services the daemon owns: { "services": [...] })']);
    expect(() => validateDirectorConfig([])).toThrow(/^config: must be an object/);
  });

  it('checks the host setup with the director profile\'s rules, under host.', () => {
    expect(validateDirectorConfig({ ...base(), host: { vips: ['192.0.2.10'], interface: 'eth0', forwarding: 'nat' } }).config.host).toBeDefined();
    expect(problems({ ...base(), host: { vips: ['192.0.2.10/24'], interface: 'eth0', forwarding: 'nat' } })[0]).toMatch(/^host\.vips\[0\]: must be an IPv4 or IPv6 address without a prefix/);
    expect(problems({ ...base(), host: { vips: ['192.0.2.10'], interface: 'eth0', forwarding: 'bridge' } })[0]).toMatch(/^host\.forwarding: /);
    expect(problems({ ...base(), host: 'eth0' })).toEqual(['host: must be an object { vips, interface, forwarding }']);
  });

  it('parseListen reads IPv4, IPv6 and an empty host', () => {
    expect(parseListen('127.0.0.1:9101')).toEqual({ host: '127.0.0.1', port: 9101 });
    expect(parseListen('[::1]:0')).toEqual({ host: '::1', port: 0 });
    expect(parseListen(':9101')).toEqual({ host: '0.0.0.0', port: 9101 });
    expect(() => parseListen('host:99999')).toThrow(InvalidArgumentError);
  });
});

describe('parseDirectorConfig', () => {
  it('detects the format from the text', () => {
    expect(detectConfigFormat('  {"table": {}}')).toBe('json');
    expect(detectConfigFormat('virtual_server 192.0.2.1 80 {\n}')).toBe('keepalived');
    expect(detectConfigFormat('primary = 1.2.3.4\nvirtual web {\n}')).toBe('lvs');
    expect(detectConfigFormat('checktimeout=3\nvirtual=192.0.2.1:80\n\treal=10.0.0.1:80 gate\n')).toBe('ldirectord');
    expect(detectConfigFormat('hello')).toBeUndefined();
  });

  it('gives the line and column of a JSON syntax error', () => {
    expect(() => parseDirectorConfig('{\n  "table": {\n  ]\n}', { file: 'd.json' })).toThrow(ConfigSyntaxError);
    expect(() => parseDirectorConfig('{\n  "table": {\n  ]\n}', { file: 'd.json' })).toThrow(/^d\.json:3:3: not JSON/);
  });

  it('reads an ldirectord.cf through its importer, with its warnings', () => {
    const text = readFileSync(`${FIXTURES}ubuntu-dr-http.ldirectord.cf`, 'utf8');
    const c = parseDirectorConfig(text, { file: 'ldirectord.cf' });
    expect(c.format).toBe('ldirectord');
    expect(c.serviceIds).toHaveLength(1);
    expect(c.checkers.size).toBe(1);
    expect(c.warnings.every((w) => w.file === 'ldirectord.cf')).toBe(true);
  });

  it('takes what ipvs-ts import writes, and reports failover settings it does not run', () => {
    const imported = { format: 'lvs', desired: base().table, health: base().health, failover: { primary: '1.2.3.4' }, warnings: [] };
    const c = parseDirectorConfig(JSON.stringify(imported), { file: 'i.json' });
    expect(c.checkers.size).toBe(1);
    expect(c.warnings).toEqual([expect.objectContaining({ file: 'i.json', key: 'failover' })]);
  });

  it('passes an importer error through with its place', () => {
    expect(() => parseDirectorConfig('virtual=192.0.2.1:80\n\treal=10.0.0.1:80 tunnel\n', { file: 'l.cf' })).toThrow(ImportError);
  });
});
