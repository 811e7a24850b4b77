// Sending agents' replies through the Cloud API, HTTP mocked with nock: the 24-hour customer
// service window, templates, files, each part tagged with its callback data, and no second send
// after a lost answer while its statuses may still come.
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import nock from 'nock';
import { describe, expect, it } from 'vitest';
import { whatsappConnector } from '../../../connectors/whatsapp/index.js';
import { CALLBACK_DATA_MAX_CHARS, KIND, callbackDataFor } from '../../../connectors/whatsapp/mappers.js';
import { whatsappSection } from '../../../core/config/schema.js';
import { silentLogger } from '../../../core/logger.js';
import type { OutboundReply } from '../../../core/model/types.js';
import { claimedOperation, testContext } from '../../helpers/context.js';
import { onlyMockedHttp } from '../../helpers/nock.js';
import { FIXTURE, readExample } from '../../helpers/fixtures.js';
import { tempDir } from '../../helpers/stores.js';

const GRAPH = 'https://graph.facebook.com';
const NUMBER_ID = '106540352242922';
const connector = whatsappConnector.create(whatsappSection.parse({ appSecret: 'a', verifyToken: 'b', accessToken: 'EAAG-token' }), { log: silentLogger(), mediaDir: '/tmp' });

const reply = (extra: Partial<OutboundReply> = {}): OutboundReply => ({ origin: 'zendesk', sourceId: '14', sourceRecord: '4107', text: 'Your order ships today.', attachments: [], template: null, ...extra });
const sendOp = (r: OutboundReply, attempts = 1) =>
  claimedOperation('whatsapp', KIND.send, { contactId: 'c1', threadId: 't-1', to: '+447700900123', businessNumberId: NUMBER_ID, reply: r }, { attempts });
const answer = (id: string) => ({ messaging_product: 'whatsapp', contacts: [{ input: '+447700900123', wa_id: '447700900123' }], messages: [{ id }] });

