/**
 * A plan as a readable diff: one line per operation, `+` for what is added,
 * `-` for what is deleted, `~` for what changes (with `old -> new` for each
 * changed setting). Pure.
 * @module
 */
import { describeService } from '../ipvs/errors.js';
import type { Operation } from '../ipvs/state.js';
import type { DestinationKey, ServiceKey } from '../ipvs/types.js';
import { TextSink } from '../ipvs/text-sink.js';
import { normalizeServiceKey } from '../ipvs/validate.js';

const KEY_FIELDS = new Set(['protocol', 'address', 'port', 'fwmark', 'family', 'destinations']);

/**
 * Names of service keys already named: a plan's destination operations share
 * their service's key object, and a large apply prints thousands of them.
 */
const serviceNames = new WeakMap<ServiceKey, string>();

function serviceName(k: ServiceKey): string {
  let name = serviceNames.get(k);
  if (name === undefined) {
    try {
      name = describeService(normalizeServiceKey(k));
    } catch {
      name = JSON.stringify(k);
    }
    serviceNames.set(k, name);
  }
  return name;
}

function valueText(v: unknown): string {
  if (Array.isArray(v)) return v.join(',');
  if (v && typeof v === 'object') {
    return Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined).map(([k, x]) => `${k}:${String(x)}`).join('/');
  }
  return String(v);
}

/** Settings of a spec beyond its key, as `name=value` in a stable order. */
function settings(spec: object, skip: Set<string>): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of Object.entries(spec)) {
    if (skip.has(k) || v === undefined || v === false) continue;
    out.set(k, valueText(v));
  }
  return out;
}

const destSkip = new Set(['address', 'port']);

function changes(before: object, after: object, skip: Set<string>): string {
  const a = settings(before, skip);
  const b = settings(after, skip);
  const parts: string[] = [];
  for (const k of new Set([...a.keys(), ...b.keys()])) {
    const x = a.get(k) ?? '-';
    const y = b.get(k) ?? '-';
    if (x !== y) parts.push(`${k} ${x} -> ${y}`);
  }
  return parts.length ? `: ${parts.join(', ')}` : '';
}

const LF = 0x0a;
const SP = 0x20;

/** `10.0.0.1:80`, `[2001:db8::1]:80`, or the bare address of a key without a port. */
function writeDestinationName(out: TextSink, d: DestinationKey): void {
  if (d.port === undefined) out.text(d.address);
  else if (d.address.includes(':')) out.byte(0x5b).text(d.address).byte(0x5d).byte(0x3a).number(d.port);
  else out.text(d.address).byte(0x3a).number(d.port);
}

/** A spec's settings beyond its key as ` name=value` (whole numbers written as digits), in the spec's own order. */
function writeSettings(out: TextSink, spec: object, skip: Set<string>): void {
  for (const k in spec) {
    const v = (spec as Record<string, unknown>)[k];
    if (!Object.hasOwn(spec, k) || skip.has(k) || v === undefined || v === false) continue;
    out.byte(SP).text(k).byte(0x3d /* = */);
    if (typeof v === 'number') out.number(v);
    else out.text(valueText(v));
  }
}

const daemonSkip = new Set(['state']);

/**
 * One operation's line (without its line feed), written into `out`: piece by
 * piece, as a large apply prints thousands of them (see text-sink.ts).
 */
function writeOperation(out: TextSink, o: Operation): void {
  switch (o.op) {
    case 'add-service':
      out.text('+ service ').text(serviceName(o.service));
      writeSettings(out, o.service, KEY_FIELDS);
      return;
    case 'update-service':
      out.text('~ service ').text(serviceName(o.service)).text(changes(o.before, o.service, KEY_FIELDS));
      return;
    case 'delete-service': {
      const n = o.before.destinations.length;
      out.text('- service ').text(serviceName(o.service));
      if (n) out.text(` (and its ${n} destination${n === 1 ? '' : 's'})`);
      return;
    }
    case 'add-destination':
      out.text('+ destination ');
      writeDestinationName(out, o.destination);
      out.text(' to ').text(serviceName(o.service));
      writeSettings(out, o.destination, destSkip);
      return;
    case 'update-destination':
      out.text('~ destination ');
      writeDestinationName(out, o.destination);
      out.text(' in ').text(serviceName(o.service)).text(changes(o.before, o.destination, destSkip));
      return;
    case 'delete-destination':
      out.text('- destination ');
      writeDestinationName(out, o.destination);
      out.text(' from ').text(serviceName(o.service));
      return;
    case 'set-timeouts':
      out.text('~ timeouts').text(changes(o.before, { ...o.before, ...o.timeouts }, new Set()));
      return;
    case 'start-daemon':
      out.text('+ sync daemon ').text(o.daemon.state);
      writeSettings(out, o.daemon, daemonSkip);
      return;
    case 'stop-daemon':
      out.text('- sync daemon ').text(o.state);
      return;
  }
}

/**
 * One line for an operation of a plan, e.g.
 * `+ service TCP 10.0.0.1:80 scheduler=rr`,
 * `+ destination 10.0.0.2:80 to TCP 10.0.0.1:80 weight=1 forward=masq`,
 * `~ destination 10.0.0.3:80 in TCP 10.0.0.1:80: weight 5 -> 0`,
 * `- service FWM 7`.
 */
export function formatOperation(o: Operation): string {
  const out = new TextSink(256);
  writeOperation(out, o);
  return out.toString();
}

/** The plan's lines, written into one buffer. */
function writePlanDiff(operations: readonly Operation[]): TextSink {
  // An addition's line is about 70 bytes; the buffer grows if need be.
  const out = new TextSink(Math.max(1024, operations.length * 80));
  for (let i = 0; i < operations.length; i++) {
    writeOperation(out, operations[i]!);
    out.byte(LF);
  }
  return out;
}

/** A whole plan, one line per operation, each ending in a line feed (`''` for no operations). */
export function formatPlanDiff(operations: readonly Operation[]): string {
  return writePlanDiff(operations).toString();
}

/** {@link formatPlanDiff}'s text as UTF-8 bytes, written without building the string (what `ipvs-ts apply` prints). */
export function formatPlanDiffBytes(operations: readonly Operation[]): Buffer {
  return writePlanDiff(operations).bytes();
}
