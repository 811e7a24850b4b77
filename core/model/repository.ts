// Reads and writes of the domain model (contacts, identities, threads, messages, statuses, media).
import { randomUUID } from 'node:crypto';
import type { Db } from '../store/store.js';
import type { ContactRow, MessageRow, ThreadRow } from '../store/schema.js';
import { numberVariants, toE164, type E164 } from './phone.js';
import type { CustomerIdentity } from './identity.js';
import type { Contact, DeliveryStatus, MediaReference, Message, MessageDirection, MessageType, Thread, VendorErrorDetail } from './types.js';

export function toContact(row: ContactRow): Contact {
  return {
    id: row.id,
    crmKey: row.crm_key,
    waId: row.wa_id as E164 | null,
    bsuid: row.bsuid,
    parentBsuid: row.parent_bsuid,
    username: row.username,
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
    ...(row.history ? { history: true } : {}),
  };
}

/** The identity rows of each identifier, strongest first: BSUID, parent BSUID, the number's variants. */
function identitiesOf(identity: { waId: E164 | null; bsuid: string | null; parentBsuid: string | null }): string[] {
  const identities: string[] = [];
  if (identity.bsuid) identities.push(`bsuid:${identity.bsuid}`);
  if (identity.parentBsuid) identities.push(`parent:${identity.parentBsuid}`);
  if (identity.waId) identities.push(...numberVariants(identity.waId).map((v) => `wa:${v}`));
  return identities;
}

/** Which identifier found a contact, for choosing between two: numbers get reassigned, BSUIDs do not. */
function rank(identity: string): number {
  if (identity.startsWith('bsuid:')) return 0;
  if (identity.startsWith('parent:')) return 1;
  if (identity.startsWith('wa:')) return 2;
  return 3;
}

export interface ContactResolution {
  readonly contact: Contact;
  readonly created: boolean;
  readonly changed: boolean;
  /** Identifiers that were another contact's and now are this one's (the two were one person). */
  readonly relinkedFrom: readonly string[];
}

/** A CRM key nobody holds: the natural one (BSUID, else number) unless an earlier contact has it. */
async function freshCrmKey(db: Db, natural: string, id: string): Promise<string> {
  const taken = await db.selectFrom('contacts').select('id').where('crm_key', '=', natural).executeTakeFirst();
  return taken ? `wacs:${id}` : natural;
}

/**
 * Finds the person behind the identifiers of one webhook (BSUID first, then parent BSUID, then
 * the number in any of its variants), creating them when new: a BSUID alone is enough. Links
 * every identifier seen together to that person, and keeps the current number, BSUID, username
 * and profile name. Undefined when the webhook names nobody (no number, no BSUID).
 */
