// Who a WhatsApp customer is, as Meta tells it since 2026: a phone number (which a user with a
// WhatsApp username may withhold), a business-scoped user id (BSUID), a parent BSUID shared by
// linked business portfolios, and a username. Pure: recognising, masking and describing them.
// https://developers.facebook.com/documentation/business-messaging/whatsapp/business-scoped-user-ids/
import { z } from 'zod';
import { maskPhone, samePerson, type E164 } from './phone.js';
import type { Contact, CustomerIdentity } from './types.js';

export type { CustomerIdentity } from './types.js';

/**
 * A BSUID: an ISO 3166 alpha-2 country code, a dot, up to 128 letters and digits
 * (`US.13491208655302741918`); a parent BSUID has `ENT.` after the country (`US.ENT.1181…`).
 */
const BSUID = /^[A-Z]{2}\.(?:ENT\.)?[A-Za-z0-9]{1,128}$/;

export function isBsuid(value: string): boolean {
  return BSUID.test(value);
}

/** `@jane.doe` → `@j******e`: enough to tell usernames apart in logs, not to look the person up. */
export function maskUsername(value: string): string {
  const name = value.replace(/^@/, '');
  if (name.length <= 2) return '@**';
  return `@${name[0]}${'*'.repeat(name.length - 2)}${name[name.length - 1]}`;
}

/** `US.13491208655302741918` → `US.13***************18`: the country stays, the id does not. */
export function maskBsuid(value: string): string {
  const dot = value.lastIndexOf('.');
  const prefix = value.slice(0, dot + 1);
  const id = value.slice(dot + 1);
  if (id.length < 5) return `${prefix}***`;
  return `${prefix}${id.slice(0, 2)}${'*'.repeat(id.length - 4)}${id.slice(-2)}`;
}

/** Masks any customer identifier for logs: a BSUID, a username (`@…`), else a phone number. */
export function maskIdentifier(value: string): string {
  if (isBsuid(value)) return maskBsuid(value);
  if (value.startsWith('@')) return maskUsername(value);
  return maskPhone(value);
}

/** The fields of a contact the CRMs are told about: every identifier current, and the stable key. */
export interface ContactIdentityFields {
  [key: string]: string | null;
  readonly contactId: string;
  /** Our stable upsert key in every CRM: set once when the contact is created, never changed. */
  readonly crmKey: string;
  /** The current phone number in E.164 (with `+`), or null when WhatsApp withholds it. */
  readonly phone: E164 | null;
  readonly bsuid: string | null;
  readonly parentBsuid: string | null;
  readonly username: string | null;
  readonly profileName: string | null;
  /** The number before the latest number change: a CRM phone field still holding it is updated. */
  readonly previousPhone: E164 | null;
}

/** How a person reads in a CRM: the profile name, the @username beside it, else the number. */
export function displayName(contact: Pick<ContactIdentityFields, 'profileName' | 'username' | 'phone'>, fallback = 'WhatsApp customer'): string {
  const handle = contact.username ? `@${contact.username}` : null;
  if (contact.profileName && handle) return `${contact.profileName} (${handle})`;
  return contact.profileName ?? handle ?? contact.phone ?? fallback;
}

/** Said on every CRM record of a person whose number WhatsApp does not share. */
export const NUMBER_WITHHELD_NOTE =
  'WhatsApp withholds this customer\'s phone number (they use a WhatsApp username). Reply in the WhatsApp conversation to reach them: messages go to their business-scoped user id (BSUID). Some messages, such as one-tap authentication templates, cannot be sent to a BSUID.';

/** A line for CRM notes naming the identifiers WhatsApp gave, for people searching or reading the record. */
export function identitySummary(contact: Pick<ContactIdentityFields, 'phone' | 'bsuid' | 'username'>): string {
  const parts = [
    contact.phone ? `phone ${contact.phone}` : 'phone withheld by WhatsApp',
    ...(contact.username ? [`username @${contact.username}`] : []),
    ...(contact.bsuid ? [`BSUID ${contact.bsuid}`] : []),
  ];
  return `WhatsApp: ${parts.join(', ')}`;
}

/** The identity fields of a contact, as every CRM connector's payload carries them. */
export function identityFields(contact: Pick<Contact, 'id' | 'crmKey' | 'waId' | 'bsuid' | 'parentBsuid' | 'username' | 'profileName'>, previousPhone: E164 | null = null): ContactIdentityFields {
  return {
    contactId: contact.id,
    crmKey: contact.crmKey,
    phone: contact.waId,
    bsuid: contact.bsuid,
    parentBsuid: contact.parentBsuid,
    username: contact.username,
    profileName: contact.profileName,
    previousPhone,
  };
}

/**
 * Whether a CRM phone field should get the person's current number: when it is empty, or still
 * holds their previous WhatsApp number. A number someone typed in by hand is left alone.
 */
export function phoneFieldNeedsUpdate(
  current: string | null | undefined,
  fields: Pick<ContactIdentityFields, 'phone' | 'previousPhone'>,
  /** Other phone fields of the record (a mobile phone): the number written there already counts. */
  others: ReadonlyArray<string | null | undefined> = [],
): boolean {
  const phone = fields.phone;
  if (!phone) return false;
  // The same number written another way (a person typed it) stays as written.
  if ([current, ...others].some((value) => value && value.trim() !== '' && samePerson(value, phone, phone))) return false;
  if (!current || current.trim() === '') return true;
  return fields.previousPhone !== null && samePerson(current, fields.previousPhone, fields.previousPhone);
}

const e164 = z.templateLiteral(['+', z.string()]);
/** An identifier a payload may lack when an older version queued it: absent reads as null (not known). */
const knownOrNull = <T extends z.ZodType<string>>(schema: T) => schema.nullish().transform((value) => value ?? null);

/**
 * The schema of a contact operation's payload (see contactPayloadOf): the identity fields as
 * this release writes them, or an older operation's `{ contactId, waId, profileName }` read as
 * contactPayloadOf reads it. Extra fields are dropped, never refused.
 */
export const contactIdentityPayloadSchema: z.ZodType<ContactIdentityFields> = z.union([
  z.object({
    contactId: z.string(),
    crmKey: z.string(),
    phone: knownOrNull(e164),
    bsuid: knownOrNull(z.string()),
    parentBsuid: knownOrNull(z.string()),
    username: knownOrNull(z.string()),
    profileName: knownOrNull(z.string()),
    previousPhone: knownOrNull(e164),
  }),
  // Without a crmKey only: a current payload with a field wrong is refused, never read as an old one (whose key is its number).
  z.object({ contactId: z.string(), crmKey: z.null().optional(), waId: e164.nullish(), profileName: z.string().nullish() }).transform((legacy) => contactPayloadOf(legacy)),
]);

/**
 * A contact operation's payload as this release reads it. Operations queued before BSUIDs carry
 * `{ contactId, waId, profileName }`: their contact's CRM key is that WhatsApp id (migration 0013
 * gives old contacts exactly that key), so they carry on where they were.
 */
export function contactPayloadOf(stored: unknown): ContactIdentityFields {
  const payload = (stored ?? {}) as Record<string, unknown>;
  if (typeof payload['crmKey'] === 'string') return payload as ContactIdentityFields;
  const waId = typeof payload['waId'] === 'string' ? (payload['waId'] as E164) : null;
  return {
    contactId: String(payload['contactId']),
    crmKey: waId ?? String(payload['contactId']),
    phone: waId,
    bsuid: null,
    parentBsuid: null,
    username: null,
    profileName: typeof payload['profileName'] === 'string' ? payload['profileName'] : null,
    previousPhone: null,
  };
}

