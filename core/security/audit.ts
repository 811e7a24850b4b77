// The security self-audit: a checklist of pass, warn and fail, each with how to fix it. Pure:
// the caller gathers the facts (scope reports, last backup, open alerts), this judges them.
import { parse } from 'yaml';
import type { Config } from '../config/schema.js';
import { isLoopbackHost } from '../config/schema.js';
import type { ScopeReport } from '../connector.js';

export type AuditStatus = 'pass' | 'warn' | 'fail';

export interface AuditCheck {
  readonly check: string;
  readonly status: AuditStatus;
  /** What was found, and for warn and fail what to do. */
  readonly detail: string;
}

export interface AuditFacts {
  /** The config file as written, to tell inline secrets from ${ENV} references. */
  readonly configText: string;
  readonly scopes: ReadonlyArray<{ connector: string; report: ScopeReport | null; error?: string }>;
  readonly lastBackup: { at: number; path: string } | undefined;
  readonly openAlerts: ReadonlyArray<{ severity: string; title: string }>;
  /** Enabled connectors with an inbound webhook whose signing secret is known nowhere (neither config nor setup), and what to do. */
  readonly webhookSecretsMissing: ReadonlyArray<{ readonly connector: string; readonly hint: string }>;
  /** Whether a backup passphrase is available (environment or key file). */
  readonly backupKeyAvailable: boolean;
  /** Admin accounts (two-step verification is mandatory for each; recovery codes run out). */
  readonly adminUsers: ReadonlyArray<{ name: string; disabled: boolean; recoveryCodesLeft: number; secretSealed: boolean }>;
  /** Whether the key that seals TOTP secrets is set and usable (environment or key file). */
  readonly secretsKeyAvailable: boolean;
  /** Modes of the store's files and folders, the media folder and the backup folder (those that exist). */
  readonly storagePermissions: ReadonlyArray<{ readonly path: string; readonly mode: number; readonly directory: boolean }>;
  /** The audit trail's verification. */
  readonly auditTrail: { readonly ok: boolean; readonly records: number; readonly reason?: string };
  readonly now: number;
}

/** Keys whose values are secrets wherever they appear. */
// The last four: the workflow recipes' signing secrets and shared tokens.
const SECRET_KEYS = new Set(['appSecret', 'verifyToken', 'accessToken', 'apiToken', 'oauthToken', 'clientSecret', 'privateKey', 'secret', 'refreshToken', 'webhookSecret', 'developerApiKey', 'signingSecret', 'bearerToken', 'apiKey', 'token']);
const URL_KEYS = new Set(['graphBaseUrl', 'baseUrl', 'instanceUrl', 'url', 'publicUrl', 'audience']);

function walk(node: unknown, path: string[], visit: (path: string[], value: unknown) => void): void {
  if (Array.isArray(node)) node.forEach((v, i) => walk(v, [...path, String(i)], visit));
  else if (node && typeof node === 'object') for (const [k, v] of Object.entries(node)) walk(v, [...path, k], visit);
  else visit(path, node);
}

/** The fallbacks published in examples/local.yaml: anyone can sign webhooks with them. */
export const PUBLISHED_EXAMPLE_SECRETS: ReadonlySet<string> = new Set(['local-only-app-secret', 'local-only-verify-token']);

function webhookSecrets(config: Config, facts: AuditFacts): AuditCheck {
  const problems: string[] = [];
  if (PUBLISHED_EXAMPLE_SECRETS.has(config.whatsapp.appSecret)) problems.push("whatsapp.appSecret is the example's published fallback: anyone can forge webhooks; set WHATSAPP_APP_SECRET to your Meta app secret");
  if (PUBLISHED_EXAMPLE_SECRETS.has(config.whatsapp.verifyToken)) problems.push("whatsapp.verifyToken is the example's published fallback: set WHATSAPP_VERIFY_TOKEN to a long random string");
  const weak: string[] = [];
  if (config.whatsapp.appSecret.length < 32) weak.push('whatsapp.appSecret is shorter than the 32 characters of a Meta app secret');
  if (config.whatsapp.verifyToken.length < 16) weak.push('whatsapp.verifyToken is shorter than 16 characters: use a long random string');
  for (const { connector, hint } of facts.webhookSecretsMissing) problems.push(`connectors.${connector} has no webhook signing secret: ${hint} (every call of its webhook is refused until then)`);
  const webhook = config.connectors['webhook'];
  if (webhook?.enabled && !(webhook.settings as { secret?: string }).secret) weak.push('connectors.webhook has no secret: your endpoint cannot tell our events from forged ones');
  config.alerts.sinks.forEach((sink, i) => {
    if (sink.type === 'webhook' && !sink.secret) weak.push(`alerts.sinks.${i} (webhook) has no secret: the receiver cannot tell our alerts from forged ones`);
  });
  if (problems.length > 0) return { check: 'webhook secrets set and strong', status: 'fail', detail: [...problems, ...weak].join('; ') };
  if (weak.length > 0) return { check: 'webhook secrets set and strong', status: 'warn', detail: weak.join('; ') };
  return { check: 'webhook secrets set and strong', status: 'pass', detail: 'every webhook secret is set and long enough' };
}

