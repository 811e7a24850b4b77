// Reads and writes of the domain model (contacts, identities, threads, messages, statuses, media).
import { randomUUID } from 'node:crypto';
import type { Db } from '../store/store.js';
import type { ContactRow, MessageRow, ThreadRow } from '../store/schema.js';
import { numberVariants, toE164, type E164 } from './phone.js';
import type { Contact, DeliveryStatus, MediaReference, Message, MessageDirection, MessageType, Thread, VendorErrorDetail } from './types.js';

export function toContact(row: ContactRow): Contact {
  return {
    id: row.id,
    waId: row.wa_id as E164,
    userId: row.user_id,
    profileName: row.profile_name,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export function toThread(row: ThreadRow): Thread {
  return {
    id: row.id,
    contactId: row.contact_id,
    businessNumberId: row.business_number_id,
    startedAt: row.started_at,
    lastMessageAt: row.last_message_at,
  };
}

export function toMessage(row: MessageRow): Message {
  return {
    id: row.id,
    threadId: row.thread_id,
    contactId: row.contact_id,
    direction: row.direction as MessageDirection,
    type: row.type as MessageType,
    originalType: row.original_type,
    text: row.text,
    media: row.media === null ? null : (JSON.parse(row.media) as MediaReference),
    sentAt: row.sent_at,
    arrivalSeq: row.arrival_seq,
    status: row.status as DeliveryStatus | null,
    replyToId: row.reply_to_id,
    origin: row.origin,
    warnings: row.warnings === null ? [] : (JSON.parse(row.warnings) as string[]),
  };
}

function identitiesOf(waId: E164, userId: string | null): string[] {
  const identities = numberVariants(waId).map((v) => `wa:${v}`);
  if (userId) identities.push(`user:${userId}`);
  return identities;
}

export interface ContactResolution {
  readonly contact: Contact;
  readonly created: boolean;
  readonly changed: boolean;
}

/**
 * Finds the contact behind a WhatsApp id (any of its number variants) or Meta user id,
 * creating it when new, and records identities not seen before.
 */
export async function resolveContact(
  db: Db,
  input: { waId: string; userId: string | null; profileName: string | null; now: number },
): Promise<ContactResolution | undefined> {
  const waId = toE164(input.waId);
  if (!waId) return undefined;
  const identities = identitiesOf(waId, input.userId);
  const known = await db.selectFrom('contact_identities').select(['identity', 'contact_id']).where('identity', 'in', identities).execute();
  const knownSet = new Set(known.map((k) => k.identity));

  if (known.length === 0) {
    const row: ContactRow = {
      id: randomUUID(),
      wa_id: waId,
      user_id: input.userId,
      profile_name: input.profileName,
      created_at: input.now,
      updated_at: input.now,
    };
    await db.insertInto('contacts').values(row).execute();
    await db.insertInto('contact_identities').values(identities.map((identity) => ({ identity, contact_id: row.id }))).execute();
    return { contact: toContact(row), created: true, changed: true };
  }

  // A Meta user id outranks a number match: numbers get reassigned, user ids do not.
  const byUser = known.find((k) => k.identity.startsWith('user:'));
  const contactId = (byUser ?? known[0]!).contact_id;
  const missing = identities.filter((i) => !knownSet.has(i));
  if (missing.length > 0) {
    await db
      .insertInto('contact_identities')
      .values(missing.map((identity) => ({ identity, contact_id: contactId })))
      .onConflict((oc) => oc.column('identity').doNothing())
      .execute();
  }
  const row = await db.selectFrom('contacts').selectAll().where('id', '=', contactId).executeTakeFirstOrThrow();
  const profileName = input.profileName ?? row.profile_name;
  const userId = row.user_id ?? input.userId;
  if (profileName !== row.profile_name || userId !== row.user_id) {
    const updated = { ...row, profile_name: profileName, user_id: userId, updated_at: input.now };
    await db.updateTable('contacts').set({ profile_name: profileName, user_id: userId, updated_at: input.now }).where('id', '=', contactId).execute();
    return { contact: toContact(updated), created: false, changed: true };
  }
  return { contact: toContact(row), created: false, changed: false };
}

/** Moves a contact to a new WhatsApp number (a `user_changed_number` system message). */
export async function changeContactNumber(db: Db, contact: Contact, newWaId: string, now: number): Promise<Contact | undefined> {
  const waId = toE164(newWaId);
  if (!waId || waId === contact.waId) return undefined;
  const clash = await db.selectFrom('contacts').select('id').where('wa_id', '=', waId).executeTakeFirst();
  if (clash && clash.id !== contact.id) return undefined;
  await db
    .insertInto('contact_identities')
    .values(identitiesOf(waId, null).map((identity) => ({ identity, contact_id: contact.id })))
    .onConflict((oc) => oc.column('identity').doNothing())
    .execute();
  await db.updateTable('contacts').set({ wa_id: waId, updated_at: now }).where('id', '=', contact.id).execute();
  return { ...contact, waId, updatedAt: now };
}

export async function messageExists(db: Db, messageId: string): Promise<boolean> {
  return (await db.selectFrom('messages').select('id').where('id', '=', messageId).executeTakeFirst()) !== undefined;
}

/**
 * The thread a message at `sentAt` belongs to: the latest thread of this contact and business
 * number unless the message comes more than `gapMs` after its last message. A late arrival
 * (older than the latest message) joins the thread that was open at its time.
 */
export async function threadFor(
  db: Db,
  input: { contactId: string; businessNumberId: string; sentAt: number; gapMs: number },
): Promise<{ thread: Thread; created: boolean }> {
  const { contactId, businessNumberId, sentAt, gapMs } = input;
  const base = db.selectFrom('threads').selectAll().where('contact_id', '=', contactId).where('business_number_id', '=', businessNumberId);
  const latest = await base.orderBy('last_message_at', 'desc').limit(1).executeTakeFirst();
  let target: ThreadRow | undefined;
  if (latest && sentAt >= latest.last_message_at) {
    target = sentAt - latest.last_message_at <= gapMs ? latest : undefined;
  } else if (latest) {
    target =
      (await base.where('started_at', '<=', sentAt).orderBy('started_at', 'desc').limit(1).executeTakeFirst()) ??
      (await base.orderBy('started_at', 'asc').limit(1).executeTakeFirst());
    if (target && target.started_at - sentAt > gapMs) target = undefined;
  }
  if (target) {
    const started = Math.min(target.started_at, sentAt);
    const last = Math.max(target.last_message_at, sentAt);
    if (started !== target.started_at || last !== target.last_message_at) {
      await db.updateTable('threads').set({ started_at: started, last_message_at: last }).where('id', '=', target.id).execute();
    }
    return { thread: toThread({ ...target, started_at: started, last_message_at: last }), created: false };
  }
  const row: ThreadRow = { id: randomUUID(), contact_id: contactId, business_number_id: businessNumberId, started_at: sentAt, last_message_at: sentAt };
  await db.insertInto('threads').values(row).execute();
  return { thread: toThread(row), created: true };
}

export async function insertMessage(
  db: Db,
  message: Message & { errors: readonly VendorErrorDetail[]; raw: unknown },
  now: number,
): Promise<boolean> {
  const result = await db
    .insertInto('messages')
    .values({
      id: message.id,
      thread_id: message.threadId,
      contact_id: message.contactId,
      direction: message.direction,
      type: message.type,
      original_type: message.originalType,
      text: message.text,
      media: message.media === null ? null : JSON.stringify(message.media),
      sent_at: message.sentAt,
      arrival_seq: message.arrivalSeq,
      status: message.status,
      status_at: null,
      reply_to_id: message.replyToId,
      errors: message.errors.length > 0 ? JSON.stringify(message.errors) : null,
      raw: JSON.stringify(message.raw),
      created_at: now,
      origin: message.origin,
      warnings: message.warnings.length > 0 ? JSON.stringify(message.warnings) : null,
    })
    .onConflict((oc) => oc.column('id').doNothing())
    .executeTakeFirst();
  return Number(result.numInsertedOrUpdatedRows ?? 0n) > 0;
}

const STATUS_RANK: Record<DeliveryStatus, number> = { warning: 0, sent: 1, delivered: 2, read: 3, failed: 4, deleted: 5 };

/**
 * Records a status report once (redeliveries change nothing) and moves the message's status
 * forward only: reports arrive out of order, and `read` may come with no `delivered` before it.
 */
export async function recordStatus(
  db: Db,
  input: { messageId: string; status: DeliveryStatus; at: number; recipient: string; errors: readonly VendorErrorDetail[]; now: number },
): Promise<{ isNew: boolean; message: Message | null }> {
  const row = await db.selectFrom('messages').selectAll().where('id', '=', input.messageId).executeTakeFirst();
  const inserted = await db
    .insertInto('message_statuses')
    .values({
      message_id: input.messageId,
      status: input.status,
      at: input.at,
      recipient: input.recipient,
      known_message: row ? 1 : 0,
      errors: input.errors.length > 0 ? JSON.stringify(input.errors) : null,
      received_at: input.now,
    })
    .onConflict((oc) => oc.columns(['message_id', 'status']).doNothing())
    .executeTakeFirst();
  const isNew = Number(inserted.numInsertedOrUpdatedRows ?? 0n) > 0;
  if (!row) return { isNew, message: null };
  const current = row.status as DeliveryStatus | null;
  if (isNew && (current === null || STATUS_RANK[input.status] > STATUS_RANK[current])) {
    await db.updateTable('messages').set({ status: input.status, status_at: input.at }).where('id', '=', row.id).execute();
    return { isNew, message: toMessage({ ...row, status: input.status, status_at: input.at }) };
  }
  return { isNew, message: toMessage(row) };
}

export async function loadContact(db: Db, id: string): Promise<Contact | undefined> {
  const row = await db.selectFrom('contacts').selectAll().where('id', '=', id).executeTakeFirst();
  return row ? toContact(row) : undefined;
}

/**
 * The next arrival sequence: one counter for every message stored, so "arrived after" holds
 * across deliveries, replays of flagged deliveries and replies we sent. Callers hold the
 * `process-deliveries` lock, which serialises everyone who stores messages.
 */
export async function nextArrivalSeq(db: Db): Promise<number> {
  const row = await db.selectFrom('messages').select((eb) => eb.fn.max('arrival_seq').as('last')).executeTakeFirst();
  return (row?.last === null || row?.last === undefined ? 0 : Number(row.last)) + 1;
}

export async function loadThread(db: Db, id: string): Promise<Thread | undefined> {
  const row = await db.selectFrom('threads').selectAll().where('id', '=', id).executeTakeFirst();
  return row ? toThread(row) : undefined;
}

/** Keeps a thread's last-message time current when we add a message to it (a reply we sent). */
export async function touchThread(db: Db, threadId: string, at: number): Promise<void> {
  await db.updateTable('threads').set({ last_message_at: at }).where('id', '=', threadId).where('last_message_at', '<', at).execute();
}

export async function loadMessage(db: Db, id: string): Promise<Message | undefined> {
  const row = await db.selectFrom('messages').selectAll().where('id', '=', id).executeTakeFirst();
  return row ? toMessage(row) : undefined;
}

/** What a purged message's text becomes. */
export const PURGED_TEXT = '[message text removed by the retention policy]';

/**
 * Removes message texts sent before `cutoff`, and the bodies of the processed webhook deliveries
 * received before it (they hold the same texts). Contacts, threads and the record that a message
 * existed stay. Returns how many of each were purged.
 */
export async function purgeMessageBodies(db: Db, cutoff: number): Promise<{ messages: number; deliveries: number }> {
  const messages = await db.updateTable('messages').set({ text: PURGED_TEXT, raw: 'null' }).where('sent_at', '<', cutoff).where('text', '!=', PURGED_TEXT).executeTakeFirst();
  const deliveries = await db
    .updateTable('webhook_deliveries')
    .set({ body: '{"purged":true}' })
    .where('received_at', '<', cutoff)
    .where('state', '=', 'processed')
    .where('body', '!=', '{"purged":true}')
    .executeTakeFirst();
  return { messages: Number(messages.numUpdatedRows), deliveries: Number(deliveries.numUpdatedRows) };
}
