// HubSpot CRM: WhatsApp contacts on the contact they already had, every message as a
// Communication (channel WHATS_APP) on its timeline, and optionally the two-way inbox. This class
// composes the parts, each in its own file: the declared operation kinds (below), setup.ts
// (account, properties, how messages are keyed), finder.ts (records found again), writer.ts
// (record writes), inbox.ts (the custom channel), client.ts and responses.ts (calls and answers).
import type { Connector, ConnectorMetadata, ExecutionContext, GrantedScopes, OperationOutcome, VendorRecordLink } from '../../core/connector.js';
import { resolveTuning } from '../../core/connector.js';
import { SyncError } from '../../core/errors.js';
import type { ModelChange } from '../../core/model/types.js';
import { declareKind, OperationTable, type DeclaredOperation } from '../../core/operations.js';
import type { OutboxOperation } from '../../core/outbox/queries.js';
import { CONSENT_KIND, consentDrafts, consentPayloadSchema } from '../../core/consent/operation.js';
import { DEFAULT_WINDOW_WRITE_SETTLE_MS, WINDOW_KIND, windowDrafts, windowPayloadSchema } from '../../core/outbound/window.js';
import { HubSpotApi } from './client.js';
import { writeHubSpotConsent } from './consent.js';
import { HubSpotFinder, SEARCH_BUCKET } from './finder.js';
import { HubSpotInbox, inboxOperationKinds } from './inbox.js';
import { inboxDrafts } from './inbox-mappers.js';
import { BATCH_SIZE, KIND, contactPayload, mediaPayload, messagePayload, threadPayload, toOperationDrafts } from './mappers.js';
import type { HubSpotSettings } from './settings.js';
import { HubSpotSetup } from './setup.js';
import { writeHubSpotWindow } from './window.js';
import { HubSpotWriter, REF } from './writer.js';

export class HubSpotConnector implements Connector {
  readonly features: string[];
  readonly #tuning;
  readonly #api: HubSpotApi;
  readonly #settings: HubSpotSettings;
  /** The two-way inbox (custom channel), when connectors.hubspot.inbox is on. */
  readonly #inbox: HubSpotInbox | undefined;
  /** What setup read and decided: the account's time zone and links, how messages are keyed, where media go. */
  readonly #setup: HubSpotSetup;
  /** Finds records again: contacts by our id or their number, creates in doubt by their external key. */
  readonly #finder: HubSpotFinder;
  /** Writes the records: contacts, communications, statuses, thread notes or tasks, media. */
  readonly #writer: HubSpotWriter;
  readonly #windowWriteSettleMs: number;
  readonly #operations: OperationTable;

