// The outbox's per-key queues (core/outbox/key-queue.ts) on SQLite and the local PostgreSQL
// server: turns by age, runs of one key, claims that cost what they return, migrated and healed
// key state, and enqueues racing completions.
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, SqliteDialect } from 'kysely';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { claimOperations, completeOperations, deferOperation, enqueueOperations, failOperation, runPendingOperationNow, releaseExpiredLeases, releaseOperations, type OperationDraft } from '../../core/outbox/queries.js';
import { healBusyKeys, rebuildOrderingKeys } from '../../core/outbox/key-queue.js';
import { StaticMigrationProvider } from '../../core/store/migrations.js';
import { openStore, type Store } from '../../core/store/store.js';
import { freshStoreUrl, STORE_KINDS, type StoreKind } from '../helpers/stores.js';

const draft = (key: string, orderingKey: string): OperationDraft => ({ kind: 'message.forward', key, orderingKey, payload: { key } });
const keysOf = (ops: ReadonlyArray<{ payload: unknown }>) => ops.map((o) => (o.payload as { key: string }).key);

/** Opens the store's database without migrating it to the latest version (to build an older store). */
function rawDatabase(kind: StoreKind, url: string): { db: Kysely<unknown>; schema?: string } {
  if (kind === 'sqlite') return { db: new Kysely<unknown>({ dialect: new SqliteDialect({ database: new SQLite(url.slice('sqlite:'.length)) }) }) };
  const parsed = new URL(url);
  const schema = parsed.searchParams.get('schema')!;
  parsed.searchParams.delete('schema');
  const pool = new pg.Pool({ connectionString: parsed.toString(), options: `-c search_path=${schema}` });
  return { db: new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) }), schema };
}

