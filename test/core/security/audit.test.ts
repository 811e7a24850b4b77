// The security self-audit on good and bad configurations, and from the command line.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { connectorSettingsSchemas } from '../../../connectors/registry.js';
import { validateConfig } from '../../../core/config/load.js';
import { PUBLISHED_EXAMPLE_SECRETS, runAudit, type AuditFacts } from '../../../core/security/audit.js';
import { projectRoot } from '../../helpers/fixtures.js';
import { writeConfig } from '../../helpers/service-process.js';
import { freshStoreUrl, tempDir } from '../../helpers/stores.js';

const SECRET = 'a3f5c2d1e4b6a7980c1d2e3f4a5b6c7d';
const env = { APP_SECRET: SECRET, VERIFY: 'verify-token-long-enough', WA_TOKEN: 'EAAG', ZD: 'zd-token', ZD_SECRET: 'zendesk-signing-secret-xyz' };
const goodText = `whatsapp:\n  appSecret: \${APP_SECRET}\n  verifyToken: \${VERIFY}\n  accessToken: \${WA_TOKEN}\nconnectors:\n  zendesk:\n    enabled: true\n    subdomain: acme\n    email: agent@acme.test\n    apiToken: \${ZD}\n    webhookSecret: \${ZD_SECRET}\nbackup:\n  everyHours: 24\n`;
const good = validateConfig(
  { whatsapp: { appSecret: SECRET, verifyToken: env.VERIFY, accessToken: 'EAAG' }, connectors: { zendesk: { enabled: true, subdomain: 'acme', email: 'agent@acme.test', apiToken: 'zd-token', webhookSecret: env.ZD_SECRET } }, backup: { everyHours: 24 } },
  connectorSettingsSchemas,
  {},
);
const report = { connector: 'zendesk', required: ['tickets:read', 'tickets:write'], granted: ['tickets:read', 'tickets:write'], missing: [], extra: [] };
const facts = (extra: Partial<AuditFacts> = {}): AuditFacts => ({
  configText: goodText,
  scopes: [{ connector: 'zendesk', report }],
  lastBackup: { at: Date.now() - 3_600_000, path: '/backups/x.backup' },
  openAlerts: [],
  webhookSecretsMissing: [],
  backupKeyAvailable: true,
  auditTrail: { ok: true, records: 3 },
  adminUsers: [{ name: 'alice', disabled: false, recoveryCodesLeft: 10, secretSealed: true }],
  secretsKeyAvailable: true,
  storagePermissions: [{ path: '/data', mode: 0o40700, directory: true }, { path: '/data/store.sqlite', mode: 0o100600, directory: false }],
  now: Date.now(),
  ...extra,
});
const statusOf = (checks: ReturnType<typeof runAudit>, name: string) => checks.find((c) => c.check === name)?.status;

