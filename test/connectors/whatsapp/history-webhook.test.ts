// Coexistence onboarding webhooks: `history` chunks and `smb_app_state_sync` contacts.
import { describe, expect, it } from 'vitest';
import { MEDIA_NOT_SHARED_TEXT, MEDIA_PENDING_TEXT, parseWhatsAppDelivery } from '../../../connectors/whatsapp/webhook.js';
import type { InboundAppContactEvent, InboundHistoryChunkEvent, InboundMessageEvent } from '../../../core/model/types.js';
import { FIXTURE, readExample } from '../../helpers/fixtures.js';

/** The day the fixtures' onboarding happened: 2025-12-01, a little after their newest message. */
const ONBOARDED_AT = 1_764_583_920_000;

function parse(name: string, receivedAt = ONBOARDED_AT) {
  const parsed = parseWhatsAppDelivery(readExample(name), receivedAt);
  expect(parsed.problems).toEqual([]);
  return {
    messages: parsed.events.filter((e): e is InboundMessageEvent => e.kind === 'message'),
    chunks: parsed.events.filter((e): e is InboundHistoryChunkEvent => e.kind === 'history.chunk'),
    contacts: parsed.events.filter((e): e is InboundAppContactEvent => e.kind === 'app.contact'),
    all: parsed.events,
  };
}

describe('history webhooks', () => {
  it('reads a chunk: its phase, order and progress, and every message of every thread as history', () => {
    const { messages, chunks, all } = parse('history-chunk');
    expect(chunks).toEqual([{ kind: 'history.chunk', businessNumberId: FIXTURE.phoneNumberId, phase: 1, chunkOrder: 2, progress: 55, threads: 2, messages: 5, errors: [] }]);
    expect(messages).toHaveLength(5);
    expect(all.some((e) => e.kind === 'status' || e.kind === 'account')).toBe(false);
    for (const m of messages) expect(m.history).toBeDefined();
  });

  it("tells the customer's messages from the business's own, with their device time and app status", () => {
    const [question, answer] = parse('history-chunk').messages;
    expect(question).toMatchObject({ direction: 'inbound', sentAt: 1_762_338_600_000, text: 'Is the workshop open on Saturday?', history: { status: 'read', placeholder: false } });
    expect(answer).toMatchObject({ direction: 'outbound', sentAt: 1_762_339_020_000, text: 'Yes, 9 to 1. Bring the kettle along.' });
    // The business's message names the customer as its recipient, like an echo.
    expect(answer!.customer.waId).toBe(FIXTURE.customerWaId);
  });

  it("names the thread's person by every identifier its context gives", () => {
    const { messages } = parse('history-chunk');
    expect(messages[0]!.customer).toEqual({ waId: FIXTURE.customerWaId, bsuid: 'GB.13491208655302741918', parentBsuid: null, username: 'priya.fixes' });
    // A thread without context is named by its id, the customer's number.
    expect(messages[3]!.customer).toEqual({ waId: '447700900519', bsuid: null, parentBsuid: null, username: null });
  });

  it('marks media placeholders: recent ones wait for their file, older than 14 days say WhatsApp does not share them', () => {
    const { messages } = parse('history-chunk');
    expect(messages[2]).toMatchObject({ media: null, text: MEDIA_PENDING_TEXT, history: { placeholder: true, status: 'delivered' } });
    expect(messages[3]).toMatchObject({ media: null, text: MEDIA_NOT_SHARED_TEXT, history: { placeholder: true } });
    expect(MEDIA_NOT_SHARED_TEXT).toContain('media not shared by WhatsApp (older than 14 days)');
    // Age counts from when the webhook came, not from when it is parsed.
    expect(parse('history-chunk', 1_763_710_200_000 + 15 * 86_400_000).messages[2]!.text).toBe(MEDIA_NOT_SHARED_TEXT);
  });

  it('reads the later webhook that gives a placeholder its media id', () => {
    const { messages } = parse('history-media');
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatchObject({
      messageId: parse('history-chunk').messages[2]!.messageId,
      media: { kind: 'image', mediaId: '1904417730286615' },
      history: { placeholder: false },
    });
  });

  it('reports a declined history share as a chunk carrying error 2593109 and no messages', () => {
    const { messages, chunks } = parse('history-declined');
    expect(messages).toEqual([]);
    expect(chunks).toHaveLength(1);
    expect(chunks[0]).toMatchObject({ phase: null, progress: null, messages: 0 });
    expect(chunks[0]!.errors[0]).toMatchObject({ code: 2593109 });
  });

  it('flags an unreadable history message and keeps the rest of the chunk', () => {
    const body = JSON.parse(readExample('history-chunk'));
    delete body.entry[0].changes[0].value.history[0].threads[0].messages[1].id;
    const parsed = parseWhatsAppDelivery(JSON.stringify(body), ONBOARDED_AT);
    expect(parsed.problems).toEqual([expect.stringContaining('history[0].threads[0].messages[1]')]);
    expect(parsed.events.filter((e) => e.kind === 'message')).toHaveLength(4);
  });

  it('flags a history value it cannot read instead of dropping it', () => {
    const body = JSON.parse(readExample('history-chunk'));
    body.entry[0].changes[0].value.history[0].metadata.phase = 7;
    const parsed = parseWhatsAppDelivery(JSON.stringify(body), ONBOARDED_AT);
    expect(parsed.problems).toEqual([expect.stringMatching(/^entry\[0\]\.changes\[0\]: not a history value/)]);
  });
});

describe('smb_app_state_sync webhooks', () => {
  it("reads the app's contacts, added and removed, with their names", () => {
    const { contacts } = parse('smb-app-state-sync');
    expect(contacts).toHaveLength(3);
    expect(contacts[0]).toEqual({
      kind: 'app.contact',
      businessNumberId: FIXTURE.phoneNumberId,
      customer: { waId: FIXTURE.customerWaId, bsuid: null, parentBsuid: null, username: null },
      fullName: 'Priya Raman',
      firstName: 'Priya',
      action: 'add',
      at: 1_764_583_000_000,
    });
    expect(contacts[2]).toMatchObject({ action: 'remove', fullName: null, customer: { waId: '447700900519' } });
  });

  it('flags a contact that names nobody', () => {
    const body = JSON.parse(readExample('smb-app-state-sync'));
    delete body.entry[0].changes[0].value.state_sync[0].contact.phone_number;
    const parsed = parseWhatsAppDelivery(JSON.stringify(body), ONBOARDED_AT);
    expect(parsed.problems).toEqual([expect.stringContaining('state_sync[0]: a contact with neither phone_number nor user_id')]);
    expect(parsed.events).toHaveLength(2);
  });
});
