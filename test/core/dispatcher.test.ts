// The dispatcher with a scripted connector: retries, Retry-After, dead letters, reconcile,
// blocking on credentials, batching, and the shared rate budget.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Connector, ExecutionContext, OperationOutcome } from '../../core/connector.js';
import { CredentialError, VendorError } from '../../core/errors.js';
import { silentLogger } from '../../core/logger.js';
import { ConnectorDispatcher } from '../../core/outbox/dispatcher.js';
import { backoffDelay } from '../../core/outbox/settlement.js';
import { enqueueOperations, listOperations, type OutboxOperation } from '../../core/outbox/queries.js';
import { BACKGROUND_RATE_SHARE, RateBudget } from '../../core/outbox/rate-budget.js';
import { openStore, type Store } from '../../core/store/store.js';
import { freshStoreUrl, STORE_KINDS } from '../helpers/stores.js';
import { holdsFor } from '../helpers/wait.js';

/** How late a test's own timestamp can come after the moment it marks, on a busy shared 2-core machine. */
const STAMP_JITTER_MS = 40;

type Script = (ops: readonly OutboxOperation[], ctx: ExecutionContext) => Promise<OperationOutcome[]>;

function scriptedConnector(script: Script, extra: Partial<Connector> = {}, maxBatch = 1): Connector {
  const tuning = { concurrency: 2, rateLimit: null, maxAttempts: 3, backoffBaseMs: 10, backoffMaxMs: 20 };
  return {
    metadata: { id: 'fake', displayName: 'Fake CRM', featureScopes: { sync: ['crm.write'] }, grantScopesHint: 'grant it in the fake admin', maxBatch: { op: maxBatch }, defaultTuning: tuning },
    features: ['sync'],
    tuning,
    plan: () => [],
    execute: script,
    reconcile: async () => undefined,
    grantedScopes: async () => ['crm.write'],
    ...extra,
  };
}

