/**
 * Probes over TCP: connect, HTTP(S), and send/expect (optionally over TLS).
 * Each resolves with an outcome (never rejects for a failing server) and tears
 * its sockets down when `signal` aborts.
 * @module
 */
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { parseStatusRanges, type CheckTarget, type HttpCheck, type NegotiateCheck, type TcpCheck } from './spec.js';
import { connectTcp, type SocketPlace } from './transport.js';

/** What a probe reports; `runCheck` adds the latency. */
export interface ProbeOutcome {
  ok: boolean;
  weight?: number;
  detail: string;
}

/** Context of one probe run. */
export interface ProbeRun {
  signal: AbortSignal;
  place: SocketPlace;
}

/** Describe a socket error briefly: `'ECONNREFUSED'` or the message. */
export function errorText(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  return err && typeof err === 'object' ? (err.code ?? err.message ?? String(e)) : String(e);
}

/** Run `body` with a settle-once resolver that also fires (as a failure) when `signal` aborts; `cleanup` runs once on settling. */
export function settleOnce(signal: AbortSignal, cleanup: () => void, body: (done: (o: ProbeOutcome) => void) => void): Promise<ProbeOutcome> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (o: ProbeOutcome): void => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      cleanup();
      resolve(o);
    };
    const onAbort = (): void => done({ ok: false, detail: 'aborted' });
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      body(done);
    } catch (e) {
      done({ ok: false, detail: errorText(e) });
    }
  });
}

/** TCP connect, then close. */
export function probeTcp(_spec: TcpCheck, target: CheckTarget, run: ProbeRun): Promise<ProbeOutcome> {
  let socket: net.Socket | undefined;
  return settleOnce(run.signal, () => socket?.destroy(), (done) => {
    socket = connectTcp(target.address, target.port, run.place);
    socket.once('connect', () => done({ ok: true, detail: 'connected' }));
    socket.once('error', (e) => done({ ok: false, detail: `connect ${errorText(e)}` }));
  });
}

const BODY_LIMIT = 1 << 20;

/** An HTTP or HTTPS request; status against ranges, body against a regex. */
export function probeHttp(spec: HttpCheck, target: CheckTarget, run: ProbeRun): Promise<ProbeOutcome> {
  const ranges = parseStatusRanges(spec.status ?? '200-399');
  const expect = spec.expect !== undefined ? new RegExp(spec.expect) : undefined;
  const secure = spec.type === 'https';
  const host = spec.host ?? target.address;
  let req: http.ClientRequest | undefined;
  return settleOnce(run.signal, () => req?.destroy(), (done) => {
    const createConnection = (): net.Socket => {
      const raw = connectTcp(target.address, target.port, run.place);
      if (!secure) return raw;
      const servername = spec.host ?? target.address;
      return tls.connect({
        socket: raw,
        ...(net.isIP(servername) !== 0 ? {} : { servername }),
        rejectUnauthorized: !spec.insecure,
        ...(spec.host ? { checkServerIdentity: (_h: string, cert: tls.PeerCertificate) => tls.checkServerIdentity(spec.host!, cert) } : {}),
      });
    };
    const options: http.RequestOptions = {
      method: spec.method ?? 'GET',
      path: spec.path ?? '/',
      headers: { Host: host.includes(':') && !host.startsWith('[') ? `[${host}]` : host, 'User-Agent': 'ipvs-ts-health', Connection: 'close' },
      createConnection,
    };
    req = (secure ? https : http).request(options, (res) => {
      const status = res.statusCode ?? 0;
      const statusOk = ranges.some(([lo, hi]) => status >= lo && status <= hi);
      if (!statusOk) {
        res.resume();
        return done({ ok: false, detail: `HTTP ${status}, expected ${spec.status ?? '200-399'}` });
      }
      if (!expect || spec.method === 'HEAD') {
        res.resume();
        return done({ ok: true, detail: `HTTP ${status}` });
      }
      const chunks: Buffer[] = [];
      let size = 0;
      const test = (): boolean => expect.test(Buffer.concat(chunks).toString('utf8'));
      res.on('data', (c: Buffer) => {
        if (size >= BODY_LIMIT) return;
        chunks.push(c);
        size += c.length;
        if (size >= BODY_LIMIT) done(test() ? { ok: true, detail: `HTTP ${status}, body matches` } : { ok: false, detail: `HTTP ${status}, first ${BODY_LIMIT} bytes of the body do not match /${spec.expect}/` });
      });
      res.on('end', () => done(test() ? { ok: true, detail: `HTTP ${status}, body matches` } : { ok: false, detail: `HTTP ${status}, body does not match /${spec.expect}/` }));
      res.on('error', (e) => done({ ok: false, detail: `HTTP ${status}, body: ${errorText(e)}` }));
    });
    req.on('error', (e) => done({ ok: false, detail: `${secure ? 'https' : 'http'} ${errorText(e)}` }));
    req.end();
  });
}

const NEGOTIATE_LIMIT = 64 * 1024;

/** Connect (TLS optionally), send, read until the regex matches. */
export function probeNegotiate(spec: NegotiateCheck, target: CheckTarget, run: ProbeRun): Promise<ProbeOutcome> {
  const expect = new RegExp(spec.expect);
  let socket: net.Socket | undefined;
  return settleOnce(run.signal, () => socket?.destroy(), (done) => {
    const raw = connectTcp(target.address, target.port, run.place);
    socket = raw;
    let stream: net.Socket = raw;
    const begin = (): void => {
      if (spec.send !== undefined && spec.send !== '') stream.write(spec.send);
    };
    if (spec.tls) {
      stream = tls.connect({ socket: raw, rejectUnauthorized: false });
      socket = stream;
      stream.once('secureConnect', begin);
    } else {
      raw.once('connect', begin);
    }
    let text = '';
    stream.on('data', (c: Buffer) => {
      if (text.length >= NEGOTIATE_LIMIT) return;
      text += c.toString('latin1');
      if (expect.test(text)) done({ ok: true, detail: `answer matches /${spec.expect}/` });
      else if (text.length >= NEGOTIATE_LIMIT) done({ ok: false, detail: `first ${NEGOTIATE_LIMIT} bytes do not match /${spec.expect}/` });
    });
    stream.once('end', () => done({ ok: false, detail: `closed after ${text.length} bytes without a match for /${spec.expect}/` }));
    stream.once('error', (e) => done({ ok: false, detail: `${spec.tls ? 'tls ' : ''}${errorText(e)}` }));
    if (stream !== raw) raw.once('error', (e) => done({ ok: false, detail: `connect ${errorText(e)}` }));
  });
}
