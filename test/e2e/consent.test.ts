// Consent from each source (user_preferences webhook, STOP keyword, opt-out button) reaching
// HubSpot, Salesforce and Zendesk through the real service against their sandboxes; a write a
// CRM refuses is retried, shown by `wa-crm-sync status` meanwhile, and lands once it can.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HubSpotSandbox } from '../../sandbox/hubspot.js';
import { SalesforceSandbox } from '../../sandbox/salesforce.js';
import { WhatsAppSimulator, type SimulatedCustomer } from '../../sandbox/whatsapp.js';
import { ZendeskSandbox } from '../../sandbox/zendesk.js';
import { projectRoot } from '../helpers/fixtures.js';
import { serviceWithThreeCrms } from '../helpers/crm-service.js';
import { APP_SECRET, type ServiceProcess, waitFor } from '../helpers/service-process.js';

const run = promisify(execFile);
const bin = join(projectRoot, 'bin/wa-crm-sync.js');

describe('consent end to end', () => {
  const hubspot = new HubSpotSandbox({ requests: 100, intervalMs: 10_000 });
  const salesforce = new SalesforceSandbox();
  const zendesk = new ZendeskSandbox({ requestsPerMinute: 700 });
  const simulator = new WhatsAppSimulator(APP_SECRET);
  let service: ServiceProcess;
  let configPath: string;
  const now = () => Math.floor(Date.now() / 1000);
  // Never wrote, stops in WhatsApp's settings; writes STOP; taps the opt-out button, then writes START.
  const byWebhook: SimulatedCustomer = { waId: '447700900601', name: 'Wendy Hook' };
  const byKeyword: SimulatedCustomer = { waId: '447700900602', name: 'Kim Word' };
  const byButton: SimulatedCustomer = { waId: '447700900603', name: 'Bo Tapper' };
  const refusedAtFirst: SimulatedCustomer = { waId: '447700900604', name: 'Rita Retry' };

  const hubspotContact = (c: SimulatedCustomer) => hubspot.state.objects['contacts']?.find((r) => r.properties['whatsapp_id'] === `+${c.waId}`);
  const lead = (c: SimulatedCustomer) => salesforce.state.records['Lead']!.find((r) => r['WhatsApp_Id__c'] === `+${c.waId}`);
  const zendeskUser = (c: SimulatedCustomer) => zendesk.state.users.find((u) => u.external_id === `+${c.waId}`);
  const hubspotNotes = (c: SimulatedCustomer) => {
    const id = hubspotContact(c)?.id;
    const linked = new Set(hubspot.state.associations.filter((a) => a.from === 'notes' && a.toId === id).map((a) => a.fromId));
    return (hubspot.state.objects['notes'] ?? []).filter((n) => linked.has(n.id) && (n.properties['hs_note_body'] ?? '').includes('opted out of marketing'));
  };
  const optOutTasks = (c: SimulatedCustomer) => salesforce.state.records['Task']!.filter((t) => t['WhoId'] === lead(c)?.Id && String(t['Subject']).includes('opted out'));

  beforeAll(async () => {
    // The service window's write of a message settles 1 s (60 s by default), so it is done before a test breaks Zendesk on purpose.
    ({ service, configPath } = await serviceWithThreeCrms({ hubspot, salesforce, zendesk }, { accessToken: 'EAAG-consent-test', extra: { sync: { windowWriteSettleSeconds: 1 } } }));
  }, 120_000);

  afterAll(async () => {
    if (process.env['DEBUG_E2E']) console.log(service.output.slice(-6000));
    await service.kill('SIGTERM');
    await Promise.all([hubspot.stop(), salesforce.stop(), zendesk.stop()]);
  });

  it('an opt-out by webhook, keyword or button reaches every CRM as a field and a timeline note; an opt-in clears it', { timeout: 180_000 }, async () => {
    await service.deliver(simulator.userPreferences(byWebhook, 'stop', now()));
    await service.deliver(simulator.message(byKeyword, { type: 'text', text: { body: 'hello, a question about my order' } }, now()).body);
    await service.deliver(simulator.message(byKeyword, { type: 'text', text: { body: 'STOP' } }, now() + 1).body);
    await service.deliver(simulator.message(byButton, { type: 'button', button: { text: 'Stop promotions', payload: 'STOP' } }, now()).body);
    await service.deliver(simulator.message(byButton, { type: 'text', text: { body: 'Start' } }, now() + 5).body);

    const everyone = [byWebhook, byKeyword, byButton];
    await waitFor(() => everyone.every((c) => hubspotContact(c)?.properties['whatsapp_marketing_consent']), 90_000, 'consent on every HubSpot contact');
    await waitFor(() => everyone.every((c) => lead(c)?.['WhatsApp_Marketing_Consent__c']), 90_000, 'consent on every Salesforce Lead');
    await waitFor(() => zendeskUser(byWebhook)?.tags?.includes('whatsapp_opted_out') === true && zendeskUser(byKeyword)?.tags?.includes('whatsapp_opted_out') === true, 90_000, 'the Zendesk tags');
    await waitFor(() => zendesk.state.tickets.some((t) => t.comments.some((c) => !c.public && c.body.includes('opted out of marketing'))), 90_000, 'the Zendesk note');
    await waitFor(async () => (await run(process.execPath, [bin, 'status', '--config', configPath])).stdout.includes('consent writes not done') === false, 90_000, 'every consent write done');

    // HubSpot: setup made the properties (a dropdown with both values, a datetime); values written, opt-outs noted once.
    const property = hubspot.state.properties['contacts']!.find((p) => p.name === 'whatsapp_marketing_consent')!;
    expect(property).toMatchObject({ type: 'enumeration' });
    expect(property.options!.map((o) => o.value)).toEqual(['opted_in', 'opted_out']);
    expect(hubspotContact(byWebhook)!.properties).toMatchObject({ whatsapp_marketing_consent: 'opted_out', whatsapp_consent_changed_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) });
    expect(hubspotContact(byKeyword)!.properties['whatsapp_marketing_consent']).toBe('opted_out');
    expect(hubspotContact(byButton)!.properties['whatsapp_marketing_consent']).toBe('opted_in');
    expect(hubspotNotes(byWebhook)).toHaveLength(1);
    expect(hubspotNotes(byWebhook)[0]!.properties['hs_note_body']).toContain("in WhatsApp's own settings");
    expect(hubspotNotes(byKeyword)[0]!.properties['hs_note_body']).toContain('by writing an opt-out word');
    expect(hubspotNotes(byButton)[0]!.properties['hs_note_body']).toContain('by tapping an opt-out button');

    // Salesforce: the picklist and the time on the Lead, a Task per opt-out.
    expect(lead(byWebhook)).toMatchObject({ WhatsApp_Marketing_Consent__c: 'opted_out', WhatsApp_Consent_Changed_At__c: expect.stringMatching(/T/) });
    expect(lead(byKeyword)!['WhatsApp_Marketing_Consent__c']).toBe('opted_out');
    expect(lead(byButton)!['WhatsApp_Marketing_Consent__c']).toBe('opted_in');
    for (const c of everyone) expect(optOutTasks(c)).toHaveLength(1);

    // Zendesk: the tag while opted out, removed on opt-in; the note on the ticket of the person who wrote STOP.
    expect(zendeskUser(byButton)!.tags ?? []).not.toContain('whatsapp_opted_out');
    const keywordTicket = zendesk.state.tickets.find((t) => t.requester_id === zendeskUser(byKeyword)!.id)!;
    expect(keywordTicket.comments.filter((c) => !c.public && c.body.includes('opted out of marketing'))).toHaveLength(1);
  });

  it('a consent write Zendesk refuses is retried, shown by status meanwhile, and lands once Zendesk takes it', { timeout: 180_000 }, async () => {
    await service.deliver(simulator.message(refusedAtFirst, { type: 'text', text: { body: 'hi there' } }, now()).body);
    await waitFor(() => zendesk.state.tickets.some((t) => t.requester_id === zendeskUser(refusedAtFirst)?.id), 90_000, 'the ticket');
    // The message's customer service window write goes first on the person's key: let it land.
    await waitFor(() => zendeskUser(refusedAtFirst)?.user_fields?.['whatsapp_window_open_until'] !== undefined, 90_000, 'the window on the end user');
    // Every update (tags, ticket comments) answers 503 for now.
    zendesk.chaos.set({ rate: 1, kinds: ['server-error'], methods: ['PUT', 'DELETE'] });
    // By webhook: the consent write is the person's only operation (a keyword's comment write would go first, refused the same).
    await service.deliver(simulator.userPreferences(refusedAtFirst, 'stop', now() + 1));
    type Status = { consentWrites: Array<{ connector: string; status: string; attempts: number; lastError: string | null }> };
    const status = async () => JSON.parse((await run(process.execPath, [bin, 'status', '--json', '--config', configPath])).stdout) as Status;
    await waitFor(async () => ((await status()).consentWrites[0]?.attempts ?? 0) > 1, 90_000, 'a retried consent write in status');
    expect((await status()).consentWrites).toEqual([expect.objectContaining({ connector: 'zendesk', status: 'opted_out', lastError: expect.stringMatching(/503|unavailable/i) })]);
    const shown = (await run(process.execPath, [bin, 'status', '--config', configPath])).stdout;
    expect(shown).toMatch(/consent writes not done: 1\n\s+zendesk\s+opted-out of \S+ \(operation \d+\): (waiting|being written), \d+ attempts so far; last error: /);
    // Who it is stays out of the output: the operation id leads to it.
    expect(shown).not.toContain('447700900604');
    expect(zendeskUser(refusedAtFirst)!.tags ?? []).not.toContain('whatsapp_opted_out');

    zendesk.chaos.set(undefined);
    await waitFor(() => zendeskUser(refusedAtFirst)?.tags?.includes('whatsapp_opted_out') === true, 90_000, 'the tag after the refusals');
    // The opt-out is noted on the person's ticket too, once.
    await waitFor(() => zendesk.state.tickets.some((t) => t.requester_id === zendeskUser(refusedAtFirst)!.id && t.comments.some((c) => !c.public && c.body.includes("in WhatsApp's own settings"))), 90_000, 'the note');
    await waitFor(async () => !(await run(process.execPath, [bin, 'status', '--config', configPath])).stdout.includes('consent writes not done'), 90_000, 'status clear');
  });
});
