// `backup` and `restore`: encrypted, consistent copies of the store.
import type { Command } from 'commander';
import { connectorSettingsSchemas } from '../../connectors/registry.js';
import { loadConfig } from '../../core/config/load.js';
import { appendAudit } from '../../core/security/audit-trail.js';
import { backupPassphrase, backupToDir, recordBackup, restoreBackup, writeBackup } from '../../core/store/backup.js';
import { cliActor, cliAuditKey, configOption, configPath, withStore } from './shared.js';

export function registerBackupCommand(program: Command): void {
  program
    .command('backup')
    .description('write an encrypted, consistent backup of the store (the service may keep running)')
    .addOption(configOption())
    .option('-o, --out <file>', 'write here instead of a new file in backup.dir')
    .action(async (options: { config?: string; out?: string }) => {
      const config = loadConfig(configPath(options), connectorSettingsSchemas);
      const passphrase = await backupPassphrase({ env: process.env, keyFile: config.backup.keyFile });
      await withStore(options, async (store) => {
        if (options.out) {
          const written = await writeBackup(store, options.out, passphrase);
          await recordBackup(store, { path: options.out, bytes: written.bytes, at: Date.now() });
          await appendAudit(store, await cliAuditKey(options), { actor: cliActor(), action: 'backup', target: options.out, detail: { bytes: written.bytes } });
          console.log(`backup written to ${options.out} (${written.bytes} bytes, ${Object.values(written.counts).reduce((a, b) => a + b, 0)} rows)`);
        } else {
          const written = await backupToDir(store, config.backup.dir, passphrase);
          await appendAudit(store, await cliAuditKey(options), { actor: cliActor(), action: 'backup', target: written.path, detail: { bytes: written.bytes } });
          console.log(`backup written to ${written.path} (${written.bytes} bytes)`);
        }
      });
    });

  program
    .command('restore <file>')
    .description('restore a backup into an empty store, after checking the key and the file')
    .addOption(configOption())
    .action(async (file: string, options: { config?: string }) => {
      const config = loadConfig(configPath(options), connectorSettingsSchemas);
      const passphrase = await backupPassphrase({ env: process.env, keyFile: config.backup.keyFile });
      await withStore(options, async (store) => {
        const result = await restoreBackup(store, file, passphrase);
        await appendAudit(store, await cliAuditKey(options), { actor: cliActor(), action: 'restore', target: file, detail: { rows: result.restored, backupOf: result.header.createdAt, from: result.header.dialect } });
        console.log(`restored ${result.restored} rows from the backup of ${result.header.createdAt} (${result.header.dialect}) into ${store.description}`);
      });
    });
}
