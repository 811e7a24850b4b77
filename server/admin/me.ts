// The caller in the admin API: who is signed in (or which token), with what role, and a person
// changing their own password (which signs out their other sessions), audited.
import { AccountError, changePassword } from '../../core/admin/accounts.js';
import { revokeSessionsOf } from '../../core/admin/sessions.js';
import type { AuditEntry } from '../../core/security/audit-trail.js';
import type { Store } from '../../core/store/store.js';
import type { DefineRoute } from './route.js';

export function meRoutes(route: DefineRoute, deps: { store: Store; audit(entry: AuditEntry): Promise<void>; secretsKey(): Promise<string | undefined>; dashboardRefreshSeconds(): number }): void {
  route('get', '/me', async (_req, res, caller) => {
    res.json({ actor: caller.actor, user: caller.user ?? null, role: caller.role, refreshSeconds: deps.dashboardRefreshSeconds() });
  });
  route('post', '/me/password', async (req, res, caller) => {
    if (!caller.user) throw new AccountError('API tokens have no password: sign in as the person whose password it is');
    const body = (req.body ?? {}) as Record<string, unknown>;
    const text = (key: string) => (typeof body[key] === 'string' ? (body[key] as string) : '');
    try {
      await changePassword(deps.store, { name: caller.user, currentPassword: text('currentPassword'), newPassword: text('newPassword'), code: text('code') }, await deps.secretsKey());
    } catch (error) {
      if (error instanceof AccountError) await deps.audit({ actor: caller.actor, action: 'user.password.refused', target: caller.user, detail: { reason: error.message } });
      throw error;
    }
    // Whoever else held a session of this person (a stolen cookie) is signed out.
    const ended = await revokeSessionsOf(deps.store, caller.user, caller.session);
    await deps.audit({ actor: caller.actor, action: 'user.password', target: caller.user, detail: { otherSessionsEnded: ended } });
    res.json({ changed: true, otherSessionsEnded: ended });
  });
}
