// Pure mapping between our model and HubSpot records, and the zod schema of each operation's
// payload: no I/O, tested against plain objects.
import { FilterOperatorEnum } from '@hubspot/api-client/lib/codegen/crm/contacts/models/Filter.js';
import { parsePhoneNumberFromString } from 'libphonenumber-js';
import { z } from 'zod';
import { NUMBER_WITHHELD_NOTE, contactIdentityPayloadSchema, identityFields, phoneFieldNeedsUpdate, type ContactIdentityFields } from '../../core/model/identity.js';
import { numberVariants, samePerson, type E164 } from '../../core/model/phone.js';
import { DELIVERY_STATUSES, storedMediaPayload, type DeliveryStatus, type ModelChange, type VendorErrorDetail } from '../../core/model/types.js';
import type { OperationDraft } from '../../core/outbox/queries.js';
import { messagePlacement, contactOrderingKey } from '../../core/connector.js';

export const KIND = { contact: 'contact.upsert', message: 'message.log', status: 'message.status', media: 'media.attach', thread: 'thread.activity' } as const;

/**
 * How many operations of a kind one vendor call takes: HubSpot's batch endpoints take at most 100
 * inputs (https://developers.hubspot.com/docs/api-reference/latest/crm/objects/communications/batch/create-communications);
 * media go one upload each, ten claimed at once.
 */
export const BATCH_SIZE = { [KIND.contact]: 100, [KIND.message]: 100, [KIND.status]: 100, [KIND.media]: 10, [KIND.thread]: 100 } as const;

// Payload schemas: what the planner below writes is what the handlers read back, checked. Plain
// (stripping) objects: the handlers read the fields named here, and an older payload carrying a
// field no longer written still parses.

/** A new thread, for the note or task telling the contact's owner. */
export const threadPayload = z.object({
  threadId: z.string(),
  contactId: z.string(),
  profileName: z.string().nullable(),
  startedAt: z.number(),
  firstText: z.string(),
});
export type ThreadPayload = z.infer<typeof threadPayload>;

/**
 * A stored media file (StoredMediaPayload). `threadId` is optional: the first media operations,
 * queued before it was added, did not carry it, and nothing here reads it.
 */
export const mediaPayload = z.object({
  messageId: z.string(),
  contactId: z.string(),
  threadId: z.string().optional(),
  path: z.string(),
  sha256: z.string(),
  mimeType: z.string(),
  size: z.number(),
  filename: z.string().nullable(),
});
export type MediaPayload = z.infer<typeof mediaPayload>;

/** A contact's identifiers (see core/model/identity.ts); `crmKey` is the upsert key, `phone` may be null. */
export const contactPayload = contactIdentityPayloadSchema;
export type ContactPayload = ContactIdentityFields;

/** The contact properties this connector writes besides names: from settings, created by setup. */
export interface ContactPropertyNames {
  readonly id: string;
  /** Null: the account does not keep it (the property is not written). */
  readonly bsuid: string | null;
  readonly username: string | null;
  readonly identityNote: string | null;
}

/** A message for its communication, and its delivery status once one came (message.status). */
export const messagePayload = z.object({
  messageId: z.string(),
  contactId: z.string(),
  direction: z.enum(['inbound', 'outbound']),
  text: z.string(),
  sentAt: z.number(),
  status: z.enum(DELIVERY_STATUSES).nullable(),
  statusNote: z.string().nullable(),
});
export type MessagePayload = z.infer<typeof messagePayload>;

