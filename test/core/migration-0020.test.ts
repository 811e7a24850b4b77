// Migration 0020: `outbox_ordering_open` is partial on an `open` flag instead of on `state`, so a
// claim (pending -> in_flight) no longer rewrites each claimed row's entry in it (on SQLite one
// leaf page per key). The flag follows every state transition, and the store derives it for a
// writer that sets only the state (an older binary during an upgrade, a hand edit).
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { discardDeadOperations } from '../../core/outbox/inspect.js';
import { OPEN_OPERATIONS } from '../../core/outbox/key-queue.js';
import {
  claimOperations,
  completeOperations,
  deferOperation,
  enqueueOperations,
  failOperation,
  releaseExpiredLeases,
  releaseOperations,
  replayDeadOperations,
  type OperationDraft,
} from '../../core/outbox/queries.js';
import { openStore, type Store } from '../../core/store/store.js';
import { freshStorePerTest } from '../helpers/store-per-test.js';
import { freshStoreUrl, STORE_KINDS, tempDir } from '../helpers/stores.js';

const draft = (key: string, orderingKey: string): OperationDraft => ({ kind: 'op', key, orderingKey, payload: { key } });

describe.each(STORE_KINDS)('the outbox open flag on %s', (kind) => {
  const fresh = freshStorePerTest(kind);
  const now = 1_700_000_000_000;

  const flags = async () => {
    const rows = await fresh.store.db.selectFrom('outbox').select(['idempotency_key', 'state', 'open']).orderBy('id').execute();
    return rows.map((r) => `${r.idempotency_key.split(':').pop()} ${r.state} ${Number(r.open)}`);
  };
  const claim = (at: number) => claimOperations(fresh.store, 'c', 'w', { limit: 10, leaseMs: 1000, now: at });

  it('is 1 while an operation is unfinished and 0 once it is settled, through every transition', async () => {
    const db = fresh.store.db;
    await enqueueOperations(db, 'c', [draft('a', 'A'), draft('b', 'B'), draft('c', 'C')], { maxAttempts: 3, now });
    expect(await flags()).toEqual(['a pending 1', 'b pending 1', 'c pending 1']);
    const [a, b, c] = await claim(now);
    expect(await flags()).toEqual(['a in_flight 1', 'b in_flight 1', 'c in_flight 1']);
    await failOperation(db, 'w', a!.id, 'try again', now + 10, now);
    await failOperation(db, 'w', b!.id, 'gave up', null, now);
    await completeOperations(db, 'w', [{ id: c!.id, result: { ok: true } }], now);
    expect(await flags()).toEqual(['a pending 1', 'b dead 0', 'c done 0']);
    expect(await replayDeadOperations(db, { ids: [b!.id] }, now)).toBe(1);
    expect(await flags()).toEqual(['a pending 1', 'b pending 1', 'c done 0']);
    const [a2, b2] = await claim(now + 10);
    await releaseOperations(db, 'w', [a2!.id], now + 10);
    await db.transaction().execute((tx) => deferOperation(tx, 'w', b2!.id, now + 20, now + 10));
    expect(await flags()).toEqual(['a pending 1', 'b pending 1', 'c done 0']);
    const [a3, b3] = await claim(now + 20);
    expect(await releaseExpiredLeases(db, now + 20 + 1001)).toBe(2);
    expect(await flags()).toEqual(['a pending 1', 'b pending 1', 'c done 0']);
    const [a4, b4] = await claim(now + 2000);
    expect([a3, b3, a4, b4].every((op) => op !== undefined)).toBe(true);
    await completeOperations(db, 'w', [{ id: a4!.id, result: undefined }], now + 2000);
    await failOperation(db, 'w', b4!.id, 'gave up', null, now + 2000);
    expect(await discardDeadOperations(db, [b4!.id], now + 2000)).toEqual([b4!.id]);
    expect(await flags()).toEqual(['a done 0', 'b discarded 0', 'c done 0']);
  });

  it('is derived from the state for a writer that sets only the state', async () => {
    const db = fresh.store.db;
    const row = (key: string, state: 'pending' | 'in_flight' | 'done' | 'dead') => ({
      idempotency_key: `c:op:${key}`, connector: 'c', kind: 'op', ordering_key: key.toUpperCase(), payload: '{}', state, run_at: now, attempts: 0, max_attempts: 3,
      locked_by: null, lease_until: null, last_error: null, result: null, created_at: now, updated_at: now,
    });
    await db.insertInto('outbox').values([row('p', 'pending'), row('f', 'in_flight'), row('d', 'done'), row('x', 'dead')]).execute();
    expect(await flags()).toEqual(['p pending 1', 'f in_flight 1', 'd done 0', 'x dead 0']);
    // A flag contradicting the state is put right too.
    await db.insertInto('outbox').values({ ...row('y', 'dead'), open: 1 }).execute();
    await db.updateTable('outbox').set({ state: 'done' }).where('idempotency_key', 'in', ['c:op:p', 'c:op:f']).execute();
    await db.updateTable('outbox').set({ state: 'pending' }).where('idempotency_key', '=', 'c:op:x').execute();
    expect(await flags()).toEqual(['p done 0', 'f done 0', 'd done 0', 'x pending 1', 'y dead 0']);
  });

  it('a store from before 0020 gets the flag from its operations\' states', async () => {
    const old = freshStoreUrl(kind);
    try {
      const before = await openStore(old.url, { migrateUpTo: '0019_consents' });
      const values = (['pending', 'in_flight', 'done', 'dead', 'discarded'] as const).map((state, i) => sql`(${`c:op:${i}`}, 'c', 'op', 'K', '{}', ${state}, 0, 0, 3, 0, 0)`);
      await sql`insert into outbox (idempotency_key, connector, kind, ordering_key, payload, state, run_at, attempts, max_attempts, created_at, updated_at) values ${sql.join(values)}`.execute(before.db);
      await before.close();
      const after = await openStore(old.url);
      const rows = await after.db.selectFrom('outbox').select(['state', 'open']).orderBy('id').execute();
      expect(rows.map((r) => `${r.state} ${Number(r.open)}`)).toEqual(['pending 1', 'in_flight 1', 'done 0', 'dead 0', 'discarded 0']);
      await after.close();
    } finally {
      await old.drop();
    }
  });
});

