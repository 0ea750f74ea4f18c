/**
 * Hex helpers for golden-byte tests.
 *
 * `fromHex` accepts bytes written with any whitespace, `|` separators and
 * `#`-comments to the end of a line, so expected messages can be laid out one
 * attribute per line:
 *
 * ```ts
 * fromHex(`
 *   06 00 01 00  02 00 00 00   # AF len=6 type=1, u16 2 + 2 pad
 * `)
 * ```
 */

/** Parse a hex string (whitespace, `|`, `:` and `#` comments ignored) into a Buffer. */
export function fromHex(text: string): Buffer {
  const clean = text
    .split('\n')
    .map((line) => line.replace(/#.*$/, ''))
    .join('')
    .replace(/[\s|:]/g, '');
  if (!/^[0-9a-fA-F]*$/.test(clean)) throw new Error(`fromHex: not hex: ${JSON.stringify(clean)}`);
  if (clean.length % 2) throw new Error(`fromHex: odd number of hex digits (${clean.length})`);
  return Buffer.from(clean, 'hex');
}

/** Format bytes as space-separated hex pairs, grouped by 4 (easy to compare with nla headers). */
export function toHex(bytes: Uint8Array): string {
  const parts: string[] = [];
  for (let i = 0; i < bytes.length; i++) {
    parts.push(bytes[i]!.toString(16).padStart(2, '0'));
  }
  const groups: string[] = [];
  for (let i = 0; i < parts.length; i += 4) groups.push(parts.slice(i, i + 4).join(' '));
  return groups.join(' | ');
}

/** Plain lowercase hex with no separators (for printing fuzz inputs that reproduce with `Buffer.from(x, 'hex')`). */
export function compactHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** Like {@link fromHex} but a plain Uint8Array (what decoders return for binary fields). */
export function bytesOf(text: string): Uint8Array {
  return new Uint8Array(fromHex(text));
}
