// A settlement that fails (a deadlock or a lost connection on PostgreSQL, a busy SQLite) leaves
// its operations in flight. The heartbeat must stop renewing their leases then: otherwise the
// lease sweep never takes them back and their ordering key stays busy until the process dies.
import { afterEach, describe, expect, it } from 'vitest';
import type { Connector } from '../../core/connector.js';
import { silentLogger } from '../../core/logger.js';
import { ConnectorDispatcher } from '../../core/outbox/dispatcher.js';
import { enqueueOperations, listOperations } from '../../core/outbox/queries.js';
import { RateBudget } from '../../core/outbox/rate-budget.js';
import { freshStorePerTest } from '../helpers/store-per-test.js';
import { STORE_KINDS } from '../helpers/stores.js';

describe.each(STORE_KINDS)('a failed settlement on %s', (kind) => {
  // Registered first, so its store is closed after the dispatcher below has stopped.
  const fresh = freshStorePerTest(kind);
  let dispatcher: ConnectorDispatcher | undefined;

  afterEach(async () => {
    await dispatcher?.stop();
    dispatcher = undefined;
  });

  it('lets the lease run out, so the sweep hands the operation back and it runs again', async () => {
    const tuning = { concurrency: 1, rateLimit: null, maxAttempts: 5, backoffBaseMs: 10, backoffMaxMs: 20 };
    let calls = 0;
    const connector: Connector = {
      metadata: { id: 'fake', displayName: 'Fake CRM', featureScopes: { sync: [] }, grantScopesHint: '', maxBatch: { op: 1 }, defaultTuning: tuning },
      features: ['sync'],
      tuning,
      plan: () => [],
      execute: async (ops) => {
        calls++;
        return ops.map(() => ({ ok: true, effects: [{ kind: 'noop' } as never] }));
      },
      reconcile: async () => undefined,
      grantedScopes: async () => [],
    };
    let applied = 0;
    dispatcher = new ConnectorDispatcher({
      connector,
      store: fresh.store,
      budget: new RateBudget(fresh.store),
      // The first settlement fails (as a deadlock would); the transaction rolls back.
      applyEffects: async () => {
        if (applied++ === 0) throw new Error('deadlock detected');
        return 0;
      },
      log: silentLogger(),
      options: { workerId: 'test', leaseMs: 400, pollIntervalMs: 20, claimBatch: 10 },
    });
    await enqueueOperations(fresh.store.db, 'fake', [{ kind: 'op', key: 'a', orderingKey: 'k', payload: {} }], { maxAttempts: 5, now: Date.now() });
    dispatcher.start();
    const deadline = Date.now() + 8000;
    let state = '';
    while (Date.now() < deadline) {
      state = (await listOperations(fresh.store.db, { limit: 10 }))[0]!.state;
      if (state === 'done') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    // Many lease periods: without the fix the heartbeat renews the lease forever, in flight.
    expect(state).toBe('done');
    expect(calls).toBe(2);
  });
});
