// The outbox as plain rows. Each query is one named function; all of them run unchanged
// on SQLite and PostgreSQL (PostgreSQL adds FOR UPDATE SKIP LOCKED when claiming).
import { sql, type UpdateObject } from 'kysely';
import type { JsonValue } from '../model/types.js';
import type { Database, OperationState, OutboxRow } from '../store/schema.js';
import type { Db, Store } from '../store/store.js';
import { inTransaction, noteEnqueued, OPEN_OPERATIONS, refreshOrderingKeys, type OrderingKeyRef } from './key-queue.js';

/** What a connector asks the outbox to do; the engine adds the connector id and stores it. */
export interface OperationDraft {
  readonly kind: string;
  /** Unique per connector and kind: the same draft twice is the same operation. */
  readonly key: string;
  /** Operations sharing this key run one at a time, in the order they were queued. */
  readonly orderingKey: string;
  readonly payload: JsonValue;
  /**
   * Not claimable until this long after it is queued (a not-before time, `run_at`): a connector
   * whose records are append-only lets a burst delivered out of order gather first, so the
   * operation that runs writes it sorted. Retries keep their own backoff; 0 or absent runs at once.
   */
  readonly settleMs?: number;
}

export interface OutboxOperation {
  readonly id: number;
  readonly idempotencyKey: string;
  readonly connector: string;
  readonly kind: string;
  readonly orderingKey: string;
  readonly payload: JsonValue;
  readonly state: OperationState;
  readonly runAt: number;
  /** Attempts so far, this one included (counted at claim time, so a crash uses one up). */
  readonly attempts: number;
  readonly maxAttempts: number;
  readonly lastError: string | null;
  readonly result: JsonValue | null;
  readonly createdAt: number;
}

export function idempotencyKeyOf(connector: string, draft: Pick<OperationDraft, 'kind' | 'key'>): string {
  return `${connector}:${draft.kind}:${draft.key}`;
}

export function toOperation(row: OutboxRow): OutboxOperation {
  return {
    id: row.id,
    idempotencyKey: row.idempotency_key,
    connector: row.connector,
    kind: row.kind,
    orderingKey: row.ordering_key,
    payload: JSON.parse(row.payload) as JsonValue,
    state: row.state,
    runAt: row.run_at,
    attempts: row.attempts,
    maxAttempts: row.max_attempts,
    lastError: row.last_error,
    result: row.result === null ? null : (JSON.parse(row.result) as JsonValue),
    createdAt: row.created_at,
  };
}

/** Queues operations; a key already queued (in any state) is left as it is. Returns how many were new. */
export async function enqueueOperations(
  db: Db,
  connector: string,
  drafts: readonly OperationDraft[],
  options: { maxAttempts: number; now: number },
): Promise<number> {
  if (drafts.length === 0) return 0;
  return inTransaction(db, async (tx) => {
    let inserted = 0;
    // Chunks keep each statement under SQLite's bound-parameter limit.
    for (let i = 0; i < drafts.length; i += 500) {
      const chunk = drafts.slice(i, i + 500);
      const rows = await tx
        .insertInto('outbox')
        .values(
          chunk.map((draft) => ({
            idempotency_key: idempotencyKeyOf(connector, draft),
            connector,
            kind: draft.kind,
            ordering_key: draft.orderingKey,
            payload: JSON.stringify(draft.payload),
            state: 'pending' as const,
            open: 1 as const,
            run_at: options.now + Math.max(0, draft.settleMs ?? 0),
            attempts: 0,
            max_attempts: options.maxAttempts,
            locked_by: null,
            lease_until: null,
            last_error: null,
            result: null,
            created_at: options.now,
            updated_at: options.now,
          })),
        )
        .onConflict((oc) => oc.column('idempotency_key').doNothing())
        .returning(['id', 'ordering_key', 'run_at'])
        .execute();
      await noteEnqueued(tx, connector, rows.map((r) => ({ id: r.id, orderingKey: r.ordering_key, runAt: Number(r.run_at) })), options.now);
      inserted += rows.length;
    }
    return inserted;
  });
}

