// A status webhook of a message this service sent names the reply it was sent for (origin and the
// origin's id), read from the part's sent ref, so the reply's origin can show what became of it.
import { describe, expect, it } from 'vitest';
import { callbackDataFor } from '../../connectors/whatsapp/mappers.js';
import { parseWhatsAppDelivery } from '../../connectors/whatsapp/webhook.js';
import { PENDING_SEND_REF, SENT_MESSAGE_REF, encodePendingSend, parseSentPartKey, sentPartKey } from '../../core/connector.js';
import { Engine } from '../../core/engine.js';
import { DeliveryInbox } from '../../core/ingest.js';
import { silentLogger } from '../../core/logger.js';
import type { ModelChange } from '../../core/model/types.js';
import { WhatsAppSimulator } from '../../sandbox/whatsapp.js';
import { statusWebhook } from '../helpers/fixtures.js';
import { recordingConnector } from '../helpers/recording-connector.js';
import { freshStorePerTest } from '../helpers/store-per-test.js';
import { STORE_KINDS } from '../helpers/stores.js';

describe('sent part keys', () => {
  it('round-trip a source id holding colons; anything else is not a part key', () => {
    const part = { origin: 'desk', sourceId: 'ack:5551:m1', index: 2 };
    expect(sentPartKey(part)).toBe('desk:ack:5551:m1:2');
    expect(parseSentPartKey(sentPartKey(part))).toEqual(part);
    for (const key of ['desk', 'desk:1', ':m1:0', 'desk::0', 'desk:m1:x']) expect(parseSentPartKey(key)).toBeUndefined();
  });
});

describe.each(STORE_KINDS)('statuses of our replies on %s', (kind) => {
  const stores = freshStorePerTest(kind);
  const statuses = (changes: ModelChange[]) => changes.filter((c): c is Extract<ModelChange, { type: 'message.status' }> => c.type === 'message.status');

  it("a status names the reply its message was sent for; a stranger's names none", async () => {
    const changes: ModelChange[] = [];
    const engine = new Engine({ store: stores.store, parsers: { whatsapp: parseWhatsAppDelivery }, connectors: () => [recordingConnector(changes)], log: silentLogger(), options: () => ({ servedNumbers: [], threadGapMs: 60_000 }) });
    const inbox = new DeliveryInbox(stores.store);
    const local = sentPartKey({ origin: 'desk', sourceId: 'msg:9', index: 1 });
    await stores.store.db.insertInto('external_refs').values({ ...SENT_MESSAGE_REF, local_id: local, external_id: 'wamid.OURS', updated_at: 0 }).execute();
    await inbox.accept('whatsapp', statusWebhook({ id: 'wamid.OURS', status: 'read', recipient: '447700900123', timestamp: 1_760_000_000 }));
    await inbox.accept('whatsapp', statusWebhook({ id: 'wamid.STRANGER', status: 'read', recipient: '447700900123', timestamp: 1_760_000_000 }));
    await engine.processPending();
    const [ours, stranger] = statuses(changes);
    expect(ours).toMatchObject({ messageId: 'wamid.OURS', status: 'read', reply: { origin: 'desk', sourceId: 'msg:9' } });
    expect(stranger).toMatchObject({ messageId: 'wamid.STRANGER' });
    expect(stranger!.reply).toBeUndefined();
  });

  it("a status of a send whose answer was lost names its reply too (found by the send's callback data)", async () => {
    const changes: ModelChange[] = [];
    const engine = new Engine({ store: stores.store, parsers: { whatsapp: parseWhatsAppDelivery }, connectors: () => [recordingConnector(changes)], log: silentLogger(), options: () => ({ servedNumbers: [], threadGapMs: 60_000 }) });
    const part = sentPartKey({ origin: 'desk', sourceId: 'msg-10', index: 0 });
    const callbackData = callbackDataFor(part);
    await stores.store.db.insertInto('external_refs').values({ ...PENDING_SEND_REF, local_id: callbackData, external_id: encodePendingSend({ part, operation: 'op-1', sentAt: Date.now() }), updated_at: 0 }).execute();
    const simulator = new WhatsAppSimulator('secret');
    await new DeliveryInbox(stores.store).accept('whatsapp', simulator.status('wamid.LOST', '447700900123', 'sent', 1_760_000_000, undefined, callbackData));
    await engine.processPending();
    expect(statuses(changes)[0]).toMatchObject({ messageId: 'wamid.LOST', reply: { origin: 'desk', sourceId: 'msg-10' } });
  });
});
