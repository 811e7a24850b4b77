// What a connector's operations run with (Connector.execute): the shared rate budget, metrics of
// its vendor calls, the store's records it may read (a thread's messages, the last inbound time)
// and its own ids for our records. One per batch, so a background batch can be held to its share.
import type { Connector, ExecutionContext, RateLimit } from '../connector.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { externalRef, lastInboundAt, saveExternalRef, saveExternalRefs, threadTimeline } from '../model/repository.js';
import type { Store } from '../store/store.js';
import { saveVendorQuota } from './queries.js';
import { BACKGROUND_RATE_SHARE, type RateBudget } from './rate-budget.js';

export interface ExecutionContextSource {
  readonly connector: Connector;
  readonly store: Store;
  readonly budget: RateBudget;
  readonly log: Logger;
  readonly metrics: Metrics | undefined;
  /** Aborts calls under way (the stop's grace period is over). */
  readonly signal: AbortSignal;
  /** Aborted once stopping starts: a wait for rate budget ends at once. */
  readonly stopping: AbortSignal;
}

/** `background`: the batch's requests may fill only BACKGROUND_RATE_SHARE of each window, so live requests always find room. */
export function executionContext(source: ExecutionContextSource, background = false): ExecutionContext {
  const { connector: vendor, store, budget, metrics } = source;
  const connector = vendor.metadata.id;
  const limit = vendor.tuning.rateLimit;
  const db = store.db;
  return {
    log: source.log,
    signal: source.signal,
    throttle: async (weight = 1, bucket?: string | readonly string[]) => {
      const budgets: Array<{ key: string; limit: RateLimit; perDay?: number; dayZone?: string }> = [];
      for (const name of bucket === undefined ? [] : typeof bucket === 'string' ? [bucket] : bucket) {
        const limits = vendor.tuning.bucketRateLimits;
        const bucketLimit = limits?.[name] ?? limits?.[name.split(':')[0]!];
        if (bucketLimit) budgets.push({ key: `${connector}:${name}`, limit: bucketLimit });
      }
      const { dailyLimit: perDay, dailyLimitTimeZone: dayZone } = vendor.tuning;
      if (limit) budgets.push({ key: connector, limit, ...(perDay !== undefined ? { perDay } : {}), ...(dayZone ? { dayZone } : {}) });
      else {
        const pausedUntil = await budget.pausedUntil(connector);
        if (pausedUntil > Date.now()) await new Promise((r) => setTimeout(r, pausedUntil - Date.now()));
      }
      // Every budget at once, stamped at the same moment, just before the request goes out.
      const ticket = await budget.take(budgets, weight, source.stopping, { share: background ? BACKGROUND_RATE_SHARE : 1 });
      if (limit && perDay) {
        metrics?.vendorQuotaRemaining.set({ connector }, perDay - ticket.usedToday);
        metrics?.vendorQuotaMax.set({ connector }, perDay);
      }
      return { settle: () => ticket.settle() };
    },
    recordVendorCall: (status: number) => {
      metrics?.vendorCalls.inc({ connector, status: String(status) });
      if (status === 429) metrics?.rateLimited.inc({ connector });
    },
    threadMessages: (threadId) => threadTimeline(db, threadId),
    lastInboundAt: (contactId) => lastInboundAt(db, contactId),
    reportQuota: (remaining, max) => {
      metrics?.vendorQuotaRemaining.set({ connector }, remaining);
      metrics?.vendorQuotaMax.set({ connector }, max);
      // Kept for `status` and the dashboard; a failed write only leaves the last one shown.
      void saveVendorQuota(db, connector, { remaining, max }, Date.now()).catch(() => undefined);
    },
    getRef: (kind, localId) => externalRef(db, connector, kind, localId),
    setRef: (kind, localId, externalId) => saveExternalRef(db, { connector, kind, localId, externalId }, Date.now()),
    setRefs: (refs) => saveExternalRefs(db, connector, refs, Date.now()),
  };
}
