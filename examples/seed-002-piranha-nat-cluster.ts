/**
 * Seed 002, Red Hat's piranha "five-node cluster": two LVS routers (`lb1`
 * active, `lb2` backup) between a public network and a private one, three web
 * servers behind them with LVS-NAT, all from the seed's own `/etc/lvs.cf`
 * (addresses moved to the example's namespaces, times shortened), read by
 * `importPiranha()`:
 *
 * - pulse: the heartbeat between the routers (`keepalive`, `deadtime`,
 *   `heartbeat_port`); the active one holds the VIP (`address = ... eth0:1`),
 *   the NAT router address (`nat_router = ... eth1:1`), the IPVS table and
 *   the nannies;
 * - nanny: one check per real server, `send`/`expect`, every `timeout`; a
 *   server that fails is taken out at once, and put back after `reentry`
 *   seconds of good checks.
 *
 * The experiment: a web server stops (nanny takes it out), comes back (nanny
 * puts it back after `reentry`), then the active router dies and the backup
 * takes over everything; the clients go on through it.
 *
 * lvs.cf counts whole seconds; the example runs ten times faster (`SPEED`):
 * every time read from it is divided by 10.
 *
 * Run in the sandbox: `npm run build && npm run sandbox -- node dist/examples/seed-002-piranha-nat-cluster.js`.
 * Each router is its own process (this file, `director <address>`), as pulse
 * was. docs/seeds.md maps lvs.cf's keys to these calls.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  Election, Failover, HealthChecker, Heartbeat, hook, importPiranha, Ipvs, ipvsTable, Sysctl, vip,
  type FailoverResource,
} from 'ipvs-ts';
import { CLIENT, Lab } from './lab.js';

const SPEED = 10;

// The seed's lvs.cf (section 9.2, without its column of step numbers), with
// 1.2.3.x → 10.70.0.x, 192.168.1.x → 10.71.0.x, reentry 30 instead of 180,
// and nanny's send/expect for HTTP.
const LVS_CF = `# Global section
primary = 10.70.0.2
backup = 10.70.0.3
keepalive = 2
deadtime = 10
heartbeat_port = 1050
rsh_command = rsh
network = nat
nat_router = 10.71.0.254 eth1:1
# Per-virtual-server section
virtual server vs1 {
 address = 10.70.0.100 eth0:1
 active = 1
 load_monitor = ruptime
 timeout = 10
 reentry = 30
 port = 80
 send = "GET / HTTP/1.0\\r\\n\\r\\n"
 expect = "HTTP/1.1 200"
 scheduler = wlc
# Per-real-server section
 server rs1 {
  address = 10.71.0.3
  active = 1
  weight = 2000
 }
 server rs2 {
  address = 10.71.0.4
  active = 1
  weight = 1000
 }
 server rs3 {
  address = 10.71.0.5
  active = 1
  weight = 1000
 }
}
`;

/** What importPiranha() puts in `failover` for pulse. */
interface Pulse {
  primary: string;
  backup: string;
  keepaliveMs: number;
  deadtimeMs: number;
  heartbeatPort: number;
  natRouter: { address: string; interface: string };
  virtualAddresses: { address: string; interface: string }[];
}

