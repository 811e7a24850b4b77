// The Zendesk connector over the real node-zendesk, HTTP mocked with nock.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import nock from 'nock';
import { describe, expect, it } from 'vitest';
import { zendeskConnector } from '../../../connectors/zendesk/index.js';
import { KIND, agentReplies, commentBody, nextCommentRun, toOperationDrafts } from '../../../connectors/zendesk/mappers.js';
import { zendeskSettingsSchema } from '../../../connectors/zendesk/settings.js';
import { parseZendeskDelivery } from '../../../connectors/zendesk/webhook.js';
import { buildScopeReport, type Connector, type ThreadMessage } from '../../../core/connector.js';
import { VendorError } from '../../../core/errors.js';
import { silentLogger } from '../../../core/logger.js';
import type { Contact, Message, Thread } from '../../../core/model/types.js';
import type { E164 } from '../../../core/model/phone.js';
import { claimedOperation, testContext } from '../../helpers/context.js';
import { onlyMockedHttp } from '../../helpers/nock.js';
import { tempDir } from '../../helpers/stores.js';

const ZD = 'https://acme.zendesk.com';
const API = '/api/v2';
const AUTH = `Basic ${Buffer.from('agent@acme.test/token:zd-token').toString('base64')}`;

function connectorWith(settings: Record<string, unknown> = {}, mediaDir = '/tmp'): Connector {
  return zendeskConnector.create(zendeskSettingsSchema.parse({ enabled: true, subdomain: 'acme', email: 'agent@acme.test', apiToken: 'zd-token', ...settings }), { log: silentLogger(), mediaDir });
}

const op = (kind: string, payload: Record<string, unknown>, attempts = 1) => claimedOperation('zendesk', kind, payload, { attempts });
const commentOp = (messageId: string, arrivalSeq: number, attempts = 1) =>
  op(KIND.comment, { messageId, contactId: 'c1', threadId: 't-1', arrivalSeq, waId: '+447700900123', profileName: 'Sheena Nelson' }, attempts);
const line = (id: string, arrivalSeq: number, text: string, extra: Partial<ThreadMessage> = {}): ThreadMessage => ({ id, direction: 'inbound', text, sentAt: 1_760_000_000_000 + arrivalSeq, arrivalSeq, origin: null, warnings: [], ...extra });

/** A context where the customer is already user 501 in Zendesk and thread t-1 holds these messages. */
function threadContext(messages: ThreadMessage[]) {
  const context = testContext();
  context.refs.set('user:c1', '501');
  context.threads.set('t-1', messages);
  return context;
}

const contact: Contact = { id: 'c1', crmKey: '+447700900123', waId: '+447700900123' as E164, bsuid: null, parentBsuid: null, username: null, userId: null, profileName: 'Sheena Nelson', createdAt: 0, updatedAt: 1 };
const thread: Thread = { id: 't-1', contactId: 'c1', businessNumberId: '106540352242922', startedAt: 0, lastMessageAt: 0 };
const message = (extra: Partial<Message>): Message => ({ id: 'wamid.1', threadId: 't-1', contactId: 'c1', direction: 'inbound', type: 'text', originalType: 'text', text: 'hi', media: null, sentAt: 0, arrivalSeq: 1, status: null, replyToId: null, origin: null, warnings: [], ...extra });

