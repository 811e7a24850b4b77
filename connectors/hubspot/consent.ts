// Consent in HubSpot: two contact properties a person can filter lists and workflows on
// (`whatsapp_marketing_consent`: opted_in / opted_out, and when it changed), created by setup,
// and a note on the contact's timeline for each opt-out.
//
// Why properties and not HubSpot's subscription status: the communication-preferences API does
// not read or set WhatsApp subscriptions ("The subscription preferences API does not currently
// support retrieving or updating WhatsApp subscription information for a contact",
// https://developers.hubspot.com/docs/api-reference/legacy/communication-preferences/v3/guide);
// the v4 status endpoints document the EMAIL channel only
// (https://developers.hubspot.com/docs/api-reference/latest/communication-preferences/status/update-subscription).
// WhatsApp subscription types belong to HubSpot's own WhatsApp channel, which this service is not.
import { AssociationSpecAssociationCategoryEnum } from '@hubspot/api-client/lib/codegen/crm/objects/notes/models/AssociationSpec.js';
import { PropertyCreateFieldTypeEnum, PropertyCreateTypeEnum } from '@hubspot/api-client/lib/codegen/crm/properties/models/PropertyCreate.js';
import type { ExecutionContext } from '../../core/connector.js';
import type { OperationDone } from '../../core/operations.js';
import { optOutNote, type ConsentPayload } from '../../core/consent/operation.js';
import { CONSENT_STATUSES } from '../../core/consent/store.js';
import { SyncError, VendorError } from '../../core/errors.js';
import type { HubSpotApi } from './client.js';
import { batchAnswer, propertyAnswer } from './responses.js';
import { WINDOW_PROPERTY_DESCRIPTION } from './window.js';
import type { HubSpotSettings } from './settings.js';

/** HubSpot-defined association type of a note to its contact (inline on create). */
const NOTE_TO_CONTACT = 202;
const PROPERTY_GROUP = 'whatsapp';
const REF = { contact: 'contact', consentNote: 'consent-note' } as const;

const CONSENT_LABELS: Record<(typeof CONSENT_STATUSES)[number], string> = { opted_in: 'Opted in', opted_out: 'Opted out' };

type Properties = Pick<HubSpotSettings, 'consentProperty' | 'consentChangedAtProperty'>;
type SetupProperties = Properties & Pick<HubSpotSettings, 'windowOpenUntilProperty'>;

/** The contact properties of a consent change (a datetime property takes ISO 8601: https://developers.hubspot.com/docs/api/crm/properties). */
export function consentProperties(payload: ConsentPayload, names: Properties): Record<string, string> {
  return { [names.consentProperty]: payload.status, [names.consentChangedAtProperty]: new Date(payload.changedAt).toISOString() };
}

/**
 * Writes one consent change: the properties on the contact (batch update,
 * https://developers.hubspot.com/docs/api-reference/latest/crm/objects/contacts/batch/update-contacts),
 * then for an opt-out a note associated with it (batch create with the association inline,
 * https://developers.hubspot.com/docs/api-reference/latest/crm/activities/notes/guide). The note's
 * id is kept, so a retry after the property write failed does not write it twice; a note whose
 * answer was lost may be (notes keep no unique key we could look up).
 */
export async function writeHubSpotConsent(api: HubSpotApi, settings: Properties, payload: ConsentPayload, key: string, context: ExecutionContext): Promise<OperationDone> {
  const contactId = await context.getRef(REF.contact, payload.contactId);
  if (!contactId) throw new SyncError('hubspot: the contact is not in HubSpot yet (its contact operation failed or is dead: replay it)', { retryable: true });
  const updated = await api.read(context, 'writing marketing consent on the contact', batchAnswer, (c) =>
    c.crm.contacts.batchApi.update({ inputs: [{ id: contactId, properties: consentProperties(payload, settings) }] }),
  );
  const failure = updated.errors?.[0];
  if (failure || !updated.results.some((r) => r.id === contactId)) {
    throw new VendorError('hubspot', `marketing consent not written on contact ${contactId}: ${failure?.message ?? 'no result'}`, { retryable: true });
  }
  if (payload.status !== 'opted_out') return { result: { hubspotContactId: contactId } };
  let noteId = await context.getRef(REF.consentNote, key);
  if (!noteId) {
    const created = await api.read(context, 'noting the opt-out on the timeline', batchAnswer, (c) =>
      c.crm.objects.notes.batchApi.create({
        inputs: [
          {
            properties: { hs_note_body: `<p>${optOutNote(payload)}</p>`, hs_timestamp: new Date(payload.changedAt).toISOString() },
            associations: [{ to: { id: contactId }, types: [{ associationCategory: AssociationSpecAssociationCategoryEnum.HubspotDefined, associationTypeId: NOTE_TO_CONTACT }] }],
          },
        ],
      }),
    );
    noteId = created.results[0]?.id;
    if (!noteId) throw new VendorError('hubspot', 'the opt-out note was not created: no result', { retryable: true });
    await context.setRef(REF.consentNote, key, noteId);
  }
  return { result: { hubspotContactId: contactId, hubspotNoteId: noteId } };
}

