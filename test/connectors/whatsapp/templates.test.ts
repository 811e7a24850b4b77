// The WhatsApp Business Account's templates as the outbound API reads them from the sandbox
// (Meta's GET /{waba-id}/message_templates, paged), what each template needs, and send errors
// explained in plain words on a failed status and on a refused send.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { whatsappConnector } from '../../../connectors/whatsapp/index.js';
import type { WhatsAppConnector } from '../../../connectors/whatsapp/connector.js';
import { classifyGraphError } from '../../../connectors/whatsapp/client.js';
import { parseWhatsAppDelivery } from '../../../connectors/whatsapp/webhook.js';
import { whatsappSection } from '../../../core/config/schema.js';
import { silentLogger } from '../../../core/logger.js';
import type { InboundStatusEvent } from '../../../core/model/types.js';
import { checkTemplate, TemplateCache } from '../../../core/outbound/templates.js';
import { WhatsAppSandbox } from '../../../sandbox/whatsapp.js';
import { testContext } from '../../helpers/context.js';
import { readExample } from '../../helpers/fixtures.js';
import { toOperationDrafts as hubspotDrafts } from '../../../connectors/hubspot/mappers.js';

describe('templates from the WhatsApp Business Account', () => {
  const sandbox = new WhatsAppSandbox();
  let connector: WhatsAppConnector;
  let graphBaseUrl: string;
  beforeAll(async () => {
    graphBaseUrl = await sandbox.start();
    // More than one page (the client asks for 100 at a time).
    for (let i = 0; i < 150; i++) sandbox.templates.push({ id: String(5000 + i), name: `bulk_${i}`, language: 'en_US', status: 'APPROVED', category: 'UTILITY', parameter_format: 'POSITIONAL', components: [{ type: 'BODY', text: 'Item {{1}}' }] });
    sandbox.templates.push({ id: '6001', name: 'with_header', language: 'en_US', status: 'APPROVED', category: 'MARKETING', parameter_format: 'POSITIONAL', components: [{ type: 'HEADER', format: 'TEXT', text: 'Hi {{1}}' }, { type: 'BODY', text: 'Offer {{1}}' }] });
    sandbox.templates.push({
      id: '6002', name: 'track_order', language: 'en_US', status: 'APPROVED', category: 'UTILITY', parameter_format: 'POSITIONAL',
      components: [{ type: 'BODY', text: 'Your order shipped.' }, { type: 'BUTTONS', buttons: [{ type: 'QUICK_REPLY', text: 'Thanks' }, { type: 'URL', text: 'Track', url: 'https://shop.example/track/{{1}}' }, { type: 'URL', text: 'Shop', url: 'https://shop.example/' }] }],
    });
    sandbox.templates.push({ id: '6003', name: 'with_image', language: 'en_US', status: 'APPROVED', category: 'MARKETING', parameter_format: 'POSITIONAL', components: [{ type: 'HEADER', format: 'IMAGE' }, { type: 'BODY', text: 'New in' }] });
    connector = whatsappConnector.create(whatsappSection.parse({ appSecret: 'a', verifyToken: 'b', accessToken: sandbox.accessToken, graphBaseUrl, businessAccountId: '102290129340398' }), { log: silentLogger(), mediaDir: '/tmp' }) as WhatsAppConnector;
  });
  afterAll(async () => {
    await sandbox.stop();
  });

  it('reads every page and counts each template\'s body parameters, positional or named', async () => {
    const templates = await connector.listTemplates(testContext());
    expect(templates).toHaveLength(sandbox.templates.length);
    expect(templates.find((t) => t.name === 'order_shipped')).toMatchObject({ language: 'en_US', status: 'APPROVED', category: 'UTILITY', parameterFormat: 'POSITIONAL', bodyParameters: ['1', '2'], headerParameters: [], urlButtons: [], mediaHeader: null });
    expect(templates.find((t) => t.name === 'appointment_reminder')).toMatchObject({ parameterFormat: 'NAMED', bodyParameters: ['first_name', 'day'] });
    expect(templates.find((t) => t.name === 'with_header')).toMatchObject({ headerParameters: ['1'], headerText: 'Hi {{1}}' });
    // Buttons count from 0 across all kinds: the URL button with a parameter is the second.
    expect(templates.find((t) => t.name === 'track_order')).toMatchObject({ urlButtons: [1] });
    expect(templates.find((t) => t.name === 'with_image')).toMatchObject({ mediaHeader: 'IMAGE' });
    expect(checkTemplate(templates, { name: 'with_header', language: 'en_US', parameters: ['x'] })).toMatchObject({ ok: false, field: 'template.header', error: 'template "with_header" takes 1 header parameter, 0 given' });
    expect(checkTemplate(templates, { name: 'with_header', language: 'en_US', parameters: ['x'], header: ['Jane'] })).toMatchObject({ ok: true });
    expect(checkTemplate(templates, { name: 'with_image', language: 'en_US', parameters: [] })).toMatchObject({ ok: false, field: 'template.name', error: expect.stringMatching(/IMAGE header, which this API does not fill/) });
  });

  it('an account id WhatsApp does not know is refused, not taken for an empty list', async () => {
    const other = whatsappConnector.create(whatsappSection.parse({ appSecret: 'a', verifyToken: 'b', accessToken: sandbox.accessToken, graphBaseUrl, businessAccountId: '999' }), { log: silentLogger(), mediaDir: '/tmp' }) as WhatsAppConnector;
    await expect(other.listTemplates(testContext())).rejects.toMatchObject({ status: 400, code: '100' });
  });

  it('the cache reads the account once per TTL, and once for callers asking together', async () => {
    let reads = 0;
    const cache = new TemplateCache(() => ({ listTemplates: () => (reads++, connector.listTemplates(testContext())) }), () => 60_000);
    await Promise.all([cache.templates(), cache.templates(), cache.templates()]);
    await cache.templates();
    expect(reads).toBe(1);
    await cache.templates(Date.now() + 61_000);
    expect(reads).toBe(2);
  });
});