function inlineSecrets(facts: AuditFacts): AuditCheck {
  const inline: string[] = [];
  let document: unknown;
  try {
    document = parse(facts.configText);
  } catch {
    return { check: 'secrets not inline in the config file', status: 'warn', detail: 'the config file could not be read as YAML' };
  }
  walk(document, [], (path, value) => {
    const key = path[path.length - 1] ?? '';
    // ${NAME:-fallback} writes the fallback in the file: only ${NAME} (or an empty fallback) is read from the environment.
    if (SECRET_KEYS.has(key) && typeof value === 'string' && value !== '' && !/^\$\{[A-Z0-9_]+(:-)?\}$/.test(value.trim())) inline.push(path.join('.'));
  });
  if (inline.length === 0) return { check: 'secrets not inline in the config file', status: 'pass', detail: 'every secret is read from the environment (${NAME})' };
  return { check: 'secrets not inline in the config file', status: 'warn', detail: `${inline.join(', ')} ${inline.length === 1 ? 'is' : 'are'} written in the file: move each to the environment (key: \${NAME}) so the file can be shared and versioned safely` };
}

function httpsUrls(config: Config): AuditCheck {
  const plain: string[] = [];
  const loopback: string[] = [];
  walk(config, [], (path, value) => {
    const key = path[path.length - 1] ?? '';
    if (!URL_KEYS.has(key) || typeof value !== 'string') return;
    try {
      const url = new URL(value);
      if (url.protocol !== 'http:') return;
      (isLoopbackHost(url.hostname) ? loopback : plain).push(path.join('.'));
    } catch {
      // Not a URL: the config schema reports it.
    }
  });
  if (plain.length > 0) return { check: 'https base URLs', status: 'fail', detail: `${plain.join(', ')} use plain http: switch to https` };
  if (loopback.length > 0) return { check: 'https base URLs', status: 'warn', detail: `${loopback.join(', ')} use plain http to this machine (a sandbox or a local proxy); fine for trials, not for customer data` };
  return { check: 'https base URLs', status: 'pass', detail: 'every vendor and sink URL uses https' };
}

function scopeChecks(facts: AuditFacts): AuditCheck[] {
  return facts.scopes.map(({ connector, report, error }) => {
    const check = `${connector}: scopes exactly as needed`;
    if (!report) return { check, status: 'fail' as const, detail: error ?? 'the credentials could not be checked' };
    if (report.missing.length > 0) return { check, status: 'fail' as const, detail: `missing ${report.missing.join(', ')}: grant them, or the connector stays blocked` };
    if (report.granted === 'unknown') return { check, status: 'warn' as const, detail: 'the vendor does not say which scopes the credentials hold' };
    if (report.extra.length > 0) return { check, status: 'warn' as const, detail: `over-privileged: also holds ${report.extra.join(', ')}; issue credentials with only what is required` };
    return { check, status: 'pass' as const, detail: `holds exactly ${report.required.length} required scope${report.required.length === 1 ? '' : 's'}` };
  });
}

function backupAge(config: Config, facts: AuditFacts): AuditCheck {
  const check = 'recent good backup';
  if ((config.backup.everyHours > 0 || facts.lastBackup) && !facts.backupKeyAvailable) return { check, status: 'fail', detail: 'no backup key: set WA_CRM_SYNC_BACKUP_KEY or backup.keyFile, or backups cannot be written or restored' };
  if (!facts.lastBackup) return { check, status: 'warn', detail: 'no backup has been taken: run wa-crm-sync backup, and set backup.everyHours to take them daily' };
  const ageHours = (facts.now - facts.lastBackup.at) / 3_600_000;
  const limit = config.backup.everyHours > 0 ? config.backup.everyHours * 2 : 7 * 24;
  const age = ageHours < 48 ? `${ageHours.toFixed(1)} h` : `${(ageHours / 24).toFixed(1)} days`;
  if (ageHours > limit) return { check, status: 'warn', detail: `the last good backup is ${age} old (${facts.lastBackup.path}): check that scheduled backups run, or set backup.everyHours` };
  return { check, status: 'pass', detail: `last good backup ${age} ago` };
}

