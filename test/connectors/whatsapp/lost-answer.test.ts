// A reply whose send answer was lost, on both stores: the real dispatcher, engine and WhatsApp
// connector against the WhatsApp sandbox, whose status webhooks (echoing the callback data)
// come back through the inbox. The reply reaches the customer once; only when no status comes
// within whatsapp.lostAnswerWaitSeconds is it sent again, and the origin is told.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { whatsappConnector } from '../../../connectors/whatsapp/index.js';
import { parseWhatsAppDelivery } from '../../../connectors/whatsapp/webhook.js';
import { whatsappSection } from '../../../core/config/schema.js';
import type { Connector } from '../../../core/connector.js';
import { Engine } from '../../../core/engine.js';
import { DeliveryInbox } from '../../../core/ingest.js';
import { silentLogger } from '../../../core/logger.js';
import type { ModelChange } from '../../../core/model/types.js';
import { ConnectorDispatcher } from '../../../core/outbox/dispatcher.js';
import { RateBudget } from '../../../core/outbox/rate-budget.js';
import { Alerts, openAlerts } from '../../../core/security/alerts.js';
import { openStore, type Store } from '../../../core/store/store.js';
import { WhatsAppSandbox } from '../../../sandbox/whatsapp.js';
import { textWebhook } from '../../helpers/fixtures.js';
import { waitFor } from '../../helpers/service-process.js';
import { freshStoreUrl, STORE_KINDS } from '../../helpers/stores.js';

/** Sees every change the engine plans (the Zendesk connector would turn reply.resent into a note). */
function changeRecorder(seen: ModelChange[]): Connector {
  const tuning = { concurrency: 1, rateLimit: null, maxAttempts: 3, backoffBaseMs: 1, backoffMaxMs: 1 };
  return {
    metadata: { id: 'rec', displayName: 'Recorder', featureScopes: {}, grantScopesHint: '', maxBatch: {}, defaultTuning: tuning },
    features: [],
    tuning,
    plan: (change) => (seen.push(change), []),
    execute: async () => [],
    reconcile: async () => undefined,
    grantedScopes: async () => [],
  };
}

