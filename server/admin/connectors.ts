// Connector health in the admin API: last success, last error (personal data masked), error
// rate, what waits in backoff; "retry now" for what waits; pausing and resuming a connector on
// every instance. Each change audited.
import { setPaused } from '../../core/admin/pause.js';
import { connectorHealth } from '../../core/outbox/health.js';
import { runBackedOffNow } from '../../core/outbox/queries.js';
import type { AuditEntry } from '../../core/security/audit-trail.js';
import type { Store } from '../../core/store/store.js';
import type { ConnectorReadiness } from '../readiness.js';
import type { DefineRoute } from './route.js';

export function connectorRoutes(route: DefineRoute, deps: { store: Store; connectorStates(): ConnectorReadiness[]; audit(entry: AuditEntry): Promise<void>; wake(connector: string): void }): void {
  route('get', '/connectors/health', async (_req, res) => {
    const ids = deps.connectorStates().map((c) => c.connector);
    res.json({ connectors: await connectorHealth(deps.store.db, ids) });
  });
  route('post', '/connectors/:id/retry', async (req, res, caller) => {
    const id = String(req.params['id']);
    if (!deps.connectorStates().some((c) => c.connector === id)) return void res.status(404).json({ error: `no connector ${id} in the config` });
    const count = await runBackedOffNow(deps.store.db, id, Date.now());
    await deps.audit({ actor: caller.actor, action: 'connector.retry', target: id, detail: { operations: count } });
    deps.wake(id);
    res.json({ connector: id, retried: count });
  });
  for (const action of ['pause', 'resume'] as const) {
    route('post', `/connectors/:id/${action}`, async (req, res, caller) => {
      const id = String(req.params['id']);
      if (!deps.connectorStates().some((c) => c.connector === id)) {
        res.status(404).json({ error: `no connector ${id} in the config` });
        return;
      }
      await setPaused(deps.store, id, action === 'pause' ? { by: caller.actor, at: Date.now() } : null);
      await deps.audit({ actor: caller.actor, action: `connector.${action}`, target: id });
      deps.wake(id);
      res.json({ connector: id, paused: action === 'pause' });
    });
  }
}
