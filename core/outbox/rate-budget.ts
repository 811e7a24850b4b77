// A vendor's rate limit belongs to the vendor account, not to one process: the budget is kept
// in the store as a sliding log of requests, so N instances together never exceed the limit.
// After a 429 the whole connector waits out `Retry-After`, on every instance.
//
// Taking room one request at a time costs each request a store transaction under a lock every
// instance queues for, so instances added mostly wait for each other. `take` reserves room in
// blocks instead (a share of the window in one log row) and hands it out locally; the block's
// row counts its whole size from the moment it was reserved until it is closed, when it shrinks
// to what was used and is stamped with the last answer. Counting room not yet used is the safe
// side of the vendor's count; the only cost is that another instance may wait for it a moment.
import { setTimeout as sleep } from 'node:timers/promises';
import type { RateLimit } from '../connector.js';
import type { Store } from '../store/store.js';
import { dayStartIn, nextDayStartIn } from '../day.js';

const PAUSE_KEY = 'rate_paused_until';

/**
 * The share of a vendor's window background work (an imported chat history) may fill: live work
 * counts against the whole window, so a quarter of it is always left for live messages however
 * big the import.
 */
export const BACKGROUND_RATE_SHARE = 0.75;

/** The room of `limit`'s window a request with `share` may fill: at least the request itself, so a heavy one still runs once the window is empty enough. */
function roomFor(limit: RateLimit, share: number, weight: number): number {
  return share >= 1 ? limit.requests : Math.max(Math.min(weight, limit.requests), Math.floor(limit.requests * share));
}

/** Options of `take` and `acquireAll`. */
export interface TakeOptions {
  /**
   * The share of each window this request may fill (BACKGROUND_RATE_SHARE for background work):
   * it waits while the window, counting everyone's requests, is that full.
   * @default 1
   */
  readonly share?: number;
}
const DAILY_KEY = 'rate_daily';

/** Clock slack between us and the vendor; small, because settled slots already count from the answer. */
function safetyMargin(limit: RateLimit): number {
  return Math.max(10, Math.round(limit.intervalMs * 0.001));
}

/** Room reserved by `take`, handed out locally until it is used up or too old to be trusted. */
interface RateBlock {
  readonly key: string;
  /** Where the block is kept: one block per budget and share, so background requests never spend a live block's room. */
  readonly mapKey: string;
  readonly slot: number;
  readonly size: number;
  readonly openUntil: number;
  used: number;
  /** Requests of this block whose answer has not come yet. */
  outstanding: number;
  lastAnswerAt: number;
  closed: boolean;
  readonly timer: NodeJS.Timeout;
}

/** A request's room: call `settle` when its answer came. */
export interface RateTicket {
  readonly usedToday: number;
  settle(): Promise<void>;
}

/** How much of a window one block reserves, and for how long it may be handed out. */
export function blockShape(limit: RateLimit): { size: number; openMs: number } {
  // A tenth of the window's room, so several instances each hold a block and none waits long for
  // another's leftovers; open for a fifth of the window, so a block never outlives its row's
  // window while its requests are still out (a request slower than the rest of the window is
  // the same edge as with one row per request).
  return { size: Math.max(1, Math.min(50, Math.floor(limit.requests / 10))), openMs: Math.max(1, Math.floor(limit.intervalMs / 5)) };
}

export class RateBudget {
  readonly #store: Store;
  #acquisitions = 0;
  readonly #blocks = new Map<string, RateBlock>();
  /** One reservation at a time per key: concurrent requests wait for it rather than reserve their own. */
  readonly #reserving = new Map<string, Promise<RateBlock>>();
  readonly #closing = new Set<Promise<void>>();
  readonly #useBlocks: boolean;

  /** `blocks: false` takes one row per request (what `take` does for budgets blocks do not serve). */
  constructor(store: Store, options: { blocks?: boolean } = {}) {
    this.#store = store;
    this.#useBlocks = options.blocks ?? true;
  }

