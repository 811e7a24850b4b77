// Per-ordering-key queue state: one `outbox_keys` row per connector and ordering key that has
// unfinished operations, naming its head (the oldest pending or in-flight operation) and when
// that head may be claimed (`ready_at`; null while the key's work is in flight). A claim then
// reads ready keys from an index range, in `ready_at` order, however many operations wait
// behind each head: the pattern of graphile-worker's named queues
// (https://worker.graphile.org/docs/job-key and "queue_name": jobs in one named queue run one at a time, in order).
//
// `ready_at` is also the fairness rule: a key whose work just finished goes to the back of the
// line (ready from now), behind every key that was already waiting, so a flooding key gets one
// turn per round and no more.
//
// Every change to an operation's state refreshes its key's row in the same transaction. The
// row is locked first (an upsert), then the head is read, so a refresh and a concurrent enqueue
// of the same key serialise on that row on PostgreSQL; SQLite transactions are serial already.
import { sql } from 'kysely';
import type { Db } from '../store/store.js';

/**
 * Ordering keys that start with this are background work (e.g. an imported chat history): their
 * keys are claimed only after every ready key of lane 0, so a backlog of them never makes live
 * work wait for its turn.
 */
export const BACKGROUND_KEY_PREFIX = 'background:';

/**
 * The ordering key of one person's operations in a connector: everything written about that
 * contact runs in the order it was planned, one at a time per connector.
 */
export function contactOrderingKey(contactId: string): string {
  return `contact:${contactId}`;
}

/** 1 for background keys (see BACKGROUND_KEY_PREFIX), 0 for the rest. */
export function laneOf(orderingKey: string): number {
  return orderingKey.startsWith(BACKGROUND_KEY_PREFIX) ? 1 : 0;
}

export interface OrderingKeyRef {
  readonly connector: string;
  readonly orderingKey: string;
}

/** Keys per statement: each key binds a handful of parameters, well under SQLite's limit. */
const CHUNK = 200;

/**
 * The condition of the partial index `outbox_ordering_open`, written as a literal: SQLite uses a
 * partial index only when the query states its condition word for word, never with bound values
 * (https://www.sqlite.org/partialindex.html, "Queries Using Partial Indexes"). It is the `open`
 * flag rather than the state (migration 0020): SQLite rewrites a partial index's entry on every
 * UPDATE that sets a column its condition names, and a claim sets `state` of every row it takes.
 * Enqueue, completion, failure to dead, replay and discard set `open` with the state; claims,
 * releases, retries and deferrals keep an operation unfinished and never name it.
 */
export const OPEN_OPERATIONS = sql<boolean>`open = 1`;

/** Runs `work` in the transaction `db` is, or in a new one: a key refresh must commit with the change it follows. */
export async function inTransaction<T>(db: Db, work: (tx: Db) => Promise<T>): Promise<T> {
  if (db.isTransaction) return work(db);
  return db.transaction().execute(work);
}

function byConnector(keys: readonly OrderingKeyRef[]): Map<string, string[]> {
  const grouped = new Map<string, Set<string>>();
  for (const key of keys) {
    let set = grouped.get(key.connector);
    if (!set) grouped.set(key.connector, (set = new Set()));
    set.add(key.orderingKey);
  }
  // Sorted, so concurrent transactions lock key rows in the same order (no deadlock on PostgreSQL).
  return new Map([...grouped].map(([connector, set]) => [connector, [...set].sort()]));
}

/**
 * Recomputes the head and readiness of each key from the operations themselves (call inside
 * the transaction that changed them). A key whose head was just released, retried or replayed
 * is ready from `max(head.run_at, now)`; a key whose head is unchanged and ready keeps its place
 * in line; a key with nothing left loses its row.
 */
export async function refreshOrderingKeys(tx: Db, keys: readonly OrderingKeyRef[], now: number): Promise<void> {
  for (const [connector, orderingKeys] of byConnector(keys)) {
    for (let i = 0; i < orderingKeys.length; i += CHUNK) {
      const chunk = orderingKeys.slice(i, i + CHUNK);
      // Lock (or create) each key's row before reading its operations.
      const prior = await tx
        .insertInto('outbox_keys')
        .values(chunk.map((orderingKey) => ({ connector, ordering_key: orderingKey, head_id: 0, ready_at: null, lane: laneOf(orderingKey) })))
        .onConflict((oc) => oc.columns(['connector', 'ordering_key']).doUpdateSet({ head_id: sql.ref('outbox_keys.head_id') }))
        .returning(['ordering_key', 'head_id', 'ready_at'])
        .execute();
      const heads = await tx
        .selectFrom('outbox as o')
        .select(['o.id', 'o.ordering_key', 'o.state', 'o.run_at'])
        .where('o.id', 'in', (eb) =>
          eb
            .selectFrom('outbox_keys as k')
            .select((inner) =>
              inner
                .selectFrom('outbox as p')
                .select('p.id')
                .whereRef('p.connector', '=', 'k.connector')
                .whereRef('p.ordering_key', '=', 'k.ordering_key')
                .where(OPEN_OPERATIONS)
                .orderBy('p.id')
                .limit(1)
                .as('head'),
            )
            .where('k.connector', '=', connector)
            .where('k.ordering_key', 'in', chunk),
        )
        .execute();
      const headOf = new Map(heads.map((h) => [h.ordering_key, h]));
      const empty: string[] = [];
      const changed: Array<{ orderingKey: string; headId: number; readyAt: number | null }> = [];
      for (const row of prior) {
        const head = headOf.get(row.ordering_key);
        if (!head) {
          empty.push(row.ordering_key);
          continue;
        }
        let readyAt: number | null;
        if (head.state === 'in_flight') readyAt = null;
        else if (row.head_id === head.id && row.ready_at !== null) readyAt = Math.max(row.ready_at, head.run_at);
        else readyAt = Math.max(head.run_at, now);
        if (row.head_id !== head.id || row.ready_at !== readyAt) changed.push({ orderingKey: row.ordering_key, headId: head.id, readyAt });
      }
      if (empty.length > 0) await tx.deleteFrom('outbox_keys').where('connector', '=', connector).where('ordering_key', 'in', empty).execute();
      if (changed.length > 0) {
        const caseOf = (value: (c: (typeof changed)[number]) => number | null) =>
          sql.join(changed.map((c) => sql`when ${c.orderingKey} then ${sql.val(value(c))}`), sql` `);
        await tx
          .updateTable('outbox_keys')
          .set({
            // Typed, or PostgreSQL takes the bound values for text (and a CASE of nulls has no type at all).
            head_id: sql<number>`cast(case ordering_key ${caseOf((c) => c.headId)} end as bigint)`,
            ready_at: sql<number | null>`cast(case ordering_key ${caseOf((c) => c.readyAt)} end as bigint)`,
          })
          .where('connector', '=', connector)
          .where('ordering_key', 'in', changed.map((c) => c.orderingKey))
          .execute();
      }
    }
  }
}

