// CRM workflow recipes under /api/v1/recipes: `POST /api/v1/recipes/<path>` per connector that
// declares one (core/outbound/recipe.ts). The vendor's signature or token is checked over the raw
// body, then the payload goes through the outbound API's own checks and queueing; a vendor's retry
// or a replayed call finds the first send by its idempotency key and sends nothing more.
import express, { type Request, type Response } from 'express';
import type { ConnectorFactory } from '../core/connector.js';
import { errorMessage } from '../core/errors.js';
import { acceptRecipe, type WorkflowRecipe } from '../core/outbound/recipe.js';
import { RefusalAudit } from '../core/security/refusal-audit.js';
import { answerOutbound, answerRefusal, type OutboundApiDependencies } from './outbound-api.js';

export interface RecipeConnector {
  readonly id: string;
  // `any`: each recipe reads its own connector's settings type, checked by that connector's schema.
  readonly recipe: WorkflowRecipe<any>;
}

/** The connectors of a registry that declare a recipe, in the registry's order. */
export function recipeConnectors(registry: Readonly<Record<string, ConnectorFactory<any>>>): RecipeConnector[] {
  return Object.entries(registry).flatMap(([id, factory]) => (factory.recipe ? [{ id, recipe: factory.recipe }] : []));
}

export interface RecipeApiDependencies extends OutboundApiDependencies {
  readonly recipes: readonly RecipeConnector[];
  /** An enabled connector's parsed settings (read per call, so a reload applies at once); undefined when it is not enabled. */
  settingsOf(connectorId: string): unknown;
  /** Told of every refused signature or token, so bursts raise a security alert. */
  onBadSignature?(source: string): void;
}

/** Recipe payloads are a handful of fields: 64 kB is plenty, as for the outbound API. */
const BODY_LIMIT = '64kb';
const REFUSAL_AUDIT = { windowMs: 60_000, maxKeys: 10_000 } as const;

export function recipeRoutes(deps: RecipeApiDependencies): express.Router {
  const router = express.Router();
  const refusals = new RefusalAudit(REFUSAL_AUDIT, (entry) => deps.audit(entry));
  setInterval(() => void refusals.flush(), REFUSAL_AUDIT.windowMs).unref();

  for (const { id, recipe } of deps.recipes) {
    const actor = `recipe:${recipe.path}`;
    router.post(`/${recipe.path}`, express.raw({ type: () => true, limit: BODY_LIMIT }), async (req: Request, res: Response) => {
      const settings = deps.settingsOf(id);
      if (settings === undefined || !recipe.settings(settings).enabled) {
        return answerRefusal(res, { status: 404, error: `the ${recipe.path} recipe is not switched on`, field: null, hint: `enable connectors.${id} and set connectors.${id}.${recipe.settingsKey}.enabled: true` });
      }
      const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const verdict = recipe.authenticate(raw, (name) => req.get(name), settings, Date.now());
      if (!verdict.ok) {
        if (verdict.reason === 'no_secret') {
          deps.log.error(`${recipe.path} recipe call refused: ${verdict.error}; ${verdict.hint}`);
          return answerRefusal(res, { status: 503, error: verdict.error, field: null, hint: verdict.hint });
        }
        deps.onBadSignature?.(id);
        deps.log.warn({ ip: req.ip, reason: verdict.reason }, `${recipe.path} recipe call refused: ${verdict.error}`);
        await refusals.refused({ actor: `ip:${req.ip}`, action: 'api.unauthenticated', target: `POST ${req.path.slice(0, 64)}` });
        return answerRefusal(res, { status: 401, error: verdict.error, field: null, hint: verdict.hint });
      }
      let body: unknown;
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        return answerRefusal(res, { status: 400, error: 'the body is not valid JSON', field: null, hint: 'send the recipe payload as a JSON object (README, "Workflow recipes")' });
      }
      try {
        const answer = await acceptRecipe(deps, { connectorId: id, path: recipe.path, body, eventId: verdict.eventId, settings: recipe.settings(settings) });
        await answerOutbound(deps, res, actor, answer, { links: false });
      } catch (error) {
        // Nothing was queued (acceptance is one transaction): the vendor's retry is welcome.
        deps.log.error({ err: errorMessage(error) }, `${recipe.path} recipe call failed; answering 503 so the CRM retries`);
        answerRefusal(res, { status: 503, error: 'temporarily unable to accept the message', field: null, hint: 'the CRM retries; nothing was queued' });
      }
    });
  }
  // The body parser's own refusals (a body over 64 kB), in the API's shape.
  router.use((error: Error & { type?: string }, _req: Request, res: Response, next: express.NextFunction) => {
    if (error.type === 'entity.too.large') return answerRefusal(res, { status: 413, error: 'the body is larger than 64 kB', field: null, hint: 'a recipe payload is a few fields: phone, template, param_1 …' });
    next(error);
  });
  return router;
}
