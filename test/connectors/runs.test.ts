// Runs through the HubSpot, Salesforce and Zendesk connectors, as the dispatcher hands them (one
// customer's operations in queue order, several kinds): a run of N messages costs one vendor
// call, and a failure in the middle writes nothing of that customer after it until it succeeds.
// Real HTTP to the sandboxes, through a proxy that logs every request and injects the faults.
import { afterEach, describe, expect, it } from 'vitest';
import { hubspotConnector } from '../../connectors/hubspot/index.js';
import { KIND as HUBSPOT } from '../../connectors/hubspot/mappers.js';
import { hubspotSettingsSchema } from '../../connectors/hubspot/settings.js';
import { salesforceConnector } from '../../connectors/salesforce/index.js';
import { KIND as SALESFORCE } from '../../connectors/salesforce/mappers.js';
import { salesforceSettingsSchema } from '../../connectors/salesforce/settings.js';
import { zendeskConnector } from '../../connectors/zendesk/index.js';
import { KIND as ZENDESK } from '../../connectors/zendesk/mappers.js';
import { zendeskSettingsSchema } from '../../connectors/zendesk/settings.js';
import type { OperationOutcome, ThreadMessage } from '../../core/connector.js';
import { silentLogger } from '../../core/logger.js';
import type { OutboxOperation } from '../../core/outbox/queries.js';
import { HubSpotSandbox } from '../../sandbox/hubspot.js';
import { SalesforceSandbox } from '../../sandbox/salesforce.js';
import { ZendeskSandbox } from '../../sandbox/zendesk.js';
import { claimedOperation, testContext } from '../helpers/context.js';
import { tempDir } from '../helpers/stores.js';
import { VendorProxy } from '../helpers/vendor-proxy.js';

const N = 20;
const KEY = 'contact:c1';
const sentAt = (i: number) => Date.UTC(2026, 0, 5, 9, i);
const line = (i: number): ThreadMessage => ({ id: `m${i}`, direction: 'inbound', text: `message ${i}`, sentAt: sentAt(i), arrivalSeq: i, origin: null, warnings: [] });
const outcomeNames = (outcomes: readonly OperationOutcome[]) => outcomes.map((o) => (o.ok ? 'ok' : o.error.name));
/** The dispatcher's next claim after a failure: the same operations from the failed one on, that one's attempt counted. */
const retried = (ops: readonly OutboxOperation[], failed: readonly OperationOutcome[]) =>
  ops.map((op, i) => ({ ...op, attempts: op.attempts + (failed[i]!.ok || failed[i]!.error.name === 'NotAttemptedError' ? 0 : 1) }));

let stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const stop of stops.reverse()) await stop();
  stops = [];
});

async function behindProxy(sandbox: { start(): Promise<string>; stop(): Promise<void> }): Promise<{ proxy: VendorProxy; url: string }> {
  const proxy = new VendorProxy(await sandbox.start());
  const url = await proxy.start();
  stops.push(() => sandbox.stop(), () => proxy.stop());
  return { proxy, url };
}

