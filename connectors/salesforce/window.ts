// The customer service window in Salesforce: a Date/Time field on the Lead or Contact
// (`WhatsApp_Window_Open_Until__c`) that setup checks, as it checks the consent fields. A Flow or
// report compares it with NOW(): in the past, the window is closed and only a template goes.
import type { ExecutionContext } from '../../core/connector.js';
import { requirePrerequisite, type OperationDone } from '../../core/operations.js';
import { writeWindowOnce, type WindowPayload } from '../../core/outbound/window.js';
import type { SalesforceApi } from './client.js';
import { REF } from './mappers.js';
import { refused } from './consent.js';
import { recordResults } from './responses.js';
import type { SalesforceSettings } from './settings.js';

/**
 * Writes the window's end on the person (sObject Collections update; a DateTime field takes ISO 8601:
 * https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_sobjects_collections_update.htm).
 * Repeating it writes the same time, so a retry simply runs again.
 */
export async function writeSalesforceWindow(api: SalesforceApi, settings: Pick<SalesforceSettings, 'target'>, field: string, payload: WindowPayload, context: ExecutionContext): Promise<OperationDone> {
  const whoId = requirePrerequisite(await context.getRef(REF.person, payload.contactId), "the person's Salesforce record");
  const outcome = await writeWindowOnce(payload, context, async (openUntil) => {
    const [updated] = await api.call(context, 'writing the customer service window on the person', recordResults, (c) =>
      c.sobject(settings.target).update([{ Id: whoId, [field]: openUntil }] as never[], { allOrNone: false }),
    );
    if (!updated?.success) return { ok: false, error: refused(updated, `the customer service window on ${settings.target} ${whoId}`) };
    return { ok: true, result: { salesforceId: whoId, openUntil } };
  });
  if (!outcome.ok) throw outcome.error;
  return outcome.result === undefined ? {} : { result: outcome.result };
}

/** Setup's check of the window field (describe's `type`), with what to create when it is missing or wrong. */
export function windowFieldProblems(fields: ReadonlyArray<{ name: string; type: string }>, target: string, field: string): string[] {
  const found = fields.find((f) => f.name === field);
  if (!found) {
    return [
      `${target}.${field} does not exist: in Setup > Object Manager > ${target} > Fields & Relationships > New, create a Date/Time field labelled "WhatsApp Window Open Until" with API name ${field.replace(/__c$/, '')} (or set connectors.salesforce.windowOpenUntilField to a field you have, or to null to not write it)`,
    ];
  }
  if (found.type !== 'datetime') return [`${target}.${field} is a ${found.type} field; it must be Date/Time`];
  return [];
}
