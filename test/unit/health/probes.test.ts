// Every probe against a healthy and a broken server on loopback, plus servers that
// accept and never answer or trickle, and the timeout over the whole check.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCheck } from '../../../src/health/run-check.js';
import type { CheckSpec } from '../../../src/health/spec.js';
// @ts-expect-error plain JavaScript fixture, also run as a process by the kernel tests
import { startServers } from '../../fixtures/health/servers.mjs';

const HOST = `127.0.${(process.pid % 200) + 20}.1`;
type Servers = { ports: Record<'http' | 'https' | 'banner' | 'udp' | 'dns' | 'silent' | 'trickle', number>; close(): void };
let servers: Servers;
let closedPort: number;

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, HOST, r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

beforeAll(async () => {
  servers = (await startServers(HOST, 'rs1', { http: 0, https: 0, banner: 0, udp: 0, dns: 0, silent: 0, trickle: 0 })) as Servers;
  closedPort = await freePort();
});
afterAll(() => servers?.close());

const at = (port: number) => ({ address: HOST, port });

async function up(spec: CheckSpec, port: number) {
  const r = await runCheck({ timeoutMs: 2000, ...spec } as CheckSpec, at(port));
  expect(r, r.detail).toMatchObject({ ok: true });
  expect(r.latencyMs).toBeGreaterThanOrEqual(0);
  return r;
}
async function down(spec: CheckSpec, port: number, detail: RegExp) {
  const r = await runCheck({ timeoutMs: 2000, ...spec } as CheckSpec, at(port));
  expect(r.ok, r.detail).toBe(false);
  expect(r.detail).toMatch(detail);
  return r;
}