/**
 * Setup: the consent properties on contacts (an enumeration with opted_in / opted_out and a
 * datetime) and the customer service window's datetime, created when missing and checked when present:
 * https://developers.hubspot.com/docs/api-reference/latest/crm/properties/create-property
 */
export async function setupHubSpotConsentAndWindow(api: HubSpotApi, settings: SetupProperties, context: ExecutionContext): Promise<string[]> {
  const actions: string[] = [];
  const consentWritten = 'Written by wa-crm-sync from WhatsApp opt-outs and opt-ins';
  const wanted = [
    { name: settings.consentProperty, setting: 'consentProperty', label: 'WhatsApp marketing consent', type: PropertyCreateTypeEnum.Enumeration, fieldType: PropertyCreateFieldTypeEnum.Select, description: consentWritten },
    { name: settings.consentChangedAtProperty, setting: 'consentChangedAtProperty', label: 'WhatsApp consent changed at', type: PropertyCreateTypeEnum.Datetime, fieldType: PropertyCreateFieldTypeEnum.Date, description: consentWritten },
    ...(settings.windowOpenUntilProperty
      ? [{ name: settings.windowOpenUntilProperty, setting: 'windowOpenUntilProperty', label: 'WhatsApp window open until', type: PropertyCreateTypeEnum.Datetime, fieldType: PropertyCreateFieldTypeEnum.Date, description: WINDOW_PROPERTY_DESCRIPTION }]
      : []),
  ];
  for (const property of wanted) {
    const existing = await api
      .read(context, `reading property contacts.${property.name}`, propertyAnswer, (c) => c.crm.properties.coreApi.getByName('contacts', property.name))
      .catch((error: SyncError) => {
        if (error.status === 404) return undefined;
        throw error;
      });
    if (existing) {
      const values = new Set((existing.options ?? []).map((o) => o.value));
      const missing = property.type === PropertyCreateTypeEnum.Enumeration ? CONSENT_STATUSES.filter((v) => !values.has(v)) : [];
      if (existing.type !== property.type || missing.length > 0) {
        throw new VendorError(
          'hubspot',
          `property contacts.${property.name} exists as type "${existing.type}"${missing.length > 0 ? ` without the options ${missing.join(', ')}` : ''}; it must be ${property.type === PropertyCreateTypeEnum.Enumeration ? 'a dropdown with the options opted_in and opted_out' : 'a date and time property'}. Fix it in HubSpot, or set connectors.hubspot.${property.setting} to another name`,
        );
      }
      continue;
    }
    await api
      .call(context, `creating property group contacts.${PROPERTY_GROUP}`, (c) => c.crm.properties.groupsApi.create('contacts', { name: PROPERTY_GROUP, label: 'WhatsApp' }))
      .catch((error: SyncError) => {
        if (error.status !== 409) throw error;
      });
    await api.call(context, `creating property contacts.${property.name}`, (c) =>
      c.crm.properties.coreApi.create('contacts', {
        name: property.name,
        label: property.label,
        type: property.type,
        fieldType: property.fieldType,
        groupName: PROPERTY_GROUP,
        description: property.description,
        ...(property.type === PropertyCreateTypeEnum.Enumeration ? { options: CONSENT_STATUSES.map((value, displayOrder) => ({ value, label: CONSENT_LABELS[value], displayOrder, hidden: false })) } : {}),
      }),
    );
    actions.push(`created contacts property ${property.name}`);
  }
  return actions;
}
