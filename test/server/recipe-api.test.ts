// POST /api/v1/recipes/<path> over a real store, engine, WhatsApp connector and dispatcher
// against the WhatsApp sandbox, called as each CRM calls it (the sandboxes' senders): a signed
// call sends its template once, a vendor's retry or a replayed capture sends nothing more, forged
// and stale calls are refused before anything is read, and refusals name the payload's field.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hubspotSettingsSchema } from '../../connectors/hubspot/settings.js';
import { salesforceSettingsSchema } from '../../connectors/salesforce/settings.js';
import { workflowWebhookHeaders, sendWorkflowWebhook } from '../../sandbox/hubspot.js';
import { sendFlowHttpCallout } from '../../sandbox/salesforce.js';
import { zendeskWebhookSignature } from '../../sandbox/zendesk.js';
import { zendeskSettingsSchema } from '../../connectors/zendesk/settings.js';
import { startOutboundHarness, type OutboundHarness } from '../helpers/outbound-harness.js';
import { waitFor } from '../helpers/service-process.js';

const CLIENT_SECRET = 'hubspot-app-client-secret-0001';
const FLOW_TOKEN = 'f'.repeat(40);
const ZENDESK_SECRET = 'zendesk-recipe-signing-secret-01';
const shipped = { phone: '+44 7700 900123', template: 'order_shipped', language: 'en_US', param_1: 'Jane', param_2: 'A-1042' };

