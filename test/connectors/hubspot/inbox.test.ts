// The HubSpot inbox (Custom Channels) over the real @hubspot/api-client, HTTP mocked with nock:
// the publish request, reconcile after a lost answer, agents' answers read back as replies, the
// FAILED status, setup, and the v3 webhook signature (forged, stale and replayed calls).
import { createHash, createHmac } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import nock from 'nock';
import { describe, expect, it } from 'vitest';
import { hubspotConnector } from '../../../connectors/hubspot/index.js';
import { INBOX_KIND, deliveryIdentifierOf, inboxDrafts } from '../../../connectors/hubspot/inbox-mappers.js';
import { hubspotInbound, parseHubSpotDelivery } from '../../../connectors/hubspot/inbox-webhook.js';
import { hubspotSettingsSchema, type HubSpotSettings } from '../../../connectors/hubspot/settings.js';
import type { Connector } from '../../../core/connector.js';
import { silentLogger } from '../../../core/logger.js';
import type { Contact, Message, ModelChange, Thread } from '../../../core/model/types.js';
import { claimedOperation, testContext } from '../../helpers/context.js';
import { onlyMockedHttp } from '../../helpers/nock.js';
import { tempDir } from '../../helpers/stores.js';

const API = 'https://api.hubapi.com';
const SECRET = 'app-client-secret';
const WEBHOOK_URL = 'https://sync.example.com/webhooks/hubspot';

function settingsWith(inbox: Record<string, unknown> = {}): HubSpotSettings {
  return hubspotSettingsSchema.parse({
    enabled: true,
    accessToken: 'pat-na1-test',
    // Properties are not what these tests are about: setup does the inbox's part alone.
    autoSetup: false,
    inbox: { enabled: true, channelId: '77', inboxId: '501', clientSecret: SECRET, webhookUrl: WEBHOOK_URL, ...inbox },
  });
}

function connectorWith(inbox: Record<string, unknown> = {}): Connector {
  return hubspotConnector.create(settingsWith(inbox), { log: silentLogger(), mediaDir: '/tmp' });
}

const contact: Contact = { id: 'c1', crmKey: '+447700900123', waId: '+447700900123', bsuid: null, parentBsuid: null, username: null, userId: null, profileName: 'Ada Lovelace', createdAt: 0, updatedAt: 0 };
const thread: Thread = { id: 't1', contactId: 'c1', businessNumberId: '1001', startedAt: 0, lastMessageAt: 0 };
const message = (extra: Partial<Message> = {}): Message => ({
  id: 'wamid.A',
  threadId: 't1',
  contactId: 'c1',
  direction: 'inbound',
  type: 'text',
  originalType: 'text',
  text: 'Is my order on its way?',
  media: null,
  sentAt: Date.UTC(2026, 11, 3, 12, 0, 0),
  arrivalSeq: 1,
  status: null,
  replyToId: null,
  origin: null,
  warnings: [],
  ...extra,
});
const recorded = (m: Message, who: Contact = contact): ModelChange => ({ type: 'message.recorded', contact: who, thread, threadCreated: false, message: m });

function sign(body: string, timestamp: string, secret = SECRET, uri = WEBHOOK_URL): string {
  return createHmac('sha256', secret).update(`POST${uri}${body}${timestamp}`).digest('base64');
}
const headersOf = (values: Record<string, string>) => (name: string) => values[name];

