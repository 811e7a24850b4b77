// The customer service window in HubSpot: a contact property (date and time,
// `whatsapp_window_open_until`, created by setup with the consent properties) that list filters
// and workflow branches compare with now: in the past, the window is closed and only a template goes.
import type { ExecutionContext } from '../../core/connector.js';
import type { OperationDone } from '../../core/operations.js';
import { SyncError, VendorError } from '../../core/errors.js';
import { writeWindowOnce, type WindowPayload } from '../../core/outbound/window.js';
import type { HubSpotApi } from './client.js';
import { batchAnswer } from './responses.js';

export const WINDOW_PROPERTY_DESCRIPTION = 'Written by wa-crm-sync: until when WhatsApp free text may be sent (24 hours after the customer last wrote); after it, send a template';

const REF = { contact: 'contact' } as const;

/**
 * Writes the window's end on the contact (batch update; a datetime property takes ISO 8601:
 * https://developers.hubspot.com/docs/api-reference/latest/crm/objects/contacts/batch/update-contacts).
 * Repeating it writes the same time, so a retry simply runs again.
 */
export async function writeHubSpotWindow(api: HubSpotApi, property: string, payload: WindowPayload, context: ExecutionContext): Promise<OperationDone> {
  const contactId = await context.getRef(REF.contact, payload.contactId);
  if (!contactId) throw new SyncError('hubspot: the contact is not in HubSpot yet (its contact operation failed or is dead: replay it)', { retryable: true });
  const outcome = await writeWindowOnce(payload, context, async (openUntil) => {
    const updated = await api.read(context, 'writing the customer service window on the contact', batchAnswer, (c) => c.crm.contacts.batchApi.update({ inputs: [{ id: contactId, properties: { [property]: openUntil } }] }));
    const failure = updated.errors?.[0];
    if (failure || !updated.results.some((r) => r.id === contactId)) {
      return { ok: false, error: new VendorError('hubspot', `customer service window not written on contact ${contactId}: ${failure?.message ?? 'no result'}`, { retryable: true }) };
    }
    return { ok: true, result: { hubspotContactId: contactId, openUntil } };
  });
  if (!outcome.ok) throw outcome.error;
  return outcome;
}
