// Pure mapping between our model and Salesforce records and SOQL, and the zod schema of each
// operation's payload: what the planner writes is what the handler reads back, checked. No I/O.
import { z } from 'zod';
import { undeliveredNote } from '../../core/outbound/send-failure.js';
import type { ThreadMessage } from '../../core/connector.js';
import { ARRIVED_LATE } from '../../core/model/late.js';
import { NUMBER_WITHHELD_NOTE, identityFields, phoneFieldNeedsUpdate, type ContactIdentityFields } from '../../core/model/identity.js';
import { samePerson, writtenForms, type E164 } from '../../core/model/phone.js';
import { storedMediaPayload, storedMediaPayloadSchema, type ModelChange } from '../../core/model/types.js';
import type { OperationDraft } from '../../core/outbox/queries.js';
import { messagePlacement, contactOrderingKey } from '../../core/connector.js';
import type { SalesforceSettings } from './settings.js';

export const KIND = { person: 'person.upsert', activity: 'thread.log', media: 'media.file', failedSend: 'send.failed' } as const;

/**
 * Ref kinds kept per connector: `person` and `task` are the Salesforce ids of a contact's record
 * and a thread's Task; `taskSyncedTo` the last arrival a Task carries. `taskLate`: ids of the thread's messages that arrived after later ones were on its Task (JSON
 * list). `taskSent` and `fileSent`: when a Task rewrite (per thread) or a file upload (per message
 * and file) went out whose answer is not known yet (see core/lost-answer.ts).
 */
export const REF = { person: 'person', personSent: 'person-sent', task: 'task', taskSyncedTo: 'task-synced-to', taskLate: 'task-late', taskSent: 'task-sent', fileSent: 'file-sent' } as const;

/** A message we sent that WhatsApp could not deliver: noted on the person as a Task. */
export const failedSendPayload = z.object({
  contactId: z.string(),
  messageId: z.string(),
  /** The note, with the errors explained (core's undeliveredNote). */
  note: z.string(),
  failedAt: z.number(),
});
export type FailedSendPayload = z.infer<typeof failedSendPayload>;

/**
 * Largest batch per kind, and so per sObject Collections call (200 records) or, for files, per
 * round of uploads; kinds not listed go one at a time.
 */
export const BATCH_SIZE = { [KIND.person]: 200, [KIND.activity]: 200, [KIND.media]: 5 } as const;

/**
 * A received file to attach to its thread's Task: the stored media payload (storedMediaPayload),
 * of which only what the upload reads is required.
 */
export const mediaFilePayload = storedMediaPayloadSchema.omit({ contactId: true });
export type MediaFilePayload = z.infer<typeof mediaFilePayload>;

/** Largest file sent inline as base64 JSON (the REST body limit is 50 MB once encoded). */
export const MAX_INLINE_FILE_BYTES = 35 * 1024 * 1024;

/** A title per content: the same bytes get the same title, so a second upload can be found first. */
export function fileTitle(payload: Pick<MediaFilePayload, 'sha256'>): string {
  return `whatsapp-${payload.sha256.slice(0, 32)}`;
}

export function fileNameOnClient(payload: Pick<MediaFilePayload, 'sha256' | 'filename' | 'mimeType'>): string {
  if (payload.filename) return payload.filename;
  const extension = payload.mimeType.split(';')[0]!.split('/')[1]?.replace(/[^a-z0-9]/gi, '') || 'bin';
  return `${fileTitle(payload)}.${extension}`;
}

/** A person's identifiers (see core/model/identity.ts): `crmKey` is the external id, `phone` may be null. */
export type PersonPayload = ContactIdentityFields;

export const activityPayload = z.object({
  messageId: z.string(),
  contactId: z.string(),
  threadId: z.string(),
  arrivalSeq: z.number(),
  threadStartedAt: z.number(),
  profileName: z.string().nullable(),
});
export type ActivityPayload = z.infer<typeof activityPayload>;

/** One Task per thread holds its whole transcript: a thread's past is written one batch at a time. */
const TASK_PLACEMENT = { per: 'thread' } as const;

