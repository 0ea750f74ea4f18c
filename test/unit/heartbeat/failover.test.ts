// Failover ordering and failure handling with recording resources, driven by
// an election on a fake link.
import { describe, expect, it } from 'vitest';
import { Election, type Transition } from '../../../src/heartbeat/election.js';
import { Failover, type Resource } from '../../../src/heartbeat/failover.js';
import { hook } from '../../../src/heartbeat/resources.js';
import { FakeClock, FakeLink } from './fakes.js';

function recorder(log: string[], name: string, fail: Partial<Record<string, boolean>> = {}): Resource {
  const step = (what: string) => async () => {
    log.push(`${what} ${name}`);
    await new Promise((r) => setTimeout(r, 2));
    if (fail[what]) throw new Error(`${name} broke`);
  };
  return { name, acquire: step('acquire'), release: step('release'), standby: step('standby'), leaveStandby: step('leaveStandby'), reannounce: step('reannounce') };
}

function handled(f: Failover, n: number): Promise<Transition[]> {
  const got: Transition[] = [];
  return new Promise((resolve) => {
    const on = (t: Transition) => {
      got.push(t);
      if (got.length === n) {
        f.off('handled', on);
        resolve(got);
      }
    };
    f.on('handled', on);
  });
}

describe('Failover', () => {
  it('acquires in order on master, releases in reverse on leaving, standby on backup; a hook sees each transition once', async () => {
    const log: string[] = [];
    const link = new FakeLink(2, [1]);
    const election = new Election(link, { priority: 100, clock: new FakeClock() });
    const f = new Failover(election, { resources: [recorder(log, 'a'), hook((t) => void log.push(`hook ${t.from}>${t.to}`)), recorder(log, 'b')] });
    const three = handled(f, 3);
    await election.start();
    link.peer(1, 'dead');
    link.peer(1, 'up', { state: 'master', priority: 200 });
    await three;
    expect(log).toEqual([
      // Clean start: whatever an earlier run may have left is released first.
      'release b', 'hook init>backup', 'release a',
      'standby a', 'standby b',
      'leaveStandby b', 'leaveStandby a', 'acquire a', 'hook backup>master', 'acquire b',
      'release b', 'hook master>backup', 'release a', 'standby a', 'standby b',
    ]);
    expect(f.acquired).toEqual([]);
    election.stop();
    await f.done;
    expect(log.slice(-3)).toEqual(['leaveStandby b', 'leaveStandby a', 'hook backup>stopped']);
  });

  it('a resource failing to start: what started is released in reverse, the node goes to fault; retry() tries again', async () => {
    const log: string[] = [];
    const fail = { acquire: true };
    const link = new FakeLink(2, [1]);
    const election = new Election(link, { priority: 100, clock: new FakeClock() });
    const f = new Failover(election, { resources: [recorder(log, 'a'), recorder(log, 'b'), recorder(log, 'c', fail)] });
    const errors: string[] = [];
    f.on('resource', (e) => e.error && errors.push(`${e.action} ${e.name}: ${e.error.message}`));
    const three = handled(f, 3);
    await election.start();
    link.peer(1, 'dead');
    const ts = await three;
    expect(ts.map((t) => t.to)).toEqual(['backup', 'master', 'fault']);
    expect(ts[2]!.reason).toBe('tracker failover: resource c: c broke');
    expect(log.filter((l) => !l.startsWith('standby') && !l.startsWith('leaveStandby'))).toEqual(['release c', 'release b', 'release a', 'acquire a', 'acquire b', 'acquire c', 'release b', 'release a']);
    expect(errors).toEqual(['acquire c: c broke']);
    expect(f.acquired).toEqual([]);
    // The fault holds until retry(); then the node becomes master again.
    fail.acquire = false;
    const two = handled(f, 2);
    f.retry();
    expect((await two).map((t) => t.to)).toEqual(['backup', 'master']);
    expect(f.acquired).toEqual(['a', 'b', 'c']);
  });

  it('re-announces held resources when a split brain heals in our favour', async () => {
    const log: string[] = [];
    const link = new FakeLink(2, [1]);
    const election = new Election(link, { priority: 100, clock: new FakeClock() });
    const f = new Failover(election, { resources: [recorder(log, 'vip')] });
    const two = handled(f, 2);
    await election.start();
    link.peer(1, 'dead');
    await two;
    const re = new Promise((r) => f.once('resource', r));
    link.peer(1, 'up', { state: 'master', priority: 100 });
    await re;
    expect(log.at(-1)).toBe('reannounce vip');
    expect(election.state).toBe('master');
  });
});
