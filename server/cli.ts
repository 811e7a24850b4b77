// The `wa-crm-sync` command line: start, config check, status, replay, discard, scopes.
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { Command, InvalidArgumentError, Option } from 'commander';
import QRCode from 'qrcode';
import { AccountError, addUser, createToken, disableUser, listTokens, listUsers, resetTwoFactor, revokeToken, PERMISSIONS, ROLES, secretsKey, setPassword, type Enrolment, type Permission, type Role } from '../core/admin/accounts.js';
import { pausedConnectors, setPaused } from '../core/admin/pause.js';
import { revokeSessionsOf } from '../core/admin/sessions.js';
import { connectorSettingsSchemas } from '../connectors/registry.js';
import { loadConfig } from '../core/config/load.js';
import type { Config } from '../core/config/schema.js';
import { ConfigError, errorMessage } from '../core/errors.js';
import { silentLogger } from '../core/logger.js';
import { listOperations, outboxDepth, replayDeadOperations } from '../core/outbox/queries.js';
import { discardDeadOperations } from '../core/outbox/inspect.js';
import { unfinishedConsentWrites } from '../core/consent/operation.js';
import { ConnectorDispatcher } from '../core/outbox/dispatcher.js';
import { RateBudget } from '../core/outbox/rate-budget.js';
import { openStore, type Store } from '../core/store/store.js';
import { AlertChangeError, Alerts, listAlerts, type Alert } from '../core/security/alerts.js';
import { formatAudit } from '../core/security/audit.js';
import { appendAudit, auditKeyPath, listAudit, loadAuditKey, parseAuditHead, verifyAuditTrail, type AuditHead, type AuditKey } from '../core/security/audit-trail.js';
import { auditService } from './audit.js';
import { backupPassphrase, backupToDir, recordBackup, restoreBackup, verifyBackup, writeBackup } from '../core/store/backup.js';
import { buildConnectors, Service } from './service.js';
import { DEMO_LIMITS, runDemo } from './demo.js';
import type { Connector } from '../core/connector.js';
import { historyProgress, progressBar } from '../core/history-progress.js';
import { WhatsAppConnector } from '../connectors/whatsapp/connector.js';

/** The version in package.json, read beside the sources or beside dist/ (one level further up). */
function packageVersion(): string {
  for (const relative of ['../package.json', '../../package.json']) {
    const file = new URL(relative, import.meta.url);
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'wa-crm-sync' && pkg.version) return pkg.version;
    }
  }
  return 'unknown';
}

function configPath(options: { config?: string }): string {
  return options.config ?? process.env['WA_CRM_SYNC_CONFIG'] ?? './wa-crm-sync.yaml';
}

const configOption = () => new Option('-c, --config <path>', 'config file (default: $WA_CRM_SYNC_CONFIG or ./wa-crm-sync.yaml)');

async function withStore<T>(options: { config?: string }, run: (store: Store, config: Config) => Promise<T>): Promise<T> {
  const config = loadConfig(configPath(options), connectorSettingsSchemas);
  const store = await openStore(config.store.url);
  try {
    return await run(store, config);
  } finally {
    await store.close();
  }
}