describe.each(STORE_KINDS)('a reply whose answer was lost, on %s', (kind) => {
  const customer = '447700900155';
  let store: Store;
  let drop: () => Promise<void>;
  let sandbox: WhatsAppSandbox;
  let webhookReceiver: Server;
  let webhookUrl: string;
  let stopEverything: () => Promise<void>;
  let changes: ModelChange[];

  beforeEach(async () => {
    const fresh = freshStoreUrl(kind);
    drop = fresh.drop;
    store = await openStore(fresh.url);
    sandbox = new WhatsAppSandbox();
    changes = [];
    const inbox = new DeliveryInbox(store);
    // Stands in for the service's /webhooks/whatsapp: stores each delivery, then acknowledges.
    webhookReceiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => void inbox.accept('whatsapp', Buffer.concat(chunks).toString('utf8')).then(() => res.writeHead(200).end()));
    });
    await new Promise<void>((r) => webhookReceiver.listen(0, '127.0.0.1', r));
    webhookUrl = `http://127.0.0.1:${(webhookReceiver.address() as AddressInfo).port}/webhooks/whatsapp`;
    stopEverything = async () => {};
  });

  afterEach(async () => {
    await stopEverything();
    await sandbox.stop();
    await new Promise((r) => webhookReceiver.close(r));
    await store.close();
    await drop();
  });

  /** Starts engine and dispatcher, has the customer write, queues an agent's reply; resolves once it is queued. */
  async function run(lostAnswerWaitSeconds: number): Promise<{ engine: Engine }> {
    const graphBaseUrl = await sandbox.start();
    const settings = whatsappSection.parse({ appSecret: 'a', verifyToken: 'b', accessToken: sandbox.accessToken, graphBaseUrl, lostAnswerWaitSeconds, media: { fetch: false }, rateLimit: { backoffBaseMs: 20, backoffMaxMs: 50 } });
    const whatsapp = whatsappConnector.create(settings, { log: silentLogger(), mediaDir: '/tmp' });
    const alerts = new Alerts({ log: silentLogger(), options: () => ({ throttleMs: 3_600_000, sinkCount: 0, maxAttempts: 5 }) });
    const engine = new Engine({ store, parsers: { whatsapp: parseWhatsAppDelivery }, connectors: () => [whatsapp, changeRecorder(changes)], log: silentLogger(), options: () => ({ threadGapMs: 86_400_000, servedNumbers: [] }), alerts });
    const dispatcher = new ConnectorDispatcher({
      connector: whatsapp,
      store,
      budget: new RateBudget(store),
      applyEffects: (tx, effects, now) => engine.applyEffects(tx, effects, now),
      log: silentLogger(),
      options: { workerId: 'w1', leaseMs: 60_000, pollIntervalMs: 20, claimBatch: 10 },
    });
    const processing = setInterval(() => void engine.processPending().catch(() => undefined), 20);
    stopEverything = async () => {
      clearInterval(processing);
      await dispatcher.stop(1000);
    };

    await new DeliveryInbox(store).accept('whatsapp', textWebhook({ from: customer, id: 'wamid.CUSTOMER1', timestamp: Math.floor(Date.now() / 1000), body: 'Where is my order?' }));
    await waitFor(async () => (await store.db.selectFrom('threads').select('id').execute()).length === 1, 10_000, 'the thread');
    const thread = await store.db.selectFrom('threads').select('id').executeTakeFirstOrThrow();
    await store.db.transaction().execute((tx) =>
      engine.applyEffects(tx, [{ type: 'reply.requested', threadId: thread.id, reply: { origin: 'zendesk', sourceId: '901', sourceRecord: '4107', text: 'It ships today.', attachments: [], template: null } }]),
    );
    dispatcher.start();
    return { engine };
  }

  const sendOperation = () => store.db.selectFrom('outbox').selectAll().where('connector', '=', 'whatsapp').where('kind', '=', 'message.send').executeTakeFirstOrThrow();

  it('is not sent again: its status, echoing the callback data, settles it with its wamid', { timeout: 30_000 }, async () => {
    sandbox.deliverStatusesTo(webhookUrl, 'a');
    sandbox.loseSendAnswers = 1;
    const startedAt = Date.now();
    // A minute's wait: settling sooner shows the status, not the clock, let the operation go on.
    await run(60);
    await waitFor(async () => (await sendOperation()).state === 'done', 20_000, 'the send to settle');
    expect(Date.now() - startedAt).toBeLessThan(20_000);

    expect(sandbox.state.answersLost).toBe(1);
    expect(sandbox.state.sent).toHaveLength(1);
    const [sent] = sandbox.state.sent;
    expect(sent!.body).toMatchObject({ biz_opaque_callback_data: 'wa-crm-sync:zendesk:901:0' });
    // Recorded as our outbound message under the wamid WhatsApp gave it, so CRMs log it once.
    const outbound = await store.db.selectFrom('messages').select(['id', 'origin', 'direction']).where('direction', '=', 'outbound').execute();
    expect(outbound).toEqual([{ id: sent!.id, origin: 'zendesk', direction: 'outbound' }]);
    expect(JSON.parse((await sendOperation()).result!)).toMatchObject({ messageIds: [sent!.id] });
    // Its statuses are known as ours: no "status for a message we never sent" alert.
    await waitFor(async () => (await store.db.selectFrom('webhook_deliveries').select('state').where('state', '=', 'pending').execute()).length === 0, 10_000, 'the status deliveries');
    expect(await openAlerts(store.db)).toEqual([]);
    expect(changes.some((c) => c.type === 'reply.resent')).toBe(false);
  });

  it('is sent again once no status has come within lostAnswerWaitSeconds, and the origin is told', { timeout: 30_000 }, async () => {
    // No status webhooks at all: nothing can tell whether the first send arrived.
    sandbox.loseSendAnswers = 1;
    const startedAt = Date.now();
    await run(1);
    await waitFor(async () => (await sendOperation()).state === 'done', 20_000, 'the send to settle');
    expect(sandbox.state.sent).toHaveLength(2);
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(1000);
    const resent = changes.find((c) => c.type === 'reply.resent');
    expect(resent).toMatchObject({ type: 'reply.resent', reply: { sourceId: '901' }, reason: expect.stringMatching(/answer to the first send was lost and no status for it came within 1 s, so it was sent again/) });
    expect(JSON.parse((await sendOperation()).result!)).toMatchObject({ messageIds: [sandbox.state.sent[1]!.id] });
  });
});