  /**
   * Room for one request of `weight` in every budget it needs. A request needing only the
   * connector's own window is served from a reserved block; one that needs several budgets at
   * once (an endpoint's or a ticket's limit beside the account's) or a daily allowance takes its
   * room on its own (`acquireAll`), since a block per combination would hold room nobody else
   * could use.
   */
  async take(budgets: ReadonlyArray<{ key: string; limit: RateLimit; perDay?: number }>, weight: number, signal?: AbortSignal, options: TakeOptions = {}): Promise<RateTicket> {
    const share = Math.min(1, options.share ?? 1);
    const only = budgets.length === 1 ? budgets[0]! : undefined;
    if (!this.#useBlocks || only === undefined || only.perDay !== undefined || weight > blockShape(only.limit).size) {
      const taken = budgets.length > 0 ? await this.acquireAll(budgets, weight, signal, false, { share }) : [];
      const slots = taken.map((t) => t.slot);
      return { usedToday: taken.at(-1)?.usedToday ?? 0, settle: () => this.settle(slots) };
    }
    const mapKey = share < 1 ? `${only.key}@${share}` : only.key;
    for (;;) {
      signal?.throwIfAborted();
      let block = this.#blocks.get(mapKey);
      if (block && (block.closed || Date.now() >= block.openUntil || block.used + weight > block.size)) {
        this.#close(block);
        block = undefined;
      }
      if (!block) {
        let reserving = this.#reserving.get(mapKey);
        if (!reserving) {
          reserving = this.#reserve(only.key, mapKey, only.limit, share, signal).finally(() => this.#reserving.delete(mapKey));
          this.#reserving.set(mapKey, reserving);
        }
        await reserving;
        continue;
      }
      block.used += weight;
      block.outstanding++;
      const held = block;
      let settled = false;
      return {
        usedToday: 0,
        settle: async () => {
          if (settled) return;
          settled = true;
          held.outstanding--;
          held.lastAnswerAt = Date.now();
          if (held.closed && held.outstanding === 0) await this.#finish(held);
        },
      };
    }
  }

  async #reserve(key: string, mapKey: string, limit: RateLimit, share: number, signal?: AbortSignal): Promise<RateBlock> {
    const { size, openMs } = blockShape(limit);
    // Less than a whole block when the window has less room left: take what fits, at least one.
    const [taken] = await this.acquireAll([{ key, limit }], size, signal, true, { share });
    const now = Date.now();
    const block: RateBlock = {
      key,
      mapKey,
      slot: taken!.slot,
      size: taken!.weight,
      openUntil: now + openMs,
      used: 0,
      outstanding: 0,
      lastAnswerAt: now,
      closed: false,
      timer: setTimeout(() => this.#close(block), openMs).unref(),
    };
    this.#blocks.set(mapKey, block);
    return block;
  }

  /** No more requests from this block; once its last answer is in, its row shrinks to what was used. */
  #close(block: RateBlock): void {
    if (block.closed) return;
    block.closed = true;
    clearTimeout(block.timer);
    if (this.#blocks.get(block.mapKey) === block) this.#blocks.delete(block.mapKey);
    if (block.outstanding === 0) void this.#finish(block);
  }

  #finish(block: RateBlock): Promise<void> {
    const db = this.#store.db;
    const work = (async () => {
      if (block.used === 0) await db.deleteFrom('rate_events').where('id', '=', block.slot).execute();
      else await db.updateTable('rate_events').set({ at: block.lastAnswerAt, weight: block.used }).where('id', '=', block.slot).execute();
    })();
    // A store error leaves the row as it was: over-counted, never under.
    const tracked = work.catch(() => undefined).finally(() => this.#closing.delete(tracked));
    this.#closing.add(tracked);
    return tracked;
  }

