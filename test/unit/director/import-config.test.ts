// The failover's sync daemon setting (validated like the rest of the section,
// mapped from lvs.cf and keepalived.conf) and a JSON configuration importing
// a file and completing its failover settings (merge rules, errors naming the
// field and the file, the bare import's warning saying how to run it).
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../../src/errors.js';
import { failoverProblems } from '../../../src/director/failover-config.js';
import { mergeImport } from '../../../src/director/import-config.js';
import { parseDirectorConfig } from '../../../src/director/load-config.js';
import { importKeepalived } from '../../../src/importers/keepalived.js';
import { importPiranha } from '../../../src/importers/piranha.js';

const failover = { nodeId: 1, priority: 100, peers: [{ nodeId: 2, address: '10.0.0.2' }], keysFile: '/k', stateFile: '/s' };

const LVS = `serial_no = 1
primary = 10.0.0.1
service = lvs
backup_active = 1
backup = 10.0.0.2
heartbeat = 1
heartbeat_port = 1539
keepalive = 1
deadtime = 3
network = direct
syncdaemon = 1
syncd_iface = eth1
syncd_id = 9
virtual web {
     active = 1
     address = 192.0.2.10 eth0:1
     port = 80
     scheduler = rr
     protocol = tcp
     server a {
         address = 10.0.1.1
         active = 1
         weight = 1
     }
}
`;

const KEEPALIVED = `global_defs {
   router_id LB1
   lvs_sync_daemon eth1 VI_1 id 5 maxlen 1400 port 8850 ttl 2 group 239.1.2.3
}
vrrp_instance VI_1 {
    state MASTER
    interface eth0
    virtual_router_id 51
    priority 150
    advert_int 1
    unicast_src_ip 10.0.0.1
    unicast_peer {
        10.0.0.2
    }
    virtual_ipaddress {
        192.0.2.10/32
    }
}
virtual_server 192.0.2.10 80 {
    lb_algo rr
    lb_kind DR
    protocol TCP
    real_server 10.0.1.1 80 {
        TCP_CHECK {
            connect_timeout 1
        }
    }
}
`;

function problemsOf(f: () => unknown): string[] {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidArgumentError);
    return (e as InvalidArgumentError).problems;
  }
  throw new Error('expected a refusal');
}

const files: Record<string, string> = { '/etc/lvs.cf': LVS, '/etc/keepalived/keepalived.conf': KEEPALIVED };
const readImport = (name: string) => {
  if (!(name in files)) throw new Error(`no ${name}`);
  return { file: name, text: files[name]! };
};
const parse = (value: unknown) => parseDirectorConfig(JSON.stringify(value), { file: 'director.json', readImport });

describe('failover.syncDaemon', () => {
  it('takes the sync daemon fields of Ipvs.startDaemon() without state', () => {
    expect(failoverProblems({ ...failover, syncDaemon: { interface: 'eth1', syncId: 3, maxLength: 1400, multicastGroup: '239.0.0.9', multicastPort: 8850, multicastTtl: 2 } })).toEqual([]);
  });

  it('names every bad field, the state included (it follows the role)', () => {
    expect(failoverProblems({ ...failover, syncDaemon: { interface: 'a very long interface', syncId: 256, multicastGroup: '10.0.0.1', multicastTtl: 0, state: 'master' } })).toEqual([
      'failover.syncDaemon.state: unknown field (the state follows the role)',
      expect.stringMatching(/^failover\.syncDaemon\.interface: must be an interface name of 1 to 15 characters/),
      expect.stringMatching(/^failover\.syncDaemon\.syncId: /),
      'failover.syncDaemon.multicastGroup: 10.0.0.1 is not a multicast address',
      expect.stringMatching(/^failover\.syncDaemon\.multicastTtl: /),
    ]);
    expect(failoverProblems({ ...failover, syncDaemon: 'eth1' })).toEqual([expect.stringMatching(/^failover\.syncDaemon: must be an object/)]);
  });
});

