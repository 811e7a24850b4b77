// Forwards contacts, messages and statuses to an HTTP endpoint of the admin's choosing,
// signed, with an Idempotency-Key, and checked by key before any re-send.
import { createHmac } from 'node:crypto';
import type { Connector, ConnectorMetadata, ExecutionContext, OperationOutcome } from '../../core/connector.js';
import { resolveTuning } from '../../core/connector.js';
import { NotAttemptedError, asSyncError } from '../../core/errors.js';
import { vendorFetch } from '../../core/http.js';
import type { ModelChange } from '../../core/model/types.js';
import type { OutboxOperation } from '../../core/outbox/queries.js';
import { eventBody, toOperationDrafts } from './mappers.js';
import type { WebhookSettings } from './settings.js';

export class WebhookConnector implements Connector {
  readonly features = ['forward'];
  readonly tuning;

  constructor(
    readonly metadata: ConnectorMetadata,
    private readonly settings: WebhookSettings,
  ) {
    this.tuning = resolveTuning(metadata.defaultTuning, settings.rateLimit);
  }

  plan(change: ModelChange) {
    return toOperationDrafts(change, this.settings.events);
  }

  /** Posts in order; a run (one contact's operations) stops at the first failure, and the rest wait their turn unsent. */
  async execute(operations: readonly OutboxOperation[], context: ExecutionContext): Promise<OperationOutcome[]> {
    const outcomes: OperationOutcome[] = [];
    for (const op of operations) {
      if (outcomes.some((o) => !o.ok)) {
        outcomes.push({ ok: false, error: new NotAttemptedError() });
        continue;
      }
      const body = eventBody(op.kind, op.idempotencyKey, op.payload);
      const headers: Record<string, string> = { 'content-type': 'application/json', 'idempotency-key': op.idempotencyKey };
      if (this.settings.secret) headers['x-wa-crm-sync-signature'] = `sha256=${createHmac('sha256', this.settings.secret).update(body).digest('hex')}`;
      // 409: the receiver already holds this key, which is the outcome we wanted.
      try {
        await vendorFetch(context, { vendor: 'webhook', url: this.#url(), method: 'POST', headers, body, timeoutMs: this.settings.timeoutMs, acceptStatuses: [409] });
        outcomes.push({ ok: true });
      } catch (error) {
        outcomes.push({ ok: false, error: asSyncError(error) });
      }
    }
    return outcomes;
  }

  async reconcile(op: OutboxOperation, context: ExecutionContext): Promise<OperationOutcome | undefined> {
    const response = await vendorFetch(context, {
      vendor: 'webhook',
      url: `${this.#url()}/${encodeURIComponent(op.idempotencyKey)}`,
      timeoutMs: this.settings.timeoutMs,
      acceptStatuses: [404],
    });
    await response.body?.cancel();
    return response.status === 404 ? undefined : { ok: true };
  }

  async grantedScopes() {
    // A plain endpoint has no scopes to read.
    return [] as const;
  }

  #url(): string {
    return this.settings.url!.replace(/\/$/, '');
  }
}
