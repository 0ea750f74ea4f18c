/**
 * Metric families as plain data, and the Prometheus text exposition format
 * (version 0.0.4): `# HELP` and `# TYPE` lines, then one line per sample, with
 * label values and help text escaped as the format requires.
 * @module
 */

/** The Prometheus type of a metric family. */
export type MetricType = 'counter' | 'gauge' | 'untyped';

/** One sample: label values and a value (bigint for exact 64-bit counters). */
export interface MetricSample {
  labels?: Record<string, string>;
  value: number | bigint;
}

/** A metric family: a name, its help text and type, and its samples. */
export interface MetricFamily {
  /** Metric name, `[a-zA-Z_:][a-zA-Z0-9_:]*`. */
  name: string;
  help: string;
  type: MetricType;
  samples: MetricSample[];
}

/** The `Content-Type` of the text format, for an HTTP endpoint. */
export const EXPOSITION_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Escape a label value: backslash, double quote and line feed. */
export function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** Escape help text: backslash and line feed. */
function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function formatValue(v: number | bigint): string {
  if (typeof v === 'bigint') return v.toString();
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

/**
 * Render families in the text exposition format. Throws a TypeError naming
 * a metric or label name that the format does not allow, or a family name
 * used twice.
 * @example
 * ```ts
 * formatExposition([{ name: 'up', help: 'Whether it is up.', type: 'gauge', samples: [{ value: 1 }] }]);
 * // '# HELP up Whether it is up.\n# TYPE up gauge\nup 1\n'
 * ```
 */
export function formatExposition(families: readonly MetricFamily[]): string {
  const seen = new Set<string>();
  let out = '';
  for (const f of families) {
    if (!NAME.test(f.name)) throw new TypeError(`metric name ${JSON.stringify(f.name)} is not a valid Prometheus name`);
    if (seen.has(f.name)) throw new TypeError(`metric family ${f.name} appears twice`);
    seen.add(f.name);
    out += `# HELP ${f.name} ${escapeHelp(f.help)}\n# TYPE ${f.name} ${f.type}\n`;
    for (const s of f.samples) {
      let labels = '';
      if (s.labels) {
        const parts: string[] = [];
        for (const [k, v] of Object.entries(s.labels)) {
          if (!LABEL.test(k) || k.startsWith('__')) throw new TypeError(`label name ${JSON.stringify(k)} of ${f.name} is not a valid Prometheus label name`);
          parts.push(`${k}="${escapeLabelValue(v)}"`);
        }
        if (parts.length) labels = `{${parts.join(',')}}`;
      }
      out += `${f.name}${labels} ${formatValue(s.value)}\n`;
    }
  }
  return out;
}
