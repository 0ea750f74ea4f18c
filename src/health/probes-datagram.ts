/**
 * Probes over datagrams: UDP send/expect, DNS query, ICMP echo.
 * @module
 */
import { randomInt } from 'node:crypto';
import { addressFamily, bytesToAddress } from '../ipvs/address.js';
import { openSocket, type NativeSocket } from '../netlink/binding.js';
import { buildDnsQuery, DNS_TYPE_CODES, parseDnsResponse } from './dns-wire.js';
import { errorText, settleOnce, type ProbeOutcome, type ProbeRun } from './probes-stream.js';
import { parseHex, type CheckTarget, type DnsCheck, type IcmpCheck, type UdpCheck } from './spec.js';
import { openDatagram, sockaddr, type DatagramChannel } from './transport.js';

/** Send one datagram; `judge` decides on each reply (undefined: keep waiting). */
function exchange(target: CheckTarget, run: ProbeRun, payload: Uint8Array, judge: (reply: Buffer) => ProbeOutcome | undefined): Promise<ProbeOutcome> {
  let channel: DatagramChannel | undefined;
  let closed = false;
  return settleOnce(run.signal, () => {
    closed = true;
    channel?.close();
  }, (done) => {
    openDatagram(target.address, target.port, run.place, {
      onMessage: (m) => {
        const verdict = judge(m);
        if (verdict) done(verdict);
      },
      onError: (e) => done({ ok: false, detail: e.code === 'ECONNREFUSED' ? 'ICMP port unreachable (ECONNREFUSED)' : errorText(e) }),
    }).then(
      (c) => {
        if (closed) return c.close();
        channel = c;
        c.send(payload);
      },
      (e: unknown) => done({ ok: false, detail: `socket ${errorText(e)}` }),
    );
  });
}

/** UDP: send the payload, any reply (or one matching `expect`) is up. */
export function probeUdp(spec: UdpCheck, target: CheckTarget, run: ProbeRun): Promise<ProbeOutcome> {
  const payload = 'hex' in spec.send ? parseHex(spec.send.hex, 'send.hex') : Buffer.from(spec.send.text, 'utf8');
  const expect = spec.expect !== undefined ? new RegExp(spec.expect) : undefined;
  return exchange(target, run, payload, (reply) => {
    if (!expect) return { ok: true, detail: `${reply.length}-byte reply` };
    if (expect.test(reply.toString('latin1'))) return { ok: true, detail: `reply matches /${spec.expect}/` };
    return { ok: false, detail: `${reply.length}-byte reply does not match /${spec.expect}/` };
  });
}

/** DNS: a real query; up on NOERROR with an answer of the asked type (matching `expect` if given). */
export function probeDns(spec: DnsCheck, target: CheckTarget, run: ProbeRun): Promise<ProbeOutcome> {
  const type = spec.recordType ?? 'SOA';
  const id = randomInt(0, 0x10000);
  const expect = spec.expect !== undefined ? new RegExp(spec.expect) : undefined;
  return exchange(target, run, buildDnsQuery(id, spec.name, type), (reply) => {
    let r;
    try {
      r = parseDnsResponse(reply);
    } catch (e) {
      return { ok: false, detail: `malformed DNS response: ${(e as Error).message}` };
    }
    if (r.id !== id) return undefined; // not ours: keep waiting
    if (r.rcode !== 'NOERROR') return { ok: false, detail: `DNS ${r.rcode} for ${spec.name} ${type}` };
    const code = DNS_TYPE_CODES[type];
    const answers = r.answers.filter((a) => type === 'ANY' || a.type === code);
    if (answers.length === 0) return { ok: false, detail: `DNS NOERROR but no ${type} answer for ${spec.name}${r.truncated ? ' (truncated)' : ''}` };
    if (expect && !answers.some((a) => expect.test(a.data))) return { ok: false, detail: `no ${type} answer matches /${spec.expect}/ (got ${answers.map((a) => a.data).join(', ')})` };
    return { ok: true, detail: `DNS ${type} ${answers[0]!.data}` };
  });
}

const AF_INET = 2;
const AF_INET6 = 10;
const SOCK_RAW = 3;
const IPPROTO_ICMP = 1;
const IPPROTO_ICMPV6 = 58;

/** The Internet checksum (RFC 1071). */
function inetChecksum(b: Buffer): number {
  let sum = 0;
  for (let i = 0; i + 1 < b.length; i += 2) sum += b.readUInt16BE(i);
  if (b.length % 2) sum += b[b.length - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/**
 * ICMP echo over a raw socket made by the addon (CAP_NET_RAW needed). Echo
 * request type 8 / reply 0 (RFC 792); ICMPv6 128 / 129 (RFC 4443), whose
 * checksum the kernel fills in for raw ICMPv6 sockets (RFC 3542 §3.1).
 */
export function probeIcmp(_spec: IcmpCheck, target: CheckTarget, run: ProbeRun): Promise<ProbeOutcome> {
  const v6 = addressFamily(target.address) === 'ipv6';
  const id = randomInt(0, 0x10000);
  const seq = randomInt(0, 0x10000);
  let socket: NativeSocket | undefined;
  return settleOnce(run.signal, () => socket?.close(), (done) => {
    try {
      socket = openSocket(v6 ? AF_INET6 : AF_INET, SOCK_RAW, v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP, run.place.netns !== undefined ? { netns: run.place.netns } : {});
    } catch (e) {
      return done({ ok: false, detail: `raw socket ${errorText(e)}` });
    }
    const s = socket;
    const packet = Buffer.alloc(16);
    packet[0] = v6 ? 128 : 8;
    packet.writeUInt16BE(id, 4);
    packet.writeUInt16BE(seq, 6);
    packet.write('ipvs-ts!', 8, 'latin1');
    if (!v6) packet.writeUInt16BE(inetChecksum(packet), 2);
    s.start(
      (datagrams) => {
        for (const d of datagrams) {
          let icmp = d;
          if (!v6) {
            const ihl = (d[0]! & 0x0f) * 4;
            if (d.length < ihl + 8 || bytesToAddress(d.subarray(12, 16), 'ipv4') !== target.address) continue;
            icmp = d.subarray(ihl);
          }
          if (icmp.length < 8 || icmp[0] !== (v6 ? 129 : 0) || icmp.readUInt16BE(4) !== id || icmp.readUInt16BE(6) !== seq) continue;
          return done({ ok: true, detail: 'echo reply' });
        }
      },
      (e) => done({ ok: false, detail: `icmp ${errorText(e)}` }),
    );
    if (run.place.source !== undefined) s.bind(sockaddr(run.place.source, 0));
    s.send(packet, sockaddr(target.address, 0));
  });
}