export function toOperationDrafts(change: ModelChange, options: { mediaUpload: boolean; threadActivity: boolean }): OperationDraft[] {
  switch (change.type) {
    case 'media.stored': {
      if (!options.mediaUpload) return [];
      const payload = storedMediaPayload(change);
      // Same ordering key as the message: the attachment goes onto an already logged record.
      const { key, orderingKey } = messagePlacement(change);
      return [{ kind: KIND.media, key, orderingKey, payload }];
    }
    case 'contact.upserted': {
      const c = change.contact;
      const payload: ContactPayload = identityFields(c, change.previousWaId ?? null);
      return [{ kind: KIND.contact, key: `${c.id}:${c.updatedAt}`, orderingKey: contactOrderingKey(c.id), payload }];
    }
    case 'message.recorded': {
      const m = change.message;
      const payload: MessagePayload = { messageId: m.id, contactId: change.contact.id, direction: m.direction, text: m.text, sentAt: m.sentAt, status: null, statusNote: null };
      const { key, orderingKey, history } = messagePlacement(change);
      const drafts: OperationDraft[] = [{ kind: KIND.message, key, orderingKey, payload }];
      // A past conversation is logged, not handed to anyone as a new one.
      if (options.threadActivity && change.threadCreated && m.direction === 'inbound' && !history) {
        const thread: ThreadPayload = {
          threadId: change.thread.id,
          contactId: change.contact.id,
          profileName: change.contact.profileName,
          startedAt: change.thread.startedAt,
          firstText: m.text.length > 200 ? `${m.text.slice(0, 199)}…` : m.text,
        };
        drafts.push({ kind: KIND.thread, key: change.thread.id, orderingKey: contactOrderingKey(change.contact.id), payload: thread });
      }
      return drafts;
    }
    case 'message.status': {
      // Only messages we logged carry a status worth showing: our outbound ones.
      const m = change.message;
      if (!m || !change.contact || m.direction !== 'outbound') return [];
      const payload: MessagePayload = {
        messageId: m.id,
        contactId: change.contact.id,
        direction: m.direction,
        text: m.text,
        sentAt: m.sentAt,
        status: change.status,
        statusNote: change.status === 'failed' ? failureNote(change.errors) : null,
      };
      return [{ kind: KIND.status, key: `${m.id}:${change.status}`, orderingKey: contactOrderingKey(change.contact.id), payload }];
    }
    default:
      return [];
  }
}

/** WhatsApp's reason a message failed, in words a person acts on (timeline notes, the inbox's FAILED status). */
export function failureNote(errors: readonly VendorErrorDetail[]): string {
  const first = errors[0];
  if (!first) return 'WhatsApp reported the message as failed';
  return `${first.title || 'failed'} (WhatsApp error ${first.code})${first.details ? `: ${first.details}` : ''}${first.explanation ? `. What it means: ${first.explanation}` : ''}`;
}

/** Splits a WhatsApp profile name into HubSpot's first and last name. */
export function splitName(profileName: string | null): { firstname?: string; lastname?: string } {
  const parts = (profileName ?? '').trim().split(/\s+/).filter(Boolean);
  if (parts.length === 0) return {};
  if (parts.length === 1) return { firstname: parts[0]! };
  return { firstname: parts.slice(0, -1).join(' '), lastname: parts[parts.length - 1]! };
}

/** First and last name from the profile name, else the @username (a phone-less person still reads well). */
function contactName(payload: ContactPayload): { firstname?: string; lastname?: string } {
  const name = splitName(payload.profileName);
  if (name.firstname || name.lastname) return name;
  return payload.username ? { firstname: `@${payload.username}` } : {};
}

/** The WhatsApp identifiers as readable, searchable properties (ours: always current); unknown ones are left out. */
function identityProperties(payload: ContactPayload, names: ContactPropertyNames): Record<string, string> {
  return {
    [names.id]: payload.crmKey,
    ...(payload.bsuid && names.bsuid ? { [names.bsuid]: payload.bsuid } : {}),
    ...(payload.username && names.username ? { [names.username]: `@${payload.username}` } : {}),
    // Said while the number is withheld.
    ...(payload.phone || !names.identityNote ? {} : { [names.identityNote]: NUMBER_WITHHELD_NOTE }),
  };
}

/** Properties for a contact we create: our key, the identifiers, the number when known, and the name. */
export function newContactProperties(payload: ContactPayload, names: ContactPropertyNames): Record<string, string> {
  return { ...identityProperties(payload, names), ...(payload.phone ? { phone: payload.phone } : {}), ...contactName(payload) };
}

/**
 * Properties to write on a contact that already exists: our key and identifiers, the phone where
 * it is empty or still the person's previous number, and the name only where the record has none
 * (an admin's own edits are never overwritten).
 */
export function existingContactProperties(payload: ContactPayload, names: ContactPropertyNames, current: Record<string, string | null | undefined>): Record<string, string> {
  const properties: Record<string, string> = identityProperties(payload, names);
  // The note goes once WhatsApp shares the number.
  if (payload.phone && names.identityNote && current[names.identityNote]) properties[names.identityNote] = '';
  if (phoneFieldNeedsUpdate(current['phone'], payload, [current['mobilephone']])) properties['phone'] = payload.phone!;
  if (!current['firstname'] && !current['lastname']) {
    const name = contactName(payload);
    if (name.firstname) properties['firstname'] = name.firstname;
    if (name.lastname) properties['lastname'] = name.lastname;
  }
  return properties;
}

