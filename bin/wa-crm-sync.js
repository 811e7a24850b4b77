#!/usr/bin/env node
// Runs the TypeScript sources through tsx, so self-hosters need no build step.
import { register } from 'tsx/esm/api';

register();
const { runCli } = await import('../server/cli.ts');
await runCli(process.argv);
