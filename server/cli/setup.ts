// `setup`: prepare a connector's vendor account.
import type { Command } from 'commander';
import { connectorSettingsSchemas } from '../../connectors/registry.js';
import { loadConfig } from '../../core/config/load.js';
import { silentLogger } from '../../core/logger.js';
import { openStore } from '../../core/store/store.js';
import { appendAudit } from '../../core/security/audit-trail.js';
import { buildConnectors } from '../service.js';
import { cliActor, cliAuditKey, cliDispatcher, configOption, configPath } from './shared.js';

export function registerSetupCommand(program: Command): void {
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
        if (setup.actions.length > 0) await appendAudit(store, await cliAuditKey(options), { actor: cliActor(), action: 'setup', target: id, detail: setup.actions });
        console.log(setup.actions.length > 0 ? setup.actions.map((a) => `${id}: ${a}`).join('\n') : `${id}: already set up, nothing to do`);
      } finally {
        await store.close();
      }
    });
}