/**
 * New operations were inserted (ids from the insert): keys seen for the first time get a row,
 * ready when their first operation may run (now, or after its settle time); keys already queued
 * keep their head and their place, unless a concurrent enqueue gave the new operation a lower id
 * than a head still waiting.
 */
export async function noteEnqueued(tx: Db, connector: string, inserted: ReadonlyArray<{ id: number; orderingKey: string; runAt?: number }>, now: number): Promise<void> {
  const firstNew = new Map<string, number>();
  const runAtOf = new Map<number, number>();
  for (const op of inserted) {
    runAtOf.set(op.id, Math.max(now, op.runAt ?? now));
    const seen = firstNew.get(op.orderingKey);
    if (seen === undefined || op.id < seen) firstNew.set(op.orderingKey, op.id);
  }
  const orderingKeys = [...firstNew.keys()].sort();
  for (let i = 0; i < orderingKeys.length; i += CHUNK) {
    const chunk = orderingKeys.slice(i, i + CHUNK);
    const rows = await tx
      .insertInto('outbox_keys')
      .values(chunk.map((orderingKey) => ({ connector, ordering_key: orderingKey, head_id: firstNew.get(orderingKey)!, ready_at: runAtOf.get(firstNew.get(orderingKey)!)!, lane: laneOf(orderingKey) })))
      .onConflict((oc) => oc.columns(['connector', 'ordering_key']).doUpdateSet({ head_id: sql.ref('outbox_keys.head_id') }))
      .returning(['ordering_key', 'head_id', 'ready_at'])
      .execute();
    const overtaken = rows.filter((row) => row.ready_at !== null && row.head_id > firstNew.get(row.ordering_key)!);
    if (overtaken.length > 0) await refreshOrderingKeys(tx, overtaken.map((row) => ({ connector, orderingKey: row.ordering_key })), now);
  }
}

/**
 * Busy keys whose head is no longer in flight (a change that did not refresh its key, e.g. an
 * older binary beside this one during an upgrade): recomputed, so no key stays stuck. Finding them
 * reads every key row (no index holds busy keys: one would take an entry on every claim and lose
 * it on every settle, the write 0017 took off the hot path), so it is a read first, outside any
 * write transaction, and the dispatcher runs it at start and then every HEAL_BUSY_KEYS_INTERVAL_MS.
 */
export async function healBusyKeys(db: Db, now: number): Promise<number> {
  const stale = await db
    .selectFrom('outbox_keys as k')
    .leftJoin('outbox as o', 'o.id', 'k.head_id')
    .select(['k.connector', 'k.ordering_key'])
    .where('k.ready_at', 'is', null)
    .where((eb) => eb.or([eb('o.id', 'is', null), eb('o.state', '!=', 'in_flight')]))
    .execute();
  // Recomputed from the outbox in a transaction of their own: a key that moved on meanwhile is only recomputed again.
  if (stale.length > 0) await inTransaction(db, (tx) => refreshOrderingKeys(tx, stale.map((s) => ({ connector: s.connector, orderingKey: s.ordering_key })), now));
  return stale.length;
}

/** How often a dispatcher looks for stuck busy keys: they come only from an upgrade or a hand edit. */
export const HEAL_BUSY_KEYS_INTERVAL_MS = 10 * 60_000;

/**
 * Builds the key rows from the operations (a migrated store, a restored backup): each key's head
 * is its oldest unfinished operation, ready from its own `run_at` unless it is in flight.
 */
export async function rebuildOrderingKeys(tx: Db): Promise<void> {
  await tx.deleteFrom('outbox_keys').execute();
  // One insert, readiness included: inserting and then updating every row would leave a dead
  // copy of each behind on PostgreSQL, which every claim then steps over until a vacuum.
  await sql`
    insert into outbox_keys (connector, ordering_key, head_id, ready_at, lane)
    select f.connector, f.ordering_key, f.head_id, case when h.state = 'pending' then h.run_at end,
           case when f.ordering_key like ${`${BACKGROUND_KEY_PREFIX}%`} then 1 else 0 end
    from (select connector, ordering_key, min(id) as head_id from outbox
          where ${OPEN_OPERATIONS}
          group by connector, ordering_key) f
    join outbox h on h.id = f.head_id`.execute(tx);
}