describe('HubSpot inbox', () => {
  onlyMockedHttp();

  describe('planning', () => {
    it('plans nothing while the inbox is off (timeline logging alone)', () => {
      const off = hubspotSettingsSchema.parse({ enabled: true, accessToken: 'pat-na1-test' });
      expect(off.inbox.enabled).toBe(false);
      expect(inboxDrafts(recorded(message()), off.inbox)).toEqual([]);
      const connector = hubspotConnector.create(off, { log: silentLogger(), mediaDir: '/tmp' });
      expect(connector.plan(recorded(message())).map((d) => d.kind)).not.toContain(INBOX_KIND.publish);
    });

    it("publishes a customer's message on the contact's key, keyed by its wamid, beside the timeline write", () => {
      const drafts = connectorWith().plan(recorded(message()));
      const publish = drafts.find((d) => d.kind === INBOX_KIND.publish);
      expect(publish).toMatchObject({ key: 'wamid.A', orderingKey: 'contact:c1' });
      expect(drafts.map((d) => d.kind)).toContain('message.log');
    });

    it('never publishes a reply sent for a HubSpot agent back into the inbox, nor past chats', () => {
      const settings = settingsWith().inbox;
      expect(inboxDrafts(recorded(message({ direction: 'outbound', origin: 'hubspot' })), settings)).toEqual([]);
      expect(inboxDrafts(recorded(message({ history: true })), settings)).toEqual([]);
      // A Zendesk agent's reply is the business's own message: it shows in the thread as outgoing.
      expect(inboxDrafts(recorded(message({ direction: 'outbound', origin: 'zendesk' })), settings)).toHaveLength(1);
    });

    it('addresses a BSUID-only customer by a channel-specific delivery identifier', () => {
      expect(deliveryIdentifierOf({ waId: null, bsuid: 'US.13491208655302741918', parentBsuid: null })).toEqual({ type: 'CHANNEL_SPECIFIC_OPAQUE_ID', value: 'US.13491208655302741918' });
      expect(deliveryIdentifierOf(contact)).toEqual({ type: 'HS_PHONE_NUMBER', value: '+447700900123' });
    });
  });

  describe('publishing', () => {
    const publishOp = () => claimedOperation('hubspot', INBOX_KIND.publish, inboxDrafts(recorded(message()), settingsWith().inbox)[0]!.payload as Record<string, unknown>);

    it('publishes INCOMING over the channel account of the business number, then keeps the conversation for replies', async () => {
      let body: any;
      nock(API)
        .get('/conversations/v3/custom-channels/77/channel-accounts')
        .reply(200, { results: [] })
        .post('/conversations/v3/custom-channels/77/channel-accounts', (b) => b.inboxId === '501' && b.authorized === true)
        .reply(200, { id: '9001', name: 'WhatsApp 1001' })
        .post('/conversations/v3/custom-channels/77/messages', (b) => ((body = b), true))
        .reply(200, { id: 'hs-msg-1', conversationsThreadId: '5551' });
      const context = testContext();
      const [outcome] = await connectorWith().execute([publishOp()], context);
      expect(outcome).toMatchObject({ ok: true, result: { hubspotMessageId: 'hs-msg-1' } });
      expect(body).toMatchObject({
        messageDirection: 'INCOMING',
        integrationIdempotencyId: 'wamid.A',
        channelAccountId: '9001',
        text: 'Is my order on its way?',
        senders: [{ deliveryIdentifier: { type: 'HS_PHONE_NUMBER', value: '+447700900123' }, name: 'Ada Lovelace' }],
        timestamp: '2026-12-03T12:00:00.000Z',
      });
      expect(context.refs.get('inbox-thread:t1')).toBe('5551');
      expect(context.refs.get('channel-account:1001')).toBe('9001');
    });

    it("two customers' first messages published side by side connect the business number once", async () => {
      const accountsCreated: unknown[] = [];
      nock(API)
        .get('/conversations/v3/custom-channels/77/channel-accounts')
        .reply(200, { results: [] })
        .post('/conversations/v3/custom-channels/77/channel-accounts', (b) => (accountsCreated.push(b), true))
        .delay(50)
        .reply(200, { id: '9001', name: 'WhatsApp 1001' })
        .post('/conversations/v3/custom-channels/77/messages')
        .times(2)
        .reply(200, (_uri, body) => ({ id: `hs-${(body as { integrationIdempotencyId: string }).integrationIdempotencyId}`, conversationsThreadId: '5551' }));
      const other: Contact = { ...contact, id: 'c2', crmKey: '+447700900124', waId: '+447700900124' };
      const ops = [recorded(message()), recorded(message({ id: 'wamid.B', contactId: 'c2' }), other)].map((change) => claimedOperation('hubspot', INBOX_KIND.publish, inboxDrafts(change, settingsWith().inbox)[0]!.payload as Record<string, unknown>));
      const connector = connectorWith();
      const context = testContext();
      const outcomes = await Promise.all(ops.map((op) => connector.execute([op], context)));
      expect(outcomes.map(([o]) => o?.ok)).toEqual([true, true]);
      expect(accountsCreated).toHaveLength(1);
    });

    it('after a lost answer the retry publishes with the same idempotency id, and a landed one is found by its ref', async () => {
      const context = testContext();
      context.refs.set('channel-account:1001', '9001');
      const ids: string[] = [];
      nock(API)
        .post('/conversations/v3/custom-channels/77/messages', (b) => (ids.push(b.integrationIdempotencyId), true))
        .replyWithError({ code: 'ECONNRESET', message: 'socket hang up' })
        .post('/conversations/v3/custom-channels/77/messages', (b) => (ids.push(b.integrationIdempotencyId), true))
        .reply(200, { id: 'hs-msg-1', conversationsThreadId: '5551' });
      const connector = connectorWith();
      const op = publishOp();
      const [first] = await connector.execute([op], context);
      expect(first?.ok).toBe(false);
      expect(await connector.reconcile(op, context)).toBeUndefined();
      const [second] = await connector.execute([op], context);
      expect(second?.ok).toBe(true);
      expect(ids).toEqual(['wamid.A', 'wamid.A']);
      // Landed and recorded: a further retry sends nothing (nock would refuse an unmocked request).
      expect(await connector.reconcile(op, context)).toMatchObject({ ok: true, result: { hubspotMessageId: 'hs-msg-1' } });
    });

    it("publishes a stored photo after its text, over the same number, as a file uploaded to HubSpot Files", async () => {
      const path = join(tempDir(), 'img');
      writeFileSync(path, 'bytes');
      const media = { kind: 'image' as const, mediaId: 'm1', mimeType: 'image/jpeg', caption: 'the box' };
      const stored = { messageId: 'wamid.A', sha256: 'a'.repeat(64), mimeType: 'image/jpeg', size: 5, path, filename: null };
      const [draft] = inboxDrafts({ type: 'media.stored', contact, message: message({ type: 'image', media }), media: stored }, settingsWith().inbox);
      expect(draft).toMatchObject({ kind: INBOX_KIND.publish, key: 'wamid.A:media', orderingKey: 'contact:c1' });
      let body: any;
      nock(API)
        .get('/files/v3/files/search')
        .query(true)
        .reply(200, { results: [] })
        .post('/files/v3/files')
        .reply(201, { id: '555', name: `whatsapp-${'a'.repeat(32)}`, extension: 'jpg', access: 'PRIVATE', createdAt: '2026-01-01T00:00:00Z', updatedAt: '2026-01-01T00:00:00Z', archived: false })
        .post('/conversations/v3/custom-channels/77/messages', (b) => ((body = b), true))
        .reply(200, { id: 'hs-msg-2', conversationsThreadId: '5551' });
      const context = testContext();
      // The text went first, over business number 1001 (its channel account known).
      context.refs.set('inbox-thread-number:t1', '1001');
      context.refs.set('channel-account:1001', '9001');
      const [outcome] = await connectorWith().execute([claimedOperation('hubspot', draft!.kind, draft!.payload as Record<string, unknown>)], context);
      expect(outcome).toMatchObject({ ok: true });
      expect(body).toMatchObject({ integrationIdempotencyId: 'wamid.A:media', channelAccountId: '9001', text: 'the box', attachments: [{ type: 'FILE', fileId: '555' }] });
    });

    it('a missing inbox id is a clear, retryable error naming the setting', async () => {
      nock(API).get('/conversations/v3/custom-channels/77/channel-accounts').reply(200, { results: [] });
      const [outcome] = await connectorWith({ inboxId: undefined }).execute([publishOp()], testContext());
      expect(outcome).toMatchObject({ ok: false });
      expect(!outcome!.ok && outcome!.error.message).toMatch(/connectors\.hubspot\.inbox\.inboxId/);
      expect(!outcome!.ok && outcome!.error.retryable).toBe(true);
    });
  });

  describe("agents' answers", () => {
    const helpdesk = (recordId: string): ModelChange => ({ type: 'helpdesk.updated', connector: 'hubspot', recordId, contact, thread, deliveryId: 7 });

    it("reads the agent's message from the conversation and requests the WhatsApp reply, with the template for a closed window", async () => {
      nock(API).get('/conversations/v3/conversations/threads/5551/messages/hs-msg-9').reply(200, { id: 'hs-msg-9', direction: 'OUTGOING', text: 'Yes, tomorrow.', client: { clientType: 'HUBSPOT' } });
      const connector = hubspotConnector.create({ ...settingsWith(), outsideWindowTemplate: { name: 'follow_up', language: 'en' } }, { log: silentLogger(), mediaDir: '/tmp' });
      const [draft] = connector.plan(helpdesk('5551:hs-msg-9'));
      expect(draft).toMatchObject({ kind: INBOX_KIND.reply, key: '5551:hs-msg-9', orderingKey: 'contact:c1' });
      const [outcome] = await connector.execute([claimedOperation('hubspot', draft!.kind, draft!.payload as Record<string, unknown>)], testContext());
      expect(outcome).toMatchObject({
        ok: true,
        effects: [{ type: 'reply.requested', threadId: 't1', reply: { origin: 'hubspot', sourceId: 'hs-msg-9', text: 'Yes, tomorrow.', template: { name: 'follow_up', language: 'en', parameters: [] } } }],
      });
    });

    it("fetches the agent's file through a signed URL (without our token) into the media directory, and the reply carries it", async () => {
      const bytes = Buffer.from('%PDF-1.7 the invoice');
      let authorization: string | undefined = 'not read';
      nock(API)
        .get('/conversations/v3/conversations/threads/5551/messages/hs-msg-9')
        .reply(200, { id: 'hs-msg-9', direction: 'OUTGOING', text: 'Your invoice.', client: { clientType: 'HUBSPOT' }, attachments: [{ type: 'FILE', fileId: '8801', name: 'invoice.pdf' }, { type: 'LOCATION', latitude: 1, longitude: 2 }] })
        .get('/files/v3/files/8801/signed-url')
        .reply(200, { url: 'https://cdn.hubspot.example/signed/8801/invoice.pdf?token=t', name: 'invoice', extension: 'pdf', size: bytes.byteLength, type: 'DOCUMENT', expiresAt: '2026-12-04T20:00:00Z' });
      nock('https://cdn.hubspot.example')
        .get('/signed/8801/invoice.pdf')
        .query({ token: 't' })
        .reply(function () {
          authorization = this.req.headers['authorization'] as string | undefined;
          return [200, bytes, { 'content-type': 'application/octet-stream' }];
        });
      const mediaDir = tempDir();
      const connector = hubspotConnector.create(settingsWith(), { log: silentLogger(), mediaDir });
      const [draft] = connector.plan(helpdesk('5551:hs-msg-9'));
      const [outcome] = await connector.execute([claimedOperation('hubspot', draft!.kind, draft!.payload as Record<string, unknown>)], testContext());
      expect(authorization).toBeUndefined();
      const reply = outcome!.ok && outcome!.effects?.[0]?.type === 'reply.requested' ? outcome!.effects[0].reply : undefined;
      expect(reply?.attachments).toEqual([{ path: expect.stringContaining(mediaDir), sha256: createHash('sha256').update(bytes).digest('hex'), mimeType: 'application/pdf', size: bytes.byteLength, filename: 'invoice.pdf' }]);
      expect(readFileSync(reply!.attachments[0]!.path)).toEqual(bytes);
    });

    it("refuses an agent's file over the channel's limit before fetching it, and says so", async () => {
      nock(API)
        .get('/conversations/v3/conversations/threads/5551/messages/hs-msg-9')
        .reply(200, { id: 'hs-msg-9', direction: 'OUTGOING', text: '', client: { clientType: 'HUBSPOT' }, attachments: [{ type: 'FILE', fileId: '8802' }] })
        .get('/files/v3/files/8802/signed-url')
        .reply(200, { url: 'https://cdn.hubspot.example/signed/8802/film.mp4', name: 'film', extension: 'mp4', size: 250_000_000 });
      const [draft] = connectorWith().plan(helpdesk('5551:hs-msg-9'));
      const [outcome] = await connectorWith().execute([claimedOperation('hubspot', draft!.kind, draft!.payload as Record<string, unknown>)], testContext());
      expect(outcome).toMatchObject({ ok: false, error: { retryable: false } });
      expect(!outcome!.ok && outcome!.error.message).toMatch(/attachment 8802 is 250000000 bytes, over the channel's 100000000-byte limit/);
    });

    it('a message this integration published is not an agent answer', async () => {
      nock(API).get('/conversations/v3/conversations/threads/5551/messages/hs-msg-1').reply(200, { id: 'hs-msg-1', direction: 'OUTGOING', text: 'echo', client: { clientType: 'INTEGRATION' } });
      const [draft] = connectorWith().plan(helpdesk('5551:hs-msg-1'));
      const [outcome] = await connectorWith().execute([claimedOperation('hubspot', draft!.kind, draft!.payload as Record<string, unknown>)], testContext());
      expect(outcome).toMatchObject({ ok: true });
      expect(outcome!.ok && outcome!.effects).toBeUndefined();
    });

    it('a reply that cannot go out is reported FAILED on the agent message, with the reason', async () => {
      let body: any;
      nock(API)
        .patch('/conversations/v3/custom-channels/77/messages/hs-msg-9', (b) => ((body = b), true))
        .reply(200, {});
      const reply = { origin: 'hubspot', sourceId: 'hs-msg-9', sourceRecord: '5551', text: 'Yes', attachments: [], template: null };
      const drafts = connectorWith().plan({ type: 'reply.undeliverable', contact, thread, reply, reason: 'the 24-hour window is closed and no template is configured' });
      const status = drafts.find((d) => d.kind === INBOX_KIND.status)!;
      const [outcome] = await connectorWith().execute([claimedOperation('hubspot', status.kind, status.payload as Record<string, unknown>)], testContext());
      expect(outcome?.ok).toBe(true);
      expect(body).toEqual({ statusType: 'FAILED', errorMessage: 'Not sent to the customer on WhatsApp: the 24-hour window is closed and no template is configured' });
    });
  });

  describe("WhatsApp's statuses on the agent's message", () => {
    const sentReply = message({ id: 'wamid.R', direction: 'outbound', origin: 'hubspot', text: 'Yes, tomorrow.' });
    const statusChange = (status: 'sent' | 'delivered' | 'read' | 'failed', extra: Partial<Extract<ModelChange, { type: 'message.status' }>> = {}): ModelChange => ({
      type: 'message.status',
      contact,
      message: sentReply,
      status,
      at: 0,
      messageId: 'wamid.R',
      errors: [],
      reply: { origin: 'hubspot', sourceId: 'hs-msg-9' },
      ...extra,
    });
    const settings = settingsWith().inbox;

    it('plans SENT for sent and delivered (one report), READ and FAILED with the reason, keyed by the agent message', () => {
      const [sent] = inboxDrafts(statusChange('sent'), settings);
      const [delivered] = inboxDrafts(statusChange('delivered'), settings);
      expect(sent).toMatchObject({ kind: INBOX_KIND.status, key: 'sent:hs-msg-9', payload: { hubspotMessageId: 'hs-msg-9', status: 'SENT', errorMessage: null } });
      expect(delivered!.key).toBe(sent!.key);
      expect(inboxDrafts(statusChange('read'), settings)[0]).toMatchObject({ key: 'read:hs-msg-9', payload: { status: 'READ' } });
      const errors = [{ code: 131047, title: 'Re-engagement message', details: 'More than 24 hours have passed since the recipient last replied' }];
      expect(inboxDrafts(statusChange('failed', { errors }), settings)[0]).toMatchObject({
        key: 'failed:hs-msg-9',
        payload: { status: 'FAILED', errorMessage: expect.stringMatching(/^WhatsApp could not deliver this message: Re-engagement message \(WhatsApp error 131047\): More than 24 hours/) },
      });
    });

    it('plans nothing for messages not sent for a HubSpot agent, nor for warnings', () => {
      expect(inboxDrafts(statusChange('read', { reply: { origin: 'zendesk', sourceId: '123' } }), settings)).toEqual([]);
      const { reply: _ours, ...notOurs } = statusChange('read') as Extract<ModelChange, { type: 'message.status' }>;
      expect(inboxDrafts(notOurs, settings)).toEqual([]);
      expect(inboxDrafts(statusChange('sent', { status: 'warning' }), settings)).toEqual([]);
      expect(inboxDrafts(statusChange('read'), hubspotSettingsSchema.parse({ enabled: true, accessToken: 'x' }).inbox)).toEqual([]);
    });

    it('a late SENT after READ leaves the message READ; FAILED still overrides', async () => {
      const bodies: unknown[] = [];
      nock(API)
        .patch('/conversations/v3/custom-channels/77/messages/hs-msg-9', (b) => (bodies.push(b), true))
        .times(2)
        .reply(200, {});
      const connector = connectorWith();
      const context = testContext();
      const run = async (status: 'sent' | 'read' | 'failed') => {
        const [draft] = inboxDrafts(statusChange(status), settings);
        return (await connector.execute([claimedOperation('hubspot', draft!.kind, draft!.payload as Record<string, unknown>)], context))[0];
      };
      expect(await run('read')).toMatchObject({ ok: true, result: { status: 'READ' } });
      // nock would refuse a third PATCH: the late SENT sends nothing.
      expect(await run('sent')).toMatchObject({ ok: true, result: { skipped: 'already READ' } });
      expect(await run('failed')).toMatchObject({ ok: true, result: { status: 'FAILED' } });
      expect(bodies).toEqual([{ statusType: 'READ' }, { statusType: 'FAILED', errorMessage: 'WhatsApp could not deliver this message: WhatsApp reported the message as failed' }]);
    });
  });

  describe('setup', () => {
    it('registers the channel with the developer key when none exists, and says which id to configure', async () => {
      let registered: any;
      nock(API)
        .get('/conversations/v3/custom-channels')
        .query({ hapikey: 'dev-key', appId: '42' })
        .reply(200, { results: [] })
        .post('/conversations/v3/custom-channels', (b) => ((registered = b), true))
        .query({ hapikey: 'dev-key', appId: '42' })
        .reply(200, { id: 321, name: 'WhatsApp' });
      const connector = connectorWith({ channelId: undefined, appId: 42, developerApiKey: 'dev-key' });
      const context = testContext();
      const actions = await inboxSetup(connector, context);
      expect(registered).toMatchObject({ name: 'WhatsApp', webhookUrl: WEBHOOK_URL, capabilities: { threadingModel: 'DELIVERY_IDENTIFIER', allowOutgoingMessages: true } });
      expect(registered.capabilities.deliveryIdentifierTypes).toEqual(['HS_PHONE_NUMBER', 'CHANNEL_SPECIFIC_OPAQUE_ID']);
      expect(actions.join('\n')).toMatch(/channelId: "321"/);
    });

    it('finds a channel registered before by its name instead of registering a second', async () => {
      nock(API).get('/conversations/v3/custom-channels').query(true).reply(200, { results: [{ id: '321', name: 'WhatsApp' }] });
      const actions = await inboxSetup(connectorWith({ channelId: undefined, appId: 42, developerApiKey: 'dev-key' }), testContext());
      expect(actions.join('\n')).toMatch(/found custom channel "WhatsApp" \(id 321\)/);
    });

    it('connects each listed business number once: a second run finds the channel account', async () => {
      nock(API)
        .get('/conversations/v3/custom-channels/77/channel-accounts')
        .reply(200, { results: [{ id: '9001', deliveryIdentifier: { type: 'CHANNEL_SPECIFIC_OPAQUE_ID', value: 'whatsapp:1001' } }] });
      const actions = await inboxSetup(connectorWith({ businessNumbers: ['1001'] }), testContext());
      expect(actions.join('\n')).toMatch(/found channel account 9001 for business number 1001/);
    });
  });

  describe('webhook', () => {
    const settings = settingsWith();
    const body = JSON.stringify({ type: 'OUTGOING_CHANNEL_MESSAGE_CREATED', portalId: 1, channelId: '77', message: { id: 'hs-msg-9', conversationsThreadId: '5551', text: 'Yes' } });
    const now = 1_780_000_000_000;

    it('accepts a call signed over method, URI, body and timestamp, and keys it against replays', () => {
      const timestamp = String(now - 1000);
      const verdict = hubspotInbound.verify(Buffer.from(body), headersOf({ 'x-hubspot-request-timestamp': timestamp, 'x-hubspot-signature-v3': sign(body, timestamp) }), SECRET, now, settings);
      expect(verdict.ok).toBe(true);
      expect(verdict.ok && verdict.replay?.until).toBe(now - 1000 + 300_000);
    });

    it('refuses a forged signature, one over another URI, and one with the wrong secret', () => {
      const timestamp = String(now);
      for (const signature of [sign(body, timestamp, 'not-the-secret'), sign(body, timestamp, SECRET, 'https://elsewhere.example.com/webhooks/hubspot'), sign(`${body} `, timestamp), `${sign(body, timestamp)}x`]) {
        const verdict = hubspotInbound.verify(Buffer.from(body), headersOf({ 'x-hubspot-request-timestamp': timestamp, 'x-hubspot-signature-v3': signature }), SECRET, now, settings);
        expect(verdict).toMatchObject({ ok: false, reason: 'bad_signature' });
      }
    });

    it('refuses a correctly signed call older than five minutes, or with no timestamp', () => {
      const old = String(now - 301_000);
      expect(hubspotInbound.verify(Buffer.from(body), headersOf({ 'x-hubspot-request-timestamp': old, 'x-hubspot-signature-v3': sign(body, old) }), SECRET, now, settings)).toMatchObject({ ok: false, reason: 'stale' });
      expect(hubspotInbound.verify(Buffer.from(body), headersOf({ 'x-hubspot-signature-v3': sign(body, '') }), SECRET, now, settings)).toMatchObject({ ok: false, reason: 'stale' });
    });

    it('takes no calls while the inbox is off', () => {
      expect(hubspotInbound.accepts?.(hubspotSettingsSchema.parse({ enabled: true, accessToken: 'x' }))).toBe(false);
      expect(hubspotInbound.accepts?.(settings)).toBe(true);
    });

    it("parses an agent's message into a helpdesk event that finds our thread by the conversation id; other events are acknowledged", () => {
      expect(parseHubSpotDelivery(body)).toEqual({
        events: [{ kind: 'helpdesk', connector: 'hubspot', recordId: '5551:hs-msg-9', threadId: null, threadRef: { kind: 'inbox-thread', externalId: '5551' } }],
        problems: [],
      });
      expect(parseHubSpotDelivery(JSON.stringify({ type: 'CHANNEL_ACCOUNT_CREATED' }))).toEqual({ events: [], problems: [] });
      expect(parseHubSpotDelivery('not json').problems).toHaveLength(1);
      expect(parseHubSpotDelivery(JSON.stringify({ type: 'OUTGOING_CHANNEL_MESSAGE_CREATED' })).problems[0]).toMatch(/without message\.id/);
    });
  });
});

/** The inbox's setup actions alone: the connector's setup also reads the account and properties, which these tests do not mock. */
async function inboxSetup(connector: Connector, context: ReturnType<typeof testContext>): Promise<string[]> {
  nock(API)
    .get('/account-info/v3/details')
    .reply(200, { portalId: 1, timeZone: 'UTC', uiDomain: 'app.hubspot.com' })
    .persist();
  return (await connector.setup!(context)).filter((a) => /channel|inbox|business number/i.test(a));
}
