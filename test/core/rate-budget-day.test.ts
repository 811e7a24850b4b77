// The daily allowance counts days from midnight in the vendor's time zone, not UTC's: an account
// in Kiritimati (UTC+14) starts a new day at 10:00 UTC, one in Honolulu (UTC-10) at 10:00 UTC of
// the next calendar day. The clock is moved (Date only; real timers keep the store working).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { dayStartIn, nextDayStartIn } from '../../core/day.js';
import { RateBudget } from '../../core/outbox/rate-budget.js';
import { freshStorePerTest } from '../helpers/store-per-test.js';

const limit = { requests: 100, intervalMs: 1000 };

/** Whether acquiring one more request waits (it is aborted after `ms` when it does). */
async function waits(budget: RateBudget, spec: { key: string; limit: typeof limit; perDay: number; dayZone?: string }, ms = 300): Promise<boolean> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), ms);
  try {
    await budget.acquireAll([spec], 1, abort.signal);
    return false;
  } catch (error) {
    if (abort.signal.aborted) return true;
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

describe('daily allowance in a time zone', () => {
  const current = freshStorePerTest('sqlite');
  afterEach(() => void vi.useRealTimers());

  it('finds local midnight across offsets and daylight saving', () => {
    const at = Date.UTC(2026, 0, 5, 9, 59);
    expect(dayStartIn(at, 'Pacific/Kiritimati')).toBe(Date.UTC(2026, 0, 4, 10, 0));
    expect(dayStartIn(at, 'Pacific/Honolulu')).toBe(Date.UTC(2026, 0, 4, 10, 0));
    expect(dayStartIn(at, 'Asia/Kolkata')).toBe(Date.UTC(2026, 0, 4, 18, 30));
    expect(dayStartIn(at)).toBe(Date.UTC(2026, 0, 5));
    // New York moves to daylight time on 8 March 2026: that day has 23 hours.
    const dstDay = Date.UTC(2026, 2, 8, 12);
    expect(dayStartIn(dstDay, 'America/New_York')).toBe(Date.UTC(2026, 2, 8, 5));
    expect(nextDayStartIn(dstDay, 'America/New_York')).toBe(Date.UTC(2026, 2, 9, 4));
  });

  it('starts a new day at the zone\'s midnight, when the UTC day has not changed', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const budget = new RateBudget(current.store);
    const kiritimati = { key: 'v', limit, perDay: 2, dayZone: 'Pacific/Kiritimati' };
    // 23:59 in Kiritimati (09:59 UTC): the day's allowance used up.
    vi.setSystemTime(Date.UTC(2026, 0, 5, 9, 59));
    await budget.acquireAll([kiritimati], 1);
    await budget.acquireAll([kiritimati], 1);
    expect(await budget.usedToday('v', 'Pacific/Kiritimati')).toBe(2);
    expect(await waits(budget, kiritimati)).toBe(true);
    // 00:00:30 there (10:00:30 UTC, still the same UTC day): a fresh allowance.
    vi.setSystemTime(Date.UTC(2026, 0, 5, 10, 0, 30));
    expect(await budget.usedToday('v', 'Pacific/Kiritimati')).toBe(0);
    const [taken] = await budget.acquireAll([kiritimati], 1);
    expect(taken!.usedToday).toBe(1);
  });

  it('keeps the old day until the zone\'s midnight, when the UTC day has changed', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const budget = new RateBudget(current.store);
    const honolulu = { key: 'h', limit, perDay: 2, dayZone: 'Pacific/Honolulu' };
    // 13:50 in Honolulu (23:50 UTC).
    vi.setSystemTime(Date.UTC(2026, 0, 5, 23, 50));
    await budget.acquireAll([honolulu], 1);
    await budget.acquireAll([honolulu], 1);
    // 14:10 there, 00:10 UTC the next day: a UTC count would start over, HubSpot's has not.
    vi.setSystemTime(Date.UTC(2026, 0, 6, 0, 10));
    expect(await budget.usedToday('h', 'Pacific/Honolulu')).toBe(2);
    expect(await waits(budget, honolulu)).toBe(true);
    // Without a zone the day is UTC's, as before.
    const utc = { key: 'u', limit, perDay: 1 };
    vi.setSystemTime(Date.UTC(2026, 0, 5, 23, 59));
    await budget.acquireAll([utc], 1);
    vi.setSystemTime(Date.UTC(2026, 0, 6, 0, 0, 1));
    expect(await waits(budget, utc)).toBe(false);
  });
});
