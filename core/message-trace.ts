// Message trace: find a customer (phone in any written form, BSUID, @username or profile name)
// or one message (its WhatsApp id), and say for each message where it is at every connector:
// queued, sent, failing with the vendor's reason, dead or discarded, with the vendor records the
// connector keeps for it. Reads are bounded (a few contacts, their latest messages, their latest
// operations) and go through indexes: identities, contacts, messages by contact, outbox by key.
import { isBsuid } from './model/identity.js';
import { numberVariants, toE164 } from './model/phone.js';
import type { JsonValue } from './model/types.js';
import { BACKGROUND_KEY_PREFIX, contactOrderingKey } from './outbox/key-queue.js';
import { viewOperations, type OperationView, type VendorRecord } from './outbox/inspect.js';
import type { ContactRow, MessageRow } from './store/schema.js';
import type { Db } from './store/store.js';

/** At most this many customers match one search... */
export const TRACE_CONTACTS_MAX = 10;
/** ...with at most this many of their latest messages each... */
export const TRACE_MESSAGES_MAX = 30;
/** ...and at most this many of their latest operations read to place them. */
const TRACE_OPERATIONS_MAX = 2000;

/** Where one message is at one connector, from the operations about it there. */
export type TraceState = 'queued' | 'sent' | 'failing' | 'dead' | 'discarded';

export interface ConnectorTrace {
  readonly connector: string;
  /** The least advanced of its operations: a message is sent once everything about it is. */
  readonly state: TraceState;
  /** The vendor's words for a failing or dead operation, customers' identifiers masked. */
  readonly reason: string | null;
  readonly operations: readonly OperationView[];
  readonly records: readonly VendorRecord[];
}

export interface TracedMessage {
  readonly id: string;
  readonly contactId: string;
  readonly threadId: string;
  readonly direction: string;
  readonly type: string;
  readonly sentAt: number;
  readonly status: string | null;
  readonly connectors: readonly ConnectorTrace[];
}

export interface TraceResult {
  readonly contacts: readonly ContactRow[];
  readonly messages: readonly TracedMessage[];
}

/** How the search text was read: what a console shows as "searched for". */
export type TraceQuery = { readonly by: 'message'; readonly id: string } | { readonly by: 'phone'; readonly identities: readonly string[] } | { readonly by: 'bsuid'; readonly identities: readonly string[] } | { readonly by: 'username'; readonly username: string } | { readonly by: 'name'; readonly name: string };

/** Reads the search text: a wamid, a BSUID, a phone number (any written form), an @username, else a name. */
export function parseTraceQuery(text: string): TraceQuery | undefined {
  const q = text.trim();
  if (q.length < 2) return undefined;
  if (/^wamid\./i.test(q)) return { by: 'message', id: q };
  if (isBsuid(q)) return { by: 'bsuid', identities: [`bsuid:${q}`, `parent:${q}`] };
  if (q.startsWith('@')) return { by: 'username', username: q.slice(1) };
  if (/^[+\d][\d\s().-]{5,}$/.test(q)) {
    const e164 = toE164(q);
    if (e164) return { by: 'phone', identities: numberVariants(e164).map((v) => `wa:${v}`) };
  }
  return { by: 'name', name: q };
}

const STATE_ORDER: readonly TraceState[] = ['dead', 'failing', 'queued', 'discarded', 'sent'];

function traceStateOf(op: OperationView): TraceState {
  if (op.state === 'done') return 'sent';
  if (op.state === 'dead') return 'dead';
  if (op.state === 'discarded') return 'discarded';
  return op.attempts > 0 && op.lastError !== null ? 'failing' : 'queued';
}

