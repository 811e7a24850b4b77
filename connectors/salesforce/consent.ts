// Consent in Salesforce: a picklist on the Lead or Contact (`WhatsApp_Marketing_Consent__c`,
// values opted_in and opted_out) and a date/time of the change, both checked by setup like the
// identity fields, and for each opt-out a completed Task on the person's activity timeline,
// keyed on the Task external-id field so a retry never writes it twice.
// The standard consent objects (ContactPointTypeConsent, ContactPointConsent, DataUsePurpose),
// https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_contactpointtypeconsent.htm,
// are not written yet: they need Individual records and a data-use purpose set up per org.
import type { ExecutionContext } from '../../core/connector.js';
import { optOutNote, type ConsentPayload } from '../../core/consent/operation.js';
import { CONSENT_STATUSES } from '../../core/consent/store.js';
import { VendorError, type SyncError } from '../../core/errors.js';
import { requirePrerequisite, type OperationDone } from '../../core/operations.js';
import type { SalesforceApi } from './client.js';
import { REF } from './mappers.js';
import { recordResults, type RecordResult } from './responses.js';
import type { SalesforceSettings } from './settings.js';

/** The person's fields of a consent change (a DateTime field takes ISO 8601). */
export function consentFields(payload: ConsentPayload, settings: Pick<SalesforceSettings, 'consentField' | 'consentChangedAtField'>): Record<string, string> {
  return { [settings.consentField]: payload.status, [settings.consentChangedAtField]: new Date(payload.changedAt).toISOString() };
}

/** The Task noting an opt-out; its external id is the operation's key (never a thread id: those are UUIDs). */
export function optOutTask(payload: ConsentPayload, key: string, whoId: string, settings: Pick<SalesforceSettings, 'taskExternalIdField' | 'taskStatus' | 'taskPriority'>): Record<string, string> {
  return {
    [settings.taskExternalIdField]: `consent:${key}`.slice(0, 255),
    WhoId: whoId,
    Subject: 'WhatsApp: opted out of marketing messages',
    Description: optOutNote(payload),
    ActivityDate: new Date(payload.changedAt).toISOString().slice(0, 10),
    Status: settings.taskStatus,
    Priority: settings.taskPriority,
  };
}

/** A record write the org refused, as a typed error naming the record and Salesforce's code. */
export function refused(result: RecordResult | undefined, what: string): SyncError {
  const error = result?.errors?.[0];
  const code = error?.statusCode ?? error?.errorCode ?? 'NO_RESULT';
  // A lock held by another write clears by itself; the rest needs the org changed, then a replay.
  return new VendorError('salesforce', `${what} refused by the org: ${code}: ${error?.message ?? 'no result for it'}`, { code, retryable: code === 'UNABLE_TO_LOCK_ROW' });
}

/**
 * Writes one consent change: the fields on the person (sObject Collections update,
 * https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_sobjects_collections_update.htm),
 * then for an opt-out the Task, upserted on the Task external-id field
 * (https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/dome_upsert.htm).
 */
export async function writeSalesforceConsent(api: SalesforceApi, settings: SalesforceSettings, payload: ConsentPayload, key: string, context: ExecutionContext): Promise<OperationDone> {
  const whoId = requirePrerequisite(await context.getRef(REF.person, payload.contactId), "the person's Salesforce record");
  const [updated] = await api.call(context, 'writing marketing consent on the person', recordResults, (c) =>
    c.sobject(settings.target).update([{ Id: whoId, ...consentFields(payload, settings) }] as never[], { allOrNone: false }),
  );
  if (!updated?.success) throw refused(updated, `marketing consent on ${settings.target} ${whoId}`);
  if (payload.status !== 'opted_out') return { result: { salesforceId: whoId } };
  const [task] = await api.call(context, 'noting the opt-out on the activity timeline', recordResults, (c) =>
    c.sobject('Task').upsert([optOutTask(payload, key, whoId, settings)] as never[], settings.taskExternalIdField, { allOrNone: false }),
  );
  if (!task?.success || !task.id) throw refused(task, 'the opt-out Task');
  return { result: { salesforceId: whoId, salesforceTaskId: task.id } };
}

/** Describe's view of a field, as far as setup reads it. */
interface DescribedField {
  name: string;
  type: string;
  picklistValues?: Array<{ value: string; active?: boolean }> | null;
}

/**
 * Setup's check of the consent fields on the person object, each problem with what to create
 * (describe: https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_calls_describesobjects_describesobjectresult.htm).
 */
export function consentFieldProblems(fields: readonly DescribedField[], settings: Pick<SalesforceSettings, 'target' | 'consentField' | 'consentChangedAtField'>): string[] {
  const problems: string[] = [];
  const where = `Setup > Object Manager > ${settings.target} > Fields & Relationships > New`;
  const consent = fields.find((f) => f.name === settings.consentField);
  if (!consent) {
    problems.push(`${settings.target}.${settings.consentField} does not exist: in ${where}, create a Picklist field labelled "WhatsApp Marketing Consent" with API name ${settings.consentField.replace(/__c$/, '')} and the values opted_in and opted_out (or set connectors.salesforce.consentField to a field you have)`);
  } else if (consent.type === 'picklist') {
    const values = new Set((consent.picklistValues ?? []).filter((v) => v.active !== false).map((v) => v.value));
    const missing = CONSENT_STATUSES.filter((v) => !values.has(v));
    if (missing.length > 0) problems.push(`${settings.target}.${settings.consentField} lacks the picklist values ${missing.join(', ')}: add them (API names exactly so)`);
  } else if (consent.type !== 'string') {
    problems.push(`${settings.target}.${settings.consentField} is a ${consent.type} field; it must be a Picklist (opted_in, opted_out) or Text`);
  }
  const changedAt = fields.find((f) => f.name === settings.consentChangedAtField);
  if (!changedAt) {
    problems.push(`${settings.target}.${settings.consentChangedAtField} does not exist: in ${where}, create a Date/Time field labelled "WhatsApp Consent Changed At" with API name ${settings.consentChangedAtField.replace(/__c$/, '')} (or set connectors.salesforce.consentChangedAtField)`);
  } else if (changedAt.type !== 'datetime') {
    problems.push(`${settings.target}.${settings.consentChangedAtField} is a ${changedAt.type} field; it must be Date/Time`);
  }
  return problems;
}
