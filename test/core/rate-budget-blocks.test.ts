// Rate room reserved in blocks: instances sharing one store take a store transaction per block,
// not per request, and together still never exceed the vendor's window.
import { describe, expect, it } from 'vitest';
import { BACKGROUND_RATE_SHARE, blockShape, RateBudget } from '../../core/outbox/rate-budget.js';
import { STORE_KINDS } from '../helpers/stores.js';
import { freshStorePerTest } from '../helpers/store-per-test.js';

const LIMIT = { requests: 40, intervalMs: 1000 };
const budget = [{ key: 'vendor', limit: LIMIT }];

/** Most requests that went out within any one window. */
function busiestWindow(stamps: readonly number[]): number {
  const sorted = [...stamps].sort((a, b) => a - b);
  let most = 0;
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while (sorted[i]! - sorted[j]! >= LIMIT.intervalMs) j++;
    most = Math.max(most, i - j + 1);
  }
  return most;
}

describe.each(STORE_KINDS)('rate blocks on %s', (kind) => {
  const current = freshStorePerTest(kind);

  it('two instances sharing a limit stay within it, with one store row per block rather than per request', async () => {
    const instances = [new RateBudget(current.store), new RateBudget(current.store)];
    const sentAt: number[] = [];
    const perInstance = 50;
    await Promise.all(
      instances.map(async (rates) => {
        for (let i = 0; i < perInstance; i++) {
          const ticket = await rates.take(budget, 1);
          sentAt.push(Date.now());
          await new Promise((r) => setTimeout(r, 2));
          await ticket.settle();
        }
        await rates.releaseBlocks();
      }),
    );
    expect(sentAt).toHaveLength(2 * perInstance);
    expect(busiestWindow(sentAt)).toBeLessThanOrEqual(LIMIT.requests);
    const rows = await current.store.db.selectFrom('rate_events').select(['weight']).execute();
    // 100 requests over 2.5 windows: at least 100 / block size rows, far fewer than 100.
    expect(rows.length).toBeLessThan(2 * perInstance / 2);
    expect(rows.reduce((sum, r) => sum + r.weight, 0)).toBe(2 * perInstance);
  });

  it('gives unused room back when a block closes, stamped with its last answer', async () => {
    const rates = new RateBudget(current.store);
    const first = await rates.take(budget, 1);
    const second = await rates.take(budget, 1);
    const reserved = await current.store.db.selectFrom('rate_events').select(['weight']).execute();
    expect(reserved).toEqual([{ weight: blockShape(LIMIT).size }]);
    await first.settle();
    await new Promise((r) => setTimeout(r, 20));
    const answeredAt = Date.now();
    await second.settle();
    await rates.releaseBlocks();
    const [row] = await current.store.db.selectFrom('rate_events').select(['weight', 'at']).execute();
    expect(row!.weight).toBe(2);
    expect(row!.at).toBeGreaterThanOrEqual(answeredAt);
  });

  it('lets background requests fill only their share of the window, leaving the rest for live ones', async () => {
    const rates = new RateBudget(current.store);
    const window = { requests: 8, intervalMs: 60_000 };
    const budgets = [{ key: 'shared', limit: window }];
    const share = Math.floor(window.requests * BACKGROUND_RATE_SHARE);
    for (let i = 0; i < share; i++) await (await rates.take(budgets, 1, undefined, { share: BACKGROUND_RATE_SHARE })).settle();
    // The window is full for background work: the next one waits (a minute here), aborted after 300 ms.
    const waiting = rates.take(budgets, 1, AbortSignal.timeout(300), { share: BACKGROUND_RATE_SHARE });
    await expect(waiting).rejects.toThrow();
    // Live requests still find the rest of the window at once.
    const started = Date.now();
    for (let i = share; i < window.requests; i++) await (await rates.take(budgets, 1)).settle();
    expect(Date.now() - started).toBeLessThan(5_000);
    await rates.releaseBlocks();
    const rows = await current.store.db.selectFrom('rate_events').select(['weight']).execute();
    expect(rows.reduce((sum, r) => sum + r.weight, 0)).toBe(window.requests);
  });

  it('does not hand out a closed block: a request after a pause reserves afresh and waits out the pause', async () => {
    const rates = new RateBudget(current.store);
    await (await rates.take(budget, 1)).settle();
    const until = Date.now() + 300;
    await rates.pauseUntil('vendor', until);
    await rates.releaseBlocks('vendor');
    await rates.take(budget, 1);
    expect(Date.now()).toBeGreaterThanOrEqual(until);
  });
});
