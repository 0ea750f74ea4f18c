// The listing's direct reader of destination replies (no statistics) against
// the table path (decodeAttributes with the statistics-free table →
// destinationOf): the same Destination from real kernel replies and from every
// kind of destination, and the same DecodeErrors from malformed ones.
import { describe, expect, it } from 'vitest';
import { commandConfigTable, commandTable } from '../../../src/ipvs/attributes.js';
import type { Family } from '../../../src/ipvs/address.js';
import { destinationOf, NO_STATS, serviceOf } from '../../../src/ipvs/codec.js';
import * as C from '../../../src/ipvs/constants.js';
import { listingDestinationAt, listingServiceAt } from '../../../src/ipvs/listing-read.js';
import { normalizeServiceKey } from '../../../src/ipvs/validate.js';
import { DecodeError } from '../../../src/errors.js';
import { decodeGenlAttributes, type GenlMessage } from '../../../src/netlink/genl.js';
import { encodeAttributes } from '../../../src/netlink/schema.js';
import { Writer } from '../../../src/netlink/writer.js';
import { badServiceReplies, capturedDestinationReplies, capturedServiceReplies, type CommandAttrs, reply as genlReply, SERVICE_BASE, SERVICE_CASES, v4, v6, withLength } from './replies.js';


function tablePath(m: GenlMessage, family: Family): unknown {
  const a = decodeGenlAttributes(commandConfigTable, m).destination;
  return a ? destinationOf(a, family) : undefined;
}

function outcome(fn: () => unknown): unknown {
  try {
    return { value: fn() };
  } catch (e) {
    if (!(e instanceof DecodeError)) throw e;
    return { decodeError: e.message };
  }
}

const direct = (m: GenlMessage, family: Family) => listingDestinationAt(m.message.payload, m.attributesOffset, m.message.payload.length, family);

function expectSame(m: GenlMessage, family: Family): unknown {
  const got = outcome(() => direct(m, family));
  expect(got).toEqual(outcome(() => tablePath(m, family)));
  return got;
}

const reply = (attrs: CommandAttrs, extra?: (w: Writer) => void): GenlMessage => genlReply(C.IPVS_CMD_NEW_DEST, attrs, extra);

const base = { af: C.AF_INET, address: v4('192.0.2.21'), port: 8080, forward: C.IP_VS_CONN_F_MASQ, weight: 3, upperThreshold: 0, lowerThreshold: 0 };

