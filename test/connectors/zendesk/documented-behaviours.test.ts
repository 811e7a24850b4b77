// The Zendesk connector against the sandbox behaving as Zendesk documents itself: processed
// comment bodies, bulk jobs that run later and answer by position, Idempotency-Keys that expire,
// lost answers after the work is done. Real HTTP, real node-zendesk; refs kept in memory.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { zendeskConnector } from '../../../connectors/zendesk/index.js';
import { KIND } from '../../../connectors/zendesk/mappers.js';
import { zendeskSettingsSchema } from '../../../connectors/zendesk/settings.js';
import type { Connector, ExecutionContext, OperationOutcome, ThreadMessage } from '../../../core/connector.js';
import { asSyncError } from '../../../core/errors.js';
import { silentLogger } from '../../../core/logger.js';
import type { OutboxOperation } from '../../../core/outbox/queries.js';
import { ZendeskSandbox, processedCommentBody } from '../../../sandbox/zendesk.js';
import { claimedOperation, testContext } from '../../helpers/context.js';
import { tempDir } from '../../helpers/stores.js';

const TWO_HOURS = 2 * 3_600_000;
const base = Date.UTC(2026, 0, 5, 9, 0);
const line = (id: string, arrivalSeq: number, text: string, minute = arrivalSeq): ThreadMessage => ({ id, direction: 'inbound', text, sentAt: base + minute * 60_000, arrivalSeq, origin: null, warnings: [] });