describe('a claim on SQLite', () => {
  const fresh = freshStorePerTest('sqlite');

  it("reads a key's run from outbox_ordering_open: the queries state its condition as the index does", async () => {
    const query = fresh.store.db.selectFrom('outbox').select('id').where('connector', '=', 'c').where('ordering_key', '=', 'K').where(OPEN_OPERATIONS).where('id', '>=', 1).orderBy('id').limit(5).compile();
    const plan = (await fresh.store.db.executeQuery({ ...query, sql: `explain query plan ${query.sql}` })).rows as Array<{ detail: string }>;
    expect(plan.map((r) => r.detail).join('\n')).toMatch(/USING (COVERING )?INDEX outbox_ordering_open \(connector=\? AND ordering_key=\? AND id>\?\)/);
  });

  /** Pages a claim of 200 keys writes to the log (its commit's frames). */
  async function framesOfClaim(store: Store, now: number): Promise<number> {
    await sql`pragma wal_checkpoint(TRUNCATE)`.execute(store.db);
    const claimed = await claimOperations(store, 'c', 'w', { limit: 200, leaseMs: 60_000, now });
    expect(claimed).toHaveLength(200);
    const [log] = (await sql<{ log: number }>`pragma wal_checkpoint(PASSIVE)`.execute(store.db)).rows;
    return log!.log;
  }

  it('writes no page of outbox_ordering_open: as many pages as the same claim without that index', async () => {
    // 600 keys of 4 operations each; long keys put each claimed key's index entries on leaf pages of their own.
    const path = join(tempDir(), 'store.sqlite');
    const now = 1_700_000_000_000;
    const store = await openStore(`sqlite:${path}`);
    const drafts = Array.from({ length: 2400 }, (_, i) => draft(`op${i}`, `contact:${String(i % 600).padStart(4, '0')}:${'k'.repeat(400)}`));
    await enqueueOperations(store.db, 'c', drafts, { maxAttempts: 3, now });
    await sql`pragma wal_checkpoint(TRUNCATE)`.execute(store.db);
    await store.close();
    const copy = join(tempDir(), 'store.sqlite');
    copyFileSync(path, copy);
    const withIndex = await openStore(`sqlite:${path}`);
    const withoutIndex = await openStore(`sqlite:${copy}`);
    try {
      await sql`drop index outbox_ordering_open`.execute(withoutIndex.db);
      const withFrames = await framesOfClaim(withIndex, now);
      const withoutFrames = await framesOfClaim(withoutIndex, now);
      // Before 0020 the index cost one page per claimed key here (~100 more); a few pages of
      // slack for the free pages the dropped index left, which the other store reuses.
      expect(withFrames - withoutFrames).toBeLessThanOrEqual(5);
      expect(withFrames).toBeGreaterThan(0);
    } finally {
      await withIndex.close();
      await withoutIndex.close();
    }
  });
});
