// The `wa-crm-sync` command line: start, config check, status, replay, scopes.
import { Command, Option } from 'commander';
import { connectorSettingsSchemas } from '../connectors/registry.js';
import { loadConfig } from '../core/config/load.js';
import { ConfigError, errorMessage } from '../core/errors.js';
import { silentLogger } from '../core/logger.js';
import { listOperations, outboxDepth, replayDeadOperations } from '../core/outbox/queries.js';
import { ConnectorDispatcher } from '../core/outbox/dispatcher.js';
import { RateBudget } from '../core/outbox/rate-budget.js';
import { openStore, type Store } from '../core/store/store.js';
import { buildConnectors, Service } from './service.js';
import { runDemo } from './demo.js';
import type { Connector } from '../core/connector.js';

function configPath(options: { config?: string }): string {
  return options.config ?? process.env['WA_CRM_SYNC_CONFIG'] ?? './wa-crm-sync.yaml';
}

const configOption = () => new Option('-c, --config <path>', 'config file (default: $WA_CRM_SYNC_CONFIG or ./wa-crm-sync.yaml)');

async function withStore<T>(options: { config?: string }, run: (store: Store) => Promise<T>): Promise<T> {
  const config = loadConfig(configPath(options), connectorSettingsSchemas);
  const store = await openStore(config.store.url);
  try {
    return await run(store);
  } finally {
    await store.close();
  }
}