/** The audit key the service uses (made beside the config when missing, as the service's first start would). */
async function cliAuditKey(options: { config?: string }, create = true): Promise<AuditKey> {
  const path = configPath(options);
  const config = loadConfig(path, connectorSettingsSchemas);
  return loadAuditKey({ env: process.env, keyFile: auditKeyPath(config.security.auditKeyFile, path), create });
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

const collect = (value: string, previous: string[] = []) => [...previous, value];

function formatAge(ms: number): string {
  if (ms < 60_000) return `${Math.round(ms / 1000)}s`;
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)}m`;
  return `${(ms / 3_600_000).toFixed(1)}h`;
}

export function buildCli(): Command {
  const program = new Command('wa-crm-sync')
    .description('Sync WhatsApp Business conversations to your CRM and helpdesk')
    .version(packageVersion(), '-V, --version', 'print the version')
    .showHelpAfterError();

  program
    .command('start')
    .description('run the service: webhooks, processing and dispatch')
    .addOption(configOption())
    .option('-p, --port <port>', 'listen on this port instead of server.port', (v) => Number.parseInt(v, 10))
    .action(async (options: { config?: string; port?: number }) => {
      // A console or warning write to a stdout/stderr whose reader is gone fails with EPIPE;
      // unheard, that error would crash the process mid-shutdown, before leases are handed back.
      for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);
      let service: Service;
      try {
        service = await Service.start({ configPath: configPath(options), ...(options.port === undefined ? {} : { port: options.port }) });
      } catch (error) {
        // Whatever failed (the config, the store, the port), a supervisor must see a failed start:
        // exit at once, non-zero, rather than linger on a handle that a half-start left open.
        console.error(error instanceof ConfigError ? error.message : `wa-crm-sync: ${errorMessage(error)}`);
        process.exit(1);
      }
      process.on('SIGHUP', () => void service.reload());
      const shutdown = (signal: string) => {
        const timeoutMs = service.config.server.shutdownTimeoutMs;
        service.log.info({ signal, timeoutMs }, 'shutting down');
        // The last resort, should a step hang anyway: leases then expire after outbox.leaseMs.
        setTimeout(() => {
          service.log.error({ timeoutMs }, 'shutdown did not finish within server.shutdownTimeoutMs; exiting anyway');
          process.exit(1);
        }, timeoutMs).unref();
        service.stop().then(
          () => process.exit(0),
          (error: unknown) => {
            service.log.error({ err: errorMessage(error) }, 'shutdown failed');
            process.exit(1);
          },
        );
      };
      process.once('SIGTERM', () => shutdown('SIGTERM'));
      process.once('SIGINT', () => shutdown('SIGINT'));
    });

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

  program
    .command('status')
    .description('connector states, outbox depth by connector and state, oldest pending age, flagged deliveries and why')
    .addOption(configOption())
    .option('--json', 'machine-readable output')
    .action(async (options: { config?: string; json?: boolean }) => {
      await withStore(options, async (store, config) => {
        const depth = await outboxDepth(store.db);
        const flagged = await store.db.selectFrom('webhook_deliveries').select((eb) => eb.fn.countAll<number>().as('n')).where('state', '=', 'flagged').executeTakeFirstOrThrow();
        const pending = await store.db.selectFrom('webhook_deliveries').select((eb) => eb.fn.countAll<number>().as('n')).where('state', '=', 'pending').executeTakeFirstOrThrow();
        const recentFlagged = (
          await store.db.selectFrom('webhook_deliveries').select(['id', 'source', 'received_at', 'problems']).where('state', '=', 'flagged').orderBy('id', 'desc').limit(FLAGGED_SHOWN).execute()
        ).map((row) => ({ id: row.id, source: row.source, receivedAt: row.received_at, problems: row.problems === null ? [] : (JSON.parse(row.problems) as string[]) }));
        const quotas = (await store.db.selectFrom('connector_state').select(['connector', 'value']).where('key', '=', 'quota').execute()).map((row) => ({
          connector: row.connector,
          ...(JSON.parse(row.value) as { remaining: number; max: number; at: number }),
        }));
        const connectors = await connectorStatus(config, store);
        const consentWrites = await unfinishedConsentWrites(store.db);
        const now = Date.now();
        if (options.json) {
          console.log(JSON.stringify({ connectors, outbox: depth, consentWrites, deliveries: { pending: Number(pending.n), flagged: Number(flagged.n), recentFlagged }, vendorAllowance: quotas }, null, 2));
          return;
        }
        if (connectors.states.length === 0) console.log('connectors: none configured');
        for (const c of connectors.states) console.log(`${c.connector.padEnd(12)} ${c.state}${c.reason ? `: ${c.reason}` : ''}`);
        if (!connectors.service) console.log(`  (no running service answered at ${connectors.readyUrl}: states from the config and the store only; a block is known only to the service)`);
        for (const q of quotas) {
          console.log(`${q.connector}: ${q.remaining} of ${q.max} API requests left today (as of ${formatAge(now - q.at)} ago)`);
        }
        console.log(`deliveries: ${Number(pending.n)} waiting, ${Number(flagged.n)} flagged`);
        for (const d of recentFlagged) console.log(`  flagged ${d.id} (${d.source}, ${new Date(d.receivedAt).toISOString()}): ${d.problems.join('; ') || 'no reason recorded'}`);
        if (Number(flagged.n) > recentFlagged.length) console.log(`  ... and ${Number(flagged.n) - recentFlagged.length} older; wa-crm-sync replay --deliveries processes them again once the cause is fixed`);
        if (depth.length === 0) console.log('outbox: empty');
        for (const row of depth) {
          const age = row.oldestCreatedAt !== null && (row.state === 'pending' || row.state === 'in_flight') ? `  oldest ${formatAge(now - row.oldestCreatedAt)}` : '';
          console.log(`${row.connector.padEnd(12)} ${row.state.padEnd(10)} ${String(row.count).padStart(8)}${age}`);
        }
        // An opt-out a CRM has not taken yet is named one by one: nobody should market to that person meanwhile.
        if (consentWrites.length > 0) console.log(`consent writes not done: ${consentWrites.length}`);
        for (const w of consentWrites) {
          const what = w.state === 'dead' ? `failed after ${w.attempts} attempts (wa-crm-sync replay --id ${w.operationId} once fixed)` : `${w.state === 'in_flight' ? 'being written' : 'waiting'}, ${w.attempts} attempts so far`;
          console.log(`  ${w.connector.padEnd(12)} ${w.status.replace('_', '-')} of ${new Date(w.changedAt).toISOString()} (operation ${w.operationId}): ${what}${w.lastError ? `; last error: ${w.lastError}` : ''}`);
        }
      });
    });

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

  const users = program.command('users').description('admin accounts: add, list, disable, set-password, reset-2fa');
  users
    .command('add <name>')
    .description('add an admin account; reads the password (12+ characters, not easy to guess) from standard input and prints the two-step enrolment')
    .requiredOption('--role <role>', `one of ${ROLES.join(', ')}`)
    .addOption(configOption())
    .action(async (name: string, options: { role: string; config?: string }) => {
      if (!ROLES.includes(options.role as Role)) throw new AccountError(`--role must be one of ${ROLES.join(', ')}`);
      const password = (await readStdin()).split('\n')[0]!.trim();
      await withStore(options, async (store, config) => {
        const enrolment = await addUser(store, { name, role: options.role as Role, password }, await secretsKey(process.env, config.admin.secretsKeyFile));
        await appendAudit(store, await cliAuditKey(options), { actor: cliActor(), action: 'user.add', target: name, detail: { role: options.role } });
        await printEnrolment(name, enrolment);
      });
    });
  users
    .command('list')
    .addOption(configOption())
    .option('--json', 'machine-readable output')
    .action(async (options: { config?: string; json?: boolean }) => {
      await withStore(options, async (store) => {
        const list = await listUsers(store);
        if (options.json) console.log(JSON.stringify(list, null, 2));
        else if (list.length === 0) console.log('no admin accounts yet: wa-crm-sync users add NAME --role admin');
        else for (const u of list) console.log(`${u.name.padEnd(20)} ${u.role.padEnd(9)} ${u.disabled ? 'disabled' : u.lockedUntil && u.lockedUntil > Date.now() ? 'locked' : 'active'}  recovery codes left: ${u.recoveryCodesLeft}  last sign-in: ${u.lastLoginAt ? new Date(u.lastLoginAt).toISOString() : 'never'}`);
      });
    });
  users
    .command('disable <name>')
    .description('disable an account, end its sessions and revoke every API token it owns (made from its sessions or its tokens)')
    .addOption(configOption())
    .action(async (name: string, options: { config?: string }) => {
      await withStore(options, async (store) => {
        const { tokensRevoked } = await disableUser(store, name);
        const sessionsEnded = await revokeSessionsOf(store, name);
        await appendAudit(store, await cliAuditKey(options), { actor: cliActor(), action: 'user.disable', target: name, detail: { tokensRevoked, sessionsEnded } });
        console.log(`${name} disabled; ${tokensRevoked} API token${tokensRevoked === 1 ? '' : 's'} revoked, ${sessionsEnded} session${sessionsEnded === 1 ? '' : 's'} ended`);
      });
    });
  users
    .command('set-password <name>')
    .description("set a forgotten password (read from standard input, 12+ characters, not easy to guess); ends the account's sessions and lifts a lockout")
    .addOption(configOption())
    .action(async (name: string, options: { config?: string }) => {
      const password = (await readStdin()).split('\n')[0]!.trim();
      await withStore(options, async (store) => {
        await setPassword(store, name, password);
        const ended = await revokeSessionsOf(store, name);
        await appendAudit(store, await cliAuditKey(options), { actor: cliActor(), action: 'user.password.set', target: name, detail: { sessionsEnded: ended } });
        console.log(`${name}: password set; ${ended} session${ended === 1 ? '' : 's'} ended`);
      });
    });
  users
    .command('reset-2fa <name>')
    .description('new two-step secret and recovery codes for an account (the old ones stop working); ends its sessions and lifts a lockout')
    .addOption(configOption())
    .action(async (name: string, options: { config?: string }) => {
      await withStore(options, async (store, config) => {
        const enrolment = await resetTwoFactor(store, name, await secretsKey(process.env, config.admin.secretsKeyFile));
        // Whoever signed in with the old secret (the reason for a reset, often) is signed out.
        const sessionsEnded = await revokeSessionsOf(store, name);
        await appendAudit(store, await cliAuditKey(options), { actor: cliActor(), action: 'user.reset-2fa', target: name, detail: { sessionsEnded } });
        console.error(`${name}: ${sessionsEnded} session${sessionsEnded === 1 ? '' : 's'} ended`);
        await printEnrolment(name, enrolment);
      });
    });

  const tokens = program.command('tokens').description('API tokens for automation: create, list, revoke');
  tokens
    .command('create <name>')
    .description('create an API token scoped to a role; it is shown once')
    .requiredOption('--role <role>', `one of ${ROLES.join(', ')}`)
    .option('--days <days>', 'expires after this many days', (v) => Number.parseInt(v, 10), 90)
    .option('--permission <permission...>', `permissions beside the role (${PERMISSIONS.join(', ')}: send is the outbound API, POST /api/v1/messages)`)
    .addOption(configOption())
    .action(async (name: string, options: { role: string; days: number; permission?: string[]; config?: string }) => {
      if (!ROLES.includes(options.role as Role)) throw new AccountError(`--role must be one of ${ROLES.join(', ')}`);
      await withStore(options, async (store) => {
        const created = await createToken(store, { name, role: options.role as Role, expiresInDays: options.days, createdBy: { cli: cliActor() }, permissions: (options.permission ?? []) as Permission[] });
        await appendAudit(store, await cliAuditKey(options), { actor: cliActor(), action: 'token.create', target: created.id, detail: { name, role: options.role, expiresAt: created.expiresAt, permissions: created.permissions.join(',') } });
        console.log(created.token);
        console.error(`token ${created.id} (${options.role}) expires ${new Date(created.expiresAt).toISOString()}; it is not shown again`);
      });
    });
  tokens
    .command('list')
    .addOption(configOption())
    .action(async (options: { config?: string }) => {
      await withStore(options, async (store) => {
        const list = await listTokens(store);
        if (list.length === 0) console.log('no API tokens: wa-crm-sync tokens create NAME --role ROLE');
        for (const t of list) console.log(`${t.id}  ${t.name.padEnd(20)} ${t.role.padEnd(9)} expires ${new Date(t.expiresAt).toISOString()}  last used ${t.lastUsedAt ? new Date(t.lastUsedAt).toISOString() : 'never'}${t.revoked ? '  REVOKED' : ''}`);
      });
    });
  tokens
    .command('revoke <id>')
    .addOption(configOption())
    .action(async (id: string, options: { config?: string }) => {
      await withStore(options, async (store) => {
        const revoked = await revokeToken(store, id);
        await appendAudit(store, await cliAuditKey(options), { actor: cliActor(), action: 'token.revoke', target: id, detail: { found: revoked } });
        if (!revoked) {
          console.error(`no token ${id}`);
          process.exitCode = 1;
        } else console.log(`token ${id} revoked`);
      });
    });

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

  program
    .command('replay')
    .description('send dead operations (or flagged deliveries) back to be processed')
    .addOption(configOption())
    .option('--id <ids...>', 'operation ids', (v, prev: number[] = []) => [...prev, ...v.split(',').map(Number)])
    .option('--connector <id>', 'only this connector')
    .option('--all-dead', 'every dead operation')
    .option('--deliveries', 'flagged webhook deliveries instead of operations')
    .action(async (options: { config?: string; id?: number[]; connector?: string; allDead?: boolean; deliveries?: boolean }) => {
      await withStore(options, async (store) => {
        if (options.deliveries) {
          const result = await store.db.updateTable('webhook_deliveries').set({ state: 'pending', events_done: 0 }).where('state', '=', 'flagged').executeTakeFirst();
          await appendAudit(store, await cliAuditKey(options), { actor: cliActor(), action: 'replay.deliveries', detail: { deliveries: Number(result.numUpdatedRows) } });
          console.log(`${Number(result.numUpdatedRows)} flagged deliveries queued for processing again`);
          return;
        }
        if (!options.id && !options.connector && !options.allDead) {
          const dead = await listOperations(store.db, { state: 'dead', limit: 20 });
          console.error(`say what to replay: --id N, --connector ID or --all-dead. ${dead.length === 0 ? 'There are no dead operations.' : 'Dead operations:'}`);
          for (const op of dead) console.error(`  ${op.id}  ${op.connector}  ${op.kind}  ${op.lastError ?? ''}`);
          process.exitCode = 2;
          return;
        }
        const count = await replayDeadOperations(store.db, { ...(options.id ? { ids: options.id } : {}), ...(options.connector ? { connector: options.connector } : {}) }, Date.now());
        await appendAudit(store, await cliAuditKey(options), { actor: cliActor(), action: 'replay.operations', target: options.connector ?? (options.id ? options.id.join(',') : 'all dead'), detail: { operations: count } });
        console.log(`${count} dead operations queued again`);
      });
    });

  program
    .command('discard')
    .description('mark dead operations as not to be sent (kept with their last error; a replay leaves them)')
    .addOption(configOption())
    .requiredOption('--id <ids...>', 'dead operation ids', (v, prev: number[] = []) => [...prev, ...v.split(',').map(Number)])
    .action(async (options: { config?: string; id: number[] }) => {
      await withStore(options, async (store) => {
        if (options.id.some((n) => !Number.isSafeInteger(n) || n <= 0)) {
          console.error('operation ids are whole numbers (wa-crm-sync replay without options lists the dead ones)');
          process.exitCode = 2;
          return;
        }
        const discarded = await discardDeadOperations(store.db, options.id, Date.now());
        await appendAudit(store, await cliAuditKey(options), { actor: cliActor(), action: 'discard.operations', target: options.id.join(','), detail: { discarded: discarded.length, ids: discarded } });
        const missed = options.id.filter((id) => !discarded.includes(id));
        console.log(`${discarded.length} dead operation${discarded.length === 1 ? '' : 's'} discarded${missed.length > 0 ? `; not dead, left as they are: ${missed.join(', ')}` : ''}`);
        if (discarded.length === 0) process.exitCode = 1;
      });
    });

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

  program
    .command('templates')
    .description("list the WhatsApp Business Account's message templates, as the outbound API checks them (name, language, status, category, parameters)")
    .addOption(configOption())
    .option('--json', 'machine-readable output')
    .action(async (options: { config?: string; json?: boolean }) => {
      const loaded = loadConfig(configPath(options), connectorSettingsSchemas);
      const configured = buildConnectors(loaded, silentLogger()).get('whatsapp');
      if (!(configured?.connector instanceof WhatsAppConnector)) {
        console.error('templates: whatsapp.accessToken is not set; templates are read with the system-user token');
        process.exitCode = 2;
        return;
      }
      const whatsapp = configured.connector;
      const store = await openStore(loaded.store.url);
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
      } finally {
        await store.close();
      }
    });

  const history = program.command('history').description('coexistence onboarding: ask WhatsApp for the app\'s chat history and contacts, and follow the import');
  history
    .command('request')
    .description("ask WhatsApp for the WhatsApp Business app's contacts and chat history (once, within 24 hours of onboarding)")
    .addOption(configOption())
    .option('--phone-number-id <id>', 'the coexistence number (default: the only one in whatsapp.phoneNumbers)')
    .action(async (options: { config?: string; phoneNumberId?: string }) => {
      const loaded = loadConfig(configPath(options), connectorSettingsSchemas);
      const phoneNumberId = options.phoneNumberId ?? (loaded.whatsapp.phoneNumbers.length === 1 ? loaded.whatsapp.phoneNumbers[0] : undefined);
      if (!phoneNumberId) {
        console.error('history request: name the coexistence number with --phone-number-id (whatsapp.phoneNumbers does not list exactly one)');
        process.exitCode = 2;
        return;
      }
      const configured = buildConnectors(loaded, silentLogger()).get('whatsapp');
      if (!(configured?.connector instanceof WhatsAppConnector)) {
        console.error('history request: whatsapp.accessToken is not set; the request is made with the system-user token');
        process.exitCode = 2;
        return;
      }
      const whatsapp = configured.connector;
      const store = await openStore(loaded.store.url);
      try {
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
      } finally {
        await store.close();
      }
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

  program
    .command('demo')
    .description('the whole flow on this machine: local sandboxes for WhatsApp and two CRMs, simulated customers, a summary')
    .option('--customers <n>', `simulated customers (${DEMO_LIMITS.customers.min}-${DEMO_LIMITS.customers.max})`, wholeNumber(DEMO_LIMITS.customers), 12)
    .option('--messages <n>', `messages per customer, plus a burst of 20 from one (${DEMO_LIMITS.messagesPerCustomer.min}-${DEMO_LIMITS.messagesPerCustomer.max})`, wholeNumber(DEMO_LIMITS.messagesPerCustomer), 6)
    .option('--data-dir <path>', 'where the demo store, media and log go: a new or empty folder, or one an earlier demo made (emptied first)', './data/demo')
    .action(async (options: { customers: number; messages: number; dataDir: string }) => {
      const summary = await runDemo({ customers: options.customers, messagesPerCustomer: options.messages, dataDir: options.dataDir, print: (line) => console.log(line) });
      if (summary.dead > 0) process.exitCode = 1;
      // The sandboxes' keep-alive sockets must not hold the process open.
      setTimeout(() => process.exit(), 200).unref();
    });

  return program;
}

/** A dispatcher that is never started: scope checks and setup from the command line. */
async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) throw new AccountError('pipe the password on standard input, e.g. from a password manager');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** The enrolment a new or reset account needs: a QR code for the authenticator app, and recovery codes. */
async function printEnrolment(name: string, enrolment: Enrolment): Promise<void> {
  console.log(`Two-step verification for ${name}: scan this with an authenticator app, or enter the link below.`);
  console.log(await QRCode.toString(enrolment.totpUri, { type: 'terminal', small: true }));
  console.log(enrolment.totpUri);
  console.log(`Recovery codes (each works once; keep them apart from the password):\n  ${enrolment.recoveryCodes.join('\n  ')}`);
}

/** Who runs a command, for the audit trail: the operating-system user. */
function cliActor(): string {
  try {
    return `cli:${userInfo().username}`;
  } catch {
    return 'cli';
  }
}

const FLAGGED_SHOWN = 10;

/** A commander parser for a whole number within bounds: "12x", "-1" and "" are refused before anything runs. */
function wholeNumber(bounds: { readonly min: number; readonly max: number }): (value: string) => number {
  return (value) => {
    const n = /^\d+$/.test(value.trim()) ? Number(value) : Number.NaN;
    if (!Number.isInteger(n) || n < bounds.min || n > bounds.max) throw new InvalidArgumentError(`expected a whole number from ${bounds.min} to ${bounds.max}, got "${value}"`);
    return n;
  };
}

interface ConnectorStatus {
  readonly connector: string;
  readonly state: 'running' | 'paused' | 'blocked' | 'disabled';
  readonly reason?: string;
}

/**
 * Each configured connector's state: from the running service's /readyz when one answers on
 * this machine (only it knows a block), else from the config and the pauses in the store.
 */
async function connectorStatus(config: Config, store: Store): Promise<{ states: ConnectorStatus[]; service: boolean; readyUrl: string }> {
  const host = ['0.0.0.0', '::', ''].includes(config.server.host) ? '127.0.0.1' : config.server.host.includes(':') ? `[${config.server.host}]` : config.server.host;
  const readyUrl = `http://${host}:${config.server.port}/readyz`;
  try {
    const res = await fetch(readyUrl, { signal: AbortSignal.timeout(2000) });
    const body = (await res.json()) as { connectors?: ConnectorStatus[] };
    if (Array.isArray(body.connectors)) return { states: body.connectors, service: true, readyUrl };
  } catch {
    // No service here (or another program on the port): fall back to what the store says.
  }
  const paused = await pausedConnectors(store);
  const states = [...buildConnectors(config, silentLogger())].map(([id, c]): ConnectorStatus => {
    if (!c.enabled) return { connector: id, state: 'disabled', reason: 'enabled: false in the config' };
    const by = paused.get(id);
    return by ? { connector: id, state: 'paused', reason: `paused by ${by.by} at ${new Date(by.at).toISOString()}` } : { connector: id, state: 'running' };
  });
  return { states, service: false, readyUrl };
}

function cliDispatcher(connector: Connector, store: Store): ConnectorDispatcher {
  return new ConnectorDispatcher({
    connector,
    store,
    budget: new RateBudget(store),
    applyEffects: async () => 0,
    log: silentLogger(),
    options: { workerId: 'cli', leaseMs: 60_000, pollIntervalMs: 1000, claimBatch: 1 },
  });
}

export async function runCli(argv: string[]): Promise<void> {
  try {
    // A .env file in the working directory fills in variables that are not set already (the
    // environment wins), read by Node's own parser: the same file works with Docker Compose.
    if (existsSync('.env')) process.loadEnvFile('.env');
    await buildCli().parseAsync(argv);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exitCode = 1;
      return;
    }
    console.error(`wa-crm-sync: ${errorMessage(error)}`);
    process.exitCode = 1;
  }
}
