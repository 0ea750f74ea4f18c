/**
 * LVS-NAT director (the single-interface NAT director of the classic how-tos):
 * the VIP up and announced, forwarding on, and a virtual service whose real
 * servers are reached by masquerading — then everything taken down again.
 *
 * Run in the sandbox: `npm run build && npm run sandbox -- node dist/examples/nat-director.js`.
 * It works in network namespaces of its own (the director and a neighbour that
 * hears the gratuitous ARP), so it never touches the host it runs on.
 */
import { execFileSync } from 'node:child_process';
import { director, Ipvs } from 'ipvs-ts';

const lb = `ipvs-lb-${process.pid}`;
const peer = `ipvs-peer-${process.pid}`;
const ip = (...args: string[]) => execFileSync('ip', args);
ip('netns', 'add', lb);
ip('netns', 'add', peer);
try {
  ip('link', 'add', 'eth0', 'netns', lb, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', peer);
  ip('-n', lb, 'addr', 'add', '10.20.0.1/16', 'dev', 'eth0');
  ip('-n', peer, 'addr', 'add', '10.20.0.2/16', 'dev', 'eth0');
  for (const ns of [lb, peer]) ip('-n', ns, 'link', 'set', 'eth0', 'up');
  execFileSync('ip', ['netns', 'exec', peer, 'sysctl', '-qw', 'net.ipv4.conf.eth0.arp_accept=1']);

  const netns = `/run/netns/${lb}`;
  const host = director({ vips: ['10.20.0.100'], interface: 'eth0', forwarding: 'nat', netns, announce: { count: 2, intervalMs: 100 } });
  console.log(`host: ${(await host.apply()).summary}`);
  console.log(`verify: ${JSON.stringify(await host.verify())}`);
  console.log(`neighbour sees: ${execFileSync('ip', ['-n', peer, 'neigh', 'show', '10.20.0.100']).toString().trim()}`);

  // The virtual service: telnet and HTTP balanced over two NAT real servers.
  const ipvs = await Ipvs.open({ netns });
  try {
    await ipvs.apply({
      services: [23, 80].map((port) => ({
        protocol: 'tcp' as const, address: '10.20.0.100', port, scheduler: 'wlc',
        destinations: [{ address: '10.20.1.11', forward: 'masq' as const }, { address: '10.20.1.12', forward: 'masq' as const }],
      })),
    });
    process.stdout.write(await ipvs.save());
    await ipvs.flush();
  } finally {
    await ipvs.close();
  }

  await host.revert();
  console.log(`after revert: ${JSON.stringify(await host.verify())}`);
} finally {
  ip('netns', 'del', lb);
  ip('netns', 'del', peer);
}