describe('HubSpot runs', () => {
  it('logs a run of 20 messages of one customer in one communications call, and nothing after a failed one until it succeeds', async () => {
    // The sandbox keeps no unique values on communications (as documented): messages are created with their association inline.
    const sandbox = new HubSpotSandbox({ searchIndexDelayMs: 0 });
    const { proxy, url } = await behindProxy(sandbox);
    const connector = hubspotConnector.create(hubspotSettingsSchema.parse({ enabled: true, accessToken: 'pat-sandbox', baseUrl: url, timeoutMs: 5000, searchIndexWaitSeconds: 0 }), { log: silentLogger(), mediaDir: '/tmp' });
    expect(connector.metadata.maxRun).toBeGreaterThanOrEqual(N + 1);
    const context = testContext();
    await connector.setup!(context);
    const op = (kind: string, payload: Record<string, unknown>) => claimedOperation('hubspot', kind, payload, { orderingKey: KEY });
    const message = (i: number, direction = 'inbound') => op(HUBSPOT.message, { messageId: `m${i}`, contactId: 'c1', direction, text: `message ${i}`, sentAt: sentAt(i), status: null, statusNote: null });
    const contact = (name: string) => op(HUBSPOT.contact, { contactId: 'c1', waId: '+447700900123', profileName: name });

    const from = proxy.requests.length;
    const run = [contact('Sheena Nelson'), ...Array.from({ length: N }, (_, i) => message(i + 1))];
    expect(outcomeNames(await connector.execute(run, context))).toEqual(run.map(() => 'ok'));
    expect(proxy.since(from).filter((r) => r.includes('/communications'))).toEqual(['POST /crm/v3/objects/communications/batch/create']);
    const communications = sandbox.state.objects['communications'] ?? [];
    expect(communications.map((c) => c.properties['whatsapp_message_id']).sort()).toEqual(Array.from({ length: N }, (_, i) => `m${i + 1}`).sort());

    // Then: a contact update, two messages (the second ours), its status, one more message; the messages' call fails once.
    const status = op(HUBSPOT.status, { messageId: 'm22', contactId: 'c1', direction: 'outbound', text: 'message 22', sentAt: sentAt(22), status: 'delivered', statusNote: null });
    const second = [contact('Sheena N.'), message(21), message(22, 'outbound'), status, message(23)];
    proxy.failNext(/communications\/batch\/create/, 503, { status: 'error', message: 'Service unavailable', category: 'SERVICE_UNAVAILABLE' });
    const failedAt = proxy.requests.length;
    const failed = await connector.execute(second, context);
    expect(outcomeNames(failed)).toEqual(['ok', 'VendorError', 'VendorError', 'NotAttemptedError', 'NotAttemptedError']);
    // Nothing went after the refused call: no status, no later message.
    expect(proxy.since(failedAt).at(-1)).toBe('POST /crm/v3/objects/communications/batch/create');
    const again = retried(second.slice(1), failed.slice(1));
    const retryAt = proxy.requests.length;
    expect(outcomeNames(await connector.execute(again, context))).toEqual(['ok', 'ok', 'ok', 'ok']);
    // In queue order: both messages, then the status on the second, then the last message.
    expect(proxy.since(retryAt).filter((r) => r.includes('/communications/batch'))).toEqual([
      'POST /crm/v3/objects/communications/batch/create',
      'POST /crm/v3/objects/communications/batch/update',
      'POST /crm/v3/objects/communications/batch/create',
    ]);
    const ids = (sandbox.state.objects['communications'] ?? []).map((c) => c.properties['whatsapp_message_id']);
    for (const id of ['m21', 'm22', 'm23']) expect(ids.filter((m) => m === id)).toHaveLength(1);
  });
});

describe('Salesforce runs', () => {
  it('writes a run of 20 messages of one thread as one Task upsert, and nothing after a failed one until it succeeds', async () => {
    const sandbox = new SalesforceSandbox();
    const { proxy, url } = await behindProxy(sandbox);
    const connector = salesforceConnector.create(salesforceSettingsSchema.parse({ enabled: true, instanceUrl: url, accessToken: '00Dsandbox!token' }), { log: silentLogger(), mediaDir: '/tmp' });
    expect(connector.metadata.maxRun).toBeGreaterThanOrEqual(N + 1);
    const context = testContext();
    const op = (kind: string, payload: Record<string, unknown>) => claimedOperation('salesforce', kind, payload, { orderingKey: KEY });
    const activity = (i: number) => op(SALESFORCE.activity, { messageId: `m${i}`, contactId: 'c1', threadId: 't-1', arrivalSeq: i, threadStartedAt: sentAt(1), profileName: 'Sheena Nelson' });
    const person = (name: string) => op(SALESFORCE.person, { contactId: 'c1', waId: '+447700900123', profileName: name });
    context.threads.set('t-1', Array.from({ length: N }, (_, i) => line(i + 1)));

    const from = proxy.requests.length;
    const run = [person('Sheena Nelson'), ...Array.from({ length: N }, (_, i) => activity(i + 1))];
    expect(outcomeNames(await connector.execute(run, context))).toEqual(run.map(() => 'ok'));
    expect(proxy.since(from).filter((r) => r.includes('/Task'))).toEqual(['PATCH /services/data/v62.0/composite/sobjects/Task/WhatsApp_Thread_Id__c']);
    expect(sandbox.state.records['Task']).toHaveLength(1);

    // Then: a message, a change to the person, another message; the Task upsert fails once.
    context.threads.set('t-1', Array.from({ length: N + 2 }, (_, i) => line(i + 1)));
    const second = [activity(N + 1), person('Sheena N.'), activity(N + 2)];
    proxy.failNext(/composite\/sobjects\/Task/, 503, [{ errorCode: 'SERVER_UNAVAILABLE', message: 'Service unavailable' }]);
    const failedAt = proxy.requests.length;
    const failed = await connector.execute(second, context);
    expect(outcomeNames(failed)).toEqual(['VendorError', 'NotAttemptedError', 'NotAttemptedError']);
    expect(proxy.since(failedAt)).toEqual(['PATCH /services/data/v62.0/composite/sobjects/Task/WhatsApp_Thread_Id__c']);
    const retryAt = proxy.requests.length;
    expect(outcomeNames(await connector.execute(retried(second, failed), context))).toEqual(['ok', 'ok', 'ok']);
    // The Task first (it carries both messages, so the last costs no call), the person after it.
    const after = proxy.since(retryAt);
    expect(after[0]).toBe('PATCH /services/data/v62.0/composite/sobjects/Task/WhatsApp_Thread_Id__c');
    expect(after.filter((r) => r.includes('/Task'))).toHaveLength(1);
    expect(sandbox.state.records['Task']).toHaveLength(1);
  });
});

