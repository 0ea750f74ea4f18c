/**
 * Seed 000, "LVS with HA for Win2k Terminal Servers": two LVS-DR directors
 * (`lvs1`, `lvs2`) under heartbeat (`ha.cf`: keepalive, deadtime, initdead,
 * ucast to the other node; `authkeys`; `haresources`: `lvs1 ldirectord`), in
 * front of terminal servers on port 3389 with `wlc`, each real server holding
 * the VIP on a loopback interface so that it does not answer ARP for it.
 *
 * The experiment: the master director dies (its process killed, its link
 * down), the backup takes the VIP and the table, and the clients reconnect to
 * the terminal servers through it; then one terminal server's service stops,
 * and the ldirectord-style check on the new master quiesces it.
 *
 * Run in the sandbox: `npm run build && npm run sandbox -- node dist/examples/seed-000-ha-terminal-servers.js`.
 * It builds its namespaces (`lvs1`, `lvs2`, `ts1`, `ts2`, a client) on one
 * bridge, starts each director as its own process (this file, `director 1|2`,
 * under `ip netns exec`: a heartbeat runs in its process's namespace), and
 * deletes it all at the end. docs/seeds.md maps the seed's files to these calls.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  Election, Failover, HealthChecker, Heartbeat, hook, Ipvs, ipvsTable, loadAuthKeys, realServer, vip,
  type FailoverResource, type HealthCheckerOptions,
} from 'ipvs-ts';
import { CLIENT, Lab } from './lab.js';

const VIP = '10.60.0.100';
const NODES = { 1: { name: 'lvs1', address: '10.60.0.2' }, 2: { name: 'lvs2', address: '10.60.0.3' } } as const;
const TS = { ts1: '10.60.0.11', ts2: '10.60.0.12' };
const INTERVAL_MS = 200; // ldirectord's checkinterval, and heartbeat's keepalive below
const DEADTIME_MS = 1000; // heartbeat's deadtime

// ldirectord.cf: virtual=VIP:3389, real=RIP:3389 gate, scheduler=wlc, checktype=connect, quiescent=yes.
const ldirectord: Omit<HealthCheckerOptions, 'netns'> = {
  service: { protocol: 'tcp', address: VIP, port: 3389, scheduler: 'wlc' },
  destinations: Object.values(TS).map((address) => ({ address, forward: 'route' as const, weight: 1 })),
  check: { type: 'tcp' },
  onDown: 'quiesce',
  intervalMs: INTERVAL_MS, timeoutMs: 1000, rise: 1, fall: 1, startJitterMs: 0, // checkinterval, checktimeout
};

/** One director: heartbeat + election + the resources of `haresources` (`lvs1 ldirectord`). */
async function runDirector(id: 1 | 2, dir: string): Promise<void> {
  const me = NODES[id];
  const other = NODES[id === 1 ? 2 : 1];
  const { keys, activeKey } = loadAuthKeys(join(dir, 'authkeys'));
  const hb = await Heartbeat.open({
    nodeId: id, bindAddress: me.address, port: 694, // ucast to the other node, udpport 694
    peers: [{ nodeId: 3 - id, address: other.address, port: 694 }],
    keys, activeKey, stateFile: join(dir, `${me.name}.gen`),
    intervalMs: INTERVAL_MS, warnMs: 500, deadMs: DEADTIME_MS, initDeadMs: 5000, // keepalive, warntime, deadtime, initdead
  });
  const election = new Election(hb, { priority: id === 1 ? 200 : 100 }); // lvs1 is the preferred node
  // ldirectord: started on the master, stopped on leaving it.
  let checker: HealthChecker | undefined;
  let ipvs: Ipvs | undefined;
  const ldirectordResource: FailoverResource = {
    name: 'ldirectord',
    async acquire() {
      ipvs = await Ipvs.open();
      checker = new HealthChecker(ipvs, ldirectord);
      checker.on('event', (e) => {
        if (e.type === 'weights') for (const c of e.changes) console.log(`${me.name}: ldirectord: ${c.destination} weight ${c.from} -> ${c.to}`);
      });
      await checker.start();
    },
    async release() {
      await checker?.stop();
      await ipvs?.close();
    },
  };
  const failover = new Failover(election, {
    resources: [
      ipvsTable({ services: [{ ...ldirectord.service, destinations: ldirectord.destinations }] }),
      vip({ address: `${VIP}/24`, interface: 'eth0', announce: { count: 3, intervalMs: 100 } }),
      ldirectordResource,
      hook((t) => console.log(`${me.name}: ${t.from} -> ${t.to} (${t.reason})`)),
    ],
  });
  await election.start();
  process.once('SIGTERM', async () => {
    election.stop();
    await failover.done;
    await hb.close();
  });
}

