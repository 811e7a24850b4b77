import { describe, expect, it } from 'vitest';
import { parseWhatsAppDelivery } from '../../../connectors/whatsapp/webhook.js';
import type { InboundMessageEvent, InboundStatusEvent } from '../../../core/model/types.js';
import { exampleNames, FIXTURE, readExample } from '../../helpers/fixtures.js';

function onlyMessage(name: string): InboundMessageEvent {
  const parsed = parseWhatsAppDelivery(readExample(name));
  expect(parsed.problems).toEqual([]);
  expect(parsed.events).toHaveLength(1);
  const event = parsed.events[0]!;
  expect(event.kind).toBe('message');
  return event as InboundMessageEvent;
}

describe('WhatsApp webhook parsing', () => {
  it.each(exampleNames('message-'))('parses %s without problems', (name) => {
    const event = onlyMessage(name);
    expect(event.messageId).toMatch(/^wamid\./);
    expect(event.customer.waId).toBe(FIXTURE.customerWaId);
    expect(event.businessNumberId).toBe(FIXTURE.phoneNumberId);
    expect(event.sentAt % 1000).toBe(0);
    expect(event.text.length).toBeGreaterThan(0);
  });

  it('renders each message type as readable text', () => {
    expect(onlyMessage('message-text').text).toBe('Hello, is my kettle repair ready to collect?');
    expect(onlyMessage('message-image').text).toBe('[image] Cracked lid');
    expect(onlyMessage('message-audio-voice').text).toBe('[voice message]');
    expect(onlyMessage('message-document').text).toBe('[document: receipt-2093.pdf] receipt');
    expect(onlyMessage('message-location').text).toBe('[location] Harbour Lane Workshop (4 Harbour Lane, Whitby YO21 1AB) 54.48613,-0.61477 https://www.openstreetmap.org/?mlat=54.48613&mlon=-0.61477#map=17/54.48613/-0.61477 https://harbour-lane.example/workshop');
    expect(onlyMessage('message-contacts').text).toBe('[contact card] Tomasz Wójcik (Northgate Lettings) phone +44 7700 900518 (work), +44 1947 600123 (home) email tomasz@northgate-lettings.example (work), t.wojcik@mail.example (home)');
    expect(onlyMessage('message-interactive-list-reply').text).toBe('[list reply] Thursday 2-5 pm - Collection at the counter');
    expect(onlyMessage('message-interactive-button-reply').text).toBe('[button reply] Confirm');
    expect(onlyMessage('message-button').text).toBe('[button] Stop reminders');
    expect(onlyMessage('message-reaction').text).toBe('[reaction 🙏]');
    expect(onlyMessage('message-order').text).toBe('[order: 2 items] 1 x filter-jug-2l at GBP 18.50; 3 x descaler-6pk at GBP 4.00; total GBP 30.50 (note: Please add gift wrap)');
    expect(onlyMessage('message-system').text).toBe(`User ${FIXTURE.customerName} changed from ${FIXTURE.customerWaId} to ${FIXTURE.customerNewWaId}`);
    expect(onlyMessage('message-unsupported').text).toBe('[unsupported message type unsupported] (Message type unknown)');
    expect(onlyMessage('message-text-forwarded').text).toBe('[forwarded] Opening hours this week: 9 to 5');
    expect(onlyMessage('message-text-frequently-forwarded').text).toBe('[frequently forwarded] Win a free toaster, just share this message!');
    expect(onlyMessage('message-text-context-referred-product').text).toBe('Do you have this one in stock? (about product kettle-ks200-blue in catalog 582017364490215)');
    expect(onlyMessage('message-text-referral-ctwa-ad').text).toBe('Hi, I saw your ad. Can you fix a coffee grinder? (via ad "Message us about a repair" https://fb.me/8Kq2mVtLp)');
  });

  it('keeps an unknown message type with its raw payload', () => {
    const event = onlyMessage('message-unknown-with-errors');
    expect(event.type).toBe('unsupported');
    expect(event.originalType).toBe('unknown');
    expect(event.text).toBe('[unsupported message type unknown] (Message type unknown)');
    expect(event.errors[0]?.code).toBe(131051);
    expect(event.raw).toMatchObject({ type: 'unknown' });
  });

  it('keeps media references for media messages', () => {
    expect(onlyMessage('message-image').media).toMatchObject({ kind: 'image', mediaId: '2281945630017742', mimeType: 'image/jpeg', caption: 'Cracked lid' });
    expect(onlyMessage('message-audio-voice').media).toMatchObject({ kind: 'audio', voice: true });
    expect(onlyMessage('message-document').media).toMatchObject({ kind: 'document', filename: 'receipt-2093.pdf', mimeType: 'application/pdf' });
    expect(onlyMessage('message-text').media).toBeNull();
  });

  it.each(['..', '.', '../v23.0/me', '1%2F..', '123/../456', ''])('keeps a media message whose id is %j, without its media reference, saying why', (id) => {
    const body = readExample('message-image').replace('"id": "2281945630017742"', `"id": ${JSON.stringify(id)}`);
    expect(body).not.toBe(readExample('message-image'));
    const parsed = parseWhatsAppDelivery(body);
    expect(parsed.problems).toEqual([]);
    const event = parsed.events[0] as InboundMessageEvent;
    expect(event).toMatchObject({ kind: 'message', type: 'image', text: '[image] Cracked lid', media: null });
    expect(event.errors).toEqual([expect.objectContaining({ title: 'media id refused', message: expect.stringMatching(/not a Graph API media id .* the raw webhook body is kept/) })]);
  });

  it('links a reply and a reaction to the message they answer', () => {
    const reply = JSON.parse(readExample('message-text-reply')).entry[0].changes[0].value.messages[0];
    expect(onlyMessage('message-text-reply').replyToId).toBe(reply.context.id);
    const reaction = JSON.parse(readExample('message-reaction')).entry[0].changes[0].value.messages[0];
    expect(onlyMessage('message-reaction').replyToId).toBe(reaction.reaction.message_id);
    expect(onlyMessage('message-text').replyToId).toBeNull();
  });

  it('reads the new number from a user_changed_number system message', () => {
    expect(onlyMessage('message-system').newWaId).toBe(FIXTURE.customerNewWaId);
  });

  it.each(exampleNames('status-'))('parses %s', (name) => {
    const parsed = parseWhatsAppDelivery(readExample(name));
    expect(parsed.problems).toEqual([]);
    const status = parsed.events[0] as InboundStatusEvent;
    expect(status.kind).toBe('status');
    expect(['sent', 'delivered', 'read', 'failed']).toContain(status.status);
  });

  it('keeps the error code of a failed status', () => {
    const status = parseWhatsAppDelivery(readExample('status-failed-131047-reengagement')).events[0] as InboundStatusEvent;
    expect(status.status).toBe('failed');
    expect(status.errors[0]?.code).toBe(131047);
  });

  it.each(exampleNames('field-'))('routes %s as an account event by its field', (name) => {
    const parsed = parseWhatsAppDelivery(readExample(name));
    expect(parsed.problems).toEqual([]);
    expect(parsed.events).toEqual([expect.objectContaining({ kind: 'account', field: name.replace(/^field-/, '') })]);
  });

  it('surfaces value-level errors as an account event', () => {
    const parsed = parseWhatsAppDelivery(readExample('value-level-errors'));
    expect(parsed.events).toEqual([expect.objectContaining({ kind: 'account', field: 'messages.errors' })]);
  });

  it('reports malformed JSON as a problem instead of throwing', () => {
    const parsed = parseWhatsAppDelivery('{"object": "whatsapp_business_account", "entry": [');
    expect(parsed.events).toEqual([]);
    expect(parsed.problems[0]).toMatch(/not valid JSON/);
  });

  it('reports an unknown envelope as a problem', () => {
    expect(parseWhatsAppDelivery('{"object":"page","entry":[]}').problems[0]).toMatch(/not a WhatsApp Business Account webhook/);
  });

  it('keeps the good messages of a delivery when one is malformed', () => {
    const body = JSON.parse(readExample('message-text'));
    body.entry[0].changes[0].value.messages.push({ id: 'wamid.broken', type: 'text' });
    const parsed = parseWhatsAppDelivery(JSON.stringify(body));
    expect(parsed.events).toHaveLength(1);
    expect(parsed.problems).toHaveLength(1);
    expect(parsed.problems[0]).toMatch(/messages\[1\]/);
  });
});
