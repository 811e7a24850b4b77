// Messages explain themselves in every CRM: real-shaped webhooks (test/fixtures/whatsapp) through
// the real engine, which looks up what a reaction or reply points at in the store, then through
// each CRM connector's own planning and body mappers, to the text each one writes.
import { describe, expect, it } from 'vitest';
import { hubspotConnector } from '../../../connectors/hubspot/index.js';
import { KIND as HUBSPOT, communicationBody, type MessagePayload } from '../../../connectors/hubspot/mappers.js';
import { hubspotSettingsSchema } from '../../../connectors/hubspot/settings.js';
import { salesforceConnector } from '../../../connectors/salesforce/index.js';
import { transcript } from '../../../connectors/salesforce/mappers.js';
import { salesforceSettingsSchema } from '../../../connectors/salesforce/settings.js';
import { webhookConnector } from '../../../connectors/webhook/index.js';
import { KIND as WEBHOOK, eventBody, messageForwardPayload } from '../../../connectors/webhook/mappers.js';
import { webhookSettingsSchema } from '../../../connectors/webhook/settings.js';
import { parseWhatsAppDelivery } from '../../../connectors/whatsapp/webhook.js';
import { zendeskConnector } from '../../../connectors/zendesk/index.js';
import { commentBody, isPublic } from '../../../connectors/zendesk/mappers.js';
import { zendeskSettingsSchema } from '../../../connectors/zendesk/settings.js';
import type { ThreadMessage } from '../../../core/connector.js';
import { Engine } from '../../../core/engine.js';
import { DeliveryInbox } from '../../../core/ingest.js';
import { silentLogger } from '../../../core/logger.js';
import { explainReference } from '../../../core/model/references.js';
import { listOperations } from '../../../core/outbox/queries.js';
import { readExample } from '../../helpers/fixtures.js';
import { freshStorePerTest } from '../../helpers/store-per-test.js';

const deps = { log: silentLogger(), mediaDir: '/tmp' };
const crms = () => [
  hubspotConnector.create(hubspotSettingsSchema.parse({ enabled: true, accessToken: 'pat-na1-test' }), deps),
  salesforceConnector.create(salesforceSettingsSchema.parse({ enabled: true, instanceUrl: 'https://acme.my.salesforce.com', accessToken: '00Dxx!token' }), deps),
  zendeskConnector.create(zendeskSettingsSchema.parse({ enabled: true, subdomain: 'acme', email: 'agent@acme.test', apiToken: 'zd-token', autoSetup: false }), deps),
  webhookConnector.create(webhookSettingsSchema.parse({ enabled: true, url: 'https://hooks.example/wa-events' }), deps),
];

const decodeHtml = (html: string) =>
  html
    .replace(/<br>/g, '\n')
    .replace(/<[^>]+>/g, ' ')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');

const messageIdOf = (fixture: string) => (JSON.parse(readExample(fixture)) as { entry: [{ changes: [{ value: { messages: [{ id: string }] } }] }] }).entry[0].changes[0].value.messages[0].id;

