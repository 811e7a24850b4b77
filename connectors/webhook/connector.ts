// Forwards contacts, messages and statuses to an HTTP endpoint of the admin's choosing,
// signed, with an Idempotency-Key, and checked by key before any re-send. Each event type is a
// declared operation kind (core/operations.ts): its payload schema, and one way to post it.
import { OUTBOUND_SIGNATURE_HEADER, signOutbound } from '../../core/signature.js';
import type { z } from 'zod';
import type { Connector, ConnectorMetadata, ExecutionContext, OperationOutcome } from '../../core/connector.js';
import { resolveTuning } from '../../core/connector.js';
import { vendorFetch } from '../../core/http.js';
import type { ModelChange } from '../../core/model/types.js';
import { declareKind, OperationTable, type DeclaredOperation } from '../../core/operations.js';
import type { OutboxOperation } from '../../core/outbox/queries.js';
import { contactForwardPayload, eventBody, KIND, messageForwardPayload, statusForwardPayload, toOperationDrafts, type ForwardPayload } from './mappers.js';
import type { WebhookSettings } from './settings.js';

/** The operation kinds, posted one at a time (the endpoint takes one event per request). */
export function webhookOperations(settings: WebhookSettings): OperationTable {
  const url = settings.url!.replace(/\/$/, '');
  /** POSTs one event; 409 means the receiver already holds this key, which is the outcome we wanted. */
  const post = async (op: DeclaredOperation<ForwardPayload>, context: ExecutionContext): Promise<void> => {
    const body = eventBody(op.kind, op.idempotencyKey, op.payload);
    const headers: Record<string, string> = { 'content-type': 'application/json', 'idempotency-key': op.idempotencyKey };
    if (settings.secret) headers[OUTBOUND_SIGNATURE_HEADER] = signOutbound(settings.secret, body);
    await vendorFetch(context, { vendor: 'webhook', url, method: 'POST', headers, body, timeoutMs: settings.timeoutMs, acceptStatuses: [409] });
  };
  /** `GET {url}/{key}`: 200 means it landed, 404 means send it (again). */
  const reconcile = async (op: DeclaredOperation<ForwardPayload>, context: ExecutionContext): Promise<OperationOutcome | undefined> => {
    const response = await vendorFetch(context, { vendor: 'webhook', url: `${url}/${encodeURIComponent(op.idempotencyKey)}`, timeoutMs: settings.timeoutMs, acceptStatuses: [404] });
    await response.body?.cancel();
    return response.status === 404 ? undefined : { ok: true };
  };
  const forward = (kind: string, payload: z.ZodType<ForwardPayload>) => declareKind({ kind, payload, handle: post, reconcile });
  return new OperationTable([forward(KIND.contact, contactForwardPayload), forward(KIND.message, messageForwardPayload), forward(KIND.status, statusForwardPayload)]);
}

export class WebhookConnector implements Connector {
  readonly features = ['forward'];
  readonly tuning;
  readonly #operations: OperationTable;

  constructor(
    readonly metadata: ConnectorMetadata,
    private readonly settings: WebhookSettings,
  ) {
    this.tuning = resolveTuning(metadata.defaultTuning, settings.rateLimit);
    this.#operations = webhookOperations(settings);
  }

  plan(change: ModelChange) {
    return toOperationDrafts(change, this.settings.events);
  }

  /** Posts in order; a run (one contact's operations) stops at the first failure, and the rest wait their turn unsent. */
  execute(operations: readonly OutboxOperation[], context: ExecutionContext): Promise<OperationOutcome[]> {
    return this.#operations.execute(operations, context);
  }

  reconcile(op: OutboxOperation, context: ExecutionContext): Promise<OperationOutcome | undefined> {
    return this.#operations.reconcile(op, context);
  }

  async grantedScopes() {
    // A plain endpoint has no scopes to read.
    return [] as const;
  }
}
