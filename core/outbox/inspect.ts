// Operations as a person looking at the console sees them: when, how many attempts, whose, what
// they carry (named, never quoted: payloads hold message texts and numbers), the vendor records
// the connector keeps for them, and what each waits for. Also the one change a person may make
// to a dead operation besides replaying it: discarding it (kept, marked, never sent).
import type { JsonValue } from '../model/types.js';
import type { OperationState, OutboxRow } from '../store/schema.js';
import type { Db } from '../store/store.js';
import { redactPersonalData } from './health.js';
import { inTransaction } from './key-queue.js';

/** Payload fields that name our own records (ids the store made or WhatsApp's message ids): shown as they are. */
const RECORD_ID_FIELDS = ['messageId', 'threadId', 'contactId', 'ticketId', 'mediaId'] as const;

/** A vendor record the connector keeps for one of our records (external_refs). */
export interface VendorRecord {
  readonly kind: string;
  readonly externalId: string;
}

/** What an operation waits for before it can succeed, and why we say so. */
export interface Prerequisite {
  readonly id: number;
  readonly kind: string;
  readonly state: OperationState;
  /**
   * `queued-behind`: the operation is not its customer's head at this connector; the head runs first.
   * `earlier-dead`: it fails, and an earlier operation of its customer at this connector is dead:
   * operations of one ordering key run in order because the later ones build on the earlier ones
   * (a message needs its contact at the vendor), so that one is what to replay first.
   */
  readonly why: 'queued-behind' | 'earlier-dead';
}

export interface OperationView {
  readonly id: number;
  readonly connector: string;
  readonly kind: string;
  readonly state: OperationState;
  readonly attempts: number;
  readonly maxAttempts: number;
  readonly createdAt: number;
  /** The last change: for a dead operation, when it died. */
  readonly updatedAt: number;
  readonly runAt: number;
  /** The vendor's words, with customers' identifiers masked. */
  readonly lastError: string | null;
  /** The customer the operation is about (our contact id), when it says. */
  readonly contactId: string | null;
  readonly summary: string;
  readonly records: readonly VendorRecord[];
  readonly waitsFor: Prerequisite | null;
}

function isRecord(value: JsonValue): value is { [key: string]: JsonValue } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The contact an operation is about: its payload's contactId, else the customer's ordering key (core/connector.ts messagePlacement). */
export function contactOfOperation(payload: JsonValue, orderingKey: string): string | null {
  if (isRecord(payload) && typeof payload['contactId'] === 'string') return payload['contactId'];
  return orderingKey.startsWith('contact:') ? orderingKey.slice('contact:'.length) : null;
}

/**
 * What a payload carries, without its values: record ids as they are, every other field by name
 * and size (`text (42 characters)`), so an operator sees what the operation is about and no
 * message text, number or name leaves the store through the console.
 */
export function summarizePayload(payload: JsonValue): string {
  if (!isRecord(payload)) return Array.isArray(payload) ? `${payload.length} items` : typeof payload;
  const ids: string[] = [];
  const fields: string[] = [];
  for (const [key, value] of Object.entries(payload)) {
    if ((RECORD_ID_FIELDS as readonly string[]).includes(key) && typeof value === 'string') ids.push(`${key} ${value}`);
    else if (value === null) continue;
    else if (typeof value === 'string') fields.push(`${key} (${value.length} characters)`);
    else if (Array.isArray(value)) fields.push(`${key} (${value.length} items)`);
    else if (typeof value === 'object') fields.push(`${key} {${Object.keys(value).length} fields}`);
    else fields.push(key);
  }
  return [...ids, ...(fields.length > 0 ? [fields.join(', ')] : [])].join(' · ');
}

/** The local ids an operation's payload names, for its vendor records. */
function localIdsOf(payload: JsonValue): string[] {
  if (!isRecord(payload)) return [];
  return RECORD_ID_FIELDS.map((key) => payload[key]).filter((v): v is string => typeof v === 'string');
}

/** Vendor records each connector keeps for these local ids, in one read per connector. */
export async function vendorRecords(db: Db, wanted: ReadonlyArray<{ connector: string; localIds: readonly string[] }>): Promise<Map<string, VendorRecord[]>> {
  const byConnector = new Map<string, Set<string>>();
  for (const w of wanted) {
    const set = byConnector.get(w.connector) ?? new Set<string>();
    for (const id of w.localIds) set.add(id);
    byConnector.set(w.connector, set);
  }
  const found = new Map<string, VendorRecord[]>();
  for (const [connector, ids] of byConnector) {
    const list = [...ids];
    for (let i = 0; i < list.length; i += 500) {
      const rows = await db.selectFrom('external_refs').select(['kind', 'local_id', 'external_id']).where('connector', '=', connector).where('local_id', 'in', list.slice(i, i + 500)).execute();
      for (const row of rows) {
        // Which of the rest are records people open (not a sync cursor or a time stamp) only the connector knows: see Connector.describeRecord.
        if (!looksLikeRecordId(row.external_id)) continue;
        const key = `${connector}\u0000${row.local_id}`;
        found.set(key, [...(found.get(key) ?? []), { kind: row.kind, externalId: row.external_id }]);
      }
    }
  }
  return found;
}

/** Refs that hold state rather than a vendor id (a pending write, a list) are JSON: not records. */
function looksLikeRecordId(value: string): boolean {
  return value.length > 0 && value.length <= 200 && !value.startsWith('{') && !value.startsWith('[');
}

