// Writing to Salesforce: people (Lead or Contact) created or updated in sObject Collections calls,
// one Task per thread rewritten with its whole transcript, files attached to that Task, and a
// failed send noted as a Task. Writes whose answer was lost are waited out before the next
// (core/lost-answer.ts), since Salesforce may still carry them out.
import type { ExecutionContext, OperationOutcome } from '../../core/connector.js';
import { SyncError, VendorError, asSyncError } from '../../core/errors.js';
import { sendNoted, waitOutLateLanding, type LateLandingWrite } from '../../core/lost-answer.js';
import { readStoredMedia } from '../../core/media-store.js';
import { maskIdentifier } from '../../core/model/identity.js';
import { lateArrivals } from '../../core/model/late.js';
import { MissingPrerequisiteError, requirePrerequisite, type OperationDone } from '../../core/operations.js';
import type { SalesforceApi } from './client.js';
import { refused } from './consent.js';
import { findPeople } from './finder.js';
import {
  MAX_INLINE_FILE_BYTES,
  REF,
  existingPersonUpdate,
  failedSendTask,
  fileNameOnClient,
  fileTitle,
  newPersonRecord,
  soqlString,
  taskRecord,
  type ActivityPayload,
  type FailedSendPayload,
  type MediaFilePayload,
  type PersonPayload,
} from './mappers.js';
import { contentVersionIds, recordResult, recordResults, type RecordResult } from './responses.js';
import type { SalesforceSettings } from './settings.js';

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

export function recordFailure(result: RecordResult | undefined, what: string): SyncError {
  const error = result?.errors?.[0];
  const code = error?.statusCode ?? error?.errorCode ?? 'NO_RESULT';
  if (code === 'DUPLICATES_DETECTED') return duplicateFailure(error?.duplicateResult, what, error?.message ?? 'duplicate detected');
  const fields = error?.fields?.length ? ` (fields: ${error.fields.join(', ')})` : '';
  const message = `${what} refused by the org: ${code}: ${error?.message ?? 'no result for it'}${fields}`;
  if (code === 'UNABLE_TO_LOCK_ROW') return new VendorError('salesforce', message, { code, retryable: true });
  return new VendorError('salesforce', ORG_RULE_CODES.has(code) ? `${message}; change the record or the org's rule, then replay` : message, { code });
}

export class SalesforceWriter {
  readonly #api: SalesforceApi;
  readonly #settings: SalesforceSettings;

  constructor(api: SalesforceApi, settings: SalesforceSettings) {
    this.#api = api;
    this.#settings = settings;
  }

  /**
   * A failed send explained on the person: a completed Task upserted on the Task external-id
   * field (https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/dome_upsert.htm).
   */
  async noteFailedSend(payload: FailedSendPayload, context: ExecutionContext): Promise<OperationDone> {
    const whoId = requirePrerequisite(await context.getRef(REF.person, payload.contactId), "the person's Salesforce record");
    const [task] = await this.#api.call(context, 'noting the failed send on the activity timeline', recordResults, (c) =>
      c.sobject('Task').upsert([failedSendTask(payload, whoId, this.#settings)] as never[], this.#settings.taskExternalIdField, { allOrNone: false }),
    );
    if (!task?.success || !task.id) throw refused(task, 'the failed-send Task');
    return { result: { salesforceId: whoId, salesforceTaskId: task.id } };
  }
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

  async upsertPeople(payloads: readonly PersonPayload[], context: ExecutionContext): Promise<OperationOutcome[]> {
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
    const { ids, found } = await findPeople(this.#api, this.#settings, payloads, context);

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
  /** A write Salesforce may still carry out after its answer was lost (see lostAnswerWaitSeconds). */
  #lateLanding(ref: string, localId: string, what: string): LateLandingWrite {
    return { ref, localId, windowMs: this.#settings.lostAnswerWaitSeconds * 1000, what };
  }

  /**
   * Uploads the file to the thread's Task unless the same bytes are already there. The lookup by
   * Title only sees an upload that has landed: after a lost answer it waits until the earlier
   * upload can no longer land, or it would find nothing and upload a second copy.
   */
  async attachFile(payload: MediaFilePayload, context: ExecutionContext): Promise<OperationDone> {
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
  /** A thread's Task rewrite: upserted on the thread id, so a late landing doubles nothing, but it carries a whole transcript. */
  #taskRewrite(threadId: string): LateLandingWrite {
    return this.#lateLanding(REF.taskSent, threadId, 'Task rewrite');
  }

  async logActivity(payloads: readonly ActivityPayload[], context: ExecutionContext): Promise<OperationOutcome[]> {
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
