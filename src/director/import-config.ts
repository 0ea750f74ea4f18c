/**
 * An ipvs-ts JSON configuration that imports an ldirectord.cf, lvs.cf or
 * keepalived.conf and completes it: `{ "import": { "file", "format" },
 * "failover": { "nodeId", "keysFile", "stateFile" } }`. The imported file
 * gives the table, the health checks and a draft of the failover section
 * (with keepalived's VIPs as `host`); the JSON's own fields are laid over it:
 * `failover` and `host` field by field, every other field replacing the
 * imported one whole. See docs/daemon.md ("Running an imported file").
 * @module
 */
import { InvalidArgumentError } from '../errors.js';
import type { ImportResult, ImportWarning } from '../importers/types.js';
import type { DirectorConfig } from './config.js';
import { draftFailover, failoverDraftWarning } from './import-failover.js';

/** Formats an `import` may name (the importers' formats). */
export type ImportedFormat = 'ldirectord' | 'lvs' | 'keepalived';

/** The values of {@link ImportedFormat}. */
export const IMPORTED_FORMATS: readonly ImportedFormat[] = ['ldirectord', 'lvs', 'keepalived'];

/** The `import` field of an ipvs-ts JSON configuration. */
export interface ImportReference {
  /** The file to import (relative names are resolved against the configuration's directory). */
  file: string;
  /** Its format (default: detected from its text). */
  format?: ImportedFormat;
}

/** The merged configuration, with where its imported parts came from. */
export interface MergedImport {
  /** The configuration to validate (without `import`). */
  config: DirectorConfig;
  /** Fields taken from the imported file (`table`, `health`, `failover.priority`, `host.vips`, ...). */
  imported: string[];
  /** The importer's warnings, and the failover draft's when the JSON has no `failover` section. */
  warnings: ImportWarning[];
}

/** Every problem of an `import` field, as `import.FIELD: message` (empty when valid). */
export function importReferenceProblems(value: unknown): string[] {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return ['import: must be an object { "file": "/etc/keepalived/keepalived.conf", "format": "keepalived" }'];
  const r = value as ImportReference;
  const out = Object.keys(r).filter((k) => k !== 'file' && k !== 'format').map((k) => `import.${k}: unknown field (expected file, format)`);
  if (typeof r.file !== 'string' || !r.file) out.push('import.file: missing (the ldirectord.cf, lvs.cf or keepalived.conf to import)');
  if (r.format !== undefined && !IMPORTED_FORMATS.includes(r.format)) out.push(`import.format: must be one of ${IMPORTED_FORMATS.join(', ')}, got ${JSON.stringify(r.format)}`);
  return out;
}

const FORWARDING: Record<string, string> = { masq: 'nat', route: 'dr', tunnel: 'tun' };

/** `nat`, `dr` or `tun` when every destination of the imported table is forwarded that way. */
function forwardingOf(result: ImportResult): string | undefined {
  const methods = new Set(result.desired.services.flatMap((s) => (s.destinations ?? []).map((d) => FORWARDING[d.forward ?? 'route'])));
  return methods.size === 1 ? [...methods][0] : undefined;
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * Lay the JSON's own fields (`own`, without `import`) over what an importer
 * read from `file`. `table` and `health` come from the import unless the JSON
 * gives them (then whole); `failover` is run only when the JSON has one, and
 * is then the import's draft with the JSON's fields over it (a field given
 * replaces the draft's whole: `peers` is one field); `host` likewise, the
 * draft's `vips`/`interface` (keepalived's `virtual_ipaddress`) only with a
 * `failover` section, with `forwarding` the method every imported
 * destination uses (when they agree). Nothing is validated here.
 * @example
 * ```ts
 * const merged = mergeImport({ failover: { nodeId: 1, keysFile: '/etc/ipvs-ts/authkeys', stateFile: '/var/lib/ipvs-ts/gen' } },
 *   importPiranha(text, { file: 'lvs.cf' }), 'lvs.cf');
 * validateDirectorConfig(merged.config);
 * ```
 */
export function mergeImport(own: Record<string, unknown>, result: ImportResult, file: string): MergedImport {
  const format = String(result.format);
  const imported: string[] = [];
  const config: Record<string, unknown> = { ...own };
  if (own.table === undefined) {
    config.table = result.desired;
    imported.push('table');
  }
  if (own.health === undefined) {
    config.health = result.health;
    imported.push('health');
  }
  const warnings = [...result.warnings];
  const draft = draftFailover(format, result.failover);
  if (own.failover === undefined) {
    if (result.failover !== undefined) warnings.push({ file, line: 0, key: 'failover', message: failoverDraftWarning(format, result.failover, file) });
  } else if (draft) {
    const layer = (name: 'failover' | 'host', base: Record<string, unknown>): void => {
      const mine = config[name];
      if (mine !== undefined && !isObject(mine)) return; // left as it is: validation names it
      for (const k of Object.keys(base)) if (!isObject(mine) || !(k in mine)) imported.push(`${name}.${k}`);
      config[name] = { ...base, ...(mine ?? {}) };
    };
    layer('failover', draft.failover);
    if (draft.host) {
      // host needs a forwarding method: the one every imported destination uses, when they agree.
      const forwarding = forwardingOf(result);
      layer('host', { ...draft.host, ...(forwarding ? { forwarding } : {}) });
    }
  }
  return { config: config as unknown as DirectorConfig, imported, warnings };
}

/**
 * The validation error of a merged configuration, each problem of a field
 * taken from the imported file marked with it (`failover.peers[0].nodeId:
 * must be ... (from keepalived.conf)`).
 */
export function markImportedProblems(e: InvalidArgumentError, imported: string[], file: string): InvalidArgumentError {
  const origin = (field: string): string | undefined => imported.find((f) => field === f || field.startsWith(`${f}.`) || field.startsWith(`${f}[`));
  const problems = e.problems.map((p) => {
    const from = origin(p.slice(0, p.indexOf(': ')));
    return from ? `${p} (from ${file}; give ${from} in the JSON to replace it)` : p;
  });
  const first = problems[0]!;
  return new InvalidArgumentError(e.field, first.slice(first.indexOf(': ') + 2), problems);
}
