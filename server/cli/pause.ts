// `pause` and `resume`: stop and restart dispatching a connector on every instance.
import type { Command } from 'commander';
import { setPaused } from '../../core/admin/pause.js';
import { silentLogger } from '../../core/logger.js';
import { appendAudit } from '../../core/security/audit-trail.js';
import { buildConnectors } from '../service.js';
import { cliActor, cliAuditKey, configOption, configPath, withStore } from './shared.js';

export function registerPauseCommand(program: Command): void {
  for (const action of ['pause', 'resume'] as const) {
    program
      .command(`${action} <connector>`)
      .description(
        action === 'pause'
          ? 'stop dispatching a connector on every instance (operations keep being queued) until resumed; kept across restarts'
          : 'dispatch a paused connector again, on every instance',
      )
      .addOption(configOption())
      .action(async (id: string, options: { config?: string }) => {
        await withStore(options, async (store, config) => {
          const known = [...buildConnectors(config, silentLogger()).keys()];
          if (!known.includes(id)) {
            console.error(`no connector ${id} in ${configPath(options)}; configured: ${known.join(', ') || 'none'}`);
            process.exitCode = 2;
            return;
          }
          // The same record the admin API writes: every instance reads it within a second.
          await setPaused(store, id, action === 'pause' ? { by: cliActor(), at: Date.now() } : null);
          await appendAudit(store, await cliAuditKey(options), { actor: cliActor(), action: `connector.${action}`, target: id });
          console.log(
            action === 'pause'
              ? `${id} paused: no instance dispatches it from now on; operations keep being queued (wa-crm-sync resume ${id} to go on)`
              : `${id} resumed: queued operations are dispatched again`,
          );
        });
      });
  }
}
