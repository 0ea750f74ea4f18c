// `ipvs-ts run` failover with the connection sync daemon following the role,
// and failover settings of imported files run through a JSON configuration
// that imports them and adds what they lack. Two director namespaces on a
// bridge: node 1 starts from a JSON importing a keepalived.conf (its
// vrrp_instance, virtual_server and global_defs lvs_sync_daemon), node 2 from
// a plain JSON with failover.syncDaemon. The master runs the master sync
// daemon and the backup the backup one (read with ipvsadm -L --daemon in each
// namespace); SIGKILL the master and the survivor runs the master daemon;
// node 1 comes back from a JSON importing an lvs.cf (syncdaemon, syncd_iface,
// syncd_id) and preempts with the VIP and the table; a SIGHUP after the
// lvs.cf changed restarts the election with the new sync id; SIGTERM stops
// the daemons each ran.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNetns, plugIntoBridge, run, type Netns } from './harness.js';
import { OutputLines } from './output-lines.js';
import { CLI_BIN as BIN } from '../helpers/cli.js';

const VIP = '10.71.0.100';
const LB = ['10.71.0.1', '10.71.0.2'] as const;
const RS = '10.71.0.11';
const HB_PORT = 16_951;
const TIMERS = { intervalMs: 100, deadMs: 600, initDeadMs: 1500 };
const KEYS = { 1: 'a shared secret of the pair' };

const KEEPALIVED = `global_defs {
   router_id lb1
   lvs_sync_daemon eth0 VI_1 id 7
}
vrrp_instance VI_1 {
    state MASTER
    interface eth0
    virtual_router_id 51
    priority 200
    advert_int 1
    unicast_src_ip ${LB[0]}
    unicast_peer {
        ${LB[1]}
    }
    virtual_ipaddress {
        ${VIP}/32
    }
}
virtual_server ${VIP} 80 {
    lb_algo rr
    lb_kind DR
    protocol TCP
    real_server ${RS} 80 {
        weight 1
    }
}
`;

const LVS_CF = `primary = ${LB[0]}
backup = ${LB[1]}
service = lvs
backup_active = 1
heartbeat = 1
heartbeat_port = ${HB_PORT}
keepalive = 1
deadtime = 3
network = direct
syncdaemon = 1
syncd_iface = eth0
syncd_id = 7
virtual web {
     active = 1
     address = ${VIP} eth0:1
     port = 80
     scheduler = rr
     protocol = tcp
     server rs1 {
         address = ${RS}
         active = 1
         weight = 1
     }
}
`;

let sw: Netns;
let lbs: Netns[] = [];
let dir: string;
const procs: ChildProcess[] = [];

const plug = (ns: Netns, name: string, address: string): void => plugIntoBridge(sw, ns, name, address);

