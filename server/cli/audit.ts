// `audit`: the security self-audit, and the audit trail (verify, log).
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { connectorSettingsSchemas } from '../../connectors/registry.js';
import { loadConfig } from '../../core/config/load.js';
import { ConfigError } from '../../core/errors.js';
import { silentLogger } from '../../core/logger.js';
import { formatAudit } from '../../core/security/audit.js';
import { listAudit, parseAuditHead, verifyAuditTrail, type AuditHead } from '../../core/security/audit-trail.js';
import { auditService } from '../audit.js';
import { backupPassphrase, verifyBackup } from '../../core/store/backup.js';
import { buildConnectors } from '../service.js';
import { cliAuditKey, cliDispatcher, collect, configOption, configPath, withStore } from './shared.js';

export function registerAuditCommand(program: Command): void {
  const audit = program.command('audit').description('security self-audit (the default), and the audit trail: verify, log');
  audit
    .command('check', { isDefault: true })
    .description('security self-audit: a checklist of pass, warn and fail with how to fix each; exits 1 on a fail')
    .addOption(configOption())
    .option('--json', 'machine-readable output')
    .action(async (options: { config?: string; json?: boolean }) => {
      const path = configPath(options);
      const config = loadConfig(path, connectorSettingsSchemas);
      await withStore(options, async (store) => {
        const checks = await auditService({
          config,
          configPath: path,
          store,
          env: process.env,
          checkScopes: async () => {
            const results = [];
            for (const [id, configured] of buildConnectors(config, silentLogger())) {
              if (configured.enabled) results.push({ connector: id, check: await cliDispatcher(configured.connector, store).checkScopes() });
            }
            return results;
          },
        });
        console.log(options.json ? JSON.stringify(checks, null, 2) : formatAudit(checks));
        if (checks.some((c) => c.status === 'fail')) process.exitCode = 1;
      });
    });

  audit
    .command('verify')
    .description('check the audit trail\'s keyed chain and compare it with heads published outside the store; exits 1 naming the first bad record')
    .addOption(configOption())
    .option('--head <seq:hash>', 'a head the service published (its log\'s "auditHead"); repeatable', collect)
    .option('--log <file>', 'read published heads from this log file (the service\'s JSON lines); repeatable', collect)
    .option('--backup <file>', 'compare with the head inside this backup (needs the backup key); repeatable', collect)
    .action(async (options: { config?: string; head?: string[]; log?: string[]; backup?: string[] }) => {
      const key = await cliAuditKey(options, false);
      const published: AuditHead[] = (options.head ?? []).map(parseAuditHead);
      for (const file of options.log ?? []) published.push(...(await headsInLog(file)));
      if (options.backup?.length) {
        const config = loadConfig(configPath(options), connectorSettingsSchemas);
        const passphrase = await backupPassphrase({ env: process.env, keyFile: config.backup.keyFile });
        for (const file of options.backup) {
          const header = await verifyBackup(file, passphrase);
          if (!header.auditHead) throw new ConfigError(`${file} is a backup from before audit heads were kept in backups; compare with a log (--log) instead`);
          published.push(parseAuditHead(header.auditHead));
        }
      }
      await withStore(options, async (store) => {
        const verdict = await verifyAuditTrail(store, key, published);
        if (verdict.ok) {
          const legacy = verdict.legacy > 0 ? `; records 1–${verdict.legacy} are from before the audit key, sealed by record ${verdict.legacy + 1}` : '';
          const against = published.length > 0 ? `, matching ${published.length} published head${published.length === 1 ? '' : 's'} (newest: record ${Math.max(...published.map((h) => h.seq))})` : ' (no published head given: records cut off the end show only against one, see --log)';
          console.log(`audit trail intact: ${verdict.records} records keyed with audit key ${key.id}${against}${legacy}`);
        } else {
          console.error(`audit trail broken at record ${verdict.firstBad} of ${verdict.records}: ${verdict.reason}`);
          process.exitCode = 1;
        }
      });
    });

  audit
    .command('log')
    .description('audit trail records, newest first')
    .addOption(configOption())
    .option('--action <prefix>', 'only actions starting with this (e.g. backup, config)')
    .option('--actor <actor>', 'only this actor (e.g. service, cli:alice)')
    .option('--limit <n>', 'at most this many', (v) => Number.parseInt(v, 10), 100)
    .option('--json', 'machine-readable output (an export)')
    .action(async (options: { config?: string; action?: string; actor?: string; limit: number; json?: boolean }) => {
      await withStore(options, async (store) => {
        const records = await listAudit(store, { ...(options.action ? { action: options.action } : {}), ...(options.actor ? { actor: options.actor } : {}), limit: options.limit });
        if (options.json) console.log(JSON.stringify(records, null, 2));
        else if (records.length === 0) console.log(options.action || options.actor ? 'no audit records match' : 'the audit trail is empty');
        else for (const r of records) console.log(`${String(r.seq).padStart(6)}  ${new Date(r.at).toISOString()}  ${r.actor.padEnd(16)} ${r.action.padEnd(18)} ${r.target}${r.detail === null ? '' : `  ${JSON.stringify(r.detail)}`}`);
      });
    });
}

/** Heads the service published in a log file (JSON lines; other lines are skipped). */
async function headsInLog(file: string): Promise<AuditHead[]> {
  const heads: AuditHead[] = [];
  for (const line of (await readFile(file, 'utf8')).split('\n')) {
    if (!line.includes('"auditHead"')) continue;
    try {
      const entry = JSON.parse(line) as { auditHead?: unknown };
      if (typeof entry.auditHead === 'string') heads.push(parseAuditHead(entry.auditHead));
    } catch {
      // Not one of our JSON lines (a wrapper's own output): not a head.
    }
  }
  if (heads.length === 0) throw new ConfigError(`${file} holds no audit trail head (the service logs one as "auditHead" at start, every security.auditHeadMinutes and at shutdown)`);
  return heads;
}
