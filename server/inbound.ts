// Vendors calling us: one `POST /webhooks/<connector id>` per connector that declares an inbound
// webhook (core/connector.ts InboundWebhook). The route is the same for every vendor: verify over
// the raw body, refuse replays, store, answer; the connector only says how its calls are signed.
import type { Request, RequestHandler, Response } from 'express';
import type { ConnectorFactory, InboundWebhook } from '../core/connector.js';
import { WEBHOOK_SECRET_REF } from '../core/connector.js';
import type { Config } from '../core/config/schema.js';
import { errorMessage } from '../core/errors.js';
import type { DeliveryInbox } from '../core/ingest.js';
import type { Logger } from '../core/logger.js';
import type { Metrics } from '../core/metrics.js';
import type { Store } from '../core/store/store.js';

export interface InboundConnector {
  readonly id: string;
  // `any`: each connector's webhook reads its own settings type, checked by its own schema.
  readonly webhook: InboundWebhook<any>;
}

/** The connectors of a registry that declare an inbound webhook, in the registry's order. */
export function inboundConnectors(registry: Readonly<Record<string, ConnectorFactory<any>>>): InboundConnector[] {
  return Object.entries(registry).flatMap(([id, factory]) => (factory.inbound ? [{ id, webhook: factory.inbound }] : []));
}

/** The signing secret a connector's setup read from the vendor and kept (see WEBHOOK_SECRET_REF). */
export async function storedWebhookSecret(store: Store, connectorId: string): Promise<string | undefined> {
  const row = await store.db
    .selectFrom('external_refs')
    .select('external_id')
    .where('connector', '=', connectorId)
    .where('kind', '=', WEBHOOK_SECRET_REF.kind)
    .where('local_id', '=', WEBHOOK_SECRET_REF.localId)
    .executeTakeFirst();
  return row?.external_id;
}

/** The secret the config gives under the webhook's `secretSetting` (a dotted path for a nested section), when it is a non-empty string. */
function configuredSecret(settings: unknown, key: string): string | undefined {
  let value: unknown = settings;
  for (const part of key.split('.')) {
    if (value === null || typeof value !== 'object') return undefined;
    value = Reflect.get(value, part);
  }
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** The secret calls are checked with: the config's, else the one setup kept. */
export async function webhookSecret(store: Store, connector: InboundConnector, settings: unknown): Promise<string | undefined> {
  return configuredSecret(settings, connector.webhook.secretSetting) ?? (await storedWebhookSecret(store, connector.id));
}

/** Enabled connectors with an inbound webhook whose secret is known nowhere: every call to them is refused. */
export async function webhookSecretsMissing(config: Config, store: Store, connectors: readonly InboundConnector[]): Promise<Array<{ connector: string; hint: string }>> {
  const missing: Array<{ connector: string; hint: string }> = [];
  for (const connector of connectors) {
    const section = config.connectors[connector.id];
    if (!section?.enabled || connector.webhook.accepts?.(section.settings) === false) continue;
    if ((await webhookSecret(store, connector, section.settings)) === undefined) missing.push({ connector: connector.id, hint: connector.webhook.missingSecretHint });
  }
  return missing;
}

export interface InboundRouteDependencies {
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly inbox: DeliveryInbox;
  /** The connector's settings and secret while it is configured (read per call, so a reload applies at once); undefined when it is not. */
  configured(connectorId: string): Promise<{ readonly settings: unknown; readonly secret: string | undefined } | undefined>;
  onBadSignature?(source: string): void;
}

/** The handler of `POST /webhooks/<id>`, behind a raw body parser. Answers 200 only once the call is stored. */
export function inboundEndpoint(deps: InboundRouteDependencies, connector: InboundConnector): RequestHandler {
  const source = connector.id;
  return async (req: Request, res: Response) => {
    const configured = await deps.configured(source);
    if (!configured || connector.webhook.accepts?.(configured.settings) === false) {
      res.status(404).json({ error: `the ${source} connector is not configured` });
      return;
    }
    if (!configured.secret) {
      deps.log.error(`${source} webhook refused: no signing secret; ${connector.webhook.missingSecretHint}`);
      res.status(503).json({ error: 'no webhook signing secret configured' });
      return;
    }
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const verdict = connector.webhook.verify(body, (name) => req.get(name), configured.secret, Date.now(), configured.settings);
    if (!verdict.ok) {
      deps.metrics.webhooks.inc({ source, result: verdict.reason });
      deps.onBadSignature?.(source);
      deps.log.warn({ ip: req.ip, fresh: verdict.reason !== 'stale' }, verdict.log);
      res.status(401).json({ error: verdict.answer });
      return;
    }
    let claimed: string | undefined;
    try {
      if (verdict.replay) {
        if (!(await deps.inbox.claimReplayKey(verdict.replay.key, verdict.replay.until))) {
          deps.metrics.webhooks.inc({ source, result: 'replayed' });
          deps.log.warn({ ip: req.ip }, `${source} webhook call already stored (same signature and timestamp): a replay, not stored again`);
          res.status(200).json({ status: 'duplicate' });
          return;
        }
        claimed = verdict.replay.key;
      }
      await deps.inbox.accept(source, body.toString('utf8'));
      deps.metrics.webhooks.inc({ source, result: 'stored' });
      res.status(200).json({ status: 'stored' });
    } catch (error) {
      // Not stored: the vendor retries, and the replay key must not turn that retry away.
      if (claimed !== undefined) await deps.inbox.releaseReplayKey(claimed).catch(() => undefined);
      deps.metrics.webhooks.inc({ source, result: 'store_failed' });
      deps.log.error({ err: errorMessage(error) }, `${source} webhook could not be stored; answering 503 so the vendor retries`);
      res.status(503).json({ error: 'temporarily unable to store the delivery' });
    }
  };
}
