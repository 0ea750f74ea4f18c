/**
 * The Ubuntu LVS-DR director of seed 004, end to end: a director with the VIP,
 * two web servers set up as DR real servers (VIP on `lo`, `arp_ignore=1`,
 * `arp_announce=2`), an `sh` service kept in step by HTTP checks in
 * ldirectord's style (`checktype=negotiate`, `request="index.html"`,
 * `receive="fake"`, `quiescent=yes`), and the seed's own experiment: take one
 * web server's link down, watch its weight go to 0 within the check interval,
 * bring it back and watch the weight return.
 *
 * Run in the sandbox: `npm run build && npm run sandbox -- node dist/examples/seed-004-dr-ldirectord.js`.
 * It builds its own namespaces — a director (`lb`), two web servers (`www1`,
 * `www2`) and a client, all on one bridge (in a `lan` namespace) — and deletes
 * them at the end. docs/seeds.md maps the seed's commands to these calls.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { director, HealthChecker, Ipvs, realServer, type HealthEvent } from 'ipvs-ts';

const tag = process.pid;
const ns = { lan: `s4-lan-${tag}`, lb: `s4-lb-${tag}`, www1: `s4-www1-${tag}`, www2: `s4-www2-${tag}`, client: `s4-cl-${tag}` };
const VIP = '10.40.0.100';
const RIP = { www1: '10.40.0.11', www2: '10.40.0.12' };
// The client connects from several source addresses: `sh` hashes the source.
const SOURCES = ['10.40.0.21', '10.40.0.22', '10.40.0.23', '10.40.0.24', '10.40.0.25', '10.40.0.26'];
const INTERVAL_MS = 200; // checkinterval
const TIMEOUT_MS = 1000; // checktimeout (a second: a busy machine can take longer than 300 ms to answer a healthy server)

const ip = (...args: string[]) => execFileSync('ip', args);
const children: ChildProcess[] = [];
const inNs = (name: string, script: string) => {
  const child = spawn('ip', ['netns', 'exec', name, process.execPath, '-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(child);
  return child;
};
const firstLine = (child: ChildProcess) => new Promise<string>((resolve) => createInterface({ input: child.stdout! }).once('line', resolve));

for (const n of Object.values(ns)) ip('netns', 'add', n);
try {
  // The LAN: a bridge, and each host's eth0 plugged into it.
  ip('-n', ns.lan, 'link', 'add', 'br0', 'type', 'bridge');
  ip('-n', ns.lan, 'link', 'set', 'br0', 'up');
  const hosts: [string, string[]][] = [[ns.lb, ['10.40.0.1/24']], [ns.www1, [`${RIP.www1}/24`]], [ns.www2, [`${RIP.www2}/24`]], [ns.client, SOURCES.map((a) => `${a}/24`)]];
  hosts.forEach(([host, addrs], i) => {
    ip('link', 'add', 'eth0', 'netns', host, 'type', 'veth', 'peer', 'name', `p${i}`, 'netns', ns.lan);
    ip('-n', ns.lan, 'link', 'set', `p${i}`, 'master', 'br0', 'up');
    for (const a of addrs) ip('-n', host, 'addr', 'add', a, 'dev', 'eth0');
    ip('-n', host, 'link', 'set', 'lo', 'up');
    ip('-n', host, 'link', 'set', 'eth0', 'up');
  });

  // The web servers (thttpd's index.html in the seed) and a client (links -dump),
  // started together: node starts slowly in the sandbox.
  const servers = (['www1', 'www2'] as const).map((name, i) => inNs(ns[name],
    `require('http').createServer((q, s) => s.end(q.url === '/index.html' || q.url === '/' ? 'This is fake WWW server ${i + 1}\\n' : 'nothing here\\n')).listen(80, () => console.log('ready'))`));
  const client = inNs(ns.client, `
    const http = require('http');
    const get = (localAddress) => new Promise((resolve) => {
      const req = http.get({ host: '${VIP}', path: '/', localAddress, agent: false, timeout: 1500 }, (res) => {
        let body = ''; res.on('data', (d) => body += d); res.on('end', () => resolve(body.trim().replace('This is fake WWW server ', 'www')));
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (e) => resolve('error ' + (e.code || e.message)));
    });
    require('readline').createInterface({ input: process.stdin }).on('line', async (line) => {
      const out = [];
      for (const src of JSON.parse(line)) out.push(await get(src));
      console.log(JSON.stringify(out));
    });
    console.log('ready');`);
  const clientLines = createInterface({ input: client.stdout! })[Symbol.asyncIterator]();
  await Promise.all([...servers.map(firstLine), clientLines.next()]);
  // One round of `links -dump http://VIP`, once from each source address.
  const round = async (label: string) => {
    client.stdin!.write(`${JSON.stringify(SOURCES)}\n`);
    const got: string[] = JSON.parse((await clientLines.next()).value);
    console.log(`${label}: ${SOURCES.map((s, i) => `${s.split('.')[3]}->${got[i]}`).join(' ')}`);
    return got;
  };

  // Real servers: the seed's S91lvs script (ARP parameters, VIP on lo).
  for (const name of ['www1', 'www2'] as const) {
    const rs = realServer({ vips: [VIP], interface: 'eth0', mode: 'dr', netns: `/run/netns/${ns[name]}` });
    console.log(`${name}: ${(await rs.apply()).summary}; verify ${JSON.stringify(await rs.verify())}`);
  }

  // Director: lvs-setup.sh (VIP on eth0) ...
  const netns = `/run/netns/${ns.lb}`;
  const host = director({ vips: [VIP], interface: 'eth0', forwarding: 'dr', netns, announce: { count: 1, intervalMs: 100 } });
  console.log(`director: ${(await host.apply()).summary}`);

  // ... and ldirectord.cf: the virtual service, its real servers and their checks.
  const ipvs = await Ipvs.open({ netns });
  const checker = new HealthChecker(ipvs, {
    service: { protocol: 'tcp', address: VIP, port: 80, scheduler: 'sh', schedulerFlags: ['sh-fallback'] },
    destinations: [
      { address: RIP.www1, forward: 'route', weight: 1 },
      { address: RIP.www2, forward: 'route', weight: 1 },
    ],
    check: { type: 'http', path: '/index.html', expect: 'fake' },
    onDown: 'quiesce',
    intervalMs: INTERVAL_MS, timeoutMs: TIMEOUT_MS, rise: 1, fall: 1, startJitterMs: 0,
    netns,
  });
  const events = checker.events();
  const until = async (pred: (e: HealthEvent) => boolean): Promise<HealthEvent> => {
    for (;;) {
      const { value } = await events.next();
      if (pred(value)) return value;
    }
  };
  const weightOf = (address: string, weight: number) => (e: HealthEvent) =>
    e.type === 'weights' && e.changes.some((c) => c.destination === `${address}:80` && c.to === weight);

  await checker.start();
  const service = { protocol: 'tcp' as const, address: VIP, port: 80 };
  while (!(await ipvs.listDestinations(service)).every((d) => d.weight === 1)) await events.next();
  process.stdout.write(await ipvs.save());
  const before = await round('round 1');

  // The experiment: "disconnect the NIC of WWW1".
  const downAt = Date.now();
  ip('-n', ns.www1, 'link', 'set', 'eth0', 'down');
  await until(weightOf(RIP.www1, 0));
  console.log(`www1 link down: weight 0 after ${Date.now() - downAt} ms (checkinterval ${INTERVAL_MS} ms, checktimeout ${TIMEOUT_MS} ms)`);
  process.stdout.write(await ipvs.save());
  await round('round 2');

  const upAt = Date.now();
  ip('-n', ns.www1, 'link', 'set', 'eth0', 'up');
  await until(weightOf(RIP.www1, 1));
  console.log(`www1 link up: weight 1 after ${Date.now() - upAt} ms`);
  process.stdout.write(await ipvs.save());
  const after = await round('round 3');
  console.log(`same servers as round 1: ${JSON.stringify(after) === JSON.stringify(before)}`);

  await checker.stop({ leave: false });
  await ipvs.close();
  await host.revert();
} finally {
  for (const c of children) c.kill('SIGKILL');
  for (const n of Object.values(ns)) ip('netns', 'del', n);
}