/**
 * Search values for contacts whose phone or mobile phone holds one of these numbers, however
 * written: E.164 as stored by integrations, digits with the country code as often typed, and the
 * national digits HubSpot keeps in its searchable phone properties (formatting stripped).
 */
export interface PhoneSearchValues {
  e164: string[];
  digits: string[];
  national: string[];
}

export function phoneSearchValues(waId: E164): PhoneSearchValues {
  const values: PhoneSearchValues = { e164: [], digits: [], national: [] };
  for (const variant of numberVariants(waId)) {
    values.e164.push(variant);
    values.digits.push(variant.slice(1));
    const national = parsePhoneNumberFromString(variant)?.nationalNumber;
    if (national) values.national.push(national);
  }
  return values;
}

/** HubSpot's search takes at most this many values in one IN filter. */
export const SEARCH_VALUES_PER_FILTER = 100;

/**
 * HubSpot's search guide, Limitations: "A query can contain a maximum of 3,000 characters. If the
 * body of your request exceeds 3,000 characters, a 400 error will be returned."
 * https://developers.hubspot.com/docs/api/crm/search#limitations
 */
export const SEARCH_BODY_MAX_CHARS = 3_000;

/** Room kept in every body for the paging cursor (`"after":"…"`) added from the second page on. */
const PAGING_ALLOWANCE_CHARS = 40;

export type PhoneSearchChunk = PhoneSearchValues & { waIds: E164[] };

/** The search request body for one chunk of numbers: five OR'ed groups, one IN filter each. */
export function phoneSearchRequest(values: PhoneSearchValues, properties: readonly string[], after?: string) {
  return {
    filterGroups: phoneSearchFilterGroups(values).map((f) => ({ filters: [{ propertyName: f.propertyName, operator: FilterOperatorEnum.In, values: f.values }] })),
    properties: [...properties],
    limit: 200,
    ...(after ? { after } : {}),
  };
}

/** Characters of the JSON body HubSpot counts against its limit (what the SDK sends). */
export function searchBodyChars(values: PhoneSearchValues, properties: readonly string[]): number {
  return JSON.stringify(phoneSearchRequest(values, properties)).length + PAGING_ALLOWANCE_CHARS;
}

/**
 * Groups numbers so that each search stays within HubSpot's limits: at most 100 values per IN
 * filter, and a body of at most `maxBodyChars` characters (with room for the paging cursor).
 * A Brazilian number brings a dozen values (with and without its ninth digit), so the body, not
 * the value count, is what fills first.
 */
export function phoneSearchChunks(waIds: readonly E164[], properties: readonly string[] = [], maxBodyChars = SEARCH_BODY_MAX_CHARS): PhoneSearchChunk[] {
  const chunks: PhoneSearchChunk[] = [];
  const keys = ['e164', 'digits', 'national'] as const;
  for (const waId of waIds) {
    const values = phoneSearchValues(waId);
    const last = chunks[chunks.length - 1];
    if (last) {
      const merged: PhoneSearchValues = { e164: [...last.e164, ...values.e164], digits: [...last.digits, ...values.digits], national: [...last.national, ...values.national] };
      const fits = keys.every((k) => merged[k].length <= SEARCH_VALUES_PER_FILTER) && searchBodyChars(merged, properties) <= maxBodyChars;
      if (fits) {
        last.waIds.push(waId);
        for (const k of keys) last[k].push(...values[k]);
        continue;
      }
    }
    chunks.push({ waIds: [waId], ...values });
  }
  return chunks;
}

/** Splits a chunk of two or more numbers in two halves (for a search HubSpot refused as too large). */
export function halveChunk(chunk: PhoneSearchChunk): [PhoneSearchChunk, PhoneSearchChunk] {
  const middle = Math.ceil(chunk.waIds.length / 2);
  // Each half holds fewer values than the whole, so each stays one chunk.
  const half = (waIds: E164[]) => phoneSearchChunks(waIds, [], Number.MAX_SAFE_INTEGER)[0]!;
  return [half(chunk.waIds.slice(0, middle)), half(chunk.waIds.slice(middle))];
}

