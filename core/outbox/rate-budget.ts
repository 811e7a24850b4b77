// A vendor's rate limit belongs to the vendor account, not to one process: the budget is kept
// in the store as a sliding log of requests, so N instances together never exceed the limit.
// After a 429 the whole connector waits out `Retry-After`, on every instance.
import { setTimeout as sleep } from 'node:timers/promises';
import type { RateLimit } from '../connector.js';
import type { Store } from '../store/store.js';

const PAUSE_KEY = 'rate_paused_until';
const DAILY_KEY = 'rate_daily';
const DAY = 86_400_000;

/** Clock slack between us and the vendor; small, because settled slots already count from the answer. */
function safetyMargin(limit: RateLimit): number {
  return Math.max(10, Math.round(limit.intervalMs * 0.001));
}

export class RateBudget {
  readonly #store: Store;
  #acquisitions = 0;

  constructor(store: Store) {
    this.#store = store;
  }

  /**
   * Takes room in every budget one request needs (the account's limit and, say, a search or
   * per-ticket limit) at the same moment, or waits and takes none. Taking them one after the
   * other would stamp the first while waiting for the next: its stamp could leave the window
   * before the request even went out, and let the vendor see more than its limit. Room means
   * `weight` more requests fit in the window, no pause is on and, with `perDay`, the day's
   * allowance holds them. Returns each budget's slot (`settle` moves it to when the answer came:
   * the vendor counts the request on arrival, which can be well after we took the slot) and the
   * day's count.
   */
  async acquireAll(budgets: ReadonlyArray<{ key: string; limit: RateLimit; perDay?: number }>, weight: number, signal?: AbortSignal): Promise<Array<{ slot: number; usedToday: number }>> {
    for (const { limit } of budgets) {
      if (weight > limit.requests) throw new RangeError(`Expected \`weight\` to be at most ${limit.requests}, got ${weight}`);
    }
    // One lock order for every caller, so two requests needing the same budgets cannot deadlock.
    const ordered = [...budgets].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    let taken: Array<{ slot: number; usedToday: number }> = [];
    for (;;) {
      signal?.throwIfAborted();
      const waitMs = await this.#store.db.transaction().execute(async (tx) => {
        for (const { key } of ordered) await this.#store.lockForTransaction(tx, `rate:${key}`);
        const now = Date.now();
        let wait = 0;
        const usedSoFar = new Map<string, { dayStart: number; used: number }>();
        for (const { key, limit, perDay } of ordered) {
          const states = await tx.selectFrom('connector_state').select(['key', 'value']).where('connector', '=', key).where('key', 'in', [PAUSE_KEY, DAILY_KEY]).execute();
          const pausedUntil = Number(states.find((r) => r.key === PAUSE_KEY)?.value ?? 0);
          if (pausedUntil > now) wait = Math.max(wait, pausedUntil - now);
          const dayStart = Math.floor(now / DAY) * DAY;
          const daily = JSON.parse(states.find((r) => r.key === DAILY_KEY)?.value ?? 'null') as { start: number; used: number } | null;
          const used = daily?.start === dayStart ? daily.used : 0;
          usedSoFar.set(key, { dayStart, used });
          if (perDay !== undefined && used + weight > perDay) wait = Math.max(wait, dayStart + DAY - now);
          // The vendor counts a request when it arrives; settle() moves our count to when the answer
          // came (later still), and a small margin covers clock slack, so their count never runs over.
          const windowStart = now - limit.intervalMs - safetyMargin(limit);
          const inWindow = await tx
            .selectFrom('rate_events')
            .select((eb) => [eb.fn.coalesce(eb.fn.sum<number>('weight'), eb.lit(0)).as('used'), eb.fn.min<number>('at').as('oldest')])
            .where('connector', '=', key)
            .where('at', '>', windowStart)
            .executeTakeFirstOrThrow();
          // Room opens when the oldest request in the window leaves it.
          if (Number(inWindow.used) + weight > limit.requests) wait = Math.max(wait, Number(inWindow.oldest) + limit.intervalMs + safetyMargin(limit) - now + 1, 1);
        }
        if (wait > 0) return wait;
        const slots = new Map<string, { slot: number; usedToday: number }>();
        for (const { key, perDay } of ordered) {
          const slot = (await tx.insertInto('rate_events').values({ connector: key, at: now, weight }).returning('id').executeTakeFirstOrThrow()).id;
          let usedToday = 0;
          if (perDay !== undefined) {
            const { dayStart, used } = usedSoFar.get(key)!;
            usedToday = used + weight;
            const value = JSON.stringify({ start: dayStart, used: usedToday });
            await tx
              .insertInto('connector_state')
              .values({ connector: key, key: DAILY_KEY, value, updated_at: now })
              .onConflict((oc) => oc.columns(['connector', 'key']).doUpdateSet({ value, updated_at: now }))
              .execute();
          }
          slots.set(key, { slot, usedToday });
        }
        taken = budgets.map((b) => slots.get(b.key)!);
        return 0;
      });
      if (waitMs === 0) break;
      await sleep(Math.min(waitMs, 1000), undefined, signal ? { signal } : undefined);
    }
    if (++this.#acquisitions % 200 === 0) for (const { key, limit } of budgets) await this.prune(key, limit);
    return taken;
  }

  /** The request in these slots got its answer now: count it from now. */
  async settle(slots: readonly number[]): Promise<void> {
    if (slots.length === 0) return;
    await this.#store.db.updateTable('rate_events').set({ at: Date.now() }).where('id', 'in', [...slots]).execute();
  }

  /** Requests counted today against the daily allowance. */
  async usedToday(connector: string): Promise<number> {
    const row = await this.#store.db.selectFrom('connector_state').select('value').where('connector', '=', connector).where('key', '=', DAILY_KEY).executeTakeFirst();
    if (!row) return 0;
    const current = JSON.parse(row.value) as { start: number; used: number };
    return current.start === Math.floor(Date.now() / DAY) * DAY ? current.used : 0;
  }

  /** Stops every instance from calling this vendor until `until` (after a 429 with Retry-After). */
  async pauseUntil(connector: string, until: number): Promise<void> {
    const now = Date.now();
    await this.#store.db.transaction().execute(async (tx) => {
      await this.#store.lockForTransaction(tx, `rate:${connector}`);
      const current = await tx.selectFrom('connector_state').select('value').where('connector', '=', connector).where('key', '=', PAUSE_KEY).executeTakeFirst();
      if (current && Number(current.value) >= until) return;
      await tx
        .insertInto('connector_state')
        .values({ connector, key: PAUSE_KEY, value: String(until), updated_at: now })
        .onConflict((oc) => oc.columns(['connector', 'key']).doUpdateSet({ value: String(until), updated_at: now }))
        .execute();
    });
  }

  async pausedUntil(connector: string): Promise<number> {
    const row = await this.#store.db.selectFrom('connector_state').select('value').where('connector', '=', connector).where('key', '=', PAUSE_KEY).executeTakeFirst();
    return row ? Number(row.value) : 0;
  }

  /** Drops log rows that can no longer count against any window. */
  async prune(connector: string, limit: RateLimit): Promise<void> {
    await this.#store.db.deleteFrom('rate_events').where('connector', '=', connector).where('at', '<', Date.now() - limit.intervalMs * 2).execute();
  }
}
