/**
 * LVS-DR real server (the "realserver ARP script" of the classic how-tos):
 * the VIP on lo, and ARP restricted so that only the director answers for it.
 *
 * Run in the sandbox: `npm run build && npm run sandbox -- node dist/examples/dr-realserver.js`.
 * It sets up a namespace of its own standing in for the real server (with a
 * veth link to a "switch" namespace), so it never touches the host it runs on.
 * On a real server you would call `realServer({ vips, interface: 'eth0', mode: 'dr' })`
 * without `netns`.
 */
import { execFileSync } from 'node:child_process';
import { realServer } from 'ipvs-ts';

const rs = `ipvs-rs-${process.pid}`;
const lan = `ipvs-lan-${process.pid}`;
const ip = (...args: string[]) => execFileSync('ip', args);
ip('netns', 'add', rs);
ip('netns', 'add', lan);
try {
  ip('link', 'add', 'eth0', 'netns', rs, 'type', 'veth', 'peer', 'name', 'sw0', 'netns', lan);
  ip('-n', rs, 'addr', 'add', '10.10.0.2/24', 'dev', 'eth0');
  ip('-n', rs, 'link', 'set', 'eth0', 'up');
  ip('-n', rs, 'link', 'set', 'lo', 'up');

  const profile = realServer({ vips: ['10.10.0.100'], interface: 'eth0', mode: 'dr', netns: `/run/netns/${rs}` });
  const plan = await profile.plan();
  console.log(`plan: ${plan.summary}`);
  for (const s of plan.steps) console.log(`  ${s.kind === 'sysctl' ? `${s.name}: ${s.before} -> ${s.value}` : s.kind === 'address' ? `${s.address} on ${s.interface}` : s.kind}`);

  await profile.apply();
  console.log(`verify after apply: ${JSON.stringify(await profile.verify())}`);
  console.log(execFileSync('ip', ['-n', rs, '-o', '-4', 'addr', 'show', 'dev', 'lo']).toString().trim());

  await profile.revert();
  console.log(`verify after revert: ${JSON.stringify(await profile.verify())}`);
} finally {
  ip('netns', 'del', rs);
  ip('netns', 'del', lan);
}
