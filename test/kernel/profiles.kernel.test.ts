// Host profiles on the real kernel, with real traffic between namespaces
// joined by veth pairs: a DR real server that does not answer ARP for its VIP
// but accepts connections to it; a TUN real server; a NAT director whose VIP is
// announced; revert() putting every value back; bad input refused.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errors.js';
import { director, realServer } from '../../src/system/profiles.js';
import { createNetns, run, type Netns } from './harness.js';

/** Every IPv4/IPv6 conf value that a profile could touch, and the addresses, as text. */
function hostState(ns: Netns): string {
  const sysctls = ns
    .exec('sysctl', ['-a'])
    .split('\n')
    .filter((l) => /^net\.ipv[46]\.(conf\.|ip_forward)/.test(l))
    .sort()
    .join('\n');
  // (IPv6 duplicate address detection flags change on their own as time passes.)
  const addrs = ns.ip('-o', 'addr', 'show').replace(/valid_lft.*$/gm, '').replace(/ tentative| dadfailed/g, '');
  const links = ns.ip('-o', 'link', 'show').replace(/link\/\S+ \S+ brd \S+/g, '');
  return `${sysctls}\n${addrs}\n${links}`;
}

/** Lines that differ, for readable failures. */
function differences(a: string, b: string): string[] {
  const x = a.split('\n');
  const y = b.split('\n');
  return [...x.filter((l) => !y.includes(l)).map((l) => `- ${l}`), ...y.filter((l) => !x.includes(l)).map((l) => `+ ${l}`)];
}

/** Try a TCP connection from `ns` (which makes the kernel resolve the address with ARP); resolves with what the server said, or ''. */
function tcpTalk(ns: Netns, address: string, port: number): string {
  const script = `const s=require('net').connect({host:'${address}',port:${port},timeout:1500});let d='';s.on('data',b=>d+=b);s.on('end',()=>{console.log(d);process.exit(0)});s.on('timeout',()=>{process.exit(0)});s.on('error',()=>process.exit(0));`;
  return ns.exec(process.execPath, ['-e', script]).trim();
}

function neighbour(ns: Netns, address: string): string {
  return ns.ip('neigh', 'show', address).trim();
}

function veth(a: Netns, aName: string, aAddr: string, b: Netns, bName: string, bAddr: string): void {
  run('ip', ['link', 'add', aName, 'netns', a.name, 'type', 'veth', 'peer', 'name', bName, 'netns', b.name]);
  a.ip('addr', 'add', aAddr, 'dev', aName);
  b.ip('addr', 'add', bAddr, 'dev', bName);
  a.ip('link', 'set', aName, 'up');
  b.ip('link', 'set', bName, 'up');
}

const macOf = (ns: Netns, dev: string): string => /link\/ether (\S+)/.exec(ns.ip('link', 'show', dev))![1]!;

