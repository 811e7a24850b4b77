// Pure mapping between our model and Salesforce records and SOQL: no I/O.
import type { ThreadMessage } from '../../core/connector.js';
import { samePerson, writtenForms, type E164 } from '../../core/model/phone.js';
import { storedMediaPayload, type ModelChange, type StoredMediaPayload } from '../../core/model/types.js';
import type { OperationDraft } from '../../core/outbox/queries.js';
import type { SalesforceSettings } from './settings.js';

export const KIND = { person: 'person.upsert', activity: 'thread.log', media: 'media.file' } as const;

export type MediaFilePayload = StoredMediaPayload;

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

export interface PersonPayload {
  readonly contactId: string;
  readonly waId: E164;
  readonly profileName: string | null;
  [key: string]: string | null;
}

export interface ActivityPayload {
  readonly messageId: string;
  readonly contactId: string;
  readonly threadId: string;
  readonly arrivalSeq: number;
  readonly threadStartedAt: number;
  readonly profileName: string | null;
  [key: string]: string | number | null;
}

export function toOperationDrafts(change: ModelChange, options: { mediaFiles: boolean }): OperationDraft[] {
  if (change.type === 'media.stored') {
    if (!options.mediaFiles) return [];
    const payload = storedMediaPayload(change);
    return [{ kind: KIND.media, key: change.message.id, orderingKey: `contact:${change.contact.id}`, payload }];
  }
  if (change.type === 'contact.upserted') {
    const c = change.contact;
    const payload: PersonPayload = { contactId: c.id, waId: c.waId, profileName: c.profileName };
    return [{ kind: KIND.person, key: `${c.id}:${c.updatedAt}`, orderingKey: `contact:${c.id}`, payload }];
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
    return [{ kind: KIND.activity, key: change.message.id, orderingKey: `contact:${change.contact.id}`, payload }];
  }
  return [];
}

