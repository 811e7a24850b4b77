// `tokens`: API tokens for automation (create, list, revoke).
import type { Command } from 'commander';
import { AccountError, createToken, listTokens, revokeToken, PERMISSIONS, ROLES, type Permission, type Role } from '../../core/admin/accounts.js';
import { appendAudit } from '../../core/security/audit-trail.js';
import { cliActor, cliAuditKey, configOption, withStore } from './shared.js';

export function registerTokensCommand(program: Command): void {
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
}