describe('realServer (DR) between two namespaces', () => {
  let client: Netns;
  let rs: Netns;
  const VIP = '10.9.0.100';

  beforeAll(() => {
    client = createNetns('prof-client');
    rs = createNetns('prof-rs');
    veth(client, 'vethC', '10.9.0.1/24', rs, 'vethR', '10.9.0.2/24');
  });
  afterAll(() => {
    client?.destroy();
    rs?.destroy();
  });

  it('without the profile, a VIP on lo is answered by ARP (the problem the profile solves)', () => {
    rs.ip('addr', 'add', `${VIP}/32`, 'dev', 'lo');
    try {
      client.ip('neigh', 'flush', 'all');
      tcpTalk(client, VIP, 9);
      expect(neighbour(client, VIP)).toContain(`lladdr ${macOf(rs, 'vethR')}`);
    } finally {
      rs.ip('addr', 'del', `${VIP}/32`, 'dev', 'lo');
      client.ip('neigh', 'flush', 'all');
    }
  });

  it('applies: no ARP reply for the VIP, but connections to it are accepted; revert puts everything back', async () => {
    const before = hostState(rs);
    const profile = realServer({ vips: [VIP], interface: 'vethR', mode: 'dr', netns: rs.path });
    const plan = await profile.plan();
    expect(plan.summary).toBe('4 sysctls to set; 1 address to add');
    expect(differences(before, hostState(rs))).toEqual([]); // planning changes nothing

    await profile.apply();
    expect(await profile.verify()).toEqual({ ok: true, problems: [] });
    expect(rs.exec('sysctl', ['-n', 'net.ipv4.conf.all.arp_ignore']).trim()).toBe('1');
    expect(rs.exec('sysctl', ['-n', 'net.ipv4.conf.vethR.arp_announce']).trim()).toBe('2');
    expect(rs.ip('-o', 'addr', 'show', 'dev', 'lo')).toContain(`${VIP}/32`);
    expect((await profile.plan()).summary).toBe('no changes');

    // A real ARP request for the VIP from the client goes unanswered.
    client.ip('neigh', 'flush', 'all');
    tcpTalk(client, VIP, 9);
    expect(neighbour(client, VIP)).not.toContain('lladdr');

    // Traffic the director would forward (to the real server's MAC) is accepted.
    const server = rs.spawn(process.execPath, [
      '-e',
      `require('net').createServer(s=>s.end('hello from the real server')).listen(8080,'${VIP}',()=>console.log('ready'))`,
    ]);
    await new Promise<void>((resolve, reject) => {
      server.stdout!.once('data', () => resolve());
      server.once('exit', (c) => reject(new Error(`server exited ${c}`)));
    });
    client.ip('neigh', 'replace', VIP, 'lladdr', macOf(rs, 'vethR'), 'dev', 'vethC', 'nud', 'permanent');
    expect(tcpTalk(client, VIP, 8080)).toBe('hello from the real server');
    server.kill();
    client.ip('neigh', 'flush', 'all');

    await profile.revert();
    expect(differences(before, hostState(rs))).toEqual([]);
    expect((await profile.verify()).ok).toBe(false);
    await profile.revert(); // idempotent
    expect(differences(before, hostState(rs))).toEqual([]);
  });

  it('reverts only what it changed: values that were already right stay', async () => {
    rs.exec('sysctl', ['-w', 'net.ipv4.conf.all.arp_ignore=1']);
    const before = hostState(rs);
    const profile = realServer({ vips: [VIP], interface: 'vethR', mode: 'dr', netns: rs.path });
    expect((await profile.apply()).summary).toBe('3 sysctls to set; 1 address to add');
    await profile.revert();
    expect(differences(before, hostState(rs))).toEqual([]);
    expect(rs.exec('sysctl', ['-n', 'net.ipv4.conf.all.arp_ignore']).trim()).toBe('1');
    rs.exec('sysctl', ['-w', 'net.ipv4.conf.all.arp_ignore=0']);
  });

  it('refuses bad input, naming it, and changes nothing', async () => {
    const before = hostState(rs);
    expect(() => realServer({ vips: ['10.9.0.300'], interface: 'vethR', mode: 'dr' })).toThrow(InvalidArgumentError);
    expect(() => realServer({ vips: ['10.9.0.300'], interface: 'vethR', mode: 'dr' })).toThrow(/vips\[0\]/);
    expect(() => realServer({ vips: [], interface: 'vethR', mode: 'dr' })).toThrow(/vips/);
    expect(() => realServer({ vips: [VIP], interface: 'bad/name', mode: 'dr' })).toThrow(/interface/);
    expect(() => realServer({ vips: [VIP], interface: 'vethR', mode: 'nat' as 'dr' })).toThrow(/mode/);
    const missing = realServer({ vips: [VIP], interface: 'eth9', mode: 'dr', netns: rs.path });
    await expect(missing.apply()).rejects.toThrow(/eth9/);
    expect(differences(before, hostState(rs))).toEqual([]);
  });
});

