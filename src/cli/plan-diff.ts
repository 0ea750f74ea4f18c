/**
 * A plan as a readable diff: one line per operation, `+` for what is added,
 * `-` for what is deleted, `~` for what changes (with `old -> new` for each
 * changed setting). Pure.
 * @module
 */
import { formatAddressPort } from '../ipvs/address.js';
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

function destinationName(d: DestinationKey): string {
  if (d.port === undefined) return d.address;
  return formatAddressPort(d.address, d.address.includes(':') ? 'ipv6' : 'ipv4', d.port);
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

/** {@link settings} as ` name=value` text, without the map in between. */
function settingsText(spec: object, skip: Set<string>): string {
  let out = '';
  for (const k in spec) {
    const v = (spec as Record<string, unknown>)[k];
    if (!Object.hasOwn(spec, k) || skip.has(k) || v === undefined || v === false) continue;
    out += ` ${k}=${valueText(v)}`;
  }
  return out;
}

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

/**
 * One line for an operation of a plan, e.g.
 * `+ service TCP 10.0.0.1:80 scheduler=rr`,
 * `+ destination 10.0.0.2:80 to TCP 10.0.0.1:80 weight=1 forward=masq`,
 * `~ destination 10.0.0.3:80 in TCP 10.0.0.1:80: weight 5 -> 0`,
 * `- service FWM 7`.
 */
export function formatOperation(o: Operation): string {
  switch (o.op) {
    case 'add-service':
      return `+ service ${serviceName(o.service)}${settingsText(o.service, KEY_FIELDS)}`;
    case 'update-service':
      return `~ service ${serviceName(o.service)}${changes(o.before, o.service, KEY_FIELDS)}`;
    case 'delete-service':
      return `- service ${serviceName(o.service)}${o.before.destinations.length ? ` (and its ${o.before.destinations.length} destination${o.before.destinations.length === 1 ? '' : 's'})` : ''}`;
    case 'add-destination':
      return `+ destination ${destinationName(o.destination)} to ${serviceName(o.service)}${settingsText(o.destination, destSkip)}`;
    case 'update-destination':
      return `~ destination ${destinationName(o.destination)} in ${serviceName(o.service)}${changes(o.before, o.destination, destSkip)}`;
    case 'delete-destination':
      return `- destination ${destinationName(o.destination)} from ${serviceName(o.service)}`;
    case 'set-timeouts':
      return `~ timeouts${changes(o.before, { ...o.before, ...o.timeouts }, new Set())}`;
    case 'start-daemon':
      return `+ sync daemon ${o.daemon.state}${settingsText(o.daemon, new Set(['state']))}`;
    case 'stop-daemon':
      return `- sync daemon ${o.state}`;
  }
}

const LF = 0x0a;
const SP = 0x20;

/** {@link settingsText}, written into `out` (whole numbers as digits). */
function writeSettings(out: TextSink, spec: object, skip: Set<string>): void {
  for (const k in spec) {
    const v = (spec as Record<string, unknown>)[k];
    if (!Object.hasOwn(spec, k) || skip.has(k) || v === undefined || v === false) continue;
    out.byte(SP).text(k).byte(0x3d /* = */);
    if (typeof v === 'number' && Number.isSafeInteger(v)) out.int(v);
    else out.text(valueText(v));
  }
}

/**
 * {@link formatOperation}'s line and a line feed, written into `out`: the
 * additions (all of a large apply's lines) piece by piece, the rest as text.
 */
function writeOperation(out: TextSink, o: Operation): void {
  switch (o.op) {
    case 'add-service':
      out.text('+ service ').text(serviceName(o.service));
      writeSettings(out, o.service, KEY_FIELDS);
      break;
    case 'add-destination': {
      const d = o.destination;
      out.text('+ destination ');
      if (d.port === undefined) out.text(d.address);
      else if (d.address.includes(':')) out.byte(0x5b).text(d.address).byte(0x5d).byte(0x3a).int(d.port);
      else out.text(d.address).byte(0x3a).int(d.port);
      out.text(' to ').text(serviceName(o.service));
      writeSettings(out, d, destSkip);
      break;
    }
    default:
      out.text(formatOperation(o));
  }
  out.byte(LF);
}

/** The plan's lines, written into one buffer (see text-sink.ts). */
function writePlanDiff(operations: readonly Operation[]): TextSink {
  // An addition's line is about 70 bytes; the buffer grows if need be.
  const out = new TextSink(Math.max(1024, operations.length * 80));
  for (let i = 0; i < operations.length; i++) writeOperation(out, operations[i]!);
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
