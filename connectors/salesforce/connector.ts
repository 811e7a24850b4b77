// Salesforce: each WhatsApp customer as a Lead or Contact (the admin's choice), matched to the
// record the org already has, and each conversation thread as one Task kept up to date by
// upsert on an external id. A burst costs few calls: records go in sObject Collections of 200,
// and a thread's Task is rewritten once for all messages that arrived before it was written.
import type { Connector, ConnectorMetadata, ExecutionContext, GrantedScopes, OperationOutcome, VendorRecordLink } from '../../core/connector.js';
import { resolveTuning } from '../../core/connector.js';
import { lateArrivals } from '../../core/model/late.js';
import { SyncError, VendorError, asSyncError } from '../../core/errors.js';
import { contactPayloadSchema, maskIdentifier } from '../../core/model/identity.js';
import { declareKind, MissingPrerequisiteError, OperationTable, requirePrerequisite, type OperationDone } from '../../core/operations.js';
import type { ModelChange } from '../../core/model/types.js';
import type { OutboxOperation } from '../../core/outbox/queries.js';
import { SalesforceApi } from './client.js';
import { contentVersionIds, describeResult, orgLimits, personRecords, recordResult, recordResults, type DescribeResult, type RecordResult } from './responses.js';
import {
  BATCH_SIZE,
  KIND,
  MAX_INLINE_FILE_BYTES,
  activityPayload,
  failedSendPayload,
  mediaFilePayload,
  existingPersonUpdate,
  fileNameOnClient,
  fileTitle,
  soqlString,
  mappedFields,
  newPersonRecord,
  personFields,
  personQueries,
  pickPerson,
  taskRecord,
  toOperationDrafts,
  writtenFields,
  failedSendTask,
  type ActivityPayload,
  type FailedSendPayload,
  type MediaFilePayload,
  type PersonPayload,
  type PersonRecord,
} from './mappers.js';
import type { SalesforceSettings } from './settings.js';
import { CONSENT_KIND, consentDrafts, consentPayloadSchema } from '../../core/consent/operation.js';
import { DEFAULT_WINDOW_WRITE_SETTLE_MS, WINDOW_KIND, windowDrafts, windowPayloadSchema } from '../../core/outbound/window.js';
import { consentFieldProblems, refused, writeSalesforceConsent } from './consent.js';
import { windowFieldProblems, writeSalesforceWindow } from './window.js';
import { readStoredMedia } from '../../core/media-store.js';
import { sendNoted, waitOutLateLanding, type LateLandingWrite } from '../../core/lost-answer.js';

/**
 * `taskLate`: ids of the thread's messages that arrived after later ones were on its Task (JSON
 * list). `taskSent` and `fileSent`: when a Task rewrite (per thread) or a file upload (per message
 * and file) went out whose answer is not known yet (see core/lost-answer.ts).
 */
const REF = { person: 'person', personSent: 'person-sent', task: 'task', taskSyncedTo: 'task-synced-to', taskLate: 'task-late', taskSent: 'task-sent', fileSent: 'file-sent' } as const;
/** Error codes of an org's own rules: the record is refused until someone changes data or rules. */
const ORG_RULE_CODES = new Set(['DUPLICATES_DETECTED', 'FIELD_CUSTOM_VALIDATION_EXCEPTION', 'REQUIRED_FIELD_MISSING', 'INVALID_FIELD_FOR_INSERT_UPDATE', 'STRING_TOO_LONG', 'INVALID_EMAIL_ADDRESS']);

/** A duplicate rule's verdict on a DUPLICATES_DETECTED error (Salesforce's DuplicateResult). */
type DuplicateResult = NonNullable<NonNullable<RecordResult['errors']>[number]['duplicateResult']>;

/**
 * A record refused by a duplicate rule: names the rule and what to do. A rule that only alerts
 * (allowSave true) is saved over by connectors.salesforce.saveOverDuplicateAlerts; one that blocks
 * needs an admin. https://developer.salesforce.com/docs/platform/api/guide/sforce-api-objects-duplicateresult.html
 */
