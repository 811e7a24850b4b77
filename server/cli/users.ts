// `users`: admin accounts (add, list, disable, set-password, reset-2fa).
import type { Command } from 'commander';
import QRCode from 'qrcode';
import { AccountError, addUser, disableUser, listUsers, resetTwoFactor, ROLES, secretsKey, setPassword, type Enrolment, type Role } from '../../core/admin/accounts.js';
import { revokeSessionsOf } from '../../core/admin/sessions.js';
import { appendAudit } from '../../core/security/audit-trail.js';
import { cliActor, cliAuditKey, configOption, readStdin, withStore } from './shared.js';

export function registerUsersCommand(program: Command): void {
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
}

/** The enrolment a new or reset account needs: a QR code for the authenticator app, and recovery codes. */
async function printEnrolment(name: string, enrolment: Enrolment): Promise<void> {
  console.log(`Two-step verification for ${name}: scan this with an authenticator app, or enter the link below.`);
  console.log(await QRCode.toString(enrolment.totpUri, { type: 'terminal', small: true }));
  console.log(enrolment.totpUri);
  console.log(`Recovery codes (each works once; keep them apart from the password):\n  ${enrolment.recoveryCodes.join('\n  ')}`);
}
