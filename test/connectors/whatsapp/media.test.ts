// Media download through the Cloud API, HTTP mocked with nock.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import nock from 'nock';
import { beforeEach, describe, expect, it } from 'vitest';
import { whatsappConnector } from '../../../connectors/whatsapp/index.js';
import { whatsappSection } from '../../../core/config/schema.js';
import type { Connector } from '../../../core/connector.js';
import { CredentialError, VendorError } from '../../../core/errors.js';
import { silentLogger } from '../../../core/logger.js';
import { claimedOperation, testContext } from '../../helpers/context.js';
import { onlyMockedHttp } from '../../helpers/nock.js';
import { tempDir } from '../../helpers/stores.js';

const GRAPH = 'https://graph.facebook.com';
const bytes = Buffer.from('fake jpeg bytes');
const hex = createHash('sha256').update(bytes).digest('hex');

const operation = (payload: Record<string, unknown>) => claimedOperation('whatsapp', 'media.fetch', payload, { orderingKey: 'media:wamid.1' });

const imagePayload = { messageId: 'wamid.1', mediaId: '1003383421387256', kind: 'image', mimeType: 'image/jpeg', sha256: createHash('sha256').update(bytes).digest('base64'), filename: null };

describe('WhatsApp media fetch', () => {
  let connector: Connector;
  let mediaDir: string;

  onlyMockedHttp();
  beforeEach(() => {
    mediaDir = tempDir();
    const settings = whatsappSection.parse({ appSecret: 'a', verifyToken: 'b', accessToken: 'EAAG-token' });
    connector = whatsappConnector.create(settings, { log: silentLogger(), mediaDir });
  });

  it('plans one fetch per media message, on its own ordering key', () => {
    const drafts = connector.plan({
      type: 'message.recorded',
      contact: { id: 'c1', crmKey: '+16505551234', waId: '+16505551234', bsuid: null, parentBsuid: null, username: null, userId: null, profileName: null, createdAt: 0, updatedAt: 0 },
      thread: { id: 't1', contactId: 'c1', businessNumberId: '1', startedAt: 0, lastMessageAt: 0 },
      threadCreated: true,
      message: { id: 'wamid.1', threadId: 't1', contactId: 'c1', direction: 'inbound', type: 'image', originalType: 'image', text: '[image]', media: { kind: 'image', mediaId: 'm1', mimeType: 'image/jpeg' }, sentAt: 0, arrivalSeq: 1, status: null, replyToId: null, origin: null, warnings: [] },
    });
    expect(drafts).toEqual([expect.objectContaining({ kind: 'media.fetch', key: 'wamid.1', orderingKey: 'media:wamid.1' })]);
  });

  it('downloads with the bearer token, checks the hash and stores the file by SHA-256', async () => {
    nock(GRAPH, { reqheaders: { authorization: 'Bearer EAAG-token' } })
      .get('/v23.0/1003383421387256')
      .reply(200, { messaging_product: 'whatsapp', url: 'https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1003383421387256', mime_type: 'image/jpeg', sha256: hex, file_size: bytes.length, id: '1003383421387256' });
    nock('https://lookaside.fbsbx.com', { reqheaders: { authorization: 'Bearer EAAG-token' } })
      .get('/whatsapp_business/attachments/')
      .query({ mid: '1003383421387256' })
      .reply(200, bytes, { 'content-type': 'image/jpeg' });
    const [outcome] = await connector.execute([operation(imagePayload)], testContext());
    expect(outcome).toMatchObject({ ok: true, effects: [{ type: 'media.stored', media: { messageId: 'wamid.1', sha256: hex, size: bytes.length } }] });
    const effect = outcome!.ok ? outcome!.effects![0] : undefined;
    const stored = effect?.type === 'media.stored' ? effect.media.path : '';
    expect(readFileSync(stored)).toEqual(bytes);
    expect(nock.isDone()).toBe(true);
  });

  it('treats a damaged download as retryable', async () => {
    nock(GRAPH).get('/v23.0/1003383421387256').reply(200, { url: 'https://lookaside.fbsbx.com/x', mime_type: 'image/jpeg', sha256: 'ff'.repeat(32), id: '1003383421387256' });
    nock('https://lookaside.fbsbx.com').get('/x').reply(200, bytes);
    const [outcome] = await connector.execute([operation(imagePayload)], testContext());
    expect(outcome!.ok).toBe(false);
    const error = !outcome!.ok ? outcome!.error : undefined;
    expect(error).toBeInstanceOf(VendorError);
    expect(error!.retryable).toBe(true);
    expect(error!.message).toMatch(/SHA-256 mismatch/);
  });

  it('refuses media over the size cap for its kind without downloading it', async () => {
    nock(GRAPH).get('/v23.0/1003383421387256').reply(200, { url: 'https://lookaside.fbsbx.com/x', mime_type: 'image/jpeg', file_size: 6 * 1024 * 1024, id: '1003383421387256' });
    const [outcome] = await connector.execute([operation(imagePayload)], testContext());
    const error = !outcome!.ok ? outcome!.error : undefined;
    expect(error!.retryable).toBe(false);
    expect(error!.message).toMatch(/over the 5242880-byte cap for image/);
  });

  it('turns an expired token (code 190) into a credential error that blocks the connector', async () => {
    nock(GRAPH).get('/v23.0/1003383421387256').reply(401, { error: { message: 'Error validating access token: Session has expired', type: 'OAuthException', code: 190, fbtrace_id: 'A' } });
    const [outcome] = await connector.execute([operation(imagePayload)], testContext());
    const error = !outcome!.ok ? outcome!.error : undefined;
    expect(error).toBeInstanceOf(CredentialError);
    expect(error!.message).toMatch(/access token rejected: Error validating access token: Session has expired \(code 190\)/);
  });

  it('backs off on throughput errors, honouring Retry-After', async () => {
    nock(GRAPH).get('/v23.0/1003383421387256').reply(429, { error: { message: 'Rate limit hit', code: 130429 } }, { 'retry-after': '7' });
    const context = testContext();
    const [outcome] = await connector.execute([operation(imagePayload)], context);
    const error = !outcome!.ok ? outcome!.error : undefined;
    expect(error).toMatchObject({ retryable: true, retryAfterMs: 7000, code: '130429' });
    expect(context.calls).toEqual([429]);
  });

  it('reads granted scopes from debug_token', async () => {
    nock(GRAPH).get('/v23.0/debug_token').query({ input_token: 'EAAG-token' }).reply(200, { data: { is_valid: true, scopes: ['whatsapp_business_messaging', 'whatsapp_business_management'] } });
    expect(await connector.grantedScopes(testContext())).toEqual(['whatsapp_business_messaging', 'whatsapp_business_management']);
  });

  it("refuses a payload its kind's schema does not accept, with the reason, before any request", async () => {
    const [outcome] = await connector.execute([operation({ ...imagePayload, kind: 'hologram' })], testContext());
    expect(outcome).toMatchObject({ ok: false, error: { name: 'InvalidPayloadError', retryable: false, message: expect.stringMatching(/^media\.fetch payload does not match its schema: kind: /) } });
  });

  it('fails with a typed error naming the field when the media URL answer is not what Graph documents', async () => {
    nock(GRAPH).get('/v23.0/1003383421387256').reply(200, { messaging_product: 'whatsapp', mime_type: 'image/jpeg', id: '1003383421387256' });
    const [outcome] = await connector.execute([operation(imagePayload)], testContext());
    expect(outcome).toMatchObject({ ok: false, error: { name: 'VendorError', code: 'UNEXPECTED_ANSWER', retryable: false, message: expect.stringMatching(/^whatsapp: reading a media URL: unexpected answer: url: /) } });
  });

  it.each(['..', '../me', '1%2F2', 'a b'])('refuses the media id %j before any request reaches the Graph host', async (mediaId) => {
    const [outcome] = await connector.execute([operation({ ...imagePayload, mediaId })], testContext());
    expect(outcome).toMatchObject({ ok: false, error: { name: 'InvalidPayloadError', retryable: false, message: expect.stringMatching(/is not a Graph API media id/) } });
  });
});
