/**
 * The scheduler catalog and which schedulers this kernel has.
 *
 * The catalog itself ({@link SCHEDULERS}) is data kept in
 * `src/ipvs/schedulers-data.ts`, below the client's validator that uses it;
 * this module re-exports it and adds {@link availableSchedulers}, which reads
 * the module files of the running kernel and creates no service.
 * @module
 */
import { readFile, stat } from 'node:fs/promises';
import { release } from 'node:os';
import { InvalidArgumentError } from '../errors.js';
import { SCHEDULERS, type SchedulerInfo } from '../ipvs/schedulers-data.js';

export { SCHEDULERS, schedulerInfo, schedulerOfFlag, type NamedSchedulerFlag, type SchedulerInfo } from '../ipvs/schedulers-data.js';

/**
 * How a kernel has a scheduler: compiled in (`'builtin'`), a module loaded now
 * (`'loaded'`), a module on disk that the kernel loads when a service first
 * names the scheduler (`'loadable'`), or not at all (`'missing'`).
 */
export type SchedulerAvailability = 'builtin' | 'loaded' | 'loadable' | 'missing';

/** One row of {@link availableSchedulers}. */
export interface AvailableScheduler {
  /** Scheduler name. */
  name: string;
  /** Kernel module name. */
  module: string;
  /** How this kernel has it. */
  availability: SchedulerAvailability;
  /** The catalog entry. */
  info: SchedulerInfo;
}

/** Options of {@link availableSchedulers}. */
export interface AvailableSchedulersOptions {
  /** Kernel release whose module tree is read (default: the running kernel, `uname -r`). */
  release?: string;
  /** Root of the module trees (default `/lib/modules`). */
  modulesRoot?: string;
  /** Where loaded modules appear (default `/sys/module`). */
  sysModule?: string;
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw e;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return false;
    throw e;
  }
}

/** Module names (without `.ko*`) listed in a modules.builtin or modules.dep text. */
function moduleNames(text: string | undefined): Set<string> {
  const out = new Set<string>();
  if (text === undefined) return out;
  for (const line of text.split('\n')) {
    const path = line.split(':', 1)[0]!.trim();
    if (!path) continue;
    const base = path.slice(path.lastIndexOf('/') + 1).replace(/\.ko(\.(xz|gz|zst))?$/, '');
    out.add(base.replace(/-/g, '_'));
  }
  return out;
}

/**
 * Which of the catalog's schedulers the running kernel has, read from
 * `/lib/modules/$(uname -r)/modules.builtin` and `modules.dep` and from
 * `/sys/module`. Creates no service and loads nothing. Modules are
 * kernel-wide, so the answer is the same in every network namespace.
 * @example
 * ```ts
 * const usable = (await availableSchedulers()).filter((s) => s.availability !== 'missing').map((s) => s.name);
 * ```
 */
export async function availableSchedulers(options: AvailableSchedulersOptions = {}): Promise<AvailableScheduler[]> {
  for (const k of ['release', 'modulesRoot', 'sysModule'] as const) {
    const v = options[k];
    if (v !== undefined && (typeof v !== 'string' || v.length === 0 || v.includes('\0'))) {
      throw new InvalidArgumentError(k, 'must be a non-empty path or name');
    }
  }
  const dir = `${options.modulesRoot ?? '/lib/modules'}/${options.release ?? release()}`;
  const sys = options.sysModule ?? '/sys/module';
  const [builtin, dep] = await Promise.all([readText(`${dir}/modules.builtin`), readText(`${dir}/modules.dep`)]);
  const builtins = moduleNames(builtin);
  const onDisk = moduleNames(dep);
  return Promise.all(
    SCHEDULERS.map(async (info): Promise<AvailableScheduler> => {
      let availability: SchedulerAvailability;
      if (builtins.has(info.module)) availability = 'builtin';
      // A loaded module has /sys/module/NAME/initstate; a built-in one with parameters has only the directory.
      else if (await exists(`${sys}/${info.module}/initstate`)) availability = 'loaded';
      else if (onDisk.has(info.module)) availability = 'loadable';
      else availability = 'missing';
      return { name: info.name, module: info.module, availability, info };
    }),
  );
}
