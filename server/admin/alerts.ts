// Alerts in the admin API: every alert with its state and what to check; acknowledging one and
// resolving one by hand (with a note), each audited by core/security/alerts.ts.
import { AlertChangeError, listAlerts, RESOLUTION_NOTE_LIMIT, type Alerts } from '../../core/security/alerts.js';
import type { Store } from '../../core/store/store.js';
import { numericId, type DefineRoute } from './route.js';

export function alertRoutes(route: DefineRoute, deps: { store: Store; alerts: Alerts }): void {
  route('get', '/alerts', async (req, res) => {
    // Unresolved by default (what needs a person); ?include=resolved adds the recent history.
    const resolved = req.query['include'] === 'resolved';
    res.json({ alerts: await listAlerts(deps.store.db, { resolved, limit: 200 }) });
  });
  route('post', '/alerts/:id/acknowledge', async (req, res, caller) => {
    const id = numericId(req);
    if (id === undefined) return void res.status(400).json({ error: 'the alert id is a whole number (GET /admin/api/alerts lists them)' });
    await answer(res, () => deps.alerts.acknowledge(deps.store.db, id, caller.actor));
  });
  route('post', '/alerts/:id/resolve', async (req, res, caller) => {
    const id = numericId(req);
    if (id === undefined) return void res.status(400).json({ error: 'the alert id is a whole number (GET /admin/api/alerts lists them)' });
    const note = (req.body as { note?: unknown } | undefined)?.note;
    if (typeof note !== 'string' || note.trim() === '') return void res.status(400).json({ error: `give { note }: what was found or done (up to ${RESOLUTION_NOTE_LIMIT} characters)` });
    await answer(res, () => deps.alerts.resolveByHand(deps.store.db, id, caller.actor, note));
  });
}

async function answer(res: import('express').Response, change: () => Promise<unknown>): Promise<void> {
  try {
    res.json({ alert: await change() });
  } catch (error) {
    if (!(error instanceof AlertChangeError)) throw error;
    res.status(error.status).json({ error: error.message });
  }
}
