// The business app's past (coexistence history) as solved tickets, through the Ticket Import
// API: one per past conversation (several for a very long one), exactly once, written by the
// customer and the integration's agent with the messages' own times. Runs no triggers, so no
// acknowledgement and no reply follow.
// https://developer.zendesk.com/api-reference/ticketing/tickets/ticket_import/
import type { ExecutionContext } from '../../core/connector.js';
import { CredentialError, VendorError } from '../../core/errors.js';
import { sendNoted, waitOutLateLanding } from '../../core/lost-answer.js';
import { requirePrerequisite, type OperationDone } from '../../core/operations.js';
import { expectAnswer, type ZendeskApi } from './client.js';
import { historyExternalId, importedTicket, nextHistoryBatch, type HistoryImportPayload } from './mappers.js';
import { REF, lateLanding } from './refs.js';
import { zendeskTicket, zendeskTickets } from './responses.js';
import type { ZendeskSettings } from './settings.js';

/** How long a refused import (not an admin's token) makes the next ones fail without asking again. */
const HISTORY_FORBIDDEN_MS = 60_000;

function importForbidden(detail: string): VendorError {
  return new VendorError('zendesk', `${detail}; the Ticket Import API is for admins: use an admin's token, or set connectors.zendesk.history: none (live tickets are not affected)`, { status: 403 });
}

export class ZendeskHistoryImporter {
  readonly #api: ZendeskApi;
  readonly #settings: ZendeskSettings;

  constructor(api: ZendeskApi, settings: ZendeskSettings) {
    this.#api = api;
    this.#settings = settings;
  }

  /**
   * Imports the thread's past messages not yet imported as one solved ticket (several for a very
   * long conversation, or when some arrived after its ticket was imported). Exactly once: the
   * import under way is noted first, and should its answer be lost, the next attempt finds the
   * ticket by that import's external id and adopts it instead of importing again. No
   * acknowledgement and no reply follow: the Ticket Import API runs no triggers.
   * https://developer.zendesk.com/api-reference/ticketing/tickets/ticket_import/
   */
  async importPast(payload: HistoryImportPayload, context: ExecutionContext): Promise<OperationDone> {
    for (let step = 0; step < 50; step++) {
      const importedTo = Number((await context.getRef(REF.historyImportedTo, payload.threadId)) ?? -1);
      if (importedTo >= payload.arrivalSeq) break;
      const pendingRef = await context.getRef(REF.historyPendingImport, payload.threadId);
      const pending = pendingRef ? (JSON.parse(pendingRef) as { externalId: string; seq: number }) : undefined;
      if (pending && pending.seq > importedTo) {
        // An import whose outcome we do not know (a lost answer, a crash): did it land? Once it
        // can no longer land: Zendesk may still be carrying it out, and a look now finds nothing.
        await waitOutLateLanding(context, lateLanding(this.#settings, REF.historyImportSent, payload.threadId, 'history import'));
        const tickets = await this.#api.read(context, 'looking up an imported ticket by external id', zendeskTickets, (c) => c.tickets.get(['tickets', { external_id: pending.externalId }]));
        const landed = tickets.sort((a, b) => a.id - b.id)[0];
        if (landed) {
          await this.#recordImport(payload.threadId, landed.id, pending.seq, context);
          context.log.info({ zendeskTicketId: landed.id, threadId: payload.threadId }, 'adopted a history ticket an earlier attempt imported');
          continue;
        }
      }
      const batch = nextHistoryBatch(await context.threadMessages(payload.threadId), importedTo, this.#settings.historyCommentsPerTicket);
      if (!batch) {
        await context.setRef(REF.historyImportedTo, payload.threadId, String(Math.max(importedTo, payload.arrivalSeq)));
        break;
      }
      const requesterId = requirePrerequisite(await context.getRef(REF.user, payload.contactId), "the customer's Zendesk user");
      const externalId = historyExternalId(payload.threadId, importedTo);
      const ticket = importedTicket(this.#settings, {
        messages: batch.messages,
        customerName: payload.customerName,
        externalId,
        continued: importedTo >= 0,
        requesterId: Number(requesterId),
        agentId: await this.#api.integrationUserId(context),
      });
      const forbiddenAt = Number((await context.getRef(REF.historyForbidden, 'account')) ?? 0);
      if (Date.now() - forbiddenAt < HISTORY_FORBIDDEN_MS) throw importForbidden('importing a past conversation: refused a moment ago (HTTP 403)');
      await context.setRef(REF.historyPendingImport, payload.threadId, JSON.stringify({ externalId, seq: batch.lastSeq }));
      let answer: { result: unknown };
      try {
        answer = await sendNoted(context, [lateLanding(this.#settings, REF.historyImportSent, payload.threadId, 'history import')], () =>
          this.#api.call(context, 'importing a past conversation as a solved ticket', (c) => c.tickets.post(['imports', 'tickets'], { ticket })),
        );
      } catch (error) {
        // An agent's token may not import. Said as a vendor refusal of this operation, not a
        // credential problem, which would pause the connector and its live tickets with it.
        if (!(error instanceof CredentialError && error.status === 403)) throw error;
        await context.setRef(REF.historyForbidden, 'account', String(Date.now()));
        throw importForbidden(error.message);
      }
      // Checked once the import is answered (and so no longer in doubt): a retry adopts it by external id.
      const imported = expectAnswer('importing a past conversation as a solved ticket', zendeskTicket, answer.result);
      await this.#recordImport(payload.threadId, imported.id, batch.lastSeq, context);
    }
    const tickets = await context.getRef(REF.historyTickets, payload.threadId);
    return { result: { zendeskTicketIds: tickets ? (JSON.parse(tickets) as number[]) : [] } };
  }

  async #recordImport(threadId: string, ticketId: number, seq: number, context: ExecutionContext): Promise<void> {
    const known = await context.getRef(REF.historyTickets, threadId);
    const tickets = known ? (JSON.parse(known) as number[]) : [];
    if (!tickets.includes(ticketId)) await context.setRef(REF.historyTickets, threadId, JSON.stringify([...tickets, ticketId]));
    await context.setRef(REF.historyImportedTo, threadId, String(seq));
  }
}
