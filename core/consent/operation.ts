// The outbox operation every CRM connector queues when a person's consent changes: one kind,
// one payload and one timeline text for all of them, so the same words reach every CRM.
import { z } from 'zod';
import { contactOrderingKey } from '../outbox/key-queue.js';
import type { OperationDraft } from '../outbox/queries.js';
import type { ModelChange } from '../model/types.js';
import type { Db } from '../store/store.js';
import { CONSENT_SOURCES, CONSENT_STATUSES, type ConsentSource, type ConsentStatus } from './types.js';

export const CONSENT_KIND = 'consent.write';

export interface ConsentPayload {
  readonly contactId: string;
  /** The contact's CRM key (what each CRM finds the person by). */
  readonly crmKey: string;
  readonly status: ConsentStatus;
  readonly changedAt: number;
  readonly source: ConsentSource;
  /** The person's latest thread, for a helpdesk's note on its ticket; null when they never wrote. */
  readonly threadId: string | null;
  [key: string]: string | number | null;
}

/**
 * What a consent write's payload must be, for the connectors that declare CONSENT_KIND (see
 * core/operations.ts): every field has been there since consent writes were first queued.
 */
export const consentPayloadSchema = z.object({
  contactId: z.string(),
  crmKey: z.string(),
  status: z.enum(CONSENT_STATUSES),
  changedAt: z.number(),
  source: z.enum(CONSENT_SOURCES),
  threadId: z.string().nullable(),
}) satisfies z.ZodType<ConsentPayload>;

/**
 * The write of a consent change, on the person's key: after their contact operation (the record
 * exists by then) and in the order the changes happened. Keyed by the change, so a replayed
 * delivery queues nothing new.
 */
export function consentDrafts(change: ModelChange): OperationDraft[] {
  if (change.type !== 'consent.changed') return [];
  const { contact, consent } = change;
  const payload: ConsentPayload = { contactId: contact.id, crmKey: contact.crmKey, status: consent.status, changedAt: consent.changedAt, source: consent.source, threadId: change.threadId };
  return [{ kind: CONSENT_KIND, key: `${contact.id}:${consent.status}:${consent.changedAt}`, orderingKey: contactOrderingKey(contact.id), payload }];
}

const SOURCE_WORDS: Record<ConsentSource, string> = {
  webhook: "in WhatsApp's own settings (user_preferences)",
  keyword: 'by writing an opt-out word',
  button: 'by tapping an opt-out button',
};

/** The timeline note of an opt-out (an opt-in changes the field only); plain text, no personal data beyond the time. */
export function optOutNote(payload: ConsentPayload): string {
  return `WhatsApp: opted out of marketing messages ${SOURCE_WORDS[payload.source]} on ${new Date(payload.changedAt).toISOString()}. Do not send marketing templates until they opt in again.`;
}


/** A consent write not yet done at a CRM: waiting (retried), leased, or failed for good. */
export interface UnfinishedConsentWrite {
  readonly operationId: number;
  readonly connector: string;
  readonly state: 'pending' | 'in_flight' | 'dead';
  readonly status: ConsentStatus;
  readonly changedAt: number;
  readonly attempts: number;
  readonly lastError: string | null;
}

/**
 * Every consent write some CRM has not taken yet, oldest first: an opt-out never silently
 * disappears, so `status` and the dashboard list each one with its last error.
 */
export async function unfinishedConsentWrites(db: Db, limit = 50): Promise<UnfinishedConsentWrite[]> {
  const rows = await db
    .selectFrom('outbox')
    .select(['id', 'connector', 'state', 'payload', 'attempts', 'last_error'])
    .where('kind', '=', CONSENT_KIND)
    .where('state', 'in', ['pending', 'in_flight', 'dead'])
    .orderBy('id')
    .limit(limit)
    .execute();
  return rows.map((row) => {
    const payload = JSON.parse(row.payload) as ConsentPayload;
    return { operationId: row.id, connector: row.connector, state: row.state as UnfinishedConsentWrite['state'], status: payload.status, changedAt: payload.changedAt, attempts: row.attempts, lastError: row.last_error };
  });
}