describe('sync daemon settings of imported files', () => {
  it('lvs.cf: syncdaemon = 1 with syncd_iface and syncd_id', () => {
    const merged = mergeImport({ failover: { keysFile: '/k', stateFile: '/s' } }, importPiranha(LVS, { file: 'lvs.cf' }), 'lvs.cf');
    expect(merged.config.failover?.syncDaemon).toEqual({ interface: 'eth1', syncId: 9 });
  });

  it('keepalived: lvs_sync_daemon in global_defs, its options; the rest of global_defs named in one warning', () => {
    const r = importKeepalived(KEEPALIVED, { file: 'k.conf' });
    expect(r.failover?.syncDaemon).toEqual({ interface: 'eth1', instance: 'VI_1', syncId: 5, maxLength: 1400, multicastPort: 8850, multicastTtl: 2, multicastGroup: '239.1.2.3' });
    expect(r.warnings.map((w) => [w.line, w.key, w.message])).toContainEqual([1, 'global_defs', 'global_defs { router_id } not carried over']);
    const merged = mergeImport({ failover: {} }, r, 'k.conf');
    expect(merged.config.failover?.syncDaemon).toEqual({ interface: 'eth1', syncId: 5, maxLength: 1400, multicastPort: 8850, multicastTtl: 2, multicastGroup: '239.1.2.3' });
  });

  it('keepalived: the deprecated lvs_sync_daemon_interface of a vrrp_instance follows that instance; the first sync daemon given wins', () => {
    const legacy = KEEPALIVED.replace(/ {3}lvs_sync_daemon .*\n/, '').replace('    interface eth0\n', '    interface eth0\n    lvs_sync_daemon_interface eth2\n');
    const r = importKeepalived(legacy, { file: 'k.conf' });
    expect(r.failover?.syncDaemon).toEqual({ interface: 'eth2', instance: 'VI_1' });
    expect(r.failover?.vrrpInstances?.[0]).not.toHaveProperty('lvsSyncDaemonInterface');
    expect(r.warnings.map((w) => w.key)).not.toContain('lvs_sync_daemon_interface');
    expect(mergeImport({ failover: {} }, r, 'k.conf').config.failover?.syncDaemon).toEqual({ interface: 'eth2' });
    // Both forms: the global one comes first in the file and counts; the other is named in a warning with its line.
    const both = importKeepalived(KEEPALIVED.replace('    interface eth0\n', '    interface eth0\n    lvs_sync_daemon_interface eth2\n'), { file: 'k.conf' });
    expect(both.failover?.syncDaemon).toMatchObject({ interface: 'eth1', instance: 'VI_1', syncId: 5 });
    const line = KEEPALIVED.split('\n').findIndex((l) => l.includes('interface eth0')) + 2;
    expect(both.warnings).toContainEqual({ file: 'k.conf', line, key: 'lvs_sync_daemon_interface', message: 'lvs_sync_daemon_interface ignored: the sync daemon is already given (on eth1)' });
    // Twice in one instance: the first counts, the second is named.
    const twice = importKeepalived(legacy.replace('    lvs_sync_daemon_interface eth2\n', '    lvs_sync_daemon_interface eth2\n    lvs_sync_daemon_interface eth3\n'), { file: 'k.conf' });
    expect(twice.failover?.syncDaemon).toEqual({ interface: 'eth2', instance: 'VI_1' });
    expect(twice.warnings.map((w) => w.message)).toContain('lvs_sync_daemon_interface given twice: the first one counts');
  });

  it('keepalived: a sync daemon following another VRRP instance is not carried over, and said so', () => {
    const r = importKeepalived(KEEPALIVED.replace('eth1 VI_1', 'eth1 VI_2'), { file: 'k.conf' });
    const merged = mergeImport({}, r, 'k.conf');
    expect(merged.warnings.at(-1)!.message).toMatch(/not carried over: .*lvs_sync_daemon on eth1 follows vrrp_instance VI_2, not VI_1/);
  });
});

