/**
 * The commands of `ipvs-ts`: each reads its options, talks to the `Ipvs`
 * client and writes its output. Formatting lives apart (listing.ts,
 * plan-diff.ts); argument parsing and errors in main.ts.
 * @module
 */
import { readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, isAbsolute, join } from 'node:path';
import type { Ipvs } from '../ipvs/client.js';
import type { ListingView } from '../ipvs/listing.js';
import type { DesiredState, Removal } from '../ipvs/state.js';
import type { ImportResult } from '../importers/types.js';
import { EXIT, InputError, UsageError, type CliIo } from './io.js';

/** What a command gets from main(). */
export interface CommandContext {
  io: CliIo;
  /** Resolved namespace path, or undefined for the caller's namespace. */
  netns: string | undefined;
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

/** A command: its options for `util.parseArgs`, its positional arguments (min, max), and what it does. */
export interface CommandSpec {
  options: Record<string, { type: 'string' | 'boolean'; short?: string }>;
  positionals: [number, number];
  usage: string;
  run(ctx: CommandContext): Promise<number>;
}

/** JSON with bigints written as plain numbers (exact: JSON numbers have no size limit). */
export function toJson(value: unknown): string {
  const text = JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? `\u0000big:${v}` : v), 2);
  return `${text.replace(/"\\u0000big:(-?\d+)"/g, '$1')}\n`;
}

// The client and the formatters are imported by the commands that use them,
// not at start-up (see main.ts).
// `beforeOpenError` runs when IPVS cannot be opened, before that error is
// thrown: a check of the input whose own error should win (exit 3 over 4).
async function withIpvs<T>(ctx: CommandContext, f: (ipvs: Ipvs) => Promise<T>, beforeOpenError?: () => Promise<void>): Promise<T> {
  const { Ipvs } = await import('../ipvs/client.js');
  let ipvs: Ipvs;
  try {
    ipvs = await Ipvs.open(ctx.netns === undefined ? {} : { netns: ctx.netns });
  } catch (e) {
    await beforeOpenError?.();
    throw e;
  }
  try {
    return await f(ipvs);
  } finally {
    await ipvs.close();
  }
}

const VIEWS: ListingView[] = ['stats', 'rate', 'thresholds', 'persistent-conn', 'tun-info'];

const list: CommandSpec = {
  options: {
    stats: { type: 'boolean' },
    rate: { type: 'boolean' },
    thresholds: { type: 'boolean' },
    'persistent-conn': { type: 'boolean' },
    'tun-info': { type: 'boolean' },
    exact: { type: 'boolean', short: 'X' },
    sort: { type: 'boolean' },
    nosort: { type: 'boolean' },
    json: { type: 'boolean' },
  },
  positionals: [0, 0],
  usage: 'no arguments',
  async run(ctx) {
    const views = VIEWS.filter((v) => ctx.values[v]);
    if (views.length > 1) throw new UsageError(`list: --${views.join(' and --')} cannot be combined`);
    if (ctx.values.sort && ctx.values.nosort) throw new UsageError('list: --sort and --nosort cannot be combined');
    if (ctx.values.json) {
      const { info, table } = await withIpvs(ctx, async (ipvs) => {
        const [i, t] = await Promise.all([ipvs.info(), ipvs.table()]);
        return { info: i, table: t };
      });
      ctx.io.stdout(toJson({ info, services: table }));
      return EXIT.OK;
    }
    // The text views read the table without the client, and without the
    // statistics unless the view prints them (docs/benchmarks.md, "Cold command line").
    const view = views[0] ?? 'default';
    const [{ readListing }, { formatListingBytes }] = await Promise.all([import('../ipvs/listing-read.js'), import('../ipvs/listing.js')]);
    const { info, table } = await readListing({ ...(ctx.netns === undefined ? {} : { netns: ctx.netns }), stats: view === 'stats' || view === 'rate' });
    ctx.io.stdout(formatListingBytes(info, table, { view, exact: !!ctx.values.exact, sort: !ctx.values.nosort }));
    return EXIT.OK;
  },
};

const save: CommandSpec = {
  options: {},
  positionals: [0, 0],
  usage: 'no arguments',
  async run(ctx) {
    ctx.io.stdout(await withIpvs(ctx, (ipvs) => ipvs.save()));
    return EXIT.OK;
  },
};

const restore: CommandSpec = {
  options: {},
  positionals: [0, 1],
  usage: '[FILE]',
  async run(ctx) {
    const file = ctx.positionals[0];
    const text = file === undefined ? await ctx.io.readStdin() : await ctx.io.readFile(file);
    // Parse before opening anything: bad rules change nothing (exit 3).
    const { parseRules } = await import('../ipvs/rules.js');
    parseRules(text);
    await withIpvs(ctx, (ipvs) => ipvs.restore(text));
    return EXIT.OK;
  },
};

const snapshot: CommandSpec = {
  options: {},
  positionals: [0, 0],
  usage: 'no arguments',
  async run(ctx) {
    ctx.io.stdout(toJson(await withIpvs(ctx, (ipvs) => ipvs.snapshot())));
    return EXIT.OK;
  },
};

