// The outbox queries, run against SQLite and the local PostgreSQL server.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  claimOperations,
  completeOperations,
  enqueueOperations,
  failOperation,
  outboxDepth,
  releaseExpiredLeases,
  replayDeadOperations,
  type OperationDraft,
} from '../../core/outbox/queries.js';
import { openStore, type Store } from '../../core/store/store.js';
import { freshStoreUrl, STORE_KINDS } from '../helpers/stores.js';

const draft = (key: string, orderingKey: string, kind = 'message.forward'): OperationDraft => ({ kind, key, orderingKey, payload: { key } });

describe.each(STORE_KINDS)('outbox on %s', (kind) => {
  let store: Store;
  let drop: () => Promise<void>;
  const now = 1_700_000_000_000;
  const claim = (worker: string, limit = 10, at = now) => claimOperations(store, 'c', worker, { limit, leaseMs: 1000, now: at });

  beforeEach(async () => {
    const fresh = freshStoreUrl(kind);
    drop = fresh.drop;
    store = await openStore(fresh.url);
  });
  afterEach(async () => {
    await store.close();
    await drop();
  });

  it('queues an idempotency key once, however often it is enqueued', async () => {
    expect(await enqueueOperations(store.db, 'c', [draft('a', 'k1'), draft('b', 'k1')], { maxAttempts: 3, now })).toBe(2);
    expect(await enqueueOperations(store.db, 'c', [draft('a', 'k1'), draft('c', 'k2')], { maxAttempts: 3, now })).toBe(1);
    const depth = await outboxDepth(store.db);
    expect(depth).toEqual([{ connector: 'c', state: 'pending', count: 3, oldestCreatedAt: now }]);
  });

  it('claims only the head of each ordering key, so one key runs in order and keys run in parallel', async () => {
    await enqueueOperations(store.db, 'c', [draft('a1', 'A'), draft('a2', 'A'), draft('b1', 'B'), draft('a3', 'A'), draft('b2', 'B')], { maxAttempts: 3, now });
    const first = await claim('w1');
    expect(first.map((o) => o.payload)).toEqual([{ key: 'a1' }, { key: 'b1' }]);
    expect(first.every((o) => o.attempts === 1 && o.state === 'in_flight')).toBe(true);
    expect(await claim('w2')).toEqual([]);
    await completeOperations(store.db, 'w1', [{ id: first[0]!.id, result: undefined }], now);
    expect((await claim('w2')).map((o) => o.payload)).toEqual([{ key: 'a2' }]);
  });

  it('holds later operations of a key while an earlier one waits to be retried', async () => {
    await enqueueOperations(store.db, 'c', [draft('a1', 'A'), draft('a2', 'A')], { maxAttempts: 3, now });
    const [op] = await claim('w1');
    expect(await failOperation(store.db, 'w1', op!.id, 'VendorError: 503', now + 5000, now)).toBe(true);
    expect(await claim('w1')).toEqual([]);
    const retried = await claim('w1', 10, now + 5000);
    expect(retried.map((o) => [o.payload, o.attempts, o.lastError])).toEqual([[{ key: 'a1' }, 2, 'VendorError: 503']]);
  });

  it('lets a dead operation stop holding its key, and replays it', async () => {
    await enqueueOperations(store.db, 'c', [draft('a1', 'A'), draft('a2', 'A')], { maxAttempts: 1, now });
    const [op] = await claim('w1');
    await failOperation(store.db, 'w1', op!.id, 'VendorError: 400 bad field', null, now);
    expect((await claim('w1')).map((o) => o.payload)).toEqual([{ key: 'a2' }]);
    expect(await replayDeadOperations(store.db, { connector: 'c' }, now)).toBe(1);
    const depth = await outboxDepth(store.db);
    expect(depth.find((d) => d.state === 'dead')).toBeUndefined();
  });

  it('only the lease holder may complete or fail an operation', async () => {
    await enqueueOperations(store.db, 'c', [draft('a1', 'A')], { maxAttempts: 3, now });
    const [op] = await claim('w1');
    expect(await completeOperations(store.db, 'intruder', [{ id: op!.id, result: undefined }], now)).toEqual([]);
    expect(await failOperation(store.db, 'intruder', op!.id, 'x', null, now)).toBe(false);
    expect(await completeOperations(store.db, 'w1', [{ id: op!.id, result: { vendorId: '42' } }], now)).toEqual([op!.id]);
  });

  it('takes back an expired lease, keeping the attempt it used', async () => {
    await enqueueOperations(store.db, 'c', [draft('a1', 'A')], { maxAttempts: 3, now });
    await claim('dead-worker');
    expect(await releaseExpiredLeases(store.db, now + 500)).toBe(0);
    expect(await releaseExpiredLeases(store.db, now + 1001)).toBe(1);
    const [again] = await claim('w2', 10, now + 1001);
    expect(again!.attempts).toBe(2);
    expect(await completeOperations(store.db, 'dead-worker', [{ id: again!.id, result: undefined }], now)).toEqual([]);
  });

  it('never hands one operation to two concurrent claimers', async () => {
    const drafts = Array.from({ length: 300 }, (_, i) => draft(`op${i}`, `key${i % 60}`));
    await enqueueOperations(store.db, 'c', drafts, { maxAttempts: 3, now });
    const claimed = new Map<number, string>();
    const worker = async (name: string) => {
      for (;;) {
        const ops = await claim(name, 7);
        if (ops.length === 0) return;
        for (const op of ops) {
          expect(claimed.has(op.id)).toBe(false);
          claimed.set(op.id, name);
        }
        await completeOperations(store.db, name, ops.map((o) => ({ id: o.id, result: undefined })), now);
      }
    };
    await Promise.all(['w1', 'w2', 'w3', 'w4'].map(worker));
    expect(claimed.size).toBe(300);
  });
});
