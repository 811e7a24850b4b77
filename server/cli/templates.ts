// `templates`: the WhatsApp Business Account's message templates, as the outbound API checks them.
import type { Command } from 'commander';
import { errorMessage } from '../../core/errors.js';
import { cliDispatcher, configOption, withWhatsApp } from './shared.js';

export function registerTemplatesCommand(program: Command): void {
  program
    .command('templates')
    .description("list the WhatsApp Business Account's message templates, as the outbound API checks them (name, language, status, category, parameters)")
    .addOption(configOption())
    .option('--json', 'machine-readable output')
    .action(async (options: { config?: string; json?: boolean }) => {
      await withWhatsApp(options, 'templates', async (whatsapp, store) => {
        try {
          const templates = await whatsapp.listTemplates(cliDispatcher(whatsapp, store).executionContext());
          if (options.json) {
            console.log(JSON.stringify(templates, null, 2));
            return;
          }
          if (templates.length === 0) console.log('no templates in the WhatsApp Business Account (create them in WhatsApp Manager > Message templates)');
          for (const t of templates) {
            const parameters = t.bodyParameters.length === 0 ? 'no parameters' : `${t.bodyParameters.length} parameter${t.bodyParameters.length === 1 ? '' : 's'} (${t.parameterFormat === 'NAMED' ? t.bodyParameters.join(', ') : 'positional'})`;
            console.log(`${t.name.padEnd(32)} ${t.language.padEnd(8)} ${t.status.padEnd(9)} ${String(t.category).padEnd(14)} ${parameters}${t.headerParameters.length > 0 ? `, header parameter (${t.headerParameters.join(', ')})` : ''}${t.urlButtons.length > 0 ? `, URL button suffix at index ${t.urlButtons.join(', ')}` : ''}${t.mediaHeader ? `, ${t.mediaHeader} header (not sendable here)` : ''}`);
          }
        } catch (error) {
          console.error(`templates: ${errorMessage(error)}`);
          process.exitCode = 1;
        }
      });
    });
}
