// The outbound API under /api/v1: CRM workflows and other automation send WhatsApp messages.
// Every call carries an API token holding the `send` permission (`Authorization: Bearer wacs_…`);
// refusals and accepted sends go to the audit trail like other token use. A request is answered
// 202 with a message id as soon as it is queued; the send is an outbox operation.
import express, { type NextFunction, type Request, type Response } from 'express';
import { authenticateToken } from '../core/admin/accounts.js';
import type { Logger } from '../core/logger.js';
import { acceptOutbound, type OutboundAnswer, type OutboundDependencies } from '../core/outbound/accept.js';
import type { OutboundRefusal } from '../core/outbound/request.js';
import { outboundMessage } from '../core/outbound/state.js';
import type { AuditEntry } from '../core/security/audit-trail.js';
import { RefusalAudit } from '../core/security/refusal-audit.js';

export interface OutboundApiDependencies extends OutboundDependencies {
  readonly log: Logger;
  audit(entry: AuditEntry): Promise<void>;
  /** The outbox idempotency key of the send queued for a reply key (the messaging connector's). */
  sendKey(replyKey: string): string;
  /** A send was queued: the messaging connector's dispatch should look now rather than at its next poll. */
  queued(): void;
}

type Caller = { readonly tokenId: string; readonly actor: string };
type Locals = { caller?: Caller };

const REFUSAL_AUDIT = { windowMs: 60_000, maxKeys: 10_000 } as const;

export function answerRefusal(res: Response, refusal: Omit<OutboundRefusal, 'status'> & { status: number }): void {
  res.status(refusal.status).json({ error: refusal.error, field: refusal.field, hint: refusal.hint });
}

/**
 * Answers an accepted or refused send and records it: the same for the API's callers and the
 * CRM recipes. Refusals name the rule, never the person or the text.
 */
export async function answerOutbound(deps: Pick<OutboundApiDependencies, 'audit' | 'queued'>, res: Response, actor: string, answer: OutboundAnswer, options: { readonly links: boolean } = { links: true }): Promise<void> {
  if ('refusal' in answer) {
    await deps.audit({ actor, action: 'message.send.refused', detail: { status: answer.status, field: answer.refusal.field } });
    return answerRefusal(res, answer.refusal);
  }
  if (answer.replayed) res.setHeader('idempotent-replayed', 'true');
  else {
    deps.queued();
    await deps.audit({ actor, action: 'message.send', target: answer.body.id, detail: { kind: answer.body.kind } });
  }
  // A recipe's sends are read by no token (GET /messages/{id} is per token): no link to offer.
  if (!options.links) return void res.status(202).json(answer.body);
  res.status(202).setHeader('location', `/api/v1/messages/${answer.body.id}`).json({ ...answer.body, links: { self: `/api/v1/messages/${answer.body.id}` } });
}

export function outboundRoutes(deps: OutboundApiDependencies): express.Router {
  const router = express.Router();
  const refusals = new RefusalAudit(REFUSAL_AUDIT, (entry) => deps.audit(entry));
  setInterval(() => void refusals.flush(), REFUSAL_AUDIT.windowMs).unref();

  router.use(async (req: Request, res: Response<unknown, Locals>, next: NextFunction) => {
    const header = req.get('authorization') ?? '';
    const token = header.startsWith('Bearer ') ? await authenticateToken(deps.store, header.slice(7).trim()) : undefined;
    if (!token) {
      await refusals.refused({ actor: `ip:${req.ip}`, action: 'api.unauthenticated', target: `${req.method} ${req.path.slice(0, 64)}` });
      res.setHeader('www-authenticate', 'Bearer realm="wa-crm-sync"');
      return answerRefusal(res, { status: 401, error: 'missing, expired or revoked API token', field: 'Authorization', hint: 'send Authorization: Bearer wacs_… with a token made by `wa-crm-sync tokens create NAME --role viewer --permission send`' });
    }
    const actor = `token:${token.name}`;
    if (!token.permissions.includes('send')) {
      await deps.audit({ actor, action: 'api.forbidden', target: `${req.method} ${req.path.slice(0, 64)}`, detail: { needed: 'send' } });
      return answerRefusal(res, { status: 403, error: 'this token does not hold the send permission', field: 'Authorization', hint: 'make a token with --permission send (the role does not grant it)' });
    }
    res.locals.caller = { tokenId: token.id, actor };
    next();
  });
  // Bodies are read only for callers who got through.
  router.use(express.json({ limit: '64kb', type: () => true }));
  router.use((error: Error & { type?: string }, _req: Request, res: Response, next: NextFunction) => {
    if (error.type === 'entity.parse.failed') return answerRefusal(res, { status: 400, error: 'the body is not valid JSON', field: null, hint: 'send a JSON object with Content-Type: application/json' });
    if (error.type === 'entity.too.large') return answerRefusal(res, { status: 413, error: 'the body is larger than 64 kB', field: null, hint: 'a message is at most 4096 characters of text or a template with its parameters' });
    next(error);
  });

  router.post('/messages', async (req: Request, res: Response<unknown, Locals>, next: NextFunction) => {
    const caller = res.locals.caller!;
    try {
      await answerOutbound(deps, res, caller.actor, await acceptOutbound(deps, caller.tokenId, req.get('idempotency-key'), req.body));
    } catch (error) {
      next(error);
    }
  });

  router.get('/messages/:id', async (req: Request, res: Response<unknown, Locals>, next: NextFunction) => {
    const caller = res.locals.caller!;
    try {
      const view = await outboundMessage(deps.store.db, String(req.params['id']), caller.tokenId, deps.sendKey);
      if (!view) return answerRefusal(res, { status: 404, error: 'no message with this id was sent with this token', field: 'id', hint: 'use the id from the 202 answer of POST /api/v1/messages, with the same token' });
      res.json(view);
    } catch (error) {
      next(error);
    }
  });
  return router;
}
