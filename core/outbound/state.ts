// What became of one outbound message: its send operation's state (queued, retrying with the
// reason, sent, not sent and why, failed) and the delivery statuses the messaging source reported.
import type { Db } from '../store/store.js';
import { OUTBOUND_ORIGIN } from './accept.js';

export type OutboundState = 'queued' | 'retrying' | 'sent' | 'delivered' | 'read' | 'not_sent' | 'failed';

export interface OutboundMessageView {
  readonly id: string;
  readonly kind: string;
  readonly state: OutboundState;
  readonly createdAt: string;
  readonly template: { readonly name: string; readonly language: string; readonly category: string | null } | null;
  /** The WhatsApp message ids (wamid) of what went out. */
  readonly messageIds: readonly string[];
  readonly statuses: ReadonlyArray<{ readonly messageId: string; readonly status: string; readonly at: string; readonly errors: ReadonlyArray<{ code: number; title: string; details?: string; explanation?: string }> }>;
  readonly attempts: number;
  /** Why it is retrying, failed, or was not sent, in words. */
  readonly reason: string | null;
}

const STATUS_RANK: Readonly<Record<string, number>> = { sent: 1, delivered: 2, read: 3, failed: 4 };

/**
 * The message `id`, as the token that sent it sees it; undefined for an id it did not send.
 * `sendKey` is the outbox idempotency key of the send (the messaging connector's, for this origin and id).
 */
export async function outboundMessage(db: Db, id: string, tokenId: string, sendKey: (replyKey: string) => string): Promise<OutboundMessageView | undefined> {
  const row = await db.selectFrom('outbound_requests').selectAll().where('id', '=', id).where('token_id', '=', tokenId).executeTakeFirst();
  if (!row) return undefined;
  const op = await db.selectFrom('outbox').select(['state', 'attempts', 'last_error', 'result']).where('idempotency_key', '=', sendKey(`${OUTBOUND_ORIGIN}:${id}`)).executeTakeFirst();
  const result = op?.result ? (JSON.parse(op.result) as { sent?: number; reason?: string; messageIds?: string[] }) : null;
  const messageIds = result?.messageIds ?? [];
  const statusRows = messageIds.length > 0 ? await db.selectFrom('message_statuses').select(['message_id', 'status', 'at', 'errors']).where('message_id', 'in', messageIds).orderBy('at').execute() : [];
  const statuses = statusRows.map((s) => ({ messageId: s.message_id, status: s.status, at: new Date(s.at).toISOString(), errors: s.errors ? (JSON.parse(s.errors) as Array<{ code: number; title: string; details?: string; explanation?: string }>) : [] }));
  const best = statuses.reduce<string | null>((top, s) => (top === null || (STATUS_RANK[s.status] ?? 0) > (STATUS_RANK[top] ?? 0) ? s.status : top), null);
  let state: OutboundState;
  let reason: string | null = null;
  if (!op || op.state === 'pending' || op.state === 'in_flight') {
    state = op && op.attempts > 0 && op.last_error ? 'retrying' : 'queued';
    reason = state === 'retrying' ? op!.last_error : null;
  } else if (op.state === 'dead' || op.state === 'discarded') {
    state = 'failed';
    reason = op.last_error ?? (op.state === 'discarded' ? 'discarded by an operator' : null);
  } else if (result && result.sent === 0) {
    state = 'not_sent';
    reason = result.reason ?? null;
  } else if (best === 'failed') {
    state = 'failed';
    const error = statuses.find((s) => s.status === 'failed')?.errors[0];
    reason = error ? `${error.title || 'failed'} (WhatsApp error ${error.code})${error.explanation ? `: ${error.explanation}` : ''}` : 'WhatsApp reported the message as failed';
  } else state = best === 'delivered' || best === 'read' ? best : 'sent';
  const template = row.template ? (JSON.parse(row.template) as { name: string; language: string; category?: string | null }) : null;
  return {
    id: row.id,
    kind: row.kind,
    state,
    createdAt: new Date(row.created_at).toISOString(),
    template: template ? { name: template.name, language: template.language, category: template.category ?? null } : null,
    messageIds,
    statuses,
    attempts: op?.attempts ?? 0,
    reason,
  };
}
