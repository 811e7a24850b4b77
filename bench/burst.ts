// The burst harness shared by the connector benchmarks: N contacts × M messages ingested and
// processed into the outbox, then drained by one dispatcher through the real connector.
import { join } from 'node:path';
import { parseWhatsAppDelivery } from '../connectors/whatsapp/webhook.js';
import type { Connector } from '../core/connector.js';
import { Engine } from '../core/engine.js';
import { DeliveryInbox } from '../core/ingest.js';
import { silentLogger, type Logger } from '../core/logger.js';
import { ConnectorDispatcher } from '../core/outbox/dispatcher.js';
import { outboxDepth } from '../core/outbox/queries.js';
import { RateBudget } from '../core/outbox/rate-budget.js';
import { openStore, type Store } from '../core/store/store.js';
import { textWebhook } from '../test/helpers/fixtures.js';
import { tempDir } from '../test/helpers/stores.js';

/** One dispatcher draining a connector's operations as the service would, effects planned by the engine. */
export function benchDispatcher(connector: Connector, store: Store, engine: Engine, log: Logger): ConnectorDispatcher {
  return new ConnectorDispatcher({
    connector,
    store,
    budget: new RateBudget(store),
    applyEffects: (tx, effects, now) => engine.applyEffects(tx, effects, now),
    log,
    options: { workerId: 'bench', leaseMs: 120_000, pollIntervalMs: 50, claimBatch: 200 },
  });
}

export interface BurstResult {
  readonly drainMs: number;
  readonly operations: number;
  readonly dead: number;
}

export async function burstThroughConnector(options: {
  name: string;
  contacts: number;
  perContact: number;
  create: (log: Logger, mediaDir: string) => Connector;
}): Promise<BurstResult> {
  const dir = tempDir('wa-crm-sync-bench-');
  const store = await openStore(`sqlite:${join(dir, `${options.name}.sqlite`)}`);
  const log = silentLogger();
  const connector = options.create(log, join(dir, 'media'));
  const engine = new Engine({ store, parsers: { whatsapp: parseWhatsAppDelivery }, connectors: () => [connector], log, options: () => ({ threadGapMs: 86_400_000, servedNumbers: [] }) });
  const inbox = new DeliveryInbox(store);
  const { contacts, perContact } = options;
  await Promise.all(
    Array.from({ length: contacts * perContact }, (_, i) => {
      const c = i % contacts;
      const m = Math.floor(i / contacts);
      return inbox.accept('whatsapp', textWebhook({ from: `4477009${String(100000 + c).slice(1)}`, id: `wamid.${options.name}.${c}.${m}`, timestamp: 1_760_000_000 + m, body: `message ${m}`, name: `Customer ${c}` }));
    }),
  );
  for (let r = await engine.processPending(500); r.processed > 0 || r.sliced; r = await engine.processPending(500));
  const operations = (await outboxDepth(store.db)).reduce((n, d) => n + d.count, 0);

  const dispatcher = benchDispatcher(connector, store, engine, log);
  // Scope check and setup happen at service start; the burst is timed from dispatch on.
  await dispatcher.checkScopes();
  await dispatcher.runSetup();
  const started = Date.now();
  dispatcher.start();
  for (;;) {
    const depth = await outboxDepth(store.db);
    const settled = depth.filter((d) => d.state === 'done' || d.state === 'dead').reduce((n, d) => n + d.count, 0);
    if (settled >= operations) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const drainMs = Date.now() - started;
  await dispatcher.stop();
  const dead = (await outboxDepth(store.db)).find((d) => d.state === 'dead')?.count ?? 0;
  await store.close();
  return { drainMs, operations, dead };
}
