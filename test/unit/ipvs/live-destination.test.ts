// The snapshot's direct reader of destination replies against the table path
// (decodeAttributes → destinationOf → destinationSpecOf / normalDestinationOf):
// the same entries from real kernel replies and from every kind of
// destination, and the same DecodeErrors from malformed ones.
import { describe, expect, it } from 'vitest';
import { commandConfigTable, commandTable } from '../../../src/ipvs/attributes.js';
import type { Family } from '../../../src/ipvs/address.js';
import { destinationOf, normalDestinationOf } from '../../../src/ipvs/codec.js';
import * as C from '../../../src/ipvs/constants.js';
import { liveDestinationOf, liveDestinationSpecAt } from '../../../src/ipvs/live-destination.js';
import { destinationSpecOf } from '../../../src/ipvs/state.js';
import { DecodeError } from '../../../src/errors.js';
import { decodeGenlAttributes, type GenlMessage } from '../../../src/netlink/genl.js';
import { encodeAttributes } from '../../../src/netlink/schema.js';
import { Writer } from '../../../src/netlink/writer.js';
import { capturedDestinationReplies, type CommandAttrs, reply as genlReply, v4, v6, withLength } from './replies.js';


/** What the table path makes of a reply (undefined without a destination nest). */
function tablePath(m: GenlMessage, family: Family, withNormal: boolean): unknown {
  const a = decodeGenlAttributes(commandConfigTable, m).destination;
  if (!a) return undefined;
  const d = destinationOf(a, family);
  return withNormal ? { spec: destinationSpecOf(d), norm: normalDestinationOf(a, d) } : { spec: destinationSpecOf(d) };
}

/** Both paths' outcome: the value, or the DecodeError's message. */
function outcome(fn: () => unknown): unknown {
  try {
    return { value: fn() };
  } catch (e) {
    if (!(e instanceof DecodeError)) throw e;
    return { decodeError: e.message };
  }
}

function expectSame(m: GenlMessage, family: Family): unknown {
  for (const withNormal of [false, true]) {
    const direct = outcome(() => liveDestinationOf(m, family, withNormal));
    expect(direct).toEqual(outcome(() => tablePath(m, family, withNormal)));
  }
  // The snapshot's spec-only reader: the same spec, or the same DecodeError.
  const specOnly = outcome(() => liveDestinationSpecAt(m.message.payload, m.attributesOffset, m.message.payload.length, family));
  const table = outcome(() => tablePath(m, family, false)) as { value?: { spec: unknown }; decodeError?: string };
  expect(specOnly).toEqual(table.decodeError !== undefined ? table : { value: table.value?.spec });
  return outcome(() => liveDestinationOf(m, family, false));
}

const reply = (attrs: CommandAttrs, extra?: (w: Writer) => void): GenlMessage => genlReply(C.IPVS_CMD_NEW_DEST, attrs, extra);

const base = { af: C.AF_INET, address: v4('192.0.2.21'), port: 8080, forward: C.IP_VS_CONN_F_MASQ, weight: 3, upperThreshold: 0, lowerThreshold: 0 };