describe('WhatsApp replies', () => {
  onlyMockedHttp();

  it('sends a text reply inside the 24-hour window and records it as an outbound message of the thread', async () => {
    let sent: any;
    nock(GRAPH, { reqheaders: { authorization: 'Bearer EAAG-token' } })
      .post(`/v23.0/${NUMBER_ID}/messages`, (b) => ((sent = b), true))
      .reply(200, answer('wamid.R1'));
    const context = testContext();
    context.lastInbound.set('c1', Date.now() - 3_600_000);
    const [outcome] = await connector.execute([sendOp(reply())], context);
    expect(sent).toEqual({ messaging_product: 'whatsapp', recipient_type: 'individual', to: '+447700900123', type: 'text', text: { body: 'Your order ships today.', preview_url: false }, biz_opaque_callback_data: 'wa-crm-sync:zendesk:14:0' });
    expect(outcome).toMatchObject({ ok: true, effects: [{ type: 'message.sent', threadId: 't-1', messageId: 'wamid.R1', origin: 'zendesk', text: 'Your order ships today.' }] });
  });

  it("builds text and template requests of the spec examples' shape and reads the example answer", async () => {
    const bodies: unknown[] = [];
    const example = JSON.parse(readExample('send-response'));
    nock(GRAPH).post(`/v23.0/${NUMBER_ID}/messages`, (b) => (bodies.push(b), true)).times(2).reply(200, example);
    const textContext = testContext();
    textContext.lastInbound.set('c1', Date.now());
    const [text] = await connector.execute([sendOp(reply({ text: 'Your kettle is ready: collect it any time before 5 pm.' }))], textContext);
    const [template] = await connector.execute([sendOp(reply({ sourceId: '15', template: { name: 'repair_ready', language: 'en_GB', parameters: ['2093'] } }))], testContext());
    // The fixtures are addressed to the fixture customer; ours to the operation's recipient.
    // They carry no callback data either; ours is checked in the first test.
    const withTo = (b: unknown) => {
      const { biz_opaque_callback_data: _tag, ...rest } = b as Record<string, unknown>;
      return { ...rest, to: FIXTURE.customerWaId };
    };
    expect(withTo(bodies[0])).toEqual(JSON.parse(readExample('send-request-text')));
    expect(withTo(bodies[1])).toEqual(JSON.parse(readExample('send-request-template')));
    expect(text).toMatchObject({ ok: true, result: { messageIds: [example.messages[0].id] } });
    expect(template).toMatchObject({ ok: true });
  });

  it("fails a send that Graph refuses (its error envelope) without retrying, keeping Meta's code and message", async () => {
    nock(GRAPH).post(`/v23.0/${NUMBER_ID}/messages`).reply(400, JSON.parse(readExample('send-error-response')));
    const context = testContext();
    context.lastInbound.set('c1', Date.now() - 3_600_000);
    const [outcome] = await connector.execute([sendOp(reply())], context);
    expect(outcome).toMatchObject({ ok: false, error: { status: 400, retryable: false, code: '131047', message: expect.stringMatching(/Re-engagement message/) } });
  });

  it('outside the window sends the configured template, with the ticket number as its parameter', async () => {
    let sent: any;
    nock(GRAPH).post(`/v23.0/${NUMBER_ID}/messages`, (b) => ((sent = b), true)).reply(200, answer('wamid.T1'));
    const context = testContext();
    context.lastInbound.set('c1', Date.now() - 30 * 3_600_000);
    const [outcome] = await connector.execute([sendOp(reply({ template: { name: 'ticket_update', language: 'en_US', parameters: ['4107'] } }))], context);
    expect(sent).toMatchObject({ type: 'template', template: { name: 'ticket_update', language: { policy: 'deterministic', code: 'en_US' }, components: [{ type: 'body', parameters: [{ type: 'text', text: '4107' }] }] } });
    expect(outcome).toMatchObject({ ok: true, effects: [{ type: 'message.sent', messageId: 'wamid.T1', text: '[template ticket_update]' }] });
  });

  it('outside the window with no template sends nothing and says why, for a note on the ticket', async () => {
    const context = testContext();
    context.lastInbound.set('c1', Date.now() - 30 * 3_600_000);
    const [outcome] = await connector.execute([sendOp(reply())], context);
    expect(outcome).toMatchObject({ ok: true, effects: [{ type: 'reply.undeliverable', threadId: 't-1', reason: expect.stringMatching(/last wrote 30 h ago.*24-hour customer service window is closed.*outsideWindowTemplate/) }] });
  });

  it('uploads an attachment and sends it by media id; a retry after WhatsApp refused a part sends only what was not sent', async () => {
    const dir = tempDir();
    const path = join(dir, 'manual');
    writeFileSync(path, Buffer.from('%PDF-1.7'));
    const file = { path, sha256: createHash('sha256').update('%PDF-1.7').digest('hex'), mimeType: 'application/pdf', size: 8, filename: 'manual.pdf' };
    const context = testContext();
    context.lastInbound.set('c1', Date.now() - 60_000);
    let document: any;
    nock(GRAPH)
      .post(`/v23.0/${NUMBER_ID}/messages`)
      .reply(200, answer('wamid.TXT'))
      .post(`/v23.0/${NUMBER_ID}/media`, (b) => String(b).includes('name="messaging_product"') && String(b).includes('%PDF-1.7'))
      .reply(200, { id: 'media-77' })
      .post(`/v23.0/${NUMBER_ID}/messages`)
      .reply(500, { error: { message: 'An unexpected error has occurred. Please retry your request later.', type: 'OAuthException', code: 2 } });
    const [first] = await connector.execute([sendOp(reply({ attachments: [file] }))], context);
    expect(first).toMatchObject({ ok: false, error: { retryable: true } });
    nock(GRAPH)
      .post(`/v23.0/${NUMBER_ID}/media`)
      .reply(200, { id: 'media-78' })
      .post(`/v23.0/${NUMBER_ID}/messages`, (b) => ((document = b), true))
      .reply(200, answer('wamid.DOC'));
    const [second] = await connector.execute([sendOp(reply({ attachments: [file] }), 2)], context);
    expect(document).toMatchObject({ type: 'document', document: { id: 'media-78', filename: 'manual.pdf' } });
    expect(second).toMatchObject({ ok: true, result: { sent: 2, messageIds: ['wamid.TXT', 'wamid.DOC'] } });
    expect(nock.isDone()).toBe(true);
  });

  it('after a lost answer waits for the statuses instead of sending again, and resends once the wait is over', async () => {
    const context = testContext();
    context.lastInbound.set('c1', Date.now() - 60_000);
    nock(GRAPH).post(`/v23.0/${NUMBER_ID}/messages`).replyWithError({ code: 'ECONNRESET', message: 'socket hang up' });
    const sentAt = Date.now();
    const [first] = await connector.execute([sendOp(reply())], context);
    expect(first).toMatchObject({ ok: false, error: { name: 'TransportError', retryable: true } });

    // The retry makes no request (nock would refuse one): it waits, looking again every 2 s for a
    // status that came while it was still in flight, within lostAnswerWaitSeconds (60).
    const checkedAt = Date.now();
    const [waiting] = await connector.execute([sendOp(reply(), 2)], context);
    expect(waiting).toMatchObject({ ok: false, error: { name: 'DeferredError' } });
    const until = (waiting as unknown as { error: { untilMs: number } }).error.untilMs;
    expect(until).toBeGreaterThanOrEqual(checkedAt + 2_000);
    expect(until).toBeLessThanOrEqual(Math.min(Date.now() + 2_000, sentAt + 60_000));

    // A status echoing the callback data makes the engine keep the wamid: the part counts as sent.
    context.refs.set('sent:zendesk:14:0', 'wamid.ARRIVED');
    const [settled] = await connector.execute([sendOp(reply(), 2)], context);
    expect(settled).toMatchObject({ ok: true, result: { messageIds: ['wamid.ARRIVED'] }, effects: [{ type: 'message.sent', messageId: 'wamid.ARRIVED' }] });

    // No status ever: past the wait the part goes again, and the origin hears of it.
    context.refs.delete('sent:zendesk:14:0');
    const pending = JSON.parse(context.refs.get('sending:wa-crm-sync:zendesk:14:0')!);
    context.refs.set('sending:wa-crm-sync:zendesk:14:0', JSON.stringify({ ...pending, sentAt: Date.now() - 61_000 }));
    let resent: any;
    nock(GRAPH).post(`/v23.0/${NUMBER_ID}/messages`, (b) => ((resent = b), true)).reply(200, answer('wamid.AGAIN'));
    const [again] = await connector.execute([sendOp(reply(), 3)], context);
    expect(resent).toMatchObject({ biz_opaque_callback_data: 'wa-crm-sync:zendesk:14:0' });
    expect(again).toMatchObject({ ok: true, effects: [{ type: 'reply.resent', reason: expect.stringMatching(/no status for it came within 60 s/) }, { type: 'message.sent', messageId: 'wamid.AGAIN' }] });
  });

  it('tags each part with its idempotency key, hashed when it would exceed the 512 characters WhatsApp allows', () => {
    expect(callbackDataFor('zendesk:14:1')).toBe('wa-crm-sync:zendesk:14:1');
    const long = callbackDataFor(`zendesk:${'9'.repeat(600)}:0`);
    expect(long).toMatch(/^wa-crm-sync:sha256:[0-9a-f]{64}$/);
    expect(long.length).toBeLessThanOrEqual(CALLBACK_DATA_MAX_CHARS);
  });
});