/** The five filter groups (HubSpot's maximum) of one phone search; groups are OR'ed. */
export function phoneSearchFilterGroups(values: PhoneSearchValues): Array<{ propertyName: string; values: string[] }> {
  return [
    { propertyName: 'phone', values: [...values.e164] },
    { propertyName: 'mobilephone', values: [...values.e164] },
    { propertyName: 'phone', values: [...values.digits] },
    { propertyName: 'hs_searchable_calculated_phone_number', values: [...values.national] },
    { propertyName: 'hs_searchable_calculated_mobile_number', values: [...values.national] },
  ];
}

export const PHONE_PROPERTIES = ['phone', 'mobilephone'] as const;

/** The candidate whose phone or mobile phone is really this number (search can over-match). */
export function pickPhoneMatch<T extends { id: string; properties: Record<string, string | null | undefined> }>(candidates: readonly T[], waId: E164): T | undefined {
  return candidates.find((c) => PHONE_PROPERTIES.some((p) => {
    const value = c.properties[p];
    return typeof value === 'string' && value.trim() !== '' && samePerson(value, waId, waId);
  }));
}

const EXTENSIONS: Record<string, string> = {
  'image/jpeg': 'jpg',
  'image/png': 'png',
  'image/webp': 'webp',
  'video/mp4': 'mp4',
  'video/3gpp': '3gp',
  'audio/ogg': 'ogg',
  'audio/mpeg': 'mp3',
  'audio/aac': 'aac',
  'audio/mp4': 'm4a',
  'application/pdf': 'pdf',
};

/** A stable file name per content: the same bytes always get the same name, so an upload can be found again. */
export function mediaFileName(payload: Pick<MediaPayload, 'sha256' | 'mimeType' | 'filename'>): string {
  const fromName = payload.filename ? /\.([A-Za-z0-9]{1,8})$/.exec(payload.filename)?.[1] : undefined;
  const extension = fromName ?? EXTENSIONS[payload.mimeType.split(';')[0]!.trim()] ?? 'bin';
  return `whatsapp-${payload.sha256.slice(0, 32)}.${extension.toLowerCase()}`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch]!);
}

const STATUS_LABEL: Record<DeliveryStatus, string> = {
  sent: 'Sent',
  delivered: 'Delivered',
  read: 'Read',
  failed: 'NOT DELIVERED',
  deleted: 'Deleted by the customer',
  warning: 'Warning',
};

/** The communication body shown on the timeline (HubSpot renders HTML). */
export function communicationBody(payload: MessagePayload): string {
  const heading = payload.direction === 'inbound' ? 'WhatsApp message from the customer' : 'WhatsApp message to the customer';
  const lines = [`<p><strong>${heading}</strong></p>`, `<p>${escapeHtml(payload.text).replace(/\n/g, '<br>')}</p>`];
  if (payload.status) {
    const note = payload.statusNote ? `: ${escapeHtml(payload.statusNote)}` : '';
    lines.push(`<p><em>${STATUS_LABEL[payload.status]}${note}</em></p>`);
  }
  return lines.join('');
}

/** The note or task telling the contact's owner that a new WhatsApp conversation started. */
export function threadActivityProperties(
  payload: ThreadPayload,
  kind: 'note' | 'task',
  threadIdProperty: string,
  ownerId: string | null | undefined,
): Record<string, string> {
  const who = payload.profileName ? escapeHtml(payload.profileName) : 'a customer';
  const body = `<p>New WhatsApp conversation with ${who}.</p><p>First message: ${escapeHtml(payload.firstText)}</p>`;
  const owner: Record<string, string> = ownerId ? { hubspot_owner_id: ownerId } : {};
  const timestamp = new Date(payload.startedAt).toISOString();
  if (kind === 'note') return { [threadIdProperty]: payload.threadId, hs_note_body: body, hs_timestamp: timestamp, ...owner };
  return {
    [threadIdProperty]: payload.threadId,
    hs_task_subject: `Reply on WhatsApp to ${payload.profileName ?? 'a new customer'}`,
    hs_task_body: body,
    hs_task_status: 'NOT_STARTED',
    hs_task_priority: 'MEDIUM',
    hs_timestamp: timestamp,
    ...owner,
  };
}

export function communicationProperties(payload: MessagePayload, messageIdProperty: string): Record<string, string> {
  return {
    [messageIdProperty]: payload.messageId,
    hs_communication_channel_type: 'WHATS_APP',
    hs_communication_logged_from: 'CRM',
    hs_communication_body: communicationBody(payload),
    hs_timestamp: new Date(payload.sentAt).toISOString(),
  };
}