describe('send errors in plain words', () => {
  it('a failed status carries what 131047 means and what to do', () => {
    const status = parseWhatsAppDelivery(readExample('status-failed-131047-reengagement')).events[0] as InboundStatusEvent;
    expect(status.errors[0]).toMatchObject({ code: 131047, explanation: expect.stringMatching(/24 hours[\s\S]*send a template/) });
  });

  it.each([
    [131026, /could not deliver[\s\S]*check the number/],
    [131049, /chose not to deliver[\s\S]*try again later/],
    [132001, /does not exist in this language/],
  ])('a send refused with %s says why in the error', (code, words) => {
    const error = classifyGraphError(400, JSON.stringify({ error: { message: 'refused', code } }), null);
    expect(error.message).toMatch(words);
    expect(error.retryable).toBe(false);
  });
});

describe('send errors explained on the CRM records', () => {
  const contact = { id: 'c1', crmKey: '+447700900123', waId: '+447700900123' as const, bsuid: null, parentBsuid: null, username: null, userId: null, profileName: 'Jane', createdAt: 0, updatedAt: 0 };
  const message = { id: 'wamid.OUT', threadId: 't1', contactId: 'c1', direction: 'outbound' as const, type: 'text' as const, originalType: 'text', text: 'Spring sale', media: null, sentAt: 0, arrivalSeq: 1, status: 'failed' as const, replyToId: null, origin: 'api', warnings: [] };

  it('a failed status on the HubSpot communication says what the error means', () => {
    const status = parseWhatsAppDelivery(readExample('status-failed-131047-reengagement')).events[0] as InboundStatusEvent;
    const drafts = hubspotDrafts({ type: 'message.status', contact, message, status: 'failed', at: 0, messageId: message.id, errors: status.errors }, { mediaUpload: false, threadActivity: false });
    expect(drafts[0]!.payload).toMatchObject({ statusNote: expect.stringMatching(/131047[\s\S]*What it means: more than 24 hours/) });
  });
});
