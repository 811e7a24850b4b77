// Connector health read from the outbox on both stores: last success, last error with personal
// data masked, error rate, backoff; degraded when every recent call fails; "retry now" brings
// backed-off work forward and keeps the key queue right, so the next claim takes it.
import { describe, expect, it } from 'vitest';
import { connectorHealth, redactPersonalData } from '../../core/outbox/health.js';
import { claimOperations, completeOperations, enqueueOperations, failOperation, runBackedOffNow } from '../../core/outbox/queries.js';
import { freshStorePerTest } from '../helpers/store-per-test.js';
import { STORE_KINDS } from '../helpers/stores.js';

describe('redacting vendor messages', () => {
  it('masks numbers, BSUIDs and e-mail addresses, and keeps the rest', () => {
    expect(redactPersonalData('HubSpot: contact +44 7700 900123 (US.13491208655302741918, jane@example.com) exists; HTTP 409 after 1500 ms')).toBe(
      'HubSpot: contact +44********23 (US.13****************18, [e-mail]) exists; HTTP 409 after 1500 ms',
    );
  });
});

describe.each(STORE_KINDS)('connector health on %s', (kind) => {
  const current = freshStorePerTest(kind);
  const T = 10_000_000;

  async function failing(count: number, now: number, error = 'VendorError: hubspot: HTTP 503 for contact +447700900123') {
    const db = current.store.db;
    await enqueueOperations(db, 'hubspot', Array.from({ length: count }, (_, i) => ({ kind: 'contact.sync', key: `f${now}-${i}`, orderingKey: `contact:${now}-${i}`, payload: {} })), { maxAttempts: 5, now });
    const claimed = await claimOperations(current.store, 'hubspot', 'w1', { limit: count, leaseMs: 60_000, now });
    for (const op of claimed) await failOperation(db, 'w1', op.id, error, now + 60_000, now);
    return claimed;
  }

  it('is degraded when every recent call fails, and says what waits and when it runs', async () => {
    const [health] = await (async () => {
      await failing(3, T);
      return connectorHealth(current.store.db, ['hubspot'], T + 1000);
    })();
    expect(health).toMatchObject({ connector: 'hubspot', lastSuccessAt: null, errorRate: 1, recent: { succeeded: 0, failing: 3 }, backoff: { count: 3, nextRunAt: T + 60_000 }, degraded: true });
    expect(health!.lastError!.message).toBe('VendorError: hubspot: HTTP 503 for contact +44********23');
  });

  it('is not degraded once a call succeeds; the error rate counts both', async () => {
    const db = current.store.db;
    await failing(3, T);
    await enqueueOperations(db, 'hubspot', [{ kind: 'contact.sync', key: 'ok', orderingKey: 'contact:ok', payload: {} }], { maxAttempts: 5, now: T + 10 });
    const [op] = await claimOperations(current.store, 'hubspot', 'w1', { limit: 1, leaseMs: 60_000, now: T + 20 });
    await completeOperations(db, 'w1', [{ id: op!.id, result: null }], T + 30);
    const [health] = await connectorHealth(db, ['hubspot'], T + 1000);
    expect(health).toMatchObject({ lastSuccessAt: T + 30, errorRate: 0.75, degraded: false });
  });

  it('retry now brings backed-off operations forward and the next claim takes them', async () => {
    const db = current.store.db;
    const failed = await failing(2, T);
    expect(await claimOperations(current.store, 'hubspot', 'w2', { limit: 10, leaseMs: 60_000, now: T + 1000 })).toEqual([]);
    expect(await runBackedOffNow(db, 'hubspot', T + 1000)).toBe(2);
    const claimed = await claimOperations(current.store, 'hubspot', 'w2', { limit: 10, leaseMs: 60_000, now: T + 1000 });
    expect(claimed.map((o) => o.id).sort()).toEqual(failed.map((o) => o.id).sort());
    expect((await connectorHealth(db, ['hubspot'], T + 1000))[0]!.backoff).toEqual({ count: 0, nextRunAt: null });
  });
});
