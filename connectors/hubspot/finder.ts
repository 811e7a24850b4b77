// Finding HubSpot records again: a WhatsApp contact's record (by our WhatsApp id property, else
// a contact a rep made by hand with the same number, however written), and a record an earlier
// attempt may have created without a unique key (by the external key it carries, in search).
import { FilterOperatorEnum } from '@hubspot/api-client/lib/codegen/crm/objects/communications/models/Filter.js';
import type { ExecutionContext } from '../../core/connector.js';
import { SyncError } from '../../core/errors.js';
import { waitOutLateLanding, type LateLandingWrite } from '../../core/lost-answer.js';
import type { E164 } from '../../core/model/phone.js';
import type { HubSpotApi } from './client.js';
import { PHONE_PROPERTIES, halveChunk, phoneSearchChunks, phoneSearchRequest, pickPhoneMatch, type ContactPayload, type PhoneSearchChunk } from './mappers.js';
import { batchAnswer, searchAnswer, type CrmRecord } from './responses.js';
import type { HubSpotSettings } from './settings.js';

/** The rate bucket of CRM searches: HubSpot limits them apart from other calls (searchRequestsPerSecond). */
export const SEARCH_BUCKET = 'search';

/** A 400 whose message names a size limit of the request (characters, length, too large, too long). */
function isRequestTooLarge(error: unknown): boolean {
  return error instanceof SyncError && error.status === 400 && /(\d[\d,]*\s*characters|too (large|long)|exceeds?.*(size|length|limit)|request size)/i.test(error.message);
}

/** What matching found: the HubSpot id per contact (ours), and the properties read of each record found or linked. */
export interface ContactMatches {
  readonly hubspotIds: Map<string, string>;
  readonly current: Map<string, Record<string, string | null | undefined>>;
}

export class HubSpotFinder {
  readonly #api: HubSpotApi;
  readonly #settings: HubSpotSettings;

  constructor(api: HubSpotApi, settings: HubSpotSettings) {
    this.#api = api;
    this.#settings = settings;
  }

  /**
   * The HubSpot record of each contact: `linked` (their stored refs), then by our WhatsApp id
   * property, then a rep's contact with the same number; and the current properties of each
   * (`readProperties`), which the write compares with.
   */
  async matchContacts(payloads: readonly ContactPayload[], linked: ReadonlyMap<string, string>, readProperties: readonly string[], context: ExecutionContext): Promise<ContactMatches> {
    const idProperty = this.#settings.contactIdProperty;
    const hubspotIds = new Map(linked);
    const current = new Map<string, Record<string, string | null | undefined>>();

    // 1. Contacts already carrying our WhatsApp id.
    const unlinked = payloads.filter((p) => !hubspotIds.has(p.contactId));
    if (unlinked.length > 0) {
      const found = await this.#api.read(context, 'reading contacts by WhatsApp id', batchAnswer, (c) =>
        c.crm.contacts.batchApi.read({ idProperty, inputs: unlinked.map((p) => ({ id: p.crmKey })), properties: [...readProperties], propertiesWithHistory: [] }),
      );
      for (const record of found.results) {
        const payload = unlinked.find((p) => p.crmKey === record.properties[idProperty]);
        if (payload) {
          hubspotIds.set(payload.contactId, record.id);
          current.set(payload.contactId, record.properties);
        }
      }
    }

    // 2. Contacts a rep created by hand with the same number, written any common way: adopt them.
    // (A person whose number WhatsApp withholds can only be found by our key.)
    const unmatched = payloads.filter((p): p is ContactPayload & { phone: E164 } => !hubspotIds.has(p.contactId) && p.phone !== null);
    for (const chunk of phoneSearchChunks(unmatched.map((p) => p.phone), this.#phoneSearchProperties, this.#settings.searchBodyMaxChars)) {
      const candidates = await this.#searchByPhone(chunk, context);
      for (const payload of unmatched.filter((p) => chunk.waIds.includes(p.phone))) {
        const match = pickPhoneMatch(candidates.filter((c) => !c.properties[idProperty]), payload.phone);
        if (match) {
          hubspotIds.set(payload.contactId, match.id);
          current.set(payload.contactId, match.properties);
          context.log.info({ hubspotContactId: match.id }, 'adopted an existing HubSpot contact with the same phone number');
        }
      }
    }

    // 3. Known contacts whose names we have not read yet (linked by an earlier run).
    const unread = payloads.filter((p) => hubspotIds.has(p.contactId) && !current.has(p.contactId));
    if (unread.length > 0) {
      const read = await this.#api.read(context, 'reading contacts', batchAnswer, (c) =>
        c.crm.contacts.batchApi.read({ inputs: unread.map((p) => ({ id: hubspotIds.get(p.contactId)! })), properties: [...readProperties], propertiesWithHistory: [] }),
      );
      for (const record of read.results) {
        const payload = unread.find((p) => hubspotIds.get(p.contactId) === record.id);
        if (payload) current.set(payload.contactId, record.properties);
      }
    }

