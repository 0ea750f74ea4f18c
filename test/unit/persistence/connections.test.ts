// Parsing /proc/net/ip_vs_conn lines, streaming across chunk boundaries,
// the granularity math and the ConnectionTable index. Lines are written here
// in the kernel's format (ip_vs_conn_seq_show); the kernel test compares the
// reader with ipvsadm -Lnc on a live table.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConnectionTable, clientsPerTemplate, parseConnectionLine, persistenceNetwork, readConnections, shareTemplate } from '../../../src/persistence/index.js';

const HEADER = 'Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData';
const hex = (a: string) => a.split('.').map((x) => Number(x).toString(16).padStart(2, '0')).join('').toUpperCase();
const port = (p: number) => p.toString(16).toUpperCase().padStart(4, '0');
const line4 = (proto: string, c: string, cp: number, v: string, vp: number, d: string, dp: number, state: string, exp: number, pe = '') =>
  `${proto.padEnd(3)} ${hex(c)} ${port(cp)} ${hex(v)} ${port(vp)} ${hex(d)} ${port(dp)} ${state.padEnd(11)} ${String(exp).padStart(7)}${pe}`;
const full6 = (groups: number[]) => groups.map((g) => g.toString(16).padStart(4, '0')).join(':');

describe('parseConnectionLine', () => {
  it('reads an IPv4 connection', () => {
    expect(parseConnectionLine(line4('TCP', '10.3.0.7', 40000, '10.4.0.1', 80, '10.5.0.11', 8080, 'ESTABLISHED', 899))).toEqual({
      protocol: 'tcp', family: 'ipv4', clientAddress: '10.3.0.7', clientPort: 40000, virtualAddress: '10.4.0.1', virtualPort: 80,
      destinationAddress: '10.5.0.11', destinationPort: 8080, state: 'ESTABLISHED', expires: 899, template: false,
    });
  });

  it('recognises templates and the service they belong to, fwmark ones included', () => {
    const t = parseConnectionLine(line4('TCP', '10.3.0.0', 0, '10.4.0.1', 80, '10.5.0.12', 8080, 'NONE', 300));
    expect(t.template).toBe(true);
    expect(t.service).toEqual({ protocol: 'tcp', address: '10.4.0.1', port: 80 });
    const m = parseConnectionLine(line4('IP', '10.3.0.9', 0, '0.0.0.7', 0, '10.5.0.13', 0, 'ASSURED', 12));
    expect(m).toMatchObject({ protocol: 'ip', template: true, service: { fwmark: 7, family: 'ipv4' } });
    // A UDP connection is never a template, whatever its port.
    expect(parseConnectionLine(line4('UDP', '10.3.0.9', 53, '10.4.0.1', 53, '10.5.0.13', 53, 'UDP', 200)).template).toBe(false);
  });

  it('reads IPv6 entries, a mixed-family destination, and persistence engine data', () => {
    const c = `TCP ${full6([0xfd00, 3, 0, 0, 0, 0, 0, 0x100])} 9C40 ${full6([0xfd00, 4, 0, 0, 0, 0, 0, 1])} 0050 0A05000B 1F90 TIME_WAIT        60`;
    expect(parseConnectionLine(c)).toMatchObject({ family: 'ipv6', clientAddress: 'fd00:3::100', virtualAddress: 'fd00:4::1', destinationAddress: '10.5.0.11', destinationPort: 8080 });
    const fw6 = `IP  ${full6([0xfd00, 3, 0, 0, 0, 0, 0, 0])} 0000 ${full6([0, 7, 0, 0, 0, 0, 0, 0])} 0000 ${full6([0xfd00, 5, 0, 0, 0, 0, 0, 0x11])} 0000 NONE            100`;
    expect(parseConnectionLine(fw6).service).toEqual({ fwmark: 7, family: 'ipv6' });
    const sip = parseConnectionLine(line4('UDP', '10.3.0.9', 0, '10.4.0.1', 5060, '10.5.0.13', 5060, 'NONE', 12, ' sip abc123@host'));
    expect(sip).toMatchObject({ persistenceEngine: 'sip', persistenceData: 'abc123@host', template: true });
  });

  it('reads fields wider than their column: SCTP, long state names, long expiry', () => {
    const c = `SCTP 0A030007 9C40 0A040001 0050 0A05000B 1F90 SHUTDOWN_ACK_SENT 12345678`;
    expect(parseConnectionLine(c)).toMatchObject({ protocol: 'sctp', state: 'SHUTDOWN_ACK_SENT', expires: 12345678, clientPort: 40000, destinationPort: 8080 });
    // Unknown protocol names are lower-cased; tabs separate as well as spaces.
    expect(parseConnectionLine(`ICMPv6\t0A030007\t0000\t0A040001\t0000\t0A05000B\t0000\tICMP\t5`)).toMatchObject({ protocol: 'icmpv6', state: 'ICMP', template: false });
  });

  it('reads engine data to the end of the line and gives every entry the same properties', () => {
    const sip = parseConnectionLine(`${line4('UDP', '10.3.0.9', 0, '10.4.0.1', 5060, '10.5.0.13', 5060, 'NONE', 12, ' sip a b@host')}  \r`);
    expect(sip).toMatchObject({ persistenceEngine: 'sip', persistenceData: 'a b@host', service: { protocol: 'udp', address: '10.4.0.1', port: 5060 } });
    const plain = parseConnectionLine(line4('TCP', '10.3.0.7', 40000, '10.4.0.1', 80, '10.5.0.11', 8080, 'ESTABLISHED', 899));
    expect(plain.persistenceEngine).toBeUndefined();
    expect(plain.service).toBeUndefined();
    expect(Object.keys(plain)).toEqual(Object.keys(sip));
  });

  it('formats each address by its own value, also when many distinct addresses share cache slots', () => {
    // More distinct addresses than the caches hold, read twice: every text must still match its value.
    const canon6 = (g: number[]) => new URL(`http://[${full6(g)}]/`).hostname.slice(1, -1);
    for (let round = 0; round < 2; round++) {
      const want: string[] = [];
      const got: string[] = [];
      for (let i = 0; i < 40000; i += 5) {
        const a = `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`;
        const b = `192.168.${(i * 3) & 255}.${(i * 5) & 255}`;
        const e = parseConnectionLine(line4('TCP', a, 1000, '10.4.0.1', 80, b, 80, 'FIN_WAIT', 1));
        want.push(a, b);
        got.push(e.clientAddress, e.destinationAddress);
      }
      for (let i = 0; i < 6000; i += 3) {
        const c = [0x2001, 0xdb8, i, 0, 0, 0, i & 1, 1];
        const d = [0x2001, 0xdb8, 5, 0, 0, 0, 0, i];
        const e = parseConnectionLine(`TCP ${full6(c)} 0050 ${full6([0x2001, 0xdb8, 4, 0, 0, 0, 0, 1])} 0050 ${full6(d)} 0050 SYN_RECV 3`);
        want.push(canon6(c), canon6(d));
        got.push(e.clientAddress, e.destinationAddress);
      }
      expect(got).toEqual(want);
    }
  });

  it('rejects a line that is not in the kernel format', () => {
    expect(() => parseConnectionLine('TCP 0A 1 2')).toThrow(/fields/);
    expect(() => parseConnectionLine(line4('TCP', '10.3.0.7', 1, '10.4.0.1', 80, '10.5.0.11', 80, 'X', 1).replace('0A030007', 'ZZ'))).toThrow();
    expect(() => parseConnectionLine(line4('TCP', '10.3.0.7', 1, '10.4.0.1', 80, '10.5.0.11', 80, 'X', 1).replace('0A030007', '0A03000G'))).toThrow(/hex/);
    expect(() => parseConnectionLine(line4('TCP', '10.3.0.7', 1, '10.4.0.1', 80, '10.5.0.11', 80, 'X', 1).replace(' 0050 ', ' 050 '))).toThrow(/port/);
    expect(() => parseConnectionLine(line4('TCP', '10.3.0.7', 1, '10.4.0.1', 80, '10.5.0.11', 80, 'X', 1).replace(/ 1$/, ' 1s'))).toThrow(/expiry/);
    const six = full6([0xfd00, 3, 0, 0, 0, 0, 0, 1]);
    expect(() => parseConnectionLine(`TCP ${six.replace(/:/g, '-')} 0050 0A040001 0050 0A05000B 0050 NONE 1`)).toThrow(/IPv6/);
  });
});