/** The whole setup in namespaces, and the experiment. */
async function demo(): Promise<void> {
  const lab = new Lab('s0', {
    lvs1: [`${NODES[1].address}/24`], lvs2: [`${NODES[2].address}/24`],
    ts1: [`${TS.ts1}/24`], ts2: [`${TS.ts2}/24`], client: ['10.60.0.50/24'],
  });
  const dir = mkdtempSync(join(tmpdir(), 'seed-000-'));
  try {
    // authkeys: the seed's "1 crc" is refused (no authentication at all); HMAC-SHA256 it is.
    writeFileSync(join(dir, 'authkeys'), 'auth 1\n1 crc\n', { mode: 0o600 });
    try {
      loadAuthKeys(join(dir, 'authkeys'));
    } catch (e) {
      console.log(`authkeys "1 crc": ${(e as Error).message}`);
    }
    writeFileSync(join(dir, 'authkeys'), 'auth 1\n1 sha256 terminal-servers-cluster-secret\n', { mode: 0o600 });

    // The terminal servers: the VIP on lo with the ARP settings (the seed's loopback adapter),
    // and a fake RDP service on 3389 that greets with its name.
    for (const name of ['ts1', 'ts2'] as const) {
      const rs = realServer({ vips: [VIP], interface: 'eth0', mode: 'dr', netns: lab.netns(name) });
      console.log(`${name}: ${(await rs.apply()).summary}`);
    }
    const self = fileURLToPath(import.meta.url);
    const ts = Object.fromEntries((['ts1', 'ts2'] as const).map((name) => [name,
      lab.node(name, `require('net').createServer((s) => s.on('error', () => {}).end('RDP ${name}\\n')).listen(3389, () => console.log('ready'))`)]));
    const client = lab.node('client', CLIENT);
    // lvs1 first: it is master when lvs2 joins, however slowly node starts.
    const lvs1 = lab.node('lvs1', [self, 'director', '1', dir], true);
    await lvs1.next(/^lvs1: init -> backup/);
    const lvs2 = lab.node('lvs2', [self, 'director', '2', dir], true);
    await Promise.all([ts.ts1!.next(/ready/), ts.ts2!.next(/ready/), client.next(/ready/), lvs1.next(/^lvs1: backup -> master/), lvs2.next(/^lvs2: init -> backup/)]);

    const ipvs1 = await Ipvs.open({ netns: lab.netns('lvs1') });
    while ((await ipvs1.listDestinations(ldirectord.service)).some((d) => d.weight !== 1)) await lvs1.next(/ldirectord: /);
    process.stdout.write(await ipvs1.save());
    await ipvs1.close();
    const round = async (label: string) => {
      const got: string[] = JSON.parse(await client.ask(JSON.stringify([0, 1, 2, 3].map(() => [VIP, 3389]))));
      console.log(`${label}: ${got.join(', ')}`);
    };
    await round('clients via lvs1');

    // lvs1 dies: its heartbeat process is killed and its link goes down.
    lvs2.flush();
    const diedAt = Date.now();
    lvs1.kill();
    lab.ip('lvs1', 'link', 'set', 'eth0', 'down');
    await lvs2.next(/^lvs2: backup -> master/);
    console.log(`lvs2 master ${Date.now() - diedAt} ms after lvs1 died (deadtime ${DEADTIME_MS} ms)`);
    const ipvs2 = await Ipvs.open({ netns: lab.netns('lvs2') });
    process.stdout.write(await ipvs2.save());
    const neigh = lab.ip('client', 'neigh', 'show', VIP);
    console.log(`client's ARP entry for the VIP is lvs2's MAC: ${neigh.includes(lab.mac('lvs2'))}`);
    await round('clients via lvs2');

    // ts2's terminal service stops; the host stays up.
    lvs2.flush();
    ts.ts2!.kill();
    await lvs2.next(new RegExp(`ldirectord: ${TS.ts2}:3389 weight 1 -> 0`));
    process.stdout.write(await ipvs2.save());
    await ipvs2.close();
    await round('clients with ts2 quiesced');
    lvs2.child.kill('SIGTERM');
    await lvs2.next(/^lvs2: master -> stopped/);
  } finally {
    lab.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === 'director') await runDirector(Number(process.argv[3]) as 1 | 2, process.argv[4]!);
else await demo();
