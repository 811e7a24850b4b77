// A message we sent that WhatsApp could not deliver, explained on the Salesforce person as a Task
// (as HubSpot shows it on the communication and Zendesk in a ticket note), over jsforce with nock.
import nock from 'nock';
import { describe, expect, it } from 'vitest';
import { salesforceConnector } from '../../../connectors/salesforce/index.js';
import { KIND } from '../../../connectors/salesforce/mappers.js';
import { salesforceSettingsSchema } from '../../../connectors/salesforce/settings.js';
import { explainSendError } from '../../../connectors/whatsapp/send-errors.js';
import { silentLogger } from '../../../core/logger.js';
import type { Message, ModelChange } from '../../../core/model/types.js';
import { claimedOperation, testContext } from '../../helpers/context.js';
import { onlyMockedHttp } from '../../helpers/nock.js';
import { windowChange } from '../../helpers/window.js';

const ORG = 'https://acme.my.salesforce.com';
const DATA = '/services/data/v62.0';
const FAILED_AT = Date.parse('2026-03-02T10:15:00Z');
const connector = () => salesforceConnector.create(salesforceSettingsSchema.parse({ enabled: true, instanceUrl: ORG, accessToken: '00Dxx!token' }), { log: silentLogger(), mediaDir: '/tmp' });

function failed(direction: 'inbound' | 'outbound', status: 'failed' | 'delivered' = 'failed'): ModelChange {
  const recorded = windowChange({ direction, sentAt: FAILED_AT - 1000 }) as Extract<ModelChange, { type: 'message.recorded' }>;
  const message: Message = { ...recorded.message, text: 'Your parcel is ready for collection', origin: 'api' };
  const explanation = explainSendError(131047);
  return { type: 'message.status', contact: recorded.contact, message, status, at: FAILED_AT, messageId: message.id, errors: [{ code: 131047, title: 'Re-engagement message', details: 'More than 24 hours have passed', ...(explanation ? { explanation } : {}) }] };
}

describe('Salesforce note of a failed send', () => {
  onlyMockedHttp();

  it('a failed send of ours becomes one Task write on the person\'s key, with 131047 explained', () => {
    const drafts = connector().plan(failed('outbound')).filter((d) => d.kind === KIND.failedSend);
    expect(drafts).toMatchObject([{ key: 'wamid.window', orderingKey: 'contact:c1' }]);
    const note = (drafts[0]!.payload as { note: string }).note;
    expect(note).toMatch(/^WhatsApp could not deliver a message to the customer \("Your parcel is ready for collection"\): 131047 Re-engagement message \(More than 24 hours have passed\)/);
    expect(note).toContain('only an approved template can reach them now');
    // Delivered statuses and customers' own messages are no failed sends.
    expect(connector().plan(failed('outbound', 'delivered')).filter((d) => d.kind === KIND.failedSend)).toEqual([]);
    expect(connector().plan(failed('inbound')).filter((d) => d.kind === KIND.failedSend)).toEqual([]);
  });

  it('writes a completed Task on the person, upserted on the Task external-id field', async () => {
    let body: any;
    nock(ORG).patch(`${DATA}/composite/sobjects/Task/WhatsApp_Thread_Id__c`, (b) => ((body = b), true)).reply(200, [{ id: '00T000000000009', success: true, created: true, errors: [] }]);
    const [draft] = connector().plan(failed('outbound')).filter((d) => d.kind === KIND.failedSend);
    const context = testContext();
    context.refs.set('person:c1', '00Q000000000001');
    const [outcome] = await connector().execute([claimedOperation('salesforce', KIND.failedSend, draft!.payload as Record<string, unknown>)], context);
    expect(outcome).toEqual({ ok: true, result: { salesforceId: '00Q000000000001', salesforceTaskId: '00T000000000009' } });
    expect(body.records).toEqual([
      expect.objectContaining({ WhatsApp_Thread_Id__c: 'failed:wamid.window', WhoId: '00Q000000000001', Subject: 'WhatsApp: message not delivered', ActivityDate: '2026-03-02', Status: 'Completed', Description: expect.stringContaining('131047') }),
    ]);
  });

  it('waits (retryable) while the person is not in Salesforce yet', async () => {
    const [draft] = connector().plan(failed('outbound')).filter((d) => d.kind === KIND.failedSend);
    const [outcome] = await connector().execute([claimedOperation('salesforce', KIND.failedSend, draft!.payload as Record<string, unknown>)], testContext());
    expect(outcome).toMatchObject({ ok: false, error: { retryable: true } });
  });
});