function alertsCheck(facts: AuditFacts): AuditCheck {
  const critical = facts.openAlerts.filter((a) => a.severity === 'critical');
  // Only unresolved alerts reach here: one resolved (by hand, or when its condition cleared) no longer fails the audit.
  if (critical.length > 0) return { check: 'no open security alerts', status: 'fail', detail: `${critical.length} critical unresolved: ${critical.map((a) => a.title).join('; ')} (wa-crm-sync alerts says what to check; once handled, wa-crm-sync alerts resolve ID --note "what was done")` };
  if (facts.openAlerts.length > 0) return { check: 'no open security alerts', status: 'warn', detail: `${facts.openAlerts.length} unresolved: ${facts.openAlerts.map((a) => a.title).join('; ')}` };
  return { check: 'no open security alerts', status: 'pass', detail: 'none unresolved' };
}

function twoStep(facts: AuditFacts): AuditCheck {
  const check = 'two-step verification on every admin';
  const active = facts.adminUsers.filter((u) => !u.disabled);
  if (active.length === 0) return { check, status: 'warn', detail: 'no admin accounts: add one with wa-crm-sync users add (each gets two-step verification)' };
  const low = active.filter((u) => u.recoveryCodesLeft < 3).map((u) => u.name);
  if (low.length > 0) return { check, status: 'warn', detail: `${low.join(', ')} ${low.length === 1 ? 'has' : 'have'} fewer than 3 recovery codes left: run wa-crm-sync users reset-2fa for a new set` };
  return { check, status: 'pass', detail: `${active.length} active account${active.length === 1 ? '' : 's'}, each with two-step verification (it cannot be switched off)` };
}

function twoStepSecrets(facts: AuditFacts): AuditCheck {
  const check = 'two-step secrets sealed in the store';
  const clear = facts.adminUsers.filter((u) => !u.secretSealed).map((u) => u.name);
  const sealed = facts.adminUsers.length - clear.length;
  if (sealed > 0 && !facts.secretsKeyAvailable) return { check, status: 'fail', detail: `${sealed} TOTP secret${sealed === 1 ? ' is' : 's are'} sealed but no usable key is set: nobody can sign in; set WA_CRM_SYNC_SECRETS_KEY (or admin.secretsKeyFile) to the key they were sealed with` };
  if (clear.length > 0 && !facts.secretsKeyAvailable) return { check, status: 'warn', detail: `the TOTP secrets of ${clear.join(', ')} are stored in clear (whoever reads the store or a restored backup could make codes): set WA_CRM_SYNC_SECRETS_KEY (or admin.secretsKeyFile); each is sealed at the next sign-in` };
  if (clear.length > 0) return { check, status: 'warn', detail: `${clear.join(', ')} not sealed yet: sealed at the next sign-in (or run wa-crm-sync users reset-2fa)` };
  return { check, status: 'pass', detail: facts.adminUsers.length === 0 ? 'no accounts yet; a key is set' : `all ${sealed} sealed with AES-256-GCM` };
}

function storagePermissions(facts: AuditFacts): AuditCheck {
  const check = 'store, media and backups readable by the service only';
  const open = facts.storagePermissions.filter((p) => (p.mode & 0o077) !== 0);
  if (open.length > 0) {
    const list = open.map((p) => `${p.path} (${(p.mode & 0o777).toString(8).padStart(4, '0')})`).join(', ');
    return { check, status: 'fail', detail: `${list} can be read by other users of this machine, and hold message texts, phone numbers and session tokens: chmod 700 the folders and 600 the files (the service makes new ones so)` };
  }
  return { check, status: 'pass', detail: facts.storagePermissions.length === 0 ? 'no local files (PostgreSQL store)' : `${facts.storagePermissions.length} files and folders, none open to other users` };
}

export function runAudit(config: Config, facts: AuditFacts): AuditCheck[] {
  return [
    webhookSecrets(config, facts),
    inlineSecrets(facts),
    httpsUrls(config),
    ...scopeChecks(facts),
    backupAge(config, facts),
    alertsCheck(facts),
    twoStep(facts),
    twoStepSecrets(facts),
    storagePermissions(facts),
    facts.auditTrail.ok
      ? { check: 'audit trail intact', status: 'pass', detail: `${facts.auditTrail.records} records, each chained to the one before` }
      : { check: 'audit trail intact', status: 'fail', detail: `${facts.auditTrail.reason ?? 'the chain is broken'}: someone changed the store directly; restore the trail from a backup and find out who had access (wa-crm-sync audit verify)` },
  ];
}

/** The checklist as a person reads it. */
export function formatAudit(checks: readonly AuditCheck[]): string {
  const mark: Record<AuditStatus, string> = { pass: 'PASS', warn: 'WARN', fail: 'FAIL' };
  const lines = checks.map((c) => `${mark[c.status]}  ${c.check}\n      ${c.detail}`);
  const count = (s: AuditStatus) => checks.filter((c) => c.status === s).length;
  return `${lines.join('\n')}\n\n${count('pass')} pass, ${count('warn')} warn, ${count('fail')} fail`;
}