describe('readConnections over a file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ipvs-ts-conn-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const lines = Array.from({ length: 500 }, (_, i) =>
    line4('TCP', `10.3.${i >> 8}.${i & 255}`, 1024 + i, '10.4.0.1', 80, `10.5.0.${11 + (i % 4)}`, 8080, i % 3 ? 'TIME_WAIT' : 'ESTABLISHED', i),
  );
  const file = join(dir, 'ip_vs_conn');
  writeFileSync(file, [HEADER, ...lines, ''].join('\n'));

  it('yields every entry in order, lines split across small chunks included', async () => {
    const got = [];
    for await (const c of readConnections({ path: file, chunkSize: 257 })) got.push(c);
    expect(got.map((c) => c.clientPort)).toEqual(lines.map((_, i) => 1024 + i));
    expect(got[499]).toMatchObject({ clientAddress: '10.3.1.243', expires: 499 });
  });

  it('reads lines longer than a chunk, a table without a final newline, and each chunk size alike', async () => {
    const long = line4('UDP', '10.3.0.9', 0, '10.4.0.1', 5060, '10.5.0.13', 5060, 'NONE', 12, ` sip ${'c'.repeat(300)}@host`);
    const mixed = [
      ...lines.slice(0, 40),
      long,
      `TCP ${full6([0xfd00, 3, 0, 0, 0, 0, 0, 0x100])} 9C40 ${full6([0xfd00, 4, 0, 0, 0, 0, 0, 1])} 0050 0A05000B 1F90 TIME_WAIT        60`,
      line4('IP', '10.3.0.9', 0, '0.0.0.7', 0, '10.5.0.13', 0, 'ASSURED', 12),
      ...lines.slice(40, 80),
    ];
    const f = join(dir, 'mixed');
    writeFileSync(f, [HEADER, ...mixed].join('\n'));
    const expected = mixed.map(parseConnectionLine);
    for (const chunkSize of [256, 300, 1000, 4096, 262144]) {
      const got = [];
      for await (const c of readConnections({ path: f, chunkSize })) got.push(c);
      expect(got).toStrictEqual(expected);
    }
    expect(expected[40]!.persistenceData).toBe(`${'c'.repeat(300)}@host`);
    expect(expected[42]!.service).toEqual({ fwmark: 7, family: 'ipv4' });
  });

  it('reads a table with no entries', async () => {
    const f = join(dir, 'empty');
    writeFileSync(f, `${HEADER}\n`);
    const got = [];
    for await (const c of readConnections({ path: f })) got.push(c);
    expect(got).toEqual([]);
  });

  it('stops with an AbortError when aborted', async () => {
    const ac = new AbortController();
    let n = 0;
    await expect(
      (async () => {
        for await (const _ of readConnections({ path: file, chunkSize: 256, signal: ac.signal })) if (++n === 3) ac.abort();
      })(),
    ).rejects.toMatchObject({ name: 'AbortError' });
    expect(n).toBeLessThan(500);
  });

  it('checks its options', async () => {
    await expect(readConnections({ chunkSize: 1 }).next()).rejects.toMatchObject({ field: 'chunkSize' });
    await expect(readConnections({ netns: '' }).next()).rejects.toMatchObject({ field: 'netns' });
  });
});

