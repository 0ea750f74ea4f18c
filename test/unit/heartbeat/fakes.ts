// Fakes shared by the election and failover unit tests.
import { EventEmitter } from 'node:events';
import type { ElectionClock, ElectionLink } from '../../../src/heartbeat/election.js';
import { decodeAdvert, encodeAdvert, type ElectionState } from '../../../src/heartbeat/advert.js';
import type { PeerState, PeerStatus } from '../../../src/heartbeat/heartbeat.js';

export class FakeLink extends EventEmitter implements ElectionLink {
  payload = new Uint8Array();
  sent = 0;
  private readonly list = new Map<number, PeerStatus>();
  constructor(readonly nodeId: number, peerIds: number[]) {
    super();
    for (const id of peerIds) this.list.set(id, { nodeId: id, state: 'unknown', generation: 0, sequence: 0, payload: new Uint8Array(), lastSeen: 0 });
  }
  peers(): PeerStatus[] {
    return [...this.list.values()].map((p) => ({ ...p }));
  }
  setPayload(p: Uint8Array): void {
    this.payload = p;
  }
  sendNow(): void {
    this.sent++;
  }
  /** A peer's heartbeat arrives: its liveness and what it advertises. */
  peer(id: number, state: PeerState, advert?: { state: ElectionState; priority: number; preempt?: boolean }): void {
    const p = this.list.get(id)!;
    const from = p.state;
    p.state = state;
    if (advert) p.payload = encodeAdvert({ preempt: true, ...advert });
    if (from !== state) this.emit('peer', { nodeId: id, from, to: state });
    this.emit('message', {});
  }
  get advertised() {
    return decodeAdvert(this.payload);
  }
}

export class FakeClock implements ElectionClock {
  t = 1000;
  private timers: { at: number; fn: () => void; id: number }[] = [];
  private ids = 0;
  now = () => this.t;
  setTimeout = (fn: () => void, ms: number) => {
    const id = ++this.ids;
    this.timers.push({ at: this.t + ms, fn, id });
    return id;
  };
  clearTimeout = (h: unknown) => {
    this.timers = this.timers.filter((x) => x.id !== h);
  };
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at);
      const next = this.timers[0];
      if (!next || next.at > end) break;
      this.timers.shift();
      this.t = next.at;
      next.fn();
    }
    this.t = end;
  }
}

