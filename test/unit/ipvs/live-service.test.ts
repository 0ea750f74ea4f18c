// The snapshot's direct reader of service replies against the table path
// (decodeAttributes → serviceOf → serviceSpecOf / normalServiceOf): the same
// entries from real kernel replies and from every kind of service, and the
// same DecodeErrors from malformed ones.
import { describe, expect, it } from 'vitest';
import { commandConfigTable, commandTable } from '../../../src/ipvs/attributes.js';
import { normalServiceOf, serviceOf } from '../../../src/ipvs/codec.js';
import * as C from '../../../src/ipvs/constants.js';
import { liveServiceAt } from '../../../src/ipvs/live-service.js';
import { serviceSpecOf } from '../../../src/ipvs/state.js';
import { DecodeError } from '../../../src/errors.js';
import { decodeGenlAttributes, type GenlMessage } from '../../../src/netlink/genl.js';
import { encodeAttributes } from '../../../src/netlink/schema.js';
import { Writer } from '../../../src/netlink/writer.js';
import { badServiceReplies, capturedServiceReplies, type CommandAttrs, reply as genlReply, SERVICE_BASE as base, SERVICE_CASES, v4, withLength } from './replies.js';


/** What the table path makes of a reply (undefined without a service nest). */
function tablePath(m: GenlMessage): unknown {
  const a = decodeGenlAttributes(commandConfigTable, m).service;
  if (!a) return undefined;
  const s = serviceOf(a);
  return { spec: serviceSpecOf(s), norm: normalServiceOf(a, s), destinations: [] };
}

/** Either path's outcome: the value, or the DecodeError's message. */
function outcome(fn: () => unknown): unknown {
  try {
    return { value: fn() };
  } catch (e) {
    if (!(e instanceof DecodeError)) throw e;
    return { decodeError: e.message };
  }
}

function expectSame(m: GenlMessage): unknown {
  const payload = m.message.payload;
  const direct = outcome(() => liveServiceAt(payload, m.attributesOffset, payload.length));
  expect(direct).toEqual(outcome(() => tablePath(m)));
  return direct;
}

const reply = (attrs: CommandAttrs, extra?: (w: Writer) => void): GenlMessage => genlReply(C.IPVS_CMD_NEW_SERVICE, attrs, extra);

describe('liveServiceAt', () => {
  it('reads every captured kernel service reply as the table path does', () => {
    let services = 0;
    for (const message of capturedServiceReplies()) {
      const got = expectSame(message) as { value?: unknown };
      if (got.value) services++;
    }
    expect(services).toBeGreaterThan(10);
  });

  it('reads every kind of service as the table path does', () => {
    for (const service of SERVICE_CASES) expectSame(reply({ service }));
    // An attribute this library does not know, inside the nest and at the top.
    const unknown = reply({ service: { ...base, unknown: [{ type: 30, nestedFlag: false, data: Uint8Array.from([1, 2, 3, 4]) }] }, unknown: [{ type: 31, nestedFlag: false, data: new Uint8Array(4) }] });
    expect(expectSame(unknown)).toMatchObject({ value: { spec: { protocol: 'tcp', address: '192.0.2.10', port: 80, scheduler: 'wlc' } } });
    // No service nest at all.
    expect(expectSame(reply({ tcpTimeout: 5 }))).toEqual({ value: undefined });
  });

  it('the last service nest wins, as in the table path', () => {
    const m = reply({ service: base }, (w) => encodeAttributes(w, commandTable, { service: { ...base, port: 8443, address: v4('192.0.2.99') } }));
    expect(expectSame(m)).toMatchObject({ value: { spec: { address: '192.0.2.99', port: 8443 } } });
  });

  it('throws the DecodeErrors of the table path for malformed replies', () => {
    const bad = badServiceReplies(reply);
    for (const [what, m] of bad) {
      const got = expectSame(m) as { decodeError?: string };
      expect(got.decodeError, what).toBeTypeOf('string');
    }
    // Lengths that run past their container, inside the nest and at the top.
    const m = reply({ service: base });
    const nestLenAt = m.attributesOffset;
    const corrupt = (at: number, len: number): GenlMessage => withLength(m, at, len);
    for (const [at, len] of [[nestLenAt, 2], [nestLenAt, 4000], [nestLenAt + 4, 2], [nestLenAt + 4, 200]] as const) {
      const got = expectSame(corrupt(at, len)) as { decodeError?: string };
      expect(got.decodeError, `length ${len} at ${at}`).toBeTypeOf('string');
    }
  });
});
