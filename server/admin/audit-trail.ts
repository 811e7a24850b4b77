// The audit trail in the admin API: records newest first, filtered by action prefix or actor.
import { listAudit } from '../../core/security/audit-trail.js';
import type { Store } from '../../core/store/store.js';
import type { DefineRoute } from './route.js';

/** Most audit records one GET /admin/api/audit returns. */
const AUDIT_PAGE_MAX = 1000;

export function auditTrailRoutes(route: DefineRoute, deps: { store: Store }): void {
  route('get', '/audit', async (req, res) => {
    const limit = req.query['limit'] === undefined ? 200 : Number(req.query['limit']);
    // A negative limit means "no limit" to SQLite: the whole trail in one answer.
    if (!Number.isInteger(limit) || limit < 1 || limit > AUDIT_PAGE_MAX) {
      res.status(400).json({ error: `limit must be a whole number from 1 to ${AUDIT_PAGE_MAX}` });
      return;
    }
    const records = await listAudit(deps.store, {
      ...(typeof req.query['action'] === 'string' ? { action: req.query['action'] } : {}),
      ...(typeof req.query['actor'] === 'string' ? { actor: req.query['actor'] } : {}),
      limit,
    });
    res.json({ records });
  });
}
