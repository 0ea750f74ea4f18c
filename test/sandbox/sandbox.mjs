#!/usr/bin/env node
// The project's entry to the IPVS sandbox (npm run sandbox / test:kernel /
// quickstart / bench); the implementation ships in the package under
// src/sandbox/ (bin ipvs-ts-sandbox). See docs/testing.md.
import '../../src/sandbox/cli.mjs';