  /** Closes every block (the dispatcher stops, or the vendor said to pause): unused room goes back. */
  async releaseBlocks(key?: string): Promise<void> {
    for (const block of [...this.#blocks.values()]) if (key === undefined || block.key === key) this.#close(block);
    await Promise.all([...this.#closing]);
  }

  /**
   * Takes room in every budget one request needs (the account's limit and, say, a search or
   * per-ticket limit) at the same moment, or waits and takes none. Taking them one after the
   * other would stamp the first while waiting for the next: its stamp could leave the window
   * before the request even went out, and let the vendor see more than its limit. Room means
   * `weight` more requests fit in the window, no pause is on and, with `perDay`, the day's
   * allowance holds them. The day runs from midnight to midnight in `dayZone` (an IANA zone; UTC
   * when absent), since a vendor resets its allowance at its own midnight. Returns each budget's slot (`settle` moves it to when the answer came:
   * the vendor counts the request on arrival, which can be well after we took the slot) and the
   * day's count.
   */
  async acquireAll(
    budgets: ReadonlyArray<{ key: string; limit: RateLimit; perDay?: number; dayZone?: string }>,
    weight: number,
    signal?: AbortSignal,
    /** Take as much of `weight` as fits (at least 1) instead of waiting for all of it: a block. */
    partial = false,
    options: TakeOptions = {},
  ): Promise<Array<{ slot: number; usedToday: number; weight: number }>> {
    const share = Math.min(1, options.share ?? 1);
    for (const { limit } of budgets) {
      if (weight > limit.requests) throw new RangeError(`Expected \`weight\` to be at most ${limit.requests}, got ${weight}`);
    }
    // One lock order for every caller, so two requests needing the same budgets cannot deadlock.
    const ordered = [...budgets].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    let taken: Array<{ slot: number; usedToday: number; weight: number }> = [];
    let granted = weight;
    for (;;) {
      signal?.throwIfAborted();
      const waitMs = await this.#store.db.transaction().execute(async (tx) => {
        for (const { key } of ordered) await this.#store.lockForTransaction(tx, `rate:${key}`);
        const now = Date.now();
        let wait = 0;
        const usedSoFar = new Map<string, { dayStart: number; used: number }>();
        for (const { key, limit, perDay, dayZone } of ordered) {
          const states = await tx.selectFrom('connector_state').select(['key', 'value']).where('connector', '=', key).where('key', 'in', [PAUSE_KEY, DAILY_KEY]).execute();
          const pausedUntil = Number(states.find((r) => r.key === PAUSE_KEY)?.value ?? 0);
          if (pausedUntil > now) wait = Math.max(wait, pausedUntil - now);
          const dayStart = dayStartIn(now, dayZone);
          const daily = JSON.parse(states.find((r) => r.key === DAILY_KEY)?.value ?? 'null') as { start: number; used: number } | null;
          const used = daily?.start === dayStart ? daily.used : 0;
          usedSoFar.set(key, { dayStart, used });
          if (perDay !== undefined && used + weight > perDay) wait = Math.max(wait, nextDayStartIn(now, dayZone) - now);
          // The vendor counts a request when it arrives; settle() moves our count to when the answer
          // came (later still), and a small margin covers clock slack, so their count never runs over.
          const windowStart = now - limit.intervalMs - safetyMargin(limit);
          const inWindow = await tx
            .selectFrom('rate_events')
            .select((eb) => [eb.fn.coalesce(eb.fn.sum<number>('weight'), eb.lit(0)).as('used'), eb.fn.min<number>('at').as('oldest')])
            .where('connector', '=', key)
            .where('at', '>', windowStart)
            .executeTakeFirstOrThrow();
          const room = roomFor(limit, share, weight);
          if (partial) granted = Math.min(weight, room - Number(inWindow.used));
          // Room opens when the oldest request in the window leaves it.
          if (partial ? granted < 1 : Number(inWindow.used) + weight > room) wait = Math.max(wait, Number(inWindow.oldest) + limit.intervalMs + safetyMargin(limit) - now + 1, 1);
        }
        if (wait > 0) return wait;
        const slots = new Map<string, { slot: number; usedToday: number; weight: number }>();
        for (const { key, perDay } of ordered) {
          const slot = (await tx.insertInto('rate_events').values({ connector: key, at: now, weight: granted }).returning('id').executeTakeFirstOrThrow()).id;
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
          slots.set(key, { slot, usedToday, weight: granted });
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

  /** Requests counted today (the day as `dayZone` keeps it, UTC when absent) against the daily allowance. */
  async usedToday(connector: string, dayZone?: string): Promise<number> {
    const row = await this.#store.db.selectFrom('connector_state').select('value').where('connector', '=', connector).where('key', '=', DAILY_KEY).executeTakeFirst();
    if (!row) return 0;
    const current = JSON.parse(row.value) as { start: number; used: number };
    return current.start === dayStartIn(Date.now(), dayZone) ? current.used : 0;
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