  constructor(
    readonly metadata: ConnectorMetadata,
    settings: HubSpotSettings,
    /** Where agents' attachments are kept (content-addressed) until the reply carrying them is sent. */
    mediaDir: string,
    windowWriteSettleMs = DEFAULT_WINDOW_WRITE_SETTLE_MS,
  ) {
    this.#settings = settings;
    this.#windowWriteSettleMs = windowWriteSettleMs;
    this.features = ['contacts', 'conversation', ...(settings.autoSetup ? ['setup'] : []), ...(settings.mediaUpload ? ['media'] : []), ...(settings.inbox.enabled ? ['inbox'] : [])];
    // OAuth apps get 110 requests per 10 s per installing account whatever the tier (the limit
    // add-on does not raise it); private apps 100 (Free/Starter) or 190 (Professional, Enterprise).
    // https://developers.hubspot.com/docs/guides/apps/api-usage/usage-details
    const defaults = settings.oauth ? { ...metadata.defaultTuning, rateLimit: { requests: 110, intervalMs: 10_000 } } : metadata.defaultTuning;
    const tuning = resolveTuning(defaults, settings.rateLimit);
    this.#tuning = {
      ...tuning,
      bucketRateLimits: { [SEARCH_BUCKET]: { requests: settings.searchRequestsPerSecond, intervalMs: 1000 } },
      dailyLimit: settings.dailyLimit,
    };
    this.#api = new HubSpotApi(settings);
    this.#inbox = settings.inbox.enabled ? new HubSpotInbox(this.#api, settings.inbox, { ...settings, mediaDir }) : undefined;
    this.#setup = new HubSpotSetup(this.#api, settings, this.#inbox);
    this.#finder = new HubSpotFinder(this.#api, settings);
    this.#writer = new HubSpotWriter(this.#api, settings, this.#setup, this.#finder);
    this.#operations = this.#declareOperations();
  }

  /** The dispatch tuning, with the day of the daily limit in the account's time zone once known. */
  get tuning() {
    return this.#setup.accountTimeZone ? { ...this.#tuning, dailyLimitTimeZone: this.#setup.accountTimeZone } : this.#tuning;
  }

  plan(change: ModelChange) {
    return [
      ...toOperationDrafts(change, { mediaUpload: this.#settings.mediaUpload, threadActivity: this.#settings.threadActivity !== 'none' }),
      ...consentDrafts(change),
      ...(this.#settings.windowOpenUntilProperty ? windowDrafts(change, this.#windowWriteSettleMs) : []),
      ...inboxDrafts(change, this.#settings.inbox),
    ];
  }

  /**
   * The operation kinds. Contacts, messages, statuses and thread notes or tasks go in batch calls
   * (at most 100 inputs each, see BATCH_SIZE): heads of several contacts in one call per kind, one
   * contact's run (its contact, messages, statuses, files in queue order) as consecutive same-kind
   * calls, stopping at the first that fails (core/outbox/runs.ts). Each batch kind names the
   * HubSpot record it writes (recordOf): HubSpot's batch endpoints refuse an input list that names
   * one record twice ("Duplicate IDs found in batch input"), so a call takes each record once (two
   * updates of one contact, a message's delivered and read statuses go in turn).
   *
   * Reconcile, before a retry of a write that may have reached HubSpot: contacts are upserted on
   * a unique property (running again is the reconciliation), and so are messages where setup
   * found the message-id property unique; statuses and attachments update records we already
   * hold a ref for (repeating is harmless). A message created without a unique key is looked up:
   * by its stored ref, then, when a create is in doubt, by its message id in search once it can
   * no longer land and HubSpot's index can show it (HubSpotFinder.findCreated). Every one of these writes, when
   * its answer is lost, holds back the record's next write until it can no longer land (an older
   * value landing over a newer one). Thread notes and tasks are upserted on the thread id;
   * HubSpot does not document unique values on notes and tasks, and we do not ask it here (see
   * the README). Media notes are looked up by HubSpotWriter.attachMedia itself, on every attempt: it needs the
   * file id first.
   */
  #declareOperations(): OperationTable {
    const payloads = <P>(operations: readonly DeclaredOperation<P>[]): P[] => operations.map((op) => op.payload);
    return new OperationTable(
      [
        declareKind({
          kind: KIND.contact,
          payload: contactPayload,
          batchSize: BATCH_SIZE[KIND.contact],
          recordOf: (p) => p.contactId,
          handleBatch: (operations, context) => this.#writer.upsertContacts(payloads(operations), context),
        }),
        declareKind({
          kind: KIND.message,
          payload: messagePayload,
          batchSize: BATCH_SIZE[KIND.message],
          recordOf: (p) => p.messageId,
          handleBatch: (operations, context) => this.#writer.logMessages(payloads(operations), context),
          reconcile: async (op, context) => (this.#setup.messageWrites === 'create' ? this.#writer.findLoggedMessage(op.payload, context) : undefined),
        }),
        declareKind({
          kind: KIND.status,
          payload: messagePayload,
          batchSize: BATCH_SIZE[KIND.status],
          recordOf: (p) => p.messageId,
          handleBatch: (operations, context) => this.#writer.updateStatuses(payloads(operations), context),
        }),
        declareKind({
          kind: KIND.thread,
          payload: threadPayload,
          batchSize: BATCH_SIZE[KIND.thread],
          recordOf: (p) => p.threadId,
          handleBatch: (operations, context) => this.#writer.threadActivities(payloads(operations), context),
        }),
        // One upload and attachment each; a claim takes up to ten, different contacts' side by side.
        declareKind({ kind: KIND.media, payload: mediaPayload, batchSize: BATCH_SIZE[KIND.media], recordOf: (p) => p.messageId, handle: (op, context) => this.#writer.attachMedia(op.payload, context) }),
        declareKind({ kind: CONSENT_KIND, payload: consentPayloadSchema, handle: (op, context) => writeHubSpotConsent(this.#api, this.#settings, op.payload, op.idempotencyKey, context) }),
        declareKind({
          kind: WINDOW_KIND,
          payload: windowPayloadSchema,
          handle: (op, context) => {
            const property = this.#settings.windowOpenUntilProperty;
            if (!property) throw new SyncError('hubspot: a customer service window write is queued but connectors.hubspot.windowOpenUntilProperty is null; set it again or discard the operation');
            return writeHubSpotWindow(this.#api, property, op.payload, context);
          },
        }),
        ...inboxOperationKinds(this.#inbox),
      ],
      { segmented: { parallelCalls: this.#tuning.concurrency } },
    );
  }

  execute(operations: readonly OutboxOperation[], context: ExecutionContext): Promise<OperationOutcome[]> {
    return this.#operations.execute(operations, context);
  }

  reconcile(operation: OutboxOperation, context: ExecutionContext): Promise<OperationOutcome | undefined> {
    return this.#operations.reconcile(operation, context);
  }

  async grantedScopes(context: ExecutionContext): Promise<GrantedScopes> {
    return this.#api.tokenScopes(context);
  }

  /**
   * Reads the account's time zone (the daily limit's day), then, with autoSetup, creates the
   * properties and chooses how messages are keyed and where media go (see HubSpotSetup).
   */
  setup(context: ExecutionContext): Promise<string[]> {
    return this.#setup.run(context);
  }

  /**
   * Contacts open on their record page, `https://{uiDomain}/contacts/{portalId}/record/0-1/{id}`
   * (0-1: the contacts object), with the account's id and domain from its details:
   * https://developers.hubspot.com/docs/api-reference/latest/account/account-information/get-account-details
   * Communications and notes have no page of their own: they show on the contact's timeline.
   */
  describeRecord(kind: string, externalId: string): VendorRecordLink | undefined {
    const portal = this.#setup.portal;
    if (kind === REF.contact) return { label: `contact ${externalId}`, ...(portal ? { url: `https://${portal.uiDomain}/contacts/${portal.id}/record/0-1/${encodeURIComponent(externalId)}` } : {}) };
    if (kind === REF.communication) return { label: `communication ${externalId}` };
    if (kind === REF.mediaNote) return { label: `note ${externalId}` };
    return undefined;
  }

}