describe('WhatsApp replies to a customer who withholds the number', () => {
  onlyMockedHttp();
  const BSUID = 'GB.80412277419022635518';
  const bsuidOp = (r: OutboundReply) =>
    claimedOperation('whatsapp', KIND.send, { contactId: 'c1', threadId: 't-1', recipient: { waId: null, bsuid: BSUID, parentBsuid: null }, businessNumberId: NUMBER_ID, reply: r });

  it('addresses the reply by recipient (the BSUID), never by to', async () => {
    let sent: any;
    nock(GRAPH)
      .post(`/v23.0/${NUMBER_ID}/messages`, (b) => ((sent = b), true))
      .reply(200, { messaging_product: 'whatsapp', contacts: [{ input: BSUID, user_id: BSUID }], messages: [{ id: 'wamid.B1' }] });
    const context = testContext();
    context.lastInbound.set('c1', Date.now() - 60_000);
    const [outcome] = await connector.execute([bsuidOp(reply())], context);
    expect(sent).toMatchObject({ messaging_product: 'whatsapp', recipient_type: 'individual', recipient: BSUID, type: 'text', text: { body: 'Your order ships today.', preview_url: false } });
    expect(sent).not.toHaveProperty('to');
    expect(outcome).toMatchObject({ ok: true, effects: [{ type: 'message.sent', messageId: 'wamid.B1' }] });
  });

  it('turns a 131062 refusal into an undeliverable reply saying what the agent can do, not a retry', async () => {
    nock(GRAPH)
      .post(`/v23.0/${NUMBER_ID}/messages`)
      .reply(400, { error: { message: '(#131062) Business-scoped User ID recipients are not supported for this message.', type: 'OAuthException', code: 131062 } });
    const [outcome] = await connector.execute([bsuidOp(reply({ template: { name: 'login_code', language: 'en', parameters: [] } }))], testContext());
    expect(outcome).toMatchObject({ ok: true });
    const effects = (outcome as unknown as { effects: Array<{ type: string; reason?: string }> }).effects;
    expect(effects).toHaveLength(1);
    expect(effects[0]!.type).toBe('reply.undeliverable');
    expect(effects[0]!.reason).toMatch(/error 131062.*withholds their phone number\). What you can do: answer with plain text or a file while the 24-hour window is open, use a template that is not a one-tap, zero-tap or copy-code authentication template, or ask the customer to share their phone number/);
  });
});
