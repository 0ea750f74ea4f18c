// Desired state: normalizeState (every problem at once, with its path) and
// diffStates (the minimal ordered operations), summaries and descriptions.
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../../src/errors.js';
import {
  daemonSpecOf,
  describeOperation,
  destId,
  destinationSpecOf,
  diffStates,
  normalizeState,
  serviceSpecOf,
  type DesiredState,
  type Operation,
  type ServiceState,
} from '../../../src/ipvs/state.js';
import type { Destination, Service, Stats } from '../../../src/ipvs/types.js';
import { normalizeDestination, normalizeServiceSpec, sharedAddressBytes } from '../../../src/ipvs/validate.js';

// Casts: some inputs are wrong on purpose, as they would arrive from JSON.
type Any = any;

const WEB = { protocol: 'tcp', address: '10.0.0.1', port: 80 } as const;
const DNS = { protocol: 'udp', address: '10.0.0.2', port: 53 } as const;
const MAIL = { protocol: 'tcp', address: '10.0.0.3', port: 25 } as const;

const web = (dests: ServiceState['destinations'] = [], extra: Partial<ServiceState> = {}): ServiceState => ({ ...WEB, scheduler: 'rr', ...extra, destinations: dests });
const dns = (dests: ServiceState['destinations'] = []): ServiceState => ({ ...DNS, scheduler: 'wrr', destinations: dests });
const mail = (dests: ServiceState['destinations'] = []): ServiceState => ({ ...MAIL, scheduler: 'wlc', destinations: dests });
const masq = (address: string, weight = 1, port?: number) => ({ address, ...(port !== undefined ? { port } : {}), weight, forward: 'masq' as const });

/** Operations as plain data (they also carry normalised forms under symbol keys). */
const plain = (ops: Operation[]): unknown[] => JSON.parse(JSON.stringify(ops));
const kinds = (ops: Operation[]): string[] => ops.map((o) => o.op);

function problemsOf(fn: () => unknown): InvalidArgumentError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidArgumentError);
    return e as InvalidArgumentError;
  }
  throw new Error('expected an InvalidArgumentError, nothing was thrown');
}