describe('probes on loopback', () => {
  it('tcp: connect up, refused down', async () => {
    await up({ type: 'tcp' }, servers.ports.http);
    await down({ type: 'tcp' }, closedPort, /ECONNREFUSED/);
  });

  it('tcp: the check port overrides the target port; a source address is bound', async () => {
    const seen: string[] = [];
    const s = net.createServer((c) => {
      seen.push(c.remoteAddress!);
      c.destroy();
    });
    await new Promise<void>((r) => s.listen(0, HOST, r));
    const port = (s.address() as net.AddressInfo).port;
    const source = `127.0.${(process.pid % 200) + 20}.9`;
    const r = await runCheck({ type: 'tcp', port, source, timeoutMs: 2000 }, at(closedPort));
    expect(r.ok, r.detail).toBe(true);
    await expect.poll(() => seen).toEqual([source]);
    s.close();
  });

  it('http: status ranges, body regex, HEAD', async () => {
    const r = await up({ type: 'http', path: '/', expect: 'hello from rs1' }, servers.ports.http);
    expect(r.detail).toMatch(/HTTP 200/);
    await up({ type: 'http', method: 'HEAD', status: '200' }, servers.ports.http);
    await up({ type: 'http', path: '/fail', status: '200-299,503' }, servers.ports.http);
    await down({ type: 'http', path: '/fail' }, servers.ports.http, /HTTP 503, expected 200-399/);
    await down({ type: 'http', expect: 'goodbye' }, servers.ports.http, /body does not match/);
    await down({ type: 'http' }, closedPort, /ECONNREFUSED/);
  });

  it('http: a server that never answers, or trickles its body, is down at the timeout', async () => {
    for (const path of ['/silent', '/trickle']) {
      const r = await down({ type: 'http', path, expect: 'never', timeoutMs: 300 }, servers.ports.http, /timed out after 300 ms/);
      expect(r.latencyMs).toBeGreaterThanOrEqual(295);
      expect(r.latencyMs).toBeLessThan(1500);
    }
  });

  it('https: verified with host/SNI, insecure without, refused when the name does not match', async () => {
    await up({ type: 'https', insecure: true, expect: 'rs1' }, servers.ports.https);
    await down({ type: 'https', host: 'other.test' }, servers.ports.https, /CERT|self.signed|altnames|certificate/i);
    await down({ type: 'https', insecure: true }, servers.ports.http, /https/);
  });

  it('negotiate: banner, send/expect, TLS; mismatch and close are down', async () => {
    await up({ type: 'negotiate', expect: '^220 .*ESMTP' }, servers.ports.banner);
    await up({ type: 'negotiate', send: 'QUIT\r\n', expect: '221 bye' }, servers.ports.banner);
    await up({ type: 'negotiate', tls: true, send: 'GET / HTTP/1.0\r\n\r\n', expect: 'hello from rs1' }, servers.ports.https);
    await down({ type: 'negotiate', expect: '^\\+OK' }, servers.ports.banner, /timed out/);
    await down({ type: 'negotiate', send: 'GET /fail HTTP/1.0\r\n\r\n', expect: 'HTTP/1.1 200' }, servers.ports.http, /closed after \d+ bytes without a match/);
    await down({ type: 'negotiate', expect: 'x' }, closedPort, /ECONNREFUSED/);
  });

  it('tcp-level silent and trickling servers: negotiate times out on both', async () => {
    for (const port of [servers.ports.silent, servers.ports.trickle]) {
      const r = await down({ type: 'negotiate', expect: 'READY', timeoutMs: 250 }, port, /timed out after 250 ms/);
      expect(r.latencyMs).toBeLessThan(1500);
    }
  });

  it('udp: text and hex payloads, expect, port unreachable', async () => {
    await up({ type: 'udp', send: { text: 'ping' }, expect: '^pong rs1 ping$' }, servers.ports.udp);
    await up({ type: 'udp', send: { hex: '00 ff 41' }, expect: 'rs1 \\x00\\xffA' }, servers.ports.udp);
    await down({ type: 'udp', send: { text: 'ping' }, expect: 'nope' }, servers.ports.udp, /does not match/);
    await down({ type: 'udp', send: { text: 'ping' } }, closedPort, /port unreachable/);
  });

  it('dns: A and SOA answers, expect, NXDOMAIN, no server', async () => {
    const a = await up({ type: 'dns', name: 'www.health.test', recordType: 'A', expect: `^${HOST.replace(/\./g, '\\.')}$` }, servers.ports.dns);
    expect(a.detail).toBe(`DNS A ${HOST}`);
    const soa = await up({ type: 'dns', name: 'health.test' }, servers.ports.dns);
    expect(soa.detail).toBe('DNS SOA ns.health.test hostmaster.health.test 2026112701 3600 600 86400 60');
    await down({ type: 'dns', name: 'missing.health.test', recordType: 'A' }, servers.ports.dns, /NXDOMAIN/);
    await down({ type: 'dns', name: 'health.test', recordType: 'AAAA' }, servers.ports.dns, /no AAAA answer/);
    await down({ type: 'dns', name: 'www.health.test', recordType: 'A', expect: '^10\\.' }, servers.ports.dns, /no A answer matches/);
    await down({ type: 'dns', name: 'health.test' }, closedPort, /port unreachable/);
  });

  it('exec: exit codes as misc_dynamic, the target in the environment, killed at the timeout', async () => {
    await up({ type: 'exec', command: 'sh', args: ['-c', `test "$IPVS_TS_ADDRESS:$IPVS_TS_PORT" = "${HOST}:1234"`] }, 1234);
    await down({ type: 'exec', command: 'sh', args: ['-c', 'echo broken >&2; exit 1'] }, 1, /exit 1: broken/);
    const w = await up({ type: 'exec', command: 'sh', args: ['-c', 'exit 7'] }, 1);
    expect(w.weight).toBe(5);
    await down({ type: 'exec', command: 'ipvs-ts-no-such-program' }, 1, /ENOENT/);
    const slow = await down({ type: 'exec', command: 'sleep', args: ['5'], timeoutMs: 200 }, 1, /timed out after 200 ms/);
    expect(slow.latencyMs).toBeLessThan(1500);
  });

  it('none and function probes; a throwing or hanging function is a failure, not an exception', async () => {
    await up({ type: 'none' }, 1);
    const w = await up({ type: 'function', probe: async (t) => ({ ok: t.port === 9, weight: 3 }) }, 9);
    expect(w.weight).toBe(3);
    await down({ type: 'function', probe: () => false }, 1, /probe: down/);
    await down({ type: 'function', probe: () => { throw new Error('boom'); } }, 1, /boom/);
    await down({ type: 'function', probe: () => new Promise(() => {}), timeoutMs: 100 }, 1, /timed out after 100 ms/);
  });

  it('icmp: echo reply from loopback (a raw socket: without CAP_NET_RAW, down with EPERM)', async () => {
    if (process.getuid?.() === 0) await up({ type: 'icmp' }, 0);
    else await down({ type: 'icmp' }, 0, /raw socket EPERM/);
  });

  it('IPv6: tcp, http (bracketed Host), udp and icmpv6 on ::1', async () => {
    const hosts: string[] = [];
    const h = (await import('node:http')).createServer((req, res) => {
      hosts.push(req.headers.host ?? '');
      res.end('v6 ok');
    });
    await new Promise<void>((r) => h.listen(0, '::1', r));
    const port = (h.address() as net.AddressInfo).port;
    const dgram = await import('node:dgram');
    const u = dgram.createSocket('udp6');
    u.on('message', (m, r) => u.send(Buffer.concat([Buffer.from('re:'), m]), r.port, r.address));
    await new Promise<void>((r) => u.bind(0, '::1', r));
    const uport = u.address().port;
    try {
      const v6 = (spec: CheckSpec, p: number) => runCheck({ timeoutMs: 2000, ...spec } as CheckSpec, { address: '::1', port: p });
      expect(await v6({ type: 'tcp' }, port)).toMatchObject({ ok: true });
      expect(await v6({ type: 'http', expect: 'v6 ok' }, port)).toMatchObject({ ok: true });
      expect(hosts).toEqual(['[::1]']);
      expect(await v6({ type: 'udp', send: { text: 'x' }, expect: '^re:x$' }, uport)).toMatchObject({ ok: true });
      expect(await v6({ type: 'tcp' }, closedPort)).toMatchObject({ ok: false, detail: 'connect ECONNREFUSED' });
      if (process.getuid?.() === 0) expect(await v6({ type: 'icmp' }, 0)).toMatchObject({ ok: true, detail: 'echo reply' });
    } finally {
      h.close();
      u.close();
    }
  });

  it('an outer abort stops a check at once', async () => {
    const c = new AbortController();
    const p = runCheck({ type: 'http', path: '/silent', timeoutMs: 10_000 }, at(servers.ports.http), { signal: c.signal });
    setTimeout(() => c.abort(), 50);
    const r = await p;
    expect(r).toMatchObject({ ok: false, detail: 'aborted' });
    expect(r.latencyMs).toBeLessThan(2000);
  });

  it('a malformed spec rejects naming every bad field, before anything is sent', async () => {
    await expect(runCheck({ type: 'http', status: '2xx', expect: '(' } as CheckSpec, at(1))).rejects.toMatchObject({
      name: 'InvalidArgumentError',
      field: 'check.status',
      problems: [expect.stringMatching(/^check\.status: /), expect.stringMatching(/^check\.expect: not a regular expression/)],
    });
    await expect(runCheck({ type: 'udp', send: { hex: 'abc' } }, at(1))).rejects.toThrow(/check\.send\.hex: must be pairs of hex digits/);
    await expect(runCheck({ type: 'smtp' } as unknown as CheckSpec, at(1))).rejects.toThrow(/check\.type: unknown check type "smtp"/);
    await expect(runCheck({ type: 'tcp', port: 70000, source: 'nope' }, at(1))).rejects.toThrow(/2 invalid fields/);
  });
});
