/**
 * Small pieces the importers share: address:port parsing with positions,
 * numbers with positions, comment stripping outside quotes.
 * @module
 */
import { addressFamily } from '../ipvs/address.js';
import { ImportError } from './types.js';

/** Where a value sits, for errors. */
export interface Place {
  file: string;
  line: number;
  column: number;
}

/** Throw an ImportError at `place`. */
export function fail(place: Place, message: string): never {
  throw new ImportError(place.file, place.line, place.column, message);
}

/** The text before a `#` that is not inside double quotes. */
export function stripComment(line: string): string {
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === '"') quoted = !quoted;
    else if (c === '#' && !quoted) return line.slice(0, i);
  }
  return line;
}

/** Remove one pair of surrounding double or single quotes. */
export function unquote(v: string): string {
  if (v.length >= 2 && ((v[0] === '"' && v.endsWith('"')) || (v[0] === "'" && v.endsWith("'")))) return v.slice(1, -1);
  return v;
}

/** A whole non-negative number, or an ImportError naming the key. */
export function parseCount(text: string, key: string, place: Place, min = 0, max = 0x7fffffff): number {
  if (!/^\d+$/.test(text)) fail(place, `${key}: expected a number, got ${JSON.stringify(text)}`);
  const n = Number(text);
  if (n < min || n > max) fail(place, `${key}: ${n} is out of range ${min}..${max}`);
  return n;
}

/** A number of seconds, possibly fractional, as milliseconds. */
export function parseSeconds(text: string, key: string, place: Place): number {
  if (!/^\d+(\.\d+)?$/.test(text)) fail(place, `${key}: expected seconds, got ${JSON.stringify(text)}`);
  return Math.round(Number(text) * 1000);
}

/** A numeric IP address (names are not resolved), or an ImportError. */
export function parseAddress(text: string, key: string, place: Place): string {
  if (!addressFamily(text)) fail(place, `${key}: ${JSON.stringify(text)} is not a numeric IPv4 or IPv6 address (host names are not resolved)`);
  return text;
}

/** `a.b.c.d`, `a.b.c.d:port`, `[v6]`, `[v6]:port`; the port may be a service name in `ports`. */
export function parseHostPort(text: string, key: string, place: Place, ports: Record<string, number> = {}): { address: string; port?: number } {
  let host = text;
  let port: string | undefined;
  const v6 = /^\[([^\]]+)\](?::(.+))?$/.exec(text);
  if (v6) {
    host = v6[1]!;
    port = v6[2];
  } else if (text.split(':').length === 2) {
    [host, port] = text.split(':') as [string, string];
  }
  const address = parseAddress(host, key, place);
  if (port === undefined) return { address };
  if (ports[port] !== undefined) return { address, port: ports[port] };
  return { address, port: parseCount(port, `${key} port`, { ...place, column: place.column + text.lastIndexOf(port) }, 0, 65535) };
}

/** Well-known ports by service name, for configurations that name them. */
export const SERVICE_PORTS: Record<string, number> = {
  ftp: 21, ssh: 22, telnet: 23, smtp: 25, domain: 53, dns: 53, http: 80, www: 80, pop3: 110, pop: 110, nntp: 119, imap: 143, imap2: 143,
  ldap: 389, https: 443, submission: 587, ldaps: 636, imaps: 993, pop3s: 995, pops: 995, mysql: 3306, sip: 5060, pgsql: 5432, postgresql: 5432, radius: 1812,
};
