// One person through the real service against the HubSpot, Salesforce, Zendesk and WhatsApp
// sandboxes: BSUID only (a username user) → phone and BSUID → a new number → a new BSUID ends
// with one record per CRM carrying the current identifiers; an agent's reply to the BSUID-only
// customer goes out by recipient, and a 131062 refusal becomes an internal note on the ticket.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NUMBER_WITHHELD_NOTE } from '../../core/model/identity.js';
import { HubSpotSandbox } from '../../sandbox/hubspot.js';
import { SalesforceSandbox } from '../../sandbox/salesforce.js';
import { WhatsAppSandbox, WhatsAppSimulator, type SimulatedCustomer } from '../../sandbox/whatsapp.js';
import { ZendeskSandbox } from '../../sandbox/zendesk.js';
import { APP_SECRET, serviceWith, type ServiceProcess, waitFor } from '../helpers/service-process.js';

const BSUID = 'GB.80412277419022635518';
const NEW_BSUID = 'GB.55512277419022635599';

describe('identities end to end', () => {
  const hubspot = new HubSpotSandbox({ requests: 100, intervalMs: 10_000 });
  const salesforce = new SalesforceSandbox();
  const zendesk = new ZendeskSandbox({ requestsPerMinute: 700 });
  const whatsapp = new WhatsAppSandbox();
  const simulator = new WhatsAppSimulator(APP_SECRET);
  let service: ServiceProcess;
  const now = () => Math.floor(Date.now() / 1000);

  beforeAll(async () => {
    const hubspotUrl = await hubspot.start();
    const instanceUrl = await salesforce.start();
    const zendeskUrl = await zendesk.start();
    const graphUrl = await whatsapp.start();
    whatsapp.authenticationTemplates.add('login_code');
    const fast = { backoffBaseMs: 100, backoffMaxMs: 1000 };
    ({ service } = await serviceWith(({ config, port }) => ({
      ...config,
      whatsapp: { ...config.whatsapp, accessToken: whatsapp.accessToken, graphBaseUrl: graphUrl },
      connectors: {
        hubspot: { enabled: true, accessToken: 'pat-sandbox', baseUrl: hubspotUrl, rateLimit: fast },
        salesforce: { enabled: true, instanceUrl, clientCredentials: { clientId: 'sandbox-client', clientSecret: 'sandbox-secret' }, rateLimit: fast },
        // The reply template outside the window is an authentication one: WhatsApp cannot send it to a BSUID.
        zendesk: { enabled: true, baseUrl: zendeskUrl, ...zendesk.credentials, publicUrl: `http://127.0.0.1:${port}`, outsideWindowTemplate: { name: 'login_code' }, rateLimit: fast },
      },
    })));
    await service.start();
  });

  afterAll(async () => {
    if (process.env['DEBUG_E2E']) console.log(service.output.slice(-6000));
    await service.kill('SIGTERM');
    await Promise.all([hubspot.stop(), salesforce.stop(), zendesk.stop(), whatsapp.stop()]);
  });

  const hubspotContacts = () => hubspot.state.objects['contacts'] ?? [];
  const leads = () => salesforce.state.records['Lead'] ?? [];
  const endUsers = () => zendesk.state.users.filter((u) => u.role === 'end-user');
  const ticketOf = (userId: number) => zendesk.state.tickets.filter((t) => t.requester_id === userId).sort((a, b) => b.id - a.id)[0];

  it('keeps one record per CRM from BSUID only to phone and BSUID to a new number to a new BSUID', { timeout: 240_000 }, async () => {
    const hidden: SimulatedCustomer = { waId: null, bsuid: BSUID, username: 'ada.builds', name: 'Ada Ortiz' };
    await service.deliver(simulator.message(hidden, { type: 'text', text: { body: 'Hi, do you ship to Leeds?' } }, now()).body);
    await waitFor(() => hubspotContacts().length === 1 && leads().length === 1 && endUsers().length === 1 && zendesk.state.tickets.length === 1, 30_000, 'the BSUID-only customer in every CRM');

    // A phone-less person reads well everywhere: name, @username, a note that the number is withheld.
    expect(hubspotContacts()[0]!.properties).toMatchObject({ whatsapp_id: BSUID, whatsapp_bsuid: BSUID, whatsapp_username: '@ada.builds', whatsapp_identity_note: NUMBER_WITHHELD_NOTE, firstname: 'Ada', lastname: 'Ortiz' });
    expect(hubspotContacts()[0]!.properties['phone'] ?? null).toBeNull();
    expect(leads()[0]).toMatchObject({ WhatsApp_Id__c: BSUID, WhatsApp_BSUID__c: BSUID, WhatsApp_Username__c: '@ada.builds', Description: NUMBER_WITHHELD_NOTE, FirstName: 'Ada', LastName: 'Ortiz' });
    expect(endUsers()[0]).toMatchObject({ name: 'Ada Ortiz (@ada.builds)', external_id: BSUID, phone: null, notes: NUMBER_WITHHELD_NOTE, user_fields: { whatsapp_bsuid: BSUID, whatsapp_username: '@ada.builds' } });
    expect(ticketOf(endUsers()[0]!.id)!.subject).toBe('WhatsApp conversation with Ada Ortiz (@ada.builds)');

    const shared: SimulatedCustomer = { ...hidden, waId: '447700900456' };
    await service.deliver(simulator.message(shared, { type: 'text', text: { body: 'You can call me too' } }, now()).body);
    await waitFor(() => leads()[0]?.['Phone'] === '+447700900456' && endUsers()[0]?.phone === '+447700900456' && hubspotContacts()[0]?.properties['phone'] === '+447700900456', 90_000, 'the number reaching every CRM');

    await service.deliver(simulator.numberChange(shared, '447700900789', now()).body);
    const moved: SimulatedCustomer = { ...shared, waId: '447700900789' };
    await service.deliver(simulator.bsuidChange(moved, NEW_BSUID, now()).body);
    await service.deliver(simulator.message({ ...moved, bsuid: NEW_BSUID }, { type: 'text', text: { body: 'New number, new id' } }, now()).body);
    await waitFor(
      () => leads()[0]?.['WhatsApp_BSUID__c'] === NEW_BSUID && endUsers()[0]?.user_fields?.['whatsapp_bsuid'] === NEW_BSUID && hubspotContacts()[0]?.properties['whatsapp_bsuid'] === NEW_BSUID,
      // Each live message here writes the person's service window (settled 1 s in tests, not 60) with
      // Zendesk's Update User, at most 5 a minute per user, in that person's order: the sixth waits.
      90_000,
      'the new BSUID reaching every CRM',
    );

    // One record per CRM, on the key it started with, carrying the current number and BSUID (E.164 with + everywhere).
    expect(hubspotContacts()).toHaveLength(1);
    expect(hubspotContacts()[0]!.properties).toMatchObject({ whatsapp_id: BSUID, phone: '+447700900789', whatsapp_bsuid: NEW_BSUID, whatsapp_identity_note: '' });
    expect(leads()).toHaveLength(1);
    expect(leads()[0]).toMatchObject({ WhatsApp_Id__c: BSUID, Phone: '+447700900789', WhatsApp_BSUID__c: NEW_BSUID, Description: null });
    expect(endUsers()).toHaveLength(1);
    expect(endUsers()[0]).toMatchObject({ external_id: BSUID, phone: '+447700900789', notes: '', user_fields: { whatsapp_bsuid: NEW_BSUID } });
    const messagesLogged = (hubspot.state.objects['communications'] ?? []).length;
    expect(messagesLogged).toBeGreaterThanOrEqual(3);
  });

  it("sends an agent's reply to a BSUID-only customer by recipient; a 131062 refusal becomes an internal note", { timeout: 60_000 }, async () => {
    const hidden: SimulatedCustomer = { waId: null, bsuid: 'US.13491208655302741918', username: 'jo', name: 'Jo' };
    await service.deliver(simulator.message(hidden, { type: 'text', text: { body: 'Where is my parcel?' } }, now()).body);
    await waitFor(() => endUsers().some((u) => u.external_id === hidden.bsuid) && zendesk.state.tickets.length === 2, 30_000, 'the ticket of the BSUID-only customer');
    const user = endUsers().find((u) => u.external_id === hidden.bsuid)!;
    const ticket = ticketOf(user.id)!;
    await zendesk.agentReply(ticket.id, 'It arrives tomorrow.');
    await waitFor(() => whatsapp.state.sent.some((s) => s.to === hidden.bsuid), 20_000, 'the reply sent to the BSUID');
    const sent = whatsapp.state.sent.find((s) => s.to === hidden.bsuid)!;
    expect(sent.by).toBe('bsuid');
    expect(sent.body).toMatchObject({ recipient: hidden.bsuid, text: { body: 'It arrives tomorrow.' } });
    expect(sent.body).not.toHaveProperty('to');

    // A customer who wrote 25 hours ago can only get the template, which WhatsApp refuses for a BSUID.
    const late: SimulatedCustomer = { waId: null, bsuid: 'US.99991208655302741918', username: 'late.one', name: 'Late' };
    await service.deliver(simulator.message(late, { type: 'text', text: { body: 'Any news?' } }, now() - 25 * 3600).body);
    await waitFor(() => endUsers().some((u) => u.external_id === late.bsuid && ticketOf(u.id)), 30_000, 'the ticket of the late customer');
    const lateTicket = ticketOf(endUsers().find((u) => u.external_id === late.bsuid)!.id)!;
    await zendesk.agentReply(lateTicket.id, 'Sorry for the wait.');
    await waitFor(() => lateTicket.comments.some((c) => !c.public && c.body.includes('131062')), 20_000, 'the internal note about the 131062 refusal');
    const note = lateTicket.comments.find((c) => !c.public && c.body.includes('131062'))!;
    expect(note.body).toMatch(/^This reply was not sent to the customer on WhatsApp: WhatsApp refused to send \[template login_code\] to this customer's business-scoped user id \(error 131062/);
    expect(note.body).toContain('What you can do:');
    expect(whatsapp.state.sent.some((s) => s.to === late.bsuid)).toBe(false);
  });
});
