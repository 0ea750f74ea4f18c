// The examples run for real in the sandbox kernel (built by `npm run build`,
// which `npm test` runs first), and print what they promise.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { run } from './harness.js';

function example(name: string): string {
  const file = `dist/examples/${name}.js`;
  if (!existsSync(file)) throw new Error(`${file} is missing: run "npm run build" first (npm test does)`);
  return run(process.execPath, [file]);
}

describe('examples', () => {
  it('quickstart builds a NAT and a DR service and prints them as ipvsadm -Sn would', () => {
    const out = example('quickstart');
    expect(out).toMatch(/^IPVS 1\.2\.1, connection table size \d+/m);
    expect(out).toContain('expected error: addService: service TCP 192.0.2.10:80 already exists [EEXIST]');
    expect(out).toContain('-A -t 192.0.2.10:80 -s rr\n-a -t 192.0.2.10:80 -r 10.0.0.11:8080 -m -w 3\n-a -t 192.0.2.10:80 -r 10.0.0.12:8080 -m -w 1\n');
    expect(out).toContain('-A -t 192.0.2.10:443 -s wlc -p 600\n');
  });

  it('desired-state plans, applies, drains and rolls back', () => {
    const out = example('desired-state');
    expect(out).toContain('plan: add 2 services, 4 destinations');
    expect(out).toContain('again: no changes');
    expect(out).toContain('drain: update 1 destination');
    expect(out).toContain('refused: ENOENT, table restored: true');
    const json = JSON.parse(out.slice(out.indexOf('{')));
    expect(json.services).toHaveLength(2);
    const web = json.services.find((s: { port: number }) => s.port === 80);
    expect(web.destinations.find((d: { address: string }) => d.address === '10.0.1.2').weight).toBe(0);
  });

  it('dr-realserver applies the real-server profile, verifies it and reverts it', () => {
    const out = example('dr-realserver');
    expect(out).toContain('plan: 4 sysctls to set; 1 address to add');
    expect(out).toContain('net.ipv4.conf.all.arp_ignore: 0 -> 1');
    expect(out).toContain('verify after apply: {"ok":true,"problems":[]}');
    expect(out).toContain('inet 10.10.0.100/32 scope global lo');
    expect(out).toMatch(/verify after revert: \{"ok":false,"problems":\[.*"10\.10\.0\.100\/32 is not on lo"\]\}/);
  });

  it('nat-director puts the VIP up and announced, builds the NAT service, and takes it all down', () => {
    const out = example('nat-director');
    expect(out).toContain('host: 1 sysctl to set; 1 address to add; 1 address to announce');
    expect(out).toContain('verify: {"ok":true,"problems":[]}');
    expect(out).toMatch(/neighbour sees: 10\.20\.0\.100 dev eth0 lladdr [0-9a-f:]{17}/);
    expect(out).toContain('-A -t 10.20.0.100:80 -s wlc\n-a -t 10.20.0.100:80 -r 10.20.1.11:80 -m -w 1\n');
    expect(out).toContain('after revert: {"ok":false,"problems":["net.ipv4.ip_forward is 0, should be 1","10.20.0.100/32 is not on eth0"]}');
  });

  it('ha-pair: the higher priority node holds the VIP, the other takes it over when it leaves, transitions in order', () => {
    const out = example('ha-pair');
    const lines = out.trim().split('\n');
    expect(lines).toContain('node 1: backup -> master (no master; outranks node 2)');
    expect(lines).toContain('node 2: init -> backup (started)');
    expect(lines.filter((l) => l.startsWith('VIP on:'))).toEqual(['VIP on: lb1', 'VIP on: lb2']);
    const at = (l: string) => lines.indexOf(l);
    expect(at('node 1: master -> stopped (stopped)')).toBeGreaterThan(at('VIP on: lb1'));
    // Node 1 says "stopped" in a last heartbeat, then goodbye: either one makes node 2 master.
    expect(lines.some((l) => /^node 2: backup -> master \(no live master/.test(l))).toBe(true);
    expect(at('node 2: master -> stopped (stopped)')).toBe(lines.length - 1);
  });

  it('health-checked-service takes an unreachable server out, puts it back, drains the other', () => {
    const out = example('health-checked-service');
    expect(out).toContain('up: 10.30.0.11:80 up w=5, 10.30.0.12:80 up w=5\n-A -t 10.30.0.100:80 -s wlc\n-a -t 10.30.0.100:80 -r 10.30.0.11:80 -m -w 5\n-a -t 10.30.0.100:80 -r 10.30.0.12:80 -m -w 5\n');
    expect(out).toContain('after 10.30.0.12 became unreachable:\n-A -t 10.30.0.100:80 -s wlc\n-a -t 10.30.0.100:80 -r 10.30.0.11:80 -m -w 5\n-a -t 10.30.0.100:80 -r 10.30.0.12:80 -m -w 0\n');
    expect(out).toContain('back: 10.30.0.11 up w=5, 10.30.0.12 up w=5');
    expect(out).toContain('drain 10.30.0.11: drained=true removed=true\n-A -t 10.30.0.100:80 -s wlc\n-a -t 10.30.0.100:80 -r 10.30.0.12:80 -m -w 5\n');
    expect(out).toContain('after stop: 0');
  });

  it('seed 004: DR real servers, an sh service with ldirectord-style checks; a link down quiesces its server within the check interval', () => {
    const out = example('seed-004-dr-ldirectord');
    expect(out).toMatch(/^www1: .*verify \{"ok":true,"problems":\[\]\}$/m);
    expect(out).toMatch(/^www2: .*verify \{"ok":true,"problems":\[\]\}$/m);
    const saves = [...out.matchAll(/^-A -t 10\.40\.0\.100:80 -s sh -b sh-fallback\n-a .* -r 10\.40\.0\.11:80 -g -w (\d)\n-a .* -r 10\.40\.0\.12:80 -g -w (\d)$/gm)];
    expect(saves.map((m) => [m[1], m[2]])).toEqual([['1', '1'], ['0', '1'], ['1', '1']]);
    const round = (n: number) => out.match(new RegExp(`^round ${n}: (.*)$`, 'm'))![1].split(' ').map((s) => s.split('->')[1]);
    expect(new Set(round(1))).toEqual(new Set(['www1', 'www2'])); // sh spreads the sources over both
    expect(round(2).every((s) => s === 'www2')).toBe(true); // www1 quiesced: sh-fallback sends its sources to www2
    expect(round(3)).toEqual(round(1)); // back: every source on its own server again
    // Weight 0 within one check interval plus the check timeout the example prints (and some slack for the slow sandbox).
    const downMs = Number(out.match(/^www1 link down: weight 0 after (\d+) ms/m)![1]);
    const [, intervalMs, timeoutMs] = out.match(/checkinterval (\d+) ms, checktimeout (\d+) ms/)!.map(Number);
    expect(downMs).toBeLessThan(intervalMs + timeoutMs + 1500);
    expect(out).toMatch(/^www1 link up: weight 1 after \d+ ms$/m);
  });

  it('seed 001: the lvs-director subcommands run a NAT director; update takes a server whose service died out and back, reload adds only the difference', () => {
    const out = example('seed-001-lvs-director');
    const lines = out.split('\n');
    const clients = lines.filter((l) => l.startsWith('client through the VIP: ')).map((l) => l.slice(24).split(' '));
    expect(out).toContain('start: add 1 service, 2 destinations\n');
    expect(out).toMatch(/^TCP  10\.50\.0\.100:80 rr\n  -> 10\.50\.0\.11:80 +Masq +1 +0 +0 *\n  -> 10\.50\.0\.12:80 +Masq +1 +0 +0 *$/m);
    expect(new Set(clients[0])).toEqual(new Set(['www1:80', 'www2:80']));
    expect(out).toContain('  10.50.0.12 down (connect ECONNREFUSED)\nupdate: delete 1 destination\n');
    expect(clients[1]).toEqual(['www1:80', 'www1:80', 'www1:80', 'www1:80']);
    expect(out).toContain('update: add 1 destination\nupdate: no changes\n');
    expect(out).toContain('reload: add 1 service, 2 destinations\n');
    expect(out).toMatch(/^TCP  10\.50\.0\.100:8080 rr\n  -> 10\.50\.0\.11:8080 +Masq +1 +0 +0 *\n  -> 10\.50\.0\.12:8080 +Masq +1 +0 +0 *$/m);
    expect(new Set(clients[2].slice(0, 2))).toEqual(new Set(['www1:80', 'www2:80']));
    expect(new Set(clients[2].slice(2))).toEqual(new Set(['www1:8080', 'www2:8080']));
    expect(out).toContain('stop: table flushed, VIP removed\n');
    expect(lines.at(-3)).toBe('  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn'); // an empty table
    expect(out).toContain('VIP on the director after stop: none\n');

    // The program form reads lvs.conf first: a bad key is refused, named, before anything is touched.
    const dir = mkdtempSync(join(tmpdir(), 'lvs-conf-'));
    try {
      const conf = join(dir, 'lvs.conf');
      writeFileSync(conf, 'VIP=lb.example\nVIP_IF=eth0:110\nTPORTS="http"\nRIPS="10.50.0.11"\n');
      const r = spawnSync(process.execPath, ['dist/examples/seed-001-lvs-director.js', 'start', '--config', conf], { encoding: 'utf8' });
      expect(r.stderr).toBe(`lvs-director: ${conf}: VIP: "lb.example" is not an IPv4 address (host names are not resolved)\n`);
      expect(r.status).toBe(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it('seed 000: two DR directors under heartbeat; the master dies, the backup takes the VIP and the table; a dead terminal server is quiesced', () => {
    const out = example('seed-000-ha-terminal-servers');
    const lines = out.split('\n');
    expect(out).toMatch(/^authkeys "1 crc": .*authkeys:2: /m); // heartbeat's crc is refused
    expect(lines.filter((l) => /^lvs1: .*-> master/.test(l))).toHaveLength(1);
    expect(lines.filter((l) => /^lvs2: .*-> master/.test(l))).toEqual(['lvs2: backup -> master (no live master (dead: node 1))']);
    const table = (w1: number, w2: number) => `-A -t 10.60.0.100:3389 -s wlc\n-a -t 10.60.0.100:3389 -r 10.60.0.11:3389 -g -w ${w1}\n-a -t 10.60.0.100:3389 -r 10.60.0.12:3389 -g -w ${w2}\n`;
    const at = (s: string) => out.indexOf(s);
    expect(at(table(1, 1))).toBeGreaterThan(at('lvs1: backup -> master'));
    expect(out.indexOf(table(1, 1), at('lvs2: backup -> master'))).toBeGreaterThan(0); // the table followed the VIP
    expect(at(table(1, 0))).toBeGreaterThan(at('lvs2: ldirectord: 10.60.0.12:3389 weight 1 -> 0'));
    const clients = (label: string) => out.match(new RegExp(`^${label}: (.*)$`, 'm'))![1]!.split(', ');
    expect(new Set(clients('clients via lvs1'))).toEqual(new Set(['RDP ts1', 'RDP ts2'])); // wlc spreads them
    expect(new Set(clients('clients via lvs2'))).toEqual(new Set(['RDP ts1', 'RDP ts2']));
    expect(clients('clients with ts2 quiesced')).toEqual(['RDP ts1', 'RDP ts1', 'RDP ts1', 'RDP ts1']);
    expect(out).toContain("client's ARP entry for the VIP is lvs2's MAC: true\n");
    // Master within deadtime plus a couple of intervals (slack for the slow sandbox).
    expect(Number(out.match(/^lvs2 master (\d+) ms after lvs1 died/m)![1])).toBeLessThan(1000 + 2000);
    expect(lines.at(-2)).toBe('lvs2: master -> stopped (stopped)');
  }, 120_000); // several node processes start in the slow sandbox
  it("seed 002: piranha's lvs.cf runs two NAT routers under pulse; nanny takes a dead server out and back after reentry; the backup takes over", () => {
    const out = example('seed-002-piranha-nat-cluster');
    const lines = out.split('\n');
    expect(out).toContain('lvs.cf:7: rsh_command not carried over\n');
    expect(out).toMatch(/^lvs\.cf:14: load_monitor = ruptime not carried over/m);
    expect(lines.filter((l) => /^lb1: .*-> master/.test(l))).toHaveLength(1);
    const table = (...rs: [string, number][]) => `-A -t 10.70.0.100:80 -s wlc\n${rs.map(([a, w]) => `-a -t 10.70.0.100:80 -r ${a}:80 -m -w ${w}\n`).join('')}`;
    const all = table(['10.71.0.3', 2000], ['10.71.0.4', 1000], ['10.71.0.5', 1000]);
    expect(out.indexOf(all)).toBeGreaterThan(out.indexOf('lb1: backup -> master'));
    const clients = (label: string) => out.match(new RegExp(`^${label}: (.*)$`, 'm'))![1]!.split(' ');
    expect(new Set(clients('clients via lb1'))).toEqual(new Set(['rs1', 'rs2', 'rs3']));
    // nanny: ECONNREFUSED at the first check after the server stopped, then removed (not quiesced).
    expect(out).toMatch(/^lb1: nanny: 10\.71\.0\.4:80 down \(ECONNREFUSED\)\nlb1: nanny: 10\.71\.0\.4:80 removed$/m);
    expect(out).toMatch(/^rs2 removed \d+ ms after its server stopped \(timeout 1000 ms\)\n-A -t 10\.70\.0\.100:80 -s wlc\n-a -t 10\.70\.0\.100:80 -r 10\.71\.0\.3:80 -m -w 2000\n-a -t 10\.70\.0\.100:80 -r 10\.71\.0\.5:80 -m -w 1000\n/m);
    expect(new Set(clients('clients without rs2'))).toEqual(new Set(['rs1', 'rs3']));
    // reentry: three good checks (reentry / timeout) before it is back, so at least two intervals.
    expect(Number(out.match(/^rs2 re-added (\d+) ms after its server came back \(reentry 3000 ms\)$/m)![1])).toBeGreaterThanOrEqual(2000);
    expect(clients('clients with rs2 back')).toContain('rs2');
    // pulse: the backup takes over within deadtime plus slack for the slow sandbox; clients go on.
    expect(Number(out.match(/^lb2 active (\d+) ms after lb1 died \(deadtime 1000 ms\)$/m)![1])).toBeLessThan(1000 + 2000);
    expect(out.indexOf(all, out.indexOf('lb2: backup -> master'))).toBeGreaterThan(0);
    expect(clients('clients via lb2').every((c) => /^rs[123]$/.test(c))).toBe(true);
    expect(out).toContain("client's ARP entry for the VIP is lb2's: true\nreal servers' ARP entry for the NAT router is lb2's: true\n");
    expect(lines.at(-2)).toBe('lb2: master -> stopped (stopped)');
  }, 120_000); // several node processes start in the slow sandbox
  it('seed 003: NAT, DR and TUN services behind two heartbeat directors; losing the ping node makes the master give way (ipfail)', () => {
    const out = example('seed-003-heartbeat-nat-dr-tun');
    const lines = out.split('\n');
    expect(out).toContain('authkeys "1 sha1 password": /etc/ha.d/authkeys:2: method sha1 is not supported (only sha256: HMAC-SHA256)\n');
    expect(out).toContain('rstun: 1 link to bring up; 4 sysctls to set; 1 address to add\n');
    expect(out).toContain('rstun tunl0: 10.80.0.100/32\n');
    const table = [
      '-A -t 10.80.0.100:8000 -s wlc', '-a -t 10.80.0.100:8000 -r 10.80.0.11:8000 -m -w 1',
      '-A -t 10.80.0.100:8001 -s wlc', '-a -t 10.80.0.100:8001 -r 10.80.0.12:8001 -g -w 1',
      '-A -t 10.80.0.100:8002 -s wlc', '-a -t 10.80.0.100:8002 -r 10.80.0.13:8002 -i -w 1 --tun-type ipip', ''].join('\n');
    const at = (s: string, from = 0) => out.indexOf(s, from);
    expect(lines.filter((l) => /^n01: .*-> master/.test(l))).toHaveLength(1);
    expect(at(table)).toBeGreaterThan(at('n01: backup -> master'));
    expect(lines).toContain('client via n01: 8000->rsnat 8001->rsdr 8002->rstun');
    expect(lines).toContain('n01: master -> fault (tracker ping:10.80.0.60: 0 of 1 ping nodes reachable (lost 10.80.0.60))');
    expect(lines.filter((l) => /^n02: .*-> master/.test(l))).toEqual(['n02: backup -> master (no live master)']);
    expect(at(table, at('n02: backup -> master'))).toBeGreaterThan(0); // the table moved with the VIP
    expect(lines).toContain('client via n02: 8000->rsnat 8001->rsdr 8002->rstun');
    expect(out).toContain("n01's table: empty\nVIP on n01: false, on n02: true\n");
    // auto_failback off: n01 reaches the ping node again and stays backup.
    expect(lines).toContain('n01: fault -> backup (tracker ping:10.80.0.60: 1 of 1 ping nodes reachable)');
    expect(lines.filter((l) => /^n0[12]: .*-> master/.test(l))).toHaveLength(2); // n01 once, n02 once: no failback
    expect(lines.slice(-3, -1)).toEqual(['n01: backup -> stopped (stopped)', 'n02: master -> stopped (stopped)']);
    expect(Number(out.match(/^n02 master (\d+) ms after n01 lost the ping node$/m)![1])).toBeLessThan(3000);
  }, 120_000); // several node processes start in the slow sandbox
});