describe('listingDestinationAt', () => {
  it('reads every captured kernel destination reply as the table path does, with the shared zero statistics', () => {
    let destinations = 0;
    for (const { message, family } of capturedDestinationReplies()) {
      const got = expectSame(message, family) as { value?: { stats: unknown } };
      if (got.value) {
        destinations++;
        expect(got.value.stats).toBe(NO_STATS);
      }
    }
    expect(destinations).toBeGreaterThan(10);
  });

  it('reads every kind of destination as the table path does', () => {
    const cases: CommandAttrs['destination'][] = [
      base,
      { ...base, upperThreshold: 100, lowerThreshold: 10, weight: 0 },
      { ...base, forward: C.IP_VS_CONN_F_DROUTE | 0x0100 },
      { ...base, forward: C.IP_VS_CONN_F_TUNNEL, tunnelType: C.IP_VS_CONN_F_TUNNEL_TYPE_IPIP, tunnelPort: 0, tunnelFlags: 0 },
      { ...base, forward: C.IP_VS_CONN_F_TUNNEL, tunnelType: C.IP_VS_CONN_F_TUNNEL_TYPE_GUE, tunnelPort: 6080, tunnelFlags: C.IP_VS_TUNNEL_ENCAP_FLAG_REMCSUM },
      { ...base, forward: C.IP_VS_CONN_F_TUNNEL, tunnelType: C.IP_VS_CONN_F_TUNNEL_TYPE_GUE },
      { ...base, forward: C.IP_VS_CONN_F_TUNNEL, tunnelType: C.IP_VS_CONN_F_TUNNEL_TYPE_GRE, tunnelFlags: C.IP_VS_TUNNEL_ENCAP_FLAG_CSUM },
      { ...base, forward: C.IP_VS_CONN_F_TUNNEL, tunnelType: 99 },
      { ...base, forward: C.IP_VS_CONN_F_MASQ, tunnelType: C.IP_VS_CONN_F_TUNNEL_TYPE_GUE, tunnelPort: 1 },
      { ...base, af: C.AF_INET6, address: v6('20010db8000000000000000000000021') },
      { ...base, af: undefined },
      { ...base, af: 0 },
      { ...base, activeConnections: 5, inactiveConnections: 6, persistentConnections: 7, stats: { conns: 1 }, stats64: { conns: 1n } },
      { ...base, activeConnections: 0xffffffff, inactiveConnections: 0x80000000 },
    ];
    for (const destination of cases) {
      for (const family of ['ipv4', 'ipv6'] as const) expectSame(reply({ destination }), family);
    }
    const unknown = reply({ destination: { ...base, unknown: [{ type: 30, nestedFlag: false, data: new Uint8Array([1, 2, 3, 4]) }] }, unknown: [{ type: 31, nestedFlag: false, data: new Uint8Array(4) }] });
    expect((expectSame(unknown, 'ipv4') as { value: { address: string } }).value.address).toBe('192.0.2.21');
    expect(expectSame(reply({ tcpTimeout: 5 }), 'ipv4')).toEqual({ value: undefined });
  });

  it('the last of a repeated attribute wins, as in the table path', () => {
    const m = reply({ destination: base }, (w) => {
      encodeAttributes(w, commandTable, { destination: { ...base, weight: 9, address: v4('192.0.2.99') } });
    });
    expect((expectSame(m, 'ipv4') as { value: { address: string; weight: number } }).value).toMatchObject({ address: '192.0.2.99', weight: 9 });
  });

  it('throws the DecodeErrors of the table path for malformed replies', () => {
    const bad: [string, GenlMessage][] = [
      ['unknown family', reply({ destination: { ...base, af: 99 } })],
      ['unknown forwarding method', reply({ destination: { ...base, forward: 7 } })],
      ['address too short', reply({ destination: { ...base, address: new Uint8Array(3) } })],
      ['no address', reply({ destination: { ...base, address: undefined } })],
      ['IPv6 address too short', reply({ destination: { ...base, af: C.AF_INET6, address: new Uint8Array(8) } })],
      ['weight of 2 bytes', reply({ destination: { ...base, weight: undefined, unknown: [{ type: C.IPVS_DEST_ATTR_WEIGHT, nestedFlag: false, data: new Uint8Array(2) }] } })],
      ['active connections of 2 bytes', reply({ destination: { ...base, unknown: [{ type: C.IPVS_DEST_ATTR_ACTIVE_CONNS, nestedFlag: false, data: new Uint8Array(2) }] } })],
      ['top-level timeout of 2 bytes', reply({ destination: base, unknown: [{ type: C.IPVS_CMD_ATTR_TIMEOUT_TCP, nestedFlag: false, data: new Uint8Array(2) }] })],
    ];
    for (const [what, m] of bad) {
      const got = expectSame(m, 'ipv4') as { decodeError?: string };
      expect(got.decodeError, what).toBeTypeOf('string');
    }
    const m = reply({ destination: base });
    const nestLenAt = m.attributesOffset;
    const corrupt = (at: number, len: number): GenlMessage => withLength(m, at, len);
    for (const [at, len] of [[nestLenAt, 2], [nestLenAt, 4000], [nestLenAt + 4, 2], [nestLenAt + 4, 200]] as const) {
      const got = expectSame(corrupt(at, len), 'ipv4') as { decodeError?: string };
      expect(got.decodeError, `length ${len} at ${at}`).toBeTypeOf('string');
    }
  });
});

// The listing's direct reader of service replies against the table path
// (decodeAttributes with the statistics-free table → serviceOf, the key as
// normalizeServiceKey makes it).
describe('listingServiceAt', () => {
  const serviceReply = (attrs: CommandAttrs, extra?: (w: Writer) => void): GenlMessage => genlReply(C.IPVS_CMD_NEW_SERVICE, attrs, extra);

  function serviceTablePath(m: GenlMessage): unknown {
    const a = decodeGenlAttributes(commandConfigTable, m).service;
    if (!a) return undefined;
    const service = serviceOf(a);
    return { service, key: normalizeServiceKey(service) };
  }

  function expectSameService(m: GenlMessage): unknown {
    const payload = m.message.payload;
    const got = outcome(() => listingServiceAt(payload, m.attributesOffset, payload.length));
    expect(got).toEqual(outcome(() => serviceTablePath(m)));
    return got;
  }

  it('reads every captured kernel service reply and every kind of service as the table path does', () => {
    let services = 0;
    for (const message of capturedServiceReplies()) {
      const got = expectSameService(message) as { value?: { service: { stats: unknown } } };
      if (got.value) {
        services++;
        expect(got.value.service.stats).toBe(NO_STATS);
      }
    }
    expect(services).toBeGreaterThan(10);
    for (const service of SERVICE_CASES) expectSameService(serviceReply({ service }));
    expect(expectSameService(serviceReply({ tcpTimeout: 5 }))).toEqual({ value: undefined });
    const last = serviceReply({ service: SERVICE_BASE }, (w) => encodeAttributes(w, commandTable, { service: { ...SERVICE_BASE, port: 8443 } }));
    expect(expectSameService(last)).toMatchObject({ value: { service: { port: 8443 }, key: { port: 8443 } } });
  });

  it('throws the DecodeErrors of the table path for malformed replies', () => {
    for (const [what, m] of badServiceReplies(serviceReply)) {
      const got = expectSameService(m) as { decodeError?: string };
      expect(got.decodeError, what).toBeTypeOf('string');
    }
  });
});