describe('the CRM workflow recipes', () => {
  let h: OutboundHarness;
  let url: string;
  const sends = () => h.sandbox.state.sent.filter((s) => s.to === '+447700900123').length;
  beforeEach(async () => {
    h = await startOutboundHarness('sqlite');
    url = `${h.baseUrl}/recipes/hubspot-workflow`;
    h.connectorSettings.set('hubspot', hubspotSettingsSchema.parse({ enabled: true, accessToken: 'pat', workflowRecipe: { enabled: true, clientSecret: CLIENT_SECRET, url } }));
    h.connectorSettings.set('salesforce', salesforceSettingsSchema.parse({ enabled: true, instanceUrl: 'https://acme.my.salesforce.com', accessToken: 't', flowRecipe: { enabled: true, token: FLOW_TOKEN } }));
    h.connectorSettings.set('zendesk', zendeskSettingsSchema.parse({ enabled: true, subdomain: 'acme', email: 'a@example.com', apiToken: 't', triggerRecipe: { enabled: true, signingSecret: ZENDESK_SECRET } }));
  });
  afterEach(async () => {
    await h.stop();
  });

  it('a signed HubSpot workflow call sends its template once; HubSpot\'s retry and a replayed capture send nothing more', async () => {
    const first = await sendWorkflowWebhook(url, shipped, { clientSecret: CLIENT_SECRET });
    expect(first).toMatchObject({ status: 202, body: { id: expect.stringMatching(/^msg_/), state: 'queued', kind: 'template' } });
    await waitFor(() => sends() === 1, 10_000, 'the send');
    // A retry: HubSpot signs the same body afresh.
    const retry = await sendWorkflowWebhook(url, shipped, { clientSecret: CLIENT_SECRET, timestamp: Date.now() + 1 });
    expect(retry).toMatchObject({ status: 202, body: { id: first.body['id'] } });
    // A capture sent again inside the signature's 5 minutes: the same headers, the same body.
    const raw = JSON.stringify(shipped);
    const replay = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...workflowWebhookHeaders(url, raw, CLIENT_SECRET, Date.now() - 1000) }, body: raw });
    expect(replay.status).toBe(202);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    await new Promise((r) => setTimeout(r, 300));
    expect(sends()).toBe(1);
    expect(h.audit.filter((a) => a.action === 'message.send')).toEqual([expect.objectContaining({ actor: 'recipe:hubspot-workflow', target: first.body['id'] })]);
  });

  it('refuses forged and stale calls with 401 and queues nothing; a recipe not switched on is a 404', async () => {
    expect((await sendWorkflowWebhook(url, shipped, { clientSecret: CLIENT_SECRET, signWith: 'not-the-client-secret' })).status).toBe(401);
    expect((await sendWorkflowWebhook(url, shipped, { clientSecret: CLIENT_SECRET, timestamp: Date.now() - 600_000 })).body).toMatchObject({ error: expect.stringMatching(/X-HubSpot-Request-Timestamp/) });
    expect((await sendFlowHttpCallout(`${h.baseUrl}/recipes/salesforce-flow`, shipped, { name: 'x-wa-crm-sync-key', value: 'wrong' })).status).toBe(401);
    h.connectorSettings.delete('hubspot');
    expect((await sendWorkflowWebhook(url, shipped, { clientSecret: CLIENT_SECRET })).body).toMatchObject({ error: 'the hubspot-workflow recipe is not switched on', hint: expect.stringMatching(/workflowRecipe\.enabled/) });
    expect(await h.queued()).toBe(0);
    expect(h.audit.map((a) => a.action)).not.toContain('message.send');
  });

  it("refusals name the payload's field: the template's checks, the person, the key", async () => {
    const call = (body: Record<string, string | number>) => sendWorkflowWebhook(url, body, { clientSecret: CLIENT_SECRET });
    expect((await call({ ...shipped, param_2: undefined as unknown as string })).body).toMatchObject({ field: 'param_1', error: expect.stringMatching(/takes 2 body parameters, 1 given/), hint: expect.stringMatching(/Hi \{\{1\}\}/) });
    expect((await call({ ...shipped, template: 'order_shiped' })).body).toMatchObject({ field: 'template', error: expect.stringMatching(/no template named "order_shiped"/) });
    expect((await call({ ...shipped, language: 'fr' })).body).toMatchObject({ field: 'language' });
    expect(await call({ ...shipped, phone: '12' })).toMatchObject({ status: 422, body: { field: 'phone', error: 'phone is not a phone number with a country code' } });
    const missingRecord = await sendFlowHttpCallout(`${h.baseUrl}/recipes/salesforce-flow`, { record_id: '003000000000001', template: 'order_shipped', parameters: ['Jane', 'A-1'] }, { name: 'x-wa-crm-sync-key', value: FLOW_TOKEN });
    expect(missingRecord).toMatchObject({ status: 404, body: { field: 'record_id', error: 'no salesforce record 003000000000001 is known to this service' } });
    expect(await h.queued()).toBe(0);
  });

  it('a Salesforce flow callout sends once per idempotency_key, and the key reused for another message is a 409 naming it', async () => {
    const flow = `${h.baseUrl}/recipes/salesforce-flow`;
    const body = { phone: '+447700900123', template: 'order_shipped', parameters: ['Jane', 'A-7'], idempotency_key: '006Ab00000XyZ-Closed_Won' };
    const first = await sendFlowHttpCallout(flow, body, { name: 'x-wa-crm-sync-key', value: FLOW_TOKEN });
    expect(first.status).toBe(202);
    expect((await sendFlowHttpCallout(flow, body, { name: 'x-wa-crm-sync-key', value: FLOW_TOKEN })).body['id']).toBe(first.body['id']);
    const reused = await sendFlowHttpCallout(flow, { ...body, parameters: ['Jane', 'A-8'] }, { name: 'x-wa-crm-sync-key', value: FLOW_TOKEN });
    expect(reused).toMatchObject({ status: 409, body: { field: 'idempotency_key' } });
    await waitFor(() => sends() === 1, 10_000, 'the send');
  });

  it("a Zendesk trigger's retries carry one invocation id: one send; a new invocation sends again", async () => {
    const endpoint = `${h.baseUrl}/recipes/zendesk-trigger`;
    const post = (invocation: string) => {
      const body = JSON.stringify(shipped);
      const timestamp = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
      return fetch(endpoint, { method: 'POST', headers: { 'content-type': 'application/json', 'x-zendesk-webhook-invocation-id': invocation, 'x-zendesk-webhook-signature-timestamp': timestamp, 'x-zendesk-webhook-signature': zendeskWebhookSignature(ZENDESK_SECRET, timestamp, body) }, body }).then(async (r) => ({ status: r.status, body: (await r.json()) as Record<string, unknown> }));
    };
    const first = await post('8350205582');
    const again = await post('8350205582');
    expect(first.status).toBe(202);
    expect(again.body['id']).toBe(first.body['id']);
    const next = await post('8350205583');
    expect(next.body['id']).not.toBe(first.body['id']);
    await waitFor(() => sends() === 2, 10_000, 'two sends');
  });
});
