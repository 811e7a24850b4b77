// HubSpot setup: reads the account (its time zone counts the daily limit's days; its id and
// domain make links to records), checks and creates the properties this connector writes, and
// decides from what HubSpot answers how messages are keyed and where media go. The connector
// reads those decisions (messageWrites, mediaOn) when it writes.
import { PropertyCreateFieldTypeEnum, PropertyCreateTypeEnum } from '@hubspot/api-client/lib/codegen/crm/properties/models/PropertyCreate.js';
import type { ExecutionContext } from '../../core/connector.js';
import { isKnownTimeZone } from '../../core/day.js';
import { SyncError, VendorError } from '../../core/errors.js';
import type { HubSpotApi } from './client.js';
import { setupHubSpotConsentAndWindow } from './consent.js';
import type { HubSpotInbox } from './inbox.js';
import { accountDetails, checkAnswer, propertyAnswer } from './responses.js';
import type { HubSpotSettings } from './settings.js';

const PROPERTY_GROUP = 'whatsapp';

export class HubSpotSetup {
  readonly #api: HubSpotApi;
  readonly #settings: HubSpotSettings;
  readonly #inbox: HubSpotInbox | undefined;
  /** The account's time zone (setup reads it): HubSpot's daily limit resets at its midnight. */
  #accountTimeZone: string | undefined;
  /** The account's id and app domain (from the same account details), for links to its records. */
  #portal: { id: number; uiDomain: string } | undefined;
  /**
   * How messages are keyed: `upsert` on the message-id property where HubSpot keeps it unique,
   * `create` (inline association, found again by search) where it does not. Setup decides;
   * until it ran, `upsert` (the property was made unique by hand, or the write is refused).
   */
  #messageWrites: 'upsert' | 'create' = 'upsert';
  /**
   * Where media go: onto the communication's `hs_attachment_ids` where communications have that
   * property, else onto a note associated with the contact and the communication (attachments
   * are documented for notes). Setup decides with mediaUpload on; until then, the communication.
   */
  #mediaOn: 'communication' | 'note' = 'communication';

  constructor(api: HubSpotApi, settings: HubSpotSettings, inbox: HubSpotInbox | undefined) {
    this.#api = api;
    this.#settings = settings;
    this.#inbox = inbox;
  }

  get accountTimeZone(): string | undefined {
    return this.#accountTimeZone;
  }

  get portal(): { readonly id: number; readonly uiDomain: string } | undefined {
    return this.#portal;
  }

  get messageWrites(): 'upsert' | 'create' {
    return this.#messageWrites;
  }

  get mediaOn(): 'communication' | 'note' {
    return this.#mediaOn;
  }

