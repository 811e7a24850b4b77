// The engine on both stores: deliveries → model → operations, dedupe, threads, identity.
import { describe, expect, it } from 'vitest';
import { parseWhatsAppDelivery } from '../../connectors/whatsapp/webhook.js';
import { Engine } from '../../core/engine.js';
import { silentLogger } from '../../core/logger.js';
import type { ModelChange } from '../../core/model/types.js';
import { FIXTURE, readExample, statusWebhook, textWebhook } from '../helpers/fixtures.js';
import { enginePerTest } from '../helpers/engine-per-test.js';
import { STORE_KINDS } from '../helpers/stores.js';

describe.each(STORE_KINDS)('engine on %s', (kind) => {
  const t = enginePerTest(kind, () => ({ threadGapMs: 24 * 3_600_000, servedNumbers: [] }));

  const messages = () => t.changes.filter((c) => c.type === 'message.recorded');
  const links = { brandDomains: ['acme.com'], allow: ['partner-shop.example'], deny: [], outboundReplies: 'block' as const };

  it('puts a visible warning in front of a customer message with a suspicious link, and keeps the finding', async () => {
    t.options = { ...t.options, links };
    await t.inbox.accept('whatsapp', textWebhook({ from: '447700900123', id: 'wamid.PHISH', timestamp: 1_760_000_000, body: 'Your parcel is held, pay at https://acme-delivery.net/payment' }));
    await t.inbox.accept('whatsapp', textWebhook({ from: '447700900123', id: 'wamid.OK', timestamp: 1_760_000_001, body: 'See https://acme.com/help' }));
    await t.engine.processPending();
    const [flagged, ordinary] = messages().map((c) => (c.type === 'message.recorded' ? c.message : undefined));
    expect(flagged!.text).toMatch(/^⚠️ Suspicious link: acme-delivery\.net \(uses the name of acme\.com on a domain that is not yours; asks for a login, payment or account details\)[\s\S]*\n\nYour parcel is held/);
    expect(flagged!.warnings).toEqual(['suspicious_link']);
    expect(ordinary).toMatchObject({ text: 'See https://acme.com/help', warnings: [] });
  });

  it("turns an agent's reply linking outside the allow list into an undeliverable reply when the policy blocks", async () => {
    t.options = { ...t.options, links };
    await t.inbox.accept('whatsapp', textWebhook({ from: '447700900123', id: 'wamid.1', timestamp: 1_760_000_000, body: 'hi' }));
    await t.engine.processPending();
    const threadId = messages()[0]!.type === 'message.recorded' ? (messages()[0] as Extract<ModelChange, { type: 'message.recorded' }>).thread.id : '';
    const reply = (text: string, sourceId: string) => ({ type: 'reply.requested' as const, threadId, reply: { origin: 'zendesk', sourceId, sourceRecord: '7', text, attachments: [], template: null } });
    await t.store.db.transaction().execute((tx) => t.engine.applyEffects(tx, [reply('Try https://cheap-jackets.example/deal', '1'), reply('See https://partner-shop.example/size', '2')]));
    const [blocked, allowed] = t.changes.slice(-2);
    expect(blocked).toMatchObject({ type: 'reply.undeliverable', reason: expect.stringMatching(/links to cheap-jackets\.example, which is not on security\.links\.allow/) });
    expect(allowed).toMatchObject({ type: 'reply.requested' });
  });

  it('turns a delivery into a contact, a thread, a message and queued operations', async () => {
    await t.inbox.accept('whatsapp', readExample('message-text'));
    const result = await t.engine.processPending();
    expect(result).toEqual({ processed: 1, flagged: 0, operationsQueued: 2, sliced: false });
    expect(t.changes.map((c) => c.type)).toEqual(['contact.upserted', 'message.recorded']);
    const recorded = messages()[0]!;
    expect(recorded.contact.waId).toBe(`+${FIXTURE.customerWaId}`);
    expect(recorded.contact.profileName).toBe(FIXTURE.customerName);
    expect(recorded.threadCreated).toBe(true);
    expect(recorded.message).toMatchObject({ direction: 'inbound', type: 'text', text: 'Hello, is my kettle repair ready to collect?', sentAt: 1764583200000 });
    const delivery = await t.store.db.selectFrom('webhook_deliveries').selectAll().executeTakeFirstOrThrow();
    expect(delivery.state).toBe('processed');
  });

  it('ends a batch early when the thread acknowledging webhooks waits for the store, leaving the rest pending', async () => {
    for (let i = 0; i < 3; i++) await t.inbox.accept('whatsapp', textWebhook({ from: '447700900123', id: `wamid.turn.${i}`, timestamp: 1_760_000_000 + i, body: `m${i}` }));
    const wanted = new Engine({ store: { ...t.store, turnWanted: () => true }, parsers: { whatsapp: parseWhatsAppDelivery }, connectors: () => [], log: silentLogger(), options: () => t.options });
    expect(await wanted.processPending(20)).toMatchObject({ processed: 1 });
    const pending = await t.store.db.selectFrom('webhook_deliveries').select('id').where('state', '=', 'pending').execute();
    expect(pending).toHaveLength(2);
    expect(await t.engine.processPending(20)).toMatchObject({ processed: 2 });
  });

  it('a redelivered webhook t.changes nothing', async () => {
    await t.inbox.accept('whatsapp', readExample('message-text'));
    await t.engine.processPending();
    const before = t.changes.length;
    await t.inbox.accept('whatsapp', readExample('message-text'));
    expect(await t.engine.processPending()).toEqual({ processed: 1, flagged: 0, operationsQueued: 0, sliced: false });
    expect(t.changes.length).toBe(before);
    expect((await t.store.db.selectFrom('messages').selectAll().execute()).length).toBe(1);
  });

  it('stores malformed and unknown deliveries flagged, with the reason, and keeps going', async () => {
    await t.inbox.accept('whatsapp', '{not json');
    await t.inbox.accept('whatsapp', JSON.stringify({ object: 'instagram', entry: [] }));
    await t.inbox.accept('whatsapp', readExample('message-text'));
    expect(await t.engine.processPending()).toMatchObject({ processed: 1, flagged: 2 });
    const flagged = await t.store.db.selectFrom('webhook_deliveries').selectAll().where('state', '=', 'flagged').orderBy('id').execute();
    expect(flagged.map((d) => d.body)).toEqual(['{not json', '{"object":"instagram","entry":[]}']);
    expect(JSON.parse(flagged[0]!.problems!)[0]).toMatch(/not valid JSON/);
  });

  it('starts a new thread after the inactivity gap, and puts a late message in the thread of its time', async () => {
    t.options = { ...t.options, threadGapMs: 3_600_000 };
    const from = '447700900123';
    await t.inbox.accept('whatsapp', textWebhook({ from, id: 'wamid.1', timestamp: 1_000_000, body: 'a' }));
    await t.inbox.accept('whatsapp', textWebhook({ from, id: 'wamid.2', timestamp: 1_000_000 + 1800, body: 'b' }));
    await t.inbox.accept('whatsapp', textWebhook({ from, id: 'wamid.3', timestamp: 1_000_000 + 1800 + 7200, body: 'c' }));
    await t.inbox.accept('whatsapp', textWebhook({ from, id: 'wamid.late', timestamp: 1_000_000 + 60, body: 'late' }));
    await t.engine.processPending();
    const [m1, m2, m3, late] = messages();
    expect(m2!.thread.id).toBe(m1!.thread.id);
    expect(m3!.thread.id).not.toBe(m1!.thread.id);
    expect(m3!.threadCreated).toBe(true);
    expect(late!.thread.id).toBe(m1!.thread.id);
    expect(late!.message.arrivalSeq).toBeGreaterThan(m3!.message.arrivalSeq);
  });

  it('resolves a Brazilian number with and without the ninth digit to one contact', async () => {
    await t.inbox.accept('whatsapp', textWebhook({ from: '551187654321', id: 'wamid.br1', timestamp: 1_000_000, body: 'oi' }));
    await t.inbox.accept('whatsapp', textWebhook({ from: '5511987654321', id: 'wamid.br2', timestamp: 1_000_010, body: 'oi de novo' }));
    await t.engine.processPending();
    const [a, b] = messages();
    expect(b!.contact.id).toBe(a!.contact.id);
    expect((await t.store.db.selectFrom('contacts').selectAll().execute()).length).toBe(1);
  });

  it('moves a contact to its new number on user_changed_number, keeping its identity', async () => {
    await t.inbox.accept('whatsapp', readExample('message-text'));
    await t.inbox.accept('whatsapp', readExample('message-system'));
    await t.inbox.accept('whatsapp', textWebhook({ from: FIXTURE.customerNewWaId, id: 'wamid.after', timestamp: 1_764_590_500, body: 'new phone' }));
    await t.engine.processPending();
    const ids = new Set(messages().map((m) => m.contact.id));
    expect(ids.size).toBe(1);
    const contact = await t.store.db.selectFrom('contacts').selectAll().executeTakeFirstOrThrow();
    expect(contact.wa_id).toBe(`+${FIXTURE.customerNewWaId}`);
  });

  it('records each status once and moves the message status forward only', async () => {
    await t.inbox.accept('whatsapp', readExample('message-text'));
    const id = JSON.parse(readExample('message-text')).entry[0].changes[0].value.messages[0].id as string;
    await t.inbox.accept('whatsapp', statusWebhook({ id, status: 'read', timestamp: 1_764_583_400, recipient: FIXTURE.customerWaId }));
    await t.inbox.accept('whatsapp', statusWebhook({ id, status: 'delivered', timestamp: 1_764_583_390, recipient: FIXTURE.customerWaId }));
    await t.inbox.accept('whatsapp', statusWebhook({ id, status: 'read', timestamp: 1_764_583_400, recipient: FIXTURE.customerWaId }));
    await t.engine.processPending();
    const statuses = t.changes.filter((c) => c.type === 'message.status');
    expect(statuses.map((s) => s.type === 'message.status' && s.status)).toEqual(['read', 'delivered']);
    const message = await t.store.db.selectFrom('messages').selectAll().executeTakeFirstOrThrow();
    expect(message.status).toBe('read');
  });

  it('flags events for business numbers this service does not serve', async () => {
    t.options = { ...t.options, servedNumbers: ['999'] };
    await t.inbox.accept('whatsapp', readExample('message-text'));
    expect(await t.engine.processPending()).toMatchObject({ flagged: 1 });
    expect(messages()).toEqual([]);
  });

  it('records account events and hands them to connectors', async () => {
    await t.inbox.accept('whatsapp', readExample('field-security'));
    await t.engine.processPending();
    expect(t.changes).toEqual([expect.objectContaining({ type: 'account.event', field: 'security' })]);
  });
});
