import { describe, expect, it } from 'vitest';
import { DecodeError } from '../../../src/errors.js';
import { HOST_LITTLE_ENDIAN, NLMSG_DONE, NLMSG_ERROR, NLM_F_ACK_TLVS, NLM_F_CAPPED, NLM_F_MULTI } from '../../../src/netlink/constants.js';
import { parseDoneMessage, parseErrorMessage, parseMessages, type NetlinkMessage } from '../../../src/netlink/message.js';
import { fromHex } from '../../helpers/hex.js';

function decodeError(f: () => unknown): DecodeError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(DecodeError);
    expect(typeof (e as DecodeError).offset).toBe('number');
    return e as DecodeError;
  }
  throw new Error('expected a DecodeError, nothing was thrown');
}

/** A message of `type` with `flags` and a hand-written payload. */
function msg(type: number, flags: number, payloadHex: string, seq = 7): NetlinkMessage {
  return { type, flags, seq, pid: 0, payload: fromHex(payloadHex) };
}

describe.skipIf(!HOST_LITTLE_ENDIAN)('parseMessages (little-endian host)', () => {
  it('splits a datagram holding several messages, skipping the padding between them', () => {
    const d = fromHex(`
      11 00 00 00  24 00 02 00  01 00 00 00  39 30 00 00   # len 17, type 0x24, MULTI, seq 1, pid 12345
      aa 00 00 00                                         # 1 byte payload + 3 pad
      18 00 00 00  24 00 02 00  01 00 00 00  39 30 00 00   # len 24
      01 02 03 04  05 06 07 08
      14 00 00 00  03 00 02 00  01 00 00 00  39 30 00 00   # NLMSG_DONE len 20
      00 00 00 00
    `);
    const ms = parseMessages(d);
    expect(ms.map((m) => ({ type: m.type, flags: m.flags, seq: m.seq, pid: m.pid, payload: [...m.payload] }))).toEqual([
      { type: 0x24, flags: NLM_F_MULTI, seq: 1, pid: 12345, payload: [0xaa] },
      { type: 0x24, flags: NLM_F_MULTI, seq: 1, pid: 12345, payload: [1, 2, 3, 4, 5, 6, 7, 8] },
      { type: NLMSG_DONE, flags: NLM_F_MULTI, seq: 1, pid: 12345, payload: [0, 0, 0, 0] },
    ]);
    // Payloads are views into the datagram.
    expect(ms[1]!.payload.buffer).toBe(d.buffer);
  });

  it('a header-only message has an empty payload; an empty datagram has no messages', () => {
    expect(parseMessages(fromHex('10 00 00 00  01 00 00 00  05 00 00 00  00 00 00 00'))).toEqual([
      { type: 1, flags: 0, seq: 5, pid: 0, payload: Buffer.alloc(0) },
    ]);
    expect(parseMessages(Buffer.alloc(0))).toEqual([]);
  });

  it('fewer than 16 trailing bytes are ignored', () => {
    expect(parseMessages(fromHex('10 00 00 00  01 00 00 00  05 00 00 00  00 00 00 00  ff ff ff'))).toHaveLength(1);
  });

  it('nlmsg_len shorter than the header → DecodeError at that message', () => {
    for (const len of ['00 00 00 00', '0f 00 00 00', '01 00 00 00']) {
      const e = decodeError(() => parseMessages(fromHex(`10 00 00 00 01 00 00 00 01 00 00 00 00 00 00 00  ${len} 01 00 00 00 02 00 00 00 00 00 00 00`)));
      expect(e.offset).toBe(16);
      expect(e.message).toMatch(/shorter than the header/);
    }
  });

  it('nlmsg_len past the end of the datagram → DecodeError at that message', () => {
    const e = decodeError(() =>
      parseMessages(fromHex('14 00 00 00 24 00 00 00 01 00 00 00 00 00 00 00 00 00 00 00   15 00 00 00 24 00 00 00 02 00 00 00 00 00 00 00 00 00 00 00')),
    );
    expect(e.offset).toBe(20);
    expect(e.message).toMatch(/past the end/);
    expect(decodeError(() => parseMessages(fromHex('ff ff ff ff 24 00 00 00 01 00 00 00 00 00 00 00'))).offset).toBe(0);
  });
});