describe('diffStates', () => {
  it('identical states: no operations, summary "no changes"', () => {
    const state: DesiredState = {
      services: [web([masq('10.1.0.1'), masq('10.1.0.2', 3)]), dns([masq('10.1.0.3')])],
      timeouts: { tcp: 900, tcpFin: 120, udp: 300 },
      daemons: [{ state: 'master', interface: 'eth0', syncId: 5 }],
    };
    const plan = diffStates(state, structuredClone(state));
    expect(plan.operations).toEqual([]);
    expect(plan.summary).toBe('no changes');
    expect(Object.values(plan.counts).every((n) => n === 0)).toBe(true);
  });

  it('the same table spelled differently (defaults, order, address forms) is no change', () => {
    const live: DesiredState = {
      services: [
        { protocol: 'tcp', address: '2001:db8::10', port: 80, scheduler: 'wlc', destinations: [{ address: '2001:db8::20', port: 80, weight: 1, forward: 'route' }] },
        { fwmark: 7, family: 'ipv4', scheduler: 'rr', persistence: { timeout: 300, netmask: 24 }, destinations: [] },
      ],
    };
    const desired: DesiredState = {
      services: [
        { fwmark: 7, scheduler: 'rr', persistence: { timeout: 300, netmask: '255.255.255.0' }, destinations: [] },
        { protocol: 'tcp', address: '2001:0db8:0::0010', port: 80, destinations: [{ address: '2001:db8:0:0::20' }] },
      ],
    };
    expect(diffStates(live, desired).operations).toEqual([]);
  });

  it('from an empty table: each service is added, then its destinations, service by service', () => {
    const desired: DesiredState = { services: [web([masq('10.1.0.1'), masq('10.1.0.2')]), dns([masq('10.1.0.3')])] };
    const plan = diffStates({ services: [] }, desired);
    expect(plain(plan.operations)).toEqual([
      { op: 'add-service', service: { ...WEB, scheduler: 'rr' } },
      { op: 'add-destination', service: WEB, destination: masq('10.1.0.1') },
      { op: 'add-destination', service: WEB, destination: masq('10.1.0.2') },
      { op: 'add-service', service: { ...DNS, scheduler: 'wrr' } },
      { op: 'add-destination', service: DNS, destination: masq('10.1.0.3') },
    ]);
    expect(plan.summary).toBe('add 2 services, 3 destinations');
    expect(plan.counts['add-service']).toBe(2);
    expect(plan.counts['add-destination']).toBe(3);
  });

  it('adds, updates and deletes of services and destinations: the minimal set, deletes first, adds last', () => {
    const live: DesiredState = {
      services: [
        web([masq('10.1.0.1'), masq('10.1.0.2'), masq('10.1.0.3')]),
        dns([masq('10.1.0.4')]),
        mail([masq('10.1.0.5')]),
      ],
    };
    const desired: DesiredState = {
      services: [
        // web: 10.1.0.1 unchanged, 10.1.0.2 weight 1 → 5, 10.1.0.3 deleted, 10.1.0.9 added; scheduler rr → wrr
        web([masq('10.1.0.1'), masq('10.1.0.2', 5), masq('10.1.0.9')], { scheduler: 'wrr' }),
        // dns: unchanged
        dns([masq('10.1.0.4')]),
        // mail: deleted (with its destination); a new service instead
        { protocol: 'sctp', address: '10.0.0.4', port: 2905, scheduler: 'sh', destinations: [masq('10.1.0.6')] },
      ],
    };
    const plan = diffStates(live, desired);
    expect(plain(plan.operations)).toEqual([
      { op: 'delete-destination', service: WEB, destination: { address: '10.1.0.3', port: 80 }, before: masq('10.1.0.3') },
      { op: 'update-destination', service: WEB, destination: masq('10.1.0.2', 5), before: masq('10.1.0.2') },
      { op: 'delete-service', service: MAIL, before: mail([masq('10.1.0.5')]) },
      { op: 'update-service', service: { ...WEB, scheduler: 'wrr' }, before: { ...WEB, scheduler: 'rr' } },
      { op: 'add-destination', service: WEB, destination: masq('10.1.0.9') },
      { op: 'add-service', service: { protocol: 'sctp', address: '10.0.0.4', port: 2905, scheduler: 'sh' } },
      { op: 'add-destination', service: { protocol: 'sctp', address: '10.0.0.4', port: 2905 }, destination: masq('10.1.0.6') },
    ]);
    expect(plan.summary).toBe('add 1 service, 2 destinations; update 1 service, 1 destination; delete 1 service, 1 destination');
    // A deleted service takes its destinations with it: no separate delete for them.
    expect(plan.operations.filter((o) => o.op === 'delete-destination')).toHaveLength(1);
  });

  it('order holds however the states are listed: every delete before every add, each add-service before its destinations', () => {
    const live: DesiredState = { services: Array.from({ length: 6 }, (_, i) => ({ protocol: 'tcp' as const, address: `10.0.1.${i + 1}`, port: 80, destinations: [masq(`10.2.0.${i + 1}`), masq(`10.3.0.${i + 1}`)] })) };
    const desired: DesiredState = {
      services: [
        ...Array.from({ length: 6 }, (_, i) => ({ protocol: 'tcp' as const, address: `10.0.9.${i + 1}`, port: 80, destinations: [masq(`10.4.0.${i + 1}`)] })),
        // Services kept, with one destination replaced.
        ...live.services.filter((_, i) => i % 2 === 0).map((s) => ({ ...s, destinations: [s.destinations[0]!, masq(`10.5.0.${s.destinations.length}`)] })),
      ],
    };
    const ops = diffStates(live, desired).operations;
    const lastDelete = Math.max(...ops.map((o, i) => (o.op.startsWith('delete') ? i : -1)));
    const firstAdd = Math.min(...ops.map((o, i) => (o.op.startsWith('add') ? i : Infinity)));
    expect(lastDelete).toBeLessThan(firstAdd);
    const lastDestDelete = Math.max(...ops.map((o, i) => (o.op === 'delete-destination' ? i : -1)));
    const firstServiceDelete = ops.findIndex((o) => o.op === 'delete-service');
    expect(lastDestDelete).toBeLessThan(firstServiceDelete);
    ops.forEach((o, i) => {
      if (o.op !== 'add-destination') return;
      const addedAt = ops.findIndex((a) => a.op === 'add-service' && (a.service as { address: string }).address === (o.service as { address: string }).address);
      if (addedAt >= 0) expect(addedAt).toBeLessThan(i);
    });
    expect(kinds(ops).filter((k) => k === 'delete-service')).toHaveLength(3);
    expect(kinds(ops).filter((k) => k === 'add-service')).toHaveLength(6);
    expect(kinds(ops).filter((k) => k === 'delete-destination')).toHaveLength(3);
  });

  it('a weight change is one update-destination and nothing else', () => {
    const live: DesiredState = { services: [web([masq('10.1.0.1'), masq('10.1.0.2')])] };
    const desired: DesiredState = { services: [web([masq('10.1.0.1'), masq('10.1.0.2', 7)])] };
    const plan = diffStates(live, desired);
    expect(plain(plan.operations)).toEqual([{ op: 'update-destination', service: WEB, destination: masq('10.1.0.2', 7), before: masq('10.1.0.2') }]);
    expect(plan.summary).toBe('update 1 destination');
  });

  it('a scheduler change is one update-service and nothing else', () => {
    const live: DesiredState = { services: [web([masq('10.1.0.1')])] };
    const desired: DesiredState = { services: [web([masq('10.1.0.1')], { scheduler: 'lc' })] };
    const plan = diffStates(live, desired);
    expect(plain(plan.operations)).toEqual([{ op: 'update-service', service: { ...WEB, scheduler: 'lc' }, before: { ...WEB, scheduler: 'rr' } }]);
    expect(plan.summary).toBe('update 1 service');
  });

  it.each([
    ['persistence', { persistence: { timeout: 600 } }],
    ['persistence netmask', { persistence: { timeout: 360, netmask: 16 } }, { persistence: { timeout: 360 } }],
    ['scheduler flags', { scheduler: 'sh', schedulerFlags: ['sh-port'] }, { scheduler: 'sh' }],
    ['persistence engine', { persistenceEngine: 'sip', persistence: { timeout: 60 } }, { persistence: { timeout: 60 } }],
  ] as [string, object, object?][])('a change of %s is one update-service', (_name, change, base = {}) => {
    const live: DesiredState = { services: [{ ...WEB, scheduler: 'rr', ...base, destinations: [masq('10.1.0.1')] } as ServiceState] };
    const desired: DesiredState = { services: [{ ...WEB, scheduler: 'rr', ...change, destinations: [masq('10.1.0.1')] } as ServiceState] };
    expect(kinds(diffStates(live, desired).operations)).toEqual(['update-service']);
  });

  it.each([
    ['forwarding method', masq('10.1.0.1', 1, 80), { address: '10.1.0.1', weight: 1, forward: 'route' as const }],
    ['upper threshold', { ...masq('10.1.0.1'), upperThreshold: 100 }, { ...masq('10.1.0.1'), upperThreshold: 200 }],
    ['lower threshold', { ...masq('10.1.0.1'), upperThreshold: 100 }, { ...masq('10.1.0.1'), upperThreshold: 100, lowerThreshold: 50 }],
    ['tunnel type', { address: '10.1.0.1', forward: 'tunnel' as const, tunnel: { type: 'ipip' as const } }, { address: '10.1.0.1', forward: 'tunnel' as const, tunnel: { type: 'gue' as const, port: 6080 } }],
    ['tunnel checksum', { address: '10.1.0.1', forward: 'tunnel' as const, tunnel: { type: 'gre' as const } }, { address: '10.1.0.1', forward: 'tunnel' as const, tunnel: { type: 'gre' as const, checksum: 'csum' as const } }],
  ])('a change of %s is one update-destination', (_name, before, after) => {
    const ops = diffStates({ services: [web([before])] }, { services: [web([after])] }).operations;
    expect(plain(ops)).toEqual([{ op: 'update-destination', service: WEB, destination: after, before }]);
  });

  it('a tunnel setting is ignored for a destination that does not tunnel', () => {
    // The kernel keeps tunnel fields of a destination that once tunnelled; they do not matter then.
    const live: DesiredState = { services: [web([masq('10.1.0.1')])] };
    expect(diffStates(live, { services: [web([masq('10.1.0.1', 1, 80)])] }).operations).toEqual([]);
  });

  it('a destination port change is a delete and an add (the port is part of its identity)', () => {
    const live: DesiredState = { services: [web([masq('10.1.0.1', 1, 8080)])] };
    const desired: DesiredState = { services: [web([masq('10.1.0.1', 1, 8081)])] };
    expect(kinds(diffStates(live, desired).operations)).toEqual(['delete-destination', 'add-destination']);
  });

  it("removal 'quiesce': destinations that go get weight 0 instead of a delete; those already at 0 are left alone", () => {
    const live: DesiredState = {
      services: [web([masq('10.1.0.1'), masq('10.1.0.2', 4)]), dns([masq('10.1.0.3'), masq('10.1.0.4', 0)])],
    };
    const desired: DesiredState = { services: [web([masq('10.1.0.1')])] };
    const plan = diffStates(live, desired, 'quiesce');
    expect(plain(plan.operations)).toEqual([
      { op: 'update-destination', service: WEB, destination: masq('10.1.0.2', 0), before: masq('10.1.0.2', 4) },
      { op: 'update-destination', service: DNS, destination: masq('10.1.0.3', 0), before: masq('10.1.0.3') },
    ]);
    expect(plan.summary).toBe('update 2 destinations');
    expect(plan.operations.some((o) => o.op.startsWith('delete'))).toBe(false);
    // Once quiesced, a second plan has nothing to do.
    const quiesced: DesiredState = { services: [web([masq('10.1.0.1'), masq('10.1.0.2', 0)]), dns([masq('10.1.0.3', 0), masq('10.1.0.4', 0)])] };
    expect(diffStates(quiesced, desired, 'quiesce').operations).toEqual([]);
    // The same plan with removal 'delete' deletes.
    expect(kinds(diffStates(live, desired, 'delete').operations)).toEqual(['delete-destination', 'delete-service']);
  });

  describe('timeouts and daemons are managed only when the desired state gives them', () => {
    const live: DesiredState = {
      services: [],
      timeouts: { tcp: 900, tcpFin: 120, udp: 300 },
      daemons: [{ state: 'master', interface: 'eth0', syncId: 1 }],
    };

    it('left out: untouched', () => {
      expect(diffStates(live, { services: [] }).operations).toEqual([]);
    });

    it('timeouts: only the values that differ are set; those left out are left as they are', () => {
      const plan = diffStates(live, { services: [], timeouts: { tcp: 3600, tcpFin: 120 } as Any });
      expect(plain(plan.operations)).toEqual([{ op: 'set-timeouts', timeouts: { tcp: 3600 }, before: { tcp: 900, tcpFin: 120, udp: 300 } }]);
      expect(plan.summary).toBe('set timeouts');
      expect(diffStates(live, { services: [], timeouts: { tcp: 900, tcpFin: 120, udp: 300 } }).operations).toEqual([]);
    });

    it('daemons: an empty list stops the running ones', () => {
      const plan = diffStates(live, { services: [], daemons: [] });
      expect(plain(plan.operations)).toEqual([{ op: 'stop-daemon', state: 'master', before: { state: 'master', interface: 'eth0', syncId: 1 } }]);
      expect(plan.summary).toBe('stop 1 sync daemon');
    });

    it('daemons: a changed daemon is stopped first and started last; a new one is started', () => {
      const desired: DesiredState = {
        services: [web([masq('10.1.0.1')])],
        daemons: [
          { state: 'master', interface: 'eth1', syncId: 1 },
          { state: 'backup', interface: 'eth0', syncId: 2 },
        ],
      };
      const plan = diffStates(live, desired);
      expect(kinds(plan.operations)).toEqual(['stop-daemon', 'add-service', 'add-destination', 'start-daemon', 'start-daemon']);
      expect(plan.summary).toBe('add 1 service, 1 destination; start 2 sync daemons; stop 1 sync daemon');
      // The same daemons: nothing.
      expect(diffStates(live, { services: [], daemons: [{ state: 'master', interface: 'eth0', syncId: 1 }] }).operations).toEqual([]);
    });
  });
});

