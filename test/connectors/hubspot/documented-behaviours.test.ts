// The HubSpot connector against the sandbox behaving as HubSpot documents itself: the daily
// limit's day in the account's time zone, unique values on communications honoured or not (not
// documented either way), search that shows new records only after a delay, and answers lost
// after the work is done. Real HTTP, real @hubspot/api-client; refs kept in memory.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { hubspotConnector } from '../../../connectors/hubspot/index.js';
import { KIND } from '../../../connectors/hubspot/mappers.js';
import { hubspotSettingsSchema } from '../../../connectors/hubspot/settings.js';
import type { Connector, ExecutionContext, OperationOutcome } from '../../../core/connector.js';
import { DeferredError } from '../../../core/errors.js';
import { silentLogger } from '../../../core/logger.js';
import type { OutboxOperation } from '../../../core/outbox/queries.js';
import { HubSpotSandbox, type HubSpotSandboxOptions } from '../../../sandbox/hubspot.js';
import { claimedOperation, testContext } from '../../helpers/context.js';
import { tempDir } from '../../helpers/stores.js';

const SCOPES = ['crm.objects.contacts.read', 'crm.objects.contacts.write', 'crm.schemas.contacts.read', 'crm.schemas.contacts.write'];

describe('HubSpot connector against documented HubSpot behaviour', () => {
  let sandbox: HubSpotSandbox;
  let baseUrl: string;
  afterEach(() => sandbox.stop());

  async function connectorOn(options: HubSpotSandboxOptions, settings: Record<string, unknown> = {}): Promise<Connector> {
    sandbox = new HubSpotSandbox({ tokens: { 'pat-doc': SCOPES }, searchIndexDelayMs: 400, ...options });
    baseUrl = await sandbox.start();
    return hubspotConnector.create(hubspotSettingsSchema.parse({ enabled: true, accessToken: 'pat-doc', baseUrl, timeoutMs: 1000, searchIndexWaitSeconds: 1, lostAnswerWaitSeconds: 1, ...settings }), { log: silentLogger(), mediaDir: '/tmp' });
  }

  /** What the dispatcher does: reconcile an operation that may have reached HubSpot, else run it; a deferral waits its time. */
  async function dispatch(connector: Connector, op: OutboxOperation, context: ExecutionContext): Promise<OperationOutcome> {
    for (;;) {
      let outcome: OperationOutcome | undefined;
      try {
        outcome = op.attempts > 1 ? await connector.reconcile(op, context) : undefined;
        outcome ??= (await connector.execute([op], context))[0]!;
      } catch (error) {
        outcome = { ok: false, error: error as DeferredError };
      }
      if (!outcome.ok && outcome.error instanceof DeferredError) {
        await new Promise((r) => setTimeout(r, Math.max(0, outcome.error instanceof DeferredError ? outcome.error.untilMs - Date.now() : 0)));
        continue;
      }
      if (outcome.ok || !outcome.error.retryable) return outcome;
      op = { ...op, attempts: op.attempts + 1 };
    }
  }

  async function withContact(connector: Connector, context: ExecutionContext): Promise<void> {
    const contact = claimedOperation('hubspot', KIND.contact, { contactId: 'c1', waId: '+447700900123', profileName: 'Sheena Nelson' });
    expect((await dispatch(connector, contact, context)).ok).toBe(true);
  }
  const messageOp = (messageId: string) =>
    claimedOperation('hubspot', KIND.message, { messageId, contactId: 'c1', direction: 'inbound', text: `text of ${messageId}`, sentAt: Date.UTC(2026, 0, 5, 9), status: null, statusNote: null });
  const communications = (messageId: string) => (sandbox.state.objects['communications'] ?? []).filter((r) => r.properties['whatsapp_message_id'] === messageId);

  describe('the daily limit', () => {
    it('counts the account\'s days in its time zone, read at setup', async () => {
      const connector = await connectorOn({ timeZone: 'Pacific/Kiritimati', dailyLimit: 1000 });
      expect(connector.tuning.dailyLimitTimeZone).toBeUndefined();
      await connector.setup!(testContext());
      expect(connector.tuning.dailyLimitTimeZone).toBe('Pacific/Kiritimati');
    });

    it('sandbox: resets the daily limit at the account\'s midnight, not UTC\'s', async () => {
      await connectorOn({ timeZone: 'Pacific/Kiritimati', dailyLimit: 2 });
      const call = async () => (await fetch(`${baseUrl}/account-info/v3/details`, { headers: { authorization: 'Bearer pat-doc' } })).status;
      // 23:59 in Kiritimati is 09:59 UTC: the day's two requests, then 429.
      sandbox.setClock(Date.UTC(2026, 0, 5, 9, 59));
      expect([await call(), await call(), await call()]).toEqual([200, 200, 429]);
      expect(sandbox.state.rateLimitedBy['DAILY']).toBe(1);
      // A minute later the account's day has changed, UTC's has not.
      sandbox.setClock(Date.UTC(2026, 0, 5, 10, 0, 30));
      expect(await call()).toBe(200);
    });
  });

  describe('messages where HubSpot keeps unique values on communications', () => {
    it('upserts on the message id, and a lost answer upserts again onto the same record', async () => {
      const connector = await connectorOn({ communicationUniqueValues: 'honoured' });
      const context = testContext();
      const actions = await connector.setup!(context);
      expect(actions).toContain('created communications property whatsapp_message_id (unique values)');
      await withContact(connector, context);
      sandbox.loseAnswers('POST /crm/v3/objects/communications/batch/upsert');
      const outcome = await dispatch(connector, messageOp('wamid.U1'), context);
      expect(outcome.ok).toBe(true);
      expect(communications('wamid.U1')).toHaveLength(1);
    });
  });

  describe('messages where HubSpot ignores or refuses unique values on communications', () => {
    for (const behaviour of ['ignored', 'refused'] as const) {
      it(`setup says so (${behaviour}) and messages are created with their contact association inline`, async () => {
        const connector = await connectorOn({ communicationUniqueValues: behaviour });
        const context = testContext();
        const actions = await connector.setup!(context);
        expect(actions).toContain('created communications property whatsapp_message_id (HubSpot keeps no unique values on it: messages are created, and looked up by it after a lost answer)');
        await withContact(connector, context);
        const outcome = await dispatch(connector, messageOp('wamid.C1'), context);
        expect(outcome).toEqual({ ok: true, result: { hubspotCommunicationId: communications('wamid.C1')[0]!.id } });
        const contactId = sandbox.state.objects['contacts']![0]!.id;
        expect(sandbox.state.associations).toContainEqual({ from: 'communications', fromId: communications('wamid.C1')[0]!.id, to: 'contacts', toId: contactId });
        // Run again (a retry with the ref stored): nothing new.
        expect((await dispatch(connector, { ...messageOp('wamid.C1'), attempts: 2 }, context)).ok).toBe(true);
        expect(communications('wamid.C1')).toHaveLength(1);
      });
    }

    it('after a lost answer on the create, finds the record by its message id once search shows it, and creates nothing more', async () => {
      const connector = await connectorOn({ communicationUniqueValues: 'ignored', searchIndexDelayMs: 700 });
      const context = testContext();
      await connector.setup!(context);
      await withContact(connector, context);
      sandbox.loseAnswers('POST /crm/v3/objects/communications/batch/create');
      const started = Date.now();
      const outcome = await dispatch(connector, messageOp('wamid.L1'), context);
      expect(outcome.ok).toBe(true);
      expect(communications('wamid.L1')).toHaveLength(1);
      expect(outcome).toEqual({ ok: true, result: { hubspotCommunicationId: communications('wamid.L1')[0]!.id } });
      // It waited for the index (searchIndexWaitSeconds) rather than searching at once and missing it.
      expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
      expect(context.refs.get('communication:wamid.L1')).toBe(communications('wamid.L1')[0]!.id);
    });

    it('a create carried out after its connection dropped, later than the index lag, is found by the retry and not created twice', async () => {
      // HubSpot may go on with a request whose caller gave up; the retry waits that out
      // (lostAnswerWaitSeconds), then the index's lag, before it searches.
      const connector = await connectorOn({ communicationUniqueValues: 'ignored' }, { lostAnswerWaitSeconds: 2 });
      const context = testContext();
      await connector.setup!(context);
      await withContact(connector, context);
      sandbox.landLate('POST /crm/v3/objects/communications/batch/create', 1500);
      const outcome = await dispatch(connector, messageOp('wamid.LL1'), context);
      expect(outcome.ok).toBe(true);
      await new Promise((r) => setTimeout(r, 1_600));
      expect(communications('wamid.LL1')).toHaveLength(1);
      expect(outcome).toEqual({ ok: true, result: { hubspotCommunicationId: communications('wamid.LL1')[0]!.id } });
    });

    it('a create refused by HubSpot (an answer, not a lost one) is sent again at once, without waiting for the index', async () => {
      const connector = await connectorOn({ communicationUniqueValues: 'ignored' }, { lostAnswerWaitSeconds: 30, searchIndexWaitSeconds: 30 });
      const context = testContext();
      await connector.setup!(context);
      await withContact(connector, context);
      await fetch(`${baseUrl}/_sandbox/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ status: 500 }) });
      const op = messageOp('wamid.R1');
      expect((await connector.execute([op], context))[0]).toMatchObject({ ok: false, error: { message: expect.stringMatching(/HTTP 500/) } });
      const retried = await connector.reconcile({ ...op, attempts: 2 }, context);
      expect(retried).toBeUndefined();
      expect((await connector.execute([{ ...op, attempts: 2 }], context))[0]!.ok).toBe(true);
      expect(communications('wamid.R1')).toHaveLength(1);
    });

    it('after a create that never reached HubSpot, searches, finds nothing and creates it once', async () => {
      const connector = await connectorOn({ communicationUniqueValues: 'ignored' });
      const context = testContext();
      await connector.setup!(context);
      await withContact(connector, context);
      sandbox.chaos.set({ rate: 1, kinds: ['reset-before'], methods: ['POST'] });
      const op = messageOp('wamid.N1');
      expect((await connector.execute([op], context))[0]).toMatchObject({ ok: false, error: { message: expect.stringMatching(/socket hang up|ECONNRESET/) } });
      sandbox.chaos.set(undefined);
      expect(communications('wamid.N1')).toHaveLength(0);
      expect((await dispatch(connector, { ...op, attempts: 2 }, context)).ok).toBe(true);
      expect(communications('wamid.N1')).toHaveLength(1);
    });
  });

  describe('contacts', () => {
    const person = (username: string) =>
      claimedOperation('hubspot', KIND.contact, { contactId: 'c1', crmKey: '+447700900123', phone: '+447700900123', bsuid: null, parentBsuid: null, username, profileName: 'Ann Lee', previousPhone: null });
    const usernameOnRecord = () => sandbox.state.objects['contacts']!.find((r) => r.properties['whatsapp_id'] === '+447700900123')?.properties['whatsapp_username'];

    it('an update carried out after its connection dropped does not put an older username back over a newer one', async () => {
      const connector = await connectorOn({}, { lostAnswerWaitSeconds: 1 });
      const context = testContext();
      await connector.setup!(context);
      expect((await dispatch(connector, person('ann_old'), context)).ok).toBe(true);
      // The update to ann_mid loses its connection and lands 400 ms later, after the newer write.
      sandbox.landLate('POST /crm/v3/objects/contacts/batch/update', 400);
      expect((await dispatch(connector, person('ann_mid'), context)).ok).toBe(true);
      expect((await dispatch(connector, person('ann_new'), context)).ok).toBe(true);
      await new Promise((r) => setTimeout(r, 600));
      expect(usernameOnRecord()).toBe('@ann_new');
      expect(sandbox.state.objects['contacts']).toHaveLength(1);
    });

    it('a contact create carried out late does not put an older username back either', async () => {
      const connector = await connectorOn({}, { lostAnswerWaitSeconds: 1 });
      const context = testContext();
      await connector.setup!(context);
      sandbox.landLate('POST /crm/v3/objects/contacts/batch/upsert', 400);
      expect((await dispatch(connector, person('ann_old'), context)).ok).toBe(true);
      expect((await dispatch(connector, person('ann_new'), context)).ok).toBe(true);
      await new Promise((r) => setTimeout(r, 600));
      expect(usernameOnRecord()).toBe('@ann_new');
      expect(sandbox.state.objects['contacts']).toHaveLength(1);
    });
  });

  describe('thread notes', () => {
    it('a note upsert carried out after its connection dropped does not put an older owner back', async () => {
      const connector = await connectorOn({}, { threadActivity: 'note' });
      const context = testContext();
      await connector.setup!(context);
      await withContact(connector, context);
      const contact = sandbox.state.objects['contacts']![0]!;
      contact.properties['hubspot_owner_id'] = '111';
      const op = claimedOperation('hubspot', KIND.thread, { threadId: 't1', contactId: 'c1', profileName: 'Sheena Nelson', startedAt: Date.UTC(2026, 0, 5, 9), firstText: 'hello' });
      sandbox.landLate('POST /crm/v3/objects/notes/batch/upsert', 400);
      expect((await connector.execute([op], context))[0]).toMatchObject({ ok: false });
      // The contact changes hands before the retry; the first upsert, with the old owner, is still to land.
      contact.properties['hubspot_owner_id'] = '222';
      expect((await dispatch(connector, { ...op, attempts: 2 }, context)).ok).toBe(true);
      await new Promise((r) => setTimeout(r, 600));
      const notes = (sandbox.state.objects['notes'] ?? []).filter((n) => n.properties['whatsapp_thread_id'] === 't1');
      expect(notes).toHaveLength(1);
      expect(notes[0]!.properties['hubspot_owner_id']).toBe('222');
    });
  });

  describe('media notes', () => {
    it('a media note created after its connection dropped, later than the index lag, is found by the retry and not created twice', async () => {
      const connector = await connectorOn({ communicationUniqueValues: 'honoured', communicationAttachments: false }, { mediaUpload: true, lostAnswerWaitSeconds: 2 });
      const context = testContext();
      await connector.setup!(context);
      await withContact(connector, context);
      expect((await dispatch(connector, messageOp('wamid.MN1'), context)).ok).toBe(true);
      const path = join(tempDir(), 'img');
      writeFileSync(path, 'photo bytes');
      const op = claimedOperation('hubspot', KIND.media, { messageId: 'wamid.MN1', contactId: 'c1', threadId: 't1', path, sha256: 'c'.repeat(64), mimeType: 'image/jpeg', size: 11, filename: null, caption: null });
      sandbox.landLate('POST /crm/v3/objects/notes/batch/create', 1500);
      expect((await dispatch(connector, op, context)).ok).toBe(true);
      await new Promise((r) => setTimeout(r, 1_600));
      expect(sandbox.state.objects['notes'] ?? []).toHaveLength(1);
    });
  });

  describe('media', () => {
    const SHA = 'b'.repeat(64);
    function mediaOp(): OutboxOperation {
      const path = join(tempDir(), 'img');
      writeFileSync(path, 'photo bytes');
      return claimedOperation('hubspot', KIND.media, { messageId: 'wamid.M1', contactId: 'c1', threadId: 't1', path, sha256: SHA, mimeType: 'image/jpeg', size: 11, filename: null, caption: null });
    }
    async function logged(options: HubSpotSandboxOptions): Promise<{ connector: Connector; context: ReturnType<typeof testContext>; actions: string[] }> {
      const connector = await connectorOn({ communicationUniqueValues: 'honoured', ...options }, { mediaUpload: true });
      const context = testContext();
      const actions = await connector.setup!(context);
      await withContact(connector, context);
      expect((await dispatch(connector, messageOp('wamid.M1'), context)).ok).toBe(true);
      return { connector, context, actions };
    }

    it('attaches the file to the communication where communications have hs_attachment_ids', async () => {
      const { connector, context, actions } = await logged({ communicationAttachments: true });
      expect(actions.some((a) => a.includes('through a note'))).toBe(false);
      const outcome = await dispatch(connector, mediaOp(), context);
      expect(outcome.ok).toBe(true);
      expect(communications('wamid.M1')[0]!.properties['hs_attachment_ids']).toBe(sandbox.state.files[0]!.id);
      expect(sandbox.state.objects['notes'] ?? []).toHaveLength(0);
    });

    it('an upload that lands after its connection dropped is handed back by HubSpot to the retry, not stored twice', async () => {
      const { connector, context } = await logged({ communicationAttachments: true });
      // The retry's search runs before the first upload lands, finds nothing, and uploads again.
      sandbox.landLate('POST /files/v3/files', 600);
      const outcome = await dispatch(connector, mediaOp(), context);
      expect(outcome.ok).toBe(true);
      await new Promise((r) => setTimeout(r, 1_100));
      expect(sandbox.state.files).toHaveLength(1);
      expect(communications('wamid.M1')[0]!.properties['hs_attachment_ids']).toBe(sandbox.state.files[0]!.id);
    });

    it('an upload hit by the random lands-late fault is still carried out later, with its file', async () => {
      const { connector, context } = await logged({ communicationAttachments: true });
      // Only the upload is a POST here (the file search is a GET).
      sandbox.chaos.set({ rate: 1, kinds: ['lands-late'], lateMs: 300, methods: ['POST'] });
      try {
        expect((await connector.execute([mediaOp()], context))[0]!.ok).toBe(false);
      } finally {
        sandbox.chaos.set(undefined);
      }
      await new Promise((r) => setTimeout(r, 800));
      // Before the sandbox read the body ahead of its faults, the late upload had none and stored nothing.
      expect(sandbox.state.files).toHaveLength(1);
      expect((await dispatch(connector, { ...mediaOp(), attempts: 2 }, context)).ok).toBe(true);
      expect(sandbox.state.files).toHaveLength(1);
    });

    it('where they do not, attaches it through one note on the contact and the communication, a lost answer included', async () => {
      const { connector, context, actions } = await logged({ communicationAttachments: false, searchIndexDelayMs: 500 });
      expect(actions).toContain('communications have no hs_attachment_ids here: media are attached through a note on the contact and the communication');
      sandbox.loseAnswers('POST /crm/v3/objects/notes/batch/create');
      const outcome = await dispatch(connector, mediaOp(), context);
      expect(outcome.ok).toBe(true);
      const notes = sandbox.state.objects['notes'] ?? [];
      expect(notes).toHaveLength(1);
      expect(sandbox.state.files).toHaveLength(1);
      expect(notes[0]!.properties['hs_attachment_ids']).toBe(sandbox.state.files[0]!.id);
      const contactId = sandbox.state.objects['contacts']![0]!.id;
      expect(sandbox.state.associations).toContainEqual({ from: 'notes', fromId: notes[0]!.id, to: 'contacts', toId: contactId });
      expect(sandbox.state.associations).toContainEqual({ from: 'notes', fromId: notes[0]!.id, to: 'communications', toId: communications('wamid.M1')[0]!.id });
      expect(communications('wamid.M1')[0]!.properties['hs_attachment_ids']).toBeUndefined();
    });
  });
  describe('the inbox and its Custom Channels scopes', () => {
    const payload = { messageId: 'wamid.S1', threadId: 't1', contactId: 'c1', businessNumberId: '1001', direction: 'inbound', text: 'Hello', sentAt: Date.UTC(2026, 0, 5, 9), customer: { type: 'HS_PHONE_NUMBER', value: '+447700900123' }, customerName: null };
    async function inboxOn(scopes: readonly string[]): Promise<Connector> {
      const connector = await connectorOn({ tokens: { 'pat-doc': [...SCOPES, ...scopes] } }, { timeoutMs: 10_000, inbox: { enabled: true, channelId: '77', inboxId: '501', clientSecret: 'secret', webhookUrl: 'https://sync.example.com/webhooks/hubspot' } });
      sandbox.inbox.state.channels.push({ id: '77', name: 'WhatsApp', webhookUrl: 'https://sync.example.com/webhooks/hubspot', capabilities: { deliveryIdentifierTypes: ['HS_PHONE_NUMBER', 'CHANNEL_SPECIFIC_OPAQUE_ID'] } });
      return connector;
    }

    it('sandbox: publishing without conversations.custom_channels.write is refused as MISSING_SCOPES, naming the scope, and never retried', async () => {
      const connector = await inboxOn(['conversations.custom_channels.read', 'conversations.read']);
      const context = testContext();
      // The channel account is known: the publish itself is what lacks the scope.
      context.refs.set('channel-account:1001', '9001');
      sandbox.inbox.state.channelAccounts.push({ id: '9001', channelId: '77', name: 'WhatsApp 1001', inboxId: '501', authorized: true, deliveryIdentifier: null });
      const [outcome] = await connector.execute([claimedOperation('hubspot', 'inbox.publish', payload)], context);
      expect(outcome).toMatchObject({ ok: false, error: { retryable: false } });
      expect(!outcome!.ok && outcome!.error.message).toMatch(/MISSING_SCOPES|scope/i);
      expect(sandbox.inbox.state.messages).toEqual([]);
    });

    it('sandbox: listing channel accounts needs conversations.custom_channels.read; with the three scopes the message is published', async () => {
      const [refused] = await (await inboxOn(['conversations.custom_channels.write', 'conversations.read'])).execute([claimedOperation('hubspot', 'inbox.publish', payload)], testContext());
      expect(refused).toMatchObject({ ok: false, error: { retryable: false } });
      await sandbox.stop();
      const connector = await inboxOn(['conversations.custom_channels.read', 'conversations.custom_channels.write', 'conversations.read']);
      const [outcome] = await connector.execute([claimedOperation('hubspot', 'inbox.publish', payload)], testContext());
      expect(outcome).toMatchObject({ ok: true });
      expect(sandbox.inbox.state.messages).toHaveLength(1);
    });
  });
});
