/**
 * IpvsError: a kernel error told in the terms of the IPVS operation that met it.
 * @module
 */
import { NetlinkError, type ExtendedAck } from '../errors.js';
import { formatAddressPort } from './address.js';
import type { NormalServiceKey } from './validate.js';

/** What an operation concerned, for messages. */
export interface IpvsErrorContext {
  /** The operation, e.g. `'addService'`. */
  operation: string;
  /** The object, e.g. `'service TCP 10.0.0.1:80'`. */
  object?: string;
  /** Kind of operation, which decides what ENOENT/ESRCH/EEXIST mean. */
  kind: 'service' | 'add-service' | 'destination' | 'add-destination' | 'daemon' | 'stop-daemon' | 'config' | 'info' | 'family';
  /** For add-service: names the scheduler and persistence engine asked for. */
  scheduler?: string;
  persistenceEngine?: string;
  /** For destination kinds: the service the destination belongs to. */
  service?: string;
  /** For daemons: the interface. */
  interface?: string;
}

/**
 * An IPVS operation failed in the kernel. `errno` and `code` come from the
 * kernel; the message says what it means for this operation.
 */
export class IpvsError extends NetlinkError {
  override name = 'IpvsError';
  /** The object the operation concerned (e.g. `'service TCP 10.0.0.1:80'`), when there is one. */
  readonly object?: string;

  constructor(errno: number, message: string, options: { operation: string; object?: string; extack?: ExtendedAck; seq?: number; cause?: unknown }) {
    super(errno, message, options);
    if (options.object !== undefined) this.object = options.object;
  }
}

/** `TCP 10.0.0.1:80`, `UDP [2001:db8::1]:53`, `FWM 5`, `FWM 5 IPv6` — as ipvsadm names services. */
export function describeService(k: NormalServiceKey): string {
  if (k.fwmark !== undefined) return `FWM ${k.fwmark}${k.family === 'ipv6' ? ' IPv6' : ''}`;
  return `${k.protocol!.toUpperCase()} ${formatAddressPort(k.address!, k.family, k.port!)}`;
}

/** Turn a NetlinkError from the kernel into an IpvsError with a message in the operation's terms. */
export function toIpvsError(e: unknown, ctx: IpvsErrorContext): unknown {
  if (!(e instanceof NetlinkError) || e instanceof IpvsError) return e;
  const { code } = e;
  const what = ctx.object ?? ctx.operation;
  let text: string;
  switch (code) {
    case 'EPERM':
      text = `${ctx.operation}: permission denied; IPVS needs CAP_NET_ADMIN (run as root or grant the capability)`;
      break;
    case 'ESRCH':
      if (ctx.kind === 'stop-daemon') text = `${ctx.operation}: no ${what} is running`;
      else text = `${ctx.operation}: no such service ${ctx.service ?? ctx.object?.replace(/^service /, '') ?? ''}`.trimEnd();
      break;
    case 'ENOENT':
      if (ctx.kind === 'add-service') {
        const parts = [`scheduler ${JSON.stringify(ctx.scheduler)}`];
        if (ctx.persistenceEngine) parts.push(`persistence engine ${JSON.stringify(ctx.persistenceEngine)}`);
        text = `${ctx.operation}: ${parts.join(' or ')} does not exist in this kernel (no ip_vs_${ctx.scheduler} module${ctx.persistenceEngine ? ` or ip_vs_pe_${ctx.persistenceEngine}` : ''})`;
      } else if (ctx.kind === 'destination') {
        text = `${ctx.operation}: no such ${what}${ctx.service ? ` in service ${ctx.service}` : ''}`;
      } else if (ctx.kind === 'family') {
        text = `${ctx.operation}: the IPVS generic netlink family is missing: the ip_vs kernel module is not loaded (run "modprobe ip_vs" as root)`;
      } else {
        text = `${ctx.operation}: ${what}: not found (ENOENT)`;
      }
      break;
    case 'EEXIST':
      if (ctx.kind === 'add-destination') text = `${ctx.operation}: ${what} already exists${ctx.service ? ` in service ${ctx.service}` : ''}`;
      else if (ctx.kind === 'daemon') text = `${ctx.operation}: ${what} is already running`;
      else text = `${ctx.operation}: ${what} already exists`;
      break;
    case 'ENODEV':
      text = `${ctx.operation}: no such network interface ${JSON.stringify(ctx.interface ?? '')} in this network namespace`;
      break;
    case 'ERANGE':
      text = `${ctx.operation}: ${what}: a value is out of the kernel's range (weight below 0, or lower threshold above upper)`;
      break;
    case 'EAFNOSUPPORT':
      text = `${ctx.operation}: ${what}: address family not supported by this kernel's IPVS (IPv6 support missing?)`;
      break;
    case 'EINVAL':
      text = `${ctx.operation}: ${what}: the kernel rejected the request as invalid (EINVAL)`;
      break;
    default:
      text = `${ctx.operation}: ${what}: ${code}`;
  }
  if (e.extack?.message) text += ` (kernel: ${e.extack.message})`;
  return new IpvsError(e.errno, text, {
    operation: ctx.operation,
    ...(ctx.object !== undefined ? { object: ctx.object } : {}),
    ...(e.extack ? { extack: e.extack } : {}),
    ...(e.seq !== undefined ? { seq: e.seq } : {}),
    cause: e,
  });
}
