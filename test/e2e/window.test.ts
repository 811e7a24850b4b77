// The customer service window through the real service: a burst of customer messages writes
// "open until" (24 h after the last of them) on the person's HubSpot contact, Salesforce Lead and
// Zendesk end user, once or few times; the business's own echo does not move it; a later message does.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HubSpotSandbox } from '../../sandbox/hubspot.js';
import { SalesforceSandbox } from '../../sandbox/salesforce.js';
import { WhatsAppSimulator, type SimulatedCustomer } from '../../sandbox/whatsapp.js';
import { ZendeskSandbox } from '../../sandbox/zendesk.js';
import { readExample } from '../helpers/fixtures.js';
import { serviceWithThreeCrms } from '../helpers/crm-service.js';
import { APP_SECRET, type ServiceProcess, waitFor } from '../helpers/service-process.js';

const DAY_MS = 24 * 3_600_000;

describe('customer service window end to end', () => {
  const hubspot = new HubSpotSandbox({ requests: 100, intervalMs: 10_000 });
  const salesforce = new SalesforceSandbox();
  const zendesk = new ZendeskSandbox({ requestsPerMinute: 700 });
  const simulator = new WhatsAppSimulator(APP_SECRET);
  let service: ServiceProcess;
  const customer: SimulatedCustomer = { waId: '447700900711', name: 'Wanda Window' };

  const hubspotValue = () => hubspot.state.objects['contacts']?.find((r) => r.properties['whatsapp_id'] === `+${customer.waId}`)?.properties['whatsapp_window_open_until'];
  const salesforceValue = () => salesforce.state.records['Lead']!.find((r) => r['WhatsApp_Id__c'] === `+${customer.waId}`)?.['WhatsApp_Window_Open_Until__c'];
  const zendeskValue = () => zendesk.state.users.find((u) => u.external_id === `+${customer.waId}`)?.user_fields?.['whatsapp_window_open_until'];
  const everywhere = (iso: string) => [hubspotValue(), salesforceValue(), zendeskValue()].every((v) => v !== undefined && Date.parse(String(v)) === Date.parse(iso));

  beforeAll(async () => {
    // A burst gathers for 3 s before the window is written (60 s by default).
    ({ service } = await serviceWithThreeCrms({ hubspot, salesforce, zendesk }, { accessToken: 'EAAG-window-test', extra: { sync: { windowWriteSettleSeconds: 3 } } }));
  }, 120_000);

  afterAll(async () => {
    if (process.env['DEBUG_E2E']) console.log(service.output.slice(-6000));
    await service.kill('SIGTERM');
    await Promise.all([hubspot.stop(), salesforce.stop(), zendesk.stop()]);
  });

  it('a burst writes 24 h after its last message on every CRM record, in few writes; an echo does not move it, a later message does', { timeout: 240_000 }, async () => {
    // Whole seconds on a 3 s boundary, so the burst falls in one settle slice.
    const start = Math.ceil(Date.now() / 3000) * 3;
    for (let i = 0; i < 3; i++) await service.deliver(simulator.message(customer, { type: 'text', text: { body: `question ${i}` } }, start + i).body);
    const burstEnd = new Date((start + 2) * 1000 + DAY_MS).toISOString();
    await waitFor(() => everywhere(burstEnd), 120_000, 'the window on the contact, the Lead and the end user');
    // Setup made the HubSpot property a datetime, and the Zendesk user field text.
    expect(hubspot.state.properties['contacts']!.find((p) => p.name === 'whatsapp_window_open_until')).toMatchObject({ type: 'datetime' });
    expect(zendesk.state.userFields.find((f) => f.key === 'whatsapp_window_open_until')).toMatchObject({ type: 'text' });
    // Three messages, one write per CRM (Zendesk allows 5 user updates a minute).
    expect(zendesk.state.userUpdates).toBe(1);

    // The business answers from its own app (an echo): the window is the customer's, unchanged.
    const echo = readExample('echo-text')
      .replace('"447700900461"', `"${customer.waId}"`)
      .replace('"1764583440"', `"${start + 10}"`)
      .replace('"214880073361540"', `"${simulator.phoneNumberId}"`);
    await service.deliver(echo);
    // A later customer message moves it.
    await service.deliver(simulator.message(customer, { type: 'text', text: { body: 'one more thing' } }, start + 30).body);
    const later = new Date((start + 30) * 1000 + DAY_MS).toISOString();
    await waitFor(() => everywhere(later), 120_000, 'the later window everywhere');
    expect(zendesk.state.userUpdates).toBe(2);
  });
});