describe('granularity', () => {
  it('masks IPv4 by prefix or dotted mask (also non-contiguous), IPv6 by prefix', () => {
    expect(persistenceNetwork('10.3.1.77', 24)).toBe('10.3.1.0');
    expect(persistenceNetwork('10.3.1.77', '255.255.0.255')).toBe('10.3.0.77');
    expect(persistenceNetwork('10.3.1.77')).toBe('10.3.1.77');
    expect(persistenceNetwork('2001:db8:1:2:3:4:5:6', 64)).toBe('2001:db8:1:2::');
    expect(persistenceNetwork('2001:db8:1:2:3:4:5:6', 61)).toBe('2001:db8:1::');
    expect(shareTemplate('10.3.1.1', '10.3.1.200', 24)).toBe(true);
    expect(shareTemplate('10.3.1.1', '10.3.2.1', 24)).toBe(false);
    expect(clientsPerTemplate(24, 'ipv4')).toBe(256n);
    expect(clientsPerTemplate('255.255.0.255', 'ipv4')).toBe(256n);
    expect(clientsPerTemplate(64, 'ipv6')).toBe(1n << 64n);
    expect(() => persistenceNetwork('2001:db8::1', 0)).toThrow(/netmask/);
  });
});

describe('ConnectionTable', () => {
  it('counts per destination and finds the template pinning a client', async () => {
    const entries = [
      line4('TCP', '10.3.1.0', 0, '10.4.0.1', 80, '10.5.0.12', 8080, 'NONE', 300),
      line4('TCP', '10.3.1.5', 4000, '10.4.0.1', 80, '10.5.0.12', 8080, 'ESTABLISHED', 800),
      line4('TCP', '10.3.1.6', 4001, '10.4.0.1', 80, '10.5.0.12', 8080, 'TIME_WAIT', 100),
      line4('TCP', '10.3.0.9', 0, '10.4.0.1', 0, '10.5.0.11', 0, 'NONE', 300),
    ].map(parseConnectionLine);
    const t = await ConnectionTable.from(entries, true);
    expect(t.perDestination.get('10.5.0.12:8080')).toEqual({ connections: 2, templates: 1, states: { ESTABLISHED: 1, TIME_WAIT: 1 } });
    expect(t.perDestination.get('10.5.0.11:0')).toEqual({ connections: 0, templates: 1, states: {} });
    expect(t.perAddress.get('10.5.0.11')).toEqual({ connections: 0, templates: 1, states: {} });
    const svc = { protocol: 'tcp' as const, address: '10.4.0.1', port: 80, persistence: { timeout: 300, netmask: 24 } };
    expect(t.affinity('10.3.1.200', svc)?.destinationAddress).toBe('10.5.0.12');
    expect(t.affinity('10.3.2.1', svc)).toBeUndefined();
    // FTP: templates carry virtual port 0.
    expect(t.affinity('10.3.0.9', { protocol: 'tcp', address: '10.4.0.1', port: 21 })?.destinationAddress).toBe('10.5.0.11');
    expect(t.size).toBe(4);
    expect(t.entries.length).toBe(4);
  });
});
