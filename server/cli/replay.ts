// `replay` and `discard`: dead operations and flagged deliveries.
import type { Command } from 'commander';
import { listOperations, replayDeadOperations } from '../../core/outbox/queries.js';
import { discardDeadOperations } from '../../core/outbox/inspect.js';
import { appendAudit } from '../../core/security/audit-trail.js';
import { cliActor, cliAuditKey, configOption, withStore } from './shared.js';

export function registerReplayCommand(program: Command): void {
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
          const result = await store.db.updateTable('webhook_deliveries').set({ state: 'pending', events_done: 0 }).where('state', '=', 'flagged').executeTakeFirst();
          await appendAudit(store, await cliAuditKey(options), { actor: cliActor(), action: 'replay.deliveries', detail: { deliveries: Number(result.numUpdatedRows) } });
          console.log(`${Number(result.numUpdatedRows)} flagged deliveries queued for processing again`);
          return;
        }
        if (!options.id && !options.connector && !options.allDead) {
          const dead = await listOperations(store.db, { state: 'dead', limit: 20 });
          console.error(`say what to replay: --id N, --connector ID or --all-dead. ${dead.length === 0 ? 'There are no dead operations.' : 'Dead operations:'}`);
          for (const op of dead) console.error(`  ${op.id}  ${op.connector}  ${op.kind}  ${op.lastError ?? ''}`);
          process.exitCode = 2;
          return;
        }
        const count = await replayDeadOperations(store.db, { ...(options.id ? { ids: options.id } : {}), ...(options.connector ? { connector: options.connector } : {}) }, Date.now());
        await appendAudit(store, await cliAuditKey(options), { actor: cliActor(), action: 'replay.operations', target: options.connector ?? (options.id ? options.id.join(',') : 'all dead'), detail: { operations: count } });
        console.log(`${count} dead operations queued again`);
      });
    });

  program
    .command('discard')
    .description('mark dead operations as not to be sent (kept with their last error; a replay leaves them)')
    .addOption(configOption())
    .requiredOption('--id <ids...>', 'dead operation ids', (v, prev: number[] = []) => [...prev, ...v.split(',').map(Number)])
    .action(async (options: { config?: string; id: number[] }) => {
      await withStore(options, async (store) => {
        if (options.id.some((n) => !Number.isSafeInteger(n) || n <= 0)) {
          console.error('operation ids are whole numbers (wa-crm-sync replay without options lists the dead ones)');
          process.exitCode = 2;
          return;
        }
        const discarded = await discardDeadOperations(store.db, options.id, Date.now());
        await appendAudit(store, await cliAuditKey(options), { actor: cliActor(), action: 'discard.operations', target: options.id.join(','), detail: { discarded: discarded.length, ids: discarded } });
        const missed = options.id.filter((id) => !discarded.includes(id));
        console.log(`${discarded.length} dead operation${discarded.length === 1 ? '' : 's'} discarded${missed.length > 0 ? `; not dead, left as they are: ${missed.join(', ')}` : ''}`);
        if (discarded.length === 0) process.exitCode = 1;
      });
    });
}
