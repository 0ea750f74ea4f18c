/**
 * Sending a reload's plan so that a refusal by the kernel leaves the table as
 * it was: the operations go out in an order that puts the destructive ones
 * last (and in a send of their own), which operations took effect is read
 * from the kernel's answer to each message, and those are undone, newest
 * first, with the settings and weights they had before the reload (the
 * operations carry them: the plan is made from a snapshot taken while the
 * health checkers' writes are held, so a down server's 0 is in it).
 * @module
 */
import { ApplyError } from '../ipvs/apply.js';
import { describeOperation, keyOf, type Operation } from '../ipvs/state.js';
import type { Ipvs } from '../ipvs/client.js';

/** What sending a reload needs of the Ipvs client. */
export type ReloadIpvs = Pick<Ipvs, 'runOperations'>;

/**
 * The order of a reload's operations, and the send each goes in. The generic
 * planner (src/ipvs/state.ts) deletes first, which suits a whole-table apply
 * that undoes itself from a snapshot; a reload instead wants a refusal to come
 * before anything is taken away. So: stopping a sync daemon first (a running
 * daemon makes the kernel refuse destinations of the other address family),
 * then additions (a service with its destinations, together), service edits,
 * destination edits and timeouts — the operations the kernel refuses for
 * reasons of its own (a scheduler it has no module for, an address family it
 * will not mix, a tunnel option) — all in the first send. Only when the kernel
 * has taken all of them does the second send go: destination and service
 * deletions, then starting a sync daemon (last: the kernel refuses one while
 * destinations of another family remain, which the deletions may remove). No
 * operation of a reload depends on an earlier deletion: a destination or
 * service that stays is edited in place, never deleted and added again.
 */
const RANK: Record<Operation['op'], number> = {
  'stop-daemon': 0,
  'add-service': 1,
  'add-destination': 1,
  'update-service': 2,
  'update-destination': 3,
  'set-timeouts': 4,
  'delete-destination': 5,
  'delete-service': 6,
  'start-daemon': 7,
};

/** Operations of rank below this go in the first send, the rest in the second. */
const SECOND_SEND = 5;

/**
 * A reload's operations in two sends: first stopping a sync daemon,
 * additions, service edits, destination edits and timeouts; then deletions
 * and starting a sync daemon (the reasons are at the order table in this
 * file). Stable: operations of the same rank keep the plan's order, so a
 * service's add stays before its destinations'.
 */
export function reloadSends(operations: readonly Operation[]): [Operation[], Operation[]] {
  const ranked = operations.map((op, i) => ({ op, i, rank: RANK[op.op] }));
  ranked.sort((a, b) => a.rank - b.rank || a.i - b.i);
  const first = ranked.filter((r) => r.rank < SECOND_SEND).map((r) => r.op);
  const second = ranked.filter((r) => r.rank >= SECOND_SEND).map((r) => r.op);
  return [first, second];
}

/**
 * The operations that undo `op` once it took effect, from what it carries of
 * the state before: an addition is deleted, an edit gets its previous
 * settings back, a deleted destination is added again as it was (weight
 * included), a deleted service again with its destinations.
 */
export function inverseOperations(op: Operation): Operation[] {
  switch (op.op) {
    case 'add-service': {
      const { destinations: _d, ...spec } = op.service as typeof op.service & { destinations?: unknown };
      return [{ op: 'delete-service', service: keyOf(op.service), before: { ...spec, destinations: [] } }];
    }
    case 'update-service':
      return [{ op: 'update-service', service: op.before, before: op.service }];
    case 'delete-service': {
      const { destinations, ...spec } = op.before;
      const key = keyOf(spec);
      return [{ op: 'add-service', service: spec }, ...(destinations ?? []).map((d): Operation => ({ op: 'add-destination', service: key, destination: d }))];
    }
    case 'add-destination':
      return [{ op: 'delete-destination', service: op.service, destination: { address: op.destination.address, ...(op.destination.port !== undefined ? { port: op.destination.port } : {}) }, before: op.destination }];
    case 'update-destination':
      return [{ op: 'update-destination', service: op.service, destination: op.before, before: op.destination }];
    case 'delete-destination':
      return [{ op: 'add-destination', service: op.service, destination: op.before }];
    case 'set-timeouts': {
      const back: Partial<typeof op.before> = {};
      for (const k of Object.keys(op.timeouts) as (keyof typeof op.before)[]) back[k] = op.before[k];
      return [{ op: 'set-timeouts', timeouts: back, before: { ...op.before, ...op.timeouts } }];
    }
    case 'start-daemon':
      return [{ op: 'stop-daemon', state: op.daemon.state, before: op.daemon }];
    case 'stop-daemon':
      return [{ op: 'start-daemon', daemon: op.before }];
  }
}

/**
 * A reload the kernel refused part-way. `operation`, `errno`, `code` and
 * `cause` (an IpvsError) are the refusal's; `rolledBack` says whether what
 * had been applied was undone, and when not, `left` names each undo the
 * kernel refused (what still differs from the table before the reload).
 */
