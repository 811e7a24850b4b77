// The message trace and the charts in the admin API. A trace is a search through customers'
// data: every one is in the audit trail, with what was searched for masked as the logs mask it.
import { CHART_DAYS, CHART_HOURS, consoleCharts } from '../../core/outbox/charts.js';
import { parseTraceQuery, traceMessages } from '../../core/message-trace.js';
import { maskIdentifier } from '../../core/model/identity.js';
import { customerLabel } from './customers.js';
import { recordLinks, type OperationRouteDependencies } from './operations.js';
import type { DefineRoute } from './route.js';

/** The search text as the audit trail keeps it: a number, BSUID or username masked, a name by its length only. */
export function maskedQuery(text: string): string {
  const query = parseTraceQuery(text);
  if (!query) return '';
  if (query.by === 'message') return query.id;
  if (query.by === 'name') return `name (${query.name.length} characters)`;
  if (query.by === 'username') return `username ${maskIdentifier(`@${query.username}`)}`;
  // The number as WhatsApp writes it (E.164), however it was typed; a BSUID as given.
  return `${query.by} ${maskIdentifier(query.identities[0]!.slice(query.identities[0]!.indexOf(':') + 1))}`;
}

export function traceRoutes(route: DefineRoute, deps: OperationRouteDependencies & { connectors(): string[] }): void {
  route('get', '/trace', async (req, res, caller) => {
    const q = typeof req.query['q'] === 'string' ? req.query['q'].slice(0, 200) : '';
    const result = await traceMessages(deps.store.db, q);
    if (!result) return void res.status(400).json({ error: 'give ?q=: a phone number with its country code, a BSUID, an @username, a name, or a WhatsApp message id (wamid.…)' });
    await deps.audit({ actor: caller.actor, action: 'trace.search', target: maskedQuery(q), detail: { contacts: result.contacts.length, messages: result.messages.length } });
    const messages = [];
    for (const m of result.messages) {
      const connectors = m.connectors.map((c) => ({ connector: c.connector, state: c.state, reason: c.reason, records: recordLinks(deps, c.connector, c.records), operations: c.operations.map(({ records, contactId: _contactId, ...op }) => ({ ...op, records: recordLinks(deps, c.connector, records) })) }));
      messages.push({ id: m.id, direction: m.direction, type: m.type, sentAt: m.sentAt, status: m.status, customer: customerLabel(result.contacts.find((x) => x.id === m.contactId) ?? { wa_id: null, bsuid: null, username: null }, caller.role), connectors });
    }
    res.json({ customers: result.contacts.map((c) => customerLabel(c, caller.role)), messages });
  });
  route('get', '/charts', async (_req, res) => {
    res.json({ hoursShown: CHART_HOURS, daysShown: CHART_DAYS, ...(await consoleCharts(deps.store.db, deps.connectors())) });
  });
}