describe('normalizeState', () => {
  it('an invalid desired state is refused whole: ONE InvalidArgumentError listing every problem with its path', () => {
    const desired: DesiredState = {
      services: [
        web([masq('10.1.0.1')]),
        web([masq('10.1.0.2', -1), { address: '10.1.0.999' }, masq('10.1.0.4'), { address: '10.1.0.5', upperThreshold: 5, lowerThreshold: 9 }], { address: '10.0.0.9' }),
        { protocol: 'tcp', address: 'not-an-address', port: 80, destinations: [] },
        { ...DNS, port: 70000, destinations: [] },
        dns([{ address: '10.1.0.6', forward: 'nat' as Any }]),
      ],
    };
    const e = problemsOf(() => normalizeState(desired));
    expect(e.problems).toHaveLength(6);
    expect(e.problems[0]).toMatch(/^desired\.services\[1\]\.destinations\[0\]\.weight: must be an integer from 0 to 2147483647, got -1$/);
    expect(e.problems[1]).toMatch(/^desired\.services\[1\]\.destinations\[1\]\.address: "10\.1\.0\.999" is not a valid/);
    expect(e.problems[2]).toMatch(/^desired\.services\[1\]\.destinations\[3\]\.lowerThreshold: \(9\) must not exceed upperThreshold \(5\)/);
    expect(e.problems[3]).toMatch(/^desired\.services\[2\]\.address: "not-an-address" is not a valid/);
    expect(e.problems[4]).toMatch(/^desired\.services\[3\]\.port: must be an integer from 0 to 65535, got 70000/);
    expect(e.problems[5]).toMatch(/^desired\.services\[4\]\.destinations\[0\]\.forward: unknown forwarding method "nat"/);
    expect(e.field).toBe('desired.services[1].destinations[0].weight');
    expect(e.message).toMatch(/^6 invalid fields:/);
    for (const p of e.problems) expect(e.message).toContain(p);
  });

  it('a single problem reads as "field: message"', () => {
    const e = problemsOf(() => normalizeState({ services: [web([masq('10.1.0.1', 1.5)])] }));
    expect(e.problems).toEqual(['desired.services[0].destinations[0].weight: must be an integer from 0 to 2147483647, got 1.5']);
    expect(e.message).toBe(e.problems[0]);
  });

  it('duplicates are reported: a service twice, a destination twice (also when spelled differently)', () => {
    const desired: DesiredState = {
      services: [
        web([masq('10.1.0.1'), { address: '10.1.0.1', port: 80, weight: 9 }]),
        { protocol: 'udp', address: '2001:db8::53', port: 53, destinations: [] },
        { ...WEB, scheduler: 'wrr', destinations: [] },
        { protocol: 'udp', address: '2001:DB8:0::53', port: 53, destinations: [] },
        { fwmark: 3, destinations: [] },
        { fwmark: 3, family: 'ipv4', destinations: [] },
        { fwmark: 3, family: 'ipv6', destinations: [] },
      ],
    };
    const e = problemsOf(() => normalizeState(desired));
    expect(e.problems).toEqual([
      'desired.services[0].destinations[1]: destination 10.1.0.1:80 appears twice in service TCP 10.0.0.1:80',
      'desired.services[2]: service TCP 10.0.0.1:80 appears twice',
      'desired.services[3]: service UDP [2001:db8::53]:53 appears twice',
      'desired.services[5]: service FWM 3 appears twice',
    ]);
  });

  it('timeouts and daemons problems are listed with the services ones', () => {
    const e = problemsOf(() =>
      normalizeState({
        services: [web([masq('10.1.0.1', -1)])],
        timeouts: { tcp: -5, tcpFin: 1, udp: 1 },
        daemons: [
          { state: 'master', interface: 'eth0' },
          { state: 'master', interface: 'eth1' },
          { state: 'primary' as Any, interface: 'eth0' },
        ],
      }),
    );
    expect(e.problems).toHaveLength(4);
    expect(e.problems[0]).toMatch(/^desired\.services\[0\]\.destinations\[0\]\.weight: /);
    expect(e.problems[1]).toMatch(/^desired\.timeouts\.tcp: must be an integer/);
    expect(e.problems[2]).toBe('desired.daemons[1]: a second master daemon');
    expect(e.problems[3]).toMatch(/^desired\.daemons\[2\]\.state: must be 'master' or 'backup'/);
  });

  it('a state that is not an object with a services array is refused', () => {
    expect(problemsOf(() => normalizeState(null as Any)).field).toBe('desired');
    expect(problemsOf(() => normalizeState({} as Any)).field).toBe('desired');
    expect(problemsOf(() => normalizeState({ services: [{ ...WEB, destinations: 'x' as Any }] })).problems).toEqual(['desired.services[0].destinations: must be an array']);
  });

  it('diffStates validates the desired state (the live one is taken as it is)', () => {
    expect(() => diffStates({ services: [] }, { services: [web([masq('10.1.0.1', -1)])] })).toThrow(InvalidArgumentError);
    // A live table may hold what this library would not write: a non-contiguous mask set by ipvsadm.
    const live: DesiredState = { services: [{ ...WEB, scheduler: 'rr', persistence: { timeout: 60, netmask: '255.0.255.0' }, destinations: [] }] };
    expect(() => normalizeState(live, 'live')).not.toThrow();
    expect(() => normalizeState(live)).toThrow(/not a contiguous netmask/);
  });
});

