// `npm run bench -- outbox` (issue 17): what a claim costs with a large backlog, on SQLite and
// PostgreSQL, against the claim query used before key queues in the same run; and a flooding
// customer beside quiet ones, through the real webhook connector to a loopback endpoint.
// BENCH_CLAIM_PENDING sets the backlog (default 1,000,000 operations).
import { join } from 'node:path';
import { sql } from 'kysely';
import { webhookConnector } from '../connectors/webhook/index.js';
import { forwardedMessage } from '../test/helpers/forward-payload.js';
import type { Connector } from '../core/connector.js';
import { silentLogger } from '../core/logger.js';
import { ConnectorDispatcher } from '../core/outbox/dispatcher.js';
import { rebuildOrderingKeys } from '../core/outbox/key-queue.js';
import { claimOperations, enqueueOperations, releaseOperations } from '../core/outbox/queries.js';
import { RateBudget } from '../core/outbox/rate-budget.js';
import { openStore, type Store } from '../core/store/store.js';
import { Recorder } from '../test/helpers/recorder.js';
import { freshStoreUrl, STORE_KINDS, tempDir } from '../test/helpers/stores.js';

type Metric = (name: string, value: number, digits?: number) => void;

const CONNECTOR = 'bench';
const CLAIM_LIMIT = 200;

/** Fills the outbox with `count` pending operations over `keys` ordering keys, in bulk SQL (the engine would take hours). */
async function fillOutbox(store: Store, count: number, keys: number): Promise<void> {
  const now = Date.now();
  // `open` as enqueueOperations writes it (the store would derive it, one more write per row).
  const values = sql`${CONNECTOR}, 'message.forward', '{"messageId":"wamid.bench"}', 'pending', 1, ${now}, 0, 10, ${now}, ${now}`;
  const columns = sql`idempotency_key, ordering_key, connector, kind, payload, state, open, run_at, attempts, max_attempts, created_at, updated_at`;
  if (store.dialect === 'postgres') {
    await sql`insert into outbox (${columns}) select 'bench:m:' || i, 'contact:' || (i % ${keys}), ${values} from generate_series(0, ${count - 1}) as i`.execute(store.db);
  } else {
    await sql`with recursive n(i) as (select 0 union all select i + 1 from n where i < ${count - 1})
      insert into outbox (${columns}) select 'bench:m:' || i, 'contact:' || (i % ${keys}), ${values} from n`.execute(store.db);
  }
  await store.db.transaction().execute((tx) => rebuildOrderingKeys(tx));
  // A bulk load leaves no dead rows to clean but the planner needs statistics, and the visibility
  // map (index-only probes) is set by vacuum; autovacuum would do both on a running server, but
  // may be off on a test one.
  if (store.dialect === 'postgres') await sql`vacuum analyze`.execute(store.db);
}

/** Median time of a claim of up to CLAIM_LIMIT, each handed back at once so every claim sees the same queue. */
async function claimMs(store: Store, rounds = 15): Promise<{ ms: number; returned: number }> {
  const times: number[] = [];
  let returned = 0;
  for (let i = 0; i < rounds; i++) {
    const started = performance.now();
    const ops = await claimOperations(store, CONNECTOR, 'bench', { limit: CLAIM_LIMIT, leaseMs: 60_000, now: Date.now() });
    times.push(performance.now() - started);
    returned = ops.length;
    await releaseOperations(store.db, 'bench', ops.map((o) => o.id), Date.now());
  }
  return { ms: times.sort((a, b) => a - b)[Math.floor(times.length / 2)]!, returned };
}

/** The claim's read before key queues (migration 0009): each pending row in id order, with "is an earlier one open?" probed. */
async function scanClaimMs(store: Store): Promise<number> {
  const started = performance.now();
  await store.db
    .selectFrom('outbox as o')
    .select('o.id')
    .where('o.connector', '=', CONNECTOR)
    .where('o.state', '=', 'pending')
    .where('o.run_at', '<=', Date.now())
    .where(({ not, exists, selectFrom }) =>
      not(exists(selectFrom('outbox as p').select('p.id').whereRef('p.connector', '=', 'o.connector').whereRef('p.ordering_key', '=', 'o.ordering_key').whereRef('p.id', '<', 'o.id').where('p.state', 'in', ['pending', 'in_flight']))),
    )
    .orderBy('o.id')
    .limit(CLAIM_LIMIT)
    .execute();
  return performance.now() - started;
}

