// The ipvs-ts executable as package.json's `bin` names it: dist/cli/ipvs-ts.js,
// the one-file bundle `npm run build` makes of dist/src/cli/bin.js (docs/cli.md,
// "One file"). Tests run this file, the one users run.
import { fileURLToPath } from 'node:url';

/** Absolute path of the built executable (needs `npm run build`). */
export const CLI_BIN = fileURLToPath(new URL('../../dist/cli/ipvs-ts.js', import.meta.url));