export interface ClaimOptions {
  /** At most this many operations in all. */
  readonly limit: number;
  readonly leaseMs: number;
  readonly now: number;
  /**
   * Up to this many consecutive operations of one key in one claim, in order (a connector that
   * writes several of a key's operations in one call); 1 (the default) claims heads only. A run
   * never takes room from other ready keys: each claimed key gets its head first.
   */
  readonly runLength?: number;
  /**
   * At most this many background keys (lane 1) in this claim: 0 while the dispatcher's
   * background slots are taken, so only live work is claimed then.
   * @default limit
   */
  readonly backgroundLimit?: number;
}

/**
 * Claims due work of one connector and leases it to `workerId`: ready ordering keys in the order
 * their turn came (oldest first), each with its head and, with `runLength`, the operations queued
 * right behind it. Costs what it returns: ready keys come from an index range, the run of each
 * key from its own index range. Attempts are counted here.
 */
export async function claimOperations(store: Store, connector: string, workerId: string, options: ClaimOptions): Promise<OutboxOperation[]> {
  const { limit, leaseMs, now } = options;
  const runLength = Math.max(1, options.runLength ?? 1);
  const backgroundLimit = Math.max(0, Math.min(limit, options.backgroundLimit ?? limit));
  if (store.dialect === 'postgres') return claimInOneStatement(store, connector, workerId, { limit, leaseMs, now, runLength, backgroundLimit });
  // The attempt must be on disk before the vendor is called: it is what triggers reconcile after a crash.
  return store.durably((db) => db.transaction().execute(async (tx) => {
    // Lane 0 (live work) first; background keys fill what room is left. Each lane is one index range.
    const keys: Array<{ ordering_key: string; head_id: number }> = [];
    for (const lane of [0, 1]) {
      const room = lane === 0 ? limit - keys.length : Math.min(limit - keys.length, backgroundLimit);
      if (room <= 0) break;
      const readyKeys = tx
        .selectFrom('outbox_keys')
        .select(['ordering_key', 'head_id'])
        .where('connector', '=', connector)
        .where('lane', '=', lane)
        .where('ready_at', '<=', now)
        .orderBy('ready_at')
        .orderBy('head_id')
        .limit(room);
      keys.push(...(await readyKeys.execute()));
    }
    if (keys.length === 0) return [];
    const perKey = Math.max(1, Math.min(runLength, Math.floor(limit / keys.length)));
    const ids: number[] = [];
    const claimedKeys: string[] = [];
    const stale: string[] = [];
    // Heads only (many keys ready): every head in one read by id. Runs (few keys ready): each
    // key's unfinished operations from its head on, in order, from its own index range.
    const heads = perKey === 1 ? await tx.selectFrom('outbox').select(['id', 'state', 'run_at']).where('id', 'in', keys.map((k) => k.head_id)).execute() : [];
    const headById = new Map(heads.map((h) => [h.id, h]));
    for (const key of keys) {
      const run =
        perKey === 1
          ? [headById.get(key.head_id)].filter((h) => h !== undefined)
          : await tx
              .selectFrom('outbox')
              .select(['id', 'state', 'run_at'])
              .where('connector', '=', connector)
              .where('ordering_key', '=', key.ordering_key)
              .where(OPEN_OPERATIONS)
              .where('id', '>=', key.head_id)
              .orderBy('id')
              .limit(perKey)
              .execute();
      if (run[0]?.id !== key.head_id || run[0].state !== 'pending' || run[0].run_at > now) {
        stale.push(key.ordering_key);
        continue;
      }
      claimedKeys.push(key.ordering_key);
      // The run stops at the first operation not due (a retry later) or not pending.
      for (const op of run) {
        if (op.state !== 'pending' || op.run_at > now) break;
        ids.push(op.id);
      }
    }
    // A key row that does not match its operations is put right, and claimed next time.
    if (stale.length > 0) await refreshOrderingKeys(tx, stale.map((orderingKey) => ({ connector, orderingKey })), now);
    if (ids.length === 0) return [];
    const rows: OutboxRow[] = [];
    for (let i = 0; i < ids.length; i += 500) {
      rows.push(
        ...(await tx
          .updateTable('outbox')
          // `open` stays 1 and is not set: naming it would rewrite each row's entry in outbox_ordering_open (migration 0020).
          .set({
            state: 'in_flight',
            locked_by: workerId,
            lease_until: now + leaseMs,
            attempts: sql`attempts + 1`,
            updated_at: now,
          })
          .where('id', 'in', ids.slice(i, i + 500))
          .where('state', '=', 'pending')
          .returningAll()
          .execute()),
      );
    }
    for (let i = 0; i < claimedKeys.length; i += 500) {
      await tx.updateTable('outbox_keys').set({ ready_at: null }).where('connector', '=', connector).where('ordering_key', 'in', claimedKeys.slice(i, i + 500)).execute();
    }
    return rows.sort((a, b) => a.id - b.id).map(toOperation);
  }));
}

