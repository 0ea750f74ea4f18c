/**
 * Two directors with a heartbeat between them: the higher priority one holds
 * the VIP; when it leaves, the other takes the VIP over (address up plus
 * gratuitous ARP), and every transition is printed in order.
 *
 * Run in the sandbox: `npm run build && npm run sandbox -- node dist/examples/ha-pair.js`.
 * For a self-contained demo both nodes live in this one process and talk
 * over loopback (a `Heartbeat` runs in its process's network namespace);
 * their VIPs go to two network namespaces of their own, `lb1` and `lb2`,
 * joined by a veth pair. In production each director runs its own process.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Election, Failover, Heartbeat, hook, vip, type Transition } from 'ipvs-ts';

const names = [`ipvs-lb1-${process.pid}`, `ipvs-lb2-${process.pid}`];
const ip = (...args: string[]) => execFileSync('ip', args).toString();
const dir = mkdtempSync(join(tmpdir(), 'ha-pair-'));
for (const ns of names) ip('netns', 'add', ns);
try {
  ip('link', 'add', 'eth0', 'netns', names[0]!, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', names[1]!);
  for (const ns of names) ip('-n', ns, 'link', 'set', 'eth0', 'up');

  const keys = { 1: 'a shared secret, 16 bytes or more' };
  const nodes = await Promise.all(
    [1, 2].map(async (id) => {
      const hb = await Heartbeat.open({
        nodeId: id, port: 16940 + id, bindAddress: '127.0.0.1',
        peers: [{ nodeId: 3 - id, address: '127.0.0.1', port: 16943 - id }],
        stateFile: join(dir, `node${id}.gen`), keys, activeKey: 1,
        intervalMs: 100, deadMs: 400, initDeadMs: 1000,
      });
      const election = new Election(hb, { priority: id === 1 ? 200 : 100 });
      const failover = new Failover(election, {
        resources: [
          vip({ address: '10.30.0.100/24', interface: 'eth0', netns: `/run/netns/${names[id - 1]}`, announce: { count: 2, intervalMs: 100 } }),
          hook((t: Transition) => console.log(`node ${id}: ${t.from} -> ${t.to} (${t.reason})`)),
        ],
      });
      return { id, hb, election, failover };
    }),
  );
  const master = (id: number) => new Promise<void>((resolve) => {
    const node = nodes[id - 1]!;
    if (node.election.state === 'master') return resolve();
    node.failover.on('handled', (t: Transition) => t.to === 'master' && resolve());
  });
  const holder = () => names.filter((ns) => ip('-n', ns, '-o', 'addr', 'show', 'dev', 'eth0').includes('10.30.0.100/24')).map((ns) => (ns === names[0] ? 'lb1' : 'lb2'));

  for (const n of nodes) await n.election.start();
  await master(1);
  console.log(`VIP on: ${holder().join(', ')}`);

  // Node 1 leaves: its election stops (resources released), its heartbeat says goodbye.
  nodes[0]!.election.stop();
  await nodes[0]!.failover.done;
  await nodes[0]!.hb.close();
  await master(2);
  console.log(`VIP on: ${holder().join(', ')}`);
  console.log(`node 2 dropped: ${JSON.stringify(Object.fromEntries(Object.entries(nodes[1]!.hb.stats().dropped).filter(([, n]) => n > 0)))}`);

  nodes[1]!.election.stop();
  await nodes[1]!.failover.done;
  await nodes[1]!.hb.close();
} finally {
  for (const ns of names) ip('netns', 'del', ns);
  rmSync(dir, { recursive: true, force: true });
}