describe('security self-audit', () => {
  it("counts the workflow recipes' secrets and tokens written in the file as inline secrets", () => {
    const text = `whatsapp:\n  appSecret: \${APP_SECRET}\nconnectors:\n  salesforce:\n    flowRecipe:\n      token: flow-token-0123456789abcdef0123\n  hubspot:\n    workflowRecipe:\n      apiKey: \${HS_KEY}\n  zendesk2:\n    triggerRecipe:\n      signingSecret: zendesk-recipe-secret-01\n      bearerToken: bearer-token-0123456789abcdef\n`;
    expect(runAudit(good, facts({ configText: text })).find((c) => c.check === 'secrets not inline in the config file')).toMatchObject({
      status: 'warn',
      detail: expect.stringMatching(/^connectors\.salesforce\.flowRecipe\.token, connectors\.zendesk2\.triggerRecipe\.signingSecret, connectors\.zendesk2\.triggerRecipe\.bearerToken are written in the file/),
    });
  });

  it("fails on examples/local.yaml's published fallback secrets, and counts ${NAME:-fallback} as written in the file", async () => {
    const { readFileSync } = await import('node:fs');
    const text = readFileSync(join(projectRoot, 'examples/local.yaml'), 'utf8');
    const fallbacks = [...text.matchAll(/(appSecret|verifyToken): \$\{[A-Z_]+:-([^}]+)\}/g)].map((m) => m[2]!);
    expect(fallbacks.length).toBeGreaterThan(0);
    for (const f of fallbacks) expect(PUBLISHED_EXAMPLE_SECRETS.has(f), f).toBe(true);
    const local = validateConfig({ whatsapp: { appSecret: 'local-only-app-secret', verifyToken: 'local-only-verify-token' } }, connectorSettingsSchemas, {});
    const checks = runAudit(local, facts({ configText: text }));
    expect(checks.find((c) => c.check === 'webhook secrets set and strong')).toMatchObject({ status: 'fail', detail: expect.stringMatching(/whatsapp\.appSecret is the example's published fallback/) });
    expect(checks.find((c) => c.check === 'secrets not inline in the config file')).toMatchObject({ status: 'warn', detail: expect.stringMatching(/^whatsapp\.appSecret, whatsapp\.verifyToken are written in the file/) });
  });

  it('fails when the store, media or backups can be read by other users of the machine', () => {
    const checks = runAudit(good, facts({ storagePermissions: [{ path: '/data/store.sqlite-wal', mode: 0o100644, directory: false }, { path: '/data/media', mode: 0o40755, directory: true }] }));
    expect(checks.find((c) => c.check === 'store, media and backups readable by the service only')).toMatchObject({ status: 'fail', detail: expect.stringMatching(/^\/data\/store\.sqlite-wal \(0644\), \/data\/media \(0755\) can be read by other users/) });
  });

  it('passes a good configuration', () => {
    const checks = runAudit(good, facts());
    expect(checks.filter((c) => c.status !== 'pass')).toEqual([]);
    expect(statusOf(runAudit(good, facts({ adminUsers: [] })), 'two-step verification on every admin')).toBe('warn');
    expect(runAudit(good, facts({ adminUsers: [{ name: 'bob', disabled: false, recoveryCodesLeft: 1, secretSealed: true }] })).find((c) => c.check === 'two-step verification on every admin')!.detail).toMatch(/bob has fewer than 3 recovery codes/);
    expect(checks.some((c) => c.status === 'fail')).toBe(false);
  });

  it('judges how the TOTP secrets are kept: sealed with a key, in clear, or sealed with no key to open them', () => {
    const check = 'two-step secrets sealed in the store';
    const clearBob = { name: 'bob', disabled: false, recoveryCodesLeft: 10, secretSealed: false };
    const sealedAlice = { name: 'alice', disabled: false, recoveryCodesLeft: 10, secretSealed: true };
    const inClear = runAudit(good, facts({ adminUsers: [clearBob], secretsKeyAvailable: false })).find((c) => c.check === check)!;
    expect(inClear).toMatchObject({ status: 'warn', detail: expect.stringMatching(/bob are stored in clear.*set WA_CRM_SYNC_SECRETS_KEY/) });
    expect(runAudit(good, facts({ adminUsers: [sealedAlice, clearBob] })).find((c) => c.check === check)).toMatchObject({ status: 'warn', detail: expect.stringMatching(/^bob not sealed yet/) });
    const locked = runAudit(good, facts({ adminUsers: [sealedAlice], secretsKeyAvailable: false })).find((c) => c.check === check)!;
    expect(locked).toMatchObject({ status: 'fail', detail: expect.stringMatching(/nobody can sign in/) });
  });

  it('fails or warns on each problem, saying how to fix it', () => {
    const bad = validateConfig(
      { whatsapp: { appSecret: 'short', verifyToken: 'x', accessToken: 'EAAG', graphBaseUrl: 'http://127.0.0.1:9/v23.0' }, connectors: { zendesk: { enabled: true, subdomain: 'acme', email: 'agent@acme.test', apiToken: 'zd' } }, backup: { everyHours: 24 } },
      connectorSettingsSchemas,
      {},
    );
    const checks = runAudit(bad, {
      ...facts(),
      configText: 'whatsapp:\n  appSecret: short\n  verifyToken: x\n',
      webhookSecretsMissing: [{ connector: 'zendesk', hint: 'set connectors.zendesk.webhookSecret or run wa-crm-sync setup zendesk' }],
      scopes: [{ connector: 'zendesk', report: { ...report, granted: ['tickets:read', 'webhooks:write'], missing: ['tickets:write'], extra: ['webhooks:write'] } }],
      lastBackup: { at: Date.now() - 5 * 86_400_000, path: '/b' },
      backupKeyAvailable: true,
      openAlerts: [{ severity: 'critical', title: 'WhatsApp reported "read" for a message this service never sent' }],
    });
    expect(statusOf(checks, 'webhook secrets set and strong')).toBe('fail');
    expect(checks.find((c) => c.check === 'webhook secrets set and strong')!.detail).toMatch(/connectors\.zendesk has no webhook signing secret: set connectors\.zendesk\.webhookSecret or run wa-crm-sync setup zendesk.*whatsapp\.appSecret is shorter/);
    expect(checks.find((c) => c.check === 'secrets not inline in the config file')).toMatchObject({ status: 'warn', detail: expect.stringMatching(/whatsapp\.appSecret, whatsapp\.verifyToken are written in the file/) });
    expect(statusOf(checks, 'https base URLs')).toBe('warn');
    expect(checks.find((c) => c.check === 'zendesk: scopes exactly as needed')).toMatchObject({ status: 'fail', detail: expect.stringMatching(/missing tickets:write/) });
    expect(checks.find((c) => c.check === 'recent good backup')).toMatchObject({ status: 'warn', detail: expect.stringMatching(/5\.0 days old/) });
    expect(statusOf(checks, 'no open security alerts')).toBe('fail');
    expect(statusOf(runAudit(good, facts({ backupKeyAvailable: false })), 'recent good backup')).toBe('fail');
    expect(runAudit(good, facts({ auditTrail: { ok: false, records: 4, reason: 'record 2 (backup by cli:root) was edited after it was written' } })).find((c) => c.check === 'audit trail intact')).toMatchObject({ status: 'fail', detail: expect.stringMatching(/record 2 .* was edited/) });
    expect(statusOf(runAudit(good, facts({ scopes: [{ connector: 'zendesk', report: { ...report, extra: ['users:write'] } }] })), 'zendesk: scopes exactly as needed')).toBe('warn');
  });

  it('runs from the command line: a checklist, --json, and exit 1 on a fail', async () => {
    const dir = tempDir();
    const configPath = join(dir, 'wa-crm-sync.yaml');
    writeConfig(configPath, { whatsapp: { appSecret: 'inline-and-short', verifyToken: 'verify-token-long-enough' }, store: { url: freshStoreUrl('sqlite').url }, backup: { everyHours: 24 } });
    const run = promisify(execFile);
    const bin = join(projectRoot, 'bin/wa-crm-sync.js');
    const noKey = { ...process.env, WA_CRM_SYNC_BACKUP_KEY: '' };
    const failed = await run(process.execPath, [bin, 'audit', '--config', configPath], { env: noKey }).catch((error: { code: number; stdout: string }) => error);
    expect(failed).toMatchObject({ code: 1, stdout: expect.stringMatching(/FAIL {2}recent good backup\n {6}no backup key[\s\S]*\d+ pass, \d+ warn, 1 fail/) });
    const json = await run(process.execPath, [bin, 'audit', '--json', '--config', configPath], { env: { ...process.env, WA_CRM_SYNC_BACKUP_KEY: 'long enough backup passphrase' } });
    expect((JSON.parse(json.stdout) as Array<{ status: string }>).some((c) => c.status === 'fail')).toBe(false);
  });
});