describe('messages explain themselves in every CRM', () => {
  const current = freshStorePerTest('sqlite');

  /** Ingests the fixtures in order, then returns what each CRM writes for one message. */
  async function written(fixtures: readonly string[], messageFixture: string): Promise<Record<'hubspot' | 'salesforce' | 'zendesk' | 'webhook', string>> {
    const { store } = current;
    const engine = new Engine({ store, parsers: { whatsapp: parseWhatsAppDelivery }, connectors: crms, log: silentLogger(), options: () => ({ threadGapMs: 86_400_000, servedNumbers: [] }) });
    const inbox = new DeliveryInbox(store);
    for (const fixture of fixtures) {
      await inbox.accept('whatsapp', readExample(fixture));
      await engine.processPending();
    }
    const id = messageIdOf(messageFixture);
    const ops = await listOperations(store.db, { limit: 1000 });
    const hubspot = ops.find((o) => o.connector === 'hubspot' && o.kind === HUBSPOT.message && (o.payload as MessagePayload).messageId === id)!;
    const forward = ops.find((o) => o.connector === 'webhook' && o.kind === WEBHOOK.message && (o.payload as { messageId: string }).messageId === id)!;
    // Salesforce's Task and Zendesk's comment are written from the thread's messages as the dispatcher reads them.
    const rows = await store.db.selectFrom('messages').selectAll().orderBy('sent_at').orderBy('arrival_seq').execute();
    const thread: ThreadMessage[] = rows.map((m) => ({ id: m.id, direction: m.direction as 'inbound' | 'outbound', text: m.text, sentAt: m.sent_at, arrivalSeq: m.arrival_seq, origin: m.origin, warnings: [] }));
    const message = thread.find((m) => m.id === id)!;
    return {
      hubspot: decodeHtml(communicationBody(hubspot.payload as MessagePayload)),
      salesforce: transcript(thread),
      zendesk: commentBody([message], isPublic(message)),
      webhook: (JSON.parse(eventBody(forward.kind, forward.idempotencyKey, messageForwardPayload.parse(forward.payload))) as { data: { text: string } }).data.text,
    };
  }

  const everywhere = (bodies: Record<string, string>, text: string) => {
    for (const [crm, body] of Object.entries(bodies)) expect(body, crm).toContain(text);
  };

  const QUESTION = 'We can collect the kettle on Thursday afternoon or Friday morning. Which suits you?';

  it('a reaction quotes the message it reacts to', async () => {
    everywhere(await written(['echo-text', 'message-reaction'], 'message-reaction'), `[reaction 🙏] to our message "${QUESTION}"`);
  });

  it('a removed reaction says so, and which message it was on', async () => {
    everywhere(await written(['echo-text', 'message-reaction', 'message-reaction-removed'], 'message-reaction-removed'), `[reaction removed] from our message "${QUESTION}"`);
  });

  it('a reaction to a message we never received says so instead of quoting nothing', async () => {
    everywhere(await written(['message-reaction'], 'message-reaction'), '[reaction 🙏] to a message that is not in this record');
  });

  it('a reply shows what it replies to', async () => {
    everywhere(await written(['echo-text', 'message-text-reply'], 'message-text-reply'), `(in reply to our message "${QUESTION}") Thursday afternoon works for me`);
  });

  it('a quote of a reply quotes its words, not what it replied to; a flagged message is not quoted', () => {
    const reply = { text: `(in reply to our message "${QUESTION}") Thursday works`, direction: 'inbound' as const, warnings: [] };
    expect(explainReference({ type: 'reaction', text: '[reaction 👍]', replyToId: 'wamid.x' }, reply)).toBe(`[reaction 👍] to the customer's message "Thursday works"`);
    const phishing = { text: '⚠️ Suspicious link: …\n\nlog in at http://examp1e.test/login', direction: 'inbound' as const, warnings: ['suspicious_link'] };
    expect(explainReference({ type: 'text', text: 'did you get it?', replyToId: 'wamid.y' }, phishing)).toBe(`(in reply to the customer's message (a message with a suspicious link, see above)) did you get it?`);
  });

  it('a location carries an OpenStreetMap link with its coordinates, name and address', async () => {
    const bodies = await written(['message-location'], 'message-location');
    everywhere(bodies, 'Harbour Lane Workshop (4 Harbour Lane, Whitby YO21 1AB)');
    everywhere(bodies, 'https://www.openstreetmap.org/?mlat=54.48613&mlon=-0.61477#map=17/54.48613/-0.61477');
  });

  it('a contact card lists every phone and email', async () => {
    const bodies = await written(['message-contacts'], 'message-contacts');
    everywhere(bodies, 'Tomasz Wójcik (Northgate Lettings)');
    for (const detail of ['+44 7700 900518 (work)', '+44 1947 600123 (home)', 'tomasz@northgate-lettings.example (work)', 't.wojcik@mail.example (home)']) everywhere(bodies, detail);
  });

  it('a button reply shows the option and the question it answers, when we have the question', async () => {
    everywhere(
      await written(['echo-interactive-button', 'message-interactive-button-reply'], 'message-interactive-button-reply'),
      '[button reply] Confirm (answering our message "Shall we collect the kettle on Thursday? [options: Confirm / Another day]")',
    );
  });

  it('a list reply shows the option and the list it was chosen from', async () => {
    everywhere(
      await written(['echo-interactive-list', 'message-interactive-list-reply'], 'message-interactive-list-reply'),
      '[list reply] Thursday 2-5 pm - Collection at the counter (answering our message "Pick a collection slot [options: Thursday 9-12 / Thursday 2-5 pm]")',
    );
  });

  it("a template's quick-reply button shows its text; the question is not claimed when we never saw it", async () => {
    const bodies = await written(['message-button'], 'message-button');
    everywhere(bodies, '[button] Stop reminders');
    for (const body of Object.values(bodies)) expect(body).not.toContain('answering');
  });

  it('an order lists its items and total', async () => {
    everywhere(await written(['message-order'], 'message-order'), '[order: 2 items] 1 x filter-jug-2l at GBP 18.50; 3 x descaler-6pk at GBP 4.00; total GBP 30.50 (note: Please add gift wrap)');
  });
});