function duplicateFailure(duplicate: DuplicateResult | undefined, what: string, message: string): SyncError {
  const rule = duplicate?.duplicateRule ?? '(the rule was not named)';
  const fix =
    duplicate?.allowSave === true
      ? 'the rule only alerts: set connectors.salesforce.saveOverDuplicateAlerts to true, then replay'
      : `the rule blocks duplicates: in Setup > Duplicate Rules, change ${rule} to "Allow" with an alert (or exclude the integration user), then replay`;
  return new VendorError('salesforce', `${what} refused by the org's duplicate rule ${rule}: DUPLICATES_DETECTED: ${message}; ${fix}`, { code: 'DUPLICATES_DETECTED' });
}

function recordFailure(result: RecordResult | undefined, what: string): SyncError {
  const error = result?.errors?.[0];
  const code = error?.statusCode ?? error?.errorCode ?? 'NO_RESULT';
  if (code === 'DUPLICATES_DETECTED') return duplicateFailure(error?.duplicateResult, what, error?.message ?? 'duplicate detected');
  const fields = error?.fields?.length ? ` (fields: ${error.fields.join(', ')})` : '';
  const message = `${what} refused by the org: ${code}: ${error?.message ?? 'no result for it'}${fields}`;
  if (code === 'UNABLE_TO_LOCK_ROW') return new VendorError('salesforce', message, { code, retryable: true });
  return new VendorError('salesforce', ORG_RULE_CODES.has(code) ? `${message}; change the record or the org's rule, then replay` : message, { code });
}

export class SalesforceConnector implements Connector {
  readonly features = ['records', 'activity'];
  readonly tuning;
  readonly #api: SalesforceApi;
  readonly #settings: SalesforceSettings;
  readonly #windowWriteSettleMs: number;
  readonly #operations: OperationTable;

  constructor(
    readonly metadata: ConnectorMetadata,
    settings: SalesforceSettings,
    windowWriteSettleMs = DEFAULT_WINDOW_WRITE_SETTLE_MS,
  ) {
    this.#settings = settings;
    this.#windowWriteSettleMs = windowWriteSettleMs;
    this.tuning = resolveTuning(metadata.defaultTuning, settings.rateLimit);
    this.#api = new SalesforceApi(settings);
    this.#operations = this.#declareOperations();
  }

