// The customer service window on the Salesforce Lead or Contact, over the real jsforce with nock.
import nock from 'nock';
import { describe, expect, it } from 'vitest';
import { salesforceConnector } from '../../../connectors/salesforce/index.js';
import { salesforceSettingsSchema } from '../../../connectors/salesforce/settings.js';
import { windowFieldProblems } from '../../../connectors/salesforce/window.js';
import { WINDOW_KIND } from '../../../core/outbound/window.js';
import { silentLogger } from '../../../core/logger.js';
import { claimedOperation, testContext } from '../../helpers/context.js';
import { onlyMockedHttp } from '../../helpers/nock.js';
import { windowChange } from '../../helpers/window.js';

const ORG = 'https://acme.my.salesforce.com';
const DATA = '/services/data/v62.0';
const SENT = Date.parse('2026-03-02T10:15:00Z');
const connectorWith = (extra: Record<string, unknown> = {}) =>
  salesforceConnector.create(salesforceSettingsSchema.parse({ enabled: true, instanceUrl: ORG, accessToken: '00Dxx!token', ...extra }), { log: silentLogger(), mediaDir: '/tmp', windowWriteSettleMs: 30_000 });
const windowOp = () => claimedOperation('salesforce', WINDOW_KIND, { contactId: 'c1', crmKey: '+447700900123', lastInboundAt: SENT });

describe('Salesforce customer service window', () => {
  onlyMockedHttp();

  it('writes 24 h after the newest live message on the person\'s Date/Time field with a collections update', async () => {
    let body: any;
    nock(ORG).patch(`${DATA}/composite/sobjects`, (b) => ((body = b), true)).reply(200, [{ id: '00Q000000000001', success: true, errors: [] }]);
    const context = testContext();
    context.refs.set('person:c1', '00Q000000000001');
    context.lastInbound.set('c1', SENT + 5_000);
    const [outcome] = await connectorWith().execute([windowOp()], context);
    expect(outcome).toMatchObject({ ok: true, result: { salesforceId: '00Q000000000001', openUntil: '2026-03-03T10:15:05.000Z' } });
    expect(body).toMatchObject({ allOrNone: false, records: [{ attributes: { type: 'Lead' }, id: '00Q000000000001', WhatsApp_Window_Open_Until__c: '2026-03-03T10:15:05.000Z' }] });
  });

  it('a field the org refuses fails with its code and the record; a locked row is retried', async () => {
    nock(ORG)
      .patch(`${DATA}/composite/sobjects`).reply(200, [{ success: false, errors: [{ statusCode: 'INVALID_FIELD_FOR_INSERT_UPDATE', message: 'Unable to create/update fields: WhatsApp_Window_Open_Until__c', fields: ['WhatsApp_Window_Open_Until__c'] }] }])
      .patch(`${DATA}/composite/sobjects`).reply(200, [{ success: false, errors: [{ statusCode: 'UNABLE_TO_LOCK_ROW', message: 'unable to obtain exclusive access to this record' }] }]);
    const context = testContext();
    context.refs.set('person:c1', '00Q000000000001');
    const [refused] = await connectorWith().execute([windowOp()], context);
    expect(refused).toMatchObject({ ok: false, error: { retryable: false, code: 'INVALID_FIELD_FOR_INSERT_UPDATE' } });
    expect(refused!.ok ? '' : refused!.error.message).toMatch(/customer service window on Lead 00Q000000000001 refused by the org: INVALID_FIELD_FOR_INSERT_UPDATE/);
    const [locked] = await connectorWith().execute([windowOp()], context);
    expect(locked).toMatchObject({ ok: false, error: { retryable: true } });
  });

  it('waits (retryable) while the person is not in Salesforce yet', async () => {
    const [outcome] = await connectorWith().execute([windowOp()], testContext());
    expect(outcome).toMatchObject({ ok: false, error: { retryable: true } });
  });

  it('plans a write per live inbound message, none for the business\'s own messages or with the field set to null', () => {
    expect(connectorWith().plan(windowChange({ direction: 'inbound', sentAt: SENT })).filter((d) => d.kind === WINDOW_KIND)).toMatchObject([{ orderingKey: 'contact:c1', settleMs: 30_000 }]);
    expect(connectorWith().plan(windowChange({ direction: 'outbound', sentAt: SENT })).filter((d) => d.kind === WINDOW_KIND)).toEqual([]);
    expect(connectorWith({ windowOpenUntilField: null }).plan(windowChange({ direction: 'inbound', sentAt: SENT })).filter((d) => d.kind === WINDOW_KIND)).toEqual([]);
  });

  it('setup says what to create when the field is missing, and refuses one of another type', () => {
    expect(windowFieldProblems([], 'Contact', 'WhatsApp_Window_Open_Until__c')).toEqual([
      'Contact.WhatsApp_Window_Open_Until__c does not exist: in Setup > Object Manager > Contact > Fields & Relationships > New, create a Date/Time field labelled "WhatsApp Window Open Until" with API name WhatsApp_Window_Open_Until (or set connectors.salesforce.windowOpenUntilField to a field you have, or to null to not write it)',
    ]);
    expect(windowFieldProblems([{ name: 'WhatsApp_Window_Open_Until__c', type: 'date' }], 'Lead', 'WhatsApp_Window_Open_Until__c')).toEqual(['Lead.WhatsApp_Window_Open_Until__c is a date field; it must be Date/Time']);
    expect(windowFieldProblems([{ name: 'WhatsApp_Window_Open_Until__c', type: 'datetime' }], 'Lead', 'WhatsApp_Window_Open_Until__c')).toEqual([]);
  });
});
