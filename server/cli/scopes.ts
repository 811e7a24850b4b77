// `scopes`: each enabled connector's required, granted, missing and extra scopes.
import type { Command } from 'commander';
import { connectorSettingsSchemas } from '../../connectors/registry.js';
import { loadConfig } from '../../core/config/load.js';
import { silentLogger } from '../../core/logger.js';
import { openStore } from '../../core/store/store.js';
import { buildConnectors } from '../service.js';
import { cliDispatcher, configOption, configPath } from './shared.js';

export function registerScopesCommand(program: Command): void {
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
}