export function toOperationDrafts(change: ModelChange, options: { mediaFiles: boolean }): OperationDraft[] {
  if (change.type === 'media.stored') {
    if (!options.mediaFiles) return [];
    const payload = storedMediaPayload(change);
    const { key, orderingKey } = messagePlacement(change, TASK_PLACEMENT);
    return [{ kind: KIND.media, key, orderingKey, payload }];
  }
  if (change.type === 'contact.upserted') {
    const c = change.contact;
    const payload: PersonPayload = identityFields(c, change.previousWaId ?? null);
    return [{ kind: KIND.person, key: `${c.id}:${c.updatedAt}`, orderingKey: contactOrderingKey(c.id), payload }];
  }
  if (change.type === 'message.recorded') {
    const payload: ActivityPayload = {
      messageId: change.message.id,
      contactId: change.contact.id,
      threadId: change.thread.id,
      arrivalSeq: change.message.arrivalSeq,
      threadStartedAt: change.thread.startedAt,
      profileName: change.contact.profileName,
    };
    const { key, orderingKey } = messagePlacement(change, TASK_PLACEMENT);
    return [{ kind: KIND.activity, key, orderingKey, payload }];
  }
  // A failed send of ours (an agent's reply, an outbound API message) is explained on the person,
  // as HubSpot shows it on the communication and Zendesk in a ticket note.
  if (change.type === 'message.status' && change.status === 'failed' && change.contact && change.message?.direction === 'outbound') {
    const payload: FailedSendPayload = { contactId: change.contact.id, messageId: change.messageId, note: undeliveredNote('a message', change.message.text, change.errors), failedAt: change.at };
    return [{ kind: KIND.failedSend, key: change.messageId, orderingKey: contactOrderingKey(change.contact.id), payload }];
  }
  return [];
}

/** The Task explaining a failed send, keyed on the Task external-id field so a retry never writes it twice. */
export function failedSendTask(payload: FailedSendPayload, whoId: string, settings: Pick<SalesforceSettings, 'taskExternalIdField' | 'taskStatus' | 'taskPriority'>): Record<string, string> {
  return {
    [settings.taskExternalIdField]: `failed:${payload.messageId}`.slice(0, 255),
    WhoId: whoId,
    Subject: 'WhatsApp: message not delivered',
    Description: payload.note,
    ActivityDate: new Date(payload.failedAt).toISOString().slice(0, 10),
    Status: settings.taskStatus,
    Priority: settings.taskPriority,
  };
}