export class ReloadRefusedError extends Error {
  override name = 'ReloadRefusedError';
  /** The refused operation, in words (`update service TCP 192.0.2.10:80`). */
  readonly operation: string;
  /** The kernel's errno, when the kernel refused it (not for a lost connection or a timeout). */
  readonly errno?: number;
  /** The errno code (`'ENOENT'`), or the error's name. */
  readonly code: string;
  /** Operations of the reload that had taken effect. */
  readonly applied: number;
  /** Undo operations sent (a deleted service put back is one per destination, plus one). */
  readonly undoOperations: number;
  /** True when all of them were undone: the table is as before the reload. */
  readonly rolledBack: boolean;
  /** The undo operations the kernel refused, in words with its reason (empty when rolled back). */
  readonly left: string[];
  constructor(message: string, fields: { operation: string; errno?: number; code: string; applied: number; undoOperations: number; rolledBack: boolean; left: string[]; cause: unknown }) {
    super(message, { cause: fields.cause });
    this.operation = fields.operation;
    if (fields.errno !== undefined) this.errno = fields.errno;
    this.code = fields.code;
    this.applied = fields.applied;
    this.undoOperations = fields.undoOperations;
    this.rolledBack = fields.rolledBack;
    this.left = fields.left;
  }
}

/** What {@link sendReload} did, for the daemon's events and counters. */
export interface ReloadSent {
  /** The operations that took effect, in the order sent. */
  applied: Operation[];
}

/** The operations of `ops` that took effect, per the kernel's answers in `e` (its `refused` and `sent`). */
function tookEffect(ops: readonly Operation[], e: ApplyError): Operation[] {
  const refused = new Set(e.refused);
  return ops.filter((_, i) => i < e.sent && !refused.has(i));
}

function errorFields(e: unknown): { message: string; errno?: number; code: string } {
  const x = (e instanceof ApplyError && e.cause ? e.cause : e) as { message?: string; errno?: number; code?: string; name?: string };
  return { message: x.message ?? String(e), ...(typeof x.errno === 'number' ? { errno: x.errno } : {}), code: x.code ?? x.name ?? 'EUNKNOWN' };
}

/**
 * Send a reload's operations in the two sends of {@link reloadSends}
 * (additions and edits, then deletions). When the kernel refuses one, what
 * took effect (read from its answer to each message) is undone newest first
 * and the call rejects with a {@link ReloadRefusedError} saying whether the table is back as it was. An
 * error that is not the kernel's answer (a lost connection, a timeout) leaves
 * which operations took effect unknown: it rejects the same way with
 * `rolledBack: false` and nothing undone.
 */
export async function sendReload(ipvs: ReloadIpvs, operations: readonly Operation[]): Promise<ReloadSent> {
  const applied: Operation[] = [];
  for (const ops of reloadSends(operations)) {
    if (ops.length === 0) continue;
    try {
      await ipvs.runOperations(ops, { stopOnError: true });
      applied.push(...ops);
    } catch (e) {
      if (!(e instanceof ApplyError) || e.refused.length === 0) {
        const f = errorFields(e);
        const sofar = applied.length ? `${applied.length} operation(s) of the reload had been applied before this send; ` : '';
        throw new ReloadRefusedError(`reload failed while sending ${ops.length} operation(s): ${f.message}; ${sofar}which operations of this send took effect is unknown: nothing was rolled back, compare the table (ipvsadm -Ln) with the configuration`, {
          operation: 'send', ...(f.errno !== undefined ? { errno: f.errno } : {}), code: f.code, applied: applied.length, undoOperations: 0, rolledBack: false, left: ['unknown'], cause: e,
        });
      }
      applied.push(...tookEffect(ops, e));
      const refusedOp = describeOperation(ops[e.refused[0]!]!);
      const f = errorFields(e);
      const head = `reload refused by the kernel at "${refusedOp}": ${f.message} [${f.code}${f.errno !== undefined ? `, errno ${f.errno}` : ''}]`;
      const undoOps = [...applied].reverse().flatMap(inverseOperations);
      const left = await undo(ipvs, undoOps);
      const base = { operation: refusedOp, ...(f.errno !== undefined ? { errno: f.errno } : {}), code: f.code, applied: applied.length, undoOperations: undoOps.length, cause: e.cause ?? e };
      if (left.length === 0) {
        throw new ReloadRefusedError(`${head}; rolled back: ${applied.length} operation(s) that had taken effect were undone, the table is as before the reload and the previous configuration stays in force`, { ...base, rolledBack: true, left });
      }
      throw new ReloadRefusedError(`${head}; rollback INCOMPLETE: ${applied.length} operation(s) had taken effect, the kernel refused to undo ${left.length}: left in the table: ${left.join('; ')}; the previous configuration stays in force`, { ...base, rolledBack: false, left });
    }
  }
  return { applied };
}

/**
 * Send the undo operations `ops` (every one is tried); resolves with those the
 * kernel refused (`could not add destination ...`, the first with the
 * kernel's reason), empty when all went through.
 */
async function undo(ipvs: ReloadIpvs, ops: readonly Operation[]): Promise<string[]> {
  if (ops.length === 0) return [];
  try {
    await ipvs.runOperations(ops);
    return [];
  } catch (e) {
    if (!(e instanceof ApplyError) || e.refused.length === 0) return [`unknown (${errorFields(e).message}): compare the table (ipvsadm -Ln) with the configuration`];
    const first = errorFields(e);
    return e.refused.map((i, n) => `could not ${describeOperation(ops[i]!)}${n === 0 ? ` (${first.message})` : ''}`);
  }
}