/** One LVS router: pulse (heartbeat + election), the floating addresses, the table and the nannies. */
async function runRouter(me: string, dir: string): Promise<void> {
  const { desired, health, failover } = importPiranha(readFileSync(join(dir, 'lvs.cf'), 'utf8'), { file: 'lvs.cf' });
  const pulse = failover as unknown as Pulse;
  const id = me === pulse.primary ? 1 : 2;
  const name = `lb${id}`;
  Sysctl.open().set('net.ipv4.ip_forward', 1); // FORWARD_IPV4=yes
  const hb = await Heartbeat.open({
    nodeId: id, bindAddress: me, port: pulse.heartbeatPort,
    peers: [{ nodeId: 3 - id, address: id === 1 ? pulse.backup : pulse.primary, port: pulse.heartbeatPort }],
    keys: { 1: 'pulse had no key; ours signs every heartbeat' }, activeKey: 1, stateFile: join(dir, `${name}.gen`),
    intervalMs: pulse.keepaliveMs / SPEED, deadMs: pulse.deadtimeMs / SPEED, initDeadMs: 5000,
  });
  // The backup stays a hot standby when the primary comes back (no failback).
  const election = new Election(hb, { priority: id === 1 ? 200 : 100, preempt: false });

  // nanny: one checker per virtual server, started on the active router only.
  let ipvs: Ipvs | undefined;
  let nannies: HealthChecker[] = [];
  const nanny: FailoverResource = {
    name: 'nanny',
    async acquire() {
      ipvs = await Ipvs.open();
      nannies = health.map((h, i) => {
        const { destinations, ...service } = desired.services[i]!; // one health entry per service, in order
        const checker = new HealthChecker(ipvs!, {
          service, destinations, check: { ...h.check, timeoutMs: h.intervalMs / SPEED },
          intervalMs: h.intervalMs / SPEED, rise: h.rise, fall: h.fall, onDown: h.onDown, startJitterMs: 0,
        });
        checker.on('event', (e) => {
          if (e.type === 'state' && e.to === 'down') console.log(`${name}: nanny: ${e.destination} down (${e.result?.detail})`);
          if (e.type !== 'weights') return;
          for (const c of e.changes) console.log(`${name}: nanny: ${c.destination} ${c.to === null ? 'removed' : c.from === null ? `added, weight ${c.to}` : `weight ${c.from} -> ${c.to}`}`);
        });
        return checker;
      });
      for (const n of nannies) await n.start();
    },
    async release() {
      for (const n of nannies) await n.stop();
      await ipvs?.close();
    },
  };
  const floating = (a: { address: string; interface: string }): FailoverResource =>
    vip({ address: `${a.address}/24`, interface: a.interface.split(':')[0]!, announce: { count: 3, intervalMs: 100 } });
  const router = new Failover(election, {
    resources: [
      ipvsTable(desired),
      ...pulse.virtualAddresses.map(floating), // eth0:1 is a label: the address goes on eth0
      floating(pulse.natRouter),
      nanny,
      hook((t) => console.log(`${name}: ${t.from} -> ${t.to} (${t.reason})`)),
    ],
  });
  await election.start();
  process.once('SIGTERM', async () => {
    election.stop();
    await router.done;
    await hb.close();
  });
}