/** A SOQL string literal. */
export function soqlString(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

export const PHONE_FIELDS = ['Phone', 'MobilePhone'] as const;

/** SOQL travels URL-encoded in a GET query string: keep it well under the ~16 KB URL Salesforce accepts. */
const MAX_ENCODED_SOQL_CHARS = 8_000;

/** The fields read of a person: names, phones, our key and identifiers, and the note. */
export function personFields(settings: Pick<SalesforceSettings, 'externalIdField' | 'bsuidField' | 'usernameField'>): string {
  return `Id, FirstName, LastName, Phone, MobilePhone, Description, ${settings.externalIdField}, ${settings.bsuidField}, ${settings.usernameField}`;
}

/** Who a lookup is for: our key, and the number when WhatsApp shares it. */
export interface PersonLookup {
  readonly crmKey: string;
  readonly phone: E164 | null;
}

/**
 * Queries finding people by our external id or by phone in any common written form, each short
 * enough for one request. Returns the people each query covers.
 */
export function personQueries(people: readonly PersonLookup[], target: string, settings: Pick<SalesforceSettings, 'externalIdField' | 'bsuidField' | 'usernameField'>): Array<{ soql: string; keys: string[] }> {
  // Leads: whether each was converted, and into which Contact (a converted Lead refuses writes).
  const conversion = target === 'Lead' ? ', IsConverted, ConvertedContactId' : '';
  const select = `SELECT ${personFields(settings)}${conversion} FROM ${target} WHERE `;
  const build = (batch: readonly PersonLookup[]) => {
    const ids = batch.map((p) => soqlString(p.crmKey)).join(', ');
    const forms = [...new Set(batch.flatMap((p) => (p.phone ? writtenForms(p.phone) : [])))].map(soqlString).join(', ');
    const byPhone = forms === '' ? '' : ` OR ${PHONE_FIELDS.map((f) => `${f} IN (${forms})`).join(' OR ')}`;
    return `${select}${settings.externalIdField} IN (${ids})${byPhone}`;
  };
  const queries: Array<{ soql: string; keys: string[] }> = [];
  let current: PersonLookup[] = [];
  for (const person of people) {
    if (current.length > 0 && encodeURIComponent(build([...current, person])).length > MAX_ENCODED_SOQL_CHARS) {
      queries.push({ soql: build(current), keys: current.map((p) => p.crmKey) });
      current = [];
    }
    current.push(person);
  }
  if (current.length > 0) queries.push({ soql: build(current), keys: current.map((p) => p.crmKey) });
  return queries;
}

export interface PersonRecord {
  Id: string;
  FirstName?: string | null;
  LastName?: string | null;
  Phone?: string | null;
  MobilePhone?: string | null;
  [field: string]: unknown;
}

export type PersonMatch =
  | { readonly record: PersonRecord; readonly by: 'externalId' | 'phone' }
  /** The person was a Lead since converted: they live on as this Contact, and the Lead refuses writes. */
  | { readonly convertedContactId: string; readonly leadId: string; readonly by: 'convertedLead' };

/**
 * The record already holding our key, else one whose phone is this number. Converted Leads are
 * never matched for writing (Salesforce answers CANNOT_UPDATE_CONVERTED_LEAD to every write on
 * them): a live record wins, and failing that the Contact the Lead was converted into.
 * Conversion sets IsConverted and ConvertedContactId on the Lead:
 * https://developer.salesforce.com/docs/atlas.en-us.api.meta/object_ref/sforce_api_calls_convertlead.htm
 */
export function pickPerson(records: readonly PersonRecord[], person: PersonLookup, externalIdField: string): PersonMatch | undefined {
  const live = records.filter((r) => r['IsConverted'] !== true);
  const converted = records.filter((r) => r['IsConverted'] === true && typeof r['ConvertedContactId'] === 'string');
  const holdsKey = (r: PersonRecord) => r[externalIdField] === person.crmKey;
  const phone = person.phone;
  const samePhone = (r: PersonRecord) => phone !== null && !r[externalIdField] && PHONE_FIELDS.some((f) => typeof r[f] === 'string' && samePerson(r[f] as string, phone, phone));
  const toContact = (lead: PersonRecord): PersonMatch => ({ convertedContactId: lead['ConvertedContactId'] as string, leadId: lead.Id, by: 'convertedLead' });
  const byKey = live.find(holdsKey);
  if (byKey) return { record: byKey, by: 'externalId' };
  const convertedByKey = converted.find(holdsKey);
  if (convertedByKey) return toContact(convertedByKey);
  const byPhone = live.find(samePhone);
  if (byPhone) return { record: byPhone, by: 'phone' };
  const convertedByPhone = converted.find(samePhone);
  return convertedByPhone ? toContact(convertedByPhone) : undefined;
}

/** First and last name from the profile name; a person with none is named by their @username, else `unknownLastName`. */
export function nameParts(profileName: string | null, unknownLastName: string, username: string | null = null): { FirstName?: string; LastName: string } {
  const parts = (profileName ?? '').trim().split(/\s+/).filter(Boolean);
  if (parts.length === 0) return { LastName: username ? `@${username}` : unknownLastName };
  if (parts.length === 1) return { LastName: parts[0]! };
  return { FirstName: parts.slice(0, -1).join(' '), LastName: parts[parts.length - 1]! };
}

/** Fields the org requires on create that our mapping fills itself. */
export function mappedFields(settings: SalesforceSettings): string[] {
  return [settings.externalIdField, settings.bsuidField, settings.usernameField, 'Phone', 'FirstName', 'LastName', 'Description', ...(settings.target === 'Lead' ? ['Company'] : [])];
}

/** The identifiers as readable, searchable fields (ours: always current). */
function identityValues(payload: PersonPayload, settings: SalesforceSettings): Record<string, string | null> {
  return {
    [settings.externalIdField]: payload.crmKey,
    [settings.bsuidField]: payload.bsuid,
    [settings.usernameField]: payload.username ? `@${payload.username}` : null,
  };
}

/** A person we create: our key, the identifiers, the number (or a note that it is withheld), the name, the org's defaults. */
export function newPersonRecord(payload: PersonPayload, settings: SalesforceSettings): Record<string, string> {
  const identity = Object.fromEntries(Object.entries(identityValues(payload, settings)).filter((entry): entry is [string, string] => entry[1] !== null));
  return {
    ...(settings.target === 'Lead' ? { Company: 'WhatsApp' } : {}),
    ...settings.defaults,
    ...identity,
    ...(payload.phone ? { Phone: payload.phone } : { Description: NUMBER_WITHHELD_NOTE }),
    ...nameParts(payload.profileName, settings.unknownLastName, payload.username),
  };
}

/**
 * What to write on a person who already exists: our key and identifiers where they differ, the
 * phone where empty or still the previous number, our withheld-number note removed once the
 * number is known, a first name only where empty. Undefined when nothing.
 */
export function existingPersonUpdate(record: PersonRecord, payload: PersonPayload, settings: SalesforceSettings): Record<string, string | null> | undefined {
  const update: Record<string, string | null> = {};
  for (const [field, value] of Object.entries(identityValues(payload, settings))) {
    if ((record[field] ?? null) !== value) update[field] = value;
  }
  if (phoneFieldNeedsUpdate(record.Phone, payload, [record.MobilePhone])) update['Phone'] = payload.phone;
  if (payload.phone && record['Description'] === NUMBER_WITHHELD_NOTE) update['Description'] = null;
  if (!payload.phone && !record.Phone && !record['Description']) update['Description'] = NUMBER_WITHHELD_NOTE;
  const name = nameParts(payload.profileName, settings.unknownLastName);
  if (!record.FirstName && name.FirstName) update['FirstName'] = name.FirstName;
  return Object.keys(update).length > 0 ? { Id: record.Id, ...update } : undefined;
}

/** Task.Description holds at most 32,000 characters. */
export const DESCRIPTION_LIMIT = 32_000;

function stamp(ms: number): string {
  return new Date(ms).toISOString().slice(0, 16).replace('T', ' ');
}

/**
 * The conversation as plain text, in the order it was written, newest lines kept when it outgrows
 * the field. The Task is rewritten whole, so a late message takes its place by time; a reader who
 * saw the transcript before would miss it there, so it is marked (`late`: ids from lateArrivals).
 */
export function transcript(messages: readonly ThreadMessage[], limit = DESCRIPTION_LIMIT, late: ReadonlySet<string> = new Set()): string {
  const lines = messages.map((m) => `${stamp(m.sentAt)} UTC  ${m.direction === 'inbound' ? 'Customer' : 'Us'}${late.has(m.id) ? ` (${ARRIVED_LATE})` : ''}: ${m.text}`);
  let text = lines.join('\n');
  if (text.length <= limit) return text;
  const marker = '[earlier messages omitted]\n';
  while (lines.length > 1 && marker.length + lines.join('\n').length > limit) lines.shift();
  text = marker + lines.join('\n');
  return text.length > limit ? text.slice(text.length - limit) : text;
}

export function taskRecord(payload: ActivityPayload, messages: readonly ThreadMessage[], whoId: string, settings: SalesforceSettings, late: ReadonlySet<string> = new Set()): Record<string, string> {
  const who = payload.profileName ?? 'customer';
  return {
    [settings.taskExternalIdField]: payload.threadId,
    WhoId: whoId,
    Subject: `WhatsApp conversation with ${who}`.slice(0, 255),
    Description: transcript(messages, DESCRIPTION_LIMIT, late),
    ActivityDate: new Date(payload.threadStartedAt).toISOString().slice(0, 10),
    Status: settings.taskStatus,
    Priority: settings.taskPriority,
  };
}

/** Every field this configuration writes, per object: what the permission check looks at. */
export function writtenFields(settings: SalesforceSettings): Record<string, string[]> {
  return {
    [settings.target]: [...new Set([...mappedFields(settings), ...Object.keys(settings.defaults), settings.consentField, settings.consentChangedAtField, ...(settings.windowOpenUntilField ? [settings.windowOpenUntilField] : [])])],
    Task: [settings.taskExternalIdField, 'WhoId', 'Subject', 'Description', 'ActivityDate', 'Status', 'Priority'],
    ...(settings.mediaFiles ? { ContentVersion: ['Title', 'PathOnClient', 'VersionData', 'FirstPublishLocationId'] } : {}),
  };
}
