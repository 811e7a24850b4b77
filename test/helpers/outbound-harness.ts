// The outbound API in process, over a real store: the real engine, WhatsApp connector and its
// dispatcher sending to the WhatsApp sandbox, the template cache reading the sandbox's account,
// and the /api/v1 routes on a port of their own. Shared by the outbound-API suites.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { whatsappConnector } from '../../connectors/whatsapp/index.js';
import { KIND } from '../../connectors/whatsapp/mappers.js';
import type { WhatsAppConnector } from '../../connectors/whatsapp/connector.js';
import { parseWhatsAppDelivery } from '../../connectors/whatsapp/webhook.js';
import { createToken, type Permission } from '../../core/admin/accounts.js';
import { whatsappSection } from '../../core/config/schema.js';
import { Engine } from '../../core/engine.js';
import { DeliveryInbox } from '../../core/ingest.js';
import { silentLogger } from '../../core/logger.js';
import { TemplateCache } from '../../core/outbound/templates.js';
import { ConnectorDispatcher } from '../../core/outbox/dispatcher.js';
import { idempotencyKeyOf } from '../../core/outbox/queries.js';
import { RateBudget } from '../../core/outbox/rate-budget.js';
import type { AuditEntry } from '../../core/security/audit-trail.js';
import { openStore, type Store } from '../../core/store/store.js';
import { WhatsAppSandbox } from '../../sandbox/whatsapp.js';
import { connectorRegistry } from '../../connectors/registry.js';
import { outboundRoutes } from '../../server/outbound-api.js';
import { recipeConnectors, recipeRoutes } from '../../server/recipe-api.js';
import { textWebhook } from './fixtures.js';
import { freshStoreUrl, type StoreKind } from './stores.js';
import { waitFor } from './service-process.js';

export const BUSINESS_NUMBER = '106540352242922';
export const WABA_ID = '102290129340398';

export interface OutboundHarness {
  readonly store: Store;
  readonly sandbox: WhatsAppSandbox;
  readonly baseUrl: string;
  readonly audit: AuditEntry[];
  /** The settings a recipe's connector is enabled with (`connectors.<id>` as parsed); absent: not enabled. */
  readonly connectorSettings: Map<string, unknown>;
  /** A live token's bearer value, with these permissions. */
  token(permissions: readonly Permission[]): Promise<string>;
  /** The customer writes to the business (the message was sent `ageMs` ago), and it is processed. */
  customerWrites(waId: string, ageMs?: number): Promise<void>;
  post(bearer: string, body: unknown, idempotencyKey?: string): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }>;
  get(bearer: string, id: string): Promise<{ status: number; body: Record<string, unknown> }>;
  queued(): Promise<number>;
  stop(): Promise<void>;
}

let messageCounter = 0;

/** `rateLimit` and `sandboxMessagesPerSecond` change the send rate (the benchmark); tests keep the defaults. */
export async function startOutboundHarness(kind: StoreKind, options: { rateLimit?: Record<string, number>; sandboxMessagesPerSecond?: number; storeUrl?: { url: string; drop: () => Promise<void> } } = {}): Promise<OutboundHarness> {
  const fresh = options.storeUrl ?? freshStoreUrl(kind);
  const store = await openStore(fresh.url);
  const sandbox = new WhatsAppSandbox(undefined, options.sandboxMessagesPerSecond);
  const graphBaseUrl = await sandbox.start();
  const settings = whatsappSection.parse({ appSecret: 'a', verifyToken: 'b', accessToken: sandbox.accessToken, graphBaseUrl, businessAccountId: WABA_ID, phoneNumbers: [BUSINESS_NUMBER], media: { fetch: false }, rateLimit: options.rateLimit ?? { maxAttempts: 2, backoffBaseMs: 20, backoffMaxMs: 50 } });
  const whatsapp = whatsappConnector.create(settings, { log: silentLogger(), mediaDir: '/tmp' });
  const engine = new Engine({ store, parsers: { whatsapp: parseWhatsAppDelivery }, connectors: () => [whatsapp], log: silentLogger(), options: () => ({ threadGapMs: 86_400_000, servedNumbers: [] }) });
  const dispatcher = new ConnectorDispatcher({
    connector: whatsapp,
    store,
    budget: new RateBudget(store),
    applyEffects: (tx, effects, now) => engine.applyEffects(tx, effects, now),
    log: silentLogger(),
    options: { workerId: 'w1', leaseMs: 60_000, pollIntervalMs: 20, claimBatch: 10 },
  });
  dispatcher.start();
  const templates = new TemplateCache(() => ({ listTemplates: () => (whatsapp as WhatsAppConnector).listTemplates(dispatcher.executionContext()) }), () => 60_000);
  const audit: AuditEntry[] = [];
  const app = express();
  const outbound = {
    store,
    log: silentLogger(),
    planChanges: (tx: Parameters<Engine['planChanges']>[0], changes: Parameters<Engine['planChanges']>[1], now: number) => engine.planChanges(tx, changes, now),
    templates,
    businessNumbers: () => [BUSINESS_NUMBER],
    threadGapMs: () => 86_400_000,
    audit: async (entry: AuditEntry) => void audit.push(entry),
    sendKey: (replyKey: string) => idempotencyKeyOf('whatsapp', { kind: KIND.send, key: replyKey }),
    queued: () => dispatcher.wake(),
  };
  // The CRM recipes with the connectors' settings a test gives (connectorSettings), parsed by each connector's schema.
  const connectorSettings = new Map<string, unknown>();
  app.use('/api/v1/recipes', recipeRoutes({ ...outbound, recipes: recipeConnectors(connectorRegistry), settingsOf: (id) => connectorSettings.get(id) }));
  app.use('/api/v1', outboundRoutes(outbound));
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1`;
  const inbox = new DeliveryInbox(store);
  return {
    store,
    sandbox,
    baseUrl,
    audit,
    connectorSettings,
    async token(permissions) {
      return (await createToken(store, { name: `flow-${permissions.join('-') || 'none'}`, role: 'viewer', expiresInDays: 1, createdBy: { cli: 'cli:test' }, permissions })).token;
    },
    async customerWrites(waId, ageMs = 0) {
      const id = `wamid.IN${++messageCounter}`;
      await inbox.accept('whatsapp', textWebhook({ from: waId, id, timestamp: Math.floor((Date.now() - ageMs) / 1000), body: 'Hello' }));
      await engine.processPending();
      await waitFor(async () => (await store.db.selectFrom('messages').select('id').where('id', '=', id).executeTakeFirst()) !== undefined, 5000, 'the customer message');
    },
    async post(bearer, body, idempotencyKey) {
      const response = await fetch(`${baseUrl}/messages`, {
        method: 'POST',
        headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json', ...(idempotencyKey === undefined ? {} : { 'idempotency-key': idempotencyKey }) },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
      return { status: response.status, body: (await response.json()) as Record<string, unknown>, headers: response.headers };
    },
    async get(bearer, id) {
      const response = await fetch(`${baseUrl}/messages/${encodeURIComponent(id)}`, { headers: { authorization: `Bearer ${bearer}` } });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    },
    async queued() {
      return (await store.db.selectFrom('outbox').select((eb) => eb.fn.countAll<number>().as('n')).where('connector', '=', 'whatsapp').executeTakeFirstOrThrow()).n;
    },
    async stop() {
      await dispatcher.stop(1000);
      await new Promise((r) => server.close(r));
      await sandbox.stop();
      await store.close();
      await fresh.drop();
    },
  };
}