  /**
   * The operation kinds. People and Tasks go in sObject Collections calls of up to 200 records,
   * which name each record once (a person's two updates go in turn), files a few uploads at a
   * time, consent, window and failed-send writes one at a time:
   * https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_sobjects_collections_upsert.htm
   */
  #declareOperations(): OperationTable {
    const settings = this.#settings;
    return new OperationTable(
      [
        declareKind({
          kind: KIND.person,
          payload: contactPayloadSchema,
          batchSize: BATCH_SIZE[KIND.person],
          recordOf: (payload) => payload.contactId,
          handleBatch: (operations, context) => this.#upsertPeople(operations.map((op) => op.payload), context),
        }),
        declareKind({ kind: KIND.activity, payload: activityPayload, batchSize: BATCH_SIZE[KIND.activity], handleBatch: (operations, context) => this.#logActivity(operations.map((op) => op.payload), context) }),
        declareKind({ kind: KIND.media, payload: mediaFilePayload, batchSize: BATCH_SIZE[KIND.media], handle: (op, context) => this.#attachFile(op.payload, context) }),
        declareKind({ kind: CONSENT_KIND, payload: consentPayloadSchema, handle: (op, context) => writeSalesforceConsent(this.#api, settings, op.payload, op.idempotencyKey, context) }),
        declareKind({ kind: KIND.failedSend, payload: failedSendPayload, handle: (op, context) => this.#noteFailedSend(op.payload, context) }),
        declareKind({
          kind: WINDOW_KIND,
          payload: windowPayloadSchema,
          handle: (op, context) => {
            const field = settings.windowOpenUntilField;
            if (!field) throw new SyncError('salesforce: a customer service window write is queued but connectors.salesforce.windowOpenUntilField is null; set it again or discard the operation');
            return writeSalesforceWindow(this.#api, settings, field, op.payload, context);
          },
        }),
      ],
      { segmented: { parallelCalls: this.tuning.concurrency } },
    );
  }

  /**
   * Records open on their Lightning record page, `/lightning/r/{objectApiName}/{recordId}/view`
   * (the standard__recordPage URL format):
   * https://developer.salesforce.com/docs/atlas.en-us.220.0.lightning.meta/lightning/components_navigation_page_definitions.htm
   */
  describeRecord(kind: string, externalId: string): VendorRecordLink | undefined {
    const object = kind === REF.person ? this.#settings.target : kind === REF.task ? 'Task' : undefined;
    if (!object || !this.#settings.instanceUrl) return object ? { label: `${object} ${externalId}` } : undefined;
    return { label: `${object} ${externalId}`, url: `${this.#settings.instanceUrl.replace(/\/$/, '')}/lightning/r/${object}/${encodeURIComponent(externalId)}/view` };
  }

  plan(change: ModelChange) {
    return [
      ...toOperationDrafts(change, { mediaFiles: this.#settings.mediaFiles }),
      ...consentDrafts(change),
      ...(this.#settings.windowOpenUntilField ? windowDrafts(change, this.#windowWriteSettleMs) : []),
    ];
  }

  /**
   * Heads of several customers in one collections call per kind; one customer's run (their
   * record, messages, files in queue order) as consecutive same-kind calls, stopping at the first
   * that fails: a run of messages of one thread is one Task upsert.
   */
  execute(operations: readonly OutboxOperation[], context: ExecutionContext): Promise<OperationOutcome[]> {
    return this.#operations.execute(operations, context);
  }

  /**
   * Before a write that may have reached Salesforce runs again. Leads, Contacts and Tasks are
   * upserts on External ID + Unique fields (setup refuses keys without `unique`), so the upsert
   * itself looks the record up by its external key and updates it rather than creating another:
   * https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/dome_upsert.htm
   * Files (ContentVersion) carry no external id: each attempt queries by Title and the Task they
   * are published to before creating (see #attachFile), once an upload whose answer was lost can
   * no longer land. Nothing is left to ask here: no kind declares a lookup.
   */
  reconcile(operation: OutboxOperation, context: ExecutionContext): Promise<OperationOutcome | undefined> {
    return this.#operations.reconcile(operation, context);
  }

  /** Object and field permissions this configuration needs, as `Object.create`, `Object.Field.update`... */
  requiredScopes(): string[] {
    const scopes: string[] = [];
    for (const [object, fields] of Object.entries(writtenFields(this.#settings))) {
      scopes.push(`${object}.create`, `${object}.update`);
      for (const field of fields) scopes.push(`${object}.${field}.create`, `${object}.${field}.update`);
    }
    return scopes;
  }

  /** The running user's object and field permissions, from describe (which reflects field-level security). */
  async grantedScopes(context: ExecutionContext): Promise<GrantedScopes> {
    const granted: string[] = [];
    for (const object of Object.keys(writtenFields(this.#settings))) {
      const describe = await this.#describe(context, object);
      if (describe.createable) granted.push(`${object}.create`);
      if (describe.updateable) granted.push(`${object}.update`);
      for (const field of describe.fields) {
        if (field.createable) granted.push(`${object}.${field.name}.create`);
        if (field.updateable) granted.push(`${object}.${field.name}.update`);
      }
    }
    const limits = await this.#api.call(context, 'reading the org limits', orgLimits, (c) => c.limits());
    const daily = limits.DailyApiRequests;
    if (daily) context.reportQuota(daily.Remaining, daily.Max);
    // Only what we need is worth listing: every other field would read as over-privilege.
    const wanted = new Set(this.requiredScopes());
    return granted.filter((s) => wanted.has(s));
  }

  /**
   * Checks that both external-id fields exist as external ids and that every field the org
   * requires on create gets a value; says exactly what to create or configure when not.
   */
  async setup(context: ExecutionContext): Promise<string[]> {
    const problems: string[] = [];
    const target = this.#settings.target;
    const described = new Map<string, DescribeResult>();
    const describeOnce = async (object: string) => described.get(object) ?? described.set(object, await this.#describe(context, object)).get(object)!;
    // The identifiers people read and search by: plain text fields (a BSUID and a username change, so no external id).
    for (const [field, label, setting] of [
      [this.#settings.bsuidField, 'WhatsApp BSUID', 'bsuidField'],
      [this.#settings.usernameField, 'WhatsApp Username', 'usernameField'],
    ] as const) {
      const describe = await describeOnce(target);
      if (!describe.fields.some((f) => f.name === field)) {
        problems.push(
          `${target}.${field} does not exist: in Setup > Object Manager > ${target} > Fields & Relationships > New, create a Text(255) field labelled "${label}" with API name ${field.replace(/__c$/, '')} (or set connectors.salesforce.${setting} to a field you have)`,
        );
      }
    }
    for (const [object, field, label] of [
      [target, this.#settings.externalIdField, 'WhatsApp Id'],
      ['Task', this.#settings.taskExternalIdField, 'WhatsApp Thread Id'],
    ] as const) {
      const describe = await describeOnce(object);
      const found = describe.fields.find((f) => f.name === field);
      if (!found) {
        problems.push(
          `${object}.${field} does not exist: in Setup > Object Manager > ${object === 'Task' ? 'Activity' : object} > Fields & Relationships > New, create a Text(255) field labelled "${label}" with API name ${field.replace(/__c$/, '')}, ticking "External ID" and "Unique"`,
        );
      } else if (!found.externalId) {
        problems.push(`${object}.${field} exists but is not an External ID: edit the field and tick "External ID" (and "Unique")`);
      } else if (!found.unique) {
        // Without "Unique", an upsert can match several records (HTTP 300) and, for users without
        // View All Data, miss records they cannot see and create a second one: no exactly-once.
        // Salesforce does not document whether an Activity field can be both External ID and
        // Unique, so we check describe's `unique` rather than assume, and refuse to run without it
        // (a query-then-write path would race the same way). Describe's fields:
        // https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_calls_describesobjects_describesobjectresult.htm
        problems.push(
          `${object}.${field} is an External ID but not Unique, so writes keyed on it are not exactly once: edit the field and tick "Unique" (if Salesforce does not offer it on this object, create the field again with both ticked)`,
        );
      }
      if (object === target) {
        const covered = new Set([...mappedFields(this.#settings), ...Object.keys(this.#settings.defaults)]);
        const required = describe.fields.filter((f) => f.createable && !f.nillable && !f.defaultedOnCreate && f.type !== 'boolean' && !covered.has(f.name));
        for (const f of required) {
          problems.push(`${object}.${f.name} is required by the org on create: set connectors.salesforce.defaults.${f.name} to the value new records should get`);
        }
      }
    }
    problems.push(...consentFieldProblems((await describeOnce(target)).fields, this.#settings));
    if (this.#settings.windowOpenUntilField) problems.push(...windowFieldProblems((await describeOnce(target)).fields, target, this.#settings.windowOpenUntilField));
    if (problems.length > 0) throw new VendorError('salesforce', problems.join('; '));
    return [];
  }

  async #describe(context: ExecutionContext, object: string): Promise<DescribeResult> {
    return this.#api.call(context, `describing ${object}`, describeResult, (c) => c.describe(object));
  }

  /**
   * A failed send explained on the person: a completed Task upserted on the Task external-id
   * field (https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/dome_upsert.htm).
   */
  async #noteFailedSend(payload: FailedSendPayload, context: ExecutionContext): Promise<OperationDone> {
    const whoId = requirePrerequisite(await context.getRef(REF.person, payload.contactId), "the person's Salesforce record");
    const [task] = await this.#api.call(context, 'noting the failed send on the activity timeline', recordResults, (c) =>
      c.sobject('Task').upsert([failedSendTask(payload, whoId, this.#settings)] as never[], this.#settings.taskExternalIdField, { allOrNone: false }),
    );
    if (!task?.success || !task.id) throw refused(task, 'the failed-send Task');
    return { result: { salesforceId: whoId, salesforceTaskId: task.id } };
  }

  // ---- people (Lead or Contact) ----

  /**
   * Duplicate Rule header (REST API v52+): with allowSave=true a rule whose action is "Allow" with
   * an alert lets the record be saved; a rule set to "Block" refuses it all the same.
   * https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/headers_duplicaterules.htm
   */
  get #duplicateRuleHeader(): Record<string, string> {
    return this.#settings.saveOverDuplicateAlerts ? { 'Sforce-Duplicate-Rule-Header': 'allowSave=true' } : {};
  }

  /**
   * A person's write (an upsert or an update): one whose answer was lost may land after a newer
   * one and put older identifiers back (a number, BSUID or username), so the person's next write
   * waits until it can no longer land, then reads the record and writes what differs.
   */
  #personWrite(contactId: string): LateLandingWrite {
    return this.#lateLanding(REF.personSent, contactId, `${this.#settings.target} write`);
  }

  async #upsertPeople(payloads: readonly PersonPayload[], context: ExecutionContext): Promise<OperationOutcome[]> {
    const waiting = new Map<string, OperationOutcome>();
    for (const p of payloads) {
      try {
        await waitOutLateLanding(context, this.#personWrite(p.contactId));
      } catch (error) {
        waiting.set(p.contactId, { ok: false, error: asSyncError(error) });
      }
    }
    const ready = payloads.filter((p) => !waiting.has(p.contactId));
    const written = ready.length > 0 ? await this.#writePeople(ready, context) : [];
    return payloads.map((p) => waiting.get(p.contactId) ?? written[ready.indexOf(p)]!);
  }

  async #writePeople(payloads: readonly PersonPayload[], context: ExecutionContext): Promise<OperationOutcome[]> {
    const { target, externalIdField } = this.#settings;
    const ids = new Map<string, string>();
    const found = new Map<string, PersonRecord>();
    const unlinked: PersonPayload[] = [];
    for (const p of payloads) {
      const known = await context.getRef(REF.person, p.contactId);
      if (known) ids.set(p.contactId, known);
      else unlinked.push(p);
    }

    // People linked earlier: read them, so a new number, BSUID or username reaches the record.
    const linked = payloads.filter((p) => ids.has(p.contactId));
    if (linked.length > 0) {
      const soql = `SELECT ${personFields(this.#settings)} FROM ${target} WHERE Id IN (${[...new Set(linked.map((p) => ids.get(p.contactId)!))].map(soqlString).join(', ')})`;
      const { records } = await this.#api.call(context, `reading ${target} records`, personRecords, async (c) => c.query(soql).execute({ autoFetch: true, maxFetch: 2000 }));
      for (const p of linked) {
        const record = records.find((r) => r.Id === ids.get(p.contactId));
        if (record) found.set(p.contactId, record);
      }
    }

    // Find records already holding our key, or with the same number however it was typed.
    for (const query of personQueries(unlinked.map((p) => ({ crmKey: p.crmKey, phone: p.phone })), target, this.#settings)) {
      const { records } = await this.#api.call(context, `looking up ${target} records`, personRecords, async (c) => c.query(query.soql).execute({ autoFetch: true, maxFetch: 2000 }));
      for (const payload of unlinked.filter((p) => query.keys.includes(p.crmKey))) {
        const match = pickPerson(records, { crmKey: payload.crmKey, phone: payload.phone }, externalIdField);
        if (!match) continue;
        if (match.by === 'convertedLead') {
          // The customer's Lead was converted: their activity goes on the Contact it became.
          ids.set(payload.contactId, match.convertedContactId);
          context.log.info({ salesforceLeadId: match.leadId, salesforceContactId: match.convertedContactId }, 'the matching Lead was converted; following it to its Contact');
          continue;
        }
        ids.set(payload.contactId, match.record.Id);
        found.set(payload.contactId, match.record);
        if (match.by === 'phone') context.log.info({ salesforceId: match.record.Id, phone: payload.phone }, `adopted an existing ${target} with the same phone number`);
      }
    }

    const outcomes = new Map<string, OperationOutcome>();
    const updates = payloads.flatMap((p) => {
      const record = found.get(p.contactId);
      const update = record ? existingPersonUpdate(record, p, this.#settings) : undefined;
      return update ? [{ payload: p, update }] : [];
    });
    if (updates.length > 0) {
      const results = await sendNoted(
        context,
        updates.map((u) => this.#personWrite(u.payload.contactId)),
        () => this.#api.call(context, `updating ${target} records`, recordResults, (c) => c.sobject(target).update(updates.map((u) => u.update) as never[], { allOrNone: false, headers: this.#duplicateRuleHeader })),
      );
      updates.forEach((u, i) => {
        if (!results[i]?.success) outcomes.set(u.payload.contactId, { ok: false, error: recordFailure(results[i], `${target} ${u.update['Id']}`) });
      });
    }

    const creates = payloads.filter((p) => !ids.has(p.contactId));
    if (creates.length > 0) {
      // Upsert on the external id: a repeat after a lost answer finds the record it made.
      const results = await sendNoted(
        context,
        creates.map((p) => this.#personWrite(p.contactId)),
        () =>
          this.#api.call(context, `creating ${target} records`, recordResults, (c) =>
            c.sobject(target).upsert(creates.map((p) => newPersonRecord(p, this.#settings)) as never[], externalIdField, { allOrNone: false, headers: this.#duplicateRuleHeader }),
          ),
      );
      creates.forEach((p, i) => {
        const result = results[i];
        if (result?.success && result.id) ids.set(p.contactId, result.id);
        else outcomes.set(p.contactId, { ok: false, error: recordFailure(result, `${target} for ${maskIdentifier(p.crmKey)}`) });
      });
    }

    const results: OperationOutcome[] = [];
    for (const p of payloads) {
      const failed = outcomes.get(p.contactId);
      if (failed) {
        results.push(failed);
        continue;
      }
      const id = ids.get(p.contactId)!;
      await context.setRef(REF.person, p.contactId, id);
      results.push({ ok: true, result: { salesforceId: id } });
    }
    return results;
  }

  // ---- media files on the Task ----

  /** A write Salesforce may still carry out after its answer was lost (see lostAnswerWaitSeconds). */
  #lateLanding(ref: string, localId: string, what: string): LateLandingWrite {
    return { ref, localId, windowMs: this.#settings.lostAnswerWaitSeconds * 1000, what };
  }

  /**
   * Uploads the file to the thread's Task unless the same bytes are already there. The lookup by
   * Title only sees an upload that has landed: after a lost answer it waits until the earlier
   * upload can no longer land, or it would find nothing and upload a second copy.
   */
  async #attachFile(payload: MediaFilePayload, context: ExecutionContext): Promise<OperationDone> {
    const taskId = requirePrerequisite(await context.getRef(REF.task, payload.threadId), "the thread's Salesforce Task");
    if (payload.size > MAX_INLINE_FILE_BYTES) throw new VendorError('salesforce', `media file of ${payload.size} bytes is over the ${MAX_INLINE_FILE_BYTES}-byte limit for attaching through the REST API`);
    const upload = this.#lateLanding(REF.fileSent, `${payload.messageId}:${payload.sha256}`, 'file upload');
    await waitOutLateLanding(context, upload);
    const title = fileTitle(payload);
    const { records: existing } = await this.#api.call(context, 'looking for an attached file', contentVersionIds, async (c) =>
      c.query(`SELECT Id FROM ContentVersion WHERE Title = ${soqlString(title)} AND FirstPublishLocationId = ${soqlString(taskId)}`).execute(),
    );
    if (existing[0]) return { result: { salesforceContentVersionId: existing[0].Id } };
    const data = await readStoredMedia(payload.path);
    const created = await sendNoted(context, [upload], () =>
      this.#api.call(context, 'attaching a media file', recordResult, (c) =>
        c.sobject('ContentVersion').create({ Title: title, PathOnClient: fileNameOnClient(payload), VersionData: data.toString('base64'), FirstPublishLocationId: taskId } as never),
      ),
    );
    if (!created.success || !created.id) throw recordFailure(created, 'ContentVersion');
    return { result: { salesforceContentVersionId: created.id } };
  }

  // ---- activity (one Task per thread) ----

  /** A thread's Task rewrite: upserted on the thread id, so a late landing doubles nothing, but it carries a whole transcript. */
  #taskRewrite(threadId: string): LateLandingWrite {
    return this.#lateLanding(REF.taskSent, threadId, 'Task rewrite');
  }

  async #logActivity(payloads: readonly ActivityPayload[], context: ExecutionContext): Promise<OperationOutcome[]> {
    const outcomes: OperationOutcome[] = payloads.map(() => ({ ok: true }));
    const pending = new Map<string, { payload: ActivityPayload; whoId: string; indexes: number[]; syncedTo: number }>();
    for (const [index, payload] of payloads.entries()) {
      // An earlier write of this thread's Task already carried this message: nothing to do.
      const syncedTo = Number((await context.getRef(REF.taskSyncedTo, payload.threadId)) ?? -1);
      if (syncedTo >= payload.arrivalSeq) continue;
      // An earlier rewrite in doubt could land after this one and put an older transcript back.
      try {
        await waitOutLateLanding(context, this.#taskRewrite(payload.threadId));
      } catch (error) {
        outcomes[index] = { ok: false, error: asSyncError(error) };
        continue;
      }
      const whoId = await context.getRef(REF.person, payload.contactId);
      if (!whoId) {
        outcomes[index] = { ok: false, error: new MissingPrerequisiteError("the person's Salesforce record") };
        continue;
      }
      const entry = pending.get(payload.threadId) ?? { payload, whoId, indexes: [], syncedTo };
      entry.indexes.push(index);
      pending.set(payload.threadId, entry);
    }
    if (pending.size === 0) return outcomes;

    const threads = [...pending.values()];
    const transcripts = await Promise.all(threads.map((t) => context.threadMessages(t.payload.threadId)));
    // Late once, late for good: the mark stays on every later rewrite of the Task.
    const late = await Promise.all(
      threads.map(async (t, i) => {
        const earlier = JSON.parse((await context.getRef(REF.taskLate, t.payload.threadId)) ?? '[]') as string[];
        return new Set([...earlier, ...lateArrivals(transcripts[i]!, t.syncedTo)]);
      }),
    );
    const results = await sendNoted(
      context,
      threads.map((t) => this.#taskRewrite(t.payload.threadId)),
      () =>
        this.#api.call(context, 'writing conversation Tasks', recordResults, (c) =>
          c.sobject('Task').upsert(
            threads.map((t, i) => taskRecord(t.payload, transcripts[i]!, t.whoId, this.#settings, late[i])) as never[],
            this.#settings.taskExternalIdField,
            { allOrNone: false },
          ),
        ),
    );
    for (const [i, thread] of threads.entries()) {
      const result = results[i];
      if (result?.success && result.id) {
        const syncedTo = Math.max(...transcripts[i]!.map((m) => m.arrivalSeq), thread.payload.arrivalSeq);
        await context.setRef(REF.task, thread.payload.threadId, result.id);
        await context.setRef(REF.taskSyncedTo, thread.payload.threadId, String(syncedTo));
        if (late[i]!.size > 0) await context.setRef(REF.taskLate, thread.payload.threadId, JSON.stringify([...late[i]!]));
        for (const index of thread.indexes) outcomes[index] = { ok: true, result: { salesforceTaskId: result.id } };
      } else {
        const error = recordFailure(result, `Task for thread ${thread.payload.threadId}`);
        for (const index of thread.indexes) outcomes[index] = { ok: false, error };
      }
    }
    return outcomes;
  }
}
