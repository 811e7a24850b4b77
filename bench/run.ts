// `npm run bench`: prints one `metric_name value` line per figure. Targets (issue 3):
// ingest_ratio_vs_bare_express >= 0.6, ingest_p99_ms_at_1000rps < 25; issue 26: the median of three rounds
// ingest_p99_ms_at_1000rps < 25 and ingest_p99_ratio_vs_bare_express <= 3, ingest_ratio_vs_bare_express >= 0.7,
// ingest_drain_ms_after_burst_max <= 10000 (bench/ingest.ts);
// outbox_dispatch_ops_per_s_sqlite >= 2000, peak_rss_mb_1m_pending < 200; issue 4:
// hubspot_calls_per_message <= 0.03, hubspot_drain_ratio_vs_limit_floor <= 1.1; issue 5:
// salesforce_calls_per_message <= 0.015; issue 6: zendesk_calls_per_message <= 0.2 with
// zendesk_per_ticket_limit_violations = 0.
// Backups: backup_peak_rss_ratio_10x_rows and restore_peak_rss_ratio_10x_rows near 1 (memory flat as the store grows tenfold).
// Issue 17 (outbox): hotkey_cold_latency_ratio <= 1.5, hotkey_flood_drain_ratio_vs_limit >= 0.8, and
// claim_ms_* with 1,000,000 pending in one key and over 100,000 keys against claim_ms_empty, per store;
// scale: two instances on one PostgreSQL against one, scale_requests_over_vendor_limit = 0, scale_operations_run_twice = 0.
// Issue 24: zendesk_shuffled_settle_* with settleMs 0 and 2000 (calls, comments, lines marked late, landing latency).
// Issue 19 (history): history_requests_over_limit = 0, history_live_latency_ratio_during_vs_baseline near 1,
// history_messages_per_vendor_call_{hubspot,salesforce,zendesk}, history_peak_rss_mb against history_peak_rss_target_mb (200).
// Issue 22 (outbound): outbound_peak_send_rate_ratio_vs_limit <= 1, outbound_lost = 0, outbound_doubled = 0.
// `npm run bench -- NAME` runs one suite (ingest, dispatch, rss, hubspot, salesforce, zendesk, settle, backup, outbox, scale, history, outbound;
// `outbox hotkey` or `outbox claims` runs half of it).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Connector } from '../core/connector.js';
import { silentLogger } from '../core/logger.js';
import { ConnectorDispatcher } from '../core/outbox/dispatcher.js';
import { enqueueOperations, outboxDepth } from '../core/outbox/queries.js';
import { RateBudget } from '../core/outbox/rate-budget.js';
import { openStore } from '../core/store/store.js';
import { projectRoot } from '../test/helpers/fixtures.js';
import { forwardedMessage } from '../test/helpers/forward-payload.js';
import { Recorder } from '../test/helpers/recorder.js';
import { tempDir } from '../test/helpers/stores.js';
import { benchHubSpot } from './hubspot.js';
import { benchSalesforce } from './salesforce.js';
import { benchZendesk } from './zendesk.js';
import { benchZendeskSettle } from './zendesk-settle.js';
import { benchBackup } from './backup.js';
import { benchOutbox } from './outbox.js';
import { benchScale } from './scale.js';
import { benchHistory } from './history.js';
import { benchOutbound } from './outbound.js';
import { openLoop } from './load.js';
import { benchIngest, startService, webhookTarget } from './ingest.js';

function metric(name: string, value: number, digits = 2): void {
  console.log(`${name} ${Number.isFinite(value) ? value.toFixed(digits) : 'NaN'}`);
}

function noopConnector(): Connector {
  const tuning = { concurrency: 4, rateLimit: null, maxAttempts: 3, backoffBaseMs: 10, backoffMaxMs: 100 };
  return {
    metadata: { id: 'noop', displayName: 'No-op', featureScopes: {}, grantScopesHint: '', maxBatch: { op: 100 }, defaultTuning: tuning },
    features: [],
    tuning,
    plan: () => [],
    execute: async (ops) => ops.map(() => ({ ok: true })),
    reconcile: async () => undefined,
    grantedScopes: async () => [],
  };
}

