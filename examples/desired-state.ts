/**
 * Keep the kernel's table equal to a desired state: plan, apply, change,
 * drain a server, and read the table back as JSON.
 *
 * Run it where the kernel has IPVS and you have CAP_NET_ADMIN, e.g. in the
 * project's sandbox: `npm run build && npm run sandbox -- node dist/examples/desired-state.js`.
 * It works in a network namespace of its own, created and deleted here.
 */
import { execFileSync } from 'node:child_process';
import { ApplyError, Ipvs, type DesiredState } from 'ipvs-ts';

const ns = `ipvs-desired-${process.pid}`;
execFileSync('ip', ['netns', 'add', ns]);
try {
  const ip = (...args: string[]) => execFileSync('ip', ['-n', ns, ...args]);
  ip('link', 'add', 'lan0', 'type', 'dummy');
  ip('addr', 'add', '10.0.0.1/16', 'dev', 'lan0');
  ip('link', 'set', 'lan0', 'up');

  const ipvs = await Ipvs.open({ netns: `/run/netns/${ns}` });
  try {
    // What we want: two web servers behind a VIP, and a DNS VIP over UDP.
    const desired: DesiredState = {
      services: [
        {
          protocol: 'tcp', address: '10.0.100.1', port: 80, scheduler: 'wlc',
          destinations: [
            { address: '10.0.1.1', forward: 'masq', port: 8080, weight: 10 },
            { address: '10.0.1.2', forward: 'masq', port: 8080, weight: 10 },
          ],
        },
        {
          protocol: 'udp', address: '10.0.100.2', port: 53, scheduler: 'rr', onePacket: true,
          destinations: [{ address: '10.0.2.1', forward: 'masq' }, { address: '10.0.2.2', forward: 'masq' }],
        },
      ],
    };

    const plan = await ipvs.plan(desired);
    console.log(`plan: ${plan.summary}`);
    const first = await ipvs.apply(desired);
    console.log(`applied ${first.applied} operations in ${first.durationMs.toFixed(0)} ms`);

    // Applying the same state again changes nothing.
    console.log(`again: ${(await ipvs.apply(desired)).plan.summary}`);

    // Take 10.0.1.2 out gently: 'quiesce' sets its weight to 0 instead of deleting it,
    // so its open connections can finish.
    const drained: DesiredState = {
      services: desired.services.map((s) => ({ ...s, destinations: s.destinations.filter((d) => d.address !== '10.0.1.2') })),
    };
    console.log(`drain: ${(await ipvs.apply(drained, { removal: 'quiesce' })).plan.summary}`);

    // A change the kernel refuses rolls the whole apply back.
    try {
      await ipvs.apply({ services: [...drained.services, { protocol: 'tcp', address: '10.0.100.3', port: 80, scheduler: 'nosuchsched', destinations: [] }] });
    } catch (e) {
      if (!(e instanceof ApplyError)) throw e;
      console.log(`refused: ${e.code}, table restored: ${e.restored}`);
    }

    // The live table, as plain data (thresholds, timeouts and daemons included).
    const snapshot = await ipvs.snapshot();
    console.log(JSON.stringify(snapshot, null, 2));
    await ipvs.flush();
  } finally {
    await ipvs.close();
  }
} finally {
  execFileSync('ip', ['netns', 'del', ns]);
}