describe('Zendesk runs', () => {
  it('writes a run of 20 messages of one customer in one ticket call, and nothing after a failed one until it succeeds', async () => {
    const sandbox = new ZendeskSandbox({ jobQueuedMs: 20, jobWorkingMs: 20 });
    const { proxy, url } = await behindProxy(sandbox);
    const connector = zendeskConnector.create(zendeskSettingsSchema.parse({ enabled: true, baseUrl: url, ...sandbox.credentials, timeoutMs: 5000, autoSetup: false }), { log: silentLogger(), mediaDir: tempDir() });
    expect(connector.metadata.maxRun).toBeGreaterThanOrEqual(N + 1);
    const context = testContext();
    const op = (kind: string, payload: Record<string, unknown>) => claimedOperation('zendesk', kind, payload, { orderingKey: KEY });
    const comment = (i: number) => op(ZENDESK.comment, { messageId: `m${i}`, contactId: 'c1', threadId: 't-1', arrivalSeq: i, customerName: 'Sheena Nelson' });
    context.threads.set('t-1', Array.from({ length: N }, (_, i) => line(i + 1)));

    const from = proxy.requests.length;
    const run = [op(ZENDESK.user, { contactId: 'c1', waId: '+447700900123', profileName: 'Sheena Nelson' }), ...Array.from({ length: N }, (_, i) => comment(i + 1))];
    expect(outcomeNames(await connector.execute(run, context))).toEqual(run.map(() => 'ok'));
    expect(proxy.since(from).filter((r) => r.includes('/tickets'))).toEqual(['POST /api/v2/tickets.json']);
    const ticket = sandbox.state.tickets.find((t) => t.external_id === 't-1')!;
    expect(ticket.comments).toHaveLength(1);
    for (let i = 1; i <= N; i++) expect(ticket.comments[0]!.body).toContain(`message ${i}`);

    // Then: two messages and an internal note; the comment's update fails once.
    context.threads.set('t-1', Array.from({ length: N + 2 }, (_, i) => line(i + 1)));
    const note = op(ZENDESK.note, { threadId: 't-1', ticketId: null, body: 'a note after the messages' });
    const second = [comment(N + 1), comment(N + 2), note];
    proxy.failNext(/^PUT \/api\/v2\/tickets\//, 503, { error: 'ServiceUnavailable', description: 'Service unavailable' });
    const failedAt = proxy.requests.length;
    const failed = await connector.execute(second, context);
    expect(outcomeNames(failed)).toEqual(['VendorError', 'NotAttemptedError', 'NotAttemptedError']);
    expect(proxy.since(failedAt).filter((r) => r.startsWith('PUT'))).toHaveLength(1);
    expect(outcomeNames(await connector.execute(retried(second, failed), context))).toEqual(['ok', 'ok', 'ok']);
    // Both messages in one comment, then the note: in queue order, each once.
    const bodies = ticket.comments.map((c) => c.body);
    expect(bodies).toHaveLength(3);
    expect(bodies[1]).toContain(`message ${N + 1}`);
    expect(bodies[1]).toContain(`message ${N + 2}`);
    expect(bodies[2]).toBe('a note after the messages');
  });
});
