/**
 * Quickstart: build a small virtual service and print the table.
 *
 * Run it where the kernel has IPVS and you have CAP_NET_ADMIN — for example
 * in the project's sandbox: `npm run quickstart`. It works in a network
 * namespace of its own (created with `ip netns add` and deleted at the end), so
 * it never touches the IPVS table of the namespace you run it from.
 */
import { execFileSync } from 'node:child_process';
import { Ipvs, IpvsError } from 'ipvs-ts';

const ns = `ipvs-quickstart-${process.pid}`;
execFileSync('ip', ['netns', 'add', ns]);
try {
  // The kernel only accepts real servers it can route to: give the namespace a
  // dummy interface on the real servers' and the VIP's networks.
  const ip = (...args: string[]) => execFileSync('ip', ['-n', ns, ...args]);
  ip('link', 'add', 'lan0', 'type', 'dummy');
  ip('addr', 'add', '10.0.0.1/24', 'dev', 'lan0');
  ip('addr', 'add', '192.0.2.1/24', 'dev', 'lan0');
  ip('link', 'set', 'lan0', 'up');

  const ipvs = await Ipvs.open({ netns: `/run/netns/${ns}` });
  try {
    const info = await ipvs.info();
    console.log(`IPVS ${info.version}, connection table size ${info.connTableSize}`);

    // A web VIP balanced round-robin over two NAT real servers, weighted 3:1.
    const web = { protocol: 'tcp', address: '192.0.2.10', port: 80 } as const;
    await ipvs.addService({ ...web, scheduler: 'rr' });
    await ipvs.addDestination(web, { address: '10.0.0.11', port: 8080, forward: 'masq', weight: 3 });
    await ipvs.addDestination(web, { address: '10.0.0.12', port: 8080, forward: 'masq', weight: 1 });

    // A persistent HTTPS VIP (clients stick to a server for 10 minutes) with direct routing.
    const tls = { protocol: 'tcp', address: '192.0.2.10', port: 443 } as const;
    await ipvs.addService({ ...tls, scheduler: 'wlc', persistence: { timeout: 600 } });
    await ipvs.addDestination(tls, { address: '192.0.2.21' });
    await ipvs.addDestination(tls, { address: '192.0.2.22' });

    // Errors read in the operation's terms and carry errno and code.
    try {
      await ipvs.addService({ ...web, scheduler: 'rr' });
    } catch (e) {
      if (e instanceof IpvsError) console.log(`expected error: ${e.message} [${e.code}]`);
      else throw e;
    }

    console.log('\nServices:');
    for (const s of await ipvs.listServices()) {
      const name = 'fwmark' in s ? `FWM ${s.fwmark}` : `${s.protocol.toUpperCase()} ${s.address}:${s.port}`;
      const sticky = s.persistence ? `, persistent ${s.persistence.timeout}s` : '';
      console.log(`  ${name}  scheduler ${s.scheduler}${sticky}`);
      const key = 'fwmark' in s ? { fwmark: s.fwmark, family: s.family } : { protocol: s.protocol, address: s.address, port: s.port };
      for (const d of await ipvs.listDestinations(key)) {
        console.log(`    -> ${d.address}:${d.port}  ${d.forward}  weight ${d.weight}`);
      }
    }

    console.log('\nAs ipvsadm -Sn would print it:');
    process.stdout.write(await ipvs.save());
    await ipvs.flush();
  } finally {
    await ipvs.close();
  }
} finally {
  execFileSync('ip', ['netns', 'del', ns]);
}