describe.skipIf(!HOST_LITTLE_ENDIAN)('parseErrorMessage (little-endian host)', () => {
  const echoedHeader = '24 00 00 00  24 00 05 00  07 00 00 00  00 00 00 00'; // len 36, type 0x24, REQUEST|ACK, seq 7

  it('ACK: error 0, capped (only the request header echoed)', () => {
    const e = parseErrorMessage(msg(NLMSG_ERROR, NLM_F_CAPPED, `00 00 00 00  ${echoedHeader}`));
    expect(e).toEqual({ error: 0, request: { length: 36, type: 0x24, flags: 5, seq: 7, pid: 0 } });
    expect(e.extack).toBeUndefined();
  });

  it('error, capped, with extended-ACK TLVs: message and offset', () => {
    const e = parseErrorMessage(
      msg(
        NLMSG_ERROR,
        NLM_F_CAPPED | NLM_F_ACK_TLVS,
        `
          ef ff ff ff                                   # -17 (EEXIST)
          ${echoedHeader}
          0e 00 01 00  73 6f 6d 65 20 74 65 78 74 00  00 00   # NLMSGERR_ATTR_MSG "some text\\0", len 14 + 2 pad
          08 00 02 00  14 00 00 00                            # NLMSGERR_ATTR_OFFS 20
        `,
      ),
    );
    expect(e.error).toBe(-17);
    expect(e.request.seq).toBe(7);
    expect(e.extack).toEqual({ message: 'some text', offset: 20 });
  });

  it('error NOT capped: the whole request is echoed and the TLVs follow it', () => {
    // The echoed request: 16-byte header + 9-byte payload = nlmsg_len 25, padded to 28.
    const e = parseErrorMessage(
      msg(
        NLMSG_ERROR,
        NLM_F_ACK_TLVS,
        `
          ea ff ff ff                                         # -22 (EINVAL)
          19 00 00 00  24 00 05 00  07 00 00 00  00 00 00 00   # echoed header, len 25
          01 01 00 00  05 00 08 00  ff 00 00 00                # echoed payload (9 bytes) + 3 pad
          0d 00 01 00  62 61 64 20 61 74 74 72  00 00 00 00    # MSG "bad attr"
          08 00 02 00  14 00 00 00                             # OFFS 20
          08 00 05 00  03 00 00 00                             # MISS_TYPE 3
          08 00 06 00  18 00 00 00                             # MISS_NEST 24
        `,
      ),
    );
    expect(e.error).toBe(-22);
    expect(e.request).toEqual({ length: 25, type: 0x24, flags: 5, seq: 7, pid: 0 });
    expect(e.extack).toEqual({ message: 'bad attr', offset: 20, missingType: 3, missingNest: 24 });
  });

  it('error NOT capped without TLVs: no extack', () => {
    const e = parseErrorMessage(msg(NLMSG_ERROR, 0, `fe ff ff ff  ${echoedHeader}  01 01 00 00  08 00 01 00 00 00 00 00  08 00 02 00 00 00 00 00`));
    expect(e).toEqual({ error: -2, request: { length: 36, type: 0x24, flags: 5, seq: 7, pid: 0 } });
  });

  it('ACK_TLVS set but no TLVs present: no extack; unknown TLVs (cookie) are ignored', () => {
    expect(parseErrorMessage(msg(NLMSG_ERROR, NLM_F_CAPPED | NLM_F_ACK_TLVS, `00 00 00 00  ${echoedHeader}`)).extack).toBeUndefined();
    const withCookie = parseErrorMessage(msg(NLMSG_ERROR, NLM_F_CAPPED | NLM_F_ACK_TLVS, `00 00 00 00  ${echoedHeader}  0c 00 03 00 01 02 03 04 05 06 07 08`));
    expect(withCookie.extack).toBeUndefined();
  });

  it('truncated payloads → DecodeError', () => {
    // Shorter than error + header.
    decodeError(() => parseErrorMessage(msg(NLMSG_ERROR, 0, '')));
    decodeError(() => parseErrorMessage(msg(NLMSG_ERROR, 0, 'ef ff ff ff')));
    decodeError(() => parseErrorMessage(msg(NLMSG_ERROR, NLM_F_CAPPED, 'ef ff ff ff  24 00 00 00 24 00 05 00 07 00 00 00 00 00 00')));
    // A TLV that runs past the end of the message.
    decodeError(() => parseErrorMessage(msg(NLMSG_ERROR, NLM_F_CAPPED | NLM_F_ACK_TLVS, `ef ff ff ff  ${echoedHeader}  10 00 01 00  61 62 00 00`)));
    // A MSG TLV without its NUL.
    decodeError(() => parseErrorMessage(msg(NLMSG_ERROR, NLM_F_CAPPED | NLM_F_ACK_TLVS, `ef ff ff ff  ${echoedHeader}  06 00 01 00  61 62 00 00`)));
    // An OFFS TLV of the wrong size.
    decodeError(() => parseErrorMessage(msg(NLMSG_ERROR, NLM_F_CAPPED | NLM_F_ACK_TLVS, `ef ff ff ff  ${echoedHeader}  06 00 02 00  14 00 00 00`)));
    // Not capped, and the echoed request claims more bytes than there are.
    decodeError(() => parseErrorMessage(msg(NLMSG_ERROR, NLM_F_ACK_TLVS, `ef ff ff ff  ${echoedHeader}`)));
    // Not capped, and the echoed length is shorter than a header.
    decodeError(() => parseErrorMessage(msg(NLMSG_ERROR, NLM_F_ACK_TLVS, 'ef ff ff ff  08 00 00 00 24 00 05 00 07 00 00 00 00 00 00 00')));
  });

  it('an echoed nlmsg_len of 2^31 or more → DecodeError with a non-negative offset (no 32-bit wrap)', () => {
    for (const len of ['00 00 00 80', 'fd ff ff ff', 'ff ff ff ff', 'fc ff ff 7f']) {
      const e = decodeError(() => parseErrorMessage(msg(NLMSG_ERROR, NLM_F_ACK_TLVS, `ef ff ff ff  ${len} 24 00 05 00 07 00 00 00 00 00 00 00  08 00 02 00 14 00 00 00`)));
      expect(e.offset).toBeGreaterThanOrEqual(0);
    }
  });

  it('a message of another type → DecodeError', () => {
    decodeError(() => parseErrorMessage(msg(NLMSG_DONE, 0, `00 00 00 00  ${echoedHeader}`)));
  });
});

