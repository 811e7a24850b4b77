// The generic webhook connector (also the crash tests' recording vendor), HTTP mocked with nock:
// the protocol the README promises (body, Idempotency-Key, signature), which answers count as
// delivered, how failures are classified for the outbox, and the look-up by key before a re-send.
import { createHmac } from 'node:crypto';
import nock from 'nock';
import { describe, expect, it } from 'vitest';
import { webhookConnector } from '../../../connectors/webhook/index.js';
import { KIND, toOperationDrafts } from '../../../connectors/webhook/mappers.js';
import { webhookSettingsSchema } from '../../../connectors/webhook/settings.js';
import { CredentialError, TransportError, VendorError } from '../../../core/errors.js';
import { silentLogger } from '../../../core/logger.js';
import { claimedOperation, testContext } from '../../helpers/context.js';
import { onlyMockedHttp } from '../../helpers/nock.js';

const ENDPOINT = 'https://hooks.acme.test';
const SECRET = 'a shared secret of the receiver';
const create = (extra: Record<string, unknown> = {}) =>
  webhookConnector.create(webhookSettingsSchema.parse({ enabled: true, url: `${ENDPOINT}/wa-events/`, timeoutMs: 500, ...extra }), { log: silentLogger(), mediaDir: '/tmp' });
/** The error of a send that failed: the connector reports it as the operation's outcome. */
const failureOf = async (connector: ReturnType<typeof create>) => {
  const [outcome] = await connector.execute([messageOp()], testContext());
  expect(outcome).toMatchObject({ ok: false });
  return (outcome as { error: unknown }).error;
};
/** A message.forward payload as the planner writes it. */
const MESSAGE = {
  messageId: 'wamid.W1',
  contactId: 'c1',
  waId: '+447700900123',
  bsuid: null,
  threadId: 't1',
  newThread: true,
  direction: 'inbound',
  type: 'text',
  originalType: 'text',
  text: 'hello',
  media: null,
  sentAt: '2026-01-05T10:00:00.000Z',
  arrivalSeq: 1,
  replyToId: null,
  history: false,
};
const messageOp = () => claimedOperation('webhook', KIND.message, MESSAGE);

