// The customer service window on HubSpot contacts, over the real @hubspot/api-client with nock.
import nock from 'nock';
import { describe, expect, it } from 'vitest';
import { HubSpotApi } from '../../../connectors/hubspot/client.js';
import { setupHubSpotConsentAndWindow } from '../../../connectors/hubspot/consent.js';
import { hubspotConnector } from '../../../connectors/hubspot/index.js';
import { hubspotSettingsSchema } from '../../../connectors/hubspot/settings.js';
import type { ModelChange } from '../../../core/model/types.js';
import { WINDOW_KIND } from '../../../core/outbound/window.js';
import { silentLogger } from '../../../core/logger.js';
import { claimedOperation, testContext } from '../../helpers/context.js';
import { windowChange } from '../../helpers/window.js';
import { onlyMockedHttp } from '../../helpers/nock.js';

const API = 'https://api.hubapi.com';
const SENT = Date.parse('2026-03-02T10:15:00Z');
const settings = (extra: Record<string, unknown> = {}) => hubspotSettingsSchema.parse({ enabled: true, accessToken: 'pat-na1-test', ...extra });
const connectorWith = (extra: Record<string, unknown> = {}) => hubspotConnector.create(settings(extra), { log: silentLogger(), mediaDir: '/tmp', windowWriteSettleMs: 30_000 });
const windowOp = () => claimedOperation('hubspot', WINDOW_KIND, { contactId: 'c1', crmKey: '+447700900123', lastInboundAt: SENT });
const missing = { status: 'error', message: 'Unable to find property', category: 'OBJECT_NOT_FOUND' };

/** The consent properties setup reads first, there already as setup makes them. */
const consentPropertiesThere = () =>
  nock(API)
    .get('/crm/v3/properties/contacts/whatsapp_marketing_consent').query(true)
    .reply(200, { name: 'whatsapp_marketing_consent', label: 'x', type: 'enumeration', fieldType: 'select', groupName: 'whatsapp', hasUniqueValue: false, options: [{ value: 'opted_in', label: 'In', hidden: false }, { value: 'opted_out', label: 'Out', hidden: false }] })
    .get('/crm/v3/properties/contacts/whatsapp_consent_changed_at').query(true)
    .reply(200, { name: 'whatsapp_consent_changed_at', label: 'x', type: 'datetime', fieldType: 'date', groupName: 'whatsapp', hasUniqueValue: false });

describe('HubSpot customer service window', () => {
  onlyMockedHttp();

  it('writes 24 h after the newest live message on the contact property, as ISO 8601', async () => {
    let body: any;
    nock(API)
      .post('/crm/v3/objects/contacts/batch/update', (b) => ((body = b), true))
      .reply(200, { status: 'COMPLETE', results: [{ id: '901', properties: {}, createdAt: '2026-01-01T00:00:00Z', updatedAt: '2026-01-01T00:00:00Z', archived: false }], startedAt: '2026-01-01T00:00:00Z', completedAt: '2026-01-01T00:00:01Z' });
    const context = testContext();
    context.refs.set('contact:c1', '901');
    // A later message of the burst reached the store before the write ran.
    context.lastInbound.set('c1', SENT + 20_000);
    const [outcome] = await connectorWith().execute([windowOp()], context);
    expect(outcome).toMatchObject({ ok: true, result: { hubspotContactId: '901', openUntil: '2026-03-03T10:15:20.000Z' } });
    expect(body).toEqual({ inputs: [{ id: '901', properties: { whatsapp_window_open_until: '2026-03-03T10:15:20.000Z' } }] });
  });

  it('waits (retryable) while the contact is not in HubSpot yet, calling nothing', async () => {
    const [outcome] = await connectorWith().execute([windowOp()], testContext());
    expect(outcome).toMatchObject({ ok: false, error: { retryable: true } });
    expect(outcome!.ok ? '' : outcome!.error.message).toMatch(/contact is not in HubSpot yet/);
  });

  it('a per-input error in the batch answer fails the write, to be retried', async () => {
    nock(API)
      .post('/crm/v3/objects/contacts/batch/update')
      .reply(207, { status: 'COMPLETE', results: [], errors: [{ status: 'error', category: 'VALIDATION_ERROR', message: 'Property "whatsapp_window_open_until" does not exist', context: {} }], startedAt: '2026-01-01T00:00:00Z', completedAt: '2026-01-01T00:00:01Z' });
    const context = testContext();
    context.refs.set('contact:c1', '901');
    const [outcome] = await connectorWith().execute([windowOp()], context);
    expect(outcome).toMatchObject({ ok: false, error: { retryable: true } });
    expect(outcome!.ok ? '' : outcome!.error.message).toMatch(/customer service window not written on contact 901: Property "whatsapp_window_open_until" does not exist/);
  });

  it('plans a write per live inbound message with the configured settle time, and none when the property is null', () => {
    const change: ModelChange = windowChange({ direction: 'inbound', sentAt: SENT });
    expect(connectorWith().plan(change).filter((d) => d.kind === WINDOW_KIND)).toMatchObject([{ orderingKey: 'contact:c1', settleMs: 30_000 }]);
    expect(connectorWith({ windowOpenUntilProperty: null }).plan(change).filter((d) => d.kind === WINDOW_KIND)).toEqual([]);
  });

  it('setup creates the window property as a date and time property in the WhatsApp group', async () => {
    const created: any[] = [];
    consentPropertiesThere()
      .get('/crm/v3/properties/contacts/whatsapp_window_open_until').query(true)
      .reply(404, missing)
      .post('/crm/v3/properties/contacts/groups').reply(409, { status: 'error', message: 'exists', category: 'CONFLICT' })
      .post('/crm/v3/properties/contacts', (b) => (created.push(b), true))
      .reply(201, { name: 'whatsapp_window_open_until', label: 'WhatsApp window open until', type: 'datetime', fieldType: 'date', groupName: 'whatsapp', hasUniqueValue: false });
    const s = settings();
    expect(await setupHubSpotConsentAndWindow(new HubSpotApi(s), s, testContext())).toEqual(['created contacts property whatsapp_window_open_until']);
    expect(created).toEqual([expect.objectContaining({ name: 'whatsapp_window_open_until', type: 'datetime', fieldType: 'date', groupName: 'whatsapp' })]);
    expect(created[0].description).toMatch(/24 hours after the customer last wrote/);
  });

  it('setup refuses a window property of another type, naming the setting', async () => {
    consentPropertiesThere()
      .get('/crm/v3/properties/contacts/whatsapp_window_open_until').query(true)
      .reply(200, { name: 'whatsapp_window_open_until', label: 'x', type: 'string', fieldType: 'text', groupName: 'whatsapp', hasUniqueValue: false });
    const s = settings();
    await expect(setupHubSpotConsentAndWindow(new HubSpotApi(s), s, testContext())).rejects.toThrow(/whatsapp_window_open_until exists as type "string"; it must be a date and time property\. Fix it in HubSpot, or set connectors\.hubspot\.windowOpenUntilProperty/);
  });
});