export async function resolveContact(
  db: Db,
  input: {
    customer: CustomerIdentity;
    profileName: string | null;
    now: number;
    /** A name kept only while the contact has none (e.g. from the business's own address book). */
    profileNameIfEmpty?: string | null;
  },
): Promise<ContactResolution | undefined> {
  const waId = input.customer.waId === null ? null : (toE164(input.customer.waId) ?? null);
  const { bsuid, parentBsuid, username } = input.customer;
  if (!waId && !bsuid && !parentBsuid) return undefined;
  const identities = identitiesOf({ waId, bsuid, parentBsuid });
  const known = await db.selectFrom('contact_identities').select(['identity', 'contact_id']).where('identity', 'in', identities).execute();

  if (known.length === 0) {
    const id = randomUUID();
    const row: ContactRow = {
      id,
      crm_key: await freshCrmKey(db, bsuid ?? waId ?? parentBsuid!, id),
      wa_id: waId,
      bsuid,
      parent_bsuid: parentBsuid,
      username,
      user_id: null,
      profile_name: input.profileName ?? input.profileNameIfEmpty ?? null,
      created_at: input.now,
      updated_at: input.now,
    };
    await db.insertInto('contacts').values(row).execute();
    await db.insertInto('contact_identities').values(identities.map((identity) => ({ identity, contact_id: id }))).execute();
    return { contact: toContact(row), created: true, changed: true, relinkedFrom: [] };
  }

  const best = [...known].sort((a, b) => rank(a.identity) - rank(b.identity))[0]!;
  const contactId = best.contact_id;
  const knownSet = new Set(known.filter((k) => k.contact_id === contactId).map((k) => k.identity));
  // Seen together with this person's BSUID, a number (or parent BSUID) held by another contact is
  // this person's now: move it, so the next webhook with only that number finds the right one.
  const elsewhere = known.filter((k) => k.contact_id !== contactId && rank(k.identity) > rank(best.identity));
  if (elsewhere.length > 0) {
    await db.updateTable('contact_identities').set({ contact_id: contactId }).where('identity', 'in', elsewhere.map((k) => k.identity)).execute();
    for (const k of elsewhere) knownSet.add(k.identity);
  }
  const missing = identities.filter((i) => !knownSet.has(i) && !known.some((k) => k.identity === i));
  if (missing.length > 0) {
    await db
      .insertInto('contact_identities')
      .values(missing.map((identity) => ({ identity, contact_id: contactId })))
      .onConflict((oc) => oc.column('identity').doNothing())
      .execute();
  }
  const row = await db.selectFrom('contacts').selectAll().where('id', '=', contactId).executeTakeFirstOrThrow();
  const next = {
    wa_id: waId ?? row.wa_id,
    bsuid: bsuid ?? row.bsuid,
    parent_bsuid: parentBsuid ?? row.parent_bsuid,
    username: username ?? row.username,
    profile_name: input.profileName ?? row.profile_name ?? input.profileNameIfEmpty ?? null,
  };
  const relinkedFrom = [...new Set(elsewhere.map((k) => k.contact_id))];
  if ((Object.keys(next) as Array<keyof typeof next>).some((k) => next[k] !== row[k])) {
    await db.updateTable('contacts').set({ ...next, updated_at: input.now }).where('id', '=', contactId).execute();
    return { contact: toContact({ ...row, ...next, updated_at: input.now }), created: false, changed: true, relinkedFrom };
  }
  return { contact: toContact(row), created: false, changed: false, relinkedFrom };
}

/**
 * Links identifiers seen outside a message (e.g. `user_preferences`) to the person they name.
 * Creates nobody: a preference change alone is no conversation. Undefined when nobody is known.
 */
export async function linkKnownContact(db: Db, input: { customer: CustomerIdentity; profileName: string | null; now: number }): Promise<ContactResolution | undefined> {
  const waId = input.customer.waId === null ? null : (toE164(input.customer.waId) ?? null);
  const identities = identitiesOf({ waId, bsuid: input.customer.bsuid, parentBsuid: input.customer.parentBsuid });
  if (identities.length === 0) return undefined;
  const known = await db.selectFrom('contact_identities').select('identity').where('identity', 'in', identities).executeTakeFirst();
  return known ? resolveContact(db, input) : undefined;
}

/** The contact these identifiers name, strongest identifier first; creates nobody (a question, not a sighting). */
export async function findContact(db: Db, customer: { waId: string | null; bsuid: string | null; parentBsuid: string | null }): Promise<Contact | undefined> {
  const waId = customer.waId === null ? null : (toE164(customer.waId) ?? null);
  const identities = identitiesOf({ waId, bsuid: customer.bsuid, parentBsuid: customer.parentBsuid });
  if (identities.length === 0) return undefined;
  const rows = await db.selectFrom('contact_identities').select(['identity', 'contact_id']).where('identity', 'in', identities).execute();
  const best = rows.sort((a, b) => rank(a.identity) - rank(b.identity))[0];
  return best ? loadContact(db, best.contact_id) : undefined;
}

/** Moves a contact to a new WhatsApp number (a `user_changed_number` system message). */
export async function changeContactNumber(db: Db, contact: Contact, newWaId: string, now: number): Promise<Contact | undefined> {
  const waId = toE164(newWaId);
  if (!waId || waId === contact.waId) return undefined;
  // The new number is this person's from now on, whoever held it before.
  for (const identity of identitiesOf({ waId, bsuid: null, parentBsuid: null })) {
    await db
      .insertInto('contact_identities')
      .values({ identity, contact_id: contact.id })
      .onConflict((oc) => oc.column('identity').doUpdateSet({ contact_id: contact.id }))
      .execute();
  }
  await db.updateTable('contacts').set({ wa_id: waId, updated_at: now }).where('id', '=', contact.id).execute();
  return { ...contact, waId, updatedAt: now };
}

