// The command line's file reading: ASCII and UTF-8 files read as the same text.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InputError, processIo } from '../../../src/cli/io.js';

const dir = mkdtempSync(join(tmpdir(), 'ipvs-ts-io-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('processIo.readFile', () => {
  it('reads ASCII and UTF-8 text exactly', async () => {
    for (const text of ['{"services":[]}\n', '{"note":"café – ☃ 𝄞"}\n', '']) {
      const file = join(dir, 'f.json');
      writeFileSync(file, text, 'utf8');
      expect(await processIo.readFile(file)).toBe(text);
    }
  });

  it('names the file it cannot read', async () => {
    await expect(processIo.readFile(join(dir, 'missing.json'))).rejects.toThrow(InputError);
    await expect(processIo.readFile(join(dir, 'missing.json'))).rejects.toThrow(/missing\.json: cannot read \(ENOENT\)/);
  });
});
