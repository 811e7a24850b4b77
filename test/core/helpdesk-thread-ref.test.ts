// A helpdesk that threads by its own conversation id (HubSpot's inbox) names our thread through
// its connector's refs: the engine finds the newest thread linked to that conversation.
import { describe, expect, it } from 'vitest';
import { parseWhatsAppDelivery } from '../../connectors/whatsapp/webhook.js';
import { Engine } from '../../core/engine.js';
import { DeliveryInbox } from '../../core/ingest.js';
import { silentLogger } from '../../core/logger.js';
import type { ModelChange, ParsedDelivery } from '../../core/model/types.js';
import { textWebhook } from '../helpers/fixtures.js';
import { recordingConnector } from '../helpers/recording-connector.js';
import { freshStorePerTest } from '../helpers/store-per-test.js';
import { STORE_KINDS } from '../helpers/stores.js';

/** A desk whose calls name a conversation (`{"conversation": "..."}`), never our thread id. */
function parseDesk(body: string): ParsedDelivery {
  const { conversation } = JSON.parse(body) as { conversation: string };
  return { events: [{ kind: 'helpdesk', connector: 'desk', recordId: `${conversation}:m1`, threadId: null, threadRef: { kind: 'conversation', externalId: conversation } }], problems: [] };
}

describe.each(STORE_KINDS)('helpdesk thread refs on %s', (kind) => {
  const stores = freshStorePerTest(kind);

  it('a helpdesk event naming a conversation reaches the newest of our threads linked to it; an unknown one is flagged', async () => {
    const changes: ModelChange[] = [];
    const options = { servedNumbers: [], threadGapMs: 60_000 };
    const engine = new Engine({ store: stores.store, parsers: { whatsapp: parseWhatsAppDelivery, desk: parseDesk }, connectors: () => [recordingConnector(changes)], log: silentLogger(), options: () => options });
    const inbox = new DeliveryInbox(stores.store);
    // Two threads of one customer (a gap longer than threadGapMs between them), both published to conversation 5551.
    await inbox.accept('whatsapp', textWebhook({ from: '447700900123', id: 'wamid.1', timestamp: 1_760_000_000, body: 'first' }));
    await inbox.accept('whatsapp', textWebhook({ from: '447700900123', id: 'wamid.2', timestamp: 1_760_100_000, body: 'later' }));
    await engine.processPending();
    const threads = await stores.store.db.selectFrom('threads').select(['id', 'last_message_at']).orderBy('last_message_at', 'asc').execute();
    expect(threads).toHaveLength(2);
    for (const thread of threads) await stores.store.db.insertInto('external_refs').values({ connector: 'desk', kind: 'conversation', local_id: thread.id, external_id: '5551', updated_at: 0 }).execute();

    changes.length = 0;
    await inbox.accept('desk', JSON.stringify({ conversation: '5551' }));
    await inbox.accept('desk', JSON.stringify({ conversation: '9999' }));
    const result = await engine.processPending();
    expect(changes.filter((c) => c.type === 'helpdesk.updated').map((c) => c.type === 'helpdesk.updated' && c.thread.id)).toEqual([threads[1]!.id]);
    expect(result.flagged).toBe(1);
    const flagged = await stores.store.db.selectFrom('webhook_deliveries').select('problems').where('state', '=', 'flagged').executeTakeFirstOrThrow();
    expect(flagged.problems).toContain('conversation 9999, which no WhatsApp thread of ours was published to');
  });
});