/** A SOQL string literal. */
export function soqlString(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

export const PHONE_FIELDS = ['Phone', 'MobilePhone'] as const;

/** SOQL travels URL-encoded in a GET query string: keep it well under the ~16 KB URL Salesforce accepts. */
const MAX_ENCODED_SOQL_CHARS = 8_000;

/**
 * Queries finding people by our external id or by phone in any common written form, each short
 * enough for one request. Returns the numbers each query covers.
 */
export function personQueries(waIds: readonly E164[], target: string, externalIdField: string): Array<{ soql: string; waIds: E164[] }> {
  // Leads: whether each was converted, and into which Contact (a converted Lead refuses writes).
  const conversion = target === 'Lead' ? ', IsConverted, ConvertedContactId' : '';
  const select = `SELECT Id, FirstName, LastName, Phone, MobilePhone, ${externalIdField}${conversion} FROM ${target} WHERE `;
  const build = (numbers: readonly E164[]) => {
    const ids = numbers.map(soqlString).join(', ');
    const forms = [...new Set(numbers.flatMap((n) => writtenForms(n)))].map(soqlString).join(', ');
    return `${select}${externalIdField} IN (${ids}) OR ${PHONE_FIELDS.map((f) => `${f} IN (${forms})`).join(' OR ')}`;
  };
  const queries: Array<{ soql: string; waIds: E164[] }> = [];
  let current: E164[] = [];
  for (const waId of waIds) {
    if (current.length > 0 && encodeURIComponent(build([...current, waId])).length > MAX_ENCODED_SOQL_CHARS) {
      queries.push({ soql: build(current), waIds: current });
      current = [];
    }
    current.push(waId);
  }
  if (current.length > 0) queries.push({ soql: build(current), waIds: current });
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
 * The record already holding this WhatsApp id, else one whose phone is this number. Converted
 * Leads are never matched for writing (Salesforce answers CANNOT_UPDATE_CONVERTED_LEAD to every
 * write on them): a live record wins, and failing that the Contact the Lead was converted into.
 * Conversion sets IsConverted and ConvertedContactId on the Lead:
 * https://developer.salesforce.com/docs/atlas.en-us.api.meta/object_ref/sforce_api_calls_convertlead.htm
 */
export function pickPerson(records: readonly PersonRecord[], waId: E164, externalIdField: string): PersonMatch | undefined {
  const live = records.filter((r) => r['IsConverted'] !== true);
  const holdsId = (r: PersonRecord) => r[externalIdField] === waId;
  const samePhone = (r: PersonRecord) => !r[externalIdField] && PHONE_FIELDS.some((f) => typeof r[f] === 'string' && samePerson(r[f] as string, waId, waId));
  const byId = live.find(holdsId);
  if (byId) return { record: byId, by: 'externalId' };
  const converted = records.filter((r) => r['IsConverted'] === true && typeof r['ConvertedContactId'] === 'string');
  const convertedById = converted.find(holdsId);
  if (convertedById) return { convertedContactId: convertedById['ConvertedContactId'] as string, leadId: convertedById.Id, by: 'convertedLead' };
  const byPhone = live.find(samePhone);
  if (byPhone) return { record: byPhone, by: 'phone' };
  const convertedByPhone = converted.find(samePhone);
  return convertedByPhone ? { convertedContactId: convertedByPhone['ConvertedContactId'] as string, leadId: convertedByPhone.Id, by: 'convertedLead' } : undefined;
}

export function nameParts(profileName: string | null, unknownLastName: string): { FirstName?: string; LastName: string } {
  const parts = (profileName ?? '').trim().split(/\s+/).filter(Boolean);
  if (parts.length === 0) return { LastName: unknownLastName };
  if (parts.length === 1) return { LastName: parts[0]! };
  return { FirstName: parts.slice(0, -1).join(' '), LastName: parts[parts.length - 1]! };
}

/** Fields the org requires on create that our mapping fills itself. */
export function mappedFields(settings: SalesforceSettings): string[] {
  return [settings.externalIdField, 'Phone', 'FirstName', 'LastName', ...(settings.target === 'Lead' ? ['Company'] : [])];
}

/** A person we create: our id, the number, the profile name, and the org's required defaults. */
export function newPersonRecord(payload: PersonPayload, settings: SalesforceSettings): Record<string, string> {
  return {
    ...(settings.target === 'Lead' ? { Company: 'WhatsApp' } : {}),
    ...settings.defaults,
    [settings.externalIdField]: payload.waId,
    Phone: payload.waId,
    ...nameParts(payload.profileName, settings.unknownLastName),
  };
}

/** What to write on a person who already exists: our id if missing; a first name only where empty. Undefined when nothing. */
export function existingPersonUpdate(record: PersonRecord, payload: PersonPayload, settings: SalesforceSettings): Record<string, string> | undefined {
  const update: Record<string, string> = {};
  if (record[settings.externalIdField] !== payload.waId) update[settings.externalIdField] = payload.waId;
  const name = nameParts(payload.profileName, settings.unknownLastName);
  if (!record.FirstName && name.FirstName) update['FirstName'] = name.FirstName;
  return Object.keys(update).length > 0 ? { Id: record.Id, ...update } : undefined;
}

/** Task.Description holds at most 32,000 characters. */
export const DESCRIPTION_LIMIT = 32_000;

function stamp(ms: number): string {
  return new Date(ms).toISOString().slice(0, 16).replace('T', ' ');
}

/** The conversation as plain text, newest lines kept when it outgrows the field. */
export function transcript(messages: readonly ThreadMessage[], limit = DESCRIPTION_LIMIT): string {
  const lines = messages.map((m) => `${stamp(m.sentAt)} UTC  ${m.direction === 'inbound' ? 'Customer' : 'Us'}: ${m.text}`);
  let text = lines.join('\n');
  if (text.length <= limit) return text;
  const marker = '[earlier messages omitted]\n';
  while (lines.length > 1 && marker.length + lines.join('\n').length > limit) lines.shift();
  text = marker + lines.join('\n');
  return text.length > limit ? text.slice(text.length - limit) : text;
}

export function taskRecord(payload: ActivityPayload, messages: readonly ThreadMessage[], whoId: string, settings: SalesforceSettings): Record<string, string> {
  const who = payload.profileName ?? 'customer';
  return {
    [settings.taskExternalIdField]: payload.threadId,
    WhoId: whoId,
    Subject: `WhatsApp conversation with ${who}`.slice(0, 255),
    Description: transcript(messages),
    ActivityDate: new Date(payload.threadStartedAt).toISOString().slice(0, 10),
    Status: settings.taskStatus,
    Priority: settings.taskPriority,
  };
}

/** Every field this configuration writes, per object: what the permission check looks at. */
export function writtenFields(settings: SalesforceSettings): Record<string, string[]> {
  return {
    [settings.target]: [...new Set([...mappedFields(settings), ...Object.keys(settings.defaults)])],
    Task: [settings.taskExternalIdField, 'WhoId', 'Subject', 'Description', 'ActivityDate', 'Status', 'Priority'],
    ...(settings.mediaFiles ? { ContentVersion: ['Title', 'PathOnClient', 'VersionData', 'FirstPublishLocationId'] } : {}),
  };
}
