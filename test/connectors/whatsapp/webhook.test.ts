import { describe, expect, it } from 'vitest';
import { parseWhatsAppDelivery } from '../../../connectors/whatsapp/webhook.js';
import type { InboundMessageEvent, InboundStatusEvent } from '../../../core/model/types.js';
import { exampleNames, readExample } from '../../helpers/fixtures.js';

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
    expect(event.fromWaId).toBe('16505551234');
    expect(event.businessNumberId).toBe('106540352242922');
    expect(event.sentAt % 1000).toBe(0);
    expect(event.text.length).toBeGreaterThan(0);
  });

  it('renders each message type as readable text', () => {
    expect(onlyMessage('message-text').text).toBe('Does it come in another color?');
    expect(onlyMessage('message-image').text).toBe('[image] Taj Mahal');
    expect(onlyMessage('message-audio-voice').text).toBe('[voice message]');
    expect(onlyMessage('message-document').text).toBe('[document: invoice-4471.pdf] invoice');
    expect(onlyMessage('message-location').text).toContain('[location] Philz Coffee (101 Forest Ave, Palo Alto, CA 94301)');
    expect(onlyMessage('message-contacts').text).toBe('[contact card] Lucía Gómez (Google) +1 (983) 555-2319');
    expect(onlyMessage('message-interactive-list-reply').text).toBe('[list reply] Priority Mail Express - Next Day to 2 Days');
    expect(onlyMessage('message-interactive-button-reply').text).toMatch(/^\[button reply\] /);
    expect(onlyMessage('message-button').text).toBe('[button] Unsubscribe');
    expect(onlyMessage('message-reaction').text).toBe('[reaction 👍]');
    expect(onlyMessage('message-order').text).toBe('[order: 2 items] 2 x di9ozbzfi4 @ 30 USD; 1 x nqryix03ez @ 25 USD');
    expect(onlyMessage('message-system').text).toBe('User Sheena Nelson changed from 16505551234 to 12195555358');
    expect(onlyMessage('message-unsupported').text).toBe('[unsupported message type unsupported] (Message type unknown)');
    expect(onlyMessage('message-text-forwarded').text).toBe('[forwarded] forwarded text');
    expect(onlyMessage('message-text-frequently-forwarded').text).toMatch(/^\[frequently forwarded\] /);
    expect(onlyMessage('message-text-context-referred-product').text).toContain('(about product di9ozbzfi4 in catalog 194836987003835)');
    expect(onlyMessage('message-text-referral-ctwa-ad').text).toContain('(via ad "Chat with us" https://fb.me/3cr4Wqqkv)');
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
    expect(onlyMessage('message-image').media).toMatchObject({ kind: 'image', mediaId: '1003383421387256', mimeType: 'image/jpeg' });
    expect(onlyMessage('message-audio-voice').media).toMatchObject({ kind: 'audio', voice: true });
    expect(onlyMessage('message-document').media).toMatchObject({ kind: 'document', filename: 'invoice-4471.pdf' });
    expect(onlyMessage('message-text').media).toBeNull();
  });

  it('reads the new number from a user_changed_number system message', () => {
    expect(onlyMessage('message-system').newWaId).toBe('12195555358');
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
