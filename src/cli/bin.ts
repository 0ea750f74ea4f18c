#!/usr/bin/env node
/**
 * The `ipvs-ts` executable (package.json `bin`): runs {@link main} on the
 * process's arguments and exits with its code.
 * @module
 */
import { main } from './main.js';

process.exitCode = await main(process.argv.slice(2));
