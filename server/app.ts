// HTTP routes: WhatsApp webhooks (handshake and signed deliveries), connectors' inbound webhooks,
// health, readiness, metrics.
// A delivery is answered 200 only after it is committed to the store; processing comes after.
import { BlockList, isIP } from 'node:net';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { DeliveryInbox } from '../core/ingest.js';
import type { Logger } from '../core/logger.js';
import type { Metrics } from '../core/metrics.js';
import { sameSecret, verifyHubSignature } from '../core/signature.js';
import { errorMessage } from '../core/errors.js';
import { adminRoutes, type AdminApiDependencies } from './admin-api.js';
import { inboundEndpoint, type InboundConnector } from './inbound.js';
import { outboundRoutes, type OutboundApiDependencies } from './outbound-api.js';
import type { ConnectorReadiness } from './readiness.js';
export type { ConnectorReadiness } from './readiness.js';
import { recipeRoutes, type RecipeApiDependencies } from './recipe-api.js';

export interface AppDependencies {
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly inbox: DeliveryInbox;
  /** Read per request, so a reloaded config applies at once. */
  whatsapp(): { appSecret: string; verifyToken: string };
  readonly bodyLimitBytes: number;
  /** server.trustedProxies: whose X-Forwarded-For is believed (empty: nobody's). */
  readonly trustedProxies: readonly string[];
  /** Connectors the vendor calls (see server/inbound.ts): each gets `POST /webhooks/<id>`. */
  readonly inbound: readonly InboundConnector[];
  /** An inbound connector's settings and signing secret (config, else the one setup stored) while it is configured. */
  configured(connectorId: string): Promise<{ readonly settings: unknown; readonly secret: string | undefined } | undefined>;
  /** Told of every refused signature, so bursts can raise a security alert. */
  onBadSignature?(source: string): void;
  /** `degraded`: running connectors whose every recent call failed. */
  readiness(): Promise<{ store: boolean; connectors: ConnectorReadiness[]; degraded: string[] }>;
  /** metrics.*: who may scrape /metrics, read per request so a reload applies at once. */
  metricsAccess(): { readonly bearerToken?: string | undefined; readonly allowIps: readonly string[] };
  readonly admin: AdminApiDependencies;
  /** The outbound API (POST /api/v1/messages); absent, /api/v1 answers 404. */
  readonly outbound?: OutboundApiDependencies;
  /** CRM workflow recipes (POST /api/v1/recipes/<path>), beside the outbound API. */
  readonly recipes?: Omit<RecipeApiDependencies, keyof OutboundApiDependencies>;
}

/** Whether `ip` is one of `allowed` (addresses or CIDR blocks); IPv4 seen as ::ffff:a.b.c.d counts as a.b.c.d. */
export function addressAllowed(ip: string, allowed: readonly string[]): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  const address = mapped ? mapped[1]! : ip;
  const family = isIP(address);
  if (family === 0) return false;
  const list = new BlockList();
  for (const entry of allowed) {
    const [base, prefix] = entry.split('/');
    const type = isIP(base ?? '') === 6 ? 'ipv6' : 'ipv4';
    if (prefix === undefined) list.addAddress(base!, type);
    else list.addSubnet(base!, Number(prefix), type);
  }
  return list.check(address, family === 6 ? 'ipv6' : 'ipv4');
}

/** Constant-time comparison of an Authorization header with the expected bearer token. */
function bearerMatches(header: string | undefined, token: string): boolean {
  return sameSecret(/^Bearer (.+)$/i.exec(header ?? '')?.[1] ?? '', token);
}