describe.each(STORE_KINDS)('outbox key queues on %s', (kind) => {
  let store: Store;
  let url: string;
  let drop: () => Promise<void>;
  const now = 1_700_000_000_000;
  const claim = (worker: string, limit: number, at = now, runLength = 1) => claimOperations(store, 'c', worker, { limit, leaseMs: 1000, now: at, runLength });
  const complete = (worker: string, ops: ReadonlyArray<{ id: number }>, at = now) => completeOperations(store.db, worker, ops.map((o) => ({ id: o.id, result: undefined })), at);

  beforeEach(async () => {
    const fresh = freshStoreUrl(kind);
    ({ url, drop } = fresh);
    store = await openStore(url);
  });
  afterEach(async () => {
    await store.close();
    await drop();
  });

  it('claims background keys only after every ready live key, however long the background has waited', async () => {
    // An imported history: many background keys, all waiting since before the live message came.
    await enqueueOperations(store.db, 'c', Array.from({ length: 30 }, (_, i) => draft(`h${i}`, `background:message:${i}`)), { maxAttempts: 3, now });
    await enqueueOperations(store.db, 'c', [draft('live1', 'contact:1'), draft('live2', 'contact:2')], { maxAttempts: 3, now: now + 50 });
    const first = await claim('w', 5, now + 100);
    expect(keysOf(first).sort()).toEqual(['h0', 'h1', 'h2', 'live1', 'live2']);
    // Background work still drains when no live work is ready.
    const second = await claim('w', 5, now + 100);
    expect(keysOf(second)).toEqual(['h3', 'h4', 'h5', 'h6', 'h7']);
    // A rebuilt queue (a restore) keeps the lanes.
    await store.db.transaction().execute((tx) => rebuildOrderingKeys(tx));
    const lanes = await store.db.selectFrom('outbox_keys').select(['ordering_key', 'lane']).execute();
    expect(lanes.filter((k) => k.lane === 1).every((k) => k.ordering_key.startsWith('background:'))).toBe(true);
    expect(lanes.filter((k) => k.lane === 1).length).toBe(30);
  });

  it('serves ready keys by the age of their turn: a key whose work just finished waits behind the keys already waiting', async () => {
    await enqueueOperations(store.db, 'c', [draft('a1', 'A'), draft('a2', 'A'), draft('a3', 'A')], { maxAttempts: 3, now });
    await enqueueOperations(store.db, 'c', [draft('b1', 'B')], { maxAttempts: 3, now: now + 10 });
    await enqueueOperations(store.db, 'c', [draft('c1', 'C')], { maxAttempts: 3, now: now + 20 });
    const served: string[] = [];
    for (let round = 0; round < 5; round++) {
      const at = now + 100 + round;
      const ops = await claim('w', 1, at);
      served.push(...keysOf(ops));
      await complete('w', ops, at);
    }
    // Before key queues, A's later operations (lower ids) went first every time: a1 a2 a3 b1 c1.
    expect(served).toEqual(['a1', 'b1', 'c1', 'a2', 'a3']);
  });

  it('hands out a run of one key in order, stopping before an operation in flight or not due, and never at other keys\' cost', async () => {
    await enqueueOperations(store.db, 'c', Array.from({ length: 8 }, (_, i) => draft(`a${i + 1}`, 'A')), { maxAttempts: 3, now });
    const run = await claim('w', 100, now, 5);
    expect(keysOf(run)).toEqual(['a1', 'a2', 'a3', 'a4', 'a5']);
    expect(run.every((o) => o.state === 'in_flight' && o.attempts === 1)).toBe(true);
    // The key is busy while its run is out.
    expect(await claim('w2', 100, now, 5)).toEqual([]);
    // a1 and a2 done, a3 failed (retry later): the key waits for a3; a4 and a5 are behind it.
    await complete('w', run.slice(0, 2));
    await failOperation(store.db, 'w', run[2]!.id, 'VendorError: 503', now + 5000, now);
    await complete('w', run.slice(3));
    expect(await claim('w', 100, now + 100, 5)).toEqual([]);
    expect(keysOf(await claim('w', 100, now + 5000, 5))).toEqual(['a3', 'a6', 'a7', 'a8']);

    // With other keys ready, each gets its head before any run grows.
    await enqueueOperations(store.db, 'c', [...Array.from({ length: 6 }, (_, i) => draft(`f${i}`, 'F')), draft('x1', 'X'), draft('y1', 'Y'), draft('z1', 'Z')], { maxAttempts: 3, now: now + 6000 });
    const shared = await claim('w', 4, now + 6000, 5);
    expect(keysOf(shared).sort()).toEqual(['f0', 'x1', 'y1', 'z1']);
  });

  it('claims cost what they return, not what is queued behind one key', async () => {
    const time = async (at: number) => {
      const started = performance.now();
      const ops = await claim('w', 200, at);
      const ms = performance.now() - started;
      await complete('w', ops, at);
      return { ms, count: ops.length };
    };
    // The baseline claims the same (one operation, so one durable commit) from a queue of one.
    await enqueueOperations(store.db, 'c', [draft('warm', 'W')], { maxAttempts: 3, now });
    await time(now);
    const single: number[] = [];
    for (let i = 0; i < 5; i++) {
      await enqueueOperations(store.db, 'c', [draft(`w${i}`, 'W')], { maxAttempts: 3, now: now + 1 + i });
      const result = await time(now + 1 + i);
      expect(result.count).toBe(1);
      single.push(result.ms);
    }
    const backlog = 30_000;
    for (let i = 0; i < backlog; i += 5000) {
      await enqueueOperations(store.db, 'c', Array.from({ length: 5000 }, (_, j) => draft(`h${i + j}`, 'HOT')), { maxAttempts: 3, now: now + 10 });
    }
    const loaded: number[] = [];
    for (let i = 0; i < 5; i++) {
      const result = await time(now + 100 + i);
      expect(result.count).toBe(1);
      loaded.push(result.ms);
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    // Before key queues this walked all 30,000 pending rows (about 40 ms on SQLite, 30 ms on
    // PostgreSQL here). The margin is for a busy machine, not for the backlog.
    expect(median(loaded)).toBeLessThan(median(single) * 3 + 5);
  });

  it('claims and hands back 200 heads among 20,000 ready keys for about what it costs among 200', async () => {
    const timeClaim = async (at: number) => {
      const times: number[] = [];
      for (let i = 0; i < 3; i++) {
        const started = performance.now();
        const ops = await claim('w', 200, at);
        expect(ops.length).toBe(200);
        // Handing them back refreshes 200 key rows: each finds its key's head again.
        await releaseOperations(store.db, 'w', ops.map((o) => o.id), at);
        times.push(performance.now() - started);
      }
      return times.sort((a, b) => a - b)[1]!;
    };
    await enqueueOperations(store.db, 'c', Array.from({ length: 200 }, (_, i) => draft(`s${i}`, `small${i}`)), { maxAttempts: 3, now });
    const small = await timeClaim(now);
    await store.db.deleteFrom('outbox').execute();
    await store.db.deleteFrom('outbox_keys').execute();
    for (let i = 0; i < 20_000; i += 5000) {
      await enqueueOperations(store.db, 'c', Array.from({ length: 5000 }, (_, j) => draft(`m${i + j}`, `many${i + j}`)), { maxAttempts: 3, now });
    }
    const many = await timeClaim(now);
    // When the open-operations index went unused (SQLite and bound values), this took 300 ms
    // and more: each key's head was looked for among all pending rows. Margin for a busy machine.
    expect(many).toBeLessThan(small * 4 + 20);
  }, 60_000);

  it('builds key queues for a store that had operations before they existed', async () => {
    await store.close();
    await drop();
    const fresh = freshStoreUrl(kind);
    ({ url, drop } = fresh);
    if (kind === 'postgres') {
      const client = new pg.Client({ connectionString: url.split('?')[0] });
      await client.connect();
      await client.query(`create schema "${new URL(url).searchParams.get('schema')}"`);
      await client.end();
    }
    const raw = rawDatabase(kind, url);
    const migrator = new Migrator({ db: raw.db, provider: new StaticMigrationProvider(kind), ...(raw.schema ? { migrationTableSchema: raw.schema } : {}) });
    expect((await migrator.migrateTo('0007_totp_last_step')).error).toBeUndefined();
    const row = (id: number, orderingKey: string, state: string, extra: Record<string, unknown> = {}) => ({
      id, idempotency_key: `c:message.forward:${id}`, connector: 'c', kind: 'message.forward', ordering_key: orderingKey, payload: JSON.stringify({ key: `op${id}` }),
      state, run_at: now, attempts: state === 'pending' ? 0 : 1, max_attempts: 3, locked_by: null, lease_until: null, last_error: null, result: null, created_at: now, updated_at: now, ...extra,
    });
    await raw.db
      .insertInto('outbox' as never)
      .values([
        row(1, 'A', 'done'), row(2, 'A', 'pending'), row(3, 'A', 'pending'),
        row(4, 'B', 'in_flight', { locked_by: 'old-worker', lease_until: now + 1000 }), row(5, 'B', 'pending'),
        row(6, 'C', 'dead'), row(7, 'C', 'pending', { run_at: now + 60_000 }),
        row(8, 'D', 'done'),
      ] as never)
      .execute();
    await raw.db.destroy();

    store = await openStore(url);
    const first = await claim('w', 10, now);
    expect(keysOf(first)).toEqual(['op2']);
    await complete('w', first);
    // B's head is still leased to the old worker; once that lease runs out, B carries on in order.
    expect(await releaseExpiredLeases(store.db, now + 1001)).toBe(1);
    const second = await claim('w', 10, now + 1001);
    expect(keysOf(second)).toEqual(['op3', 'op4']);
    expect(second.find((o) => o.idempotencyKey.endsWith(':4'))!.attempts).toBe(2);
    await complete('w', second, now + 1001);
    expect(keysOf(await claim('w', 10, now + 60_000))).toEqual(['op5', 'op7']);
    const keyRows = await store.db.selectFrom('outbox_keys').select('ordering_key').orderBy('ordering_key').execute();
    // A has nothing left; B and C are busy with their last operations; D never had a row.
    expect(keyRows.map((r) => r.ordering_key)).toEqual(['B', 'C']);
  });

  it('an operation with a settle time is not claimed before it has settled, and neither are the ones behind it', async () => {
    await enqueueOperations(store.db, 'c', [{ ...draft('s1', 'S'), settleMs: 2000 }, draft('s2', 'S')], { maxAttempts: 3, now });
    await enqueueOperations(store.db, 'c', [draft('t1', 'T')], { maxAttempts: 3, now: now + 10 });
    // The settling key holds no place in line: its row is ready when the head may run.
    const row = await store.db.selectFrom('outbox_keys').select('ready_at').where('ordering_key', '=', 'S').executeTakeFirstOrThrow();
    expect(Number(row.ready_at)).toBe(now + 2000);
    expect(keysOf(await claim('w', 10, now + 1999, 4))).toEqual(['t1']);
    const settled = await claim('w', 10, now + 2000, 4);
    expect(keysOf(settled)).toEqual(['s1', 's2']);
    // Counted from when it was queued, not from when it was claimed.
    expect(settled[0]!.createdAt).toBe(now);
  });

  it('a deferred head woken early is claimable at once, its key ready too', async () => {
    await enqueueOperations(store.db, 'c', [draft('a1', 'A')], { maxAttempts: 3, now });
    const [op] = await claim('w', 1);
    // The operation waits a minute (e.g. for a lost send's status webhooks) ...
    await store.db.transaction().execute((tx) => deferOperation(tx, 'w', op!.id, now + 60_000, now));
    expect(await claim('w', 1, now + 10)).toEqual([]);
    // ... and what it waited for arrives after 20 ms: it runs now, not in a minute.
    const woken = await store.db.transaction().execute((tx) => runPendingOperationNow(tx, `c:message.forward:a1`, now + 20));
    expect(woken).toBe(true);
    expect(keysOf(await claim('w', 1, now + 30))).toEqual(['a1']);
  });

  it('puts right a busy key whose head was finished behind its back, at the next heal', async () => {
    await enqueueOperations(store.db, 'c', [draft('a1', 'A'), draft('a2', 'A')], { maxAttempts: 3, now });
    const [head] = await claim('w', 10);
    // An older binary (or a hand edit) finishes the operation without touching the key queue.
    await store.db.updateTable('outbox').set({ state: 'done', locked_by: null, lease_until: null }).where('id', '=', head!.id).execute();
    expect(await claim('w', 10, now + 1)).toEqual([]);
    // The lease sweep (every few seconds) no longer reads every key row; the heal does, less often.
    await releaseExpiredLeases(store.db, now + 2);
    expect(await claim('w', 10, now + 3)).toEqual([]);
    expect(await healBusyKeys(store.db, now + 4)).toBe(1);
    expect(keysOf(await claim('w', 10, now + 5))).toEqual(['a2']);
  });

  it('loses no operation when enqueues race completions of the same keys', async () => {
    const keys = ['K1', 'K2', 'K3'];
    const total = 240;
    const seen: string[] = [];
    let enqueued = 0;
    const enqueuer = async () => {
      for (let i = 0; i < total; i += 4) {
        await enqueueOperations(store.db, 'c', [0, 1, 2, 3].map((j) => draft(`op${String(i + j).padStart(4, '0')}`, keys[(i + j) % keys.length]!)), { maxAttempts: 3, now });
        enqueued += 4;
        await new Promise((r) => setImmediate(r));
      }
    };
    const worker = async (name: string) => {
      while (seen.length < total) {
        const ops = await claim(name, 2, now, 3);
        seen.push(...keysOf(ops));
        await complete(name, ops);
        if (ops.length === 0) await new Promise((r) => setTimeout(r, enqueued >= total ? 20 : 1));
      }
    };
    await Promise.all([enqueuer(), worker('w1'), worker('w2')]);
    expect(new Set(seen).size).toBe(total);
    expect(seen.length).toBe(total);
    // Within each key, in the order queued.
    for (const key of keys) {
      const ofKey = seen.filter((k) => Number(k.slice(2)) % keys.length === keys.indexOf(key));
      expect(ofKey).toEqual([...ofKey].sort());
    }
    expect(await store.db.selectFrom('outbox_keys').selectAll().execute()).toEqual([]);
  }, 60_000);
});