describe('realServer (TUN)', () => {
  let rs: Netns;
  beforeAll(() => {
    run('modprobe', ['ipip']); // gives every namespace its tunl0
    rs = createNetns('prof-tun');
  });
  afterAll(() => rs?.destroy());

  it('brings tunl0 up with the VIP, relaxes rp_filter, and reverts all of it', async () => {
    const before = hostState(rs);
    const profile = realServer({ vips: ['10.9.1.100'], interface: 'lo', mode: 'tun', netns: rs.path });
    await profile.apply();
    expect(await profile.verify()).toEqual({ ok: true, problems: [] });
    expect(rs.ip('-o', 'link', 'show', 'tunl0')).toMatch(/[<,]UP[,>]/);
    expect(rs.ip('-o', 'addr', 'show', 'dev', 'tunl0')).toContain('10.9.1.100/32');
    expect(rs.exec('sysctl', ['-n', 'net.ipv4.conf.tunl0.rp_filter']).trim()).toBe('0');
    await profile.revert();
    // The first time a device goes up the kernel itself gives it a queueing
    // discipline and IPv6 settings (net.ipv6.conf.tunl0.*); bringing it down
    // again does not remove them. Everything else is exactly as before.
    const kernelMade = (l: string) => /^[-+] net\.ipv6\.conf\.tunl0\./.test(l) || /tunl0@NONE: .* qdisc (noop|noqueue) /.test(l);
    const diff = differences(before, hostState(rs));
    expect(diff.filter((l) => !kernelMade(l))).toEqual([]);
    expect(diff.filter((l) => l.includes('qdisc'))).toHaveLength(2); // noop -> noqueue, and only that
  });
});

describe('director (NAT) announcing its VIP', () => {
  let dir: Netns;
  let peer: Netns;
  const VIP = '10.8.0.100';

  beforeAll(() => {
    dir = createNetns('prof-dir');
    peer = createNetns('prof-peer');
    veth(dir, 'vethD', '10.8.0.1/24', peer, 'vethP', '10.8.0.2/24');
    // The peer learns addresses from gratuitous ARP.
    peer.exec('sysctl', ['-w', 'net.ipv4.conf.all.arp_accept=1']);
    peer.exec('sysctl', ['-w', 'net.ipv4.conf.vethP.arp_accept=1']);
  });
  afterAll(() => {
    dir?.destroy();
    peer?.destroy();
  });

  it('puts the VIP up, announces it (the peer learns it), turns forwarding on; revert undoes it', async () => {
    const before = hostState(dir);
    const profile = director({ vips: [VIP], interface: 'vethD', forwarding: 'nat', netns: dir.path, announce: { count: 2, intervalMs: 50 } });
    const applied = await profile.apply();
    expect(applied.summary).toBe('1 sysctl to set; 1 address to add; 1 address to announce');
    expect(await profile.verify()).toEqual({ ok: true, problems: [] });
    expect(dir.exec('sysctl', ['-n', 'net.ipv4.ip_forward']).trim()).toBe('1');
    expect(dir.ip('-o', 'addr', 'show', 'dev', 'vethD')).toContain(`${VIP}/32`);
    expect(neighbour(peer, VIP)).toContain(`lladdr ${macOf(dir, 'vethD')}`);
    await profile.revert();
    expect(differences(before, hostState(dir))).toEqual([]);
  });

  it('for DR turns ICMP redirects off and back', async () => {
    const before = hostState(dir);
    const profile = director({ vips: [VIP], interface: 'vethD', forwarding: 'dr', netns: dir.path, announce: false });
    await profile.apply();
    for (const scope of ['all', 'default', 'vethD']) {
      expect(dir.exec('sysctl', ['-n', `net.ipv4.conf.${scope}.send_redirects`]).trim()).toBe('0');
    }
    await profile.revert();
    expect(differences(before, hostState(dir))).toEqual([]);
  });
});