/** The five nodes (and a client) in namespaces, and the experiment. */
async function demo(): Promise<void> {
  const lab = new Lab('s2', {
    lb1: { public: ['10.70.0.2/24'], private: ['10.71.0.1/24'] },
    lb2: { public: ['10.70.0.3/24'], private: ['10.71.0.2/24'] },
    rs: { private: ['10.71.0.3/24', '10.71.0.4/24', '10.71.0.5/24'] }, // rs1, rs2, rs3 in one namespace
    client: { public: ['10.70.0.50/24'] },
  });
  const dir = mkdtempSync(join(tmpdir(), 'seed-002-'));
  try {
    writeFileSync(join(dir, 'lvs.cf'), LVS_CF);
    const conf = importPiranha(LVS_CF, { file: 'lvs.cf' });
    for (const w of conf.warnings) console.log(`lvs.cf:${w.line}: ${w.message}`);
    const timeoutMs = conf.health[0]!.intervalMs / SPEED;
    const reentryMs = conf.health[0]!.rise * timeoutMs;
    const deadtimeMs = (conf.failover as unknown as Pulse).deadtimeMs / SPEED;
    // The real servers' default route is the NAT router address, which only the active router holds.
    lab.ip('rs', 'route', 'add', 'default', 'via', '10.71.0.254');

    const rs = lab.node('rs', `
      const http = require('http');
      const rs = { rs1: '10.71.0.3', rs2: '10.71.0.4', rs3: '10.71.0.5' };
      const servers = {};
      const listen = (name) => new Promise((r) => { servers[name] = http.createServer((q, s) => s.end(name + '\\n')).listen(80, rs[name], r); });
      require('readline').createInterface({ input: process.stdin }).on('line', async (l) => {
        const [cmd, name] = l.split(' ');
        if (cmd === 'stop') { servers[name].close(); servers[name].closeAllConnections(); console.log('stopped'); }
        else { await listen(name); console.log('listening'); }
      });
      Promise.all(Object.keys(rs).map(listen)).then(() => console.log('ready'));`);
    const client = lab.node('client', CLIENT);
    const self = fileURLToPath(import.meta.url);
    // The primary first: it is active when the backup joins, however slowly node starts.
    const lb1 = lab.node('lb1', [self, 'director', '10.70.0.2', dir], true);
    await lb1.next(/^lb1: init -> backup/);
    const lb2 = lab.node('lb2', [self, 'director', '10.70.0.3', dir], true);
    await Promise.all([rs.next(/ready/), client.next(/ready/), lb1.next(/^lb1: backup -> master/), lb2.next(/^lb2: init -> backup/)]);

    const table = async (host: string) => {
      const ipvs = await Ipvs.open({ netns: lab.netns(host) });
      process.stdout.write(await ipvs.save());
      await ipvs.close();
    };
    const round = async (label: string) => {
      const got: string[] = JSON.parse(await client.ask(JSON.stringify(Array.from({ length: 8 }, () => ['10.70.0.100', 80]))));
      console.log(`${label}: ${got.join(' ')}`);
    };
    const ipvs1 = await Ipvs.open({ netns: lab.netns('lb1') });
    while ((await ipvs1.listDestinations(conf.desired.services[0]!)).length < 3) await lb1.next(/nanny: .* added/); // first checks
    await ipvs1.close();
    await table('lb1');
    await round('clients via lb1');

    // nanny: rs2's web server stops (the host still answers ping) ...
    lb1.flush();
    await rs.ask('stop rs2');
    const stoppedAt = Date.now();
    await lb1.next(/^lb1: nanny: 10\.71\.0\.4:80 removed/);
    console.log(`rs2 removed ${Date.now() - stoppedAt} ms after its server stopped (timeout ${timeoutMs} ms)`);
    await table('lb1');
    await round('clients without rs2');
    // ... and comes back: re-added after `reentry` of good checks.
    lb1.flush();
    await rs.ask('listen rs2');
    const backAt = Date.now();
    await lb1.next(/^lb1: nanny: 10\.71\.0\.4:80 added/);
    console.log(`rs2 re-added ${Date.now() - backAt} ms after its server came back (reentry ${reentryMs} ms)`);
    await round('clients with rs2 back');

    // pulse: the active router dies (process killed, both links down).
    lb2.flush();
    const diedAt = Date.now();
    lb1.kill();
    lab.ip('lb1', 'link', 'set', 'eth0', 'down');
    lab.ip('lb1', 'link', 'set', 'eth1', 'down');
    await lb2.next(/^lb2: backup -> master/);
    console.log(`lb2 active ${Date.now() - diedAt} ms after lb1 died (deadtime ${deadtimeMs} ms)`);
    await table('lb2');
    await round('clients via lb2');
    console.log(`client's ARP entry for the VIP is lb2's: ${lab.ip('client', 'neigh', 'show', '10.70.0.100').includes(lab.mac('lb2', 'eth0'))}`);
    console.log(`real servers' ARP entry for the NAT router is lb2's: ${lab.ip('rs', 'neigh', 'show', '10.71.0.254').includes(lab.mac('lb2', 'eth1'))}`);
    lb2.child.kill('SIGTERM');
    await lb2.next(/^lb2: master -> stopped/);
  } finally {
    lab.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === 'director') await runRouter(process.argv[3]!, process.argv[4]!);
else await demo();
