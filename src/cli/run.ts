/**
 * `ipvs-ts run CONFIG`: the director daemon. Reads the configuration (ours,
 * or ldirectord.cf / lvs.cf / keepalived.conf through the importers), runs a
 * {@link Director}, logs one line per change on standard output, reloads on
 * SIGHUP, stops on SIGTERM/SIGINT, serves metrics on `--metrics-listen`;
 * with a `failover` section, logs one line per election transition.
 * `--check` validates (and with `--netns` shows the plan) without changing
 * anything. Imported only when the command runs.
 * @module
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import type { ImportWarning } from '../importers/types.js';
import { InvalidArgumentError } from '../errors.js';
import type { Director, DirectorEvent } from '../director/director.js';
import { ON_EXIT, parseListen, type OnExit } from '../director/config.js';
import { CONFIG_FORMATS, ConfigSyntaxError, parseDirectorConfig, type ConfigFormat, type LoadedConfig } from '../director/load-config.js';
import { formatOperation, formatPlanDiff } from './plan-diff.js';
import { EXIT, InputError, UsageError, type CliIo } from './io.js';
import { readInclude, type CommandContext } from './commands.js';

/** Reads the file a JSON configuration's `import` names, relative to the configuration's directory. */
function readImport(name: string, from: string): { file: string; text: string } {
  const path = isAbsolute(name) ? name : join(dirname(from), name);
  try {
    return { file: path, text: readFileSync(path, 'utf8') };
  } catch (e) {
    throw new InputError(`${from}: import.file: cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
}

async function load(io: CliIo, file: string, format: ConfigFormat | undefined): Promise<LoadedConfig> {
  const text = await io.readFile(file);
  try {
    return parseDirectorConfig(text, { file, readInclude, readImport, ...(format ? { format } : {}) });
  } catch (e) {
    if (e instanceof ConfigSyntaxError) throw new InputError(e.message);
    if (e instanceof InvalidArgumentError) throw new InputError(e.message.startsWith(`${file}:`) ? e.message : `${file}: ${e.problems.join('; ')}`);
    throw e;
  }
}

function warn(io: CliIo, warnings: ImportWarning[]): void {
  for (const w of warnings) io.stderr(`${w.file}${w.line > 0 ? `:${w.line}` : ""}: warning: ${w.message}\n`);
}

function summary(c: LoadedConfig): string {
  const services = c.normal.services.size;
  const destinations = [...c.normal.services.values()].reduce((n, s) => n + s.destinations.size, 0);
  return `${services} service${services === 1 ? '' : 's'}, ${destinations} destination${destinations === 1 ? '' : 's'}, ${c.checkers.size} checked`;
}

/** One log line per event (undefined: not logged). */
export function formatDirectorEvent(e: DirectorEvent): string | undefined {
  switch (e.type) {
    case 'operation':
      return `${e.phase}: ${formatOperation(e.operation)}`;
    case 'host':
      return `${e.phase}: host: ${e.change}`;
    case 'configured': {
      const c = e.checkers;
      const parts = [c.started.length ? `checks started for ${c.started.join(', ')}` : '', c.stopped.length ? `checks stopped for ${c.stopped.join(', ')}` : '', c.kept.length ? `checks kept for ${c.kept.join(', ')}` : ''].filter(Boolean);
      return `${e.phase === 'start' ? 'started' : 'reloaded'}: ${e.summary}${parts.length ? `; ${parts.join('; ')}` : ''}`;
    }
    case 'health': {
      const h = e.event;
      switch (h.type) {
        case 'state':
          return `${e.service} ${h.destination}: ${h.from} -> ${h.to}${h.result ? ` (${h.result.detail})` : ''}`;
        case 'weights':
          return `${e.service}: ${h.external ? 'put back after an outside change: ' : ''}${h.changes.map((c) => `${c.destination} ${c.from ?? 'absent'} -> ${c.to ?? 'absent'}`).join(', ')}`;
        case 'sorry':
          return `${e.service}: sorry server ${h.active ? 'in' : 'out'}`;
        case 'quorum':
          return `${e.service}: quorum ${h.met ? 'met' : 'lost'} (weight ${h.weight})`;
        case 'drained':
          return `${e.service} ${h.destination}: drained=${h.outcome.drained} removed=${h.outcome.removed}`;
        case 'error':
          return `${e.service}: error during ${h.during}: ${h.error.message}`;
      }
      return undefined;
    }
    case 'error':
      // A refusal by the kernel says itself what happened ("reload refused by the kernel at ...; rolled back ...").
      return `${e.error.name === 'ReloadRefusedError' ? '' : `${e.phase} failed: `}${e.error.message.replace(/\s*\n\s*/g, '; ')}`;
    case 'election': {
      const t = e.transition;
      return `election: ${t.from} -> ${t.to} (${t.reason}; priority ${t.priority})`;
    }
    case 'failover':
      return `${e.phase}: failover: ${e.detail}`;
    case 'stopped':
      return `stopped (on exit: ${e.onExit}): ${e.summary}`;
  }
}

async function check(ctx: CommandContext, loaded: LoadedConfig, file: string): Promise<number> {
  const from = loaded.imported ? ` (importing ${loaded.imported.file} as ${loaded.imported.format})` : '';
  const election = loaded.config.failover ? `; failover: node ${loaded.config.failover.nodeId}, priority ${loaded.config.failover.priority}, peers ${loaded.config.failover.peers.map((p) => `${p.nodeId}${p.address ? `@${p.address}` : ''}`).join(', ')}${loaded.config.failover.syncDaemon ? `, sync daemon on ${loaded.config.failover.syncDaemon.interface}` : ''}` : '';
  ctx.io.stdout(`${file}: valid ${loaded.format} configuration${from}: ${summary(loaded)}${election}\n`);
  if (ctx.netns === undefined) return EXIT.OK;
  // With a namespace: the plan a start would carry out there (read only).
  const [{ Ipvs }, { reloadPlan }] = await Promise.all([import('../ipvs/client.js'), import('../director/reload-plan.js')]);
  const ipvs = await Ipvs.open({ netns: ctx.netns });
  try {
    const plan = reloadPlan(await ipvs.snapshot(), loaded, new Set());
    ctx.io.stdout(formatPlanDiff(plan.operations));
    ctx.io.stdout(`plan: ${plan.summary}\n`);
  } finally {
    await ipvs.close();
  }
  return EXIT.OK;
}

async function daemon(ctx: CommandContext, initial: LoadedConfig, file: string, format: ConfigFormat | undefined, onExit: OnExit, listen: string | undefined): Promise<number> {
  const [{ Ipvs }, { Director }, { directorRegistry, serveMetrics }] = await Promise.all([
    import('../ipvs/client.js'),
    import('../director/director.js'),
    import('../director/metrics.js'),
  ]);
  const log = (line: string | undefined): void => {
    if (line !== undefined) ctx.io.stdout(`${line}\n`);
  };
  const ipvs = await Ipvs.open(ctx.netns === undefined ? {} : { netns: ctx.netns });
  const director: Director = new Director(ipvs, ctx.netns === undefined ? {} : { netns: ctx.netns });
  director.on('event', (e: DirectorEvent) => log(formatDirectorEvent(e)));
  let server: Awaited<ReturnType<typeof serveMetrics>>['server'] | undefined;
  const starting = (async () => {
    await director.start(initial);
    if (listen !== undefined) {
      const s = await serveMetrics(directorRegistry(ipvs, director), parseListen(listen, '--metrics-listen'));
      server = s.server;
      log(`metrics on http://${s.address.family === 'IPv6' ? `[${s.address.address}]` : s.address.address}:${s.address.port}/metrics`);
    }
    log(`ready: ${summary(initial)} (pid ${process.pid})`);
  })();
  // Signals are handled from the start: a SIGHUP or SIGTERM during start-up
  // waits for it instead of killing the process half-way.
  let stopRequested: (signal: string) => void = () => {};
  const stopSignal = new Promise<string>((resolve) => (stopRequested = resolve));
  let reloading: Promise<void> = starting.catch(() => undefined);
  const onHup = (): void => {
    reloading = reloading.then(async () => {
      log(`SIGHUP: reading ${file}`);
      let next: LoadedConfig;
      try {
        next = await load(ctx.io, file, format);
      } catch (e) {
        director.counters.reloadFailures++;
        log(`reload refused, the running configuration stays: ${(e as Error).message.replace(/\s*\n\s*/g, '; ')}`);
        return;
      }
      warn(ctx.io, next.warnings);
      await director.reload(next).catch(() => undefined); // logged as an error event
    });
  };
  const onTerm = (): void => stopRequested('SIGTERM');
  const onInt = (): void => stopRequested('SIGINT');
  process.on('SIGHUP', onHup);
  process.on('SIGTERM', onTerm);
  process.on('SIGINT', onInt);
  const detach = (): void => {
    process.off('SIGHUP', onHup);
    process.off('SIGTERM', onTerm);
    process.off('SIGINT', onInt);
  };
  try {
    await starting;
  } catch (e) {
    detach();
    server?.close();
    await director.stop({ onExit: 'leave' }).catch(() => undefined);
    await ipvs.close();
    throw e;
  }
  const signal = await stopSignal;
  log(`${signal}: stopping`);
  let code: number = EXIT.OK;
  try {
    await reloading;
    await director.stop({ onExit });
  } catch (e) {
    log(`stop failed: ${(e as Error).message}`);
    code = EXIT.FAILED;
  }
  server?.close();
  server?.closeAllConnections();
  await ipvs.close();
  detach(); // only now: a second signal during the stop is not the default one (death)
  return code;
}