describe('summaries and descriptions', () => {
  it('summary counts every kind, singular and plural', () => {
    const live: DesiredState = {
      services: [web([masq('10.1.0.1'), masq('10.1.0.2')]), dns([masq('10.1.0.3')])],
      timeouts: { tcp: 900, tcpFin: 120, udp: 300 },
      daemons: [],
    };
    const desired: DesiredState = {
      services: [web([masq('10.1.0.2', 2)], { scheduler: 'wrr' }), mail(Array.from({ length: 20 }, (_, i) => masq(`10.2.0.${i + 1}`)))],
      timeouts: { tcp: 60, tcpFin: 120, udp: 300 },
      daemons: [{ state: 'backup', interface: 'eth0' }],
    };
    expect(diffStates(live, desired).summary).toBe(
      'add 1 service, 20 destinations; update 1 service, 1 destination; delete 1 service, 1 destination; set timeouts; start 1 sync daemon',
    );
  });

  it('describeOperation names each operation in words', () => {
    const ops: [Operation, string][] = [
      [{ op: 'add-service', service: { ...WEB, scheduler: 'rr' } }, 'add service TCP 10.0.0.1:80'],
      [{ op: 'update-service', service: { fwmark: 7 }, before: { fwmark: 7 } }, 'update service FWM 7'],
      [{ op: 'delete-service', service: { protocol: 'udp', address: '2001:db8::53', port: 53 }, before: { protocol: 'udp', address: '2001:db8::53', port: 53, destinations: [] } }, 'delete service UDP [2001:db8::53]:53'],
      [{ op: 'add-destination', service: WEB, destination: { address: '10.1.0.1', port: 8080 } }, 'add destination 10.1.0.1:8080 to service TCP 10.0.0.1:80'],
      [{ op: 'add-destination', service: { fwmark: 9, family: 'ipv6' }, destination: { address: '2001:db8::2' } }, 'add destination 2001:db8::2 to service FWM 9 IPv6'],
      [{ op: 'add-destination', service: { protocol: 'tcp', address: '2001:db8::1', port: 443 }, destination: { address: '2001:db8::2', port: 8443 } }, 'add destination [2001:db8::2]:8443 to service TCP [2001:db8::1]:443'],
      [{ op: 'update-destination', service: WEB, destination: masq('10.1.0.1', 0, 80), before: masq('10.1.0.1', 1, 80) }, 'update destination 10.1.0.1:80 in service TCP 10.0.0.1:80'],
      [{ op: 'delete-destination', service: DNS, destination: { address: '10.1.0.3', port: 53 }, before: masq('10.1.0.3') }, 'delete destination 10.1.0.3:53 from service UDP 10.0.0.2:53'],
      [{ op: 'set-timeouts', timeouts: { tcp: 60 }, before: { tcp: 900, tcpFin: 120, udp: 300 } }, 'set timeouts {"tcp":60}'],
      [{ op: 'start-daemon', daemon: { state: 'master', interface: 'eth0' } }, 'start sync daemon master'],
      [{ op: 'stop-daemon', state: 'backup', before: { state: 'backup', interface: 'eth0' } }, 'stop sync daemon backup'],
    ];
    for (const [op, text] of ops) expect(describeOperation(op)).toBe(text);
    // An invalid key is still described, not thrown.
    expect(describeOperation({ op: 'add-service', service: { protocol: 'tcp', address: 'nope', port: 1 } })).toMatch(/^add service \{/);
  });
});

describe('snapshot-shaped states', () => {
  const zero: Stats = { connections: 0n, inPackets: 0n, outPackets: 0n, inBytes: 0n, outBytes: 0n, cps: 0, inPps: 0, outPps: 0, inBps: 0, outBps: 0 };
  const service = (s: Partial<Service>): Service => ({ scheduler: 'wlc', schedulerFlags: [], onePacket: false, flags: 0, stats: zero, ...s }) as Service;
  const destination = (d: Partial<Destination>): Destination =>
    ({ family: 'ipv4', weight: 1, forward: 'route', upperThreshold: 0, lowerThreshold: 0, activeConnections: 0, inactiveConnections: 0, persistentConnections: 0, stats: zero, ...d }) as Destination;

  // What snapshot() builds from the kernel's answers.
  const live: [Service, Destination[]][] = [
    [
      service({ protocol: 'tcp', address: '10.0.0.1', port: 80, family: 'ipv4', scheduler: 'rr' }),
      [
        destination({ address: '10.1.0.1', port: 80, weight: 5, upperThreshold: 100, lowerThreshold: 10 }),
        destination({ address: '10.1.0.2', port: 8080, forward: 'masq', weight: 0 }),
        destination({ address: '10.1.0.3', port: 80, forward: 'tunnel', tunnel: { type: 'gue', port: 6080, checksum: 'remcsum' } }),
        destination({ address: '2001:db8::3', family: 'ipv6', port: 80, forward: 'tunnel', tunnel: { type: 'ipip', checksum: 'nocsum' } }),
      ],
    ],
    [service({ fwmark: 7, family: 'ipv6', scheduler: 'sh', schedulerFlags: ['sh-fallback', 'sh-port'], persistence: { timeout: 600, netmask: 64 } }), [destination({ address: '2001:db8::9', family: 'ipv6', port: 0 })]],
    [service({ protocol: 'udp', address: '10.0.0.2', port: 5060, family: 'ipv4', onePacket: true, persistenceEngine: 'sip', persistence: { timeout: 60, netmask: 32 } }), []],
    [service({ protocol: 'tcp', address: '10.0.0.3', port: 0, family: 'ipv4', persistence: { timeout: 360, netmask: 24 } }), []],
  ];
  const snapshot: DesiredState = {
    services: live.map(([s, ds]) => ({ ...serviceSpecOf(s), destinations: ds.map(destinationSpecOf) })),
    timeouts: { tcp: 900, tcpFin: 120, udp: 300 },
    daemons: [daemonSpecOf({ state: 'master', interface: 'lan0', syncId: 9, maxLength: 1472, multicastGroup: '224.0.0.81', multicastPort: 8848, multicastTtl: 1 })],
  };

  it('keeps what ipvsadm -S drops: thresholds, tunnel settings, persistence engine', () => {
    const [webSvc, fwm, sip] = snapshot.services;
    expect(webSvc!.destinations[0]).toEqual({ address: '10.1.0.1', port: 80, weight: 5, forward: 'route', upperThreshold: 100, lowerThreshold: 10 });
    expect(webSvc!.destinations[2]).toEqual({ address: '10.1.0.3', port: 80, weight: 1, forward: 'tunnel', tunnel: { type: 'gue', port: 6080, checksum: 'remcsum' } });
    expect(webSvc!.destinations[3]).toEqual({ address: '2001:db8::3', port: 80, weight: 1, forward: 'tunnel', tunnel: { type: 'ipip' } });
    expect(fwm).toMatchObject({ fwmark: 7, family: 'ipv6', schedulerFlags: ['sh-fallback', 'sh-port'], persistence: { timeout: 600, netmask: 64 } });
    expect(sip).toMatchObject({ onePacket: true, persistenceEngine: 'sip' });
  });

  it('survives JSON.stringify/parse unchanged and diffs to nothing against itself', () => {
    const parsed = JSON.parse(JSON.stringify(snapshot)) as DesiredState;
    expect(parsed).toEqual(snapshot);
    const plan = diffStates(snapshot, parsed);
    expect(plan.operations).toEqual([]);
    expect(plan.summary).toBe('no changes');
    expect(diffStates(parsed, snapshot).operations).toEqual([]);
    expect(diffStates(snapshot, parsed, 'quiesce').operations).toEqual([]);
  });

  it('a change made to the parsed copy is the only operation planned', () => {
    const parsed = JSON.parse(JSON.stringify(snapshot)) as DesiredState;
    parsed.services[0]!.destinations[0]!.upperThreshold = 200;
    const ops = diffStates(snapshot, parsed).operations;
    expect(plain(ops)).toEqual([
      {
        op: 'update-destination',
        service: { protocol: 'tcp', address: '10.0.0.1', port: 80 },
        destination: { address: '10.1.0.1', port: 80, weight: 5, forward: 'route', upperThreshold: 200, lowerThreshold: 10 },
        before: { address: '10.1.0.1', port: 80, weight: 5, forward: 'route', upperThreshold: 100, lowerThreshold: 10 },
      },
    ]);
  });
});

describe('destination identity and shared address bytes (plans key every destination by them)', () => {
  const svc4 = normalizeServiceSpec({ protocol: 'tcp', address: '192.0.2.1', port: 80, scheduler: 'rr' });
  const svc6 = normalizeServiceSpec({ protocol: 'tcp', address: '2001:db8::1', port: 80, scheduler: 'rr' });
  const id = (address: string, port: number, svc = svc4) => destId(normalizeDestination({ address, port, forward: 'masq' }, svc));

  it('tells apart every address and port, IPv4 as exact numbers and IPv6 as text', () => {
    expect(id('192.0.2.10', 80)).toBe(id('192.0.2.10', 80));
    const all = [id('192.0.2.10', 80), id('192.0.2.10', 81), id('192.0.2.11', 80), id('0.0.0.0', 0), id('255.255.255.255', 65535), id('255.255.255.255', 65534), id('2001:db8::10', 80, svc6), id('2001:db8::10', 81, svc6)];
    expect(new Set(all).size).toBe(all.length);
    expect(id('255.255.255.255', 65535)).toBe(2 ** 48 - 1);
    expect(id('2001:db8::10', 80, svc6)).toBe('[2001:db8::10]:80');
  });

  it('sharedAddressBytes shares the parsed bytes when the reply carries them, and copies anything else', () => {
    const canonical = new Uint8Array(16);
    canonical.set([192, 0, 2, 77]);
    const a = sharedAddressBytes('192.0.2.77', 'ipv4', canonical, 0, 16);
    expect(Array.from(a)).toEqual(Array.from(canonical));
    expect(sharedAddressBytes('192.0.2.77', 'ipv4', canonical, 0, 16)).toBe(a); // the same array again
    const odd = Uint8Array.from([...canonical.subarray(0, 15), 9]); // bytes past the IPv4 address not zero
    const b = sharedAddressBytes('192.0.2.77', 'ipv4', odd, 0, 16);
    expect(b).not.toBe(a);
    expect(Array.from(b)).toEqual(Array.from(odd));
    expect(Array.from(sharedAddressBytes('192.0.2.77', 'ipv4', canonical, 0, 4))).toEqual([192, 0, 2, 77]);
  });
});
