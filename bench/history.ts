// Coexistence history import benchmark: 100,000 past messages of 200 customers, in shuffled
// chunks of 1,000, imported through the engine and the real HubSpot connector against the
// HubSpot sandbox enforcing the burst limit (100 per 10 s). Live messages are timed from webhook
// to HubSpot before the import (baseline) and while it drains, in the same run.
import { join } from 'node:path';
import { hubspotConnector } from '../connectors/hubspot/index.js';
import { hubspotSettingsSchema } from '../connectors/hubspot/settings.js';
import { parseWhatsAppDelivery } from '../connectors/whatsapp/webhook.js';
import { Engine } from '../core/engine.js';
import { DeliveryInbox } from '../core/ingest.js';
import { silentLogger } from '../core/logger.js';
import { outboxDepth } from '../core/outbox/queries.js';
import { benchDispatcher } from './burst.js';
import { openStore } from '../core/store/store.js';
import { HubSpotSandbox } from '../sandbox/hubspot.js';
import { historyWebhooks, type PastMessage } from '../sandbox/whatsapp.js';
import { textWebhook } from '../test/helpers/fixtures.js';
import { tempDir } from '../test/helpers/stores.js';
import { percentile } from './load.js';

const MESSAGES = 100_000;
const CUSTOMERS = 200;
const CHUNK = 1_000;
const LIVE_SAMPLES = 8;

export async function benchHistory(metric: (name: string, value: number, digits?: number) => void): Promise<void> {
  const limit = { requests: 100, intervalMs: 10_000 };
  const sandbox = new HubSpotSandbox(limit);
  const baseUrl = await sandbox.start();
  const dir = tempDir('wa-crm-sync-bench-');
  const store = await openStore(`sqlite:${join(dir, 'history.sqlite')}`);
  const log = silentLogger();
  const connector = hubspotConnector.create(hubspotSettingsSchema.parse({ enabled: true, accessToken: 'pat-sandbox', baseUrl, rateLimit: limit }), { log, mediaDir: join(dir, 'media') });
  const engine = new Engine({ store, parsers: { whatsapp: parseWhatsAppDelivery }, connectors: () => [connector], log, options: () => ({ threadGapMs: 86_400_000, servedNumbers: [] }) });
  const inbox = new DeliveryInbox(store);
  const dispatcher = benchDispatcher(connector, store, engine, log);
  await dispatcher.checkScopes();
  await dispatcher.runSetup();
  let peakRss = 0;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 200);
  // The processing loop of the service: deliveries into the model and the outbox as they come.
  let processing = true;
  const processed = (async () => {
    while (processing) if ((await engine.processPending(20)).processed === 0) await new Promise((r) => setTimeout(r, 20));
  })();
  dispatcher.start();

  const logged = (id: string) => (sandbox.state.objects['communications'] ?? []).some((c) => c.properties['whatsapp_message_id'] === id);
  let liveSeq = 0;
  async function liveLatency(): Promise<number> {
    const id = `wamid.LIVE.${liveSeq++}`;
    const started = Date.now();
    await inbox.accept('whatsapp', textWebhook({ from: `4477009${String(90000 + liveSeq)}`, id, timestamp: Math.floor(started / 1000), body: 'live', name: 'Live' }));
    while (!logged(id)) await new Promise((r) => setTimeout(r, 20));
    return Date.now() - started;
  }
  const baseline: number[] = [];
  for (let i = 0; i < LIVE_SAMPLES; i++) baseline.push(await liveLatency());

  const onboardedAt = Math.floor(Date.now() / 1000);
  const past: PastMessage[] = Array.from({ length: MESSAGES }, (_, i) => ({
    id: `wamid.HIST.${i}`,
    customer: `4477008${String(10000 + (i % CUSTOMERS)).slice(1)}`,
    fromBusiness: i % 3 === 2,
    timestamp: onboardedAt - 175 * 86_400 + Math.floor((i * 175 * 86_400) / MESSAGES),
    text: `past message ${i}`,
  }));
  const bodies = historyWebhooks(past, { phoneNumberId: '214880073361540', displayNumber: '15550130147' }, { chunkSize: CHUNK, onboardedAt });
  for (let i = bodies.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [bodies[i], bodies[j]] = [bodies[j]!, bodies[i]!];
  }
  const requestsBefore = sandbox.state.requests;
  const started = Date.now();
  for (const body of bodies) await inbox.accept('whatsapp', body);
  const during: number[] = [];
  const importDone = async () => (sandbox.state.objects['communications'] ?? []).length >= MESSAGES + LIVE_SAMPLES * 2;
  while (!(await importDone())) {
    if (during.length < LIVE_SAMPLES) {
      during.push(await liveLatency());
      await new Promise((r) => setTimeout(r, 2_000));
    } else await new Promise((r) => setTimeout(r, 500));
  }
  const importMs = Date.now() - started;
  // Every call since the import began, the live messages' included (they share the calls).
  const calls = sandbox.state.requests - requestsBefore;
  clearInterval(sampler);
  processing = false;
  await processed;
  await dispatcher.stop();
  const dead = (await outboxDepth(store.db)).find((d) => d.state === 'dead')?.count ?? 0;
  const floorMs = Math.max(1, Math.ceil(calls / limit.requests) - 1) * limit.intervalMs;

  metric('history_messages_imported', (sandbox.state.objects['communications'] ?? []).filter((c) => String(c.properties['whatsapp_message_id']).startsWith('wamid.HIST.')).length, 0);
  metric('history_import_seconds', importMs / 1000, 1);
  metric('history_messages_per_vendor_call', (MESSAGES + during.length) / Math.max(1, calls));
  metric('history_drain_ratio_vs_limit_floor', importMs / floorMs);
  metric('history_requests_over_limit', sandbox.state.overLimit, 0);
  metric('history_dead_operations', dead, 0);
  metric('history_peak_rss_mb', peakRss / 1024 / 1024, 0);
  metric('history_live_latency_p50_ms_baseline', percentile(baseline, 50), 0);
  metric('history_live_latency_p50_ms_during_import', percentile(during, 50), 0);
  metric('history_live_latency_max_ms_during_import', Math.max(...during), 0);
  metric('history_live_latency_ratio_during_vs_baseline', percentile(during, 50) / Math.max(1, percentile(baseline, 50)));
  await store.close();
  await sandbox.stop();
}