describe.skipIf(!HOST_LITTLE_ENDIAN)('parseDoneMessage (little-endian host)', () => {
  it('status 0', () => {
    expect(parseDoneMessage(msg(NLMSG_DONE, NLM_F_MULTI, '00 00 00 00'))).toEqual({ status: 0 });
  });
  it('negative status (failed dump)', () => {
    expect(parseDoneMessage(msg(NLMSG_DONE, NLM_F_MULTI, 'f0 ff ff ff'))).toEqual({ status: -16 });
  });
  it('empty payload counts as status 0', () => {
    expect(parseDoneMessage(msg(NLMSG_DONE, NLM_F_MULTI, ''))).toEqual({ status: 0 });
  });
  it('extended-ACK TLVs after the status', () => {
    const d = parseDoneMessage(
      msg(
        NLMSG_DONE,
        NLM_F_MULTI | NLM_F_ACK_TLVS,
        `
          ea ff ff ff
          0d 00 01 00  62 61 64 20 64 75 6d 70  00 00 00 00   # MSG "bad dump"
          08 00 02 00  20 00 00 00                            # OFFS 32
        `,
      ),
    );
    expect(d).toEqual({ status: -22, extack: { message: 'bad dump', offset: 32 } });
  });
  it('TLVs are ignored without NLM_F_ACK_TLVS', () => {
    expect(parseDoneMessage(msg(NLMSG_DONE, NLM_F_MULTI, 'ea ff ff ff  0d 00 01 00  62 61 64 20 64 75 6d 70  00 00 00 00'))).toEqual({ status: -22 });
  });
  it('1 to 3 payload bytes, a broken TLV, or another type → DecodeError', () => {
    for (const p of ['00', '00 00', '00 00 00']) decodeError(() => parseDoneMessage(msg(NLMSG_DONE, NLM_F_MULTI, p)));
    decodeError(() => parseDoneMessage(msg(NLMSG_DONE, NLM_F_MULTI | NLM_F_ACK_TLVS, 'ea ff ff ff  20 00 01 00')));
    decodeError(() => parseDoneMessage(msg(NLMSG_ERROR, NLM_F_MULTI, '00 00 00 00')));
  });
});
