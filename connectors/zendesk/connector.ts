// Zendesk: one ticket per WhatsApp thread, the customer as its requester (an end user keyed by
// the WhatsApp id), each message a comment; agents' public replies go back to the customer on
// WhatsApp through the outbox. A burst costs few calls: messages not yet on the ticket are
// written together, one update for all that arrived before it.
import { createHash } from 'node:crypto';
import type { Connector, ConnectorMetadata, ExecutionContext, GrantedScopes, OperationEffect, OperationOutcome, VendorRecordLink } from '../../core/connector.js';
import { resolveTuning, WEBHOOK_SECRET_REF } from '../../core/connector.js';
import { CredentialError, SyncError, VendorError } from '../../core/errors.js';
import { sendNoted, waitOutLateLanding, type LateLandingWrite } from '../../core/lost-answer.js';
import { vendorFetch } from '../../core/http.js';
import { sha256Hex, storeContentAddressed } from '../../core/media-store.js';
import { samePerson } from '../../core/model/phone.js';
import type { LocalFile, ModelChange, OutboundReply } from '../../core/model/types.js';
import { declareKind, OperationTable, requirePrerequisite, type OperationDone } from '../../core/operations.js';
import type { OutboxOperation } from '../../core/outbox/queries.js';
import { ZendeskApi, expectAnswer, isClosedTicketError, isIdempotencyMismatch } from './client.js';
import {
  currentUser,
  jobStatusAnswer,
  oauthToken,
  webhookSigningSecret,
  zendeskComments,
  zendeskTicket,
  zendeskTickets,
  zendeskTriggers,
  zendeskUserFields,
  zendeskUsers,
  zendeskWebhook,
  zendeskWebhooks,
  type JobResult,
  type JobStatus,
  type ZendeskComment,
  type ZendeskUser,
} from './responses.js';
import {
  BATCH_SIZE,
  KIND,
  ORIGIN,
  WHATSAPP_TAG,
  acknowledgement,
  agentReplies,
  commentBody,
  flaggedTags,
  isKeptComment,
  keptCommentText,
  nextCommentRun,
  nextHistoryBatch,
  historyExternalId,
  importedTicket,
  ticketDefaults,
  ticketSubject,
  endUser,
  endUserUpdate,
  USER_FIELDS,
  toOperationDrafts,
  attachmentPayload,
  commentPayload,
  historyImportPayload,
  notePayload,
  repliesPayload,
  userPayload,
  type AttachmentPayload,
  type CommentPayload,
  type HistoryImportPayload,
  type NotePayload,
  type RepliesPayload,
  type UserPayload,
} from './mappers.js';
import type { ZendeskSettings } from './settings.js';
import { CONSENT_KIND, consentDrafts, consentPayloadSchema, optOutNote, type ConsentPayload } from '../../core/consent/operation.js';
import { DEFAULT_WINDOW_WRITE_SETTLE_MS, WINDOW_KIND, windowDrafts, windowPayloadSchema } from '../../core/outbound/window.js';
import { writeZendeskConsentTag } from './consent.js';
import { writeZendeskWindow } from './window.js';

/** Ref kinds: Zendesk ids of our records and how far each ticket is written. */
const REF = {
  user: 'user',
  ticket: 'ticket',
  syncedTo: 'ticket-synced-to',
  /** Set before a write whose answer may be lost: the arrival sequence it carries and its body's hash. */
  pendingWrite: 'ticket-pending-write',
  /** When the thread's last ticket creation or comment update went out, while its answer is in doubt ('0' once answered). */
  commentSent: 'ticket-comment-sent',
  attachment: 'attachment-comment',
  /** When a single comment (an attachment's, by message id; a note, by ticket and body hash) went out, while in doubt. */
  singleCommentSent: 'single-comment-sent',
  replyCursor: 'reply-cursor',
  requester: 'ticket-requester',
  webhook: 'webhook',
  /** How far a thread's past messages are imported (an arrival sequence), and the import under way. */
  historyImportedTo: 'history-imported-to',
  historyPendingImport: 'history-pending-import',
  /** When the thread's last history import went out, while its answer is in doubt. */
  historyImportSent: 'history-import-sent',
  /** The tickets a thread's past was imported into, newest last (JSON list of ids). */
  historyTickets: 'history-tickets',
  /** When the Ticket Import API last refused the token (local id `account`): the next imports fail without a call. */
  historyForbidden: 'history-forbidden',
} as const;

/** How long a refused import (not an admin's token) makes the next ones fail without asking again. */
const HISTORY_FORBIDDEN_MS = 60_000;

function importForbidden(detail: string): VendorError {
  return new VendorError('zendesk', `${detail}; the Ticket Import API is for admins: use an admin's token, or set connectors.zendesk.history: none (live tickets are not affected)`, { status: 403 });
}

/** Whether an update would change anything on the user as read (so an unchanged person costs no job). */
function differs(update: Record<string, unknown>, user: ZendeskUser): boolean {
  return Object.entries(update).some(([key, value]) => {
    if (key === 'user_fields') return Object.entries(value as Record<string, unknown>).some(([field, v]) => (user.user_fields?.[field] ?? null) !== v);
    const current: Record<string, unknown> = { ...user };
    return (current[key] ?? null) !== value;
  });
}

/**
 * The result of the job's `index`-th task. Zendesk lists results in request order, with no
 * external_id (https://developer.zendesk.com/api-reference/ticketing/ticket-management/job_statuses/#results,
 * order confirmed at https://support.zendesk.com/hc/en-us/community/posts/4408861015066); an
 * explicit `index` wins where given, and `fits` cross-checks what a result does carry, so a
 * shifted list is refused rather than trusted.
 */
function jobResult(job: JobStatus, index: number, fits: (result: JobResult) => boolean): JobResult | undefined {
  const results = job.results ?? [];
  const result = results.some((r) => r.index !== undefined) ? results.find((r) => r.index === index) : results[index];
  return result && fits(result) ? result : undefined;
}

interface PendingWrite {
  /** The highest arrival sequence the write carries. */
  readonly seq: number;
  /** The body as Zendesk will keep it (see keptCommentText), to recognise it on the ticket. */
  readonly text?: string;
  /** Written by earlier versions instead of `text`: a hash of the exact body. */
  readonly hash?: string;
}

