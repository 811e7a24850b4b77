// HubSpot burst benchmark: 10,000 messages from 1,000 contacts through the real connector and
// SDK against the local HubSpot sandbox enforcing HubSpot's burst limit (100 per 10 s).
import { join } from 'node:path';
import { hubspotConnector } from '../connectors/hubspot/index.js';
import { hubspotSettingsSchema } from '../connectors/hubspot/settings.js';
import { parseWhatsAppDelivery } from '../connectors/whatsapp/webhook.js';
import { Engine } from '../core/engine.js';
import { DeliveryInbox } from '../core/ingest.js';
import { silentLogger } from '../core/logger.js';
import { ConnectorDispatcher } from '../core/outbox/dispatcher.js';
import { outboxDepth } from '../core/outbox/queries.js';
import { RateBudget } from '../core/outbox/rate-budget.js';
import { openStore } from '../core/store/store.js';
import { HubSpotSandbox } from '../sandbox/hubspot.js';
import { textWebhook } from '../test/helpers/fixtures.js';
import { tempDir } from '../test/helpers/stores.js';

export async function benchHubSpot(metric: (name: string, value: number, digits?: number) => void): Promise<void> {
  const limit = { requests: 100, intervalMs: 10_000 };
  const sandbox = new HubSpotSandbox(limit);
  const baseUrl = await sandbox.start();
  const store = await openStore(`sqlite:${join(tempDir('wa-crm-sync-bench-'), 'hubspot.sqlite')}`);
  const log = silentLogger();
  const connector = hubspotConnector.create(hubspotSettingsSchema.parse({ enabled: true, accessToken: 'pat-sandbox', baseUrl, rateLimit: limit }), { log, mediaDir: tempDir() });
  const engine = new Engine({ store, parse: parseWhatsAppDelivery, connectors: () => [connector], log, options: () => ({ threadGapMs: 86_400_000, servedNumbers: [] }) });

  const contacts = 1000;
  const perContact = 10;
  const inbox = new DeliveryInbox(store);
  await Promise.all(
    Array.from({ length: contacts * perContact }, (_, i) => {
      const c = i % contacts;
      const m = Math.floor(i / contacts);
      return inbox.accept('whatsapp', textWebhook({ from: `4477009${String(100000 + c).slice(1)}`, id: `wamid.hs.${c}.${m}`, timestamp: 1_760_000_000 + m, body: `message ${m}`, name: `Customer ${c}` }));
    }),
  );
  while ((await engine.processPending(500)).processed > 0);
  const total = (await outboxDepth(store.db)).reduce((n, d) => n + d.count, 0);

  const dispatcher = new ConnectorDispatcher({
    connector,
    store,
    budget: new RateBudget(store),
    applyEffects: (tx, effects, now) => engine.applyEffects(tx, effects, now),
    log,
    options: { workerId: 'bench', leaseMs: 120_000, pollIntervalMs: 50, claimBatch: 200 },
  });
  // Scope check and setup happen at service start; the burst is timed from dispatch on.
  await dispatcher.checkScopes();
  await dispatcher.runSetup();
  const started = Date.now();
  dispatcher.start();
  for (;;) {
    const depth = await outboxDepth(store.db);
    const settled = depth.filter((d) => d.state === 'done' || d.state === 'dead').reduce((n, d) => n + d.count, 0);
    if (settled >= total) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const drainMs = Date.now() - started;
  await dispatcher.stop();
  const dead = (await outboxDepth(store.db)).find((d) => d.state === 'dead')?.count ?? 0;
  const calls = sandbox.state.requests;
  // With a rolling window, N calls need at least (ceil(N / limit) - 1) whole windows.
  const floorMs = Math.max(1, Math.ceil(calls / limit.requests) - 1) * limit.intervalMs;
  metric('hubspot_calls_per_message', calls / (contacts * perContact), 4);
  metric('hubspot_calls_total', calls, 0);
  metric('hubspot_drain_seconds', drainMs / 1000, 1);
  metric('hubspot_drain_ratio_vs_limit_floor', drainMs / floorMs);
  metric('hubspot_requests_over_limit', sandbox.state.overLimit, 0);
  for (const [policy, count] of Object.entries(sandbox.state.rateLimitedBy)) metric(`hubspot_429_${policy.toLowerCase()}`, count, 0);
  metric('hubspot_contacts_created', sandbox.state.objects['contacts']?.length ?? 0, 0);
  metric('hubspot_communications_logged', sandbox.state.objects['communications']?.length ?? 0, 0);
  metric('hubspot_dead_operations', dead, 0);
  await store.close();
  await sandbox.stop();
}
