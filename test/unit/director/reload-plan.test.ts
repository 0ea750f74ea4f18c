// The reload planner: only the difference, only owned services, and the
// weights of health-checked destinations left to their checkers.
import { describe, expect, it } from 'vitest';
import { validateDirectorConfig, type DirectorConfig } from '../../../src/director/config.js';
import { exitPlan, reloadPlan, wantedTable } from '../../../src/director/reload-plan.js';
import { describeOperation, type DesiredState } from '../../../src/ipvs/state.js';

const svc = (port: number) => ({ protocol: 'tcp' as const, address: '192.0.2.10', port });
const d = (address: string, weight: number) => ({ address, port: 8080, forward: 'masq' as const, weight });

/** A live table as `Ipvs.snapshot()` gives it. */
function live(): DesiredState {
  return {
    services: [
      { ...svc(80), scheduler: 'wrr', destinations: [d('10.0.1.1', 5), d('10.0.1.2', 5), d('10.0.1.3', 0) /* down: quiesced by its checker */] },
      { ...svc(81), scheduler: 'rr', destinations: [d('10.0.1.1', 1)] },
      { ...svc(99), scheduler: 'rr', destinations: [d('10.0.9.9', 3)] }, // not the daemon's
    ],
  };
}

const checked = { service: svc(80), check: { type: 'tcp' as const }, intervalMs: 100 };
const V1: DirectorConfig = {
  table: { services: [
    { ...svc(80), scheduler: 'wrr', destinations: [d('10.0.1.1', 5), d('10.0.1.2', 5), d('10.0.1.3', 5)] },
    { ...svc(81), scheduler: 'rr', destinations: [d('10.0.1.1', 1)] },
  ] },
  health: [checked],
};
const owned = new Set(['TCP 192.0.2.10:80', 'TCP 192.0.2.10:81']);
const lines = (ops: { op: string }[]) => ops.map((o) => describeOperation(o as never));

describe('reloadPlan', () => {
  it('the same configuration again: no operation (a down destination is not reset to its configured weight)', () => {
    expect(reloadPlan(live(), validateDirectorConfig(V1), owned).operations).toEqual([]);
  });

  it('changes only the difference; checked weights stay the checker\'s; new checked destinations are left to the checker', () => {
    const v2: DirectorConfig = {
      table: { services: [
        { ...svc(80), scheduler: 'wrr', destinations: [d('10.0.1.1', 5), d('10.0.1.2', 7), d('10.0.1.3', 5), d('10.0.1.4', 5)] },
        { ...svc(82), scheduler: 'rr', destinations: [d('10.0.1.1', 2)] },
      ] },
      health: [checked],
    };
    const plan = reloadPlan(live(), validateDirectorConfig(v2), owned);
    expect(lines(plan.operations)).toEqual([
      'delete service TCP 192.0.2.10:81',
      'add service TCP 192.0.2.10:82',
      'add destination 10.0.1.1:8080 to service TCP 192.0.2.10:82',
    ]);
  });

  it('in unchecked services, weights are the configuration\'s', () => {
    const v: DirectorConfig = { table: { services: [{ ...svc(80), scheduler: 'wrr', destinations: [d('10.0.1.1', 5), d('10.0.1.2', 9), d('10.0.1.3', 5)] }, V1.table.services[1]!] } };
    const ops = reloadPlan(live(), validateDirectorConfig(v), owned).operations;
    expect(ops.map((o) => [o.op, 'destination' in o ? (o.destination as { address: string; weight?: number }).address : '', 'destination' in o ? (o.destination as { weight?: number }).weight : undefined])).toEqual([
      ['update-destination', '10.0.1.2', 9],
      ['update-destination', '10.0.1.3', 5],
    ]);
  });

  it('a service change (scheduler) is an update of that service only', () => {
    const v = structuredClone(V1);
    v.table.services[0]!.scheduler = 'wlc';
    expect(lines(reloadPlan(live(), validateDirectorConfig(v), owned).operations)).toEqual(['update service TCP 192.0.2.10:80']);
  });

  it('never touches a service it does not own, even one with the same destinations', () => {
    const ops = reloadPlan(live(), validateDirectorConfig({ table: { services: [] } }), owned).operations;
    expect(lines(ops)).toEqual(['delete service TCP 192.0.2.10:80', 'delete service TCP 192.0.2.10:81']);
  });

  it('a destination removed from a checked service is deleted; an active sorry server of the configuration stays', () => {
    const l = live();
    l.services[0]!.destinations.push(d('10.0.5.5', 1));
    const v = structuredClone(V1);
    v.table.services[0]!.destinations.splice(1, 1); // 10.0.1.2 goes
    v.health![0]!.sorryServer = { address: '10.0.5.5', port: 8080, forward: 'masq' };
    const want = wantedTable(l, validateDirectorConfig(v));
    expect(want.services[0]!.destinations.map((x) => `${x.address}=${x.weight}`)).toEqual(['10.0.1.1=5', '10.0.1.3=0', '10.0.5.5=1']);
    expect(lines(reloadPlan(l, validateDirectorConfig(v), owned).operations)).toEqual(['delete destination 10.0.1.2:8080 from service TCP 192.0.2.10:80']);
  });
});

describe('exitPlan', () => {
  it('leave: nothing; quiesce: owned destinations not at 0 yet; flush: owned services', () => {
    expect(exitPlan(live(), owned, 'leave')).toEqual([]);
    const q = exitPlan(live(), owned, 'quiesce');
    expect(q.map((o) => [o.op, (o as { destination: { address: string; weight: number } }).destination.address, (o as { destination: { weight: number } }).destination.weight])).toEqual([
      ['update-destination', '10.0.1.1', 0],
      ['update-destination', '10.0.1.2', 0],
      ['update-destination', '10.0.1.1', 0],
    ]);
    expect(lines(exitPlan(live(), owned, 'flush'))).toEqual(['delete service TCP 192.0.2.10:80', 'delete service TCP 192.0.2.10:81']);
  });
});