function pendingWrite(seq: number, body: string): PendingWrite {
  return { seq, text: keptCommentText(body) };
}

/** Whether a comment on the ticket is this noted write. */
function isWriteOnTicket(write: PendingWrite, comment: ZendeskComment): boolean {
  const kept = comment.body ?? comment.plain_body ?? '';
  if (write.text !== undefined) return isKeptComment(write.text, kept);
  return write.hash === createHash('sha256').update(kept.trim()).digest('hex').slice(0, 24);
}

/** How long an operation waits for a bulk job before retrying later. */
const JOB_WAIT_MS = 60_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class ZendeskConnector implements Connector {
  readonly features: string[];
  readonly tuning;
  readonly #settings: ZendeskSettings;
  readonly #api: ZendeskApi;
  readonly #mediaDir: string;
  readonly #windowWriteSettleMs: number;
  readonly #operations: OperationTable;
  #integrationUserId: number | undefined;

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

  constructor(
    readonly metadata: ConnectorMetadata,
    settings: ZendeskSettings,
    mediaDir: string,
    windowWriteSettleMs = DEFAULT_WINDOW_WRITE_SETTLE_MS,
  ) {
    this.#settings = settings;
    this.#windowWriteSettleMs = windowWriteSettleMs;
    this.#mediaDir = mediaDir;
    this.#api = new ZendeskApi(settings);
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
    this.#operations = this.#declareOperations();
  }

  /**
   * Users in one bulk job per call (a job names each user once: a call takes one user per
   * customer); every other kind one at a time, a call's operations one after another, since each
   * may wait for its own ticket's or user's limit. Runs of several customers go in same-kind
   * segments (core/outbox/runs.ts).
   */
  #declareOperations(): OperationTable {
    const retried = (op: { readonly attempts: number }) => op.attempts > 1;
    return new OperationTable(
      [
        declareKind({
          kind: KIND.user,
          payload: userPayload,
          batchSize: BATCH_SIZE[KIND.user],
          recordOf: (payload) => payload.contactId,
          handleBatch: (ops, context) => this.#upsertUsers(ops.map((op) => op.payload), context),
        }),
        declareKind({
          kind: KIND.comment,
          payload: commentPayload,
          batchSize: BATCH_SIZE[KIND.comment],
          oneAtATime: true,
          handle: (op, context) => this.#writeComments(op.payload, context, retried(op)),
          reconcile: (op, context) => this.#reconcileComment(op.payload, context),
        }),
        declareKind({ kind: KIND.attachment, payload: attachmentPayload, batchSize: BATCH_SIZE[KIND.attachment], oneAtATime: true, handle: (op, context) => this.#attach(op.payload, context, retried(op)) }),
        declareKind({ kind: KIND.replies, payload: repliesPayload, batchSize: BATCH_SIZE[KIND.replies], oneAtATime: true, handle: (op, context) => this.#fetchReplies(op.payload, context) }),
        declareKind({ kind: KIND.note, payload: notePayload, batchSize: BATCH_SIZE[KIND.note], oneAtATime: true, handle: async (op, context) => ({ result: await this.#note(op.payload, context, retried(op)) }) }),
        declareKind({ kind: KIND.historyImport, payload: historyImportPayload, batchSize: BATCH_SIZE[KIND.historyImport], oneAtATime: true, handle: (op, context) => this.#importHistory(op.payload, context) }),
        declareKind({ kind: CONSENT_KIND, payload: consentPayloadSchema, oneAtATime: true, handle: (op, context) => this.#consent(op.payload, context, retried(op)) }),
        declareKind({ kind: WINDOW_KIND, payload: windowPayloadSchema, oneAtATime: true, handle: (op, context) => writeZendeskWindow(this.#api, op.payload, context) }),
      ],
      { segmented: { parallelCalls: this.tuning.concurrency } },
    );
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
   * update (see #writeComments), so the comments behind it cost no call.
   */
  execute(operations: readonly OutboxOperation[], context: ExecutionContext): Promise<OperationOutcome[]> {
    return this.#operations.execute(operations, context);
  }

  reconcile(operation: OutboxOperation, context: ExecutionContext): Promise<OperationOutcome | undefined> {
    return this.#operations.reconcile(operation, context);
  }

  /**
   * Before a comment write runs again: if it may have created a ticket (none is known for the
   * thread, or the known one is closed and a follow-up was under way), looks for that ticket by
   * its external_id (our thread id) and adopts it, so the retry adds to it instead of creating
   * another. The Idempotency-Key alone is not enough: Zendesk forgets it after 2 hours
   * (https://developer.zendesk.com/api-reference/ticketing/introduction/#idempotency), and an
   * outage or backlog can last longer. A creation whose answer was lost may also still be carried
   * out, so the look waits until it can no longer land (see lostAnswerWaitSeconds). Then the write
   * itself runs, and its landed-write check says how far the adopted ticket already goes. Users
   * need no step here: every attempt looks them up by external id before creating; notes and
   * attachments check the ticket's comments, after the same wait.
   */
  async #reconcileComment(payload: CommentPayload, context: ExecutionContext): Promise<undefined> {
    const pending = await this.#pendingWrites(payload.threadId, context);
    if (pending.length === 0) return undefined;
    // A creation in doubt may still land: looking now could find nothing and let the write create another.
    await waitOutLateLanding(context, this.#threadWrite(payload.threadId));
    await this.#adoptCreatedTicket(payload.threadId, context);
    return undefined;
  }

  /**
   * Adopts the newest ticket with the thread's external_id that is newer than the one we know
   * (a creation or follow-up whose answer was lost). List Tickets filters by external_id
   * without the search index's delay.
   * https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/#list-tickets
   */
  async #adoptCreatedTicket(threadId: string, context: ExecutionContext): Promise<string | undefined> {
    const known = await context.getRef(REF.ticket, threadId);
    const tickets = await this.#api.read(context, "looking up the thread's ticket by external id", zendeskTickets, (c) => c.tickets.get(['tickets', { external_id: threadId }]));
    const newer = tickets.filter((t) => t.id > Number(known ?? 0)).sort((a, b) => a.id - b.id);
    // The oldest newer one: if duplicates exist from before this check, keep writing to the first.
    const found = newer[0];
    if (!found) return undefined;
    await context.setRef(REF.ticket, threadId, String(found.id));
    context.log.info({ zendeskTicketId: found.id, threadId }, 'adopted a ticket an earlier attempt created');
    return String(found.id);
  }

  // ---- scopes and setup ----

  /**
   * OAuth tokens: the token's own scopes (`read`/`write` cover every resource). API tokens act
   * as their agent: an admin may do everything used here, an agent tickets and users only.
   * https://developer.zendesk.com/api-reference/ticketing/oauth/oauth_tokens/#show-token
   */
  async grantedScopes(context: ExecutionContext): Promise<GrantedScopes> {
    const resources = ['tickets', 'users', 'webhooks', 'triggers'];
    if (this.#settings.oauthToken) {
      // node-zendesk unwraps `{ token: {...} }` to the token itself.
      const token = await this.#api.read(context, 'reading the OAuth token', oauthToken, (c) => c.oauthtokens.get(['oauth', 'tokens', 'current']));
      const scopes = token.scopes ?? token.token?.scopes ?? [];
      return resources.flatMap((r) => ['read', 'write'].filter((a) => scopes.includes(a) || scopes.includes(`${r}:${a}`)).map((a) => `${r}:${a}`));
    }
    const me = await this.#me(context);
    const allowed = me.role === 'admin' ? resources : me.role === 'agent' ? ['tickets', 'users'] : [];
    return allowed.flatMap((r) => [`${r}:read`, `${r}:write`]);
  }

  async #me(context: ExecutionContext): Promise<ZendeskUser> {
    const me = await this.#api.read(context, 'reading the integration user', currentUser, (c) => c.users.get(['users', 'me']));
    if (!me.id) throw new VendorError('zendesk', 'GET /users/me answered anonymous: the credentials are not an agent\'s', { status: 401 });
    this.#integrationUserId = me.id;
    return { ...me, id: me.id };
  }

  async #integrationUser(context: ExecutionContext): Promise<number> {
    return this.#integrationUserId ?? (await this.#me(context)).id;
  }

  /**
   * Creates the webhook Zendesk calls on agent comments and the trigger that calls it, once
   * (found by name on later runs), and keeps the webhook's signing secret for verification.
   * https://developer.zendesk.com/api-reference/webhooks/webhooks-api/webhooks/
   */
  async setup(context: ExecutionContext): Promise<string[]> {
    const name = 'wa-crm-sync agent replies';
    const fields = await this.#ensureUserFields(context);
    if (!this.#settings.publicUrl) {
      return [
        ...fields,
        'connectors.zendesk.publicUrl is not set, so no webhook was created. Either set it to this service\'s public https URL and run setup again, or in Admin Center > Apps and integrations > Webhooks create a webhook',
        `"${name}" (POST, JSON, endpoint https://YOUR-HOST/webhooks/zendesk), copy its signing secret into connectors.zendesk.webhookSecret, and add a trigger: conditions "Comment is Public", "Current user is (agent)", "Tags contain ${WHATSAPP_TAG}"; action "Notify webhook" with body {"ticket_id": "{{ticket.id}}", "external_id": "{{ticket.external_id}}"}`,
      ];
    }
    const done: string[] = [...fields];
    const endpoint = `${this.#settings.publicUrl.replace(/\/$/, '')}/webhooks/zendesk`;
    const webhooks = await this.#api.read(context, 'listing webhooks', zendeskWebhooks, (c) => c.webhooks.get(['webhooks', { 'filter[name_contains]': 'wa-crm-sync' }]));
    let webhook = webhooks.find((w) => w.name === name);
    if (!webhook) {
      webhook = await this.#api.read(context, 'creating the webhook', zendeskWebhook, (c) =>
        c.webhooks.post(['webhooks'], { webhook: { name, endpoint, http_method: 'POST', request_format: 'json', status: 'active', subscriptions: ['conditional_ticket_events'] } }),
      );
      done.push(`created the Zendesk webhook "${name}" calling ${endpoint}`);
    } else if (webhook.endpoint !== endpoint) {
      done.push(`the Zendesk webhook "${name}" calls ${webhook.endpoint}, not ${endpoint}: edit it in Admin Center > Webhooks`);
    }
    const webhookId = webhook.id;
    const secret = await this.#api.read(context, "reading the webhook's signing secret", webhookSigningSecret, (c) => c.webhooks.get(['webhooks', webhookId, 'signing_secret']));
    if (secret.signing_secret?.secret) await context.setRef(WEBHOOK_SECRET_REF.kind, WEBHOOK_SECRET_REF.localId, secret.signing_secret.secret);
    const title = 'wa-crm-sync: send agent replies to WhatsApp';
    const found = await this.#api.read(context, 'looking for the trigger', zendeskTriggers, (c) => c.triggers.get(['triggers', 'search', { query: title }]));
    if (!found.some((t) => t.title === title)) {
      const trigger = {
        title,
        conditions: {
          all: [
            { field: 'comment_is_public', operator: 'is', value: 'true' },
            { field: 'role', operator: 'is', value: 'agent' },
            { field: 'current_tags', operator: 'includes', value: WHATSAPP_TAG },
          ],
        },
        actions: [{ field: 'notification_webhook', value: [webhook.id, JSON.stringify({ ticket_id: '{{ticket.id}}', external_id: '{{ticket.external_id}}' })] }],
      };
      await this.#api.call(context, 'creating the trigger', (c) => c.triggers.post(['triggers'], { trigger }));
      done.push(`created the Zendesk trigger "${title}"`);
    }
    return done;
  }

  /**
   * The user fields holding each customer's BSUID and @username, readable and searchable by agents.
   * https://developer.zendesk.com/api-reference/ticketing/users/user_fields/
   */
  async #ensureUserFields(context: ExecutionContext): Promise<string[]> {
    const fields = await this.#api.read(context, 'listing user fields', zendeskUserFields, (c) => c.users.get(['user_fields']));
    const existing = new Set((Array.isArray(fields) ? fields : (fields.user_fields ?? [])).map((f) => f.key));
    const done: string[] = [];
    const written = 'Written by wa-crm-sync';
    for (const [key, title, description] of [
      [USER_FIELDS.bsuid, 'WhatsApp BSUID', written],
      [USER_FIELDS.username, 'WhatsApp username', written],
      ...(this.#settings.writeWindowOpenUntil
        ? ([[USER_FIELDS.windowOpenUntil, 'WhatsApp window open until (UTC)', `${written}: until when WhatsApp free text may be sent (24 hours after the customer last wrote, ISO 8601 UTC); after it, send a template`]] as const)
        : []),
    ] as const) {
      if (existing.has(key)) continue;
      await this.#api.call(context, `creating the user field ${key}`, (c) => c.users.post(['user_fields'], { user_field: { type: 'text', key, title, description } }));
      done.push(`created the Zendesk user field ${key}`);
    }
    return done;
  }

  // ---- end users ----

  /**
   * Finds each customer's end user by our external id, else by phone (adopting it), else
   * creates it; new and adopted users are written in bulk jobs of up to 100.
   */
  async #upsertUsers(payloads: readonly UserPayload[], context: ExecutionContext): Promise<OperationOutcome[]> {
    const ids = new Map<string, number>();
    const unlinked: UserPayload[] = [];
    const linked: UserPayload[] = [];
    for (const p of payloads) {
      const known = await context.getRef(REF.user, p.contactId);
      if (known) {
        ids.set(p.contactId, Number(known));
        linked.push(p);
      } else unlinked.push(p);
    }
    const adopt: Array<{ payload: UserPayload; user: ZendeskUser }> = [];
    const current = new Map<number, ZendeskUser>();
    const lookups = [...new Set([...linked.map((p) => String(ids.get(p.contactId))), ...unlinked.map((p) => p.crmKey)])];
    if (lookups.length > 0) {
      // Linked users are read by id (their phone and note decide what an update writes), the rest by our key.
      // https://developer.zendesk.com/api-reference/ticketing/users/users/#show-many-users
      if (linked.length > 0) {
        const users = await this.#api.read(context, 'reading linked users', zendeskUsers, (c) =>
          c.users.get(['users', 'show_many', { ids: [...new Set(linked.map((p) => ids.get(p.contactId)!))].join(',') }]),
        );
        for (const user of users) current.set(user.id, user);
      }
      if (unlinked.length > 0) {
        const users = await this.#api.read(context, 'looking up users by WhatsApp id', zendeskUsers, (c) =>
          c.users.get(['users', 'show_many', { external_ids: unlinked.map((p) => p.crmKey).join(',') }]),
        );
        for (const user of users) {
          const payload = unlinked.find((p) => p.crmKey === user.external_id);
          if (payload) {
            ids.set(payload.contactId, user.id);
            linked.push(payload);
            current.set(user.id, user);
          }
        }
      }
      for (const payload of this.#settings.matchExistingByPhone ? unlinked.filter((p) => !ids.has(p.contactId) && p.phone) : []) {
        const phone = payload.phone!;
        // https://developer.zendesk.com/api-reference/ticketing/users/users/#search-users
        const matches = await this.#api.read(context, 'searching users by phone', zendeskUsers, (c) => c.users.get(['users', 'search', { query: `phone:${phone}` }]));
        const user = matches.find((u) => !u.external_id && u.phone && samePerson(u.phone, phone, phone));
        if (user) adopt.push({ payload, user });
      }
    }
    const failures = new Map<string, SyncError>();
    const creates = unlinked.filter((p) => !ids.has(p.contactId) && !adopt.some((a) => a.payload === p));
    if (creates.length > 0) {
      const job = await this.#runJob(context, 'creating users', (c) =>
        c.users.post(['users', 'create_or_update_many'], { users: creates.map((p) => ({ ...endUser(p), role: 'end-user' })) }),
      );
      for (const [index, p] of creates.entries()) {
        const result = jobResult(job, index, (r) => r.external_id === undefined || r.external_id === p.crmKey);
        if (result?.id && result.error === undefined && result.success !== false) ids.set(p.contactId, result.id);
        else if (result) failures.set(p.contactId, new VendorError('zendesk', `end user for a WhatsApp customer refused: ${result.error ?? result.status ?? 'failed'}${result.details ? ` (${result.details})` : ''}`));
        // No result for this position: the job answered for fewer users than it was given; the retry looks them up by external id.
        else failures.set(p.contactId, new VendorError('zendesk', `creating users: job ${job.id} returned no result for one of ${creates.length} users; will look again`, { retryable: true }));
      }
    }
    // Adopted users get our key and identifiers (so the next look-up finds them directly); linked
    // users get the current number, BSUID and username.
    const updates = [
      ...adopt.map((a) => ({ payload: a.payload, user: a.user, adopted: true })),
      ...linked.flatMap((p) => {
        const user = current.get(ids.get(p.contactId)!);
        return user && differs(endUserUpdate(p, user), user) ? [{ payload: p, user, adopted: false }] : [];
      }),
    ];
    if (updates.length > 0) {
      const job = await this.#runJob(context, 'updating users', (c) =>
        c.users.put(['users', 'update_many'], { users: updates.map((u) => ({ id: u.user.id, ...endUserUpdate(u.payload, u.user) })) }),
      );
      for (const [index, u] of updates.entries()) {
        const result = jobResult(job, index, (r) => r.id === undefined || r.id === u.user.id);
        const action = u.adopted ? 'linked' : 'updated';
        if (!result) failures.set(u.payload.contactId, new VendorError('zendesk', `updating users: job ${job.id} returned no result for user ${u.user.id}; will look again`, { retryable: true }));
        else if (result.error || result.success === false) failures.set(u.payload.contactId, new VendorError('zendesk', `user ${u.user.id} could not be ${action}: ${result.error}`));
        else if (u.adopted) {
          ids.set(u.payload.contactId, u.user.id);
          context.log.info({ zendeskUserId: u.user.id, phone: u.payload.phone }, 'adopted an existing Zendesk user with the same phone number');
        }
      }
    }
    const outcomes: OperationOutcome[] = [];
    for (const p of payloads) {
      const failed = failures.get(p.contactId);
      const id = ids.get(p.contactId);
      if (failed || id === undefined) {
        outcomes.push({ ok: false, error: failed ?? new SyncError('zendesk: no user id came back', { retryable: true }) });
        continue;
      }
      await context.setRef(REF.user, p.contactId, String(id));
      outcomes.push({ ok: true, result: { zendeskUserId: id } });
    }
    return outcomes;
  }

  /** Starts a bulk job and waits for it (polling with growing pauses). */
  async #runJob(context: ExecutionContext, action: string, start: Parameters<ZendeskApi['call']>[2]): Promise<JobStatus> {
    const result = await this.#api.read(context, action, jobStatusAnswer, start);
    if (!result.job_status?.id) throw new VendorError('zendesk', `${action}: no job status in the answer`, { retryable: true });
    let job: JobStatus = result.job_status;
    const giveUpAt = Date.now() + JOB_WAIT_MS;
    for (let wait = 250; ; wait = Math.min(wait * 2, 5000)) {
      if (job.status === 'completed') return job;
      if (job.status === 'failed' || job.status === 'killed') throw new VendorError('zendesk', `${action}: job ${job.status}: ${job.message ?? ''}`, { retryable: true });
      // The job may still finish: a retry finds its users by external id.
      if (Date.now() > giveUpAt || context.signal.aborted) throw new VendorError('zendesk', `${action}: job ${job.id} still ${job.status}; will look again`, { retryable: true });
      await sleep(wait);
      const jobId: string = job.id;
      // https://developer.zendesk.com/api-reference/ticketing/ticket-management/job_statuses/#show-job-status
      const polled = await this.#api.read(context, 'checking a job', jobStatusAnswer, (c) => c.jobstatuses.get(['job_statuses', jobId]));
      job = polled.job_status ?? job;
    }
  }

  // ---- tickets and comments ----

  /**
   * Writes every message of the thread not yet on its ticket, up to and including this
   * operation's: creates the ticket on the first (with an Idempotency-Key), adds comments after,
   * opens a follow-up when the ticket is closed. Later operations of messages already written cost no call.
   */
  async #writeComments(payload: CommentPayload, context: ExecutionContext, retried: boolean): Promise<OperationDone> {
    const effects: OperationEffect[] = [];
    // An update in doubt may still land: looking for it now could find nothing and write it twice.
    await waitOutLateLanding(context, this.#threadWrite(payload.threadId));
    // After a lost answer, first ask whether the write then under way landed (once per run).
    let landingChecked = !retried;
    for (let step = 0; step < 50; step++) {
      const syncedTo = Number((await context.getRef(REF.syncedTo, payload.threadId)) ?? -1);
      if (syncedTo >= payload.arrivalSeq) break;
      if (!landingChecked) {
        landingChecked = true;
        const landed = await this.#landedWrite(payload.threadId, syncedTo, context);
        if (landed !== undefined) {
          await context.setRef(REF.syncedTo, payload.threadId, String(landed));
          continue;
        }
      }
      const requesterId = requirePrerequisite(await context.getRef(REF.user, payload.contactId), "the customer's Zendesk user");
      const run = nextCommentRun(await context.threadMessages(payload.threadId), syncedTo);
      if (!run || run.lastSeq <= syncedTo) {
        // The message is not in the thread as we read it (moved or gone): nothing to write.
        await context.setRef(REF.syncedTo, payload.threadId, String(Math.max(syncedTo, payload.arrivalSeq)));
        break;
      }
      if (run.messages.length === 0) {
        await context.setRef(REF.syncedTo, payload.threadId, String(run.lastSeq));
        continue;
      }
      const body = commentBody(run.messages, run.public, run.newestWrittenAt);
      const comment = { body, public: run.public, ...(run.public ? { author_id: Number(requesterId) } : {}) };
      const ticketId = await context.getRef(REF.ticket, payload.threadId);
      await this.#rememberWrite(payload.threadId, pendingWrite(run.lastSeq, body), !ticketId, context);
      if (!ticketId) {
        const created = await this.#createTicket(payload, comment, flaggedTags(run.messages), Number(requesterId), `wa-crm-sync:${payload.threadId}`, null, context);
        if (created.adoptedSyncedTo !== undefined) {
          // An earlier attempt created it: what it carried is on the ticket already.
          await context.setRef(REF.syncedTo, payload.threadId, String(created.adoptedSyncedTo));
          continue;
        }
      } else {
        // Read again once the ticket's limit lets the update through: what arrived while it waited goes in the same update.
        let sent: { run: typeof run; comment: Record<string, unknown> } = { run, comment };
        try {
          await sendNoted(context, [this.#threadWrite(payload.threadId)], () =>
            this.#api.call(
              context,
              `adding a comment to ticket ${ticketId}`,
              async (c) => {
                sent = await this.#widenRun(payload.threadId, syncedTo, sent, context);
                const tags = flaggedTags(sent.run.messages);
                return c.tickets.put(['tickets', ticketId], { ticket: { comment: sent.comment, ...(run.public ? { status: 'open' } : {}), ...(tags.length > 0 ? { additional_tags: tags } : {}) } });
              },
              { buckets: ['ticket-update', `ticket:${ticketId}`] },
            ),
          );
        } catch (error) {
          if (!isClosedTicketError(error)) throw error;
          // https://developer.zendesk.com/documentation/ticketing/managing-tickets/creating-and-managing-follow-up-tickets/
          const created = await this.#createTicket(payload, sent.comment, flaggedTags(sent.run.messages), Number(requesterId), `wa-crm-sync:${payload.threadId}:followup:${ticketId}`, ticketId, context);
          context.log.info({ closedTicket: ticketId, followUp: created.ticketId }, 'customer wrote on a closed ticket; opened a follow-up');
        }
        await context.setRef(REF.syncedTo, payload.threadId, String(sent.run.lastSeq));
        continue;
      }
      await context.setRef(REF.syncedTo, payload.threadId, String(run.lastSeq));
    }
    const ticketId = await context.getRef(REF.ticket, payload.threadId);
    // Asked for at every success, not only by the write that created the ticket (that operation
    // may fail at a later step and lose its effects): the send's key makes it one message.
    if (ticketId) effects.push(...this.#acknowledge(payload.threadId, ticketId));
    return { result: { zendeskTicketId: ticketId ?? null }, ...(effects.length > 0 ? { effects } : {}) };
  }

  /** A write Zendesk may carry out after its answer was lost (see lostAnswerWaitSeconds). */
  #lateLanding(ref: string, localId: string, what: string): LateLandingWrite {
    return { ref, localId, windowMs: this.#settings.lostAnswerWaitSeconds * 1000, what };
  }

  /** A thread's ticket creation or comment update: one at a time per thread, so one note covers both. */
  #threadWrite(threadId: string): LateLandingWrite {
    return this.#lateLanding(REF.commentSent, threadId, 'ticket creation or comment update');
  }

  /** The same comment with the messages of its run that arrived since it was put together. */
  async #widenRun(
    threadId: string,
    syncedTo: number,
    current: { run: NonNullable<ReturnType<typeof nextCommentRun>>; comment: Record<string, unknown> },
    context: ExecutionContext,
  ): Promise<typeof current> {
    const latest = nextCommentRun(await context.threadMessages(threadId), syncedTo);
    if (!latest || latest.public !== current.run.public || latest.lastSeq <= current.run.lastSeq) return current;
    const body = commentBody(latest.messages, latest.public, latest.newestWrittenAt);
    await this.#rememberWrite(threadId, pendingWrite(latest.lastSeq, body), false, context);
    return { run: latest, comment: { ...current.comment, body } };
  }

  /**
   * Notes what a write carries before it is sent, for when its answer is lost. Creation attempts
   * accumulate (each retry may carry more messages, and any one of them may be the one Zendesk
   * kept); a comment write replaces the note.
   */
  async #rememberWrite(threadId: string, write: PendingWrite, creating: boolean, context: ExecutionContext): Promise<void> {
    const earlier = creating ? await this.#pendingWrites(threadId, context) : [];
    await context.setRef(REF.pendingWrite, threadId, JSON.stringify([...earlier.filter((w) => w.text !== write.text), write]));
  }

  async #pendingWrites(threadId: string, context: ExecutionContext): Promise<PendingWrite[]> {
    const stored = await context.getRef(REF.pendingWrite, threadId);
    return stored ? (JSON.parse(stored) as PendingWrite[]) : [];
  }

  /**
   * After a lost answer: how far the writes noted before it reached the ticket (a comment among
   * its newest has the body of one of them), or undefined when none did. The next write is
   * recomputed from there, so messages that arrived since are added, not written twice.
   */
  async #landedWrite(threadId: string, syncedTo: number, context: ExecutionContext): Promise<number | undefined> {
    const pending = (await this.#pendingWrites(threadId, context)).filter((w) => w.seq > syncedTo);
    const ticketId = await context.getRef(REF.ticket, threadId);
    if (!ticketId || pending.length === 0) return undefined;
    const comments = await this.#newestComments(ticketId, context);
    const landed = pending.filter((w) => comments.some((c) => isWriteOnTicket(w, c))).map((w) => w.seq);
    return landed.length > 0 ? Math.max(...landed) : undefined;
  }

  /** Whether one of the ticket's newest comments has this body: how a retry after a lost answer avoids writing twice. */
  async #onTicket(ticketId: string, body: string, context: ExecutionContext): Promise<boolean> {
    const comments = await this.#newestComments(ticketId, context);
    return comments.some((c) => isKeptComment(body, c.body ?? c.plain_body ?? ''));
  }

  async #newestComments(ticketId: string, context: ExecutionContext): Promise<ZendeskComment[]> {
    // https://developer.zendesk.com/api-reference/ticketing/tickets/ticket_comments/#list-comments
    return this.#api.read(context, `reading comments of ticket ${ticketId}`, zendeskComments, (c) => c.tickets.get(['tickets', ticketId, 'comments', { sort_order: 'desc' }]));
  }

  /**
   * POST /tickets with an Idempotency-Key: a repeat with the same body returns the first ticket.
   * A repeat with a different body (more messages arrived since) is refused by Zendesk; then the
   * ticket is found by its external id (our thread id) and adopted.
   * https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/#create-ticket
   */
  async #createTicket(
    payload: CommentPayload,
    comment: Record<string, unknown>,
    extraTags: readonly string[],
    requesterId: number,
    idempotencyKey: string,
    followUpOf: string | null,
    context: ExecutionContext,
  ): Promise<{ ticketId: string; adoptedSyncedTo?: number }> {
    const ticket = {
      subject: ticketSubject(payload),
      comment,
      requester_id: requesterId,
      external_id: payload.threadId,
      ...ticketDefaults(this.#settings, extraTags),
      ...(followUpOf ? { via_followup_source_id: Number(followUpOf) } : {}),
    };
    try {
      // Noted like a comment update: a creation carried out after its answer was lost is found
      // by external_id once it can no longer land (see reconcile), whether or not Zendesk still
      // holds its Idempotency-Key by then.
      const { result } = await sendNoted(context, [this.#threadWrite(payload.threadId)], () =>
        this.#api.call(context, 'creating a ticket', (c) => c.tickets.post(['tickets'], { ticket }), { idempotencyKey }),
      );
      // Checked once the creation is answered (and so no longer in doubt): a retry adopts it by external id.
      const created = expectAnswer('creating a ticket', zendeskTicket, result);
      await context.setRef(REF.ticket, payload.threadId, String(created.id));
      return { ticketId: String(created.id) };
    } catch (error) {
      if (!isIdempotencyMismatch(error)) throw error;
      const tickets = await this.#api.read(context, 'finding the ticket an earlier attempt created', zendeskTickets, (c) => c.tickets.get(['tickets', { external_id: payload.threadId }]));
      const found = tickets.filter((t) => !followUpOf || String(t.id) !== followUpOf).sort((a, b) => b.id - a.id)[0];
      if (!found) throw error;
      await context.setRef(REF.ticket, payload.threadId, String(found.id));
      // The ticket's first comment is the body Zendesk kept for this key: it says how far that attempt went.
      const comments = await this.#newestComments(String(found.id), context);
      const first = comments[comments.length - 1];
      const attempts = await this.#pendingWrites(payload.threadId, context);
      const kept = first ? attempts.find((w) => isWriteOnTicket(w, first)) : undefined;
      // Unknown: assume the least was carried; a message written twice beats a message lost.
      const carried = kept?.seq ?? Math.min(...attempts.map((w) => w.seq), payload.arrivalSeq);
      return { ticketId: String(found.id), adoptedSyncedTo: carried };
    }
  }

  /** The optional WhatsApp acknowledgement with the new ticket's number. */
  #acknowledge(threadId: string, ticketId: string): OperationEffect[] {
    if (!this.#settings.autoAcknowledge.enabled) return [];
    const reply: OutboundReply = {
      origin: ORIGIN,
      sourceId: `ack:${ticketId}`,
      sourceRecord: ticketId,
      text: acknowledgement(this.#settings.autoAcknowledge.text, ticketId),
      attachments: [],
      template: null,
    };
    return [{ type: 'reply.requested', threadId, reply }];
  }

  /** A received file as an attachment on a comment of the thread's ticket, or a note when it is too large. */
  async #attach(payload: AttachmentPayload, context: ExecutionContext, retried: boolean): Promise<OperationDone> {
    const done = await context.getRef(REF.attachment, payload.messageId);
    if (done) return { result: { zendeskTicketId: done } };
    const ticketId = requirePrerequisite(await context.getRef(REF.ticket, payload.threadId), "the thread's Zendesk ticket");
    const requesterId = requirePrerequisite(await context.getRef(REF.user, payload.contactId), "the customer's Zendesk user");
    const name = payload.filename ?? `whatsapp-${payload.sha256.slice(0, 16)}.${payload.mimeType.split('/')[1]?.split(';')[0] ?? 'bin'}`;
    const tooLarge = payload.size > this.#settings.maxAttachmentBytes;
    const body = tooLarge
      ? `${payload.text}\n\n(The file ${name}, ${(payload.size / 1048576).toFixed(1)} MB, is over the ${(this.#settings.maxAttachmentBytes / 1048576).toFixed(0)} MB attachment limit and was not attached; it is kept by wa-crm-sync.)`
      : `${payload.text} (attached: ${name})`;
    // Uploading again after a lost upload answer doubles nothing: an upload no comment carries is
    // deleted by Zendesk when its token expires (60 minutes), so only the comment must be once.
    // https://support.zendesk.com/hc/en-us/articles/4408887057946-Can-I-attach-files-to-tickets-using-the-API
    await this.#commentOnce(ticketId, body, this.#lateLanding(REF.singleCommentSent, `attachment:${payload.messageId}`, 'attachment comment'), retried, context, `attaching a file to ticket ${ticketId}`, async () =>
      tooLarge ? { body, public: false } : { body, public: true, author_id: Number(requesterId), uploads: [await this.#api.upload(context, payload.path, name, payload.mimeType.split(';')[0]!.trim())] },
    );
    await context.setRef(REF.attachment, payload.messageId, ticketId);
    return { result: { zendeskTicketId: ticketId } };
  }

  // ---- the business app's past (coexistence history) ----

  /**
   * Imports the thread's past messages not yet imported as one solved ticket (several for a very
   * long conversation, or when some arrived after its ticket was imported). Exactly once: the
   * import under way is noted first, and should its answer be lost, the next attempt finds the
   * ticket by that import's external id and adopts it instead of importing again. No
   * acknowledgement and no reply follow: the Ticket Import API runs no triggers.
   * https://developer.zendesk.com/api-reference/ticketing/tickets/ticket_import/
   */
  async #importHistory(payload: HistoryImportPayload, context: ExecutionContext): Promise<OperationDone> {
    for (let step = 0; step < 50; step++) {
      const importedTo = Number((await context.getRef(REF.historyImportedTo, payload.threadId)) ?? -1);
      if (importedTo >= payload.arrivalSeq) break;
      const pendingRef = await context.getRef(REF.historyPendingImport, payload.threadId);
      const pending = pendingRef ? (JSON.parse(pendingRef) as { externalId: string; seq: number }) : undefined;
      if (pending && pending.seq > importedTo) {
        // An import whose outcome we do not know (a lost answer, a crash): did it land? Once it
        // can no longer land: Zendesk may still be carrying it out, and a look now finds nothing.
        await waitOutLateLanding(context, this.#lateLanding(REF.historyImportSent, payload.threadId, 'history import'));
        const tickets = await this.#api.read(context, 'looking up an imported ticket by external id', zendeskTickets, (c) => c.tickets.get(['tickets', { external_id: pending.externalId }]));
        const landed = tickets.sort((a, b) => a.id - b.id)[0];
        if (landed) {
          await this.#recordImport(payload.threadId, landed.id, pending.seq, context);
          context.log.info({ zendeskTicketId: landed.id, threadId: payload.threadId }, 'adopted a history ticket an earlier attempt imported');
          continue;
        }
      }
      const batch = nextHistoryBatch(await context.threadMessages(payload.threadId), importedTo, this.#settings.historyCommentsPerTicket);
      if (!batch) {
        await context.setRef(REF.historyImportedTo, payload.threadId, String(Math.max(importedTo, payload.arrivalSeq)));
        break;
      }
      const requesterId = requirePrerequisite(await context.getRef(REF.user, payload.contactId), "the customer's Zendesk user");
      const externalId = historyExternalId(payload.threadId, importedTo);
      const ticket = importedTicket(this.#settings, {
        messages: batch.messages,
        customerName: payload.customerName,
        externalId,
        continued: importedTo >= 0,
        requesterId: Number(requesterId),
        agentId: await this.#integrationUser(context),
      });
      const forbiddenAt = Number((await context.getRef(REF.historyForbidden, 'account')) ?? 0);
      if (Date.now() - forbiddenAt < HISTORY_FORBIDDEN_MS) throw importForbidden('importing a past conversation: refused a moment ago (HTTP 403)');
      await context.setRef(REF.historyPendingImport, payload.threadId, JSON.stringify({ externalId, seq: batch.lastSeq }));
      let answer: { result: unknown };
      try {
        answer = await sendNoted(context, [this.#lateLanding(REF.historyImportSent, payload.threadId, 'history import')], () =>
          this.#api.call(context, 'importing a past conversation as a solved ticket', (c) => c.tickets.post(['imports', 'tickets'], { ticket })),
        );
      } catch (error) {
        // An agent's token may not import. Said as a vendor refusal of this operation, not a
        // credential problem, which would pause the connector and its live tickets with it.
        if (!(error instanceof CredentialError && error.status === 403)) throw error;
        await context.setRef(REF.historyForbidden, 'account', String(Date.now()));
        throw importForbidden(error.message);
      }
      // Checked once the import is answered (and so no longer in doubt): a retry adopts it by external id.
      const imported = expectAnswer('importing a past conversation as a solved ticket', zendeskTicket, answer.result);
      await this.#recordImport(payload.threadId, imported.id, batch.lastSeq, context);
    }
    const tickets = await context.getRef(REF.historyTickets, payload.threadId);
    return { result: { zendeskTicketIds: tickets ? (JSON.parse(tickets) as number[]) : [] } };
  }

  async #recordImport(threadId: string, ticketId: number, seq: number, context: ExecutionContext): Promise<void> {
    const known = await context.getRef(REF.historyTickets, threadId);
    const tickets = known ? (JSON.parse(known) as number[]) : [];
    if (!tickets.includes(ticketId)) await context.setRef(REF.historyTickets, threadId, JSON.stringify([...tickets, ticketId]));
    await context.setRef(REF.historyImportedTo, threadId, String(seq));
  }

  // ---- agent replies ----

  /**
   * Reads the ticket's newest comments and hands every new public agent comment to WhatsApp,
   * with its attachments downloaded first. Comments by the customer or by this integration
   * (its notes, the business app's messages) are never sent: no echo loop.
   */
  async #fetchReplies(payload: RepliesPayload, context: ExecutionContext): Promise<OperationDone> {
    const cursor = Number((await context.getRef(REF.replyCursor, payload.ticketId)) ?? 0);
    const [comments, integrationUser] = [await this.#newestComments(payload.ticketId, context), await this.#integrationUser(context)];
    const requester = await context.getRef(REF.user, payload.contactId);
    const replies = agentReplies(comments, cursor, requester === undefined ? undefined : Number(requester), integrationUser);
    const effects: OperationEffect[] = [];
    for (const comment of replies) {
      const attachments: LocalFile[] = [];
      for (const file of comment.attachments ?? []) attachments.push(await this.#download(file, context));
      const template = this.#settings.outsideWindowTemplate;
      const reply: OutboundReply = {
        origin: ORIGIN,
        sourceId: String(comment.id),
        sourceRecord: payload.ticketId,
        text: (comment.plain_body ?? comment.body ?? '').trim(),
        attachments,
        template: template ? { name: template.name, language: template.language, parameters: template.ticketNumberParameter ? [payload.ticketId] : [] } : null,
      };
      effects.push({ type: 'reply.requested', threadId: payload.threadId, reply });
    }
    const newest = Math.max(cursor, ...comments.map((c) => c.id));
    if (newest > cursor) await context.setRef(REF.replyCursor, payload.ticketId, String(newest));
    return { result: { replies: replies.length }, ...(effects.length > 0 ? { effects } : {}) };
  }

  /** Downloads an attachment (content URLs need the same credentials) into the media directory, by SHA-256. */
  async #download(file: NonNullable<ZendeskComment['attachments']>[number], context: ExecutionContext): Promise<LocalFile> {
    if (file.size > this.#settings.maxAttachmentBytes) throw new VendorError('zendesk', `attachment ${file.file_name} is ${file.size} bytes, over connectors.zendesk.maxAttachmentBytes`);
    const response = await vendorFetch(context, { vendor: 'zendesk', url: file.content_url, headers: { authorization: this.#api.authorization() }, timeoutMs: this.#settings.timeoutMs * 4 });
    const bytes = new Uint8Array(await response.arrayBuffer());
    const sha256 = sha256Hex(bytes);
    const path = await storeContentAddressed(this.#mediaDir, bytes, sha256);
    return { path, sha256, mimeType: file.content_type, size: bytes.byteLength, filename: file.file_name };
  }

  /**
   * A consent change: the user's tag, then for an opt-out an internal note on the latest thread's
   * ticket (none when the person never wrote or their ticket is not written yet: the tag is the record).
   */
  async #consent(payload: ConsentPayload, context: ExecutionContext, retried: boolean): Promise<OperationDone> {
    const tagged = await writeZendeskConsentTag(this.#api, payload, context);
    if (payload.status !== 'opted_out' || !payload.threadId || !(await context.getRef(REF.ticket, payload.threadId))) return { result: tagged };
    const noted = await this.#note({ threadId: payload.threadId, ticketId: null, body: optOutNote(payload) }, context, retried);
    return { result: { ...tagged, ...noted } };
  }

  /** An internal note on the ticket (never public, so no trigger sends it). */
  async #note(payload: NotePayload, context: ExecutionContext, retried: boolean): Promise<{ zendeskTicketId: string }> {
    const ticketId = requirePrerequisite(payload.ticketId ?? (await context.getRef(REF.ticket, payload.threadId)), "the thread's Zendesk ticket");
    const noted = this.#lateLanding(REF.singleCommentSent, `note:${ticketId}:${createHash('sha256').update(payload.body).digest('hex').slice(0, 24)}`, 'internal note');
    await this.#commentOnce(ticketId, payload.body, noted, retried, context, `adding a note to ticket ${ticketId}`, async () => ({ body: payload.body, public: false }));
    return { zendeskTicketId: ticketId };
  }

  /**
   * One comment on a ticket, once. After a lost answer the retry looks for it among the ticket's
   * newest comments, but only once the earlier write can no longer land: Zendesk may still be
   * carrying it out (see lostAnswerWaitSeconds), and a look before that finds nothing.
   */
  async #commentOnce(
    ticketId: string,
    body: string,
    write: LateLandingWrite,
    retried: boolean,
    context: ExecutionContext,
    action: string,
    comment: () => Promise<Record<string, unknown>>,
  ): Promise<void> {
    await waitOutLateLanding(context, write);
    if (retried && (await this.#onTicket(ticketId, body, context))) return;
    const built = await comment();
    await sendNoted(context, [write], () => this.#api.call(context, action, (c) => c.tickets.put(['tickets', ticketId], { ticket: { comment: built } }), { buckets: ['ticket-update', `ticket:${ticketId}`] }));
  }
}