/** Gives a contact its new BSUID (a `user_changed_user_id` system message); the old one keeps finding them. */
export async function changeContactBsuid(db: Db, contact: Contact, change: { bsuid: string; parentBsuid: string | null }, now: number): Promise<Contact | undefined> {
  const parentBsuid = change.parentBsuid ?? contact.parentBsuid;
  if (change.bsuid === contact.bsuid && parentBsuid === contact.parentBsuid) return undefined;
  for (const identity of identitiesOf({ waId: null, bsuid: change.bsuid, parentBsuid })) {
    await db
      .insertInto('contact_identities')
      .values({ identity, contact_id: contact.id })
      .onConflict((oc) => oc.column('identity').doUpdateSet({ contact_id: contact.id }))
      .execute();
  }
  await db.updateTable('contacts').set({ bsuid: change.bsuid, parent_bsuid: parentBsuid, updated_at: now }).where('id', '=', contact.id).execute();
  return { ...contact, bsuid: change.bsuid, parentBsuid, updatedAt: now };
}

export async function messageExists(db: Db, messageId: string): Promise<boolean> {
  return (await db.selectFrom('messages').select('id').where('id', '=', messageId).executeTakeFirst()) !== undefined;
}

/**
 * The thread a message at `sentAt` belongs to: the latest thread of this contact and business
 * number unless the message comes more than `gapMs` after its last message. A late arrival
 * (older than the latest message) joins the thread that was open at its time, or starts one.
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
    // Within the gap of the thread before it (or inside it), else of the thread after it, else its
    // own: an imported history comes in any order, and a message weeks older than the thread it
    // would otherwise join is another conversation.
    const before = await base.where('started_at', '<=', sentAt).orderBy('started_at', 'desc').limit(1).executeTakeFirst();
    const after = await base.where('started_at', '>', sentAt).orderBy('started_at', 'asc').limit(1).executeTakeFirst();
    if (before && sentAt - before.last_message_at <= gapMs) target = before;
    else if (after && after.started_at - sentAt <= gapMs) target = after;
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
      history: message.history ? 1 : 0,
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

/** A thread's messages in conversation order (send time, then arrival), as a connector rebuilds a transcript from them. */
export async function threadTimeline(db: Db, threadId: string) {
  const rows = await db
    .selectFrom('messages')
    .select(['id', 'direction', 'text', 'sent_at', 'arrival_seq', 'origin', 'warnings', 'history'])
    .where('thread_id', '=', threadId)
    .orderBy('sent_at')
    .orderBy('arrival_seq')
    .execute();
  return rows.map((m) => ({ id: m.id, direction: m.direction as MessageDirection, text: m.text, sentAt: m.sent_at, arrivalSeq: m.arrival_seq, origin: m.origin, warnings: m.warnings === null ? [] : (JSON.parse(m.warnings) as string[]), history: m.history === 1 }));
}

/** The vendor's id for one of our records, as a connector stored it (external_refs). */
export async function externalRef(db: Db, connector: string, kind: string, localId: string): Promise<string | undefined> {
  return (await db.selectFrom('external_refs').select('external_id').where('connector', '=', connector).where('kind', '=', kind).where('local_id', '=', localId).executeTakeFirst())?.external_id;
}

export async function saveExternalRef(db: Db, ref: { connector: string; kind: string; localId: string; externalId: string }, now: number): Promise<void> {
  await db
    .insertInto('external_refs')
    .values({ connector: ref.connector, kind: ref.kind, local_id: ref.localId, external_id: ref.externalId, updated_at: now })
    .onConflict((oc) => oc.columns(['connector', 'kind', 'local_id']).doUpdateSet({ external_id: ref.externalId, updated_at: now }))
    .execute();
}

/** Refs per statement: five parameters each, well under SQLite's limit. */
const REFS_PER_STATEMENT = 100;