describe('webhook connector', () => {
  onlyMockedHttp();

  it('POSTs {idempotencyKey, type, data} with the Idempotency-Key header and the HMAC of the exact body', async () => {
    const op = messageOp();
    let raw = '';
    let headers: Record<string, string | string[] | undefined> = {};
    nock(ENDPOINT)
      .post('/wa-events', (body) => ((raw = JSON.stringify(body)), true))
      .reply(function (_uri, _body) {
        headers = this.req.headers;
        return [200, 'ok'];
      });
    const context = testContext();
    expect(await create({ secret: SECRET }).execute([op], context)).toEqual([{ ok: true }]);
    expect(JSON.parse(raw)).toEqual({ idempotencyKey: op.idempotencyKey, type: 'message', data: MESSAGE });
    expect(headers['idempotency-key']).toBe(op.idempotencyKey);
    expect(headers['content-type']).toBe('application/json');
    const sent = `{"idempotencyKey":"${op.idempotencyKey}","type":"message","data":${JSON.stringify(MESSAGE)}}`;
    expect(headers['x-wa-crm-sync-signature']).toBe(`sha256=${createHmac('sha256', SECRET).update(sent).digest('hex')}`);
    expect(context.calls).toEqual([200]);
  });

  it('sends no signature header when no secret is set', async () => {
    let headers: Record<string, unknown> = {};
    nock(ENDPOINT).post('/wa-events').reply(function () {
      headers = this.req.headers;
      return [204];
    });
    expect(await create().execute([messageOp()], testContext())).toEqual([{ ok: true }]);
    expect(headers['idempotency-key']).toMatch(/^webhook:message\.forward:/);
    expect(headers).not.toHaveProperty('x-wa-crm-sync-signature');
  });

  it('takes 409 (the receiver already holds the key) as delivered', async () => {
    nock(ENDPOINT).post('/wa-events').reply(409, { error: 'duplicate' });
    expect(await create().execute([messageOp()], testContext())).toEqual([{ ok: true }]);
  });

  it.each([
    [500, true],
    [503, true],
    [408, true],
    [400, false],
    [404, false],
    [422, false],
  ])('HTTP %i fails the send, retryable: %s', async (status, retryable) => {
    nock(ENDPOINT).post('/wa-events').reply(status, 'nope');
    const error = await failureOf(create());
    expect(error).toBeInstanceOf(VendorError);
    expect(error).toMatchObject({ status, retryable });
  });

  it('a 429 is retryable after exactly the receiver\'s Retry-After; a 401 is a credential problem', async () => {
    nock(ENDPOINT).post('/wa-events').reply(429, 'slow down', { 'retry-after': '7' });
    expect(await failureOf(create())).toMatchObject({ status: 429, retryable: true, retryAfterMs: 7000 });
    nock(ENDPOINT).post('/wa-events').reply(401, 'who are you');
    expect(await failureOf(create())).toBeInstanceOf(CredentialError);
  });

  it('no answer within timeoutMs is a transport failure (the send may have landed: reconcile decides)', async () => {
    nock(ENDPOINT).post('/wa-events').delay(2000).reply(200);
    const error = await failureOf(create());
    expect(error).toBeInstanceOf(TransportError);
    expect(String((error as Error).message)).toContain('no answer within 500 ms');
  });

  it("a run of one contact's operations stops at the first failure: the rest are not sent", async () => {
    nock(ENDPOINT).post('/wa-events').reply(200).post('/wa-events').reply(503, 'down');
    const outcomes = await create().execute([messageOp(), messageOp(), messageOp()], testContext());
    expect(outcomes.map((o) => o.ok)).toEqual([true, false, false]);
    expect(outcomes[1]).toMatchObject({ error: { status: 503, retryable: true } });
    expect((outcomes[2] as { error: Error }).error.name).toBe('NotAttemptedError');
    expect(nock.isDone()).toBe(true);
  });

  it('before a re-send, asks GET {url}/{key}: 200 means it landed, 404 means send again; anything else is an error', async () => {
    const op = messageOp();
    const path = `/wa-events/${encodeURIComponent(op.idempotencyKey)}`;
    nock(ENDPOINT).get(path).reply(200, { held: true });
    expect(await create().reconcile!(op, testContext())).toEqual({ ok: true });
    nock(ENDPOINT).get(path).reply(404);
    expect(await create().reconcile!(op, testContext())).toBeUndefined();
    nock(ENDPOINT).get(path).reply(502);
    await expect(create().reconcile!(op, testContext())).rejects.toMatchObject({ status: 502, retryable: true });
  });

  it('a payload its kind\'s schema refuses is dead with the reason, and nothing is posted; a field the schema does not name is still sent', async () => {
    const [outcome] = await create().execute([claimedOperation('webhook', KIND.message, { ...MESSAGE, arrivalSeq: 'one' })], testContext());
    expect(outcome).toMatchObject({ ok: false, error: { name: 'InvalidPayloadError', retryable: false, message: expect.stringMatching(/^message\.forward payload does not match its schema: arrivalSeq: /) } });
    let raw = '';
    nock(ENDPOINT).post('/wa-events', (body) => ((raw = JSON.stringify(body)), true)).reply(200);
    expect(await create().execute([claimedOperation('webhook', KIND.status, { messageId: 'wamid.W1', status: 'read', at: '2026-01-05T10:00:00.000Z', errors: [], pricing: 'x' })], testContext())).toEqual([{ ok: true }]);
    expect(JSON.parse(raw)).toMatchObject({ type: 'status', data: { status: 'read', pricing: 'x' } });
  });

  it('plans only the configured event types, each keyed so a replayed change is one operation', () => {
    const contact = { id: 'c1', waId: '+447700900123', userId: null, profileName: 'Ada', updatedAt: 5 };
    const change = { type: 'contact.upserted', contact, created: true } as unknown as Parameters<typeof toOperationDrafts>[0];
    expect(toOperationDrafts(change, ['message'])).toEqual([]);
    expect(toOperationDrafts(change, ['contact'])).toEqual([
      { kind: KIND.contact, key: 'c1:5', orderingKey: 'contact:c1', payload: { contactId: 'c1', waId: '+447700900123', userId: null, profileName: 'Ada', created: true } },
    ]);
  });
});