/**
 * The same claim as SQLite's, on PostgreSQL in one statement: a claim of 200 heads took six
 * round trips (begin, ready keys, heads, two updates, commit), and on a busy server each round
 * trip costs more than the work. Every step reads the same snapshot; the key rows stay locked
 * (FOR UPDATE SKIP LOCKED: another instance takes the next ready keys instead of waiting) until
 * the statement commits. A run is each key's open operations from its head on (its own index
 * range, `outbox_ordering_open`), cut at the first one not due; a key whose row names no due
 * head is stale and put right afterwards.
 */
async function claimInOneStatement(store: Store, connector: string, workerId: string, options: Required<ClaimOptions>): Promise<OutboxOperation[]> {
  const { limit, leaseMs, now, runLength, backgroundLimit } = options;
  const bigint = (value: number) => sql`cast(${value} as bigint)`;
  const readyInLane = (lane: 0 | 1) => sql`
      select ordering_key, head_id, ready_at, ${sql.lit(lane)} as lane from outbox_keys
      where connector = ${connector} and lane = ${sql.lit(lane)} and ready_at <= ${bigint(now)}
      order by ready_at, head_id
      limit ${bigint(lane === 0 ? limit : backgroundLimit)}
      for update skip locked`;
  const result = await sql<{ ops: OutboxRow[]; stale: string[] }>`
    with live as (
      -- Lane 0 (live work) first; background keys (lane 1) fill what room is left. Each lane is one
      -- index range; another instance's claim holds its keys' rows, so take the next ready ones.
      ${readyInLane(0)}
    ), background as (
      ${readyInLane(1)}
    ), ready as (
      select ordering_key, head_id from (select * from live union all select * from background) k
      order by lane, ready_at, head_id
      limit ${bigint(limit)}
    ), sized as (
      -- A run never takes room from other ready keys: each key gets an equal share of the limit.
      select ordering_key, head_id, greatest(1, least(${bigint(runLength)}, ${bigint(limit)} / count(*) over ())) as per_key from ready
    ), run as (
      select s.ordering_key, s.head_id, o.id, o.due, bool_and(o.due) over (partition by s.ordering_key order by o.id) as due_so_far
      from sized s
      left join lateral (
        select p.id, (p.state = 'pending' and p.run_at <= ${bigint(now)}) as due from outbox p
        where p.connector = ${connector} and p.ordering_key = s.ordering_key and ${OPEN_OPERATIONS} and p.id >= s.head_id
        order by p.id
        limit s.per_key
      ) o on true
    ), fresh as (
      select ordering_key from run where id = head_id and due
    ), claimed as (
      update outbox set state = 'in_flight', locked_by = ${workerId}, lease_until = ${bigint(now + leaseMs)}, attempts = attempts + 1, updated_at = ${bigint(now)}
      where id in (select id from run where due_so_far and ordering_key in (select ordering_key from fresh)) and state = 'pending'
      returning *
    ), busy as (
      update outbox_keys set ready_at = null
      where connector = ${connector} and ordering_key in (select ordering_key from fresh)
      returning 1
    )
    select
      (select coalesce(json_agg(c order by c.id), '[]'::json) from claimed c) as ops,
      (select coalesce(json_agg(r.ordering_key), '[]'::json) from ready r where r.ordering_key not in (select ordering_key from fresh)) as stale`.execute(store.db);
  const { ops, stale } = result.rows[0]!;
  // A key row that does not match its operations is put right, and claimed next time.
  if (stale.length > 0) await inTransaction(store.db, (tx) => refreshOrderingKeys(tx, stale.map((orderingKey) => ({ connector, orderingKey })), now));
  return ops.map(toOperation);
}