/** Several refs of one connector at once, in one transaction (see ExecutionContext.setRefs). */
export async function saveExternalRefs(db: Db, connector: string, refs: ReadonlyArray<{ kind: string; localId: string; externalId: string }>, now: number): Promise<void> {
  if (refs.length === 0) return;
  // The last value of a ref named twice wins, as one write after the other would leave it.
  const unique = [...new Map(refs.map((r) => [`${r.kind}\u0000${r.localId}`, r])).values()];
  const write = async (tx: Db) => {
    for (let i = 0; i < unique.length; i += REFS_PER_STATEMENT) {
      await tx
        .insertInto('external_refs')
        .values(unique.slice(i, i + REFS_PER_STATEMENT).map((r) => ({ connector, kind: r.kind, local_id: r.localId, external_id: r.externalId, updated_at: now })))
        .onConflict((oc) => oc.columns(['connector', 'kind', 'local_id']).doUpdateSet((eb) => ({ external_id: eb.ref('excluded.external_id'), updated_at: now })))
        .execute();
    }
  };
  if (unique.length <= REFS_PER_STATEMENT || db.isTransaction) return write(db);
  await db.transaction().execute(write);
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

/**
 * When the person last wrote: what the 24-hour customer service window counts from. Live messages
 * only: the app's past (imported history) opens no window on the Cloud API.
 */
export async function lastInboundAt(db: Db, contactId: string): Promise<number | undefined> {
  const row = await db
    .selectFrom('messages')
    .select((eb) => eb.fn.max('sent_at').as('last'))
    .where('contact_id', '=', contactId)
    .where('direction', '=', 'inbound')
    .where('history', '=', 0)
    .executeTakeFirst();
  return row?.last === null || row?.last === undefined ? undefined : Number(row.last);
}

/** An account-level webhook (quality, bans, reviews), kept as it came for the console and audits. */
export async function recordAccountEvent(db: Db, event: { field: string; accountId: string; at: number; raw: unknown }, now: number): Promise<void> {
  await db.insertInto('account_events').values({ field: event.field, account_id: event.accountId, at: event.at, raw: JSON.stringify(event.raw), received_at: now }).execute();
}

/** The id of the contact's most recent thread, if they have one. */
export async function latestThreadId(db: Db, contactId: string): Promise<string | undefined> {
  const row = await db.selectFrom('threads').select('id').where('contact_id', '=', contactId).orderBy('last_message_at', 'desc').limit(1).executeTakeFirst();
  return row?.id;
}

/** A message's media, to be downloaded from WhatsApp: queued once (a redelivery or a refill changes nothing). */
export async function queueMediaDownload(db: Db, messageId: string, media: MediaReference, now: number): Promise<void> {
  await db
    .insertInto('media')
    .values({ message_id: messageId, media_id: media.mediaId, mime_type: media.mimeType, sha256: media.sha256 ?? null, state: 'pending', path: null, size: null, error: null, updated_at: now })
    .onConflict((oc) => oc.column('message_id').doNothing())
    .execute();
}

/** A history media placeholder filled in with the media a later history webhook named, under a new arrival number. */
export async function fillPlaceholderMessage(
  db: Db,
  messageId: string,
  filled: { type: MessageType; originalType: string; text: string; media: MediaReference; arrivalSeq: number; raw: unknown },
): Promise<void> {
  await db
    .updateTable('messages')
    .set({ type: filled.type, original_type: filled.originalType, text: filled.text, media: JSON.stringify(filled.media), arrival_seq: filled.arrivalSeq, raw: JSON.stringify(filled.raw) })
    .where('id', '=', messageId)
    .execute();
}

/** One chunk of a history phase, counted once (a redelivered chunk changes nothing); -1 stands for a phase or order not given (a declined sync). */
export async function recordHistoryChunk(
  db: Db,
  chunk: {
    businessNumberId: string;
    phase: number | null;
    chunkOrder: number | null;
    progress: number | null;
    threads: number;
    messages: number;
    errors: readonly VendorErrorDetail[] | null;
    deliveryId: number;
    now: number;
  },
): Promise<void> {
  await db
    .insertInto('history_chunks')
    .values({
      business_number_id: chunk.businessNumberId,
      phase: chunk.phase ?? -1,
      chunk_order: chunk.chunkOrder ?? -1,
      progress: chunk.progress ?? 0,
      threads: chunk.threads,
      messages: chunk.messages,
      errors: chunk.errors ? JSON.stringify(chunk.errors) : null,
      delivery_id: chunk.deliveryId,
      received_at: chunk.now,
    })
    .onConflict((oc) => oc.columns(['business_number_id', 'phase', 'chunk_order']).doNothing())
    .execute();
}
