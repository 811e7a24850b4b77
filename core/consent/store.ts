// Each person's marketing consent, with when and how it last changed, and the question every
// sender asks before a marketing template goes out. A change applies only if it is newer than
// the one kept: WhatsApp delivers webhooks late and out of order, and an old STOP seen after a
// newer START must not undo it.
import type { Db } from '../store/store.js';
import { findContact, loadContact } from '../model/repository.js';
import type { Contact } from '../model/types.js';

export { CONSENT_SOURCES, CONSENT_STATUSES, type Consent, type ConsentCategory, type ConsentSource, type ConsentStatus } from './types.js';
import type { Consent, ConsentCategory, ConsentSource, ConsentStatus } from './types.js';

/**
 * Keeps a consent change unless a newer one (or the same state) is already kept. Returns the
 * consent now in force when this changed it, undefined when it changed nothing (a redelivery,
 * a repeat, or an older change arriving late).
 */
export async function recordConsent(db: Db, change: Consent, now: number): Promise<Consent | undefined> {
  const current = await consentOf(db, change.contactId, change.category);
  if (current && (current.changedAt > change.changedAt || current.status === change.status)) return undefined;
  const row = { status: change.status, changed_at: change.changedAt, source: change.source, recorded_at: now };
  if (current) {
    await db.updateTable('consents').set(row).where('contact_id', '=', change.contactId).where('category', '=', change.category).execute();
  } else {
    await db.insertInto('consents').values({ contact_id: change.contactId, category: change.category, ...row }).execute();
  }
  return change;
}

export async function consentOf(db: Db, contactId: string, category: ConsentCategory = 'marketing'): Promise<Consent | undefined> {
  const row = await db.selectFrom('consents').selectAll().where('contact_id', '=', contactId).where('category', '=', category).executeTakeFirst();
  if (!row) return undefined;
  return { contactId: row.contact_id, category: row.category as ConsentCategory, status: row.status as ConsentStatus, changedAt: row.changed_at, source: row.source as ConsentSource };
}

export type MarketingPermission =
  | { readonly allowed: true; readonly contact: Contact | undefined; readonly consent: Consent | undefined; readonly reason: string }
  | { readonly allowed: false; readonly contact: Contact; readonly consent: Consent; readonly reason: string };

/**
 * May a marketing template go to this person? No, once they opted out (until they opt in again);
 * yes otherwise, including someone we have never seen: WhatsApp's own opt-in rules for a first
 * marketing message are the sender's to meet, this answers only "did they tell us to stop".
 * The person is named by phone, BSUID or parent BSUID (any one finds them), or by contact id.
 */
export async function mayMessageForMarketing(
  db: Db,
  person: { readonly contactId: string } | { readonly waId?: string | null; readonly bsuid?: string | null; readonly parentBsuid?: string | null },
): Promise<MarketingPermission> {
  const contact =
    'contactId' in person
      ? await loadContact(db, person.contactId)
      : await findContact(db, { waId: person.waId ?? null, bsuid: person.bsuid ?? null, parentBsuid: person.parentBsuid ?? null });
  if (!contact) return { allowed: true, contact: undefined, consent: undefined, reason: 'no opt-out recorded: this person is not known here' };
  const consent = await consentOf(db, contact.id, 'marketing');
  if (consent?.status === 'opted_out') {
    return { allowed: false, contact, consent, reason: `opted out of marketing messages on ${new Date(consent.changedAt).toISOString()} (${consent.source}); they must opt in again (e.g. reply START) first` };
  }
  return { allowed: true, contact, consent, reason: consent ? `opted in on ${new Date(consent.changedAt).toISOString()} (${consent.source})` : 'no opt-out recorded' };
}

