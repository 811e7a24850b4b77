// `history`: coexistence onboarding (request the sync, follow the import).
import type { Command } from 'commander';
import { errorMessage } from '../../core/errors.js';
import { appendAudit } from '../../core/security/audit-trail.js';
import { historyProgress, progressBar } from '../../core/history-progress.js';
import { cliActor, cliAuditKey, cliDispatcher, configOption, withStore, withWhatsApp } from './shared.js';

export function registerHistoryCommand(program: Command): void {
  const history = program.command('history').description('coexistence onboarding: ask WhatsApp for the app\'s chat history and contacts, and follow the import');
  history
    .command('request')
    .description("ask WhatsApp for the WhatsApp Business app's contacts and chat history (once, within 24 hours of onboarding)")
    .addOption(configOption())
    .option('--phone-number-id <id>', 'the coexistence number (default: the only one in whatsapp.phoneNumbers)')
    .action(async (options: { config?: string; phoneNumberId?: string }) => {
      await withWhatsApp(options, 'history request', async (whatsapp, store, loaded) => {
        const phoneNumberId = options.phoneNumberId ?? (loaded.whatsapp.phoneNumbers.length === 1 ? loaded.whatsapp.phoneNumbers[0] : undefined);
        if (!phoneNumberId) {
          console.error('history request: name the coexistence number with --phone-number-id (whatsapp.phoneNumbers does not list exactly one)');
          process.exitCode = 2;
          return;
        }
        const context = cliDispatcher(whatsapp, store).executionContext();
        // Contacts first: history messages then find their people already named.
        for (const syncType of ['smb_app_state_sync', 'history'] as const) {
          try {
            const requestId = await whatsapp.requestAppSync(context, phoneNumberId, syncType);
            console.log(`${syncType}: requested${requestId ? ` (request ${requestId})` : ''}`);
          } catch (error) {
            console.error(
              `${syncType}: WhatsApp refused the request: ${errorMessage(error)}. Each sync can be requested once, within 24 hours of onboarding the WhatsApp Business app number; after that the business must onboard again to share its history.`,
            );
            process.exitCode = 1;
          }
        }
        if (!process.exitCode) {
          console.log('WhatsApp sends the contacts and up to 180 days of chats as webhooks over the next minutes to hours; follow the import with `wa-crm-sync history status`.');
          console.log('Note: this works only within 24 hours of onboarding the number, and only once.');
        }
        await appendAudit(store, await cliAuditKey(options), { actor: cliActor(), action: 'history.request', target: phoneNumberId, detail: { ok: !process.exitCode } });
      });
    });
  history
    .command('status')
    .description('progress of the history import: chunks and messages per phase, and what each connector has written')
    .addOption(configOption())
    .option('--json', 'machine-readable output')
    .action(async (options: { config?: string; json?: boolean }) => {
      await withStore(options, async (store) => {
        const progress = await historyProgress(store.db);
        if (options.json) {
          console.log(JSON.stringify(progress, null, 2));
          return;
        }
        if (progress.declined) console.log('The business declined to share its chat history (WhatsApp error 2593109): nothing will be imported.');
        if (progress.progress === null && !progress.declined) console.log('No history has arrived yet (request it with `wa-crm-sync history request`).');
        if (progress.progress !== null) console.log(`WhatsApp's sync  ${progressBar(progress.progress, 100)}`);
        const labels = ['day 0-1', 'day 1-90', 'day 90-180'];
        for (const p of progress.phases) console.log(`phase ${p.phase} (${labels[p.phase]}): ${p.chunks} chunks, ${p.messages} messages`);
        console.log(`messages stored: ${progress.messagesStored}`);
        for (const c of progress.connectors) {
          console.log(`${c.connector.padEnd(12)} ${progressBar(c.done, c.total)}  ${c.done} of ${c.total} written${c.dead > 0 ? `, ${c.dead} failed (see \`wa-crm-sync replay\`)` : ''}`);
        }
      });
    });
}