  /**
   * Reads the account's time zone (the daily limit's day), then, with autoSetup, creates the
   * properties: the WhatsApp id on contacts, the identifiers, and the message id on
   * communications, whose unique values it reads back (HubSpot documents unique values for
   * contacts, not for communications) to choose how messages are keyed.
   */
  async run(context: ExecutionContext): Promise<string[]> {
    const actions: string[] = [];
    await this.#readAccountTimeZone(context);
    if (this.#settings.mediaUpload) actions.push(...(await this.#checkCommunicationAttachments(context)));
    // The channel is the inbox's own: registered or found whether or not properties are created.
    if (this.#inbox) actions.push(...(await this.#inbox.setup(context)));
    if (!this.#settings.autoSetup) {
      // Without the schema scopes we cannot read the property: the create path is correct either way.
      this.#messageWrites = 'create';
      return actions;
    }
    // [object, property, label, setting, unique values]
    const wanted: Array<readonly [string, string, string, string, boolean]> = [['contacts', this.#settings.contactIdProperty, 'WhatsApp ID', 'contactIdProperty', true]];
    // Searchable, readable identifiers: a BSUID and a username change, so they are not unique keys.
    for (const [name, label, setting] of [
      [this.#settings.bsuidProperty, 'WhatsApp BSUID', 'bsuidProperty'],
      [this.#settings.usernameProperty, 'WhatsApp username', 'usernameProperty'],
      [this.#settings.identityNoteProperty, 'WhatsApp identity note', 'identityNoteProperty'],
    ] as const) {
      if (name) wanted.push(['contacts', name, label, setting, false]);
    }
    if (this.#settings.threadActivity !== 'none') {
      wanted.push([`${this.#settings.threadActivity}s`, this.#settings.threadIdProperty, 'WhatsApp thread ID', 'threadIdProperty', true]);
    }
    for (const [objectType, name, label, settingKey, unique] of wanted) {
      const existing = await this.#readProperty(context, objectType, name);
      if (existing) {
        if (existing.type !== 'string' || (unique && !existing.hasUniqueValue)) {
          throw new VendorError(
            'hubspot',
            `property ${objectType}.${name} exists as type "${existing.type}"${unique && !existing.hasUniqueValue ? ' without unique values' : ''}; it must be a single-line text property${unique ? ' with unique values' : ''}. Rename it in HubSpot, or set connectors.hubspot.${settingKey} to another name`,
          );
        }
        continue;
      }
      await this.#createProperty(context, objectType, name, label, unique);
      actions.push(`created ${objectType} property ${name}${unique ? ' (unique values)' : ''}`);
    }
    actions.push(...(await this.#setupMessageIdProperty(context)));
    actions.push(...(await setupHubSpotConsentAndWindow(this.#api, this.#settings, context)));
    return actions;
  }


  /**
   * HubSpot resets the daily limit at midnight in the account's time zone, not UTC:
   * https://developers.hubspot.com/docs/guides/apps/api-usage/usage-details
   * read from the account details:
   * https://developers.hubspot.com/docs/api-reference/latest/account/account-information/get-account-details
   */
  async #readAccountTimeZone(context: ExecutionContext): Promise<void> {
    const response = await this.#api.call(context, 'reading the account details', (c) => c.apiRequest({ method: 'GET', path: '/account-info/v3/details' }));
    const json: unknown = await response.json().catch(() => ({}));
    if (!response.ok) throw new VendorError('hubspot', `reading the account details: HTTP ${response.status}`, { status: response.status, retryable: response.status === 429 || response.status >= 500 });
    const body = checkAnswer('reading the account details', accountDetails, json);
    if (body.portalId !== undefined) this.#portal = { id: body.portalId, uiDomain: body.uiDomain !== undefined && /^[a-z0-9.-]+$/i.test(body.uiDomain) ? body.uiDomain : 'app.hubspot.com' };
    const zone = body.timeZone ?? '';
    if (!isKnownTimeZone(zone)) {
      context.log.warn({ timeZone: zone }, 'HubSpot gave an account time zone this system does not know; counting the daily limit by UTC days');
      return;
    }
    // Logged, not an action: setup changes nothing at HubSpot by reading it.
    if (zone !== this.#accountTimeZone) context.log.info({ timeZone: zone }, "daily limit counted by the account's days");
    this.#accountTimeZone = zone;
  }

  /**
   * `hs_attachment_ids` is documented for notes
   * (https://developers.hubspot.com/docs/api-reference/latest/crm/activities/notes/guide), not for
   * communications: where communications lack it, media go on a note with the contact and the
   * communication. Without the schema scopes to check, the note (documented) is used.
   */
  async #checkCommunicationAttachments(context: ExecutionContext): Promise<string[]> {
    let property;
    try {
      property = await this.#readProperty(context, 'communications', 'hs_attachment_ids');
    } catch (error) {
      if (!(error instanceof SyncError) || (error.status !== 403 && error.name !== 'CredentialError')) throw error;
      property = undefined;
    }
    const mode = property ? 'communication' : 'note';
    const changed = mode !== this.#mediaOn;
    this.#mediaOn = mode;
    return changed && mode === 'note' ? ['communications have no hs_attachment_ids here: media are attached through a note on the contact and the communication'] : [];
  }

  async #readProperty(context: ExecutionContext, objectType: string, name: string) {
    return this.#api
      .read(context, `reading property ${objectType}.${name}`, propertyAnswer, (c) => c.crm.properties.coreApi.getByName(objectType, name))
      .catch((error: SyncError) => {
        if (error.status === 404) return undefined;
        throw error;
      });
  }

  async #createProperty(context: ExecutionContext, objectType: string, name: string, label: string, unique: boolean): Promise<void> {
    await this.#api
      .call(context, `creating property group ${objectType}.${PROPERTY_GROUP}`, (c) => c.crm.properties.groupsApi.create(objectType, { name: PROPERTY_GROUP, label: 'WhatsApp' }))
      .catch((error: SyncError) => {
        if (error.status !== 409) throw error;
      });
    await this.#api.call(context, `creating property ${objectType}.${name}`, (c) =>
      c.crm.properties.coreApi.create(objectType, {
        name,
        label,
        type: PropertyCreateTypeEnum.String,
        fieldType: PropertyCreateFieldTypeEnum.Text,
        groupName: PROPERTY_GROUP,
        hasUniqueValue: unique,
        description: 'Written by wa-crm-sync',
      }),
    );
  }

  /**
   * The message-id property on communications: created asking for unique values, then read back.
   * HubSpot documents unique values for contacts, companies, deals, tickets and custom objects,
   * not communications (https://developers.hubspot.com/docs/api/crm/properties#create-unique-identifier-properties):
   * where it refuses them (400) the property is made without, and where the read-back shows no
   * `hasUniqueValue`, messages are created with their association inline instead of upserted.
   */
  async #setupMessageIdProperty(context: ExecutionContext): Promise<string[]> {
    const name = this.#settings.messageIdProperty;
    const actions: string[] = [];
    let property = await this.#readProperty(context, 'communications', name);
    if (property && property.type !== 'string') {
      throw new VendorError('hubspot', `property communications.${name} exists as type "${property.type}"; it must be a single-line text property. Rename it in HubSpot, or set connectors.hubspot.messageIdProperty to another name`);
    }
    if (!property) {
      try {
        await this.#createProperty(context, 'communications', name, 'WhatsApp message ID', true);
      } catch (error) {
        if (!(error instanceof SyncError) || error.status !== 400) throw error;
        context.log.warn({ err: error.message }, 'HubSpot refused unique values on communications; creating the message id property without them');
        await this.#createProperty(context, 'communications', name, 'WhatsApp message ID', false);
      }
      property = await this.#readProperty(context, 'communications', name);
      if (!property) throw new VendorError('hubspot', `property communications.${name} was created but cannot be read back`, { retryable: true });
      actions.push(`created communications property ${name}${property.hasUniqueValue ? ' (unique values)' : ' (HubSpot keeps no unique values on it: messages are created, and looked up by it after a lost answer)'}`);
    }
    this.#messageWrites = property.hasUniqueValue ? 'upsert' : 'create';
    return actions;
  }
}
