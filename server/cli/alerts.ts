// `alerts`: security alerts (list, ack, resolve).
import type { Command } from 'commander';
import { silentLogger } from '../../core/logger.js';
import type { Store } from '../../core/store/store.js';
import { AlertChangeError, Alerts, listAlerts, type Alert } from '../../core/security/alerts.js';
import { appendAudit } from '../../core/security/audit-trail.js';
import { cliActor, cliAuditKey, configOption, withStore } from './shared.js';

export function registerAlertsCommand(program: Command): void {
  const alerts = program.command('alerts').description('security alerts: list the unresolved ones (the default), acknowledge, resolve');
  alerts
    .command('list', { isDefault: true })
    .description('unresolved security alerts (open or acknowledged): compromise signals, refused credentials, bursts of bad signatures')
    .addOption(configOption())
    .option('--json', 'machine-readable output')
    .option('--all', 'resolved ones too (the most recent 500)')
    .action(async (options: { config?: string; json?: boolean; all?: boolean }) => {
      await withStore(options, async (store) => {
        const alerts = await listAlerts(store.db, { resolved: options.all === true });
        if (options.json) {
          console.log(JSON.stringify(alerts, null, 2));
          return;
        }
        if (alerts.length === 0) console.log(options.all ? 'no alerts' : 'no unresolved alerts');
        for (const a of alerts) {
          const taken = a.state === 'acknowledged' ? `, acknowledged by ${a.acknowledgedBy}` : a.state === 'resolved' ? `, resolved by ${a.resolvedBy}: ${a.resolutionNote}` : '';
          console.log(`#${a.id} [${a.severity}] ${a.title}${a.count > 1 ? ` (${a.count} times)` : ''}, last ${new Date(a.lastAt).toISOString()}${taken}`);
          console.log(`    ${a.detail}`);
        }
      });
    });
  // A person taking an alert, and closing it: both audited (core/security/alerts.ts).
  const alertChange = (run: (book: Alerts, store: Store, id: number) => Promise<Alert>) => async (id: string, options: { config?: string }) => {
    await withStore(options, async (store) => {
      const key = await cliAuditKey(options);
      const book = new Alerts({ log: silentLogger(), options: () => ({ throttleMs: 0, sinkCount: 0, maxAttempts: 1 }), audit: (entry) => appendAudit(store, key, entry).then(() => undefined) });
      try {
        const alert = await run(book, store, Number(id));
        console.log(`#${alert.id} ${alert.state}: ${alert.title}`);
      } catch (error) {
        if (!(error instanceof AlertChangeError)) throw error;
        console.error(error.message);
        process.exitCode = 1;
      }
    });
  };
  alerts
    .command('ack <id>')
    .description('say you are on an alert (it stays unresolved)')
    .addOption(configOption())
    .action(alertChange((book, store, id) => book.acknowledge(store.db, id, cliActor())));
  alerts
    .command('resolve <id>')
    .description('close an alert, saying what was found or done')
    .addOption(configOption())
    .requiredOption('--note <text>', 'what was found or done')
    .action((id: string, options: { config?: string; note: string }) => alertChange((book, store, n) => book.resolveByHand(store.db, n, cliActor(), options.note))(id, options));
}