export function createApp(deps: AppDependencies): express.Express {
  const app = express();
  // Bound once: label lookups on every delivery add up at thousands of requests per second.
  const stored = deps.metrics.webhooks.labels('whatsapp', 'stored');
  const badSignature = deps.metrics.webhooks.labels('whatsapp', 'bad_signature');
  /** A refused large body, counted under the webhook it was sent to (a connector's is not WhatsApp's). */
  const webhookSources = new Set(['whatsapp', ...deps.inbound.map((c) => c.id)]);
  const countTooLarge = (req: Request) => {
    const segment = /^\/webhooks\/([^/]+)/.exec(req.path)?.[1];
    const source = segment !== undefined && webhookSources.has(segment) ? segment : undefined;
    if (source) deps.metrics.webhooks.inc({ source, result: 'too_large' });
    deps.log.warn({ limit: deps.bodyLimitBytes, path: req.path.slice(0, 64) }, 'request refused: body over server.bodyLimitBytes');
  };
  app.disable('x-powered-by');
  // Only configured proxies may say who the client is: otherwise anyone on this machine (a
  // sidecar, a port-forward) could pick their address past admin.allowIps and the limits.
  app.set('trust proxy', deps.trustedProxies.length > 0 ? [...deps.trustedProxies] : false);
  // Served over https (directly, or behind a trusted proxy saying so): browsers keep to https.
  app.use((req: Request, res: Response, next: NextFunction) => {
    if (req.secure) res.setHeader('strict-transport-security', 'max-age=31536000; includeSubDomains');
    next();
  });
  // A declared body over the limit is refused before a byte of it is read, and the connection is
  // closed: otherwise the parser would refuse it and then drain all of it (5 GB, if declared so).
  app.use((req: Request, res: Response, next: NextFunction) => {
    const declared = Number(req.get('content-length') ?? 0);
    if (!(declared > deps.bodyLimitBytes)) return next();
    countTooLarge(req);
    res.setHeader('connection', 'close');
    res.status(413).json({ error: `body larger than ${deps.bodyLimitBytes} bytes` });
    res.on('finish', () => req.socket.destroy());
  });
  app.use((req: Request, res: Response, next: NextFunction) => {
    if (isIP(req.ip ?? '') !== 0) return next();
    // What a trusted proxy forwarded is not an address: it reaches no log, limit or audit record.
    deps.log.warn({ peer: req.socket.remoteAddress }, 'request refused: X-Forwarded-For from a trusted proxy holds something that is not an IP address');
    res.status(400).json({ error: 'X-Forwarded-For holds something that is not an IP address (check the proxy in server.trustedProxies)' });
  });

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
        deps.onBadSignature?.('whatsapp');
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

  // Vendors calling us (a helpdesk's agent replies): one route per connector that declares an inbound webhook.
  for (const connector of deps.inbound) {
    app.post(`/webhooks/${connector.id}`, express.raw({ type: () => true, limit: deps.bodyLimitBytes }), inboundEndpoint(deps, connector));
  }

  app.use('/admin', adminRoutes(deps.admin));
  // Recipes first: the CRMs authenticate by signature or their own token, not an API token.
  if (deps.outbound && deps.recipes) app.use('/api/v1/recipes', recipeRoutes({ ...deps.outbound, ...deps.recipes }));
  if (deps.outbound) app.use('/api/v1', outboundRoutes(deps.outbound));

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  app.get('/readyz', async (_req, res) => {
    const readiness = await deps.readiness();
    // A degraded connector still answers 200: the service takes webhooks and keeps the work queued.
    const status = !readiness.store ? 'store unreachable' : readiness.degraded.length > 0 ? 'degraded' : 'ready';
    res.status(readiness.store ? 200 : 503).json({ status, ...readiness });
  });

  app.get('/metrics', async (req, res) => {
    const access = deps.metricsAccess();
    // Metrics name connectors, queue sizes and error rates: worth keeping from strangers.
    if (access.allowIps.length > 0 && !addressAllowed(req.ip ?? '', access.allowIps)) {
      res.status(403).type('text/plain').send('this address may not read /metrics (metrics.allowIps)\n');
      return;
    }
    if (access.bearerToken !== undefined && !bearerMatches(req.get('authorization'), access.bearerToken)) {
      res.status(401).setHeader('www-authenticate', 'Bearer realm="metrics"').type('text/plain').send('missing or wrong bearer token (metrics.bearerToken)\n');
      return;
    }
    res.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
  });

  app.use((error: Error & { type?: string; status?: number }, _req: Request, res: Response, _next: NextFunction) => {
    if (error.type === 'entity.too.large') {
      countTooLarge(_req);
      res.status(413).json({ error: `body larger than ${deps.bodyLimitBytes} bytes` });
      return;
    }
    deps.log.error({ err: error.message }, 'request failed');
    res.status(error.status ?? 500).json({ error: 'request failed' });
  });

  return app;
}