async function benchDispatch(): Promise<void> {
  const store = await openStore(`sqlite:${join(tempDir('wa-crm-sync-bench-'), 'dispatch.sqlite')}`);
  const total = 20_000;
  const drafts = Array.from({ length: total }, (_, i) => ({ kind: 'op', key: `op${i}`, orderingKey: `contact:${i % 2000}`, payload: { i } }));
  await store.db.transaction().execute((tx) => enqueueOperations(tx, 'noop', drafts, { maxAttempts: 3, now: Date.now() }));
  const dispatcher = new ConnectorDispatcher({
    connector: noopConnector(),
    store,
    budget: new RateBudget(store),
    applyEffects: async () => 0,
    log: silentLogger(),
    options: { workerId: 'bench', leaseMs: 60_000, pollIntervalMs: 5, claimBatch: 1000 },
  });
  const started = performance.now();
  dispatcher.start();
  for (;;) {
    const depth = await outboxDepth(store.db);
    if ((depth.find((d) => d.state === 'done')?.count ?? 0) >= total) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const seconds = (performance.now() - started) / 1000;
  await dispatcher.stop();
  await store.close();
  metric('outbox_dispatch_ops_per_s_sqlite', total / seconds, 0);
}

function peakRssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? NaN);
  return kb / 1024;
}

async function benchPendingRss(): Promise<void> {
  const dir = tempDir('wa-crm-sync-bench-');
  const storeUrl = `sqlite:${join(dir, 'pending.sqlite')}`;
  const store = await openStore(storeUrl);
  const pending = Number(process.env["BENCH_PENDING"] ?? 1_000_000);
  for (let start = 0; start < pending; start += 20_000) {
    const drafts = Array.from({ length: 20_000 }, (_, j) => {
      const i = start + j;
      return { kind: 'message.forward', key: `seed${i}`, orderingKey: `contact:${i % 10_000}`, payload: forwardedMessage(`wamid.seed.${i}`, 'pending message body of ordinary length', `c${i % 10_000}`) };
    });
    await store.db.transaction().execute((tx) => enqueueOperations(tx, 'webhook', drafts, { maxAttempts: 10, now: Date.now() }));
  }
  await store.close();

  // The real service with those operations pending, dispatching to a loopback endpoint and taking webhooks.
  const recorder = new Recorder();
  const recorderUrl = await recorder.start();
  const { service } = await startService(
    { connectors: { webhook: { enabled: true, url: recorderUrl, rateLimit: { concurrency: 4 } } } },
    storeUrl,
  );
  await openLoop(webhookTarget(service.baseUrl, 'rss'), 300, 5000);
  await new Promise((r) => setTimeout(r, 2000));
  const rss = peakRssMb(service.child!.pid!);
  await service.kill('SIGTERM');
  await recorder.stop();
  metric('peak_rss_mb_1m_pending', rss, 1);
  metric('pending_operations_during_rss', pending - recorder.events.length, 0);
}

/**
 * The service process runs dist/ (bin/wa-crm-sync.js): built from the current sources first, as
 * the test suite's global setup does, or a bench would stop at "dist/ is missing" or measure a
 * stale build.
 */
function buildService(): void {
  execFileSync(process.execPath, [join(projectRoot, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: projectRoot, stdio: 'inherit' });
}

const only = process.argv[2];
/** Suites that start the service as a process. */
const SERVICE_SUITES = new Set(['ingest', 'rss', 'scale', 'history']);
if (only === undefined || SERVICE_SUITES.has(only)) buildService();
const suites: Record<string, () => Promise<void>> = { ingest: () => benchIngest(metric), dispatch: benchDispatch, rss: benchPendingRss, hubspot: () => benchHubSpot(metric), salesforce: () => benchSalesforce(metric), zendesk: () => benchZendesk(metric), settle: () => benchZendeskSettle(metric), backup: () => benchBackup(metric), outbox: () => benchOutbox(metric, process.argv[3]), scale: () => benchScale(metric), history: () => benchHistory(metric), outbound: () => benchOutbound(metric) };
for (const [name, run] of Object.entries(suites)) {
  if (only && only !== name) continue;
  await run();
}
