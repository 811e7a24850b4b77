// Finding the Lead or Contact each customer already is: the record linked earlier (read again,
// so a new number or identifier reaches it), else one holding our external id, else one with the
// same phone number however it was typed. A converted Lead is followed to its Contact.
import type { ExecutionContext } from '../../core/connector.js';
import type { SalesforceApi } from './client.js';
import { REF, personFields, personQueries, pickPerson, soqlString, type PersonPayload, type PersonRecord } from './mappers.js';
import { personRecords } from './responses.js';
import type { SalesforceSettings } from './settings.js';

/** Who was found: each contact's Salesforce id, and the record read where one can be updated (not a converted Lead's Contact). */
export interface FoundPeople {
  readonly ids: Map<string, string>;
  readonly found: Map<string, PersonRecord>;
}

/** SOQL queries (GET /query, https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/dome_query.htm) finding each person's record. */
export async function findPeople(api: SalesforceApi, settings: SalesforceSettings, payloads: readonly PersonPayload[], context: ExecutionContext): Promise<FoundPeople> {
    const { target, externalIdField } = settings;
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
      const soql = `SELECT ${personFields(settings)} FROM ${target} WHERE Id IN (${[...new Set(linked.map((p) => ids.get(p.contactId)!))].map(soqlString).join(', ')})`;
      const { records } = await api.call(context, `reading ${target} records`, personRecords, async (c) => c.query(soql).execute({ autoFetch: true, maxFetch: 2000 }));
      for (const p of linked) {
        const record = records.find((r) => r.Id === ids.get(p.contactId));
        if (record) found.set(p.contactId, record);
      }
    }

    // Find records already holding our key, or with the same number however it was typed.
    for (const query of personQueries(unlinked.map((p) => ({ crmKey: p.crmKey, phone: p.phone })), target, settings)) {
      const { records } = await api.call(context, `looking up ${target} records`, personRecords, async (c) => c.query(query.soql).execute({ autoFetch: true, maxFetch: 2000 }));
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

    return { ids, found };
}
