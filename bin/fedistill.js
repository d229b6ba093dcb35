#!/usr/bin/env node
// Entry point: loads the TypeScript sources through tsx, so a fresh clone needs no build step.
// (A build to dist/ with `npm run build` is for packaging; run it as `node dist/cli/main.js`.)
import { register } from 'tsx/esm/api';

register();
const { runCli } = await import('../cli/main.ts');
process.exitCode = await runCli(process.argv.slice(2));
