// Who may reach the admin API: accounts (listed), API tokens (listed, created with a role and
// permissions, revoked) and sessions (a person's own, or everyone's for admins; ended), each
// change audited.
import { createToken, listTokens, listUsers, PERMISSIONS, revokeToken, roleAllows, ROLES, type Permission, type Role } from '../../core/admin/accounts.js';
import { listSessions, revokeSession, type SessionLimits } from '../../core/admin/sessions.js';
import type { AuditEntry } from '../../core/security/audit-trail.js';
import type { Store } from '../../core/store/store.js';
import type { DefineRoute } from './route.js';

export function accessRoutes(route: DefineRoute, deps: { store: Store; audit(entry: AuditEntry): Promise<void>; sessionLimits(): SessionLimits }): void {
  route('get', '/users', async (_req, res) => {
    res.json({ users: await listUsers(deps.store) });
  });
  route('get', '/tokens', async (_req, res) => {
    res.json({ tokens: await listTokens(deps.store) });
  });
  route('post', '/tokens', async (req, res, caller) => {
    const body = (req.body ?? {}) as { name?: unknown; role?: unknown; expiresInDays?: unknown; permissions?: unknown };
    const permissions = body.permissions === undefined ? [] : body.permissions;
    if (typeof body.name !== 'string' || !ROLES.includes(body.role as Role) || !Array.isArray(permissions) || !permissions.every((p) => typeof p === 'string')) {
      res.status(400).json({ error: `give { name, role: ${ROLES.join(' | ')}, expiresInDays, permissions?: [${PERMISSIONS.map((p) => `"${p}"`).join(', ')}] }` });
      return;
    }
    const created = await createToken(deps.store, { name: body.name, role: body.role as Role, expiresInDays: Number(body.expiresInDays ?? 90), createdBy: caller.tokenId ? { token: caller.tokenId } : { user: caller.user! }, permissions: permissions as Permission[] });
    await deps.audit({ actor: caller.actor, action: 'token.create', target: created.id, detail: { name: body.name, role: body.role as string, expiresAt: created.expiresAt, permissions: created.permissions.join(',') } });
    res.status(201).json(created);
  });
  route('delete', '/tokens/:id', async (req, res, caller) => {
    const id = String(req.params['id']);
    const revoked = await revokeToken(deps.store, id);
    await deps.audit({ actor: caller.actor, action: 'token.revoke', target: id, detail: { found: revoked } });
    res.status(revoked ? 200 : 404).json({ revoked });
  });
  route('get', '/sessions', async (_req, res, caller) => {
    // Admins see everyone's; a person their own; a token below admin acts for nobody's sessions.
    if (roleAllows(caller.role, 'admin')) return void res.json({ sessions: await listSessions(deps.store, {}, deps.sessionLimits()) });
    res.json({ sessions: caller.user ? await listSessions(deps.store, { user: caller.user }, deps.sessionLimits()) : [] });
  });
  route('delete', '/sessions/:id', async (req, res, caller) => {
    const id = String(req.params['id']);
    const revoked = await revokeSession(deps.store, id, { user: caller.user ?? '', anyUser: roleAllows(caller.role, 'admin') });
    await deps.audit({ actor: caller.actor, action: 'session.revoke', target: id, detail: { found: revoked } });
    res.status(revoked ? 200 : 404).json({ revoked });
  });
}
