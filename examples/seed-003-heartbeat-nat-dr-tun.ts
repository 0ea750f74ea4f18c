/**
 * Seed 003, "A Brief Introduction to Linux Virtual Cluster": the three
 * forwarding methods — LVS-NAT (`masq`), LVS-DR (`route`) and LVS-TUN
 * (`tunnel`, IP-in-IP) — behind two directors under heartbeat (`ha.cf`:
 * keepalive, warntime, deadtime, initdead, `bcast eth0`, `udpport 694`,
 * `auto_failback off`, `node n01 n02`; `authkeys`; `haresources`: `n01` owns
 * the resources) with ipfail's ping node (`ping`): the director that can no
 * longer reach the ping node gives up, the other takes over.
 *
 * One VIP with a service per method: port 8000 by NAT to `rsnat` (whose
 * default route is the directors' floating gateway address), 8001 by DR to
 * `rsdr` (VIP on `lo`, ARP settings), 8002 by TUN to `rstun` (VIP on
 * `tunl0`, ARP settings, reverse-path filter off). The experiment: a client
 * reaches all three through `n01`; `n01` loses its route to the ping node;
 * `n02` takes the VIP, the gateway and the table; the client reaches all
 * three through `n02`.
 *
 * Run in the sandbox: `npm run build && npm run sandbox -- node dist/examples/seed-003-heartbeat-nat-dr-tun.js`.
 * Each director is its own process (this file, `director 1|2`), on one bridge
 * with the real servers, a client and the ping node; all deleted at the end.
 * docs/seeds.md maps the seed's files to these calls.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Election, Failover, Heartbeat, hook, Ipvs, ipvsTable, loadAuthKeys, PingTracker, realServer, Sysctl, vip, type DesiredState } from 'ipvs-ts';
import { CLIENT, Lab } from './lab.js';

const VIP = '10.80.0.100';
const GATEWAY = '10.80.0.254'; // the NAT real server's default route, held by the active director
const PING_NODE = '10.80.0.60';
const RS = { rsnat: '10.80.0.11', rsdr: '10.80.0.12', rstun: '10.80.0.13' };
const PORT = { rsnat: 8000, rsdr: 8001, rstun: 8002 };

const table: DesiredState = {
  services: ([['rsnat', 'masq'], ['rsdr', 'route'], ['rstun', 'tunnel']] as const).map(([rs, forward]) => ({
    protocol: 'tcp' as const, address: VIP, port: PORT[rs], scheduler: 'wlc',
    destinations: [{ address: RS[rs], port: PORT[rs], forward, weight: 1 }],
  })),
};

/** One director: heartbeat (ha.cf, authkeys), ipfail's ping node, and the resources of haresources. */
async function runDirector(id: 1 | 2, dir: string): Promise<void> {
  const name = `n0${id}`;
  const sysctl = Sysctl.open();
  sysctl.set('net.ipv4.ip_forward', 1); // NAT: the director routes the replies
  for (const i of ['all', 'default', 'eth0']) sysctl.set(`net.ipv4.conf.${i}.send_redirects`, 0); // one segment: no redirects to the real servers
  const { keys, activeKey } = loadAuthKeys(join(dir, 'authkeys'));
  const hb = await Heartbeat.open({
    nodeId: id, broadcast: { interface: 'eth0' }, port: 694, // bcast eth0, udpport 694
    peers: [{ nodeId: 3 - id, address: id === 1 ? '10.80.0.3' : '10.80.0.2' }], // node n01 n02
    keys, activeKey, stateFile: join(dir, `${name}.gen`),
    intervalMs: 200, warnMs: 500, deadMs: 1500, initDeadMs: 6000, // keepalive 2, warntime 5, deadtime 15, initdead 60 (÷ 10)
  });
  const election = new Election(hb, {
    priority: id === 1 ? 101 : 100, // haresources: n01 first
    preempt: false, // auto_failback off
    // ipfail: losing the ping node is a fault; the director that still reaches it takes over.
    trackers: [new PingTracker({ nodes: [PING_NODE], faultWhenNone: true, intervalMs: 200, timeoutMs: 1000 })],
  });
  const failover = new Failover(election, {
    resources: [
      ipvsTable(table),
      vip({ address: `${VIP}/24`, interface: 'eth0', announce: { count: 3, intervalMs: 100 } }),
      vip({ address: `${GATEWAY}/24`, interface: 'eth0', announce: { count: 3, intervalMs: 100 } }),
      hook((t) => console.log(`${name}: ${t.from} -> ${t.to} (${t.reason})`)),
    ],
  });
  await election.start();
  process.once('SIGTERM', async () => {
    election.stop();
    await failover.done;
    await hb.close();
  });
}

