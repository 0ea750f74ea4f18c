/**
 * Seed 001's `lvs-director` script for a single-interface LVS-NAT director,
 * as a small program taking the same subcommands and reading the same
 * `/etc/lvs.conf` keys (`VIP`, `VIP_IF`, `LVS_IF`, `TPORTS`, `UPORTS`, `RIPS`,
 * plus `SCHED`, ours, default `wlc`):
 *
 * ```
 * node dist/examples/seed-001-lvs-director.js start|stop|reload|status|update --config /etc/lvs.conf [--netns /run/netns/lb]
 * ```
 *
 * - `start`: empty the table, put the VIP on its interface (announced), turn
 *   forwarding on and ICMP redirects off, add the services.
 * - `stop`: empty the table and take the VIP down.
 * - `reload` and `update`: read the configuration, check every real server on
 *   every TCP port (a TCP connect instead of the seed's ping, which a host
 *   whose service has died still answers), and apply only the difference:
 *   untouched destinations keep their connections and counters.
 * - `status`: the table as `ipvsadm -Ln` prints it.
 *
 * Without a subcommand it runs a demonstration in namespaces of its own — a
 * director (`lb`), the two web servers (one `web` namespace holding both real
 * servers' addresses) that use it as their gateway (the seed's `lvs-route`),
 * and a client, on one bridge — and deletes them at the end:
 * `npm run build && npm run sandbox -- node dist/examples/seed-001-lvs-director.js`.
 * docs/seeds.md maps the seed's commands to these calls.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { Addresses, director, formatListing, Ipvs, runCheck, Sysctl, type DesiredState } from 'ipvs-ts';

/** What /etc/lvs.conf says. */
interface LvsConf { vip: string; vipIf: string; lvsIf: string; tports: number[]; uports: number[]; rips: string[]; sched: string }

const isIPv4 = (s: string) => /^(\d{1,3})(\.\d{1,3}){3}$/.test(s);

/** Read the shell-style `KEY=value` / `KEY="a b \<newline> c"` file the seed sources. */
function readConf(file: string): LvsConf {
  const text = readFileSync(file, 'utf8').replace(/\\\n/g, ' ');
  const vars = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Z_]+)=("([^"]*)"|'([^']*)'|(\S*))/.exec(line.replace(/(^|\s)#.*$/, ''));
    if (m) vars.set(m[1], (m[3] ?? m[4] ?? m[5]).trim());
  }
  const need = (key: string) => {
    const v = vars.get(key);
    if (v === undefined || v === '') throw new Error(`${file}: ${key} is missing`);
    return v;
  };
  const ports = (key: string, proto: string) => (vars.get(key) ?? '').split(/\s+/).filter(Boolean).map((p) => {
    const n = /^\d+$/.test(p) ? Number(p) : servicePort(p, proto);
    if (n === undefined || n < 1 || n > 65535) throw new Error(`${file}: ${key}: "${p}" is not a port number or a ${proto} service in /etc/services`);
    return n;
  });
  const vip = need('VIP');
  if (!isIPv4(vip)) throw new Error(`${file}: VIP: "${vip}" is not an IPv4 address (host names are not resolved)`);
  const rips = need('RIPS').split(/\s+/);
  for (const r of rips) if (!isIPv4(r)) throw new Error(`${file}: RIPS: "${r}" is not an IPv4 address (host names are not resolved)`);
  const conf = {
    vip, rips,
    vipIf: need('VIP_IF').split(':')[0], // eth0:110 → eth0: the alias label is only a name
    lvsIf: vars.get('LVS_IF') || 'eth0',
    tports: ports('TPORTS', 'tcp'), uports: ports('UPORTS', 'udp'),
    sched: vars.get('SCHED') || 'wlc',
  };
  if (conf.tports.length + conf.uports.length === 0) throw new Error(`${file}: TPORTS and UPORTS are both empty`);
  return conf;
}