/** What each operation waits for (see Prerequisite): one read of the key rows, one per failing operation. */
async function prerequisitesOf(db: Db, rows: readonly OutboxRow[]): Promise<Map<number, Prerequisite>> {
  const found = new Map<number, Prerequisite>();
  const open = rows.filter((r) => r.state === 'pending' || r.state === 'in_flight');
  for (let i = 0; i < open.length; i += 200) {
    const chunk = open.slice(i, i + 200);
    const keys = await db
      .selectFrom('outbox_keys as k')
      .innerJoin('outbox as h', 'h.id', 'k.head_id')
      .select(['k.connector', 'k.ordering_key', 'h.id', 'h.kind', 'h.state'])
      .where((eb) => eb.or(chunk.map((r) => eb.and([eb('k.connector', '=', r.connector), eb('k.ordering_key', '=', r.ordering_key)]))))
      .execute();
    const headOf = new Map(keys.map((k) => [`${k.connector}\u0000${k.ordering_key}`, k]));
    for (const row of chunk) {
      const head = headOf.get(`${row.connector}\u0000${row.ordering_key}`);
      if (head && head.id !== row.id && head.id < row.id) found.set(row.id, { id: head.id, kind: head.kind, state: head.state, why: 'queued-behind' });
    }
  }
  for (const row of rows) {
    if (found.has(row.id) || row.attempts === 0 || row.last_error === null || row.state === 'done') continue;
    const earlier = await db
      .selectFrom('outbox')
      .select(['id', 'kind', 'state'])
      .where('ordering_key', '=', row.ordering_key)
      .where('connector', '=', row.connector)
      .where('id', '<', row.id)
      .where('state', '=', 'dead')
      .orderBy('id', 'desc')
      .limit(1)
      .executeTakeFirst();
    if (earlier) found.set(row.id, { id: earlier.id, kind: earlier.kind, state: earlier.state, why: 'earlier-dead' });
  }
  return found;
}

/** Rows as the console shows them: summary, customer, vendor records and prerequisite. */
export async function viewOperations(db: Db, rows: readonly OutboxRow[]): Promise<OperationView[]> {
  const payloads = rows.map((r) => JSON.parse(r.payload) as JsonValue);
  const records = await vendorRecords(db, rows.map((r, i) => ({ connector: r.connector, localIds: localIdsOf(payloads[i]!) })));
  const waits = await prerequisitesOf(db, rows);
  return rows.map((row, i) => {
    const payload = payloads[i]!;
    return {
      id: row.id,
      connector: row.connector,
      kind: row.kind,
      state: row.state,
      attempts: row.attempts,
      maxAttempts: row.max_attempts,
      createdAt: Number(row.created_at),
      updatedAt: Number(row.updated_at),
      runAt: Number(row.run_at),
      lastError: row.last_error === null ? null : redactPersonalData(row.last_error),
      contactId: contactOfOperation(payload, row.ordering_key),
      summary: summarizePayload(payload),
      records: localIdsOf(payload).flatMap((id) => records.get(`${row.connector}\u0000${id}`) ?? []),
      waitsFor: waits.get(row.id) ?? null,
    };
  });
}

export interface OperationFilter {
  /** `waiting`: pending operations that failed before, are not due yet, or wait behind another of their key. */
  readonly state: 'dead' | 'pending' | 'waiting' | 'discarded';
  readonly connector?: string;
  readonly limit: number;
}

/** Operations in a state, for the console: dead ones newest first, waiting ones oldest first. */
export async function listOperationViews(db: Db, filter: OperationFilter): Promise<OperationView[]> {
  let query = db.selectFrom('outbox').selectAll().limit(filter.limit);
  if (filter.connector) query = query.where('connector', '=', filter.connector);
  if (filter.state === 'waiting') {
    // Failed before, not due yet, or not its key's head (so behind another): the key row is read by its primary key.
    query = query
      .where('state', '=', 'pending')
      .where((eb) =>
        eb.or([
          eb('attempts', '>', 0),
          eb('run_at', '>', Date.now()),
          eb.not(eb.exists(eb.selectFrom('outbox_keys as k').select('k.head_id').whereRef('k.connector', '=', 'outbox.connector').whereRef('k.ordering_key', '=', 'outbox.ordering_key').whereRef('k.head_id', '=', 'outbox.id'))),
        ]),
      )
      .orderBy('id');
  }
  else query = query.where('state', '=', filter.state).orderBy('id', filter.state === 'pending' ? 'asc' : 'desc');
  return viewOperations(db, await query.execute());
}

/** One operation for the console, whatever its state. */
export async function operationView(db: Db, id: number): Promise<OperationView | undefined> {
  const row = await db.selectFrom('outbox').selectAll().where('id', '=', id).executeTakeFirst();
  return row ? (await viewOperations(db, [row]))[0] : undefined;
}

/**
 * Marks dead operations discarded: a person decided they are not to be sent (the record they
 * would write is wrong, or was written by hand). The rows stay with their last error; a replay
 * leaves them alone. Only dead operations change; returns the ids that did.
 */
export async function discardDeadOperations(db: Db, ids: readonly number[], now: number): Promise<number[]> {
  if (ids.length === 0) return [];
  return inTransaction(db, async (tx) => {
    const changed: number[] = [];
    for (let i = 0; i < ids.length; i += 500) {
      const rows = await tx.updateTable('outbox').set({ state: 'discarded', open: 0, updated_at: now }).where('id', 'in', ids.slice(i, i + 500)).where('state', '=', 'dead').returning('id').execute();
      changed.push(...rows.map((r) => r.id));
    }
    return changed.sort((a, b) => a - b);
  });
}
