import { afterEach, describe, expect, it } from 'vitest';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidArgumentError } from '../../../src/errors.js';
import { loadAuthKeys, normaliseKeys } from '../../../src/heartbeat/keys.js';
import { GenerationFileError, nextGeneration, readGeneration, writeGeneration } from '../../../src/heartbeat/generation.js';

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'hb-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('key sets', () => {
  it('normalises strings and buffers, checks ids, lengths and the active key', () => {
    const m = normaliseKeys({ 1: 'sixteen bytes ok', 7: Buffer.alloc(32, 1) }, 7);
    expect([...m.keys()]).toEqual([1, 7]);
    expect(() => normaliseKeys({ 1: 'short' }, 1)).toThrow(/keys\.1: must be at least 16 bytes/);
    expect(() => normaliseKeys({ 256: 'sixteen bytes ok' } as never, 256)).toThrow(/keys\.256/);
    expect(() => normaliseKeys({ 1: 'sixteen bytes ok' }, 2)).toThrow(/activeKey/);
    expect(() => normaliseKeys({}, 1)).toThrow(InvalidArgumentError);
  });

  it('loads an authkeys-style file with mode 600', () => {
    const f = join(tmp(), 'authkeys');
    writeFileSync(f, '# keys\nauth 2\n1 sha256 the-old-key-0123456789\n2 sha256 the-new-key-0123456789  # current\n', { mode: 0o600 });
    expect(loadAuthKeys(f)).toEqual({ activeKey: 2, keys: { 1: 'the-old-key-0123456789', 2: 'the-new-key-0123456789' } });
  });

  it('refuses a file readable by group or others, and weak methods', () => {
    const f = join(tmp(), 'authkeys');
    writeFileSync(f, 'auth 1\n1 sha256 the-old-key-0123456789\n', { mode: 0o600 });
    for (const mode of [0o640, 0o604, 0o660, 0o620]) {
      chmodSync(f, mode);
      expect(() => loadAuthKeys(f), mode.toString(8)).toThrow(/lets group or others access the keys/);
    }
    chmodSync(f, 0o400);
    expect(loadAuthKeys(f).activeKey).toBe(1);
    chmodSync(f, 0o600);
    writeFileSync(f, 'auth 1\n1 sha1 the-old-key-0123456789\n');
    expect(() => loadAuthKeys(f)).toThrow(/:2: method sha1 is not supported/);
    writeFileSync(f, '1 sha256 the-old-key-0123456789\n');
    expect(() => loadAuthKeys(f)).toThrow(/no "auth <id>" line/);
    writeFileSync(f, 'auth 3\n1 sha256 the-old-key-0123456789\n');
    expect(() => loadAuthKeys(f)).toThrow(/activeKey/);
  });
});

describe('generation file', () => {
  it('starts at 1 and increases at every call, durably, leaving no temp file', () => {
    const d = tmp();
    const f = join(d, 'gen');
    expect(readGeneration(f)).toBe(0);
    expect(nextGeneration(f)).toBe(1);
    expect(nextGeneration(f)).toBe(2);
    expect(nextGeneration(f)).toBe(3);
    expect(readFileSync(f, 'utf8')).toBe('generation 3\n');
    expect(readdirSync(d)).toEqual(['gen']);
  });

  it('a crash before the rename leaves the old value (temp file ignored)', () => {
    const d = tmp();
    const f = join(d, 'gen');
    writeGeneration(f, 41);
    // What a crash between write and rename leaves behind.
    writeFileSync(join(d, '.gen.99999.tmp'), 'generation 4');
    expect(nextGeneration(f)).toBe(42);
  });

  it('refuses to reset a corrupt or empty file', () => {
    const f = join(tmp(), 'gen');
    for (const text of ['', 'generation \n', 'generation 12', 'garbage', 'generation 99999999999\n']) {
      writeFileSync(f, text);
      expect(() => nextGeneration(f), JSON.stringify(text)).toThrow(GenerationFileError);
      expect(readFileSync(f, 'utf8')).toBe(text);
    }
  });

  it('reports an unwritable directory', () => {
    expect(() => nextGeneration('/nonexistent-dir/gen')).toThrow(/cannot write/);
    expect(existsSync('/nonexistent-dir')).toBe(false);
  });
});