/** The keys of the operations a statement changed, to refresh their queue state. */
function keysOf(rows: ReadonlyArray<{ connector: string; ordering_key: string }>): OrderingKeyRef[] {
  return rows.map((row) => ({ connector: row.connector, orderingKey: row.ordering_key }));
}

/** Puts operations whose lease ran out (their worker died) back in line. Returns how many. */
export async function releaseExpiredLeases(db: Db, now: number): Promise<number> {
  return inTransaction(db, async (tx) => {
    const rows = await tx
      .updateTable('outbox')
      .set({ state: 'pending', locked_by: null, lease_until: null, updated_at: now })
      .where('state', '=', 'in_flight')
      .where('lease_until', '<', now)
      .returning(['connector', 'ordering_key'])
      .execute();
    if (rows.length > 0) await refreshOrderingKeys(tx, keysOf(rows), now);
    return rows.length;
  });
}

/** Keeps this worker's leases alive while its operations wait for rate budget or a slow vendor. */
export async function extendLeases(db: Db, workerId: string, ids: readonly number[], leaseUntil: number): Promise<number> {
  if (ids.length === 0) return 0;
  let extended = 0;
  for (let i = 0; i < ids.length; i += 500) {
    const result = await db
      .updateTable('outbox')
      .set({ lease_until: leaseUntil })
      .where('id', 'in', ids.slice(i, i + 500))
      .where('locked_by', '=', workerId)
      .where('state', '=', 'in_flight')
      .executeTakeFirst();
    extended += Number(result.numUpdatedRows);
  }
  return extended;
}

/** Hands in-flight operations of this worker back without using up an attempt (graceful shutdown). */
export async function releaseOperations(db: Db, workerId: string, ids: readonly number[], now: number): Promise<void> {
  if (ids.length === 0) return;
  await inTransaction(db, async (tx) => {
    for (let i = 0; i < ids.length; i += 500) {
      const rows = await tx
        .updateTable('outbox')
        .set({ state: 'pending', locked_by: null, lease_until: null, attempts: sql`attempts - 1`, updated_at: now })
        .where('id', 'in', ids.slice(i, i + 500))
        .where('locked_by', '=', workerId)
        .where('state', '=', 'in_flight')
        .returning(['connector', 'ordering_key'])
        .execute();
      await refreshOrderingKeys(tx, keysOf(rows), now);
    }
  });
}

/**
 * Marks operations done. Only the worker holding the lease may; returns the ids it did complete.
 * `refreshLater` (here and in fail and defer): collect the keys for one refreshOrderingKeys at the
 * end of the caller's transaction, so its key rows are locked once, in order (no deadlock).
 */
