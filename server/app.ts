// HTTP routes: WhatsApp webhooks (handshake and signed deliveries), health, readiness, metrics.
// A delivery is answered 200 only after it is committed to the store; processing comes after.
import express, { type NextFunction, type Request, type Response } from 'express';
import type { DeliveryInbox } from '../core/ingest.js';
import type { Logger } from '../core/logger.js';
import type { Metrics } from '../core/metrics.js';
import { verifyHubSignature } from '../core/signature.js';
import { errorMessage } from '../core/errors.js';

export interface ConnectorReadiness {
  readonly connector: string;
  readonly state: 'running' | 'blocked' | 'disabled';
  readonly reason?: string;
}

export interface AppDependencies {
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly inbox: DeliveryInbox;
  /** Read per request, so a reloaded config applies at once. */
  whatsapp(): { appSecret: string; verifyToken: string };
  readonly bodyLimitBytes: number;
  readiness(): Promise<{ store: boolean; connectors: ConnectorReadiness[] }>;
}

export function createApp(deps: AppDependencies): express.Express {
  const app = express();
  // Bound once: label lookups on every delivery add up at thousands of requests per second.
  const stored = deps.metrics.webhooks.labels('whatsapp', 'stored');
  const badSignature = deps.metrics.webhooks.labels('whatsapp', 'bad_signature');
  app.disable('x-powered-by');
  app.set('trust proxy', 'loopback');

  // Meta's subscription handshake: echo the challenge only for our verify token.
  app.get('/webhooks/whatsapp', (req, res) => {
    const mode = req.query['hub.mode'];
    const token = req.query['hub.verify_token'];
    const challenge = req.query['hub.challenge'];
    if (mode === 'subscribe' && typeof token === 'string' && token === deps.whatsapp().verifyToken && typeof challenge === 'string') {
      deps.metrics.webhooks.inc({ source: 'whatsapp', result: 'verify_ok' });
      res.status(200).type('text/plain').send(challenge);
      return;
    }
    deps.metrics.webhooks.inc({ source: 'whatsapp', result: 'verify_failed' });
    deps.log.warn({ mode: typeof mode === 'string' ? mode : undefined }, 'webhook verification refused: hub.verify_token does not match whatsapp.verifyToken');
    res.status(403).type('text/plain').send('verification failed');
  });

  app.post(
    '/webhooks/whatsapp',
    express.raw({ type: () => true, limit: deps.bodyLimitBytes }),
    async (req: Request, res: Response) => {
      const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      if (!verifyHubSignature(deps.whatsapp().appSecret, body, req.get('x-hub-signature-256'))) {
        badSignature.inc();
        deps.log.warn({ ip: req.ip, bytes: body.length }, 'webhook refused: missing or wrong X-Hub-Signature-256 (check whatsapp.appSecret)');
        res.status(401).json({ error: 'invalid signature' });
        return;
      }
      try {
        const id = await deps.inbox.accept('whatsapp', body.toString('utf8'));
        stored.inc();
        if (deps.log.isLevelEnabled('debug')) deps.log.debug({ deliveryId: id, bytes: body.length }, 'webhook stored');
        res.status(200).type('text/plain').send('EVENT_RECEIVED');
      } catch (error) {
        // Not stored: Meta will deliver it again, so answer with an error rather than lose it.
        deps.metrics.webhooks.inc({ source: 'whatsapp', result: 'store_failed' });
        deps.log.error({ err: errorMessage(error) }, 'webhook could not be stored; answering 503 so Meta retries');
        res.status(503).json({ error: 'temporarily unable to store the delivery' });
      }
    },
  );

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  app.get('/readyz', async (_req, res) => {
    const readiness = await deps.readiness();
    res.status(readiness.store ? 200 : 503).json({ status: readiness.store ? 'ready' : 'store unreachable', ...readiness });
  });

  app.get('/metrics', async (_req, res) => {
    res.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
  });

  app.use((error: Error & { type?: string; status?: number }, _req: Request, res: Response, _next: NextFunction) => {
    if (error.type === 'entity.too.large') {
      deps.metrics.webhooks.inc({ source: 'whatsapp', result: 'too_large' });
      deps.log.warn({ limit: deps.bodyLimitBytes }, 'webhook refused: body over server.bodyLimitBytes');
      res.status(413).json({ error: `body larger than ${deps.bodyLimitBytes} bytes` });
      return;
    }
    deps.log.error({ err: error.message }, 'request failed');
    res.status(error.status ?? 500).json({ error: 'request failed' });
  });

  return app;
}
