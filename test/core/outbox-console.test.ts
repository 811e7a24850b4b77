// What the operations console reads and changes in the store, on both stores: dead operations
// with their customer, payload summary and vendor records; discard (dead only, never replayed);
// what a waiting operation waits for; the message trace; the charts' counts and queue samples.
import { describe, expect, it } from 'vitest';
import { parseTraceQuery, traceMessages } from '../../core/message-trace.js';
import { consoleCharts, sampleQueues } from '../../core/outbox/charts.js';
import { discardDeadOperations, listOperationViews, operationView, summarizePayload } from '../../core/outbox/inspect.js';
import { claimOperations, completeOperations, enqueueOperations, failOperation, replayDeadOperations } from '../../core/outbox/queries.js';
import type { Db } from '../../core/store/store.js';
import { freshStorePerTest } from '../helpers/store-per-test.js';
import { STORE_KINDS } from '../helpers/stores.js';

describe('payload summaries', () => {
  it('name the records an operation is about and the size of everything else, never a value', () => {
    const summary = summarizePayload({ messageId: 'wamid.A1', contactId: 'c-1', text: 'my card number is 4111', phone: '+447700900123', sentAt: 1700000000000, media: { id: 'x', mime: 'image/png' }, status: null });
    expect(summary).toBe('messageId wamid.A1 · contactId c-1 · text (22 characters), phone (13 characters), sentAt, media {2 fields}');
    expect(summary).not.toMatch(/4111|7700900123/);
  });
});

describe('reading the search text of a trace', () => {
  it('tells a message id, a BSUID, a number, a username and a name apart', () => {
    expect(parseTraceQuery('wamid.HBgM123')).toEqual({ by: 'message', id: 'wamid.HBgM123' });
    expect(parseTraceQuery('US.13491208655302741918')).toEqual({ by: 'bsuid', identities: ['bsuid:US.13491208655302741918', 'parent:US.13491208655302741918'] });
    expect(parseTraceQuery('+44 7700 900123')).toEqual({ by: 'phone', identities: ['wa:+447700900123'] });
    expect(parseTraceQuery('@jane.doe')).toEqual({ by: 'username', username: 'jane.doe' });
    expect(parseTraceQuery('Jane')).toEqual({ by: 'name', name: 'Jane' });
    expect(parseTraceQuery(' ')).toBeUndefined();
  });
});