async function benchClaims(metric: Metric): Promise<void> {
  const pending = Number(process.env['BENCH_CLAIM_PENDING'] ?? 1_000_000);
  const label = pending >= 1_000_000 && pending % 1_000_000 === 0 ? `${pending / 1_000_000}m` : `${Math.round(pending / 1000)}k`;
  metric('claim_pending_operations', pending, 0);
  for (const kind of STORE_KINDS) {
    const scenarios: Array<{ name: string; count: number; keys: number }> = [
      { name: 'empty', count: 0, keys: 1 },
      // One operation queued: the claim a 1,000,000-deep single key should cost the same as.
      { name: 'one_op', count: 1, keys: 1 },
      // The same claim (200 keys, one operation each) over a small queue: what a claim returning 200 costs.
      { name: `${CLAIM_LIMIT}_keys`, count: CLAIM_LIMIT, keys: CLAIM_LIMIT },
      { name: `${label}_pending_one_key`, count: pending, keys: 1 },
      { name: `${label}_pending_100k_keys`, count: pending, keys: Math.min(100_000, pending) },
    ];
    const figures = new Map<string, number>();
    for (const scenario of scenarios) {
      const fresh = freshStoreUrl(kind);
      const store = await openStore(fresh.url);
      try {
        if (scenario.count > 0) await fillOutbox(store, scenario.count, scenario.keys);
        await claimMs(store, 3);
        const { ms, returned } = await claimMs(store);
        figures.set(scenario.name, ms);
        metric(`claim_ms_${scenario.name}_${kind}`, ms, 3);
        metric(`claim_returned_${scenario.name}_${kind}`, returned, 0);
        if (scenario.count >= pending) metric(`claim_scan_ms_before_key_queues_${scenario.name}_${kind}`, await scanClaimMs(store), 1);
      } finally {
        await store.close();
        await fresh.drop();
      }
    }
    const empty = figures.get('empty')!;
    const same = figures.get(`${CLAIM_LIMIT}_keys`)!;
    metric(`claim_ratio_${label}_one_key_vs_empty_${kind}`, figures.get(`${label}_pending_one_key`)! / empty);
    metric(`claim_ratio_${label}_one_key_vs_one_op_${kind}`, figures.get(`${label}_pending_one_key`)! / figures.get('one_op')!);
    metric(`claim_ratio_${label}_100k_keys_vs_empty_${kind}`, figures.get(`${label}_pending_100k_keys`)! / empty);
    metric(`claim_ratio_${label}_100k_keys_vs_${CLAIM_LIMIT}_keys_${kind}`, figures.get(`${label}_pending_100k_keys`)! / same);
  }
}

function webhook(url: string, requestsPerSecond: number, maxRun?: number): Connector {
  const connector = webhookConnector.create(
    { enabled: true, url, timeoutMs: 5000, events: ['contact', 'message', 'status'], rateLimit: { requests: requestsPerSecond, intervalMs: 1000 } },
    { log: silentLogger(), mediaDir: '' },
  );
  if (maxRun === undefined) return connector;
  // The same connector with runs switched off: the heads-only dispatch as it was before.
  const metadata = { ...connector.metadata, maxRun };
  return { metadata, features: connector.features, tuning: connector.tuning, plan: (c) => connector.plan(c), execute: (o, x) => connector.execute(o, x), reconcile: (o, x) => connector.reconcile(o, x), grantedScopes: (x) => connector.grantedScopes(x) };
}

interface FloodRun {
  /** Mean time from queueing to arrival of the quiet customers' messages. */
  readonly coldMeanMs: number;
  /** The flooding customer's messages per second while it drained alone. */
  readonly floodRate: number;
}

/**
 * One store, one dispatcher (the service's defaults: claim batch 200, poll 500 ms), the webhook
 * connector at `limit` requests per second. `flood` messages of one customer are queued; once
 * they flow, `cold` customers write one message each.
 */