async function contactsFor(db: Db, query: Exclude<TraceQuery, { by: 'message' }>): Promise<ContactRow[]> {
  if (query.by === 'phone' || query.by === 'bsuid') {
    const ids = await db.selectFrom('contact_identities').select('contact_id').distinct().where('identity', 'in', [...query.identities]).limit(TRACE_CONTACTS_MAX).execute();
    if (ids.length === 0) return [];
    return db.selectFrom('contacts').selectAll().where('id', 'in', ids.map((r) => r.contact_id)).execute();
  }
  if (query.by === 'username') return db.selectFrom('contacts').selectAll().where('username', '=', query.username).limit(TRACE_CONTACTS_MAX).execute();
  // A name is typed however the person remembers it: any part of the profile name, any case.
  const pattern = `%${query.name.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
  return db
    .selectFrom('contacts')
    .selectAll()
    .where((eb) => eb(eb.fn('lower', ['profile_name']), 'like', pattern))
    .orderBy('updated_at', 'desc')
    .limit(TRACE_CONTACTS_MAX)
    .execute();
}

function payloadField(payload: JsonValue, key: string): string | undefined {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return undefined;
  const value = payload[key];
  return typeof value === 'string' ? value : undefined;
}

/**
 * Places each message at each connector: operations naming the message (its payload's
 * messageId), else, at a connector that writes whole threads (a transcript, a ticket's comments),
 * those naming its thread.
 */
export async function traceMessages(db: Db, text: string): Promise<TraceResult | undefined> {
  const query = parseTraceQuery(text);
  if (!query) return undefined;
  let messages: MessageRow[];
  let contacts: ContactRow[];
  if (query.by === 'message') {
    messages = await db.selectFrom('messages').selectAll().where('id', '=', query.id).execute();
    contacts = messages.length === 0 ? [] : await db.selectFrom('contacts').selectAll().where('id', '=', messages[0]!.contact_id).execute();
  } else {
    contacts = await contactsFor(db, query);
    messages = [];
    for (const contact of contacts) {
      messages.push(...(await db.selectFrom('messages').selectAll().where('contact_id', '=', contact.id).orderBy('sent_at', 'desc').limit(TRACE_MESSAGES_MAX).execute()));
    }
  }
  if (messages.length === 0) return { contacts, messages: [] };
  // A customer's live operations share the ordering key `contact:ID`; imported history goes on a
  // background key per message or per thread (see core/connector.ts messagePlacement).
  const past = messages.filter((m) => m.history === 1);
  const keys = [
    ...new Set([
      ...contacts.map((c) => contactOrderingKey(c.id)),
      ...past.map((m) => `${BACKGROUND_KEY_PREFIX}message:${m.id}`),
      ...past.map((m) => `${BACKGROUND_KEY_PREFIX}thread:${m.thread_id}`),
    ]),
  ];
  const rows = [];
  for (let i = 0; i < keys.length; i += 200) {
    rows.push(...(await db.selectFrom('outbox').selectAll().where('ordering_key', 'in', keys.slice(i, i + 200)).orderBy('id', 'desc').limit(TRACE_OPERATIONS_MAX).execute()));
  }
  const wanted = new Set(messages.map((m) => m.id));
  const threads = new Set(messages.map((m) => m.thread_id));
  const relevant = rows.filter((r) => {
    const payload = JSON.parse(r.payload) as JsonValue;
    const messageId = payloadField(payload, 'messageId');
    return messageId ? wanted.has(messageId) : threads.has(payloadField(payload, 'threadId') ?? '');
  });
  const views = await viewOperations(db, relevant.sort((a, b) => a.id - b.id));
  const byMessage = new Map<string, OperationView[]>();
  const byThread = new Map<string, OperationView[]>();
  relevant.forEach((row, i) => {
    const payload = JSON.parse(row.payload) as JsonValue;
    const messageId = payloadField(payload, 'messageId');
    const target = messageId ? byMessage : byThread;
    const key = messageId ?? payloadField(payload, 'threadId')!;
    target.set(key, [...(target.get(key) ?? []), views[i]!]);
  });
  const traced = messages.map((m): TracedMessage => {
    const own = byMessage.get(m.id) ?? [];
    const ofThread = byThread.get(m.thread_id) ?? [];
    const connectors = [...new Set([...own, ...ofThread].map((op) => op.connector))].sort();
    return {
      id: m.id,
      contactId: m.contact_id,
      threadId: m.thread_id,
      direction: m.direction,
      type: m.type,
      sentAt: Number(m.sent_at),
      status: m.status,
      connectors: connectors.map((connector) => {
        const mine = own.filter((op) => op.connector === connector);
        // A thread's operations stand for the message only where none names it.
        const ops = mine.length > 0 ? mine : ofThread.filter((op) => op.connector === connector);
        const states = ops.map(traceStateOf);
        const state = STATE_ORDER.find((s) => states.includes(s))!;
        const worst = ops.find((op) => traceStateOf(op) === state);
        return { connector, state, reason: state === 'failing' || state === 'dead' ? (worst?.lastError ?? null) : null, operations: ops, records: dedupe(ops.flatMap((op) => op.records)) };
      }),
    };
  });
  return { contacts, messages: traced.sort((a, b) => b.sentAt - a.sentAt) };
}

function dedupe(records: readonly VendorRecord[]): VendorRecord[] {
  const seen = new Map(records.map((r) => [`${r.kind}\u0000${r.externalId}`, r]));
  return [...seen.values()];
}
