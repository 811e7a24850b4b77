// What each connector queues for a message of an imported chat history: the CRMs log the past on
// background keys (behind live work), with no new-conversation tasks; Zendesk opens no tickets.
import { describe, expect, it } from 'vitest';
import { toOperationDrafts as hubspotDrafts } from '../../connectors/hubspot/mappers.js';
import { toOperationDrafts as salesforceDrafts } from '../../connectors/salesforce/mappers.js';
import { toOperationDrafts as whatsappDrafts } from '../../connectors/whatsapp/mappers.js';
import { toOperationDrafts as zendeskDrafts } from '../../connectors/zendesk/mappers.js';
import type { Contact, Message, ModelChange, Thread } from '../../core/model/types.js';

const contact: Contact = { id: 'c1', crmKey: '+447700900461', waId: '+447700900461' as Contact['waId'], bsuid: null, parentBsuid: null, username: null, userId: null, profileName: 'Priya', createdAt: 1, updatedAt: 1 };
const thread: Thread = { id: 't1', contactId: 'c1', businessNumberId: '214880073361540', startedAt: 1_000, lastMessageAt: 1_000 };
const message = (history: boolean, media = false): Message => ({
  id: 'wamid.1',
  threadId: 't1',
  contactId: 'c1',
  direction: 'inbound',
  type: media ? 'image' : 'text',
  originalType: media ? 'image' : 'text',
  text: 'hello',
  media: media ? { kind: 'image', mediaId: 'm1', mimeType: 'image/jpeg' } : null,
  sentAt: 1_000,
  arrivalSeq: 1,
  status: null,
  replyToId: null,
  origin: null,
  warnings: [],
  ...(history ? { history: true } : {}),
});
const recorded = (history: boolean, extra: { refilled?: boolean; media?: boolean } = {}): ModelChange => ({ type: 'message.recorded', contact, thread, threadCreated: true, message: message(history, extra.media), ...(extra.refilled ? { refilled: true } : {}) });
const stored = (history: boolean): ModelChange => ({ type: 'media.stored', contact, message: message(history, true), media: { messageId: 'wamid.1', sha256: 'ab', mimeType: 'image/jpeg', size: 3, path: '/m/ab', filename: null } });

describe('history messages at each connector', () => {
  it('HubSpot logs a past message on its own background key, with no thread task', () => {
    const live = hubspotDrafts(recorded(false), { mediaUpload: true, threadActivity: true });
    expect(live.map((d) => [d.kind, d.orderingKey])).toEqual([['message.log', 'contact:c1'], ['thread.activity', 'contact:c1']]);
    const past = hubspotDrafts(recorded(true), { mediaUpload: true, threadActivity: true });
    expect(past).toEqual([expect.objectContaining({ kind: 'message.log', key: 'wamid.1', orderingKey: 'background:message:wamid.1' })]);
    // Its media attach to the logged record, after it (same key).
    expect(hubspotDrafts(stored(true), { mediaUpload: true, threadActivity: true })).toEqual([expect.objectContaining({ kind: 'media.attach', orderingKey: 'background:message:wamid.1' })]);
    // A placeholder filled later is written again.
    expect(hubspotDrafts(recorded(true, { refilled: true }), { mediaUpload: true, threadActivity: true })).toEqual([expect.objectContaining({ key: 'wamid.1:media' })]);
  });

  it("Salesforce writes the past into the Task on one background key per thread, so two batches never rewrite one thread's Task at once", () => {
    expect(salesforceDrafts(recorded(false), { mediaFiles: true })[0]).toMatchObject({ orderingKey: 'contact:c1' });
    expect(salesforceDrafts(recorded(true), { mediaFiles: true })).toEqual([expect.objectContaining({ kind: 'thread.log', key: 'wamid.1', orderingKey: 'background:thread:t1' })]);
    // Its media attach to that Task, after it (same key).
    expect(salesforceDrafts(stored(true), { mediaFiles: true })).toEqual([expect.objectContaining({ orderingKey: 'background:thread:t1' })]);
  });

  it('Zendesk opens no ticket and adds no comment or attachment for the past', () => {
    expect(zendeskDrafts(recorded(false)).length).toBe(1);
    expect(zendeskDrafts(recorded(true))).toEqual([]);
    expect(zendeskDrafts(stored(true))).toEqual([]);
    expect(zendeskDrafts(recorded(true), { settleMs: 0, history: 'none' })).toEqual([]);
  });

  it('Zendesk with history: solved-tickets queues one import per past message on a background key per thread, after the settle time', () => {
    const past = zendeskDrafts(recorded(true), { settleMs: 2000, history: 'solved-tickets', historySettleMs: 900_000 });
    expect(past).toEqual([expect.objectContaining({ kind: 'ticket.import', key: 'wamid.1', orderingKey: 'background:thread:t1', settleMs: 900_000 })]);
    // No live comment, no attachment, and a placeholder filled later is not imported again.
    expect(zendeskDrafts(stored(true), { settleMs: 0, history: 'solved-tickets' })).toEqual([]);
    expect(zendeskDrafts(recorded(true, { refilled: true }), { settleMs: 0, history: 'solved-tickets' })).toEqual([]);
    expect(zendeskDrafts(recorded(false), { settleMs: 0, history: 'solved-tickets' })).toEqual([expect.objectContaining({ kind: 'ticket.comment', orderingKey: 'contact:c1' })]);
  });

  it('WhatsApp fetches the media of the past behind live work', () => {
    expect(whatsappDrafts(recorded(false, { media: true }), { fetchMedia: true })[0]).toMatchObject({ orderingKey: 'media:wamid.1' });
    expect(whatsappDrafts(recorded(true, { media: true }), { fetchMedia: true })[0]).toMatchObject({ orderingKey: 'background:media:wamid.1' });
  });
});
