// `config check`: validate the config file without starting anything.
import type { Command } from 'commander';
import { connectorSettingsSchemas } from '../../connectors/registry.js';
import { loadConfig } from '../../core/config/load.js';
import { configOption, configPath } from './shared.js';

export function registerConfigCommand(program: Command): void {
  const config = program.command('config').description('configuration tools');
  config
    .command('check')
    .description('validate the config file without starting anything')
    .addOption(configOption())
    .action((options: { config?: string }) => {
      // Printed as they come, so they show beside the problems of a file that does not pass.
      const loaded = loadConfig(configPath(options), connectorSettingsSchemas, process.env, { onWarning: (w) => console.error(`warning: ${w}`) });
      const connectors = Object.entries(loaded.connectors).map(([id, c]) => `${id} (${c.enabled ? 'enabled' : 'disabled'})`);
      console.log(`${configPath(options)}: OK`);
      console.log(`  store: ${loaded.store.url.startsWith('sqlite:') ? loaded.store.url : 'postgres'}`);
      console.log(`  connectors: ${connectors.length > 0 ? connectors.join(', ') : 'none'}`);
    });
}
