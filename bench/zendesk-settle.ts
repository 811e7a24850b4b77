// What Zendesk's settle time costs and saves: contacts each send six messages a minute apart that
// arrive within a second shuffled (3, 0, 5, 1, 4, 2), as Meta delivers under load, while the
// engine and a dispatcher run, through the real connector against the local Zendesk sandbox.
// Run with settleMs 0 and the default 2,000: calls, comments, lines marked late, and the latency
// from a message's arrival to its landing on the ticket.
import { join } from 'node:path';
import { parseWhatsAppDelivery } from '../connectors/whatsapp/webhook.js';
import { zendeskConnector } from '../connectors/zendesk/index.js';
import { zendeskSettingsSchema } from '../connectors/zendesk/settings.js';
import { Engine } from '../core/engine.js';
import { DeliveryInbox } from '../core/ingest.js';
import { silentLogger } from '../core/logger.js';
import { outboxDepth } from '../core/outbox/queries.js';
import { openStore } from '../core/store/store.js';
import { ZendeskSandbox } from '../sandbox/zendesk.js';
import { textWebhook } from '../test/helpers/fixtures.js';
import { tempDir } from '../test/helpers/stores.js';
import { benchDispatcher } from './burst.js';
import { percentile } from './load.js';

const ORDER = [3, 0, 5, 1, 4, 2];
const CONTACTS = 20;

type Metric = (name: string, value: number, digits?: number) => void;

export async function benchZendeskSettle(metric: Metric): Promise<void> {
  const without = await shuffledBursts(0);
  const withSettle = await shuffledBursts(2000);
  for (const [prefix, r] of [['zendesk_shuffled_settle0', without], ['zendesk_shuffled_settle2000', withSettle]] as const) {
    metric(`${prefix}_calls_total`, r.calls, 0);
    metric(`${prefix}_comments`, r.comments, 0);
    metric(`${prefix}_lines_marked_late`, r.late, 0);
    metric(`${prefix}_tickets_in_customer_order`, r.inOrder, 0);
    metric(`${prefix}_landing_p50_ms`, r.p50, 0);
    metric(`${prefix}_landing_p95_ms`, r.p95, 0);
    metric(`${prefix}_burst_delivered_in_ms`, r.deliveredInMs, 0);
  }
  metric('zendesk_shuffled_settle_calls_ratio', withSettle.calls / without.calls, 3);
  metric('zendesk_shuffled_settle_added_p50_ms', withSettle.p50 - without.p50, 0);
}

async function shuffledBursts(settleMs: number) {
  const sandbox = new ZendeskSandbox({ requestsPerMinute: 2500 });
  const baseUrl = await sandbox.start();
  const dir = tempDir('wa-crm-sync-bench-');
  const store = await openStore(`sqlite:${join(dir, 'settle.sqlite')}`);
  const log = silentLogger();
  const connector = zendeskConnector.create(
    zendeskSettingsSchema.parse({ enabled: true, baseUrl, ...sandbox.credentials, autoSetup: false, settleMs, rateLimit: { requests: 2500, intervalMs: 60_000 } }),
    { log, mediaDir: join(dir, 'media') },
  );
  const engine = new Engine({ store, parsers: { whatsapp: parseWhatsAppDelivery }, connectors: () => [connector], log, options: () => ({ threadGapMs: 86_400_000, servedNumbers: [] }) });
  const inbox = new DeliveryInbox(store);
  const dispatcher = benchDispatcher(connector, store, engine, log);
  await dispatcher.checkScopes();
  dispatcher.start();
  let processing = true;
  const processor = (async () => {
    while (processing) {
      const result = await engine.processPending(200);
      if (result.processed === 0 && !result.sliced) await new Promise((r) => setTimeout(r, 20));
    }
  })();

  const written = 1_760_000_000;
  const arrivedAt = new Map<string, number>();
  const landedAt = new Map<string, number>();
  const watcher = setInterval(() => {
    for (const ticket of sandbox.state.tickets) for (const comment of ticket.comments) for (const match of comment.body.matchAll(/burst (\d+)-(\d+)\b/g)) if (!landedAt.has(match[0])) landedAt.set(match[0], Date.now());
  }, 10);
  const idle = async (landed: number) => {
    for (;;) {
      await new Promise((r) => setTimeout(r, 100));
      const depth = await outboxDepth(store.db);
      if (landedAt.size >= landed && !depth.some((d) => d.state === 'pending' || d.state === 'in_flight')) return;
    }
  };
  // An ongoing conversation: each customer's user and ticket exist before the burst (for a new
  // customer, creating the end user happens to hold the first comment back longer than the burst).
  await Promise.all(
    Array.from({ length: CONTACTS }, (_, c) =>
      inbox.accept('whatsapp', textWebhook({ from: `4477009${String(200000 + c).slice(1)}`, id: `wamid.settle.${settleMs}.${c}.w`, timestamp: written - 600, body: `opening ${c}`, name: `Customer ${c}` })),
    ),
  );
  for (;;) {
    await new Promise((r) => setTimeout(r, 100));
    const depth = await outboxDepth(store.db);
    if (sandbox.state.tickets.length >= CONTACTS && !depth.some((d) => d.state === 'pending' || d.state === 'in_flight')) break;
  }
  const requestsBefore = sandbox.state.requests;
  const commentsBefore = sandbox.state.tickets.reduce((n, t) => n + t.comments.length, 0);
  // Six rounds (one message of every contact's burst each, in the shuffled order) within about a second.
  const deliveries = CONTACTS * ORDER.length;
  const started = Date.now();
  for (const n of ORDER) {
    await Promise.all(
      Array.from({ length: CONTACTS }, async (_, c) => {
        const label = `burst ${c}-${n}`;
        await inbox.accept('whatsapp', textWebhook({ from: `4477009${String(200000 + c).slice(1)}`, id: `wamid.settle.${settleMs}.${c}.${n}`, timestamp: written + n * 60, body: label, name: `Customer ${c}` }));
        arrivedAt.set(label, Date.now());
      }),
    );
  }
  const deliveredInMs = Date.now() - started;
  await idle(deliveries);
  clearInterval(watcher);
  processing = false;
  await processor;
  await dispatcher.stop();
  const latencies = [...arrivedAt].map(([label, at]) => landedAt.get(label)! - at).sort((a, b) => a - b);
  const bodies = sandbox.state.tickets.map((t) => t.comments.map((c) => c.body).join('\n'));
  const inOrder = bodies.filter((body) => {
    const seen = [...body.matchAll(/burst \d+-(\d+)\b/g)].map((m) => Number(m[1]));
    return seen.every((n, i) => i === 0 || n > seen[i - 1]!);
  }).length;
  const result = {
    calls: sandbox.state.requests - requestsBefore,
    comments: sandbox.state.tickets.reduce((n, t) => n + t.comments.length, 0) - commentsBefore,
    late: bodies.reduce((n, body) => n + (body.match(/arrived late/g)?.length ?? 0), 0),
    inOrder,
    p50: percentile(latencies, 50),
    p95: percentile(latencies, 95),
    deliveredInMs,
  };
  await store.close();
  await sandbox.stop();
  return result;
}
