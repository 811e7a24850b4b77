// Gathers what the security self-audit judges (core/security/audit.ts): the config file as
// written, scope reports, the last good backup, open alerts, whether secrets are at hand.
import { readFile, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { Config } from '../core/config/schema.js';
import type { ScopeCheck } from '../core/scopes.js';
import { openAlerts } from '../core/security/alerts.js';
import { runAudit, type AuditCheck } from '../core/security/audit.js';
import { auditHead, auditKeyPath, loadAuditKey, verifyAuditTrail } from '../core/security/audit-trail.js';
import { errorMessage } from '../core/errors.js';
import { listUsers, secretsKey } from '../core/admin/accounts.js';
import { backupPassphrase, lastBackup } from '../core/store/backup.js';
import { intakeFileOf, sqliteFiles, type Store } from '../core/store/store.js';
import { connectorRegistry } from '../connectors/registry.js';
import { inboundConnectors, webhookSecretsMissing as missingSecrets } from './inbound.js';

/** The modes of the local files that hold customers' data: the SQLite store and its intake file, media, backups. */
async function storagePermissions(config: Config): Promise<Array<{ path: string; mode: number; directory: boolean }>> {
  const paths: string[] = [resolve(config.whatsapp.media.dir), resolve(config.backup.dir)];
  if (config.store.url.startsWith('sqlite:') && config.store.url !== 'sqlite::memory:') {
    const file = resolve(config.store.url.slice('sqlite:'.length));
    // The intake file beside it holds webhook bodies too (core/store/intake.ts).
    paths.push(dirname(file), ...sqliteFiles(file), ...sqliteFiles(intakeFileOf(file)));
  }
  const found = await Promise.all(paths.map(async (path) => {
    const info = await stat(path).catch(() => undefined);
    return info ? [{ path, mode: info.mode, directory: info.isDirectory() }] : [];
  }));
  return found.flat();
}

export async function auditService(deps: {
  config: Config;
  configPath: string;
  store: Store;
  env: NodeJS.ProcessEnv;
  /** Each enabled connector's scope check (a vendor call). */
  checkScopes: () => Promise<Array<{ connector: string; check: ScopeCheck }>>;
}): Promise<AuditCheck[]> {
  const { config, store } = deps;
  const webhookSecretsMissing = await missingSecrets(config, store, inboundConnectors(connectorRegistry));
  const backupKeyAvailable = await backupPassphrase({ env: deps.env, keyFile: config.backup.keyFile }).then(() => true, () => false);
  const secretsKeyAvailable = await secretsKey(deps.env, config.admin.secretsKeyFile).then((key) => key !== undefined, () => false);
  const scopes = (await deps.checkScopes()).map(({ connector, check }) => ({ connector, report: check.report, ...(check.ok ? {} : { error: check.reason }) }));
  return runAudit(config, {
    configText: await readFile(deps.configPath, 'utf8'),
    scopes,
    lastBackup: await lastBackup(store),
    openAlerts: await openAlerts(store.db),
    webhookSecretsMissing,
    backupKeyAvailable,
    secretsKeyAvailable,
    adminUsers: await listUsers(store),
    storagePermissions: await storagePermissions(config),
    auditTrail: await loadAuditKey({ env: deps.env, keyFile: auditKeyPath(config.security.auditKeyFile, deps.configPath), create: false }).then(
      (key) => verifyAuditTrail(store, key),
      // Before the first start there is neither a key nor a record: nothing to vouch for yet.
      async (error: unknown) => ((await auditHead(store.db)).seq === 0 ? { ok: true, records: 0 } : { ok: false, records: 0, reason: errorMessage(error) }),
    ),
    now: Date.now(),
  });
}