function formatAge(ms: number): string {
  if (ms < 60_000) return `${Math.round(ms / 1000)}s`;
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)}m`;
  return `${(ms / 3_600_000).toFixed(1)}h`;
}

export function buildCli(): Command {
  const program = new Command('wa-crm-sync').description('Sync WhatsApp Business conversations to HubSpot, Salesforce and Zendesk').showHelpAfterError();

  program
    .command('start')
    .description('run the service: webhooks, processing and dispatch')
    .addOption(configOption())
    .option('-p, --port <port>', 'listen on this port instead of server.port', (v) => Number.parseInt(v, 10))
    .action(async (options: { config?: string; port?: number }) => {
      const service = await Service.start({ configPath: configPath(options), ...(options.port === undefined ? {} : { port: options.port }) });
      process.on('SIGHUP', () => void service.reload());
      const shutdown = (signal: string) => {
        service.log.info({ signal }, 'shutting down');
        service.stop().then(
          () => process.exit(0),
          (error: unknown) => {
            service.log.error({ err: errorMessage(error) }, 'shutdown failed');
            process.exit(1);
          },
        );
      };
      process.once('SIGTERM', () => shutdown('SIGTERM'));
      process.once('SIGINT', () => shutdown('SIGINT'));
    });

  const config = program.command('config').description('configuration tools');
  config
    .command('check')
    .description('validate the config file without starting anything')
    .addOption(configOption())
    .action((options: { config?: string }) => {
      const loaded = loadConfig(configPath(options), connectorSettingsSchemas);
      const connectors = Object.entries(loaded.connectors).map(([id, c]) => `${id} (${c.enabled ? 'enabled' : 'disabled'})`);
      console.log(`${configPath(options)}: OK`);
      console.log(`  store: ${loaded.store.url.startsWith('sqlite:') ? loaded.store.url : 'postgres'}`);
      console.log(`  connectors: ${connectors.length > 0 ? connectors.join(', ') : 'none'}`);
    });

  program
    .command('status')
    .description('outbox depth by connector and state, oldest pending age, flagged deliveries')
    .addOption(configOption())
    .option('--json', 'machine-readable output')
    .action(async (options: { config?: string; json?: boolean }) => {
      await withStore(options, async (store) => {
        const depth = await outboxDepth(store.db);
        const flagged = await store.db.selectFrom('webhook_deliveries').select((eb) => eb.fn.countAll<number>().as('n')).where('state', '=', 'flagged').executeTakeFirstOrThrow();
        const pending = await store.db.selectFrom('webhook_deliveries').select((eb) => eb.fn.countAll<number>().as('n')).where('state', '=', 'pending').executeTakeFirstOrThrow();
        const quotas = (await store.db.selectFrom('connector_state').select(['connector', 'value']).where('key', '=', 'quota').execute()).map((row) => ({
          connector: row.connector,
          ...(JSON.parse(row.value) as { remaining: number; max: number; at: number }),
        }));
        const now = Date.now();
        if (options.json) {
          console.log(JSON.stringify({ outbox: depth, deliveries: { pending: Number(pending.n), flagged: Number(flagged.n) }, vendorAllowance: quotas }, null, 2));
          return;
        }
        for (const q of quotas) {
          console.log(`${q.connector}: ${q.remaining} of ${q.max} API requests left today (as of ${formatAge(now - q.at)} ago)`);
        }
        console.log(`deliveries: ${Number(pending.n)} waiting, ${Number(flagged.n)} flagged`);
        if (depth.length === 0) console.log('outbox: empty');
        for (const row of depth) {
          const age = row.oldestCreatedAt !== null && (row.state === 'pending' || row.state === 'in_flight') ? `  oldest ${formatAge(now - row.oldestCreatedAt)}` : '';
          console.log(`${row.connector.padEnd(12)} ${row.state.padEnd(10)} ${String(row.count).padStart(8)}${age}`);
        }
      });
    });

  program
    .command('replay')
    .description('send dead operations (or flagged deliveries) back to be processed')
    .addOption(configOption())
    .option('--id <ids...>', 'operation ids', (v, prev: number[] = []) => [...prev, ...v.split(',').map(Number)])
    .option('--connector <id>', 'only this connector')
    .option('--all-dead', 'every dead operation')
    .option('--deliveries', 'flagged webhook deliveries instead of operations')
    .action(async (options: { config?: string; id?: number[]; connector?: string; allDead?: boolean; deliveries?: boolean }) => {
      await withStore(options, async (store) => {
        if (options.deliveries) {
          const result = await store.db.updateTable('webhook_deliveries').set({ state: 'pending' }).where('state', '=', 'flagged').executeTakeFirst();
          console.log(`${Number(result.numUpdatedRows)} flagged deliveries queued for processing again`);
          return;
        }
        if (!options.id && !options.connector && !options.allDead) {
          const dead = await listOperations(store.db, { state: 'dead', limit: 20 });
          console.error('say what to replay: --id N, --connector ID or --all-dead. Dead operations:');
          for (const op of dead) console.error(`  ${op.id}  ${op.connector}  ${op.kind}  ${op.lastError ?? ''}`);
          process.exitCode = 2;
          return;
        }
        const count = await replayDeadOperations(store.db, { ...(options.id ? { ids: options.id } : {}), ...(options.connector ? { connector: options.connector } : {}) }, Date.now());
        console.log(`${count} dead operations queued again`);
      });
    });

  program
    .command('scopes')
    .description("check each enabled connector's credentials: required, granted, missing and extra scopes")
    .addOption(configOption())
    .option('--json', 'machine-readable output')
    .action(async (options: { config?: string; json?: boolean }) => {
      const loaded = loadConfig(configPath(options), connectorSettingsSchemas);
      const log = silentLogger();
      const store = await openStore(loaded.store.url);
      try {
        const results = [];
        for (const [id, configured] of buildConnectors(loaded, log)) {
          if (!configured.enabled) continue;
          const dispatcher = cliDispatcher(configured.connector, store);
          const check = await dispatcher.checkScopes();
          results.push({ connector: id, ok: check.ok, report: check.report, ...(check.ok ? {} : { reason: check.reason }) });
        }
        if (options.json) console.log(JSON.stringify(results, null, 2));
        else {
          for (const r of results) {
            console.log(`${r.connector}: ${r.ok ? 'OK' : 'BLOCKED'}`);
            if (r.report) {
              console.log(`  required: ${r.report.required.join(', ') || '(none)'}`);
              console.log(`  granted:  ${r.report.granted === 'unknown' ? '(vendor does not say)' : r.report.granted.join(', ') || '(none)'}`);
              console.log(`  missing:  ${r.report.missing.join(', ') || '(none)'}`);
              console.log(`  extra:    ${r.report.extra.join(', ') || '(none)'}${r.report.extra.length > 0 ? '  (over-privileged: remove them)' : ''}`);
            }
            if (!r.ok) console.log(`  reason:   ${r.reason}`);
          }
        }
        if (results.some((r) => !r.ok)) process.exitCode = 1;
      } finally {
        await store.close();
      }
    });

  program
    .command('setup <connector>')
    .description("prepare a connector's vendor account (custom properties, webhooks); safe to run again")
    .addOption(configOption())
    .action(async (id: string, options: { config?: string }) => {
      const loaded = loadConfig(configPath(options), connectorSettingsSchemas);
      const configured = buildConnectors(loaded, silentLogger()).get(id);
      if (!configured) {
        console.error(`connectors.${id} is not in ${configPath(options)}; add the section first`);
        process.exitCode = 2;
        return;
      }
      const store = await openStore(loaded.store.url);
      try {
        const dispatcher = cliDispatcher(configured.connector, store);
        const check = await dispatcher.checkScopes();
        if (!check.ok) {
          console.error(`${id}: ${check.reason}`);
          process.exitCode = 1;
          return;
        }
        const setup = await dispatcher.runSetup();
        if (!setup.ok) {
          console.error(`${id}: ${setup.reason}`);
          process.exitCode = 1;
          return;
        }
        console.log(setup.actions.length > 0 ? setup.actions.map((a) => `${id}: ${a}`).join('\n') : `${id}: already set up, nothing to do`);
      } finally {
        await store.close();
      }
    });

  program
    .command('demo')
    .description('the whole flow on this machine: local sandboxes for WhatsApp, HubSpot and Salesforce, simulated customers, a summary')
    .option('--customers <n>', 'simulated customers', (v) => Number.parseInt(v, 10), 12)
    .option('--messages <n>', 'messages per customer (plus a burst of 20 from one)', (v) => Number.parseInt(v, 10), 6)
    .option('--data-dir <path>', 'where the demo store, media and log go (emptied first)', './data/demo')
    .action(async (options: { customers: number; messages: number; dataDir: string }) => {
      const summary = await runDemo({ customers: options.customers, messagesPerCustomer: options.messages, dataDir: options.dataDir, print: (line) => console.log(line) });
      if (summary.dead > 0) process.exitCode = 1;
      // The sandboxes' keep-alive sockets must not hold the process open.
      setTimeout(() => process.exit(), 200).unref();
    });

  return program;
}

/** A dispatcher that is never started: scope checks and setup from the command line. */
function cliDispatcher(connector: Connector, store: Store): ConnectorDispatcher {
  return new ConnectorDispatcher({
    connector,
    store,
    budget: new RateBudget(store),
    applyEffects: async () => 0,
    log: silentLogger(),
    options: { workerId: 'cli', leaseMs: 60_000, pollIntervalMs: 1000, claimBatch: 1 },
  });
}

export async function runCli(argv: string[]): Promise<void> {
  try {
    await buildCli().parseAsync(argv);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exitCode = 1;
      return;
    }
    console.error(`wa-crm-sync: ${errorMessage(error)}`);
    process.exitCode = 1;
  }
}