describe('Zendesk connector', () => {
  onlyMockedHttp();

  describe('end users', () => {
    it('creates users for new customers in one bulk job keyed by the WhatsApp id, after looking them up', async () => {
      let created: any;
      nock(ZD, { reqheaders: { authorization: AUTH } })
        .get(`${API}/users/show_many.json`)
        .query({ external_ids: '+447700900123,+16505551234' })
        .reply(200, { users: [] })
        .get(`${API}/users/search.json`)
        .query({ query: 'phone:+447700900123' })
        .reply(200, { users: [] })
        .get(`${API}/users/search.json`)
        .query({ query: 'phone:+16505551234' })
        .reply(200, { users: [] })
        .post(`${API}/users/create_or_update_many.json`, (b) => ((created = b), true))
        .reply(200, { job_status: { id: 'job1', status: 'queued' } })
        .get(`${API}/job_statuses/job1.json`)
        .reply(200, { job_status: { id: 'job1', status: 'completed', results: [{ id: 901, index: 0, external_id: '+447700900123', status: 'Created' }, { id: 902, index: 1, external_id: '+16505551234', status: 'Created' }] } });
      const context = testContext();
      const outcomes = await connectorWith().execute(
        [op(KIND.user, { contactId: 'c1', waId: '+447700900123', profileName: 'Sheena Nelson' }), op(KIND.user, { contactId: 'c2', waId: '+16505551234', profileName: null })],
        context,
      );
      expect(outcomes).toEqual([{ ok: true, result: { zendeskUserId: 901 } }, { ok: true, result: { zendeskUserId: 902 } }]);
      expect(created.users).toEqual([
        { name: 'Sheena Nelson', phone: '+447700900123', external_id: '+447700900123', role: 'end-user' },
        { name: '+16505551234', phone: '+16505551234', external_id: '+16505551234', role: 'end-user' },
      ]);
      expect(context.refs.get('user:c1')).toBe('901');
      expect(nock.isDone()).toBe(true);
    });

    it('adopts an existing user with the same phone however it was typed, giving it our external id', async () => {
      let linked: any;
      nock(ZD)
        .get(`${API}/users/show_many.json`)
        .query(true)
        .reply(200, { users: [] })
        .get(`${API}/users/search.json`)
        .query(true)
        .reply(200, { users: [{ id: 77, name: 'Sheena N.', phone: '+44 7700 900123', external_id: null }] })
        .put(`${API}/users/update_many.json`, (b) => ((linked = b), true))
        .reply(200, { job_status: { id: 'job2', status: 'completed', results: [{ id: 77, status: 'Updated' }] } });
      const context = testContext();
      const [outcome] = await connectorWith().execute([op(KIND.user, { contactId: 'c1', waId: '+447700900123', profileName: 'Sheena Nelson' })], context);
      expect(outcome).toEqual({ ok: true, result: { zendeskUserId: 77 } });
      expect(linked).toEqual({ users: [{ id: 77, external_id: '+447700900123' }] });
      expect(nock.isDone()).toBe(true);
    });
  });

  describe('tickets', () => {
    it('creates one ticket per thread with an Idempotency-Key, tags and the requester; later messages already carried cost no call', async () => {
      let ticket: any;
      nock(ZD, { reqheaders: { authorization: AUTH, 'idempotency-key': 'wa-crm-sync:t-1' } })
        .post(`${API}/tickets.json`, (b) => ((ticket = b.ticket), true))
        .reply(201, { ticket: { id: 4100, status: 'new', requester_id: 501 } });
      const context = threadContext([line('m1', 1, 'Hi, is it in stock?'), line('m2', 2, 'In blue?'), line('m3', 3, 'Size 40')]);
      const connector = connectorWith({ tags: ['vip'], groupId: 12, customFields: [{ id: 360001, value: 'whatsapp' }] });
      const outcomes = await connector.execute([commentOp('m1', 1)], context);
      expect(outcomes).toEqual([{ ok: true, result: { zendeskTicketId: '4100' } }]);
      expect(ticket).toMatchObject({ requester_id: 501, external_id: 't-1', tags: ['whatsapp', 'vip'], group_id: 12, custom_fields: [{ id: 360001, value: 'whatsapp' }], subject: 'WhatsApp conversation with Sheena Nelson' });
      // The burst is coalesced: all three messages in the first comment, by the customer.
      expect(ticket.comment).toMatchObject({ public: true, author_id: 501 });
      expect(ticket.comment.body).toMatch(/Hi, is it in stock\?[\s\S]*In blue\?[\s\S]*Size 40/);
      // The next two operations find their messages written: no request (nock would fail it).
      expect(await connector.execute([commentOp('m2', 2)], context)).toEqual([{ ok: true, result: { zendeskTicketId: '4100' } }]);
      expect(await connector.execute([commentOp('m3', 3)], context)).toEqual([{ ok: true, result: { zendeskTicketId: '4100' } }]);
      expect(nock.isDone()).toBe(true);
    });

    it('retries a failed creation with the same Idempotency-Key and body', async () => {
      const keys: string[] = [];
      const bodies: string[] = [];
      nock(ZD)
        .post(`${API}/tickets.json`, (b) => (bodies.push(JSON.stringify(b)), true))
        .times(2)
        .reply(function (_uri, _body) {
          keys.push(String(this.req.headers['idempotency-key']));
          return keys.length === 1 ? [503, { error: 'ServiceUnavailable' }] : [201, { ticket: { id: 4101 } }, { 'x-idempotency-lookup': 'hit' }];
        });
      const context = threadContext([line('m1', 1, 'Hello')]);
      const connector = connectorWith();
      const [first] = await connector.execute([commentOp('m1', 1)], context);
      expect(first).toMatchObject({ ok: false, error: { retryable: true, status: 503 } });
      const [second] = await connector.execute([commentOp('m1', 1, 2)], context);
      expect(second).toEqual({ ok: true, result: { zendeskTicketId: '4101' } });
      expect(keys).toEqual(['wa-crm-sync:t-1', 'wa-crm-sync:t-1']);
      expect(bodies[0]).toBe(bodies[1]);
    });

    it('after a crash re-claim with more messages, adopts the ticket the first attempt made instead of creating a second', async () => {
      const context = threadContext([line('m1', 1, 'Hello')]);
      // A lost creation is waited out for 1 s (Zendesk may still carry it out) before the retry.
      const connector = connectorWith({ lostAnswerWaitSeconds: 1 });
      // First attempt: the ticket is created but the answer is lost (the connection drops).
      nock(ZD).post(`${API}/tickets.json`).replyWithError({ code: 'ECONNRESET', message: 'socket hang up' });
      const [lost] = await connector.execute([commentOp('m1', 1)], context);
      expect(lost).toMatchObject({ ok: false, error: { retryable: true } });
      expect((await connector.execute([commentOp('m1', 1, 2)], context))[0]).toMatchObject({ ok: false, error: { name: 'DeferredError' } });
      await new Promise((resolve) => setTimeout(resolve, 1100));
      // Meanwhile the customer wrote again: the body differs, Zendesk refuses the reused key.
      context.threads.set('t-1', [line('m1', 1, 'Hello'), line('m2', 2, 'Anyone?')]);
      let comment: any;
      nock(ZD)
        .post(`${API}/tickets.json`)
        .reply(400, { error: 'IdempotentRequestError', description: "Request parameters don't match the given idempotency key" })
        .get(`${API}/tickets.json`)
        .query((q) => q['external_id'] === 't-1')
        .reply(200, { tickets: [{ id: 4102, external_id: 't-1', status: 'new' }] })
        .get(`${API}/tickets/4102/comments.json`)
        .query(true)
        .reply(200, { comments: [{ id: 20, author_id: 501, public: true, body: 'Hello' }] })
        .put(`${API}/tickets/4102.json`, (b) => ((comment = b.ticket.comment), true))
        .reply(200, { ticket: { id: 4102, status: 'open' } });
      const [retried] = await connector.execute([commentOp('m1', 1, 2)], context);
      expect(retried).toEqual({ ok: true, result: { zendeskTicketId: '4102' } });
      // Only the message the first attempt did not carry is added.
      const [second] = await connector.execute([commentOp('m2', 2)], context);
      expect(second).toEqual({ ok: true, result: { zendeskTicketId: '4102' } });
      expect(comment).toMatchObject({ body: 'Anyone?', public: true, author_id: 501 });
      expect(nock.isDone()).toBe(true);
    });

    it('does not write a comment twice when its answer was lost: the retry finds it on the ticket', async () => {
      const context = threadContext([line('m1', 1, 'Hello'), line('m2', 2, 'Still there?')]);
      context.refs.set('ticket:t-1', '4103');
      context.refs.set('ticket-synced-to:t-1', '1');
      // Waits out the lost answer for 1 s (it could still land) before looking for it.
      const connector = connectorWith({ lostAnswerWaitSeconds: 1 });
      nock(ZD).put(`${API}/tickets/4103.json`).replyWithError({ code: 'ECONNRESET', message: 'socket hang up' });
      expect((await connector.execute([commentOp('m2', 2)], context))[0]).toMatchObject({ ok: false });
      expect((await connector.execute([commentOp('m2', 2, 2)], context))[0]).toMatchObject({ ok: false, error: { name: 'DeferredError' } });
      await new Promise((resolve) => setTimeout(resolve, 1100));
      nock(ZD)
        .get(`${API}/tickets/4103/comments.json`)
        .query(true)
        .reply(200, { comments: [{ id: 9, author_id: 501, public: true, body: 'Still there?' }] });
      expect((await connector.execute([commentOp('m2', 2, 2)], context))[0]).toEqual({ ok: true, result: { zendeskTicketId: '4103' } });
      expect(nock.isDone()).toBe(true);
    });

    it('after a lost answer, a retry that finds more messages adds only those, not the landed ones again', async () => {
      const context = threadContext([line('m1', 1, 'Hello'), line('m2', 2, 'Still there?')]);
      context.refs.set('ticket:t-1', '4108');
      context.refs.set('ticket-synced-to:t-1', '1');
      // Waits out the lost answer for 1 s (it could still land) before looking for it.
      const connector = connectorWith({ lostAnswerWaitSeconds: 1 });
      // The update lands, but its answer is lost.
      nock(ZD).put(`${API}/tickets/4108.json`).replyWithError({ code: 'ECONNRESET', message: 'socket hang up' });
      expect((await connector.execute([commentOp('m2', 2)], context))[0]).toMatchObject({ ok: false });
      expect((await connector.execute([commentOp('m2', 2, 2)], context))[0]).toMatchObject({ ok: false, error: { name: 'DeferredError' } });
      await new Promise((resolve) => setTimeout(resolve, 1100));
      context.threads.set('t-1', [line('m1', 1, 'Hello'), line('m2', 2, 'Still there?'), line('m3', 3, 'Hello??')]);
      let comment: any;
      nock(ZD)
        .get(`${API}/tickets/4108/comments.json`)
        .query(true)
        .reply(200, { comments: [{ id: 9, author_id: 501, public: true, body: 'Still there?' }] })
        .put(`${API}/tickets/4108.json`, (b) => ((comment = b.ticket.comment), true))
        .reply(200, { ticket: { id: 4108 } });
      expect((await connector.execute([commentOp('m2', 2, 2)], context))[0]).toEqual({ ok: true, result: { zendeskTicketId: '4108' } });
      expect((await connector.execute([commentOp('m3', 3)], context))[0]).toEqual({ ok: true, result: { zendeskTicketId: '4108' } });
      expect(comment.body).toBe('Hello??');
      expect(nock.isDone()).toBe(true);
    });

    it('reopens a solved ticket with the customer comment, and opens a linked follow-up on a closed one', async () => {
      const context = threadContext([line('m1', 1, 'Hello'), line('m2', 2, 'It broke again')]);
      context.refs.set('ticket:t-1', '4104');
      context.refs.set('ticket-synced-to:t-1', '1');
      let update: any;
      let followUp: any;
      let key = '';
      nock(ZD)
        .put(`${API}/tickets/4104.json`, (b) => ((update = b.ticket), true))
        .reply(422, { error: 'RecordInvalid', description: 'Record validation errors', details: { status: [{ description: 'Status: closed prevents ticket update' }] } })
        .post(`${API}/tickets.json`, (b) => ((followUp = b.ticket), true))
        .reply(function () {
          key = String(this.req.headers['idempotency-key']);
          return [201, { ticket: { id: 4200 } }];
        });
      const [outcome] = await connectorWith().execute([commentOp('m2', 2)], context);
      expect(update).toMatchObject({ status: 'open', comment: { body: 'It broke again', public: true } });
      expect(followUp).toMatchObject({ via_followup_source_id: 4104, external_id: 't-1', requester_id: 501, comment: { body: 'It broke again' } });
      expect(key).toBe('wa-crm-sync:t-1:followup:4104');
      expect(outcome).toEqual({ ok: true, result: { zendeskTicketId: '4200' } });
      expect(context.refs.get('ticket:t-1')).toBe('4200');
    });

    it("waits for the ticket's own update limit, and what arrives meanwhile goes in the same update", async () => {
      const context = threadContext([line('m1', 1, 'Hello'), line('m2', 2, 'one')]);
      context.refs.set('ticket:t-1', '4110');
      context.refs.set('ticket-synced-to:t-1', '1');
      const buckets: unknown[] = [];
      context.throttle = async (_weight, bucket) => {
        buckets.push(bucket);
        // While this update waited for its slot, two more messages came in.
        context.threads.set('t-1', [line('m1', 1, 'Hello'), line('m2', 2, 'one'), line('m3', 3, 'two'), line('m4', 4, 'three')]);
        return { settle: async () => {} };
      };
      let comment: any;
      nock(ZD)
        .put(`${API}/tickets/4110.json`, (b) => ((comment = b.ticket.comment), true))
        .reply(200, { ticket: { id: 4110 } });
      const connector = connectorWith();
      await connector.execute([commentOp('m2', 2)], context);
      expect(buckets).toEqual([['ticket-update', 'ticket:4110']]);
      expect(comment.body).toMatch(/one[\s\S]*two[\s\S]*three/);
      // The operations of m3 and m4 find their messages written: no request.
      expect(await connector.execute([commentOp('m3', 3), commentOp('m4', 4)], context)).toEqual([
        { ok: true, result: { zendeskTicketId: '4110' } },
        { ok: true, result: { zendeskTicketId: '4110' } },
      ]);
      expect(nock.isDone()).toBe(true);
    });

    it('tags the ticket suspicious_link when a message carries a phishing warning', async () => {
      let created: any;
      let updated: any;
      nock(ZD)
        .post(`${API}/tickets.json`, (b) => ((created = b.ticket), true))
        .reply(201, { ticket: { id: 4120 } })
        .put(`${API}/tickets/4120.json`, (b) => ((updated = b.ticket), true))
        .reply(200, { ticket: { id: 4120 } });
      const context = threadContext([line('m1', 1, '⚠️ Suspicious link: bit.ly (...)\n\nhttps://bit.ly/x', { warnings: ['suspicious_link'] })]);
      const connector = connectorWith();
      await connector.execute([commentOp('m1', 1)], context);
      expect(created.tags).toEqual(['whatsapp', 'suspicious_link']);
      context.threads.set('t-1', [...context.threads.get('t-1')!, line('m2', 2, '⚠️ Suspicious link: again', { warnings: ['suspicious_link'] })]);
      await connector.execute([commentOp('m2', 2)], context);
      expect(updated).toMatchObject({ additional_tags: ['suspicious_link'] });
      expect(nock.isDone()).toBe(true);
    });

    it('honours a 429 that node-zendesk resolves instead of throwing: retryable after Retry-After', async () => {
      const context = threadContext([line('m1', 1, 'Hello'), line('m2', 2, 'Hi?')]);
      context.refs.set('ticket:t-1', '4105');
      context.refs.set('ticket-synced-to:t-1', '1');
      nock(ZD).put(`${API}/tickets/4105.json`).reply(429, { error: 'TooManyRequests' }, { 'retry-after': '7' });
      const [outcome] = await connectorWith().execute([commentOp('m2', 2)], context);
      expect(outcome).toMatchObject({ ok: false, error: { retryable: true, retryAfterMs: 7000, status: 429 } });
      expect(context.refs.get('ticket-synced-to:t-1')).toBe('1');
    });

    it('takes messages in arrival order, so a late message with an older timestamp is appended, never skipped', () => {
      // m3 arrived last but was sent first (a delayed delivery); r1 is our reply, arrived between.
      const messages = [line('m3', 9, 'late one', { sentAt: 1 }), line('m1', 5, 'first'), line('r1', 6, 'agent reply', { direction: 'outbound', origin: 'zendesk' })];
      expect(nextCommentRun(messages, 4)).toMatchObject({ messages: [expect.objectContaining({ id: 'm3' }), expect.objectContaining({ id: 'm1' })], public: true, lastSeq: 9 });
      expect(nextCommentRun(messages, 6)).toMatchObject({ messages: [expect.objectContaining({ id: 'm3' })], public: true, lastSeq: 9 });
    });

    it("inside a comment, a shuffled burst reads in the customer's order (timestamp, then arrival)", () => {
      const minute = 60_000;
      const at = Date.UTC(2026, 0, 5, 16, 0);
      // Six messages written a minute apart, delivered in the order 3, 0, 5, 1, 4, 2.
      const burst = [3, 0, 5, 1, 4, 2].map((n, i) => line(`m${n}`, i + 1, `message ${n}`, { sentAt: at + n * minute }));
      const run = nextCommentRun(burst, 0)!;
      expect(run.messages.map((m) => m.id)).toEqual(['m0', 'm1', 'm2', 'm3', 'm4', 'm5']);
      expect(run.lastSeq).toBe(6);
      const body = commentBody(run.messages, true, run.newestWrittenAt);
      expect(body.split('\n\n')).toEqual([0, 1, 2, 3, 4, 5].map((n) => `16:0${n} UTC  message ${n}`));
    });

    it('a message that arrives after later ones are on the ticket is written with its own time, marked as arriving late', () => {
      const at = Date.UTC(2026, 0, 5, 16, 0);
      const thread = [line('m1', 1, 'first', { sentAt: at + 60_000 }), line('m2', 2, 'third', { sentAt: at + 600_000 }), line('m0', 3, 'sent early', { sentAt: at + 300_000 })];
      const run = nextCommentRun(thread, 2)!;
      expect(run.newestWrittenAt).toBe(at + 600_000);
      expect(commentBody(run.messages, true, run.newestWrittenAt)).toBe('(sent 16:05 UTC, arrived late)  sent early');
      // With a later message in the same comment, only the late one is marked.
      const more = nextCommentRun([...thread, line('m3', 4, 'newest', { sentAt: at + 660_000 })], 2)!;
      expect(commentBody(more.messages, true, more.newestWrittenAt)).toBe('(sent 16:05 UTC, arrived late)  sent early\n\n16:11 UTC  newest');
      // Nothing written yet: nothing is late.
      expect(commentBody(nextCommentRun(thread, 0)!.messages, true, null)).not.toContain('arrived late');
    });

    it('writes messages sent from the business app as internal notes, and never writes our own replies', () => {
      const run = nextCommentRun([line('m1', 1, 'hi'), line('r1', 2, 'agent reply', { direction: 'outbound', origin: 'zendesk' }), line('m2', 3, 'thanks'), line('e1', 4, 'from the phone app', { direction: 'outbound' })], 0);
      expect(run).toEqual({ messages: [expect.objectContaining({ id: 'm1' }), expect.objectContaining({ id: 'm2' })], public: true, lastSeq: 3, newestWrittenAt: null });
      const next = nextCommentRun([line('e1', 4, 'from the phone app', { direction: 'outbound' })], 3);
      expect(next).toMatchObject({ public: false, lastSeq: 4 });
      expect(toOperationDrafts({ type: 'message.recorded', contact, thread, threadCreated: false, message: message({ direction: 'outbound', origin: 'zendesk' }) })).toEqual([]);
    });

    it('attaches a received file to the ticket as the customer', async () => {
      const dir = tempDir();
      const path = join(dir, 'photo');
      writeFileSync(path, Buffer.from('jpeg bytes'));
      let comment: any;
      nock(ZD, { reqheaders: { 'content-type': 'image/jpeg' } })
        .post(`${API}/uploads.json`)
        .query({ filename: 'photo.jpg' })
        .reply(201, { upload: { token: 'tok-1' } });
      nock(ZD)
        .put(`${API}/tickets/4106.json`, (b) => ((comment = b.ticket.comment), true))
        .reply(200, { ticket: { id: 4106 } });
      const context = threadContext([]);
      context.refs.set('ticket:t-1', '4106');
      const payload = { messageId: 'wamid.IMG', contactId: 'c1', threadId: 't-1', path, sha256: 'ab'.repeat(32), mimeType: 'image/jpeg', size: 10, filename: 'photo.jpg', text: '[image] the box' };
      expect(await connectorWith().execute([op(KIND.attachment, payload)], context)).toEqual([{ ok: true, result: { zendeskTicketId: '4106' } }]);
      expect(comment).toEqual({ body: '[image] the box (attached: photo.jpg)', public: true, author_id: 501, uploads: ['tok-1'] });
      // A file over the limit gets a note saying so instead.
      nock(ZD)
        .put(`${API}/tickets/4106.json`, (b) => ((comment = b.ticket.comment), true))
        .reply(200, { ticket: { id: 4106 } });
      await connectorWith({ maxAttachmentBytes: 5 }).execute([op(KIND.attachment, { ...payload, messageId: 'wamid.BIG' })], context);
      expect(comment).toMatchObject({ public: false, body: expect.stringMatching(/over the 0 MB attachment limit and was not attached/) });
      // A retry after a lost answer finds the comment and neither uploads nor comments again.
      nock(ZD)
        .get(`${API}/tickets/4106/comments.json`)
        .query(true)
        .reply(200, { comments: [{ id: 30, author_id: 501, public: true, body: '[image] the box (attached: photo.jpg)' }] });
      expect(await connectorWith().execute([op(KIND.attachment, { ...payload, messageId: 'wamid.LOST' }, 2)], context)).toEqual([{ ok: true, result: { zendeskTicketId: '4106' } }]);
      expect(nock.isDone()).toBe(true);
    });
  });

  describe('history (the business app\'s past)', () => {
    const past = (id: string, arrivalSeq: number, text: string, sentAt: number, direction: 'inbound' | 'outbound' = 'inbound'): ThreadMessage => ({ ...line(id, arrivalSeq, text, { direction, history: true }), sentAt });
    const importOp = (messageId: string, arrivalSeq: number, attempts = 1) => op(KIND.historyImport, { messageId, contactId: 'c1', threadId: 't-1', arrivalSeq, customerName: 'Sheena Nelson' }, attempts);
    const T0 = Date.parse('2026-06-01T09:00:00Z');

    it('imports a past conversation as one solved ticket: comments in the customer\'s order, original times, customer or business as author; later operations cost nothing', async () => {
      let imported: any;
      nock(ZD, { reqheaders: { authorization: AUTH } })
        .get(`${API}/users/me.json`)
        .reply(200, { user: { id: 7, role: 'admin' } })
        .post(`${API}/imports/tickets.json`, (b) => ((imported = b.ticket), true))
        .reply(201, { ticket: { id: 5100, status: 'solved', requester_id: 501 } });
      // Arrived out of order (chunks are shuffled); a live message in the same thread stays off the import.
      const context = threadContext([
        past('h2', 1, 'We have it in blue', T0 + 60_000, 'outbound'),
        past('h1', 2, 'Is it in stock?', T0),
        line('live', 3, 'Is my order shipped?', { sentAt: T0 + 86_400_000 }),
        past('h3', 4, 'Great, thanks', T0 + 120_000),
      ]);
      const connector = connectorWith({ history: 'solved-tickets', tags: ['vip'] });
      const [outcome] = await connector.execute([importOp('h2', 1)], context);
      expect(outcome).toEqual({ ok: true, result: { zendeskTicketIds: [5100] } });
      expect(imported).toMatchObject({
        status: 'solved',
        requester_id: 501,
        external_id: 'wa-history:t-1',
        created_at: '2026-06-01T09:00:00.000Z',
        solved_at: '2026-06-01T09:02:00.000Z',
        tags: ['whatsapp_history', 'vip'],
      });
      // Not tagged `whatsapp`: the reply trigger must never fire on an imported ticket.
      expect(imported.tags).not.toContain('whatsapp');
      expect(imported.comments).toEqual([
        { author_id: 501, body: 'Is it in stock?', public: true, created_at: '2026-06-01T09:00:00.000Z' },
        { author_id: 7, body: 'We have it in blue', public: true, created_at: '2026-06-01T09:01:00.000Z' },
        { author_id: 501, body: 'Great, thanks', public: true, created_at: '2026-06-01T09:02:00.000Z' },
      ]);
      // The other messages' operations find them imported: no request (nock would refuse it).
      expect(await connector.execute([importOp('h1', 2), importOp('h3', 4)], context)).toEqual([
        { ok: true, result: { zendeskTicketIds: [5100] } },
        { ok: true, result: { zendeskTicketIds: [5100] } },
      ]);
      expect(nock.isDone()).toBe(true);
    });

    it('after a lost answer, finds the imported ticket by its external id instead of importing it twice', async () => {
      let imports = 0;
      nock(ZD)
        .get(`${API}/users/me.json`)
        .reply(200, { user: { id: 7, role: 'admin' } })
        .post(`${API}/imports/tickets.json`, () => (imports++, true))
        .replyWithError({ code: 'ECONNRESET', message: 'socket hang up' })
        .get(`${API}/tickets.json`)
        .query((q) => q['external_id'] === 'wa-history:t-1')
        .reply(200, { tickets: [{ id: 5200, status: 'solved' }] });
      const context = threadContext([past('h1', 1, 'Is it in stock?', T0), past('h2', 2, 'Thanks', T0 + 1000)]);
      // A lost import is waited out for 1 s (Zendesk may still carry it out) before it is looked for.
      const connector = connectorWith({ history: 'solved-tickets', lostAnswerWaitSeconds: 1 });
      const [first] = await connector.execute([importOp('h1', 1)], context);
      expect(first).toMatchObject({ ok: false });
      expect(first?.ok === false && first.error.retryable).toBe(true);
      expect((await connector.execute([importOp('h1', 1, 2)], context))[0]).toMatchObject({ ok: false, error: { name: 'DeferredError' } });
      await new Promise((resolve) => setTimeout(resolve, 1100));
      const [retried] = await connector.execute([importOp('h1', 1, 2)], context);
      expect(retried).toEqual({ ok: true, result: { zendeskTicketIds: [5200] } });
      expect(imports).toBe(1);
      expect(nock.isDone()).toBe(true);
    });

    it('past messages stored after their conversation was imported go into a follow-on solved ticket, and a long conversation is split at the comment limit', async () => {
      const tickets: any[] = [];
      nock(ZD)
        .get(`${API}/users/me.json`)
        .reply(200, { user: { id: 7, role: 'admin' } })
        .post(`${API}/imports/tickets.json`, (b) => (tickets.push(b.ticket), true))
        .times(3)
        .reply(201, () => ({ ticket: { id: 5300 + tickets.length } }));
      const messages = [past('h1', 1, 'one', T0), past('h2', 2, 'two', T0 + 1000), past('h3', 3, 'three', T0 + 2000)];
      const context = threadContext(messages);
      const connector = connectorWith({ history: 'solved-tickets', historyCommentsPerTicket: 2 });
      expect(await connector.execute([importOp('h1', 1)], context)).toEqual([{ ok: true, result: { zendeskTicketIds: [5301] } }]);
      expect(await connector.execute([importOp('h3', 3)], context)).toEqual([{ ok: true, result: { zendeskTicketIds: [5301, 5302] } }]);
      messages.push(past('h0', 4, 'zero', T0 - 1000));
      expect(await connector.execute([importOp('h0', 4)], context)).toEqual([{ ok: true, result: { zendeskTicketIds: [5301, 5302, 5303] } }]);
      expect(tickets.map((t) => [t.external_id, t.comments.map((c: any) => c.body)])).toEqual([
        ['wa-history:t-1', ['one', 'two']],
        ['wa-history:t-1:after:2', ['three']],
        ['wa-history:t-1:after:3', ['zero']],
      ]);
      expect(tickets[1].subject).toMatch(/history, continued/);
      expect(nock.isDone()).toBe(true);
    });

    it('an agent\'s token refused by the import fails the history operation only (no credential pause), and the next ones make no call for a minute', async () => {
      nock(ZD)
        .get(`${API}/users/me.json`)
        .reply(200, { user: { id: 7, role: 'agent' } })
        .post(`${API}/imports/tickets.json`)
        .reply(403, { error: 'Forbidden', description: 'You do not have access to this page' });
      const context = threadContext([past('h1', 1, 'one', T0)]);
      context.threads.set('t-2', [{ ...past('h2', 2, 'two', T0), id: 'h2' }]);
      const connector = connectorWith({ history: 'solved-tickets' });
      const [refused] = await connector.execute([importOp('h1', 1)], context);
      expect(refused).toMatchObject({ ok: false, error: { name: 'VendorError', retryable: false } });
      expect(refused?.ok === false && refused.error.message).toMatch(/for admins.*history: none/);
      // Another conversation: no request (nock would refuse it).
      const [next] = await connector.execute([op(KIND.historyImport, { messageId: 'h2', contactId: 'c1', threadId: 't-2', arrivalSeq: 2, customerName: 'Sheena Nelson' })], context);
      expect(next).toMatchObject({ ok: false, error: { name: 'VendorError' } });
      expect(nock.isDone()).toBe(true);
    });

    it('a live comment leaves the thread\'s past messages out', () => {
      const run = nextCommentRun([past('h1', 1, 'old', 1), line('m2', 2, 'new')], -1);
      expect(run?.messages.map((m) => m.id)).toEqual(['m2']);
    });
  });

  describe('agent replies', () => {
    it("reads the ticket's new public agent comments and hands them to WhatsApp with their files; the customer's and our own are never sent", async () => {
      const dir = tempDir();
      nock(ZD)
        .get(`${API}/tickets/4107/comments.json`)
        .query(true)
        .reply(200, {
          comments: [
            { id: 14, author_id: 900, public: true, plain_body: 'Here is the manual', attachments: [{ id: 1, file_name: 'manual.pdf', content_url: `${ZD}/attachments/token/abc/?name=manual.pdf`, content_type: 'application/pdf', size: 8 }] },
            { id: 13, author_id: 900, public: false, plain_body: 'internal: check stock' },
            { id: 12, author_id: 1, public: false, plain_body: 'note by the integration' },
            { id: 11, author_id: 501, public: true, plain_body: 'Hello' },
            { id: 10, author_id: 900, public: true, plain_body: 'an old reply' },
          ],
        })
        .get(`${API}/users/me.json`)
        .reply(200, { user: { id: 1, role: 'admin' } });
      nock(ZD, { reqheaders: { authorization: AUTH } }).get('/attachments/token/abc/').query({ name: 'manual.pdf' }).reply(200, Buffer.from('%PDF-1.7'));
      const context = threadContext([]);
      context.refs.set('reply-cursor:4107', '11');
      const [outcome] = await connectorWith({ outsideWindowTemplate: { name: 'ticket_update', ticketNumberParameter: true } }, dir).execute([op(KIND.replies, { ticketId: '4107', threadId: 't-1', contactId: 'c1' })], context);
      expect(outcome).toMatchObject({
        ok: true,
        effects: [
          {
            type: 'reply.requested',
            threadId: 't-1',
            reply: {
              origin: 'zendesk',
              sourceId: '14',
              sourceRecord: '4107',
              text: 'Here is the manual',
              attachments: [{ filename: 'manual.pdf', mimeType: 'application/pdf', size: 8, path: expect.stringContaining(dir) }],
              template: { name: 'ticket_update', language: 'en_US', parameters: ['4107'] },
            },
          },
        ],
      });
      expect(context.refs.get('reply-cursor:4107')).toBe('14');
      expect(nock.isDone()).toBe(true);
    });

    it('plans a reply fetch per Zendesk notification and an internal note for an undeliverable reply or a failed status', () => {
      expect(toOperationDrafts({ type: 'helpdesk.updated', connector: 'zendesk', recordId: '4107', contact, thread, deliveryId: 9 })).toEqual([
        { kind: KIND.replies, key: '4107:9', orderingKey: 'contact:c1', payload: { ticketId: '4107', threadId: 't-1', contactId: 'c1' } },
      ]);
      const reply = { origin: 'zendesk', sourceId: '14', sourceRecord: '4107', text: 'hi', attachments: [], template: null };
      const [note] = toOperationDrafts({ type: 'reply.undeliverable', contact, thread, reply, reason: 'the window is closed' });
      expect(note).toMatchObject({ kind: KIND.note, payload: { ticketId: '4107', body: expect.stringContaining('the window is closed') } });
      const [failed] = toOperationDrafts({
        type: 'message.status',
        contact,
        message: message({ id: 'wamid.R', direction: 'outbound', origin: 'zendesk', text: 'Here is the manual' }),
        status: 'failed',
        at: 0,
        messageId: 'wamid.R',
        errors: [{ code: 131047, title: 'Re-engagement message' }],
      });
      expect(failed).toMatchObject({ kind: KIND.note, key: 'failed:wamid.R', payload: { ticketId: null, body: expect.stringMatching(/131047[\s\S]*only an approved template/) } });
      // A failed status of a message that did not come from Zendesk is none of its business.
      expect(toOperationDrafts({ type: 'message.status', contact, message: message({ direction: 'outbound' }), status: 'failed', at: 0, messageId: 'x', errors: [] })).toEqual([]);
    });

    it('filters agent comments: newer than the cursor, public, by neither the requester nor the integration', () => {
      const comments = [
        { id: 5, author_id: 900, public: true },
        { id: 3, author_id: 900, public: true },
        { id: 6, author_id: 501, public: true },
        { id: 7, author_id: 1, public: true },
        { id: 8, author_id: 901, public: false },
      ];
      expect(agentReplies(comments, 4, 501, 1).map((c) => c.id)).toEqual([5]);
    });

    it('parses the trigger body, and flags anything else', () => {
      expect(parseZendeskDelivery('{"ticket_id":"4107","external_id":"t-1"}')).toEqual({ events: [{ kind: 'helpdesk', connector: 'zendesk', recordId: '4107', threadId: 't-1' }], problems: [] });
      expect(parseZendeskDelivery('{"ticket_id":4107,"external_id":""}').events[0]).toMatchObject({ threadId: null });
      expect(parseZendeskDelivery('{"id":1}').problems[0]).toMatch(/lacks ticket_id/);
      expect(parseZendeskDelivery('nope').problems[0]).toMatch(/not JSON/);
    });
  });

  describe('scopes and setup', () => {
    it("reads an API token's access from its agent's role and blocks on what is missing", async () => {
      nock(ZD).get(`${API}/users/me.json`).reply(200, { user: { id: 1, role: 'agent' } });
      const connector = connectorWith();
      const report = buildScopeReport(connector, await connector.grantedScopes(testContext()));
      expect(report.missing).toEqual(['triggers:read', 'triggers:write', 'webhooks:read', 'webhooks:write']);
      nock(ZD).get(`${API}/oauth/tokens/current.json`).reply(200, { token: { scopes: ['read', 'tickets:write', 'users:write'] } });
      const oauth = zendeskConnector.create(zendeskSettingsSchema.parse({ enabled: true, subdomain: 'acme', oauthToken: 'oat', autoSetup: false }), { log: silentLogger(), mediaDir: '/tmp' });
      expect(buildScopeReport(oauth, await oauth.grantedScopes(testContext())).missing).toEqual([]);
    });

    it('a refused token is a credential error, not a retry', async () => {
      nock(ZD).get(`${API}/users/me.json`).reply(401, { error: 'Couldn\'t authenticate you' });
      await expect(connectorWith().grantedScopes(testContext())).rejects.toMatchObject({ name: 'CredentialError' });
    });

    it('creates the webhook and trigger once, keeping the signing secret', async () => {
      let trigger: any;
      const userFields: any[] = [];
      nock(ZD)
        // The user fields that hold BSUIDs and usernames: one is there, one is made.
        .get(/\/api\/v2\/user_fields(\.json)?$/)
        .reply(200, { user_fields: [{ id: 1, key: 'whatsapp_bsuid', type: 'text', title: 'WhatsApp BSUID' }, { id: 3, key: 'whatsapp_window_open_until', type: 'text', title: 'WhatsApp window open until (UTC)' }] })
        .post(/\/api\/v2\/user_fields(\.json)?$/, (b) => (userFields.push(b.user_field), true))
        .reply(201, { user_field: { id: 2, key: 'whatsapp_username' } })
        .get(`${API}/webhooks`)
        .query(true)
        .reply(200, { webhooks: [] })
        .post(`${API}/webhooks`)
        .reply(201, { webhook: { id: 'wh1', name: 'wa-crm-sync agent replies', endpoint: 'https://sync.acme.test/webhooks/zendesk' } })
        .get(`${API}/webhooks/wh1/signing_secret`)
        .reply(200, { signing_secret: { secret: 'dGhpcyBpcyBhIHNlY3JldA==', algorithm: 'SHA256' } })
        .get(`${API}/triggers/search.json`)
        .query(true)
        .reply(200, { triggers: [] })
        .post(`${API}/triggers.json`, (b) => ((trigger = b.trigger), true))
        .reply(201, { trigger: { id: 5 } });
      const context = testContext();
      const done = await connectorWith({ publicUrl: 'https://sync.acme.test' }).setup!(context);
      expect(done).toHaveLength(3);
      expect(done[0]).toBe('created the Zendesk user field whatsapp_username');
      expect(userFields).toEqual([{ type: 'text', key: 'whatsapp_username', title: 'WhatsApp username', description: 'Written by wa-crm-sync' }]);
      expect(context.refs.get('webhook:signing-secret')).toBe('dGhpcyBpcyBhIHNlY3JldA==');
      expect(trigger.actions[0].value[0]).toBe('wh1');
      expect(JSON.parse(trigger.actions[0].value[1])).toEqual({ ticket_id: '{{ticket.id}}', external_id: '{{ticket.external_id}}' });
      expect(nock.isDone()).toBe(true);
    });
  });

  describe('declared operations', () => {
    it("a payload its kind's schema refuses is dead with the reason, costs no call, and holds back the rest of its customer's run", async () => {
      const context = threadContext([line('m1', 1, 'hello')]);
      const outcomes = await connectorWith().execute([op(KIND.comment, { messageId: 'm1', contactId: 'c1', threadId: 't-1', arrivalSeq: 'one', customerName: 'Sheena' }), commentOp('m2', 2)], context);
      expect(outcomes[0]).toMatchObject({ ok: false, error: { name: 'InvalidPayloadError', retryable: false } });
      expect(outcomes[0]?.ok === false && outcomes[0].error.message).toBe('ticket.comment payload does not match its schema: arrivalSeq: Invalid input: expected number, received string');
      expect(outcomes[1]).toMatchObject({ ok: false, error: { name: 'NotAttemptedError' } });
    });

    it("a user operation queued by an older version ({ contactId, waId, profileName }) is read as that number's user", async () => {
      nock(ZD).get(`${API}/users/show_many.json`).query({ ids: '501' }).reply(200, { users: [{ id: 501, phone: '+447700900123', external_id: '+447700900123', notes: null }] });
      const context = testContext();
      context.refs.set('user:c1', '501');
      const [outcome] = await connectorWith().execute([op(KIND.user, { contactId: 'c1', waId: '+447700900123', profileName: 'Sheena Nelson', extra: 'dropped' })], context);
      expect(outcome).toEqual({ ok: true, result: { zendeskUserId: 501 } });
      expect(nock.isDone()).toBe(true);
    });
  });

  describe('vendor answers (responses.ts)', () => {
    it('an answer without the shape we read is a retryable vendor error saying where, never what it holds, and nothing is sent', async () => {
      // A comment list whose entries lack their author: no reply can be told from the customer's own.
      nock(ZD)
        .get(`${API}/tickets/4107/comments.json`)
        .query(true)
        .reply(200, { comments: [{ id: 14, public: true, plain_body: 'Call me on +447700900999' }] })
        .get(`${API}/users/me.json`)
        .reply(200, { user: { id: 1, role: 'admin' } });
      const context = threadContext([]);
      const [outcome] = await connectorWith().execute([op(KIND.replies, { ticketId: '4107', threadId: 't-1', contactId: 'c1' })], context);
      expect(outcome).toMatchObject({ ok: false, error: { name: 'VendorError', retryable: true } });
      const message = outcome?.ok === false ? outcome.error.message : '';
      expect(message).toBe('zendesk: reading comments of ticket 4107: unexpected answer: 0.author_id: Invalid input: expected number, received undefined');
      expect(message).not.toContain('+447700900999');
      expect(context.refs.get('reply-cursor:4107')).toBeUndefined();
    });

    it('a user lookup answering something other than a list fails the batch retryably instead of creating the users again', async () => {
      nock(ZD).get(`${API}/users/show_many.json`).query(true).reply(200, { users: { id: 901 } });
      const outcomes = await connectorWith().execute([op(KIND.user, { contactId: 'c1', waId: '+447700900123', profileName: 'Sheena Nelson' })], testContext());
      expect(outcomes[0]).toMatchObject({ ok: false, error: { name: 'VendorError', retryable: true, message: expect.stringContaining('looking up users by WhatsApp id: unexpected answer') } });
      expect(nock.isDone()).toBe(true);
    });
  });

  it('refuses a config without credentials, naming the key', () => {
    const result = zendeskSettingsSchema.safeParse({ enabled: true, subdomain: 'acme' });
    expect(result.success).toBe(false);
    expect(result.error!.issues.map((i) => i.path.join('.'))).toContain('apiToken');
    expect(new VendorError('zendesk', 'x').name).toBe('VendorError');
  });
});
