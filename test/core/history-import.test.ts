// Importing a coexistence onboarding's chat history: every past message once, with its time and
// direction, whatever order the chunks come in; live copies not written twice; placeholders filled.
import { describe, expect, it } from 'vitest';
import { parseWhatsAppDelivery } from '../../connectors/whatsapp/webhook.js';
import { Engine, type EngineOptions } from '../../core/engine.js';
import { DeliveryInbox } from '../../core/ingest.js';
import { silentLogger } from '../../core/logger.js';
import type { Store } from '../../core/store/store.js';
import type { ModelChange } from '../../core/model/types.js';
import { appContactsWebhook, historyWebhooks, type PastMessage } from '../../sandbox/whatsapp.js';
import { FIXTURE, messagesWebhook, readExample, textWebhook } from '../helpers/fixtures.js';
import { recordingConnector } from '../helpers/recording-connector.js';
import { freshStorePerTest } from '../helpers/store-per-test.js';
import { STORE_KINDS } from '../helpers/stores.js';

const business = { phoneNumberId: FIXTURE.phoneNumberId, displayNumber: FIXTURE.displayNumber };
const ONBOARDED = 1_764_583_920;

/** A seeded shuffle, so a failure can be replayed. */
function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  let state = seed;
  for (let i = out.length - 1; i > 0; i--) {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    const j = state % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

function pastChats(count: number): PastMessage[] {
  const customers = ['447700900461', '447700900519', '447700900602'];
  // Spread over 170 days, so every phase has chunks.
  return Array.from({ length: count }, (_, i) => ({
    id: `wamid.PAST${String(i).padStart(5, '0')}`,
    customer: customers[i % customers.length]!,
    fromBusiness: i % 2 === 1,
    timestamp: ONBOARDED - 170 * 86_400 + Math.floor((i * 170 * 86_400) / count),
    text: `past message ${i}`,
  }));
}

describe.each(STORE_KINDS)('history import on %s', (kind) => {
  const current = freshStorePerTest(kind);

  function setup(options: Partial<EngineOptions> = {}, sliceEvents?: number, around: { store?: Store; deliveriesStored?: () => number } = {}) {
    const changes: ModelChange[] = [];
    const connector = recordingConnector(changes);
    const engine = new Engine({
      ...(sliceEvents === undefined ? {} : { sliceEvents }),
      ...(around.deliveriesStored ? { deliveriesStored: around.deliveriesStored } : {}),
      store: around.store ?? current.store,
      parsers: { whatsapp: parseWhatsAppDelivery },
      connectors: () => [connector],
      log: silentLogger(),
      options: () => ({ threadGapMs: 24 * 3_600_000, servedNumbers: [], ...options }),
    });
    const inbox = new DeliveryInbox(current.store);
    const recorded = () => changes.filter((c): c is Extract<ModelChange, { type: 'message.recorded' }> => c.type === 'message.recorded');
    return { changes, engine, inbox, recorded };
  }

  it('records every past message once, with its original time and direction, whatever order the chunks come in', async () => {
    const { engine, inbox, recorded } = setup();
    const past = pastChats(120);
    const bodies = historyWebhooks(past, business, { chunkSize: 7, onboardedAt: ONBOARDED });
    expect(bodies.length).toBeGreaterThan(10);
    // Out of order, and a chunk delivered twice (Meta redelivers).
    for (const body of [...shuffled(bodies, 7), bodies[3]!]) await inbox.accept('whatsapp', body);
    for (let r = await engine.processPending(5); r.processed > 0 || r.sliced; r = await engine.processPending(5));

    const rows = await current.store.db.selectFrom('messages').selectAll().orderBy('sent_at').execute();
    expect(rows.map((r) => r.id)).toEqual(past.map((m) => m.id));
    for (const [i, row] of rows.entries()) {
      expect(row).toMatchObject({ sent_at: past[i]!.timestamp * 1000, direction: past[i]!.fromBusiness ? 'outbound' : 'inbound', text: past[i]!.text, history: 1 });
    }
    expect(recorded()).toHaveLength(120);
    expect(recorded().every((c) => c.message.history === true)).toBe(true);
    // Three people, each with their own number.
    expect(new Set(recorded().map((c) => c.contact.waId))).toEqual(new Set(['+447700900461', '+447700900519', '+447700900602']));
    const chunks = await current.store.db.selectFrom('history_chunks').selectAll().execute();
    expect(chunks).toHaveLength(bodies.length);
    expect(chunks.reduce((n, c) => n + c.messages, 0)).toBe(120);
    expect(Math.max(...chunks.map((c) => c.progress))).toBe(100);
  });

  it('processes a big history delivery in slices, and a live message stored meanwhile goes before the rest of it', async () => {
    const { engine, inbox, recorded } = setup({}, 50);
    // One phase (90 to 180 days back), one chunk of 120 messages: one delivery of 121 events.
    const past = pastChats(120).map((m, i) => ({ ...m, timestamp: ONBOARDED - 100 * 86_400 + i * 60 }));
    const bodies = historyWebhooks(past, business, { chunkSize: 1000, onboardedAt: ONBOARDED });
    expect(bodies).toHaveLength(1);
    const [body] = bodies;
    const inDelivery = past.length;
    await inbox.accept('whatsapp', body!);
    expect(await engine.processPending(20)).toMatchObject({ processed: 0, flagged: 0, sliced: true });
    expect(recorded()).toHaveLength(50);
    const [partWay] = await current.store.db.selectFrom('webhook_deliveries').select(['state', 'events_done']).execute();
    expect(partWay).toEqual({ state: 'pending', events_done: 50 });

    await inbox.accept('whatsapp', textWebhook({ from: '447700900777', id: 'wamid.LIVE', timestamp: ONBOARDED + 60, body: 'live now' }));
    expect(await engine.processPending(20)).toMatchObject({ processed: 1, sliced: false });
    // The live message came right after the first slice: none of the rest of the history was taken with it.
    expect(recorded().map((c) => c.message.id).indexOf('wamid.LIVE')).toBe(50);

    let calls = 0;
    for (let r = await engine.processPending(20); r.sliced || r.processed > 0; r = await engine.processPending(20)) calls++;
    expect(calls).toBe(Math.ceil((inDelivery + 1 - 50) / 50));
    const ids = recorded().map((c) => c.message.id).filter((id) => id !== 'wamid.LIVE');
    expect(new Set(ids).size).toBe(inDelivery);
    expect(ids).toHaveLength(inDelivery);
    const [done] = await current.store.db.selectFrom('webhook_deliveries').select(['state', 'problems']).where('id', '=', 1).execute();
    expect(done).toEqual({ state: 'processed', problems: null });
    expect(await current.store.db.selectFrom('history_chunks').select('messages').execute()).toEqual([{ messages: inDelivery }]);
  });

  it('ends a slice after the event under way when the thread acknowledging webhooks waits for the store, and never cuts a small delivery', async () => {
    let wanted = true;
    const { engine, inbox, recorded } = setup({}, 50, { store: { ...current.store, turnWanted: () => wanted } });
    const past = pastChats(120).map((m, i) => ({ ...m, timestamp: ONBOARDED - 100 * 86_400 + i * 60 }));
    const [body] = historyWebhooks(past, business, { chunkSize: 1000, onboardedAt: ONBOARDED });
    await inbox.accept('whatsapp', body!);
    const cursor = async () => (await current.store.db.selectFrom('webhook_deliveries').select('events_done').where('id', '=', 1).executeTakeFirstOrThrow()).events_done;
    // Wanted all along: one event per slice, so the delivery still moves on.
    expect(await engine.processPending(20)).toMatchObject({ sliced: true });
    expect(recorded()).toHaveLength(1);
    expect(await cursor()).toBe(1);
    // A live webhook of two messages is applied whole however much the store is wanted.
    const live = (id: string, at: number) => ({ from: '447700900777', id, timestamp: String(at), type: 'text', text: { body: id } });
    await inbox.accept('whatsapp', messagesWebhook({ contacts: [{ profile: { name: 'Live' }, wa_id: '447700900777' }], messages: [live('wamid.LIVE1', ONBOARDED + 60), live('wamid.LIVE2', ONBOARDED + 61)] }));
    expect(await engine.processPending(20)).toMatchObject({ processed: 1, sliced: false });
    expect(recorded().slice(1).map((c) => c.message.id)).toEqual(['wamid.LIVE1', 'wamid.LIVE2']);
    wanted = false;
    expect(await engine.processPending(20)).toMatchObject({ sliced: true });
    expect(await cursor()).toBe(51);
    for (let r = await engine.processPending(20); r.sliced || r.processed > 0; r = await engine.processPending(20));
    const ids = recorded().map((c) => c.message.id).filter((id) => !id.startsWith('wamid.LIVE'));
    expect(new Set(ids).size).toBe(past.length);
    expect(ids).toHaveLength(past.length);
  });

  it('ends a slice after the event under way when another delivery is stored meanwhile', async () => {
    // The count of stored deliveries moves while the slice's fourth event is next.
    let reads = 0;
    const { engine, inbox, recorded } = setup({}, 50, { deliveriesStored: () => (++reads > 3 ? 1 : 0) });
    const past = pastChats(120).map((m, i) => ({ ...m, timestamp: ONBOARDED - 100 * 86_400 + i * 60 }));
    const [body] = historyWebhooks(past, business, { chunkSize: 1000, onboardedAt: ONBOARDED });
    await inbox.accept('whatsapp', body!);
    expect(await engine.processPending(20)).toMatchObject({ sliced: true });
    expect(recorded()).toHaveLength(3);
    // From then on the count stays put: whole slices again.
    expect(await engine.processPending(20)).toMatchObject({ sliced: true });
    expect(recorded()).toHaveLength(53);
  });

  it('continues a sliced delivery where its last committed slice ended after a restart, every message once and in order', async () => {
    const first = setup({}, 40);
    const past = pastChats(90).map((m) => ({ ...m, customer: '447700900461' }));
    const [body] = historyWebhooks(past, business, { chunkSize: 1000, onboardedAt: ONBOARDED });
    await first.inbox.accept('whatsapp', body!);
    expect(await first.engine.processPending()).toMatchObject({ sliced: true });
    // A new engine (the processing thread started again) keeps nothing in memory.
    const second = setup({}, 40);
    for (let r = await second.engine.processPending(); r.sliced || r.processed > 0; r = await second.engine.processPending());
    const ids = [...first.recorded(), ...second.recorded()].map((c) => c.message.id);
    const rows = await current.store.db.selectFrom('messages').select(['id']).orderBy('arrival_seq').execute();
    const phaseOrder = JSON.parse(body!).entry[0].changes[0].value.history[0].threads[0].messages.map((m: { id: string }) => m.id);
    expect(ids).toEqual(phaseOrder);
    expect(rows.map((r) => r.id)).toEqual(phaseOrder);
  });

  it('carries what a slice could not apply to the end, and flags the delivery then', async () => {
    const { engine, inbox } = setup({}, 2);
    const past: PastMessage[] = [0, 1, 2, 3, 4].map((i) => ({ id: `wamid.S${i}`, customer: i === 1 ? 'not-a-number' : '447700900461', fromBusiness: false, timestamp: ONBOARDED - 3600 + i, text: `s${i}` }));
    const [body] = historyWebhooks(past, business, { chunkSize: 10, onboardedAt: ONBOARDED });
    await inbox.accept('whatsapp', body!);
    for (let r = await engine.processPending(); r.sliced; r = await engine.processPending());
    const [row] = await current.store.db.selectFrom('webhook_deliveries').select(['state', 'problems']).execute();
    expect(row!.state).toBe('flagged');
    expect(JSON.parse(row!.problems!)).toEqual([expect.stringMatching(/^message wamid\.S1: sender/)]);
    expect((await current.store.db.selectFrom('messages').select('id').execute()).map((m) => m.id).sort()).toEqual(['wamid.S0', 'wamid.S2', 'wamid.S3', 'wamid.S4']);
  });

  it('keeps conversations weeks apart in threads of their own when the newer ones come first', async () => {
    const { engine, inbox, recorded } = setup();
    const conversation = (n: number): PastMessage[] =>
      [0, 1, 2].map((m) => ({ id: `wamid.C${n}.${m}`, customer: '447700900461', fromBusiness: m === 1, timestamp: ONBOARDED - (100 - n * 30) * 86_400 + m * 60, text: `c${n}.${m}` }));
    // Newest conversation first, then the oldest, then the middle one: the middle one must not join the oldest.
    for (const n of [2, 0, 1]) for (const body of historyWebhooks(conversation(n), business, { chunkSize: 3, onboardedAt: ONBOARDED })) await inbox.accept('whatsapp', body);
    await engine.processPending();
    const threadOf = new Map(recorded().map((c) => [c.message.id, c.thread.id]));
    const threads = [0, 1, 2].map((n) => new Set([0, 1, 2].map((m) => threadOf.get(`wamid.C${n}.${m}`))));
    for (const t of threads) expect(t.size).toBe(1);
    expect(new Set(threads.map((t) => [...t][0])).size).toBe(3);
  });

  it('does not write again a past message already known from a live webhook (same wamid)', async () => {
    const { engine, inbox, recorded } = setup();
    const live = { from: '447700900461', id: 'wamid.SEENLIVE', timestamp: ONBOARDED - 3600, body: 'seen live' };
    await inbox.accept('whatsapp', textWebhook(live));
    await engine.processPending();
    const past: PastMessage[] = [{ id: 'wamid.SEENLIVE', customer: '447700900461', fromBusiness: false, timestamp: live.timestamp, text: 'seen live' }, { id: 'wamid.ONLYPAST', customer: '447700900461', fromBusiness: false, timestamp: live.timestamp - 60, text: 'only past' }];
    for (const body of historyWebhooks(past, business, { chunkSize: 10, onboardedAt: ONBOARDED })) await inbox.accept('whatsapp', body);
    await engine.processPending();
    expect(recorded().map((c) => c.message.id)).toEqual(['wamid.SEENLIVE', 'wamid.ONLYPAST']);
    const live1 = await current.store.db.selectFrom('messages').select(['id', 'history']).orderBy('id').execute();
    expect(live1).toEqual([{ id: 'wamid.ONLYPAST', history: 1 }, { id: 'wamid.SEENLIVE', history: 0 }]);
  });

  it('fills a media placeholder when its media id comes in a later history webhook, and only then', async () => {
    const { engine, inbox, recorded } = setup();
    await inbox.accept('whatsapp', readExample('history-chunk'));
    await engine.processPending();
    const placeholderId = 'wamid.HBgMNDQ3NzAwOTAwNDYxFQIAEhgUNzJBMUU5QzBCNTNENDZGMEE4QjEA';
    const before = recorded().find((c) => c.message.id === placeholderId)!;
    expect(before.message).toMatchObject({ media: null, history: true });
    await inbox.accept('whatsapp', readExample('history-media'));
    await engine.processPending();
    const refill = recorded().filter((c) => c.message.id === placeholderId);
    expect(refill).toHaveLength(2);
    expect(refill[1]).toMatchObject({ refilled: true, message: { type: 'image', text: '[image] The lid again', media: { mediaId: '1904417730286615' } } });
    expect(refill[1]!.message.arrivalSeq).toBeGreaterThan(before.message.arrivalSeq);
    const media = await current.store.db.selectFrom('media').selectAll().where('message_id', '=', placeholderId).executeTakeFirstOrThrow();
    expect(media).toMatchObject({ media_id: '1904417730286615', state: 'pending' });
    // The same media webhook again changes nothing.
    await inbox.accept('whatsapp', readExample('history-media'));
    await engine.processPending();
    expect(recorded().filter((c) => c.message.id === placeholderId)).toHaveLength(2);
  });

  it('keeps a declined sync as a chunk with its error, and imports nothing', async () => {
    const { engine, inbox, recorded } = setup();
    await inbox.accept('whatsapp', readExample('history-declined'));
    expect(await engine.processPending()).toMatchObject({ processed: 1, flagged: 0 });
    expect(recorded()).toEqual([]);
    const [chunk] = await current.store.db.selectFrom('history_chunks').selectAll().execute();
    expect(chunk).toMatchObject({ phase: -1, messages: 0, errors: expect.stringContaining('2593109') });
  });

  it("makes the app's contacts contacts only when whatsapp.history.appContacts is on, naming them only where no name is known", async () => {
    const off = setup();
    await off.inbox.accept('whatsapp', readExample('smb-app-state-sync'));
    await off.engine.processPending();
    expect(off.changes).toEqual([]);
    expect(await current.store.db.selectFrom('contacts').selectAll().execute()).toEqual([]);

    const on = setup({ history: { appContacts: true } });
    // Priya is known already under her WhatsApp profile name: that name stays.
    await on.inbox.accept('whatsapp', textWebhook({ from: FIXTURE.customerWaId, id: 'wamid.HELLO', timestamp: ONBOARDED, body: 'hi', name: 'Priya R.' }));
    await on.inbox.accept('whatsapp', appContactsWebhook(business, [{ phone: FIXTURE.customerWaId, fullName: 'Priya Raman' }, { phone: '447700900518', fullName: 'Tomasz Wójcik' }, { phone: '447700900519', action: 'remove' }], ONBOARDED));
    await on.engine.processPending();
    const contacts = await current.store.db.selectFrom('contacts').select(['wa_id', 'profile_name']).orderBy('wa_id').execute();
    expect(contacts).toEqual([
      { wa_id: `+${FIXTURE.customerWaId}`, profile_name: 'Priya R.' },
      { wa_id: '+447700900518', profile_name: 'Tomasz Wójcik' },
    ]);
    const upserts = on.changes.filter((c) => c.type === 'contact.upserted');
    expect(upserts.map((c) => c.type === 'contact.upserted' && c.contact.profileName)).toEqual(['Priya R.', 'Tomasz Wójcik']);
  });
});