function readState(text: string, file: string): DesiredState {
  let state: unknown;
  try {
    state = JSON.parse(text);
  } catch (e) {
    throw new InputError(`${file}: not JSON (${(e as Error).message})`);
  }
  // An import's output is accepted as it is: its table is the state.
  if (state && typeof state === 'object' && 'desired' in state && 'format' in state) state = (state as ImportResult).desired;
  if (!state || typeof state !== 'object' || !Array.isArray((state as DesiredState).services)) {
    throw new InputError(`${file}: expected a state object with a "services" array (as ipvs-ts snapshot writes)`);
  }
  return state as DesiredState;
}

const apply: CommandSpec = {
  options: {
    'dry-run': { type: 'boolean', short: 'n' },
    removal: { type: 'string' },
    json: { type: 'boolean' },
  },
  positionals: [1, 1],
  usage: 'FILE (a state as ipvs-ts snapshot writes it; - for standard input)',
  async run(ctx) {
    const removal = (ctx.values.removal ?? 'delete') as string;
    if (removal !== 'delete' && removal !== 'quiesce') throw new UsageError(`apply: --removal must be delete or quiesce, got ${JSON.stringify(removal)}`);
    const file = ctx.positionals[0]!;
    const desired = readState(await ctx.io.readFile(file), file);
    // Every invalid field is reported before anything is read or sent (exit 3):
    // plan() and apply() validate the whole state first. Validating it here as
    // well cost a cold apply of a large table a second pass over it, so it is
    // done here only when IPVS cannot be opened, whose error (exit 4) an
    // invalid file's error goes before.
    const validate = async (): Promise<void> => {
      (await import('../ipvs/state.js')).normalizeState(desired);
    };
    const dryRun = !!ctx.values['dry-run'];
    const { formatPlanDiffBytes } = await import('./plan-diff.js');
    return withIpvs(ctx, async (ipvs) => {
      if (dryRun) {
        const plan = await ipvs.plan(desired, { removal: removal as Removal });
        if (ctx.values.json) ctx.io.stdout(toJson({ dryRun: true, summary: plan.summary, counts: plan.counts, operations: plan.operations }));
        else {
          ctx.io.stdout(formatPlanDiffBytes(plan.operations));
          ctx.io.stderr(`dry run: ${plan.summary}\n`);
        }
        return EXIT.OK;
      }
      const result = await ipvs.apply(desired, { removal: removal as Removal });
      if (ctx.values.json) ctx.io.stdout(toJson({ dryRun: false, summary: result.plan.summary, counts: result.plan.counts, applied: result.applied, operations: result.operations }));
      else {
        ctx.io.stdout(formatPlanDiffBytes(result.operations));
        ctx.io.stderr(`applied: ${result.plan.summary}\n`);
      }
      return EXIT.OK;
    }, validate);
  },
};

/**
 * keepalived's `include`: relative to the including file's directory, with
 * `*` and `?` wildcards in the last path component; files in name order.
 */
export function readInclude(name: string, from: string): { file: string; text: string }[] {
  const path = isAbsolute(name) ? name : join(dirname(from), name);
  const dir = dirname(path);
  const base = basename(path);
  if (!/[*?]/.test(base)) {
    try {
      return [{ file: path, text: readFileSync(path, 'utf8') }];
    } catch (e) {
      throw new InputError(`${from}: include ${name}: cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
    }
  }
  const re = new RegExp(`^${base.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
  let names: string[];
  try {
    names = readdirSync(dir).filter((f) => re.test(f)).sort();
  } catch {
    names = [];
  }
  return names.map((f) => ({ file: join(dir, f), text: readFileSync(join(dir, f), 'utf8') }));
}

const importCommand: CommandSpec = {
  options: {},
  positionals: [2, 2],
  usage: 'ldirectord|lvs|keepalived FILE',
  async run(ctx) {
    const [format, file] = ctx.positionals as [string, string];
    if (format !== 'ldirectord' && format !== 'lvs' && format !== 'keepalived') throw new UsageError(`import: format must be ldirectord, lvs or keepalived, got ${JSON.stringify(format)}`);
    const text = await ctx.io.readFile(file);
    const importers = await import('../importers/index.js');
    let result: ImportResult;
    if (format === 'ldirectord') result = importers.importLdirectord(text, { file });
    else if (format === 'lvs') result = importers.importPiranha(text, { file });
    else result = importers.importKeepalived(text, { file, readInclude });
    for (const w of result.warnings) ctx.io.stderr(`${w.file}:${w.line}: warning: ${w.message}\n`);
    ctx.io.stdout(toJson(result));
    return EXIT.OK;
  },
};

/** The daemon (src/cli/run.ts), imported only when it runs. */
const runCommand: CommandSpec = {
  options: { check: { type: 'boolean' }, format: { type: 'string' }, 'on-exit': { type: 'string' }, 'metrics-listen': { type: 'string' } },
  positionals: [1, 1],
  usage: 'CONFIG (ipvs-ts JSON, ldirectord.cf, lvs.cf or keepalived.conf)',
  run: async (ctx) => (await import('./run.js')).runCommand(ctx),
};

/** Every command by name. */
export const COMMANDS: Record<string, CommandSpec> = { list, save, restore, snapshot, apply, import: importCommand, run: runCommand };
