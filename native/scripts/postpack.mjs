// npm "postpack" script: removes native/prebuilds (made by native/scripts/prepack.mjs for
// the tarball) so that a checkout always loads its own source build.
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

rmSync(join(join(dirname(fileURLToPath(import.meta.url)), '..', '..'), 'native', 'prebuilds'), { recursive: true, force: true });