async function until<T>(probe: () => Promise<T | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe.each(STORE_KINDS)('dispatcher on %s', (kind) => {
  let store: Store;
  let drop: () => Promise<void>;
  let dispatcher: ConnectorDispatcher | undefined;

  beforeEach(async () => {
    const fresh = freshStoreUrl(kind);
    drop = fresh.drop;
    store = await openStore(fresh.url);
  });
  afterEach(async () => {
    await dispatcher?.stop();
    dispatcher = undefined;
    await store.close();
    await drop();
  });

  function start(connector: Connector, options: { leaseMs?: number } = {}): ConnectorDispatcher {
    dispatcher = new ConnectorDispatcher({
      connector,
      store,
      budget: new RateBudget(store),
      applyEffects: async () => 0,
      log: silentLogger(),
      options: { workerId: 'test', leaseMs: options.leaseMs ?? 5000, pollIntervalMs: 20, claimBatch: 50 },
    });
    dispatcher.start();
    return dispatcher;
  }

  const enqueue = (n: number, orderingKey = (i: number) => `k${i}`) =>
    enqueueOperations(store.db, 'fake', Array.from({ length: n }, (_, i) => ({ kind: 'op', key: `op${i}`, orderingKey: orderingKey(i), payload: { i } })), { maxAttempts: 3, now: Date.now() });

  const states = async () => (await listOperations(store.db, { limit: 100 })).map((o) => o.state);

  it('honours Retry-After: the operation and the whole connector wait it out', async () => {
    const calls: number[] = [];
    await enqueue(1);
    start(
      scriptedConnector(async (ops) => {
        calls.push(Date.now());
        if (calls.length === 1) return ops.map(() => ({ ok: false, error: new VendorError('fake', 'rate limited', { status: 429, retryable: true, retryAfterMs: 400 }) }));
        return ops.map(() => ({ ok: true }));
      }),
    );
    await until(async () => (await states())[0] === 'done');
    expect(calls).toHaveLength(2);
    expect(calls[1]! - calls[0]!).toBeGreaterThanOrEqual(400);
    expect(await new RateBudget(store).pausedUntil('fake')).toBeGreaterThanOrEqual(calls[0]! + 400);
  });

  it('retries a retryable failure and makes the operation dead after max attempts, keeping the last error', async () => {
    let calls = 0;
    await enqueue(1);
    start(scriptedConnector(async (ops) => ops.map(() => ({ ok: false, error: new VendorError('fake', `HTTP 503 #${++calls}`, { status: 503, retryable: true }) }))));
    const [op] = await until(async () => {
      const ops = await listOperations(store.db, { state: 'dead', limit: 1 });
      return ops.length > 0 && ops;
    });
    expect(calls).toBe(3);
    expect(op!.attempts).toBe(3);
    expect(op!.lastError).toBe('VendorError: fake: HTTP 503 #3');
  });

  it('makes a non-retryable failure dead at once', async () => {
    await enqueue(1);
    start(scriptedConnector(async (ops) => ops.map(() => ({ ok: false, error: new VendorError('fake', 'field X is invalid', { status: 400 }) }))));
    await until(async () => (await states())[0] === 'dead');
    expect((await listOperations(store.db, { limit: 1 }))[0]!.attempts).toBe(1);
  });

  it('reconciles before re-running an operation that may have reached the vendor', async () => {
    let executed = 0;
    let reconciled = 0;
    await enqueue(1);
    start(
      scriptedConnector(
        async (ops) => {
          executed++;
          // The vendor got it, but the answer was lost.
          return ops.map(() => ({ ok: false, error: new VendorError('fake', 'timeout', { retryable: true }) }));
        },
        {
          reconcile: async () => {
            reconciled++;
            return { ok: true, result: { vendorId: 'found-by-key' } };
          },
        },
      ),
    );
    const [op] = await until(async () => {
      const ops = await listOperations(store.db, { state: 'done', limit: 1 });
      return ops.length > 0 && ops;
    });
    expect(executed).toBe(1);
    expect(reconciled).toBe(1);
    expect(op!.result).toEqual({ vendorId: 'found-by-key' });
  });

  it('blocks the connector on a credential error and keeps the operation queued without using up attempts', async () => {
    await enqueue(2);
    const d = start(scriptedConnector(async () => { throw new CredentialError('fake', 'token revoked'); }));
    await until(async () => d.state.state === 'blocked');
    expect(d.state).toEqual({ state: 'blocked', reason: 'fake: token revoked' });
    // A claim that started just before the block may still be settling: look at one snapshot of
    // state and attempts together, and once more after a pause (blocked, nothing is claimed again).
    const settled = async () => (await listOperations(store.db, { limit: 10 })).every((o) => o.state === 'pending' && o.attempts === 0);
    await until(settled);
    await holdsFor(settled, 300, 'blocked: nothing claimed again');
  });

  it('blocks on missing scopes, naming each one and how to grant it', async () => {
    const d = start(scriptedConnector(async (ops) => ops.map(() => ({ ok: true })), { grantedScopes: async () => ['crm.read', 'admin'] }));
    const check = await d.checkScopes();
    expect(check.ok).toBe(false);
    expect(check.report).toMatchObject({ required: ['crm.write'], missing: ['crm.write'], extra: ['admin', 'crm.read'] });
    expect(d.state).toEqual({ state: 'blocked', reason: 'Fake CRM credentials lack scope crm.write (needed by sync); grant it in the fake admin, then reload' });
  });

  it('runs setup once the scopes are there, and blocks with the reason when setup cannot be done', async () => {
    let setups = 0;
    const d = start(scriptedConnector(async (ops) => ops.map(() => ({ ok: true })), { setup: async () => (++setups === 1 ? ['created a property'] : []) }));
    expect((await d.checkScopes({ thenSetup: true })).ok).toBe(true);
    await d.checkScopes({ thenSetup: true });
    expect(setups).toBe(1);
    await d.stop();
    const failing = start(scriptedConnector(async (ops) => ops.map(() => ({ ok: true })), { setup: async () => { throw new VendorError('fake', 'property x has the wrong type'); } }));
    await failing.checkScopes({ thenSetup: true });
    expect(failing.state).toEqual({ state: 'blocked', reason: 'setup failed: fake: property x has the wrong type' });
  });

  it('stops at the daily allowance: no request beyond it today, shared through the store', async () => {
    let sent = 0;
    await enqueue(5);
    const connector = scriptedConnector(async (ops, ctx) => {
      for (const _ of ops) {
        const slot = await ctx.throttle();
        sent++;
        await slot.settle();
      }
      return ops.map(() => ({ ok: true }));
    });
    start({ ...connector, tuning: { ...connector.tuning, rateLimit: { requests: 100, intervalMs: 1000 }, dailyLimit: 3 } });
    await until(async () => (await states()).filter((s) => s === 'done').length === 3);
    await holdsFor(() => sent === 3, 500, 'no request beyond the daily allowance');
    expect(sent).toBe(3);
    expect(await new RateBudget(store).usedToday('fake')).toBe(3);
    // Stopping while waiting for tomorrow hands the rest back without using up attempts.
    await dispatcher!.stop();
    dispatcher = undefined;
    const waiting = (await listOperations(store.db, { limit: 10 })).filter((o) => o.state !== 'done');
    expect(waiting.map((o) => [o.state, o.attempts])).toEqual([['pending', 0], ['pending', 0]]);
  });

  it('renews its leases while an operation runs longer than the lease, so nobody else runs it too', async () => {
    let runs = 0;
    await enqueue(1);
    const connector = scriptedConnector(async (ops) => {
      runs++;
      await new Promise((r) => setTimeout(r, 1200));
      return ops.map(() => ({ ok: true }));
    });
    start(connector, { leaseMs: 500 });
    await until(async () => (await states())[0] === 'done');
    expect(runs).toBe(1);
    expect((await listOperations(store.db, { limit: 1 }))[0]!.attempts).toBe(1);
  });

  it('hands a connector batches up to its declared size', async () => {
    const sizes: number[] = [];
    await enqueue(7);
    start(scriptedConnector(async (ops) => { sizes.push(ops.length); return ops.map(() => ({ ok: true })); }, {}, 3));
    await until(async () => (await states()).every((s) => s === 'done'));
    expect(Math.max(...sizes)).toBe(3);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(7);
  });

  it('keeps a per-endpoint limit at send time while the account-wide limit holds requests back', async () => {
    // Three operations each make a plain request (together they fill the account's window), then a
    // search, which must wait for the account's window. When they finally go out, each search must
    // still come the search limit's interval after the one before.
    const account = { requests: 3, intervalMs: 1000 };
    const search = { requests: 1, intervalMs: 300 };
    const searchSentAt: number[] = [];
    const connector = scriptedConnector(async (ops, ctx) => {
      for (const bucket of [undefined, 'search']) {
        const slot = await ctx.throttle(1, bucket);
        if (bucket) searchSentAt.push(Date.now());
        await slot.settle();
      }
      return ops.map(() => ({ ok: true }));
    });
    const tuning = { ...connector.tuning, concurrency: 3, rateLimit: account, bucketRateLimits: { search } };
    await enqueue(3);
    start({ ...connector, tuning, metadata: { ...connector.metadata, defaultTuning: tuning } });
    await until(async () => searchSentAt.length === 3, 15_000);
    searchSentAt.sort((a, b) => a - b);
    // Each stamp is taken after its grant resolves, so on a busy machine one can lag by tens of ms and
    // shorten the gap after it; STAMP_JITTER_MS absorbs that, far below the 300 ms a broken limit would lose.
    for (let i = 1; i < searchSentAt.length; i++) expect(searchSentAt[i]! - searchSentAt[i - 1]!).toBeGreaterThanOrEqual(search.intervalMs - STAMP_JITTER_MS);
  });

  it('keeps a slot free for live work: background batches hold at most concurrency − 1 slots', async () => {
    // Concurrency 2: one background batch at a time may run; a live operation queued while
    // background batches wait for a vendor that does not answer runs at once.
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const ran: string[] = [];
    await enqueue(4, (i) => `background:k${i}`);
    start(
      scriptedConnector(async (ops) => {
        ran.push(...ops.map((o) => o.orderingKey));
        if (ops.every((o) => o.orderingKey.startsWith('background:'))) await held;
        return ops.map(() => ({ ok: true }));
      }),
    );
    await until(async () => ran.length > 0);
    await enqueueOperations(store.db, 'fake', [{ kind: 'op', key: 'live', orderingKey: 'live-contact', payload: {} }], { maxAttempts: 3, now: Date.now() });
    dispatcher!.wake();
    await until(async () => ran.includes('live-contact'), 5_000);
    expect(ran.filter((k) => k.startsWith('background:'))).toHaveLength(1);
    release();
    await until(async () => (await states()).every((s) => s === 'done'));
  });

  it('never makes a live batch wait for a slot a background batch holds', async () => {
    // Concurrency 2: a background batch waits for a vendor that does not answer and a live one
    // is slow (an imported customer's contact write); a live message's operation queued then runs
    // at once, in a slot of the live work's own, not after either of them.
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const ran: string[] = [];
    await enqueue(2, (i) => `background:k${i}`);
    await enqueueOperations(store.db, 'fake', [{ kind: 'op', key: 'slow', orderingKey: 'slow-contact', payload: {} }], { maxAttempts: 3, now: Date.now() });
    start(
      scriptedConnector(async (ops) => {
        ran.push(...ops.map((o) => o.orderingKey));
        if (!ops.some((o) => o.orderingKey === 'live-contact')) await held;
        return ops.map(() => ({ ok: true }));
      }),
    );
    await until(async () => ran.includes('slow-contact') && ran.some((k) => k.startsWith('background:')));
    await enqueueOperations(store.db, 'fake', [{ kind: 'op', key: 'live', orderingKey: 'live-contact', payload: {} }], { maxAttempts: 3, now: Date.now() });
    dispatcher!.wake();
    await until(async () => ran.includes('live-contact'), 5_000);
    expect(ran.filter((k) => k.startsWith('background:'))).toHaveLength(1);
    release();
    await until(async () => (await states()).every((s) => s === 'done'));
  });

  it('gives background batches only their share of the rate window', async () => {
    const window = { requests: 8, intervalMs: 60_000 };
    const sent: string[] = [];
    const connector = scriptedConnector(async (ops, ctx) => {
      const slot = await ctx.throttle(1);
      sent.push(ops[0]!.orderingKey);
      await slot.settle();
      return ops.map(() => ({ ok: true }));
    });
    const tuning = { ...connector.tuning, concurrency: 4, rateLimit: window };
    await enqueue(10, (i) => `background:k${i}`);
    start({ ...connector, tuning, metadata: { ...connector.metadata, defaultTuning: tuning } });
    await until(async () => sent.length >= window.requests * BACKGROUND_RATE_SHARE);
    await holdsFor(() => sent.length === window.requests * BACKGROUND_RATE_SHARE, 300, 'background work stays within its share of the window');
    await enqueueOperations(store.db, 'fake', [{ kind: 'op', key: 'live', orderingKey: 'live-contact', payload: {} }], { maxAttempts: 3, now: Date.now() });
    dispatcher!.wake();
    await until(async () => sent.includes('live-contact'), 5_000);
  });

  it('runs the operations of one ordering key one at a time, in order', async () => {
    const order: number[] = [];
    let running = 0;
    let overlap = false;
    await enqueue(6, () => 'same-contact');
    start(
      scriptedConnector(async (ops) => {
        running++;
        if (running > 1) overlap = true;
        await new Promise((r) => setTimeout(r, 10));
        order.push(...ops.map((o) => (o.payload as { i: number }).i));
        running--;
        return ops.map(() => ({ ok: true }));
      }, {}, 5),
    );
    await until(async () => (await states()).every((s) => s === 'done'));
    expect(order).toEqual([0, 1, 2, 3, 4, 5]);
    expect(overlap).toBe(false);
  });
});

describe('rate budget', () => {
  it('never lets more requests than the limit into any window, across two budgets on one store', async () => {
    const fresh = freshStoreUrl('postgres');
    const store = await openStore(fresh.url);
    try {
      const limit = { requests: 5, intervalMs: 400 };
      const stamps: number[] = [];
      const caller = async (budget: RateBudget) => {
        for (let i = 0; i < 6; i++) {
          await budget.acquireAll([{ key: 'v', limit }], 1);
          stamps.push(Date.now());
        }
      };
      await Promise.all([caller(new RateBudget(store)), caller(new RateBudget(store))]);
      stamps.sort((a, b) => a - b);
      for (let i = 0; i + limit.requests < stamps.length; i++) {
        // See STAMP_JITTER_MS: a limit not kept would put the sixth request ~0 ms after the first, not 400.
        expect(stamps[i + limit.requests]! - stamps[i]!).toBeGreaterThanOrEqual(limit.intervalMs - STAMP_JITTER_MS);
      }
    } finally {
      await store.close();
      await fresh.drop();
    }
  });

  it('computes full-jitter backoff within its doubling ceiling', () => {
    expect(backoffDelay(1, 100, 10_000, () => 1)).toBe(100);
    expect(backoffDelay(4, 100, 10_000, () => 1)).toBe(800);
    expect(backoffDelay(20, 100, 10_000, () => 1)).toBe(10_000);
    expect(backoffDelay(3, 100, 10_000, () => 0)).toBe(0);
  });
});
