/**
 * The DNS message format (RFC 1035 §4, AAAA from RFC 3596, SRV from RFC 2782):
 * building one query and reading the answer records of a response. Only what a
 * health check needs; no EDNS, no DNSSEC.
 * @module
 */
import type { DnsRecordType } from './spec.js';

/** TYPE values (RFC 1035 §3.2.2, RFC 3596 §2.1, RFC 2782; ANY is QTYPE 255, RFC 1035 §3.2.3). */
export const DNS_TYPE_CODES: Readonly<Record<DnsRecordType, number>> = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  ANY: 255,
};

/** RCODE names (RFC 1035 §4.1.1). */
const RCODES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'];

/** Class IN (RFC 1035 §3.2.4). */
const CLASS_IN = 1;

/** One answer record, rendered as text. */
export interface DnsAnswer {
  /** Owner name, without the trailing dot. */
  name: string;
  /** TYPE code. */
  type: number;
  /** The RDATA in text form (addresses, names, `'10 mx.example'`, SOA fields separated by spaces). */
  data: string;
}

/** What {@link parseDnsResponse} reads. */
export interface DnsResponse {
  id: number;
  /** RCODE as a name (`'NOERROR'`, `'NXDOMAIN'`...) or `'RCODE<n>'`. */
  rcode: string;
  /** TC: the answer was truncated. */
  truncated: boolean;
  /** The answer section. */
  answers: DnsAnswer[];
}

/** Encode a domain name as labels (RFC 1035 §3.1). */
function encodeName(name: string): Buffer {
  const parts: Buffer[] = [];
  for (const label of name.replace(/\.$/, '').split('.')) {
    if (label === '') continue;
    const b = Buffer.from(label, 'utf8');
    parts.push(Buffer.from([b.length]), b);
  }
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

/**
 * A standard query for `name`/`type` in class IN, recursion desired, with the given id.
 */
export function buildDnsQuery(id: number, name: string, type: DnsRecordType): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id & 0xffff, 0);
  header.writeUInt16BE(0x0100, 2); // QR=0, OPCODE=0, RD=1
  header.writeUInt16BE(1, 4); // QDCOUNT
  const question = Buffer.alloc(4);
  question.writeUInt16BE(DNS_TYPE_CODES[type], 0);
  question.writeUInt16BE(CLASS_IN, 2);
  return Buffer.concat([header, encodeName(name), question]);
}

/** Read a (possibly compressed, RFC 1035 §4.1.4) name at `offset`; returns it and the offset after it. */
function readName(msg: Buffer, offset: number): [string, number] {
  const labels: string[] = [];
  let pos = offset;
  let end = -1;
  for (let hops = 0; hops < 128; hops++) {
    if (pos >= msg.length) throw new RangeError('name runs past the message');
    const len = msg[pos]!;
    if (len === 0) {
      return [labels.join('.'), end === -1 ? pos + 1 : end];
    }
    if ((len & 0xc0) === 0xc0) {
      if (pos + 1 >= msg.length) throw new RangeError('compression pointer runs past the message');
      if (end === -1) end = pos + 2;
      pos = ((len & 0x3f) << 8) | msg[pos + 1]!;
      continue;
    }
    if ((len & 0xc0) !== 0) throw new RangeError(`unsupported label type 0x${len.toString(16)}`);
    if (pos + 1 + len > msg.length) throw new RangeError('label runs past the message');
    labels.push(msg.toString('latin1', pos + 1, pos + 1 + len));
    pos += 1 + len;
  }
  throw new RangeError('name compression loop');
}

function formatIpv6(b: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  // Compress the longest run of zero groups (RFC 5952 §4.2).
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best === -1) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

function renderRdata(msg: Buffer, type: number, start: number, length: number): string {
  const rd = msg.subarray(start, start + length);
  switch (type) {
    case 1:
      if (length !== 4) throw new RangeError('A record of length ' + length);
      return `${rd[0]}.${rd[1]}.${rd[2]}.${rd[3]}`;
    case 28:
      if (length !== 16) throw new RangeError('AAAA record of length ' + length);
      return formatIpv6(rd);
    case 2:
    case 5:
    case 12:
      return readName(msg, start)[0];
    case 15:
      return `${msg.readUInt16BE(start)} ${readName(msg, start + 2)[0]}`;
    case 33:
      return `${msg.readUInt16BE(start)} ${msg.readUInt16BE(start + 2)} ${msg.readUInt16BE(start + 4)} ${readName(msg, start + 6)[0]}`;
    case 6: {
      const [mname, p1] = readName(msg, start);
      const [rname, p2] = readName(msg, p1);
      const nums = [0, 4, 8, 12, 16].map((o) => msg.readUInt32BE(p2 + o));
      return [mname, rname, ...nums].join(' ');
    }
    case 16: {
      const strings: string[] = [];
      for (let p = 0; p < rd.length; ) {
        const n = rd[p]!;
        strings.push(rd.toString('utf8', p + 1, p + 1 + n));
        p += 1 + n;
      }
      return strings.join('');
    }
    default:
      return rd.toString('hex');
  }
}

/**
 * Read a response: header, skip the questions, render the answer records.
 * Throws a RangeError for a malformed message.
 */
export function parseDnsResponse(msg: Buffer): DnsResponse {
  if (msg.length < 12) throw new RangeError(`${msg.length}-byte message is shorter than a DNS header`);
  const id = msg.readUInt16BE(0);
  const flags = msg.readUInt16BE(2);
  if ((flags & 0x8000) === 0) throw new RangeError('not a response (QR=0)');
  const rcodeNum = flags & 0xf;
  const qd = msg.readUInt16BE(4);
  const an = msg.readUInt16BE(6);
  let pos = 12;
  for (let i = 0; i < qd; i++) pos = readName(msg, pos)[1] + 4;
  const answers: DnsAnswer[] = [];
  for (let i = 0; i < an; i++) {
    const [name, after] = readName(msg, pos);
    if (after + 10 > msg.length) throw new RangeError('answer record runs past the message');
    const type = msg.readUInt16BE(after);
    const rdlength = msg.readUInt16BE(after + 8);
    const rdStart = after + 10;
    if (rdStart + rdlength > msg.length) throw new RangeError('RDATA runs past the message');
    answers.push({ name, type, data: renderRdata(msg, type, rdStart, rdlength) });
    pos = rdStart + rdlength;
  }
  return { id, rcode: RCODES[rcodeNum] ?? `RCODE${rcodeNum}`, truncated: (flags & 0x0200) !== 0, answers };
}