/** A service name's port from /etc/services, as the seed's ipvsadm calls resolved them. */
function servicePort(name: string, proto: string): number | undefined {
  if (!existsSync('/etc/services')) return undefined;
  for (const line of readFileSync('/etc/services', 'utf8').split('\n')) {
    const [svc, portProto, ...aliases] = line.replace(/#.*/, '').trim().split(/\s+/);
    if (portProto === `${/^\d+/.exec(portProto)?.[0]}/${proto}` && (svc === name || aliases.includes(name))) return parseInt(portProto, 10);
  }
  return undefined;
}

/** The table the configuration asks for, with these real servers. */
function desiredState(conf: LvsConf, rips: string[]): DesiredState {
  const service = (protocol: 'tcp' | 'udp', port: number) => ({
    protocol, address: conf.vip, port, scheduler: conf.sched,
    destinations: rips.map((address) => ({ address, forward: 'masq' as const, weight: 1 })),
  });
  return { services: [...conf.tports.map((p) => service('tcp', p)), ...conf.uports.map((p) => service('udp', p))] };
}

/** The real servers that accept a TCP connection on every TCP port (or answer ICMP echo when only UDP is served). */
async function healthy(conf: LvsConf, netns: string | undefined, log: (s: string) => void): Promise<string[]> {
  const results = await Promise.all(conf.rips.map(async (address) => {
    const checks = conf.tports.length > 0
      ? conf.tports.map((port) => runCheck({ type: 'tcp' }, { address, port }, { netns, timeoutMs: 1000 }))
      : [runCheck({ type: 'icmp' }, { address, port: 0 }, { netns, timeoutMs: 1000 })];
    const failed = (await Promise.all(checks)).find((r) => !r.ok);
    if (failed) log(`  ${address} down (${failed.detail})`);
    return failed ? null : address;
  }));
  return results.filter((a): a is string => a !== null);
}

/** One subcommand, as `lvs-director <command>` ran it. */
async function command(cmd: string, conf: LvsConf, netns: string | undefined, log: (s: string) => void): Promise<void> {
  const ipvs = await Ipvs.open({ netns });
  try {
    switch (cmd) {
      case 'start': {
        await ipvs.flush();
        const host = director({ vips: [conf.vip], interface: conf.vipIf, forwarding: 'nat', netns, announce: { count: 1, intervalMs: 100 } });
        log(`start: host: ${(await host.apply()).summary}`);
        const sysctl = Sysctl.open({ netns });
        for (const i of ['all', 'default', conf.lvsIf]) sysctl.set(`net.ipv4.conf.${i}.send_redirects`, 0);
        log(`start: ${(await ipvs.apply(desiredState(conf, conf.rips))).plan.summary}`);
        return;
      }
      case 'stop': {
        await ipvs.flush();
        const addrs = Addresses.open({ netns });
        try {
          log(`stop: table flushed, VIP ${(await addrs.delete(conf.vipIf, `${conf.vip}/32`)) ? 'removed' : 'was not there'}`);
        } finally {
          addrs.close();
        }
        return;
      }
      case 'reload':
      case 'update': {
        const up = await healthy(conf, netns, log);
        log(`${cmd}: ${(await ipvs.apply(desiredState(conf, up))).plan.summary}`);
        return;
      }
      case 'status':
        log(formatListing(await ipvs.info(), await ipvs.table()).trimEnd());
        return;
      default:
        throw new Error(`unknown command "${cmd}": start, stop, reload, status or update`);
    }
  } finally {
    await ipvs.close();
  }
}

/** The demonstration: the seed's cluster in namespaces, driven through the subcommands. */
async function demo(): Promise<void> {
  const tag = process.pid;
  // Both real servers live in one namespace (`web`, two addresses): fewer node processes to start.
  const ns = { lan: `s1-lan-${tag}`, lb: `s1-lb-${tag}`, web: `s1-web-${tag}`, client: `s1-cl-${tag}` };
  const ip = (...args: string[]) => execFileSync('ip', args);
  const children: ChildProcess[] = [];
  const inNs = (name: string, script: string) => {
    const child = spawn('ip', ['netns', 'exec', name, process.execPath, '-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
    children.push(child);
    return createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  };
  const dir = mkdtempSync(join(tmpdir(), 'lvs-conf-'));
  for (const n of Object.values(ns)) ip('netns', 'add', n);
  try {
    ip('-n', ns.lan, 'link', 'add', 'br0', 'type', 'bridge');
    ip('-n', ns.lan, 'link', 'set', 'br0', 'up');
    const hosts: [string, string[]][] = [[ns.lb, ['10.50.0.1/24']], [ns.web, ['10.50.0.11/24', '10.50.0.12/24']], [ns.client, ['10.50.0.2/24']]];
    hosts.forEach(([host, addrs], i) => {
      ip('link', 'add', 'eth0', 'netns', host, 'type', 'veth', 'peer', 'name', `p${i}`, 'netns', ns.lan);
      ip('-n', ns.lan, 'link', 'set', `p${i}`, 'master', 'br0', 'up');
      for (const a of addrs) ip('-n', host, 'addr', 'add', a, 'dev', 'eth0');
      ip('-n', host, 'link', 'set', 'lo', 'up');
      ip('-n', host, 'link', 'set', 'eth0', 'up');
    });
    // lvs-route on the real servers: no subnet route, the director as default gateway.
    ip('-n', ns.web, 'route', 'del', '10.50.0.0/24', 'dev', 'eth0');
    ip('-n', ns.web, 'route', 'add', 'default', 'via', '10.50.0.1', 'dev', 'eth0', 'onlink');

    // Web servers www1 (10.50.0.11) and www2 (10.50.0.12) on ports 80 and 8080
    // ("close www2" / "listen www2" on stdin stop and restart one), and a client.
    const web = inNs(ns.web, `
      const http = require('http');
      const www = { www1: '10.50.0.11', www2: '10.50.0.12' };
      const servers = {};
      const listen = (name) => Promise.all([80, 8080].map((port) => new Promise((r) => {
        const s = http.createServer((q, res) => res.end(name + ':' + port));
        (servers[name] ??= []).push(s);
        s.listen(port, www[name], r);
      })));
      require('readline').createInterface({ input: process.stdin }).on('line', async (l) => {
        const [cmd, name] = l.split(' ');
        if (cmd === 'close') { for (const s of servers[name].splice(0)) { s.close(); s.closeAllConnections(); } console.log('closed'); }
        else { await listen(name); console.log('ready'); }
      });
      Promise.all([listen('www1'), listen('www2')]).then(() => console.log('ready'));`);
    const client = inNs(ns.client, `
      const http = require('http');
      const get = (port) => new Promise((resolve) => {
        const req = http.get({ host: '10.50.0.100', port, agent: false, timeout: 1500 }, (res) => {
          let body = ''; res.on('data', (d) => body += d); res.on('end', () => resolve(body));
        });
        req.on('timeout', () => req.destroy(new Error('timeout')));
        req.on('error', (e) => resolve('error ' + (e.code || e.message)));
      });
      require('readline').createInterface({ input: process.stdin }).on('line', async (line) => {
        const out = [];
        for (const port of JSON.parse(line)) out.push(await get(port));
        console.log(out.join(' '));
      });
      console.log('ready');`);
    await Promise.all([web.next(), client.next()]);
    const tell = async (what: string) => {
      children[0].stdin!.write(`${what}\n`);
      await web.next();
    };
    const fetch = async (label: string, ports: number[]) => {
      children[1].stdin!.write(`${JSON.stringify(ports)}\n`);
      console.log(`client ${label}: ${(await client.next()).value}`);
    };

    const file = join(dir, 'lvs.conf');
    const writeConf = (tports: string) => writeFileSync(file, [
      '# /etc/lvs.conf', 'VIP=10.50.0.100', 'VIP_IF=eth0:110', 'LVS_IF="eth0"', `TPORTS="${tports}"`, 'UPORTS=""',
      'RIPS="10.50.0.11 \\', '10.50.0.12"', 'SCHED=rr', ''].join('\n'));
    const lvsDirector = async (cmd: string) => command(cmd, readConf(file), `/run/netns/${ns.lb}`, (s) => console.log(s));

    writeConf('http');
    await lvsDirector('start');
    await lvsDirector('status');
    await fetch('through the VIP', [80, 80, 80, 80]);

    await tell('close www2');
    console.log('www2 web server stopped (the host still answers ping)');
    await lvsDirector('update');
    await fetch('through the VIP', [80, 80, 80, 80]);

    await tell('listen www2');
    console.log('www2 web server back');
    await lvsDirector('update');
    await lvsDirector('update');

    writeConf('http 8080');
    console.log('lvs.conf: TPORTS="http 8080"');
    await lvsDirector('reload');
    await lvsDirector('status');
    await fetch('through the VIP', [80, 80, 8080, 8080]);

    await lvsDirector('stop');
    await lvsDirector('status');
    console.log(`VIP on the director after stop: ${execFileSync('ip', ['-n', ns.lb, '-o', '-4', 'addr', 'show', 'to', '10.50.0.100/32']).toString().trim() || 'none'}`);
  } finally {
    for (const c of children) c.kill('SIGKILL');
    for (const n of Object.values(ns)) ip('netns', 'del', n);
    rmSync(dir, { recursive: true, force: true });
  }
}

const { positionals, values } = parseArgs({ allowPositionals: true, options: { config: { type: 'string', default: '/etc/lvs.conf' }, netns: { type: 'string' } } });
if (positionals.length === 0) {
  await demo();
} else {
  try {
    await command(positionals[0], readConf(values.config), values.netns, (s) => console.log(s));
  } catch (e) {
    console.error(`lvs-director: ${(e as Error).message}`);
    process.exitCode = 1;
  }
}
