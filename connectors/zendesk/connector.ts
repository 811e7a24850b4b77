// Zendesk: one ticket per WhatsApp thread, the customer as its requester (an end user keyed by
// the WhatsApp id), each message a comment; agents' public replies go back to the customer on
// WhatsApp through the outbox. This class composes the connector's jobs, each in its own file:
// finding and writing end users (finder.ts), live tickets and their comments, files and notes
// (writer.ts), the business app's past (history.ts), agents' replies (replies.ts), setup and
// scopes (setup.ts); the operation kinds are declared here, each with its payload schema.
import type { Connector, ConnectorMetadata, ExecutionContext, GrantedScopes, OperationOutcome, VendorRecordLink } from '../../core/connector.js';
import { resolveTuning } from '../../core/connector.js';
import { CONSENT_KIND, consentDrafts, consentPayloadSchema } from '../../core/consent/operation.js';
import type { ModelChange } from '../../core/model/types.js';
import { declareKind, OperationTable } from '../../core/operations.js';
import { DEFAULT_WINDOW_WRITE_SETTLE_MS, WINDOW_KIND, windowDrafts, windowPayloadSchema } from '../../core/outbound/window.js';
import type { OutboxOperation } from '../../core/outbox/queries.js';
import { ZendeskApi } from './client.js';
import { ZendeskUserFinder } from './finder.js';
import { ZendeskHistoryImporter } from './history.js';
import { BATCH_SIZE, KIND, attachmentPayload, commentPayload, historyImportPayload, notePayload, repliesPayload, toOperationDrafts, userPayload } from './mappers.js';
import { REF } from './refs.js';
import { ZendeskReplies } from './replies.js';
import type { ZendeskSettings } from './settings.js';
import { ZendeskSetup } from './setup.js';
import { writeZendeskWindow } from './window.js';
import { ZendeskTicketWriter } from './writer.js';

export class ZendeskConnector implements Connector {
  readonly features: string[];
  readonly tuning;
  readonly #settings: ZendeskSettings;
  readonly #windowWriteSettleMs: number;
  readonly #setup: ZendeskSetup;
  readonly #operations: OperationTable;

  constructor(
    readonly metadata: ConnectorMetadata,
    settings: ZendeskSettings,
    mediaDir: string,
    windowWriteSettleMs = DEFAULT_WINDOW_WRITE_SETTLE_MS,
  ) {
    this.#settings = settings;
    this.#windowWriteSettleMs = windowWriteSettleMs;
    this.features = settings.autoSetup ? ['tickets', 'users', 'setup'] : ['tickets', 'users'];
    const base = resolveTuning(metadata.defaultTuning, settings.rateLimit);
    this.tuning = {
      ...base,
      bucketRateLimits: {
        'ticket-update': { requests: settings.ticketUpdatesPerMinute, intervalMs: 60_000 },
        ticket: { requests: settings.updatesPerTicketPer10Minutes, intervalMs: 600_000 },
        user: { requests: settings.updatesPerUserPerMinute, intervalMs: 60_000 },
      },
    };
    // One client for every job: they share its SDK client and the integration user it reads once.
    const api = new ZendeskApi(settings);
    this.#setup = new ZendeskSetup(api, settings);
    this.#operations = zendeskOperations(api, settings, mediaDir, this.tuning.concurrency);
  }

  /**
   * Tickets and users open in the agent interface, under the account's own address:
   * https://support.zendesk.com/hc/en-us/articles/4408882039450-Managing-your-tickets
   */
  describeRecord(kind: string, externalId: string): VendorRecordLink | undefined {
    const base = this.#settings.baseUrl ? this.#settings.baseUrl.replace(/\/$/, '') : `https://${this.#settings.subdomain}.zendesk.com`;
    if (kind === REF.ticket) return { label: `ticket #${externalId}`, url: `${base}/agent/tickets/${encodeURIComponent(externalId)}` };
    if (kind === REF.user) return { label: `user ${externalId}`, url: `${base}/agent/users/${encodeURIComponent(externalId)}` };
    return undefined;
  }

