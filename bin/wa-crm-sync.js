#!/usr/bin/env -S MALLOC_ARENA_MAX=2 node --max-semi-space-size=4 --max-old-space-size=256
// Runs the compiled service (npm ci and npm run build write dist/).
// The heap flags keep V8 from growing lazily to several hundred MB under load: the service's
// live data is small (queues live in the store). The same flags are in `npm start`; raise
// --max-old-space-size with NODE_OPTIONS if a deployment ever needs more.
// MALLOC_ARENA_MAX=2 (glibc; set where the service is started: npm start, the Dockerfile, the
// systemd unit): each thread writing SQLite (webhooks, processing, the libuv pool) otherwise gets
// a malloc arena of its own, and memory freed in one is kept from the others: the history bench's
// service peaked 6-18 MB lower with it (183 against 189, 182 against 200 MB).
import { existsSync } from 'node:fs';

const entry = new URL('../dist/server/cli.js', import.meta.url);
if (!existsSync(entry)) {
  console.error('wa-crm-sync: dist/ is missing; run "npm run build" (npm ci does it too)');
  process.exit(1);
}
// Before the CLI loads: importing it imports the connector registry, which reads
// WA_CRM_SYNC_CONNECTOR_MODULES, and .env may set it (the environment wins over the file).
if (existsSync('.env')) process.loadEnvFile('.env');
const { ConfigError } = await import(new URL('../dist/core/errors.js', import.meta.url).href);
let cli;
try {
  cli = await import(entry.href);
} catch (error) {
  // A connector module that does not load or is not a connector: said plainly, no stack.
  if (!(error instanceof ConfigError)) throw error;
  console.error(error.message);
  process.exit(1);
}
await cli.runCli(process.argv);