describe('liveDestinationOf', () => {
  it('reads every captured kernel destination reply as the table path does', () => {
    let destinations = 0;
    for (const { message, family } of capturedDestinationReplies()) {
      const got = expectSame(message, family) as { value?: unknown };
      if (got.value) destinations++;
    }
    expect(destinations).toBeGreaterThan(10);
  });

  it('reads every kind of destination as the table path does', () => {
    const cases: CommandAttrs['destination'][] = [
      base,
      { ...base, upperThreshold: 100, lowerThreshold: 10, weight: 0 },
      { ...base, forward: C.IP_VS_CONN_F_DROUTE | 0x0100 }, // bits outside the forwarding mask are dropped
      { ...base, forward: C.IP_VS_CONN_F_TUNNEL, tunnelType: C.IP_VS_CONN_F_TUNNEL_TYPE_IPIP, tunnelPort: 0, tunnelFlags: 0 },
      { ...base, forward: C.IP_VS_CONN_F_TUNNEL, tunnelType: C.IP_VS_CONN_F_TUNNEL_TYPE_GUE, tunnelPort: 6080, tunnelFlags: C.IP_VS_TUNNEL_ENCAP_FLAG_REMCSUM },
      { ...base, forward: C.IP_VS_CONN_F_TUNNEL, tunnelType: C.IP_VS_CONN_F_TUNNEL_TYPE_GRE, tunnelFlags: C.IP_VS_TUNNEL_ENCAP_FLAG_CSUM },
      { ...base, forward: C.IP_VS_CONN_F_TUNNEL, tunnelType: 99 }, // a tunnel type this library does not know
      { ...base, forward: C.IP_VS_CONN_F_MASQ, tunnelType: C.IP_VS_CONN_F_TUNNEL_TYPE_GUE, tunnelPort: 1 }, // tunnel fields of a masq destination
      { ...base, af: C.AF_INET6, address: v6('20010db8000000000000000000000021') },
      { ...base, af: undefined }, // no family: the service's
      { ...base, af: 0 },
      { ...base, activeConnections: 5, inactiveConnections: 6, persistentConnections: 7, stats: { conns: 1 }, stats64: { conns: 1n } },
    ];
    for (const destination of cases) {
      for (const family of ['ipv4', 'ipv6'] as const) expectSame(reply({ destination }), family);
    }
    // An attribute this library does not know, inside the nest and at the top.
    const unknown = reply({ destination: { ...base, unknown: [{ type: 30, nestedFlag: false, data: new Uint8Array([1, 2, 3, 4]) }] }, unknown: [{ type: 31, nestedFlag: false, data: new Uint8Array(4) }] });
    expect(expectSame(unknown, 'ipv4')).toEqual({ value: { spec: { address: '192.0.2.21', port: 8080, weight: 3, forward: 'masq' } } });
    // No destination nest at all.
    expect(expectSame(reply({ tcpTimeout: 5 }), 'ipv4')).toEqual({ value: undefined });
  });

  it('the last of a repeated attribute wins, as in the table path', () => {
    const m = reply({ destination: base }, (w) => {
      // A second destination nest after the first.
      encodeAttributes(w, commandTable, { destination: { ...base, weight: 9, address: v4('192.0.2.99') } });
    });
    expect(expectSame(m, 'ipv4')).toEqual({ value: { spec: { address: '192.0.2.99', port: 8080, weight: 9, forward: 'masq' } } });
  });

  it('throws the DecodeErrors of the table path for malformed replies', () => {
    const bad: [string, GenlMessage][] = [
      ['unknown family', reply({ destination: { ...base, af: 99 } })],
      ['unknown forwarding method', reply({ destination: { ...base, forward: 7 } })],
      ['address too short', reply({ destination: { ...base, address: new Uint8Array(3) } })],
      ['no address', reply({ destination: { ...base, address: undefined } })],
      ['IPv6 address too short', reply({ destination: { ...base, af: C.AF_INET6, address: new Uint8Array(8) } })],
      ['weight of 2 bytes', reply({ destination: { ...base, weight: undefined, unknown: [{ type: C.IPVS_DEST_ATTR_WEIGHT, nestedFlag: false, data: new Uint8Array(2) }] } })],
      ['top-level timeout of 2 bytes', reply({ destination: base, unknown: [{ type: C.IPVS_CMD_ATTR_TIMEOUT_TCP, nestedFlag: false, data: new Uint8Array(2) }] })],
    ];
    for (const [what, m] of bad) {
      const got = expectSame(m, 'ipv4') as { decodeError?: string };
      expect(got.decodeError, what).toBeTypeOf('string');
    }
    // Lengths that run past their container, inside the nest and at the top.
    const m = reply({ destination: base });
    const nestLenAt = m.attributesOffset;
    const corrupt = (at: number, len: number): GenlMessage => withLength(m, at, len);
    for (const [at, len] of [[nestLenAt, 2], [nestLenAt, 4000], [nestLenAt + 4, 2], [nestLenAt + 4, 200]] as const) {
      const got = expectSame(corrupt(at, len), 'ipv4') as { decodeError?: string };
      expect(got.decodeError, `length ${len} at ${at}`).toBeTypeOf('string');
    }
  });
});