  plan(change: ModelChange) {
    return [
      ...toOperationDrafts(change, { settleMs: this.#settings.settleMs, history: this.#settings.history, historySettleMs: this.#settings.historySettleMs }),
      ...consentDrafts(change),
      ...(this.#settings.writeWindowOpenUntil ? windowDrafts(change, this.#windowWriteSettleMs) : []),
    ];
  }

  /**
   * A customer's run (their user, comments, files, notes in queue order) stops at the first
   * failure: its first comment writes every message of the thread not yet on the ticket in one
   * update (see ZendeskTicketWriter.writeComments), so the comments behind it cost no call.
   */
  execute(operations: readonly OutboxOperation[], context: ExecutionContext): Promise<OperationOutcome[]> {
    return this.#operations.execute(operations, context);
  }

  reconcile(operation: OutboxOperation, context: ExecutionContext): Promise<OperationOutcome | undefined> {
    return this.#operations.reconcile(operation, context);
  }

  grantedScopes(context: ExecutionContext): Promise<GrantedScopes> {
    return this.#setup.grantedScopes(context);
  }

  setup(context: ExecutionContext): Promise<string[]> {
    return this.#setup.setup(context);
  }
}

/**
 * The operation kinds. Users in one bulk job per call (a job names each user once: a call takes
 * one user per customer); every other kind one at a time, a call's operations one after another,
 * since each may wait for its own ticket's or user's limit. Runs of several customers go in
 * same-kind segments (core/outbox/runs.ts). Only comments are reconciled before a retry (see
 * ZendeskTicketWriter.reconcileComment): users are looked up by external id on every attempt,
 * and the other writes look for themselves on the ticket.
 */
function zendeskOperations(api: ZendeskApi, settings: ZendeskSettings, mediaDir: string, parallelCalls: number): OperationTable {
  const users = new ZendeskUserFinder(api, settings);
  const tickets = new ZendeskTicketWriter(api, settings);
  const history = new ZendeskHistoryImporter(api, settings);
  const replies = new ZendeskReplies(api, settings, mediaDir);
  /** An earlier attempt may have reached Zendesk with its answer lost. */
  const retried = (op: { readonly attempts: number }) => op.attempts > 1;
  return new OperationTable(
    [
      declareKind({
        kind: KIND.user,
        payload: userPayload,
        batchSize: BATCH_SIZE[KIND.user],
        recordOf: (payload) => payload.contactId,
        handleBatch: (ops, context) => users.upsert(ops.map((op) => op.payload), context),
      }),
      declareKind({
        kind: KIND.comment,
        payload: commentPayload,
        batchSize: BATCH_SIZE[KIND.comment],
        oneAtATime: true,
        handle: (op, context) => tickets.writeComments(op.payload, context, retried(op)),
        reconcile: (op, context) => tickets.reconcileComment(op.payload, context),
      }),
      declareKind({
        kind: KIND.attachment,
        payload: attachmentPayload,
        batchSize: BATCH_SIZE[KIND.attachment],
        oneAtATime: true,
        handle: (op, context) => tickets.attach(op.payload, context, retried(op)),
      }),
      declareKind({
        kind: KIND.note,
        payload: notePayload,
        batchSize: BATCH_SIZE[KIND.note],
        oneAtATime: true,
        handle: async (op, context) => ({ result: await tickets.note(op.payload, context, retried(op)) }),
      }),
      declareKind({ kind: KIND.replies, payload: repliesPayload, batchSize: BATCH_SIZE[KIND.replies], oneAtATime: true, handle: (op, context) => replies.fetch(op.payload, context) }),
      declareKind({
        kind: KIND.historyImport,
        payload: historyImportPayload,
        batchSize: BATCH_SIZE[KIND.historyImport],
        oneAtATime: true,
        handle: (op, context) => history.importPast(op.payload, context),
      }),
      declareKind({ kind: CONSENT_KIND, payload: consentPayloadSchema, oneAtATime: true, handle: (op, context) => tickets.consent(op.payload, context, retried(op)) }),
      declareKind({ kind: WINDOW_KIND, payload: windowPayloadSchema, oneAtATime: true, handle: (op, context) => writeZendeskWindow(api, op.payload, context) }),
    ],
    { segmented: { parallelCalls } },
  );
}
