/**
 * A health-checked NAT service: a HealthChecker keeps the weights of two real
 * servers in step with HTTP checks, takes one out when it becomes unreachable,
 * puts it back when it returns, and drains the other.
 *
 * Run in the sandbox: `npm run build && npm run sandbox -- node dist/examples/health-checked-service.js`.
 * It works in two network namespaces of its own — a director (`lb`) and a web
 * host (`web`) with both real servers' addresses, joined by a veth pair — and
 * deletes them at the end. The probes run inside the director's namespace.
 */
import { execFileSync, spawn } from 'node:child_process';
import { HealthChecker, Ipvs, type HealthEvent } from 'ipvs-ts';

const lb = `ipvs-hc-lb-${process.pid}`;
const web = `ipvs-hc-web-${process.pid}`;
const ip = (...args: string[]) => execFileSync('ip', args);
ip('netns', 'add', lb);
ip('netns', 'add', web);
const server = { kill: () => {} } as { kill(): void };
try {
  ip('link', 'add', 'eth0', 'netns', lb, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', web);
  ip('-n', lb, 'addr', 'add', '10.30.0.1/24', 'dev', 'eth0');
  for (const a of ['10.30.0.11/24', '10.30.0.12/24']) ip('-n', web, 'addr', 'add', a, 'dev', 'eth0');
  for (const ns of [lb, web]) {
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    ip('-n', ns, 'link', 'set', 'eth0', 'up');
  }

  // One web server process answering on both addresses.
  const child = spawn('ip', ['netns', 'exec', web, process.execPath, '-e',
    "require('http').createServer((q, s) => s.end('ok')).listen(80, () => console.log('ready'))"], { stdio: ['ignore', 'pipe', 'inherit'] });
  server.kill = () => child.kill('SIGKILL');
  await new Promise((resolve) => child.stdout!.once('data', resolve));

  const netns = `/run/netns/${lb}`;
  const ipvs = await Ipvs.open({ netns });
  const checker = new HealthChecker(ipvs, {
    service: { protocol: 'tcp', address: '10.30.0.100', port: 80, scheduler: 'wlc' },
    destinations: [
      { address: '10.30.0.11', forward: 'masq', weight: 5 },
      { address: '10.30.0.12', forward: 'masq', weight: 5 },
    ],
    check: { type: 'http', path: '/', expect: '^ok$' },
    intervalMs: 200, timeoutMs: 300, rise: 2, fall: 2, startJitterMs: 0,
    netns,
  });
  const events = checker.events();
  const until = async (pred: (e: HealthEvent) => boolean): Promise<HealthEvent> => {
    for (;;) {
      const { value } = await events.next();
      if (pred(value)) return value;
    }
  };
  const weights = (e: HealthEvent) => e.type === 'weights';

  await checker.start();
  await until((e) => weights(e) && checker.status().destinations.every((d) => d.state === 'up'));
  console.log('up:', checker.status().destinations.map((d) => `${d.address}:${d.port} ${d.state} w=${d.weight}`).join(', '));
  process.stdout.write(await ipvs.save());

  ip('-n', web, 'addr', 'del', '10.30.0.12/24', 'dev', 'eth0'); // the server becomes unreachable
  await until((e) => e.type === 'state' && e.to === 'down');
  await until(weights);
  console.log('after 10.30.0.12 became unreachable:');
  process.stdout.write(await ipvs.save());

  ip('-n', web, 'addr', 'add', '10.30.0.12/24', 'dev', 'eth0');
  await until((e) => e.type === 'state' && e.to === 'up');
  await until(weights);
  console.log('back:', checker.status().destinations.map((d) => `${d.address} ${d.state} w=${d.weight}`).join(', '));

  const outcome = await checker.drain({ address: '10.30.0.11' }, { pollMs: 100, timeoutMs: 5000 });
  console.log(`drain 10.30.0.11: drained=${outcome.drained} removed=${outcome.removed}`);
  process.stdout.write(await ipvs.save());

  await checker.stop({ leave: false });
  console.log('after stop:', JSON.stringify((await ipvs.listDestinations({ protocol: 'tcp', address: '10.30.0.100', port: 80 })).length));
  await ipvs.close();
} finally {
  server.kill();
  ip('netns', 'del', lb);
  ip('netns', 'del', web);
}