/** Start `ipvs-ts run FILE` inside director namespace `node`; standard error is kept with the output. */
function startDaemon(node: 1 | 2, file: string): { proc: ChildProcess; out: OutputLines } {
  const proc = spawn('ip', ['netns', 'exec', lbs[node - 1]!.name, process.execPath, BIN, 'run', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  procs.push(proc);
  const out = new OutputLines(proc.stdout!);
  proc.stderr!.on('data', (d) => out.all.push(`stderr: ${String(d).trim()}`));
  return { proc, out };
}

/** Resolves once the node's last handled transition leaves it backup (a slow start may have made it master first). */
async function backupNow(out: OutputLines): Promise<void> {
  const last = out.all.filter((l) => l.startsWith('election:')).at(-1) ?? '';
  if (/-> backup /.test(last)) return;
  await out.next(/^election: \w+ -> backup /, 20_000);
}

const holdsVip = (ns: Netns) => ns.ip('-o', 'addr', 'show', 'dev', 'eth0').includes(`${VIP}/32`);
const daemons = (ns: Netns) => ns.ipvsadm('-L', '--daemon');
const MASTER_SYNC = /master sync daemon \(mcast=eth0, syncid=7/;
const BACKUP_SYNC = /backup sync daemon \(mcast=eth0, syncid=7/;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ipvs-failover-sync-'));
  sw = createNetns('fs-sw');
  sw.ip('link', 'add', 'br0', 'type', 'bridge');
  sw.ip('link', 'set', 'br0', 'up');
  lbs = [createNetns('fs-lb1'), createNetns('fs-lb2')];
  lbs.forEach((ns, i) => plug(ns, `lb${i + 1}`, LB[i]!));
  writeFileSync(join(dir, 'keepalived.conf'), KEEPALIVED);
  writeFileSync(join(dir, 'lvs.cf'), LVS_CF);
  // Node 1, first run: the keepalived.conf (relative to the JSON) with what it lacks (node ids, HMAC key, state file) and short timers.
  writeFileSync(join(dir, 'node1-keepalived.json'), JSON.stringify({
    import: { file: 'keepalived.conf' },
    failover: { nodeId: 1, peers: [{ nodeId: 2, address: LB[1] }], port: HB_PORT, ...TIMERS, keys: KEYS, stateFile: join(dir, 'node1.gen') },
  }));
  // Node 1, second run: the lvs.cf, whose draft has node 1, priority 200, the peer, the port, the VIP and the sync
  // daemon; the cluster id is the pair's (keepalived's virtual_router_id above, which lvs.cf has no counterpart of).
  writeFileSync(join(dir, 'node1-lvs.json'), JSON.stringify({
    import: { file: join(dir, 'lvs.cf'), format: 'lvs' },
    failover: { cluster: 51, ...TIMERS, keys: KEYS, stateFile: join(dir, 'node1.gen') },
  }));
  writeFileSync(join(dir, 'node2.json'), JSON.stringify({
    table: { services: [{ protocol: 'tcp', address: VIP, port: 80, scheduler: 'rr', destinations: [{ address: RS, port: 80, forward: 'route', weight: 1 }] }] },
    host: { vips: [VIP], interface: 'eth0', forwarding: 'dr' },
    failover: { nodeId: 2, priority: 100, peers: [{ nodeId: 1, address: LB[0] }], bindAddress: LB[1], port: HB_PORT, cluster: 51, ...TIMERS, keys: KEYS, stateFile: join(dir, 'node2.gen'), syncDaemon: { interface: 'eth0', syncId: 7 } },
  }));
}, 60_000);

afterAll(() => {
  for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
  for (const ns of [...lbs, sw]) ns?.destroy();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('ipvs-ts run failover: sync daemon and imported files', () => {
  it('the sync daemon follows the role; imported keepalived.conf and lvs.cf completed in JSON win the election with the VIP and the table', async () => {
    const d1 = startDaemon(1, join(dir, 'node1-keepalived.json'));
    const d2 = startDaemon(2, join(dir, 'node2.json'));
    // The priority and the rest come from keepalived.conf; the draft warning is not given (the section runs).
    await d1.out.next(/^start: failover: election started \(node 1, priority 200\)$/, 30_000, 0);
    await d1.out.next(/^election: backup -> master/, 30_000, 0);
    await d2.out.next(/^election: init -> backup/, 30_000, 0);
    await backupNow(d2.out);
    expect(d1.out.all.filter((l) => /warning: failover settings/.test(l))).toEqual([]);
    expect(holdsVip(lbs[0]!)).toBe(true);
    expect(holdsVip(lbs[1]!)).toBe(false);
    expect(lbs[0]!.ipvsadm('-Ln')).toMatch(new RegExp(`TCP\\s+${VIP}:80 rr[\\s\\S]*${RS}:80\\s+Route\\s+1`));
    expect(lbs[1]!.ipvsadm('-Ln')).not.toContain(VIP);
    expect(daemons(lbs[0]!)).toMatch(MASTER_SYNC);
    expect(daemons(lbs[0]!)).not.toMatch(BACKUP_SYNC);
    expect(daemons(lbs[1]!)).toMatch(BACKUP_SYNC);
    expect(daemons(lbs[1]!)).not.toMatch(MASTER_SYNC);

    // The master killed: the survivor leaves its backup daemon and runs the master one.
    let from = d2.out.all.length;
    d1.proc.kill('SIGKILL');
    await d2.out.next(/^election: backup -> master/, 20_000, from);
    expect(holdsVip(lbs[1]!)).toBe(true);
    expect(daemons(lbs[1]!)).toMatch(MASTER_SYNC);
    expect(daemons(lbs[1]!)).not.toMatch(BACKUP_SYNC);

    // Node 1 back from the lvs.cf: its clean start stops the master daemon the kill left, it runs the
    // backup one, then preempts (priority 200 from the draft) and takes the VIP, the table and the master daemon.
    from = d2.out.all.length;
    const d1b = startDaemon(1, join(dir, 'node1-lvs.json'));
    await d1b.out.next(/^election: init -> backup/, 30_000, 0);
    await d1b.out.next(/^election: backup -> master/, 30_000, 0);
    await d2.out.next(/^election: master -> backup/, 20_000, from);
    await backupNow(d2.out);
    expect(holdsVip(lbs[0]!)).toBe(true);
    expect(holdsVip(lbs[1]!)).toBe(false);
    expect(lbs[0]!.ipvsadm('-Ln')).toMatch(new RegExp(`TCP\\s+${VIP}:80 rr`));
    expect(lbs[1]!.ipvsadm('-Ln')).not.toContain(VIP);
    expect(daemons(lbs[0]!)).toMatch(MASTER_SYNC);
    expect(daemons(lbs[0]!)).not.toMatch(BACKUP_SYNC);
    expect(daemons(lbs[1]!)).toMatch(BACKUP_SYNC);
    expect(daemons(lbs[1]!)).not.toMatch(MASTER_SYNC);

    // SIGHUP re-reads the JSON and the file it imports: a changed syncd_id is a changed failover section, so the
    // election restarts (the peer holds the role meanwhile) and node 1 preempts again with the new sync id.
    writeFileSync(join(dir, 'lvs.cf'), LVS_CF.replace('syncd_id = 7', 'syncd_id = 8'));
    const beforeHup = d1b.out.all.length;
    d1b.proc.kill('SIGHUP');
    await d1b.out.next(/^reload: failover: failover settings changed: election restarted/, 20_000, beforeHup);
    await d1b.out.next(/^election: backup -> master/, 20_000, beforeHup);
    await backupNow(d2.out);
    expect(daemons(lbs[0]!)).toMatch(/master sync daemon \(mcast=eth0, syncid=8/);
    expect(daemons(lbs[0]!)).not.toMatch(MASTER_SYNC);
    expect(holdsVip(lbs[0]!)).toBe(true);

    // SIGTERM: the master stops its daemon as it leaves; the backup takes over with the master daemon.
    from = d2.out.all.length;
    const exited = new Promise((resolve) => d1b.proc.once('exit', resolve));
    d1b.proc.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(daemons(lbs[0]!).trim()).toBe('');
    expect(holdsVip(lbs[0]!)).toBe(false);
    await d2.out.next(/^election: backup -> master/, 20_000, from);
    expect(daemons(lbs[1]!)).toMatch(MASTER_SYNC);
    expect(daemons(lbs[1]!)).not.toMatch(BACKUP_SYNC);
    const done = new Promise((resolve) => d2.proc.once('exit', resolve));
    d2.proc.kill('SIGTERM');
    expect(await done).toBe(0);
    expect(daemons(lbs[1]!).trim()).toBe('');
    expect(holdsVip(lbs[1]!)).toBe(false);
  }, 100_000);
});