async function floodRun(options: { limit: number; flood: number; cold: number; maxRun?: number }): Promise<FloodRun> {
  const recorder = new Recorder();
  const url = await recorder.start();
  const store = await openStore(`sqlite:${join(tempDir('wa-crm-sync-bench-'), 'flood.sqlite')}`);
  const connector = webhook(url, options.limit, options.maxRun);
  const dispatcher = new ConnectorDispatcher({ connector, store, budget: new RateBudget(store), applyEffects: async () => 0, log: silentLogger(), options: { workerId: 'bench', leaseMs: 60_000, pollIntervalMs: 500, claimBatch: 200 } });
  const draft = (key: string, orderingKey: string) => ({ kind: 'message.forward', key, orderingKey, payload: forwardedMessage(key, 'bench') });
  try {
    dispatcher.start();
    // Warm up (connections, compiled code) on other customers first, so both cases start alike.
    await enqueueOperations(store.db, 'webhook', Array.from({ length: 200 }, (_, i) => draft(`warm${i}`, `contact:warm${i}`)), { maxAttempts: 10, now: Date.now() });
    dispatcher.wake();
    while (recorder.events.length < 200) await new Promise((r) => setTimeout(r, 10));
    let floodRate = 0;
    if (options.flood > 0) {
      await enqueueOperations(store.db, 'webhook', Array.from({ length: options.flood }, (_, i) => draft(`flood${i}`, 'contact:flood')), { maxAttempts: 10, now: Date.now() });
      dispatcher.wake();
      const floods = () => recorder.events.filter((e) => e.idempotencyKey.includes(':flood'));
      while (floods().length === 0) await new Promise((r) => setTimeout(r, 10));
      // Whole windows of the rate limit, after the first one (a fresh budget lets a window's worth through at once).
      const from = floods()[0]!.receivedAt + 1000;
      const to = from + 3000;
      while (Date.now() < to + 100) await new Promise((r) => setTimeout(r, 20));
      floodRate = floods().filter((e) => e.receivedAt >= from && e.receivedAt < to).length / 3;
    }
    let coldQueuedAt = 0;
    const arrivals = () => recorder.events.filter((e) => e.idempotencyKey.includes(':cold'));
    if (options.cold > 0) {
      coldQueuedAt = Date.now();
      await enqueueOperations(store.db, 'webhook', Array.from({ length: options.cold }, (_, i) => draft(`cold${i}`, `contact:cold${i}`)), { maxAttempts: 10, now: coldQueuedAt });
      dispatcher.wake();
      while (arrivals().length < options.cold) await new Promise((r) => setTimeout(r, 10));
    }
    const cold = arrivals();
    const coldMeanMs = cold.length === 0 ? 0 : cold.reduce((sum, e) => sum + (e.receivedAt - coldQueuedAt), 0) / cold.length;
    return { coldMeanMs, floodRate };
  } finally {
    await dispatcher.stop(1000);
    await store.close();
    await recorder.stop();
  }
}

async function benchHotKey(metric: Metric): Promise<void> {
  const cold = 200;
  const flood = 20_000;
  // Quiet customers behind a flood, with the vendor's limit out of the way (as in the measurement).
  // Three rounds, alternating, medians: this machine is shared, and a single pass is noisy.
  const open = 100_000;
  const quiet: FloodRun[] = [];
  const floodedRuns: FloodRun[] = [];
  for (let round = 0; round < 3; round++) {
    quiet.push(await floodRun({ limit: open, flood: 0, cold }));
    floodedRuns.push(await floodRun({ limit: open, flood, cold }));
  }
  const median = (runs: FloodRun[], pick: (r: FloodRun) => number) => runs.map(pick).sort((a, b) => a - b)[1]!;
  const quietMs = median(quiet, (r) => r.coldMeanMs);
  const floodedMs = median(floodedRuns, (r) => r.coldMeanMs);
  metric('hotkey_cold_mean_ms_quiet', quietMs, 0);
  metric('hotkey_cold_mean_ms_behind_flood', floodedMs, 0);
  metric('hotkey_cold_latency_ratio', floodedMs / quietMs);
  // The flooding customer alone against a configured limit: runs against heads only, same run.
  const limit = 200;
  metric('hotkey_vendor_limit_per_s', limit, 0);
  const runs = await floodRun({ limit, flood, cold: 0 });
  const headsOnly = await floodRun({ limit, flood, cold: 0, maxRun: 1 });
  metric('hotkey_flood_drain_per_s', runs.floodRate, 0);
  metric('hotkey_flood_drain_ratio_vs_limit', runs.floodRate / limit);
  metric('hotkey_flood_drain_ratio_vs_limit_heads_only', headsOnly.floodRate / limit);
  // With the limit out of the way: how fast one customer's backlog goes at all.
  metric('hotkey_flood_drain_per_s_unlimited', median(floodedRuns, (r) => r.floodRate), 0);
}

export async function benchOutbox(metric: Metric, part?: string): Promise<void> {
  if (part !== 'claims') await benchHotKey(metric);
  if (part !== 'hotkey') await benchClaims(metric);
}