    return { hubspotIds, current };
  }

  /**
   * The record an earlier attempt may have created without a unique key, by the external key
   * HubSpot keeps verbatim on it (our message id, a file id), which the CRM search filters on
   * (https://developers.hubspot.com/docs/api/crm/search). Its ref, else, when a create is in
   * doubt (its note, see core/lost-answer.ts), a search once it can no longer land and HubSpot's
   * index has had time to show it (until then the operation waits: search shows new records only
   * after a delay). Undefined: no create in doubt, or not there: create it.
   */
  async findCreated(
    context: ExecutionContext,
    spec: { objectType: 'communications' | 'notes'; ref: string; write: LateLandingWrite; property: string; value: string },
  ): Promise<string | undefined> {
    const known = await context.getRef(spec.ref, spec.write.localId);
    if (known) return known;
    if (!Number((await context.getRef(spec.write.ref, spec.write.localId)) ?? 0)) return undefined;
    await waitOutLateLanding(context, spec.write);
    const found = await this.#api.read(
      context,
      `looking up a ${spec.write.what} an earlier attempt may have created`,
      searchAnswer,
      (c) =>
        (spec.objectType === 'notes' ? c.crm.objects.notes.searchApi : c.crm.objects.communications.searchApi).doSearch({
          filterGroups: [{ filters: [{ propertyName: spec.property, operator: FilterOperatorEnum.Eq, value: spec.value }] }],
          properties: [spec.property],
          sorts: ['hs_createdate'],
          limit: 10,
        }),
      SEARCH_BUCKET,
    );
    // The oldest, should duplicates exist from before this check.
    const record = found.results.filter((r) => r.properties[spec.property] === spec.value).sort((a, b) => Number(a.id) - Number(b.id))[0];
    if (!record) return undefined;
    await context.setRef(spec.ref, spec.write.localId, record.id);
    context.log.info({ objectType: spec.objectType, hubspotId: record.id }, 'found the record an earlier attempt created');
    return record.id;
  }

  get #phoneSearchProperties(): string[] {
    return [this.#settings.contactIdProperty, 'firstname', 'lastname', ...PHONE_PROPERTIES];
  }

  /**
   * Contacts whose phone matches any number of the chunk. A 400 that names a request-size limit
   * (HubSpot counted the body otherwise than we did) splits the chunk and searches each half:
   * never a dead end while there are two numbers to split.
   */
  async #searchByPhone(chunk: PhoneSearchChunk, context: ExecutionContext): Promise<CrmRecord[]> {
    const found: CrmRecord[] = [];
    let after: string | undefined;
    // A handful of pages at most: a number matching more records than that is no match to adopt.
    for (let page = 0; page < 5; page++) {
      let response;
      try {
        response = await this.#api.read(context, 'searching contacts by phone', searchAnswer, (c) => c.crm.contacts.searchApi.doSearch(phoneSearchRequest(chunk, this.#phoneSearchProperties, after)), SEARCH_BUCKET);
      } catch (error) {
        if (page > 0 || chunk.waIds.length < 2 || !isRequestTooLarge(error)) throw error;
        context.log.warn({ numbers: chunk.waIds.length }, 'HubSpot refused a phone search as too large; searching in two halves');
        const halves = halveChunk(chunk);
        return [...(await this.#searchByPhone(halves[0], context)), ...(await this.#searchByPhone(halves[1], context))];
      }
      found.push(...response.results);
      after = response.paging?.next?.after;
      if (!after) break;
    }
    return found;
  }

}
