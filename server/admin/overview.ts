// What the dashboard's front page reads from the admin API: recent messages (customers masked
// below admin, never texts), connector states with pauses, outbox depth, consent writes not
// done, open alerts, the latest scope checks, and the history import's counts.
import { pausedConnectors } from '../../core/admin/pause.js';
import type { ScopeReport } from '../../core/connector.js';
import { unfinishedConsentWrites } from '../../core/consent/operation.js';
import { historyProgress } from '../../core/history-progress.js';
import { outboxDepth } from '../../core/outbox/queries.js';
import { openAlerts } from '../../core/security/alerts.js';
import type { Store } from '../../core/store/store.js';
import type { ConnectorReadiness } from '../readiness.js';
import { customerLabel } from './customers.js';
import type { DefineRoute } from './route.js';

export function overviewRoutes(
  route: DefineRoute,
  deps: { store: Store; connectorStates(): ConnectorReadiness[]; scopeReports(): Array<{ connector: string; at: number; ok: boolean; report: ScopeReport | null; reason?: string }> },
): void {
  route('get', '/activity', async (_req, res, caller) => {
    const rows = await deps.store.db
      .selectFrom('messages')
      .innerJoin('contacts', 'contacts.id', 'messages.contact_id')
      .select(['messages.id', 'messages.direction', 'messages.type', 'messages.sent_at', 'messages.status', 'contacts.wa_id', 'contacts.bsuid', 'contacts.username'])
      .orderBy('messages.created_at', 'desc')
      .limit(50)
      .execute();
    // Customers' numbers (or, when WhatsApp withholds them, BSUIDs) in full only for admins; never message texts here.
    res.json({ messages: rows.map((r) => ({ id: r.id, direction: r.direction, type: r.type, sentAt: r.sent_at, status: r.status, customer: customerLabel(r, caller.role) })) });
  });
  route('get', '/status', async (_req, res) => {
    // The pause as stored, at once: dispatchers notice it on their next turn.
    const paused = await pausedConnectors(deps.store);
    const connectors = deps.connectorStates().map((c) =>
      c.state === 'running' && paused.has(c.connector) ? { ...c, state: 'paused' as const, reason: `paused by ${paused.get(c.connector)!.by}` } : c.state === 'paused' && !paused.has(c.connector) ? { connector: c.connector, state: 'running' as const } : c,
    );
    res.json({ connectors, outbox: await outboxDepth(deps.store.db), consentWrites: await unfinishedConsentWrites(deps.store.db), openAlerts: (await openAlerts(deps.store.db)).length });
  });
  route('get', '/scopes', async (_req, res) => {
    res.json({ scopes: deps.scopeReports() });
  });
  // Coexistence history import: counts only, no personal data.
  route('get', '/history', async (_req, res) => {
    res.json(await historyProgress(deps.store.db));
  });
}