describe('a JSON configuration importing a file', () => {
  it('lvs.cf: the table and health from the file, the draft failover completed field by field', () => {
    const c = parse({ import: { file: '/etc/lvs.cf', format: 'lvs' }, failover: { keysFile: '/etc/ipvs-ts/authkeys', stateFile: '/var/lib/gen', priority: 150 } });
    expect(c.format).toBe('json');
    expect(c.imported).toEqual({ file: '/etc/lvs.cf', format: 'lvs' });
    expect(c.serviceIds).toEqual(['TCP 192.0.2.10:80']);
    expect(c.config.failover).toEqual({
      nodeId: 1, priority: 150, bindAddress: '10.0.0.1', peers: [{ nodeId: 2, address: '10.0.0.2' }], intervalMs: 1000, deadMs: 3000, port: 1539,
      syncDaemon: { interface: 'eth1', syncId: 9 }, keysFile: '/etc/ipvs-ts/authkeys', stateFile: '/var/lib/gen',
    });
    // The virtual addresses (address = VIP eth0:1) on their device, forwarded as the servers are (network = direct).
    expect(c.config.host).toEqual({ vips: ['192.0.2.10'], interface: 'eth0', forwarding: 'dr' });
    // The failover runs: no draft warning.
    expect(c.warnings.some((w) => w.key === 'failover')).toBe(false);
  });

  it('keepalived (format detected): VIPs and interface as host, a field of the JSON replaces the draft\'s whole (peers)', () => {
    const c = parse({ import: { file: '/etc/keepalived/keepalived.conf' }, failover: { nodeId: 1, peers: [{ nodeId: 2, address: '10.0.0.2' }], keys: { 1: 'a key of sixteen bytes or more' }, stateFile: '/s' }, host: { forwarding: 'nat' } });
    expect(c.imported?.format).toBe('keepalived');
    expect(c.config.host).toEqual({ vips: ['192.0.2.10'], interface: 'eth0', forwarding: 'nat' });
    // Without host.forwarding in the JSON: the method all imported destinations use (DR here).
    const derived = parse({ import: { file: '/etc/keepalived/keepalived.conf' }, failover: { nodeId: 1, peers: [{ nodeId: 2, address: '10.0.0.2' }], keys: { 1: 'a key of sixteen bytes or more' }, stateFile: '/s' } });
    expect(derived.config.host).toEqual({ vips: ['192.0.2.10'], interface: 'eth0', forwarding: 'dr' });
    expect(c.config.failover).toMatchObject({ nodeId: 1, priority: 150, cluster: 51, intervalMs: 1000, deadMs: 3000, bindAddress: '10.0.0.1', peers: [{ nodeId: 2, address: '10.0.0.2' }] });
  });

  it('table and health of the JSON replace the imported ones whole', () => {
    const table = { services: [{ protocol: 'udp', address: '192.0.2.10', port: 53, scheduler: 'rr', destinations: [] }] };
    const c = parse({ import: { file: '/etc/lvs.cf' }, table, health: [], failover: { keysFile: '/k', stateFile: '/s' } });
    expect(c.serviceIds).toEqual(['UDP 192.0.2.10:53']);
    expect(c.checkers.size).toBe(0);
  });

  it('without a failover section the imported settings are not run, and the warning says how to run them', () => {
    const c = parse({ import: { file: '/etc/lvs.cf' } });
    expect(c.config.failover).toBeUndefined();
    expect(c.warnings.find((w) => w.key === 'failover')!.message).toMatch(/use an ipvs-ts JSON configuration \{"import": \{"file": "\/etc\/lvs.cf", "format": "lvs"\}, "failover": \{\.\.\.\}\}.*still needed in "failover": keysFile or keys, stateFile/);
  });

  it('the bare imported file keeps its warning with the draft, now saying how to run it', () => {
    const c = parseDirectorConfig(KEEPALIVED, { file: '/etc/keepalived/keepalived.conf' });
    expect(c.config.failover).toBeUndefined();
    expect(c.warnings.find((w) => w.key === 'failover')!.message).toMatch(/^failover settings are not run from an imported file as it is: to run them, use an ipvs-ts JSON configuration \{"import": \{"file": "\/etc\/keepalived\/keepalived.conf", "format": "keepalived"\}.*drafted from this file: .*"syncDaemon":\{"interface":"eth1".*still needed in "failover": nodeId, keysFile or keys, stateFile, peers\[\]\.nodeId/);
  });

  it('validates the merged whole: fields from the imported file are marked with it, the JSON\'s are not', () => {
    const p = problemsOf(() => parse({ import: { file: '/etc/keepalived/keepalived.conf' }, failover: { nodeId: 1, stateFile: '/s', priority: 300 } }));
    expect(p).toEqual([
      'failover.priority: must be an integer 1..254, got 300',
      'failover.peers[0].nodeId: must be an integer 1..4294967295 (from /etc/keepalived/keepalived.conf; give failover.peers in the JSON to replace it)',
      'failover.keysFile: give exactly one of keysFile (an authkeys file) and keys (inline)',
    ]);
  });

  it('names bad import fields, an unknown file and an unreadable one', () => {
    expect(problemsOf(() => parse({ import: { file: '', format: 'json', extra: 1 } }))).toEqual([
      'import.extra: unknown field (expected file, format)',
      'import.file: missing (the ldirectord.cf, lvs.cf or keepalived.conf to import)',
      'import.format: must be one of ldirectord, lvs, keepalived, got "json"',
    ]);
    expect(() => parse({ import: { file: '/nowhere' } })).toThrow('no /nowhere');
    expect(() => parseDirectorConfig(JSON.stringify({ import: { file: '/etc/lvs.cf' } }))).toThrow(/import: cannot read imported files here/);
  });
});