export async function completeOperations(
  db: Db,
  workerId: string,
  done: ReadonlyArray<{ id: number; result: JsonValue | undefined }>,
  now: number,
  refreshLater?: OrderingKeyRef[],
): Promise<number[]> {
  return inTransaction(db, async (tx) => {
    const completed: Array<{ id: number; connector: string; ordering_key: string }> = [];
    const plain = done.filter((d) => d.result === undefined).map((d) => d.id);
    for (let i = 0; i < plain.length; i += 500) {
      const rows = await tx
        .updateTable('outbox')
        .set({ state: 'done', open: 0, locked_by: null, lease_until: null, last_error: null, updated_at: now })
        .where('id', 'in', plain.slice(i, i + 500))
        .where('locked_by', '=', workerId)
        .where('state', '=', 'in_flight')
        .returning(['id', 'connector', 'ordering_key'])
        .execute();
      completed.push(...rows);
    }
    for (const item of done) {
      if (item.result === undefined) continue;
      const row = await tx
        .updateTable('outbox')
        .set({ state: 'done', open: 0, locked_by: null, lease_until: null, last_error: null, result: JSON.stringify(item.result), updated_at: now })
        .where('id', '=', item.id)
        .where('locked_by', '=', workerId)
        .where('state', '=', 'in_flight')
        .returning(['id', 'connector', 'ordering_key'])
        .executeTakeFirst();
      if (row) completed.push(row);
    }
    if (refreshLater) refreshLater.push(...keysOf(completed));
    else await refreshOrderingKeys(tx, keysOf(completed), now);
    return completed.map((row) => row.id);
  });
}

/**
 * Changes an operation this worker holds the lease of, and refreshes its key (or, with
 * `refreshLater`, leaves that to the caller); whether it did.
 */
async function settleLeased(db: Db, workerId: string, id: number, changes: UpdateObject<Database, 'outbox'>, now: number, refreshLater?: OrderingKeyRef[]): Promise<boolean> {
  return inTransaction(db, async (tx) => {
    const row = await tx
      .updateTable('outbox')
      .set(changes)
      .where('id', '=', id)
      .where('locked_by', '=', workerId)
      .where('state', '=', 'in_flight')
      .returning(['connector', 'ordering_key'])
      .executeTakeFirst();
    if (row && refreshLater) refreshLater.push(...keysOf([row]));
    else if (row) await refreshOrderingKeys(tx, keysOf([row]), now);
    return row !== undefined;
  });
}

/** Records a failed attempt: back to pending at `retryAt`, or dead when `retryAt` is null. */
export async function failOperation(
  db: Db,
  workerId: string,
  id: number,
  error: string,
  retryAt: number | null,
  now: number,
  refreshLater?: OrderingKeyRef[],
): Promise<boolean> {
  const settled = { locked_by: null, lease_until: null, last_error: error.slice(0, 4000), updated_at: now };
  // A retry stays unfinished: it leaves `open` (and its index entry) as it is.
  const changes: UpdateObject<Database, 'outbox'> = retryAt === null ? { ...settled, state: 'dead', open: 0, run_at: now } : { ...settled, state: 'pending', run_at: retryAt };
  return settleLeased(db, workerId, id, changes, now, refreshLater);
}

/** Puts an operation back without counting the attempt (e.g. the connector is blocked or rate-limited before calling). */
export async function deferOperation(db: Db, workerId: string, id: number, runAt: number, now: number, refreshLater?: OrderingKeyRef[]): Promise<void> {
  await settleLeased(db, workerId, id, { state: 'pending', run_at: runAt, locked_by: null, lease_until: null, attempts: sql`attempts - 1`, updated_at: now }, now, refreshLater);
}

/**
 * Brings a pending operation that waits for a later time forward to now (something it waited
 * for has happened). Its key is ready now too when that operation is the key's head: a key's
 * `ready_at` only moves later on refresh, so waking must move it explicitly. Returns whether
 * an operation was woken.
 */
export async function runPendingOperationNow(tx: Db, idempotencyKey: string, now: number): Promise<boolean> {
  const op = await tx
    .selectFrom('outbox')
    .select(['id', 'connector', 'ordering_key'])
    .where('idempotency_key', '=', idempotencyKey)
    .where('state', '=', 'pending')
    .where('run_at', '>', now)
    .executeTakeFirst();
  if (!op) return false;
  await tx.updateTable('outbox').set({ run_at: now, updated_at: now }).where('id', '=', op.id).execute();
  await tx
    .updateTable('outbox_keys')
    .set({ ready_at: now })
    .where('connector', '=', op.connector)
    .where('ordering_key', '=', op.ordering_key)
    .where('head_id', '=', op.id)
    .where('ready_at', '>', now)
    .execute();
  return true;
}

