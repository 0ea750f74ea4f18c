/**
 * Reading the daemon's configuration: ipvs-ts JSON (a {@link DirectorConfig},
 * or what `ipvs-ts import` writes), or an ldirectord.cf, lvs.cf (piranha) or
 * keepalived.conf through the importers. The format is given or detected
 * from the text.
 * @module
 */
import { InvalidArgumentError } from '../errors.js';
import { importKeepalived } from '../importers/keepalived.js';
import { importLdirectord } from '../importers/ldirectord.js';
import { importPiranha } from '../importers/piranha.js';
import type { ImportOptions, ImportResult, ImportWarning } from '../importers/types.js';
import { validateDirectorConfig, type DirectorConfig, type ValidatedConfig } from './config.js';
import { failoverDraftWarning } from './import-failover.js';
import { importReferenceProblems, markImportedProblems, mergeImport, type ImportedFormat, type ImportReference } from './import-config.js';

/** Formats `ipvs-ts run` reads. */
export type ConfigFormat = 'json' | 'ldirectord' | 'lvs' | 'keepalived';

/** The values of {@link ConfigFormat}. */
export const CONFIG_FORMATS: readonly ConfigFormat[] = ['json', 'ldirectord', 'lvs', 'keepalived'];

/** Options of {@link parseDirectorConfig}. */
export interface ParseConfigOptions {
  /** The file's name, for messages (default `'<config>'`). */
  file?: string;
  /** The format; detected from the text when left out. */
  format?: ConfigFormat;
  /** Reads keepalived's `include` files. */
  readInclude?: ImportOptions['readInclude'];
  /**
   * Reads the file a JSON configuration's `import` names (`from` is the
   * configuration's `file`; relative names are the caller's to resolve).
   * Without it, a configuration with `import` is refused.
   */
  readImport?: (name: string, from: string) => { file: string; text: string };
}

/** A configuration read and validated. */
export interface LoadedConfig extends ValidatedConfig {
  /** The format read. */
  format: ConfigFormat;
  /** What was read but is not carried out (the importers' warnings, and failover settings of imported files). */
  warnings: ImportWarning[];
  /** The file a JSON configuration's `import` read, and its format. */
  imported?: { file: string; format: ImportedFormat };
}

/** A configuration that cannot be parsed as JSON, with its place (`file:line:column: ...`). */
export class ConfigSyntaxError extends Error {
  override name = 'ConfigSyntaxError';
  readonly code = 'ERR_CONFIG_SYNTAX';
}

/**
 * The format of a configuration text: JSON when it starts with `{`;
 * keepalived with a `virtual_server` or `vrrp_instance` block; lvs.cf with a
 * `virtual NAME {` block or `service = lvs`; ldirectord with `virtual=` lines.
 * Undefined when none fits.
 */
export function detectConfigFormat(text: string): ConfigFormat | undefined {
  if (/^\s*\{/.test(text)) return 'json';
  if (/^\s*(virtual_server|vrrp_instance|global_defs)\b/m.test(text)) return 'keepalived';
  if (/^\s*virtual\s+[^=\n]*\{/m.test(text) || /^\s*(service\s*=\s*lvs|primary\s*=|heartbeat_port\s*=)/m.test(text)) return 'lvs';
  if (/^virtual6?\s*=/m.test(text)) return 'ldirectord';
  return undefined;
}

function lineColumn(text: string, position: number): string {
  const before = text.slice(0, position);
  const line = before.split('\n').length;
  return `${line}:${position - before.lastIndexOf('\n')}`;
}

/** What an importer read, as a daemon configuration (failover settings are reported with a draft section, not run). */
export function configFromImport(result: ImportResult, file = result.format as string): { config: DirectorConfig; warnings: ImportWarning[] } {
  const warnings = [...result.warnings];
  if (result.failover !== undefined) {
    warnings.push({ file, line: 0, key: 'failover', message: failoverDraftWarning(String(result.format), result.failover, file) });
  }
  return { config: { table: result.desired, health: result.health }, warnings };
}

/**
 * Parse and validate a configuration text. Throws a {@link ConfigSyntaxError}
 * (JSON), an `ImportError` (other formats) with the place of the problem, or
 * an `InvalidArgumentError` naming every invalid field.
 * @example
 * ```ts
 * const loaded = parseDirectorConfig(readFileSync('ldirectord.cf', 'utf8'), { file: 'ldirectord.cf' });
 * for (const w of loaded.warnings) console.warn(`${w.file}:${w.line}: ${w.message}`);
 * ```
 */
export function parseDirectorConfig(text: string, options: ParseConfigOptions = {}): LoadedConfig {
  const file = options.file ?? '<config>';
  const format = options.format ?? detectConfigFormat(text);
  if (format === undefined) throw new InvalidArgumentError('format', `cannot tell the format (not JSON, ldirectord.cf, lvs.cf or keepalived.conf); give it with --format`);
  if (format === 'json') {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (e) {
      const msg = (e as Error).message;
      const pos = /position (\d+)/.exec(msg);
      throw new ConfigSyntaxError(`${file}:${pos ? lineColumn(text, Number(pos[1])) : '1:1'}: not JSON (${msg})`);
    }
    if (value !== null && typeof value === 'object' && !Array.isArray(value) && 'import' in value) return withImport(value as Record<string, unknown>, file, options);
    // What `ipvs-ts import` writes is taken as it is.
    if (value !== null && typeof value === 'object' && 'format' in value && 'desired' in value) {
      const { config, warnings } = configFromImport(value as ImportResult, file);
      return { format, ...validateDirectorConfig(config), warnings };
    }
    return { format, ...validateDirectorConfig(value), warnings: [] };
  }
  const result = runImporter(format, text, file, options);
  const { config, warnings } = configFromImport(result, file);
  return { format, ...validateDirectorConfig(config), warnings };
}

function runImporter(format: Exclude<ConfigFormat, 'json'>, text: string, file: string, options: ParseConfigOptions): ImportResult {
  const io: ImportOptions = { file, ...(options.readInclude ? { readInclude: options.readInclude } : {}) };
  return format === 'ldirectord' ? importLdirectord(text, io) : format === 'lvs' ? importPiranha(text, io) : importKeepalived(text, io);
}

/** A JSON configuration with `import`: the imported file read, the JSON laid over it, the whole validated. */
function withImport(value: Record<string, unknown>, file: string, options: ParseConfigOptions): LoadedConfig {
  const problems = importReferenceProblems(value.import);
  if (problems.length) throw new InvalidArgumentError(problems[0]!.slice(0, problems[0]!.indexOf(': ')), problems[0]!.slice(problems[0]!.indexOf(': ') + 2), problems);
  if (!options.readImport) throw new InvalidArgumentError('import', 'cannot read imported files here (no readImport given)');
  const ref = value.import as ImportReference;
  const read = options.readImport(ref.file, file);
  const format = ref.format ?? detectConfigFormat(read.text);
  if (format === undefined || format === 'json') throw new InvalidArgumentError('import.format', `cannot tell the format of ${read.file} (not ldirectord.cf, lvs.cf or keepalived.conf); give import.format`);
  const { import: _, ...own } = value;
  const merged = mergeImport(own, runImporter(format, read.text, read.file, options), read.file);
  try {
    return { format: 'json', ...validateDirectorConfig(merged.config), warnings: merged.warnings, imported: { file: read.file, format } };
  } catch (e) {
    if (e instanceof InvalidArgumentError) throw markImportedProblems(e, merged.imported, read.file);
    throw e;
  }
}
