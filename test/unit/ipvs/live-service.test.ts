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
import { decodeGenlAttributes, parseGenlMessage, type GenlMessage } from '../../../src/netlink/genl.js';
import { parseMessages } from '../../../src/netlink/message.js';
import { encodeAttributes } from '../../../src/netlink/schema.js';
import { Writer } from '../../../src/netlink/writer.js';
import { capturedReply, CAPTURED_FAMILY_ID, fixtureNames } from '../../fixtures/ipvs/fixtures.js';
import { reply as genlReply, v4, v6, withLength, type CommandAttrs } from './replies.js';


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

const bytes = (...b: number[]): Uint8Array => Uint8Array.from(b);
/** ip_vs_flags {flags, mask} in host order, as the kernel sends them. */
const flags = (f: number): Uint8Array => {
  const b = Buffer.alloc(8);
  b.writeUInt32LE(f, 0);
  b.writeUInt32LE(0xffffffff, 4);
  return b;
};
const base = { af: C.AF_INET, protocol: 6, address: v4('192.0.2.10'), port: 80, scheduler: 'wlc', flags: flags(0), timeout: 0, netmask: bytes(255, 255, 255, 255) };

describe('liveServiceAt', () => {
  it('reads every captured kernel service reply as the table path does', () => {
    const names = fixtureNames('rep-get-service-').concat(fixtureNames('rep-sort-get-service-')).map((n) => n.replace(/^rep-/, ''));
    let services = 0;
    for (const name of names) {
      for (const d of capturedReply(name).datagrams) {
        for (const msg of parseMessages(d)) {
          if (msg.type !== CAPTURED_FAMILY_ID) continue;
          const got = expectSame(parseGenlMessage(msg)) as { value?: unknown };
          if (got.value) services++;
        }
      }
    }
    expect(names.length).toBeGreaterThan(5);
    expect(services).toBeGreaterThan(10);
  });

  it('reads every kind of service as the table path does', () => {
    const v6 = Uint8Array.from(Buffer.from('20010db8000000000000000000000010', 'hex'));
    const cases: CommandAttrs['service'][] = [
      base,
      { ...base, protocol: 17, port: 53, scheduler: 'rr', flags: flags(C.IP_VS_SVC_F_ONEPACKET) },
      { ...base, protocol: 132, scheduler: 'sh', flags: flags(C.IP_VS_SVC_F_SCHED1 | C.IP_VS_SVC_F_SCHED2) },
      { ...base, scheduler: 'mh', flags: flags(C.IP_VS_SVC_F_SCHED2 | C.IP_VS_SVC_F_SCHED3) },
      { ...base, flags: flags(C.IP_VS_SVC_F_SCHED1 | C.IP_VS_SVC_F_HASHED) }, // flags a spec does not keep
      { ...base, flags: flags(C.IP_VS_SVC_F_PERSISTENT), timeout: 300, netmask: bytes(255, 255, 255, 0) },
      { ...base, flags: flags(C.IP_VS_SVC_F_PERSISTENT), timeout: 300, netmask: bytes(255, 0, 255, 0) }, // a mask that is no prefix
      { ...base, flags: flags(C.IP_VS_SVC_F_PERSISTENT), timeout: 60, persistenceEngine: 'sip' },
      { ...base, flags: flags(C.IP_VS_SVC_F_PERSISTENT), netmask: undefined },
      { ...base, flags: flags(C.IP_VS_SVC_F_PERSISTENT), persistenceEngine: '' }, // an empty name: none
      { ...base, timeout: 300, netmask: bytes(255, 255, 0, 0) }, // timeout and mask of a service that is not persistent
      { ...base, af: C.AF_INET6, address: v6, netmask: bytes(128, 0, 0, 0) },
      { ...base, af: C.AF_INET6, address: v6, flags: flags(C.IP_VS_SVC_F_PERSISTENT), netmask: Uint8Array.from(Buffer.from([64, 0, 0, 0])) },
      { af: C.AF_INET, fwmark: 7, scheduler: 'wlc', flags: flags(0), timeout: 0, netmask: bytes(255, 255, 255, 255) },
      { af: C.AF_INET6, fwmark: 8, scheduler: 'lc', flags: flags(C.IP_VS_SVC_F_PERSISTENT), timeout: 30, netmask: bytes(64, 0, 0, 0) },
      { ...base, fwmark: 0 }, // a zero mark is an address service
      { ...base, scheduler: undefined, flags: undefined, timeout: undefined, netmask: undefined },
      { ...base, flags: bytes(1, 0) }, // flags too short: none
      { ...base, stats: { conns: 1 }, stats64: { conns: 1n } },
    ];
    for (const service of cases) expectSame(reply({ service }));
    // An attribute this library does not know, inside the nest and at the top.
    const unknown = reply({ service: { ...base, unknown: [{ type: 30, nestedFlag: false, data: bytes(1, 2, 3, 4) }] }, unknown: [{ type: 31, nestedFlag: false, data: new Uint8Array(4) }] });
    expect(expectSame(unknown)).toMatchObject({ value: { spec: { protocol: 'tcp', address: '192.0.2.10', port: 80, scheduler: 'wlc' } } });
    // No service nest at all.
    expect(expectSame(reply({ tcpTimeout: 5 }))).toEqual({ value: undefined });
  });

  it('the last service nest wins, as in the table path', () => {
    const m = reply({ service: base }, (w) => encodeAttributes(w, commandTable, { service: { ...base, port: 8443, address: v4('192.0.2.99') } }));
    expect(expectSame(m)).toMatchObject({ value: { spec: { address: '192.0.2.99', port: 8443 } } });
  });

  it('throws the DecodeErrors of the table path for malformed replies', () => {
    const bad: [string, GenlMessage][] = [
      ['unknown family', reply({ service: { ...base, af: 99 } })],
      ['no family', reply({ service: { ...base, af: undefined } })],
      ['unknown protocol', reply({ service: { ...base, protocol: 99 } })],
      ['address too short', reply({ service: { ...base, address: new Uint8Array(3) } })],
      ['no address', reply({ service: { ...base, address: undefined } })],
      ['IPv6 address too short', reply({ service: { ...base, af: C.AF_INET6, address: new Uint8Array(8) } })],
      ['port of 4 bytes', reply({ service: { ...base, port: undefined, unknown: [{ type: C.IPVS_SVC_ATTR_PORT, nestedFlag: false, data: new Uint8Array(4) }] } })],
      ['scheduler without its NUL', reply({ service: { ...base, scheduler: undefined, unknown: [{ type: C.IPVS_SVC_ATTR_SCHED_NAME, nestedFlag: false, data: bytes(0x72, 0x72, 0x72, 0x72) }] } })],
      ['top-level timeout of 2 bytes', reply({ service: base, unknown: [{ type: C.IPVS_CMD_ATTR_TIMEOUT_TCP, nestedFlag: false, data: new Uint8Array(2) }] })],
    ];
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