/** The `run` command (its options are declared in commands.ts, so that parsing does not load this file). */
export async function runCommand(ctx: CommandContext): Promise<number> {
  const file = ctx.positionals[0]!;
  const format = ctx.values.format as ConfigFormat | undefined;
  if (format !== undefined && !CONFIG_FORMATS.includes(format)) throw new UsageError(`run: --format must be one of ${CONFIG_FORMATS.join(', ')}, got ${JSON.stringify(format)}`);
  const onExitArg = ctx.values['on-exit'] as string | undefined;
  if (onExitArg !== undefined && !ON_EXIT.includes(onExitArg as OnExit)) throw new UsageError(`run: --on-exit must be one of ${ON_EXIT.join(', ')}, got ${JSON.stringify(onExitArg)}`);
  const listenArg = ctx.values['metrics-listen'] as string | undefined;
  if (listenArg !== undefined) {
    try {
      parseListen(listenArg, '--metrics-listen');
    } catch (e) {
      throw new UsageError(`run: ${(e as Error).message}`);
    }
  }
  const loaded = await load(ctx.io, file, format);
  warn(ctx.io, loaded.warnings);
  if (ctx.values.check) return check(ctx, loaded, file);
  const onExit = (onExitArg as OnExit | undefined) ?? loaded.config.onExit ?? 'leave';
  return daemon(ctx, loaded, file, format, onExit, listenArg ?? loaded.config.metrics?.listen);
}