describe.each(STORE_KINDS)('the console on %s', (kind) => {
  const current = freshStorePerTest(kind);
  const T = 1_800_000_000_000;

  async function customer(db: Db, id: string, fields: { phone?: string; bsuid?: string; username?: string; name?: string }) {
    await db.insertInto('contacts').values({ id, crm_key: fields.bsuid ?? fields.phone ?? id, wa_id: fields.phone ?? null, bsuid: fields.bsuid ?? null, parent_bsuid: null, username: fields.username ?? null, user_id: null, profile_name: fields.name ?? null, created_at: T, updated_at: T }).execute();
    if (fields.phone) await db.insertInto('contact_identities').values({ identity: `wa:${fields.phone}`, contact_id: id }).execute();
    if (fields.bsuid) await db.insertInto('contact_identities').values({ identity: `bsuid:${fields.bsuid}`, contact_id: id }).execute();
    await db.insertInto('threads').values({ id: `t-${id}`, contact_id: id, business_number_id: 'b1', started_at: T, last_message_at: T }).execute();
  }
  async function message(db: Db, id: string, contactId: string, at: number, direction = 'inbound') {
    await db
      .insertInto('messages')
      .values({ id, thread_id: `t-${contactId}`, contact_id: contactId, direction, type: 'text', original_type: 'text', text: 'secret text', media: null, sent_at: at, arrival_seq: at, status: null, status_at: null, reply_to_id: null, errors: null, raw: '{}', created_at: at, origin: null, warnings: null })
      .execute();
  }
  /** Runs the connector's ready heads once: `fail` says which ids fail and whether for good. */
  async function work(connector: string, now: number, fail: Record<number, 'retry' | 'dead'> = {}) {
    const claimed = await claimOperations(current.store, connector, 'w', { limit: 100, leaseMs: 60_000, now });
    for (const op of claimed) {
      const how = fail[op.id];
      if (how) await failOperation(current.store.db, 'w', op.id, `VendorError: ${connector}: HTTP ${how === 'dead' ? 400 : 503} for +447700900123`, how === 'dead' ? null : now + 3_600_000, now);
      else await completeOperations(current.store.db, 'w', [{ id: op.id, result: null }], now);
    }
    return claimed;
  }

  it('shows a dead operation with its customer, summary and vendor record; discard marks dead ones only, and replay leaves them', async () => {
    const db = current.store.db;
    await enqueueOperations(db, 'crm', [
      { kind: 'message.log', key: 'm1', orderingKey: 'contact:c1', payload: { messageId: 'wamid.M1', contactId: 'c1', text: 'hello there' } },
      { kind: 'message.log', key: 'm2', orderingKey: 'contact:c2', payload: { messageId: 'wamid.M2', contactId: 'c2', text: 'hi' } },
    ], { maxAttempts: 1, now: T });
    await db.insertInto('external_refs').values([
      { connector: 'crm', kind: 'communication', local_id: 'wamid.M1', external_id: '9001', updated_at: T },
      { connector: 'crm', kind: 'pending', local_id: 'wamid.M1', external_id: '{"at":1}', updated_at: T },
      { connector: 'other', kind: 'communication', local_id: 'wamid.M1', external_id: 'elsewhere', updated_at: T },
    ]).execute();
    const [first, second] = await work('crm', T + 10, { 1: 'dead', 2: 'dead' });
    const dead = await listOperationViews(db, { state: 'dead', limit: 10 });
    expect(dead.map((d) => d.id)).toEqual([second!.id, first!.id]);
    expect(dead[1]).toMatchObject({ connector: 'crm', kind: 'message.log', state: 'dead', attempts: 1, maxAttempts: 1, updatedAt: T + 10, contactId: 'c1', summary: 'messageId wamid.M1 · contactId c1 · text (11 characters)', records: [{ kind: 'communication', externalId: '9001' }] });
    expect(dead[1]!.lastError).toBe('VendorError: crm: HTTP 400 for +44********23');

    expect(await discardDeadOperations(db, [first!.id, 999], T + 20)).toEqual([first!.id]);
    expect(await discardDeadOperations(db, [first!.id], T + 30)).toEqual([]);
    expect(await replayDeadOperations(db, {}, T + 40)).toBe(1);
    expect((await operationView(db, first!.id))!.state).toBe('discarded');
    expect((await operationView(db, second!.id))!.state).toBe('pending');
  });

  it('says what a waiting operation waits for: the head it is queued behind, or the earlier operation that died', async () => {
    const db = current.store.db;
    await enqueueOperations(db, 'crm', [{ kind: 'contact.sync', key: 'c1', orderingKey: 'contact:c1', payload: { contactId: 'c1' } }], { maxAttempts: 1, now: T });
    const [contact] = await work('crm', T + 1, { 1: 'dead' });
    await enqueueOperations(db, 'crm', [
      { kind: 'message.log', key: 'm1', orderingKey: 'contact:c1', payload: { messageId: 'wamid.M1', contactId: 'c1' } },
      { kind: 'message.log', key: 'm2', orderingKey: 'contact:c1', payload: { messageId: 'wamid.M2', contactId: 'c1' } },
    ], { maxAttempts: 5, now: T + 2 });
    // The first message fails (its contact is not at the vendor) and waits out a backoff; the second waits behind it.
    const [m1] = await work('crm', T + 3, { [contact!.id + 1]: 'retry' });
    const waiting = await listOperationViews(db, { state: 'waiting', limit: 10 });
    expect(waiting.map((w) => [w.id, w.waitsFor])).toEqual([
      [m1!.id, { id: contact!.id, kind: 'contact.sync', state: 'dead', why: 'earlier-dead' }],
      [m1!.id + 1, { id: m1!.id, kind: 'message.log', state: 'pending', why: 'queued-behind' }],
    ]);
  });

  it("traces a past message (imported history) to its operations on its own and its thread's background keys", async () => {
    const db = current.store.db;
    await customer(db, 'c1', { phone: '+447700900123' });
    await message(db, 'wamid.PAST', 'c1', T);
    await db.updateTable('messages').set({ history: 1 }).where('id', '=', 'wamid.PAST').execute();
    await enqueueOperations(db, 'crm', [{ kind: 'message.log', key: 'P', orderingKey: 'background:message:wamid.PAST', payload: { messageId: 'wamid.PAST', contactId: 'c1' } }], { maxAttempts: 3, now: T });
    await enqueueOperations(db, 'desk', [{ kind: 'thread.log', key: 'P', orderingKey: 'background:thread:t-c1', payload: { messageId: 'wamid.PAST', threadId: 't-c1', contactId: 'c1' } }], { maxAttempts: 3, now: T });
    const [past] = (await traceMessages(db, 'wamid.PAST'))!.messages;
    expect(past!.connectors.map((c) => [c.connector, c.state])).toEqual([['crm', 'queued'], ['desk', 'queued']]);
  });

  it('traces a customer by number, BSUID, name or message id: where each message is at each connector', async () => {
    const db = current.store.db;
    await customer(db, 'c1', { phone: '+447700900123', name: 'Jane Doe', username: 'jane' });
    await customer(db, 'c2', { bsuid: 'US.13491208655302741918' });
    await message(db, 'wamid.A', 'c1', T);
    await message(db, 'wamid.B', 'c1', T + 1000, 'outbound');
    await message(db, 'wamid.C', 'c2', T + 2000);
    await enqueueOperations(db, 'crm', [
      { kind: 'message.log', key: 'A', orderingKey: 'contact:c1', payload: { messageId: 'wamid.A', contactId: 'c1' } },
      { kind: 'message.log', key: 'C', orderingKey: 'contact:c2', payload: { messageId: 'wamid.C', contactId: 'c2' } },
    ], { maxAttempts: 3, now: T });
    await enqueueOperations(db, 'desk', [{ kind: 'thread.comments', key: 't1', orderingKey: 'contact:c1', payload: { threadId: 't-c1', contactId: 'c1' } }], { maxAttempts: 3, now: T });
    const [a] = await work('crm', T + 5, { 2: 'retry' });
    await db.insertInto('external_refs').values({ connector: 'crm', kind: 'communication', local_id: 'wamid.A', external_id: '555', updated_at: T }).execute();
    await enqueueOperations(db, 'crm', [{ kind: 'message.log', key: 'B', orderingKey: 'contact:c1', payload: { messageId: 'wamid.B', contactId: 'c1' } }], { maxAttempts: 3, now: T + 6 });

    const byPhone = (await traceMessages(db, '07700 900123'))!;
    // A national number (no country code) is not the number WhatsApp gave: it finds nobody.
    expect(byPhone.messages).toEqual([]);
    const traced = (await traceMessages(db, '+44 7700 900123'))!;
    expect(traced.contacts.map((c) => c.id)).toEqual(['c1']);
    expect(traced.messages.map((m) => m.id)).toEqual(['wamid.B', 'wamid.A']);
    const [b, aTrace] = traced.messages;
    expect(aTrace!.connectors.map((c) => [c.connector, c.state, c.records])).toEqual([
      ['crm', 'sent', [{ kind: 'communication', externalId: '555' }]],
      ['desk', 'queued', []],
    ]);
    expect(aTrace!.connectors[0]!.operations[0]!.id).toBe(a!.id);
    expect(b!.connectors.map((c) => [c.connector, c.state])).toEqual([['crm', 'queued'], ['desk', 'queued']]);

    const c = (await traceMessages(db, 'US.13491208655302741918'))!;
    expect(c.messages[0]!.connectors).toMatchObject([{ connector: 'crm', state: 'failing', reason: 'VendorError: crm: HTTP 503 for +44********23' }]);
    expect((await traceMessages(db, 'jane d'))!.contacts.map((x) => x.id)).toEqual(['c1']);
    expect((await traceMessages(db, '@jane'))!.contacts.map((x) => x.id)).toEqual(['c1']);
    expect((await traceMessages(db, 'wamid.C'))!.messages.map((m) => m.id)).toEqual(['wamid.C']);
    expect((await traceMessages(db, 'nobody'))!).toEqual({ contacts: [], messages: [] });
  });

  it('charts count messages and written operations per hour and dead ones per day; queue samples are one per connector and minute', async () => {
    const db = current.store.db;
    const now = T + 30 * 60_000;
    await customer(db, 'c1', { phone: '+447700900123' });
    await message(db, 'wamid.old', 'c1', now - 30 * 3_600_000);
    await message(db, 'wamid.A', 'c1', now - 3_600_000);
    await message(db, 'wamid.B', 'c1', now, 'outbound');
    await enqueueOperations(db, 'crm', [
      { kind: 'message.log', key: 'A', orderingKey: 'contact:a', payload: {} },
      { kind: 'message.log', key: 'B', orderingKey: 'contact:b', payload: {} },
      { kind: 'message.log', key: 'C', orderingKey: 'contact:c', payload: {} },
    ], { maxAttempts: 1, now: now - 1000 });
    await work('crm', now - 500, { 3: 'dead' });
    await enqueueOperations(db, 'crm', [{ kind: 'message.log', key: 'D', orderingKey: 'contact:d', payload: {} }], { maxAttempts: 1, now: now - 120_000 });
    await sampleQueues(db, ['crm', 'desk'], now);
    await sampleQueues(db, ['crm', 'desk'], now + 5000); // the same minute, another instance: kept once
    const charts = await consoleCharts(db, ['crm', 'desk'], now + 5000);
    expect(charts.hours).toHaveLength(24);
    expect(charts.messagesIn.reduce((a, b) => a + b, 0)).toBe(1);
    expect(charts.messagesIn.at(-2)).toBe(1);
    expect(charts.messagesOut.at(-1)).toBe(1);
    expect(charts.written['crm']!.at(-1)).toBe(2);
    expect(charts.written['desk']!.every((n) => n === 0)).toBe(true);
    expect(charts.deadPerDay['crm']!.at(-1)).toBe(1);
    expect(charts.days).toHaveLength(14);
    expect(charts.queue['crm']).toEqual({ at: [Math.floor(now / 60_000) * 60_000], depth: [1], oldestAgeSeconds: [Math.round((Math.floor(now / 60_000) * 60_000 - (now - 120_000)) / 1000)], errorRate: [1 / 3] });
    expect(charts.queue['desk']!.depth).toEqual([0]);
  });
});