describe('Zendesk connector against documented Zendesk behaviour', () => {
  const sandbox = new ZendeskSandbox({ searchIndexDelayMs: 60_000 });
  let connector: Connector;
  let mediaDir: string;
  let baseUrl: string;

  beforeAll(async () => {
    baseUrl = await sandbox.start();
    mediaDir = tempDir();
    // A lost comment update is waited out for 1 s before the retry looks for it.
    connector = zendeskConnector.create(zendeskSettingsSchema.parse({ enabled: true, baseUrl, ...sandbox.credentials, timeoutMs: 1000, autoSetup: false, lostAnswerWaitSeconds: 1 }), { log: silentLogger(), mediaDir });
  });
  afterAll(() => sandbox.stop());

  let thread = 0;
  let threadId: string;
  beforeEach(() => {
    threadId = `t-doc-${++thread}`;
  });

  /** A context where the customer is already a Zendesk user and the thread holds `messages`. */
  function contextWith(messages: ThreadMessage[]) {
    const context = testContext();
    const user = { id: 7000 + thread, name: 'Sheena Nelson', phone: '+447700900123', external_id: `+44770090${String(thread).padStart(4, '0')}`, role: 'end-user', created_at: new Date(0).toISOString() };
    sandbox.state.users.push(user);
    context.refs.set('user:c1', String(user.id));
    context.threads.set(threadId, messages);
    return context;
  }
  const commentOp = (messageId: string, arrivalSeq: number, attempts = 1) =>
    claimedOperation('zendesk', KIND.comment, { messageId, contactId: 'c1', threadId, arrivalSeq, waId: '+447700900123', profileName: 'Sheena Nelson' }, { attempts });
  /** What the dispatcher does with an operation: reconcile it when it may have reached Zendesk, else run it. */
  async function dispatch(op: OutboxOperation, context: ExecutionContext): Promise<OperationOutcome> {
    if (op.attempts > 1) {
      try {
        const found = await connector.reconcile(op, context);
        if (found) return found;
      } catch (error) {
        // As the dispatcher does: a failed reconcile (a deferral among them) is the attempt's outcome.
        return { ok: false, error: asSyncError(error) };
      }
    }
    const [outcome] = await connector.execute([op], context);
    return outcome!;
  }
  const ticketsOf = () => sandbox.state.tickets.filter((t) => t.external_id === threadId);
  const bodies = () => ticketsOf().flatMap((t) => t.comments.map((c) => c.body));

  it('keeps comment bodies as Zendesk documents: whitespace collapsed, HTML stripped, placeholders rendered', () => {
    expect(processedCommentBody('09:01 UTC  <b>hi</b>\n\n\n09:02 UTC  ticket {{ticket.id}} {{unknown.thing}}', { 'ticket.id': '42' })).toBe('09:01 UTC hi\n09:02 UTC ticket 42');
  });

  it('a multi-message comment whose answer was lost is not written again by the retry', async () => {
    const context = contextWith([line('m1', 1, 'Hello')]);
    expect((await dispatch(commentOp('m1', 1), context)).ok).toBe(true);
    context.threads.set(threadId, [line('m1', 1, 'Hello'), line('m2', 2, 'Is the  blue one <in stock>?'), line('m3', 3, 'Size 40 for {{ticket.requester.name}}')]);
    sandbox.loseAnswers(1, '/tickets/', 'PUT');
    const lost = await dispatch(commentOp('m3', 3), context);
    expect(lost.ok).toBe(false);
    expect(bodies()).toHaveLength(2);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect((await dispatch(commentOp('m3', 3, 2), context)).ok).toBe(true);
    expect(bodies()).toHaveLength(2);
    expect(bodies()[1]).toContain('Size 40 for Sheena Nelson');
  });

  it('a comment update Zendesk carries out after its connection dropped is not written again by a retry that looks too soon', async () => {
    // The connector waits out a lost answer for 1 s; the sandbox carries the dropped update out 600 ms later.
    const context = contextWith([line('m1', 1, 'Hello')]);
    expect((await connector.execute([commentOp('m1', 1)], context))[0]!.ok).toBe(true);
    context.threads.set(threadId, [line('m1', 1, 'Hello'), line('m2', 2, 'Is it in stock?')]);
    sandbox.chaos.set({ rate: 1, kinds: ['lands-late'], lateMs: 600, methods: ['PUT'] });
    try {
      expect((await connector.execute([commentOp('m2', 2)], context))[0]!.ok).toBe(false);
    } finally {
      sandbox.chaos.set(undefined);
    }
    // The retry comes at once, before the update has landed: it must not write the comment now.
    const early = (await connector.execute([commentOp('m2', 2, 2)], context))[0]!;
    expect(early.ok).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 1200));
    expect(bodies()).toEqual(['Hello', 'Is it in stock?']);
    // Once the update can no longer land, the retry looks, finds it and writes nothing more.
    expect((await connector.execute([commentOp('m2', 2, 2)], context))[0]!.ok).toBe(true);
    expect(bodies()).toEqual(['Hello', 'Is it in stock?']);
  });

  /** Runs `op`, which the sandbox drops at once and carries out 600 ms later; then its retry, at once: it must wait. */
  async function landedLateThenRetried(op: OutboxOperation, context: ExecutionContext, request: string) {
    sandbox.landLate(request, 600);
    expect((await dispatch(op, context)).ok).toBe(false);
    const early = await dispatch({ ...op, attempts: op.attempts + 1 }, context);
    expect(early.ok, 'a retry right after a lost answer waits for a late landing').toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 1200));
    return dispatch({ ...op, attempts: op.attempts + 2 }, context);
  }

  it('a ticket creation Zendesk carries out after its connection dropped is adopted by the retry, not created again', async () => {
    const context = contextWith([line('m1', 1, 'Where is my order?')]);
    expect((await landedLateThenRetried(commentOp('m1', 1), context, 'POST /tickets')).ok).toBe(true);
    expect(ticketsOf()).toHaveLength(1);
    expect(context.refs.get(`ticket:${threadId}`)).toBe(String(ticketsOf()[0]!.id));
    expect(bodies()).toEqual(['Where is my order?']);
  });

  it('an attachment comment Zendesk carries out after its connection dropped is not written again', async () => {
    const context = contextWith([line('m1', 1, 'Here is the photo')]);
    expect((await dispatch(commentOp('m1', 1), context)).ok).toBe(true);
    const path = join(mediaDir, `late-${thread}.jpg`);
    writeFileSync(path, Buffer.from([0xff, 0xd8, 0xff, 0xe0, 9]));
    const attach = claimedOperation('zendesk', KIND.attachment, { messageId: 'm1', contactId: 'c1', threadId, path, sha256: 'c'.repeat(64), mimeType: 'image/jpeg', size: 5, filename: null, text: 'Here is the photo' });
    expect((await landedLateThenRetried(attach, context, 'PUT /tickets/')).ok).toBe(true);
    expect(bodies().filter((b) => b.includes('(attached:'))).toHaveLength(1);
  });

  it('an internal note Zendesk carries out after its connection dropped is not written again', async () => {
    const context = contextWith([line('m1', 1, 'Hello')]);
    expect((await dispatch(commentOp('m1', 1), context)).ok).toBe(true);
    const note = claimedOperation('zendesk', KIND.note, { threadId, ticketId: null, body: 'The reply could not be delivered on WhatsApp.' });
    expect((await landedLateThenRetried(note, context, 'PUT /tickets/')).ok).toBe(true);
    expect(bodies()).toEqual(['Hello', 'The reply could not be delivered on WhatsApp.']);
  });

  it('a history import Zendesk carries out after its connection dropped is adopted by the retry, not imported again', async () => {
    const context = contextWith([{ ...line('h1', 1, 'Is it in stock?'), history: true }]);
    const importOp = claimedOperation('zendesk', KIND.historyImport, { messageId: 'h1', contactId: 'c1', threadId, arrivalSeq: 1, customerName: 'Sheena Nelson' });
    expect((await landedLateThenRetried(importOp, context, 'POST /imports/tickets')).ok).toBe(true);
    expect(sandbox.state.tickets.filter((t) => t.external_id === `wa-history:${threadId}`)).toHaveLength(1);
  });

  it('after IdempotentRequestError, adopts the ticket and goes on from what its kept body carried', async () => {
    const context = contextWith([line('m1', 1, 'First  line'), line('m2', 2, 'Second   line')]);
    sandbox.loseAnswers(1, '/tickets', 'POST');
    expect((await connector.execute([commentOp('m1', 1)], context))[0]!.ok).toBe(false);
    // The retry waits out the lost creation (1 s here) before it goes again.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    // A third message arrives before the retry: the retry's body differs, Zendesk refuses the key.
    context.threads.set(threadId, [line('m1', 1, 'First  line'), line('m2', 2, 'Second   line'), line('m3', 3, 'Third line')]);
    expect((await connector.execute([commentOp('m1', 1, 2)], context))[0]!.ok).toBe(true);
    expect((await connector.execute([commentOp('m3', 3)], context))[0]!.ok).toBe(true);
    expect(ticketsOf()).toHaveLength(1);
    const text = bodies().join('\n');
    for (const m of ['First line', 'Second line', 'Third line']) expect(text.split(m).length - 1, text).toBe(1);
  });

  it('an expired Idempotency-Key does not make a second ticket: the ticket is found by external_id first', async () => {
    const context = contextWith([line('m1', 1, 'Where is my order?')]);
    sandbox.loseAnswers(1, '/tickets', 'POST');
    expect((await dispatch(commentOp('m1', 1), context)).ok).toBe(false);
    expect(ticketsOf()).toHaveLength(1);
    // An outage longer than Zendesk keeps the key (and than the 1 s wait for a late landing).
    await new Promise((resolve) => setTimeout(resolve, 1100));
    sandbox.advanceClock(TWO_HOURS + 60_000);
    expect((await dispatch(commentOp('m1', 1, 2), context)).ok).toBe(true);
    expect(ticketsOf()).toHaveLength(1);
    expect(context.refs.get(`ticket:${threadId}`)).toBe(String(ticketsOf()[0]!.id));
    expect(bodies()).toEqual(['Where is my order?']);
  });

  it('creates end users from job results that come by position without external_id, once the job has run', async () => {
    const context = testContext();
    const ops = ['+447700900201', '+447700900202', '+447700900203'].map((waId, i) => claimedOperation('zendesk', KIND.user, { contactId: `u${i}`, waId, profileName: `Customer ${i}` }));
    const outcomes = await connector.execute(ops, context);
    expect(outcomes.map((o) => o.ok)).toEqual([true, true, true]);
    for (const [i, waId] of ['+447700900201', '+447700900202', '+447700900203'].entries()) {
      const user = sandbox.state.users.find((u) => u.external_id === waId)!;
      expect(outcomes[i]).toEqual({ ok: true, result: { zendeskUserId: user.id } });
    }
    // The same customers again (a lost answer, a redelivery): found by external id, not doubled; the search index has not caught up.
    expect((await connector.execute(ops.map((o) => ({ ...o, attempts: 2 })), testContext())).map((o) => o.ok)).toEqual([true, true, true]);
    expect(sandbox.state.users.filter((u) => u.external_id?.startsWith('+4477009002'))).toHaveLength(3);
  });

  it('uploads a file with its own MIME type', async () => {
    const context = contextWith([line('m1', 1, 'Here is the photo')]);
    expect((await dispatch(commentOp('m1', 1), context)).ok).toBe(true);
    const path = join(mediaDir, 'photo.jpg');
    writeFileSync(path, Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]));
    const attach = claimedOperation('zendesk', KIND.attachment, { messageId: 'm1', contactId: 'c1', threadId, path, sha256: 'a'.repeat(64), mimeType: 'image/jpeg', size: 7, filename: null, text: 'Here is the photo' });
    expect((await dispatch(attach, context)).ok).toBe(true);
    const attachment = ticketsOf()[0]!.comments.at(-1)!.attachments[0]!;
    expect(attachment.content_type).toBe('image/jpeg');
    expect(attachment.file_name).toMatch(/\.jpeg$/);
  });
});