/** The cluster in namespaces, and the experiment. */
async function demo(): Promise<void> {
  execFileSync('modprobe', ['ipip']); // LVS-TUN: the kernel's IPIP module gives every namespace its tunl0
  const lab = new Lab('s3', {
    n01: ['10.80.0.2/24'], n02: ['10.80.0.3/24'],
    rsnat: [`${RS.rsnat}/24`], rsdr: [`${RS.rsdr}/24`], rstun: [`${RS.rstun}/24`],
    client: ['10.80.0.50/24'], ping: [`${PING_NODE}/24`], // the ping node only needs to answer (a RST will do)
  });
  const dir = mkdtempSync(join(tmpdir(), 'seed-003-'));
  try {
    // authkeys: the seed's "1 sha1 password" is refused; HMAC-SHA256 with a long secret it is.
    writeFileSync(join(dir, 'authkeys'), 'auth 1\n1 sha1 password\n', { mode: 0o600 });
    try {
      loadAuthKeys(join(dir, 'authkeys'));
    } catch (e) {
      console.log(`authkeys "1 sha1 password": ${(e as Error).message.replace(dir, '/etc/ha.d')}`);
    }
    writeFileSync(join(dir, 'authkeys'), 'auth 1\n1 sha256 n01-and-n02-share-this-secret\n', { mode: 0o600 });

    // The real servers: NAT (the directors' floating address as its gateway), DR and TUN.
    lab.ip('rsnat', 'route', 'del', '10.80.0.0/24', 'dev', 'eth0');
    lab.ip('rsnat', 'route', 'add', 'default', 'via', GATEWAY, 'dev', 'eth0', 'onlink');
    for (const [rs, mode] of [['rsdr', 'dr'], ['rstun', 'tun']] as const) {
      const profile = realServer({ vips: [VIP], interface: 'eth0', mode, netns: lab.netns(rs) });
      console.log(`${rs}: ${(await profile.apply()).summary}`);
    }
    const servers = (Object.keys(RS) as (keyof typeof RS)[]).map((rs) =>
      lab.node(rs, `require('net').createServer((s) => s.on('error', () => {}).end('${rs}\\n')).listen(${PORT[rs]}, () => console.log('ready'))`));
    const client = lab.node('client', CLIENT);
    const self = fileURLToPath(import.meta.url);
    // n01 first: it is master when n02 joins, however slowly node starts.
    const n01 = lab.node('n01', [self, 'director', '1', dir], true);
    await n01.next(/^n01: init -> backup/);
    const n02 = lab.node('n02', [self, 'director', '2', dir], true);
    await Promise.all([...servers.map((s) => s.next(/ready/)), client.next(/ready/), n01.next(/^n01: backup -> master/), n02.next(/^n02: init -> backup/)]);

    const save = async (host: string) => {
      const ipvs = await Ipvs.open({ netns: lab.netns(host) });
      try {
        return await ipvs.save();
      } finally {
        await ipvs.close();
      }
    };
    const show = async (host: string) => process.stdout.write(await save(host));
    const round = async (label: string) => {
      const got: string[] = JSON.parse(await client.ask(JSON.stringify(Object.values(PORT).map((p) => [VIP, p]))));
      console.log(`${label}: ${Object.keys(PORT).map((rs, i) => `${PORT[rs as keyof typeof PORT]}->${got[i]}`).join(' ')}`);
    };
    await show('n01');
    console.log(`rstun tunl0: ${/inet (\S+)/.exec(lab.ip('rstun', '-4', 'addr', 'show', 'dev', 'tunl0'))?.[1]}`);
    await round('client via n01');

    // ipfail: n01 loses its path to the ping node (heartbeats still flow).
    n02.flush();
    const cutAt = Date.now();
    lab.ip('n01', 'route', 'add', 'blackhole', `${PING_NODE}/32`);
    await n02.next(/^n02: backup -> master/);
    console.log(`n02 master ${Date.now() - cutAt} ms after n01 lost the ping node`);
    await show('n02');
    await round('client via n02');
    console.log(`n01's table: ${(await save('n01')) || 'empty'}`);
    console.log(`VIP on n01: ${lab.ip('n01', '-4', '-o', 'addr', 'show', 'to', `${VIP}/32`).trim() !== ''}, on n02: ${lab.ip('n02', '-4', '-o', 'addr', 'show', 'to', `${VIP}/32`).trim() !== ''}`);

    // n01 reaches the ping node again: it comes back as backup (auto_failback off).
    n01.flush();
    lab.ip('n01', 'route', 'del', 'blackhole', `${PING_NODE}/32`);
    await n01.next(/^n01: fault -> backup/);
    // Stop the backup first (stopped together, the backup would take over from the leaving master).
    n01.child.kill('SIGTERM');
    await n01.next(/^n01: backup -> stopped/);
    n02.child.kill('SIGTERM');
    await n02.next(/^n02: master -> stopped/);
  } finally {
    lab.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === 'director') await runDirector(Number(process.argv[3]) as 1 | 2, process.argv[4]!);
else await demo();