/**
 * "Retry now": a connector's operations waiting out a backoff run at once (a person fixed the
 * cause). Their keys' queue rows move with them. Returns how many.
 */
export async function runBackedOffNow(db: Db, connector: string, now: number): Promise<number> {
  return inTransaction(db, async (tx) => {
    const rows = await tx
      .updateTable('outbox')
      .set({ run_at: now, updated_at: now })
      .where('connector', '=', connector)
      .where('state', '=', 'pending')
      .where('attempts', '>', 0)
      .where('run_at', '>', now)
      .returning(['id', 'connector', 'ordering_key'])
      .execute();
    if (rows.length === 0) return 0;
    // A key's ready_at only moves later on refresh (see runPendingOperationNow): the keys whose
    // head was brought forward are made ready explicitly.
    await tx
      .updateTable('outbox_keys')
      .set({ ready_at: now })
      .where('connector', '=', connector)
      .where('head_id', 'in', rows.map((r) => r.id))
      .where('ready_at', '>', now)
      .execute();
    return rows.length;
  });
}

export interface ReplaySelection {
  readonly ids?: readonly number[];
  readonly connector?: string;
}

/** Sends dead operations back to pending with fresh attempts. Returns how many. */
export async function replayDeadOperations(db: Db, selection: ReplaySelection, now: number): Promise<number> {
  return inTransaction(db, async (tx) => {
    let query = tx
      .updateTable('outbox')
      .set({ state: 'pending', open: 1, attempts: 0, run_at: now, updated_at: now })
      .where('state', '=', 'dead');
    if (selection.ids && selection.ids.length > 0) query = query.where('id', 'in', [...selection.ids]);
    if (selection.connector) query = query.where('connector', '=', selection.connector);
    const rows = await query.returning(['connector', 'ordering_key']).execute();
    await refreshOrderingKeys(tx, keysOf(rows), now);
    return rows.length;
  });
}

export interface OutboxDepth {
  readonly connector: string;
  readonly state: OperationState;
  readonly count: number;
  /** Creation time of the oldest operation in this state. */
  readonly oldestCreatedAt: number | null;
}

/** A vendor's latest word on what is left of its daily allowance (`status` and the dashboard show it). */
export async function saveVendorQuota(db: Db, connector: string, quota: { remaining: number; max: number }, now: number): Promise<void> {
  const value = JSON.stringify({ ...quota, at: now });
  await db
    .insertInto('connector_state')
    .values({ connector, key: 'quota', value, updated_at: now })
    .onConflict((oc) => oc.columns(['connector', 'key']).doUpdateSet({ value, updated_at: now }))
    .execute();
}

export async function outboxDepth(db: Db): Promise<OutboxDepth[]> {
  const rows = await db
    .selectFrom('outbox')
    .select(['connector', 'state', (eb) => eb.fn.countAll<number>().as('count'), (eb) => eb.fn.min('created_at').as('oldest')])
    .groupBy(['connector', 'state'])
    .orderBy('connector')
    .orderBy('state')
    .execute();
  return rows.map((r) => ({
    connector: r.connector,
    state: r.state,
    count: Number(r.count),
    oldestCreatedAt: r.oldest === null ? null : Number(r.oldest),
  }));
}

export async function listOperations(
  db: Db,
  filter: { state?: OperationState; connector?: string; limit: number },
): Promise<OutboxOperation[]> {
  let query = db.selectFrom('outbox').selectAll().orderBy('id').limit(filter.limit);
  if (filter.state) query = query.where('state', '=', filter.state);
  if (filter.connector) query = query.where('connector', '=', filter.connector);
  return (await query.execute()).map(toOperation);
}
