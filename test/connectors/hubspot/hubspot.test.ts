// The HubSpot connector over the real @hubspot/api-client, HTTP mocked with nock.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import nock from 'nock';
import { describe, expect, it } from 'vitest';
import { hubspotConnector } from '../../../connectors/hubspot/index.js';
import { KIND } from '../../../connectors/hubspot/mappers.js';
import { INBOX_KIND } from '../../../connectors/hubspot/inbox-mappers.js';
import { WINDOW_KIND } from '../../../core/outbound/window.js';
import { NUMBER_WITHHELD_NOTE } from '../../../core/model/identity.js';
import { hubspotSettingsSchema } from '../../../connectors/hubspot/settings.js';
import { HubSpotApi } from '../../../connectors/hubspot/client.js';
import { setupHubSpotConsentAndWindow } from '../../../connectors/hubspot/consent.js';
import { buildScopeReport, type Connector } from '../../../core/connector.js';
import { CredentialError, VendorError } from '../../../core/errors.js';
import { silentLogger } from '../../../core/logger.js';
import { missingScopesReason } from '../../../core/scopes.js';
import { claimedOperation, testContext } from '../../helpers/context.js';
import { onlyMockedHttp } from '../../helpers/nock.js';
import { tempDir } from '../../helpers/stores.js';

const API = 'https://api.hubapi.com';

function connectorWith(settings: Record<string, unknown> = {}): Connector {
  return hubspotConnector.create(hubspotSettingsSchema.parse({ enabled: true, accessToken: 'pat-na1-test', ...settings }), { log: silentLogger(), mediaDir: '/tmp' });
}

const op = (kind: string, payload: Record<string, unknown>) => claimedOperation('hubspot', kind, payload);

const contactOp = (contactId: string, waId: string, profileName: string | null = 'Sheena Nelson') => op(KIND.contact, { contactId, waId, profileName });
const messageOp = (messageId: string, contactId: string, text = 'Does it come in another color?') =>
  op(KIND.message, { messageId, contactId, direction: 'inbound', text, sentAt: 1749416383000, status: null, statusNote: null });

const upsertResult = (id: string, properties: Record<string, string>) => ({ id, properties, createdAt: '2026-01-01T00:00:00Z', updatedAt: '2026-01-01T00:00:00Z', archived: false, new: true });
const batchBody = (results: unknown[], extra: Record<string, unknown> = {}) => ({ status: 'COMPLETE', results, startedAt: '2026-01-01T00:00:00Z', completedAt: '2026-01-01T00:00:01Z', ...extra });

describe('HubSpot connector', () => {
  onlyMockedHttp();

  describe('contacts', () => {
    it('creates new contacts in one batch upsert keyed on the WhatsApp id property', async () => {
      let upsertBody: any;
      nock(API, { reqheaders: { authorization: 'Bearer pat-na1-test' } })
        .post('/crm/v3/objects/contacts/batch/read', (body) => body.idProperty === 'whatsapp_id' && body.inputs.length === 2)
        .reply(200, batchBody([]))
        .post('/crm/v3/objects/contacts/search')
        .reply(200, { total: 0, results: [] })
        .post('/crm/v3/objects/contacts/batch/upsert', (body) => ((upsertBody = body), true))
        .reply(200, batchBody([upsertResult('101', { whatsapp_id: '+16505551234' }), upsertResult('102', { whatsapp_id: '+447700900123' })]));
      const context = testContext();
      const outcomes = await connectorWith().execute([contactOp('c1', '+16505551234'), contactOp('c2', '+447700900123', 'Madonna')], context);
      expect(outcomes).toEqual([
        { ok: true, result: { hubspotContactId: '101' } },
        { ok: true, result: { hubspotContactId: '102' } },
      ]);
      expect(upsertBody.inputs).toEqual([
        { idProperty: 'whatsapp_id', id: '+16505551234', properties: { whatsapp_id: '+16505551234', phone: '+16505551234', firstname: 'Sheena', lastname: 'Nelson' } },
        { idProperty: 'whatsapp_id', id: '+447700900123', properties: { whatsapp_id: '+447700900123', phone: '+447700900123', firstname: 'Madonna' } },
      ]);
      expect(context.refs.get('contact:c1')).toBe('101');
      expect(nock.isDone()).toBe(true);
    });

    it('adopts an existing contact whose phone is the same number in another format, without overwriting its name', async () => {
      let searchBody: any;
      let updateBody: any;
      nock(API)
        .post('/crm/v3/objects/contacts/batch/read')
        .reply(200, batchBody([]))
        .post('/crm/v3/objects/contacts/search', (body) => ((searchBody = body), true))
        .reply(200, {
          total: 2,
          results: [
            { id: '55', properties: { phone: '+1 650 555 9999', firstname: 'Other' } },
            { id: '77', properties: { mobilephone: '(650) 555-1234', phone: null, firstname: 'Sheena', lastname: 'N. (VIP)' } },
          ],
        })
        .post('/crm/v3/objects/contacts/batch/update', (body) => ((updateBody = body), true))
        .reply(200, batchBody([upsertResult('77', { whatsapp_id: '+16505551234' })]));
      const context = testContext();
      const outcomes = await connectorWith().execute([contactOp('c1', '+16505551234')], context);
      expect(outcomes).toEqual([{ ok: true, result: { hubspotContactId: '77' } }]);
      expect(updateBody).toEqual({ inputs: [{ id: '77', properties: { whatsapp_id: '+16505551234' } }] });
      const groups = searchBody.filterGroups.map((g: any) => [g.filters[0].propertyName, g.filters[0].operator]);
      expect(groups).toEqual([
        ['phone', 'IN'],
        ['mobilephone', 'IN'],
        ['phone', 'IN'],
        ['hs_searchable_calculated_phone_number', 'IN'],
        ['hs_searchable_calculated_mobile_number', 'IN'],
      ]);
      expect(searchBody.filterGroups.map((g: any) => g.filters[0].values)).toEqual([['+16505551234'], ['+16505551234'], ['16505551234'], ['6505551234'], ['6505551234']]);
      expect(searchBody.limit).toBeLessThanOrEqual(200);
      expect(nock.isDone()).toBe(true);
    });

    it('keeps every phone search body within HubSpot\'s 3,000 characters for a burst of 60 Brazilian and 40 German numbers', async () => {
      const numbers = [
        ...Array.from({ length: 60 }, (_, i) => `+55119${String(87_650_000 + i * 37).padStart(8, '0')}`),
        ...Array.from({ length: 40 }, (_, i) => `+49151${String(23_450_000 + i * 41).padStart(8, '0')}`),
      ];
      const bodies: string[] = [];
      nock(API)
        .post('/crm/v3/objects/contacts/batch/read')
        .reply(200, batchBody([]))
        .post('/crm/v3/objects/contacts/search', (body) => (bodies.push(JSON.stringify(body)), true))
        .times(100)
        .reply(200, { total: 0, results: [] })
        .post('/crm/v3/objects/contacts/batch/upsert')
        .reply(200, (_uri, body: any) => batchBody(body.inputs.map((input: any, i: number) => upsertResult(String(500 + i), { whatsapp_id: input.id }))));
      const outcomes = await connectorWith().execute(numbers.map((n, i) => contactOp(`c${i}`, n)), testContext());
      expect(outcomes.every((o) => o.ok)).toBe(true);
      expect(bodies.length).toBeGreaterThan(2);
      expect(Math.max(...bodies.map((b) => b.length))).toBeLessThanOrEqual(3000);
      // Every number was searched, each in exactly one body.
      for (const n of numbers) expect(bodies.filter((b) => b.includes(`"${n}"`))).toHaveLength(1);
    });

    it('splits a phone search that HubSpot refuses as too large instead of failing the contacts', async () => {
      const searched: number[] = [];
      nock(API)
        .post('/crm/v3/objects/contacts/batch/read')
        .reply(200, batchBody([]))
        .post('/crm/v3/objects/contacts/search', (body) => (searched.push(body.filterGroups[0].filters[0].values.length), true))
        .reply(400, { status: 'error', message: 'The request body of 2950 characters exceeds the maximum of 2,000 characters for a search query.', category: 'VALIDATION_ERROR' })
        .post('/crm/v3/objects/contacts/search')
        .times(2)
        .reply(200, { total: 0, results: [] })
        .post('/crm/v3/objects/contacts/batch/upsert')
        .reply(200, (_uri, body: any) => batchBody(body.inputs.map((input: any, i: number) => upsertResult(String(600 + i), { whatsapp_id: input.id }))));
      const outcomes = await connectorWith().execute([contactOp('c1', '+5511987650001'), contactOp('c2', '+4915123450001'), contactOp('c3', '+447700900123')], testContext());
      expect(outcomes.map((o) => o.ok)).toEqual([true, true, true]);
      expect(searched[0]).toBeGreaterThan(2);
      expect(nock.isDone()).toBe(true);
    });

    it('still fails a contact with HubSpot\'s message when a search of one number is refused as too large', async () => {
      nock(API)
        .post('/crm/v3/objects/contacts/batch/read')
        .reply(200, batchBody([]))
        .post('/crm/v3/objects/contacts/search')
        .reply(400, { status: 'error', message: 'exceeds the maximum of 3,000 characters', category: 'VALIDATION_ERROR' });
      expect((await connectorWith().execute([contactOp('c1', '+5511987650001')], testContext()))[0]).toMatchObject({ ok: false, error: { message: expect.stringMatching(/3,000 characters/) } });
    });

    it('fills the name of an adopted contact only where it is empty', async () => {
      let updateBody: any;
      nock(API)
        .post('/crm/v3/objects/contacts/batch/read')
        .reply(200, batchBody([]))
        .post('/crm/v3/objects/contacts/search')
        .reply(200, { total: 1, results: [{ id: '88', properties: { phone: '16505551234', firstname: null, lastname: null } }] })
        .post('/crm/v3/objects/contacts/batch/update', (body) => ((updateBody = body), true))
        .reply(200, batchBody([upsertResult('88', {})]));
      await connectorWith().execute([contactOp('c1', '+16505551234')], testContext());
      expect(updateBody.inputs[0].properties).toEqual({ whatsapp_id: '+16505551234', firstname: 'Sheena', lastname: 'Nelson' });
    });

    it('a retried contact operation upserts again on the same key instead of creating a duplicate', async () => {
      const bodies: any[] = [];
      for (let i = 0; i < 2; i++) {
        nock(API)
          .post('/crm/v3/objects/contacts/batch/read')
          .reply(200, batchBody([]))
          .post('/crm/v3/objects/contacts/search')
          .reply(200, { total: 0, results: [] })
          .post('/crm/v3/objects/contacts/batch/upsert', (body) => (bodies.push(body), true))
          .reply(200, batchBody([upsertResult('101', { whatsapp_id: '+16505551234' })]));
      }
      const connector = connectorWith();
      const operation = contactOp('c1', '+16505551234');
      await connector.execute([operation], testContext());
      // A crash lost the answer; the re-claimed operation runs again.
      expect(await connector.reconcile(operation, testContext())).toBeUndefined();
      await connector.execute([{ ...operation, attempts: 2 }], testContext());
      expect(bodies).toHaveLength(2);
      expect(bodies[1]).toEqual(bodies[0]);
      expect(bodies[0].inputs[0].idProperty).toBe('whatsapp_id');
    });
  });

  describe('conversation', () => {
    it('logs messages as WHATS_APP communications upserted on the message id, then associates them', async () => {
      let upsertBody: any;
      let associateBody: any;
      nock(API)
        .post('/crm/v3/objects/communications/batch/upsert', (body) => ((upsertBody = body), true))
        .reply(200, batchBody([upsertResult('9001', { whatsapp_message_id: 'wamid.A' }), upsertResult('9002', { whatsapp_message_id: 'wamid.B' })]))
        .post('/crm/v4/associations/communications/contacts/batch/associate/default', (body) => ((associateBody = body), true))
        .reply(200, { status: 'COMPLETE', results: [], startedAt: '2026-01-01T00:00:00Z', completedAt: '2026-01-01T00:00:01Z' });
      const context = testContext();
      context.refs.set('contact:c1', '101');
      const outcomes = await connectorWith().execute([messageOp('wamid.A', 'c1'), messageOp('wamid.B', 'c1', '<b>bold</b> & co')], context);
      expect(outcomes.every((o) => o.ok)).toBe(true);
      expect(upsertBody.inputs[0]).toEqual({
        idProperty: 'whatsapp_message_id',
        id: 'wamid.A',
        properties: {
          whatsapp_message_id: 'wamid.A',
          hs_communication_channel_type: 'WHATS_APP',
          hs_communication_logged_from: 'CRM',
          hs_communication_body: '<p><strong>WhatsApp message from the customer</strong></p><p>Does it come in another color?</p>',
          hs_timestamp: '2025-06-08T20:59:43.000Z',
        },
      });
      expect(upsertBody.inputs[1].properties.hs_communication_body).toContain('&lt;b&gt;bold&lt;/b&gt; &amp; co');
      expect(associateBody).toEqual({ inputs: [{ from: { id: '9001' }, to: { id: '101' } }, { from: { id: '9002' }, to: { id: '101' } }] });
      expect(context.refs.get('communication:wamid.A')).toBe('9001');
    });

    it('keeps the good items of a partly failed batch and fails the bad one with HubSpot\'s message', async () => {
      nock(API)
        .post('/crm/v3/objects/communications/batch/upsert')
        .reply(207, batchBody([upsertResult('9001', { whatsapp_message_id: 'wamid.A' })], {
          numErrors: 1,
          errors: [{ status: 'error', category: 'VALIDATION_ERROR', message: 'Property values were not valid: hs_timestamp', context: { ids: ['wamid.B'] } }],
        }))
        .post('/crm/v4/associations/communications/contacts/batch/associate/default', (body) => body.inputs.length === 1)
        .reply(200, { status: 'COMPLETE', results: [], startedAt: '2026-01-01T00:00:00Z', completedAt: '2026-01-01T00:00:01Z' });
      const context = testContext();
      context.refs.set('contact:c1', '101');
      const [good, bad] = await connectorWith().execute([messageOp('wamid.A', 'c1'), messageOp('wamid.B', 'c1')], context);
      expect(good).toEqual({ ok: true, result: { hubspotCommunicationId: '9001' } });
      expect(bad!.ok).toBe(false);
      const error = !bad!.ok ? bad!.error : undefined;
      expect(error).toBeInstanceOf(VendorError);
      expect(error!.retryable).toBe(false);
      expect(error!.message).toBe('hubspot: message not logged: Property values were not valid: hs_timestamp');
      expect(nock.isDone()).toBe(true);
    });

    it('writes a delivery failure onto the logged outbound message, and never creates a record for a status', async () => {
      let updateBody: any;
      nock(API)
        .post('/crm/v3/objects/communications/batch/update', (body) => ((updateBody = body), true))
        .reply(200, batchBody([upsertResult('9001', {})]));
      const context = testContext();
      context.refs.set('communication:wamid.OUT', '9001');
      const status = (messageId: string) =>
        op(KIND.status, { messageId, contactId: 'c1', direction: 'outbound', text: 'Your order shipped', sentAt: 1749416383000, status: 'failed', statusNote: 'Re-engagement message (WhatsApp error 131047)' });
      const [done, waiting] = await connectorWith().execute([status('wamid.OUT'), status('wamid.NEVER-LOGGED')], context);
      expect(done).toEqual({ ok: true, result: { hubspotCommunicationId: '9001' } });
      expect(!waiting!.ok && waiting!.error.retryable).toBe(true);
      expect(updateBody.inputs).toEqual([
        {
          id: '9001',
          properties: {
            hs_communication_body:
              '<p><strong>WhatsApp message to the customer</strong></p><p>Your order shipped</p><p><em>NOT DELIVERED: Re-engagement message (WhatsApp error 131047)</em></p>',
          },
        },
      ]);
    });

    it('waits for the contact when its operation has not succeeded', async () => {
      const [outcome] = await connectorWith().execute([messageOp('wamid.A', 'c-unknown')], testContext());
      expect(outcome!.ok).toBe(false);
      expect(!outcome!.ok && outcome!.error.retryable).toBe(true);
    });
  });

  describe('thread activity', () => {
    const threadOp = () => op(KIND.thread, { threadId: 't-1', contactId: 'c1', profileName: 'Sheena Nelson', startedAt: 1749416383000, firstText: 'Does it come in another color?' });

    it('creates one task per new thread for the contact owner, upserted on the thread id', async () => {
      let upsertBody: any;
      let associateBody: any;
      nock(API)
        .post('/crm/v3/objects/contacts/batch/read', (body) => body.inputs[0].id === '101' && body.properties.includes('hubspot_owner_id'))
        .reply(200, batchBody([{ id: '101', properties: { hubspot_owner_id: '42' }, createdAt: '2026-01-01T00:00:00Z', updatedAt: '2026-01-01T00:00:00Z', archived: false }]))
        .post('/crm/v3/objects/tasks/batch/upsert', (body) => ((upsertBody = body), true))
        .reply(200, batchBody([upsertResult('7001', { whatsapp_thread_id: 't-1' })]))
        .post('/crm/v4/associations/tasks/contacts/batch/associate/default', (body) => ((associateBody = body), true))
        .reply(200, { status: 'COMPLETE', results: [], startedAt: '2026-01-01T00:00:00Z', completedAt: '2026-01-01T00:00:01Z' });
      const context = testContext();
      context.refs.set('contact:c1', '101');
      const [outcome] = await connectorWith({ threadActivity: 'task' }).execute([threadOp()], context);
      expect(outcome).toEqual({ ok: true, result: { hubspotTaskId: '7001' } });
      expect(upsertBody.inputs[0]).toMatchObject({
        idProperty: 'whatsapp_thread_id',
        id: 't-1',
        properties: { whatsapp_thread_id: 't-1', hs_task_subject: 'Reply on WhatsApp to Sheena Nelson', hs_task_status: 'NOT_STARTED', hubspot_owner_id: '42' },
      });
      expect(associateBody).toEqual({ inputs: [{ from: { id: '7001' }, to: { id: '101' } }] });
    });

    it('plans a thread activity only for the first inbound message of a new thread, when configured', () => {
      const change = (threadCreated: boolean) => ({
        type: 'message.recorded' as const,
        contact: { id: 'c1', crmKey: '+16505551234', waId: '+16505551234' as const, bsuid: null, parentBsuid: null, username: null, userId: null, profileName: 'S', createdAt: 0, updatedAt: 0 },
        thread: { id: 't-1', contactId: 'c1', businessNumberId: '1', startedAt: 5, lastMessageAt: 5 },
        threadCreated,
        message: { id: 'wamid.1', threadId: 't-1', contactId: 'c1', direction: 'inbound' as const, type: 'text' as const, originalType: 'text', text: 'hi', media: null, sentAt: 5, arrivalSeq: 1, status: null, replyToId: null, origin: null, warnings: [] },
      });
      // Every live customer message also moves the customer service window (window.write).
      expect(connectorWith().plan(change(true)).map((d) => d.kind)).toEqual([KIND.message, WINDOW_KIND]);
      expect(connectorWith({ threadActivity: 'note' }).plan(change(true)).map((d) => d.kind)).toEqual([KIND.message, KIND.thread, WINDOW_KIND]);
      expect(connectorWith({ threadActivity: 'note' }).plan(change(false)).map((d) => d.kind)).toEqual([KIND.message, WINDOW_KIND]);
    });
  });

  describe('media', () => {
    const mediaOp = (path: string) =>
      op(KIND.media, { messageId: 'wamid.IMG', contactId: 'c1', path, sha256: 'a'.repeat(64), mimeType: 'image/jpeg', size: 5, filename: null });

    it('uploads a media file once, named by its hash, and attaches it to the logged message', async () => {
      const path = join(tempDir(), 'img');
      writeFileSync(path, 'bytes');
      let uploadBody = '';
      let updateBody: any;
      nock(API)
        .get('/files/v3/files/search')
        .query((q) => q['name'] === `whatsapp-${'a'.repeat(32)}`)
        .reply(200, { results: [] })
        .post('/files/v3/files', (body) => ((uploadBody = String(body)), true))
        .reply(201, { id: '555', name: `whatsapp-${'a'.repeat(32)}`, extension: 'jpg', access: 'PRIVATE', createdAt: '2026-01-01T00:00:00Z', updatedAt: '2026-01-01T00:00:00Z', archived: false })
        .post('/crm/v3/objects/communications/batch/update', (body) => ((updateBody = body), true))
        .reply(200, batchBody([upsertResult('9001', {})]));
      const context = testContext();
      context.refs.set('communication:wamid.IMG', '9001');
      const connector = connectorWith({ mediaUpload: true });
      const [outcome] = await connector.execute([mediaOp(path)], context);
      expect(outcome).toEqual({ ok: true, result: { hubspotFileId: '555' } });
      expect(uploadBody).toContain(`filename="whatsapp-${'a'.repeat(32)}.jpg"`);
      expect(uploadBody).toContain('bytes');
      expect(uploadBody).toContain('"access":"PRIVATE"');
      expect(uploadBody).toContain('"duplicateValidationStrategy":"RETURN_EXISTING","duplicateValidationScope":"EXACT_FOLDER"');
      expect(updateBody).toEqual({ inputs: [{ id: '9001', properties: { hs_attachment_ids: '555' } }] });
      expect(connector.features).toContain('media');
    });

    it('takes a duplicate HubSpot hands back with 200 (an upload of the same bytes racing this one) as the file, not as a failure', async () => {
      const path = join(tempDir(), 'img');
      writeFileSync(path, 'bytes');
      nock(API)
        .get('/files/v3/files/search')
        .query(true)
        .reply(200, { results: [] })
        .post('/files/v3/files')
        .reply(200, { id: '556', name: `whatsapp-${'a'.repeat(32)}`, extension: 'jpg', access: 'PRIVATE', createdAt: '2026-01-01T00:00:00Z', updatedAt: '2026-01-01T00:00:00Z', archived: false })
        .post('/crm/v3/objects/communications/batch/update')
        .reply(200, batchBody([upsertResult('9001', {})]));
      const context = testContext();
      context.refs.set('communication:wamid.IMG', '9001');
      const [outcome] = await connectorWith({ mediaUpload: true }).execute([mediaOp(path)], context);
      expect(outcome).toEqual({ ok: true, result: { hubspotFileId: '556' } });
    });

    it('does not upload again when the same file is already there (a retry after a crash)', async () => {
      nock(API)
        .get('/files/v3/files/search')
        .query(true)
        .reply(200, { results: [{ id: '555', name: `whatsapp-${'a'.repeat(32)}`, extension: 'jpg', access: 'PRIVATE', createdAt: '2026-01-01T00:00:00Z', updatedAt: '2026-01-01T00:00:00Z', archived: false }] })
        .post('/crm/v3/objects/communications/batch/update')
        .reply(200, batchBody([upsertResult('9001', {})]));
      const context = testContext();
      context.refs.set('communication:wamid.IMG', '9001');
      const [outcome] = await connectorWith({ mediaUpload: true }).execute([mediaOp('/nonexistent')], context);
      expect(outcome).toEqual({ ok: true, result: { hubspotFileId: '555' } });
      expect(nock.isDone()).toBe(true);
    });

    it('plans attachments only when media upload is on', () => {
      const change = {
        type: 'media.stored' as const,
        contact: { id: 'c1', crmKey: '+16505551234', waId: '+16505551234' as const, bsuid: null, parentBsuid: null, username: null, userId: null, profileName: null, createdAt: 0, updatedAt: 0 },
        message: { id: 'wamid.IMG', threadId: 't', contactId: 'c1', direction: 'inbound' as const, type: 'image' as const, originalType: 'image', text: '[image]', media: null, sentAt: 0, arrivalSeq: 1, status: null, replyToId: null, origin: null, warnings: [] },
        media: { messageId: 'wamid.IMG', sha256: 'a'.repeat(64), mimeType: 'image/jpeg', size: 5, path: '/x', filename: null },
      };
      expect(connectorWith().plan(change)).toEqual([]);
      expect(connectorWith({ mediaUpload: true }).plan(change)).toEqual([expect.objectContaining({ kind: KIND.media, orderingKey: 'contact:c1' })]);
    });
  });

  describe('payloads checked by their kind, answers by their schema', () => {
    it('reports a message whose payload is not one as dead, with the schema\'s reason, calling HubSpot for nothing', async () => {
      const context = testContext();
      context.refs.set('contact:c1', '101');
      const sideways = op(KIND.message, { messageId: 'wamid.A', contactId: 'c1', direction: 'sideways', text: 'x', sentAt: 1749416383000, status: null, statusNote: null });
      const [outcome] = await connectorWith().execute([sideways], context);
      expect(outcome).toMatchObject({ ok: false, error: { name: 'InvalidPayloadError', retryable: false, message: expect.stringMatching(/^message\.log payload does not match its schema: direction: /) } });
    });

    it('fails a write whose answer is not of the documented shape with a vendor error saying what was unexpected', async () => {
      nock(API)
        .post('/crm/v3/objects/communications/batch/upsert')
        .reply(200, batchBody([{ properties: { whatsapp_message_id: 'wamid.A' }, createdAt: '2026-01-01T00:00:00Z' }]));
      const context = testContext();
      context.refs.set('contact:c1', '101');
      const [outcome] = await connectorWith().execute([messageOp('wamid.A', 'c1')], context);
      expect(outcome).toMatchObject({ ok: false, error: expect.any(VendorError) });
      expect(outcome).toMatchObject({ error: { message: expect.stringMatching(/^hubspot: logging messages: unexpected answer: results\.0\.id: /) } });
      expect(nock.isDone()).toBe(true);
    });

    it('fails an inbox operation queued while the inbox was on, now that it is off, saying so', async () => {
      const [outcome] = await connectorWith().execute([op(INBOX_KIND.status, { hubspotMessageId: 'm1', status: 'READ', errorMessage: null })], testContext());
      expect(outcome).toMatchObject({ ok: false, error: { retryable: false, message: expect.stringMatching(/connectors\.hubspot\.inbox is off; turn it on again/) } });
    });
  });

  describe('limits and errors', () => {
    it('turns a 429 into a retryable error with HubSpot\'s wait', async () => {
      nock(API)
        .post('/crm/v3/objects/communications/batch/upsert')
        .reply(429, { status: 'error', message: 'You have reached your ten_secondly_rolling limit.', category: 'RATE_LIMITS', policyName: 'TEN_SECONDLY_ROLLING' }, { 'retry-after': '3' });
      const context = testContext();
      context.refs.set('contact:c1', '101');
      expect((await connectorWith().execute([messageOp('wamid.A', 'c1')], context))[0]).toMatchObject({ ok: false, error: { retryable: true, retryAfterMs: 3000, status: 429 } });
      expect(context.calls).toEqual([429]);
    });

    it('waits out the rolling window when a 429 names its policy but no Retry-After', async () => {
      nock(API).post('/crm/v3/objects/communications/batch/upsert').reply(429, { status: 'error', message: 'limit', category: 'RATE_LIMITS', policyName: 'TEN_SECONDLY_ROLLING' });
      const context = testContext();
      context.refs.set('contact:c1', '101');
      expect((await connectorWith().execute([messageOp('wamid.A', 'c1')], context))[0]).toMatchObject({ ok: false, error: { retryAfterMs: 10_000 } });
    });

    it('refreshes an OAuth token by its TTL and once more on 401', async () => {
      const tokens: string[] = [];
      nock(API)
        .post('/oauth/2026-03/token', (body) => body.grant_type === 'refresh_token' && body.refresh_token === 'rt-1' && body.client_id === 'cid' && body.client_secret === 'cs')
        .matchHeader('content-type', 'application/x-www-form-urlencoded')
        .reply(200, { access_token: 'at-1', refresh_token: 'rt-1', expires_in: 1800, token_type: 'bearer' })
        .post('/crm/v3/objects/communications/batch/upsert')
        .reply(function () {
          tokens.push(String(this.req.headers['authorization']));
          return [401, { status: 'error', message: 'The OAuth token used to make this call expired', category: 'EXPIRED_AUTHENTICATION' }];
        })
        .post('/oauth/2026-03/token')
        .reply(200, { access_token: 'at-2', refresh_token: 'rt-1', expires_in: 1800, token_type: 'bearer' })
        .post('/crm/v3/objects/communications/batch/upsert')
        .reply(function () {
          tokens.push(String(this.req.headers['authorization']));
          return [200, batchBody([upsertResult('9001', { whatsapp_message_id: 'wamid.A' })])];
        })
        .post('/crm/v4/associations/communications/contacts/batch/associate/default')
        .reply(200, { status: 'COMPLETE', results: [], startedAt: '2026-01-01T00:00:00Z', completedAt: '2026-01-01T00:00:01Z' });
      const connector = connectorWith({ accessToken: undefined, oauth: { clientId: 'cid', clientSecret: 'cs', refreshToken: 'rt-1' } });
      const context = testContext();
      context.refs.set('contact:c1', '101');
      const [outcome] = await connector.execute([messageOp('wamid.A', 'c1')], context);
      expect(outcome!.ok).toBe(true);
      expect(tokens).toEqual(['Bearer at-1', 'Bearer at-2']);
      expect(nock.isDone()).toBe(true);
    });

    it('turns a 403 for missing scopes into a credential error naming them', async () => {
      nock(API)
        .post('/crm/v3/objects/communications/batch/upsert')
        .reply(403, {
          status: 'error',
          message: 'This app hasn\'t been granted all required scopes to make this call.',
          category: 'MISSING_SCOPES',
          errors: [{ message: 'One or more of the following scopes are required.', context: { requiredGranularScopes: ['crm.objects.contacts.write'] } }],
        });
      const context = testContext();
      context.refs.set('contact:c1', '101');
      const [outcome] = await connectorWith().execute([messageOp('wamid.A', 'c1')], context);
      const error = outcome?.ok === false ? outcome.error : undefined;
      expect(error).toBeInstanceOf(CredentialError);
      expect(error?.message).toMatch(/lacks scope crm\.objects\.contacts\.write; add them to the private app/);
    });

    it('paces an OAuth app at its own 110 requests per 10 s, a private app at 100 unless told', () => {
      expect(connectorWith({ accessToken: undefined, oauth: { clientId: 'cid', clientSecret: 'cs', refreshToken: 'rt' } }).tuning.rateLimit).toEqual({ requests: 110, intervalMs: 10_000 });
      expect(connectorWith().tuning.rateLimit).toEqual({ requests: 100, intervalMs: 10_000 });
      expect(connectorWith({ rateLimit: { requests: 190 } }).tuning.rateLimit).toEqual({ requests: 190, intervalMs: 10_000 });
    });

    it('reads missing scopes from requiredScopes as well as requiredGranularScopes', async () => {
      nock(API)
        .post('/crm/v3/objects/communications/batch/upsert')
        .reply(403, {
          status: 'error',
          message: 'This app hasn\'t been granted all required scopes to make this call.',
          category: 'MISSING_SCOPES',
          errors: [{ message: 'One or more of the following scopes are required.', context: { requiredScopes: ['crm.objects.contacts.write', 'files'] } }],
        });
      const context = testContext();
      context.refs.set('contact:c1', '101');
      const [outcome] = await connectorWith().execute([messageOp('wamid.A', 'c1')], context);
      const error = outcome?.ok === false ? outcome.error : undefined;
      expect(error).toBeInstanceOf(CredentialError);
      expect(error?.message).toMatch(/lacks scopes crm\.objects\.contacts\.write, files;/);
    });

    it('reads an OAuth token\'s scopes from the date-versioned introspection endpoint, form-encoded', async () => {
      let introspected: any;
      nock(API)
        .post('/oauth/2026-03/token')
        .reply(200, { access_token: 'at-1', refresh_token: 'rt-2', expires_in: 1800, token_type: 'bearer' })
        .post('/oauth/2026-03/token/introspect', (body) => ((introspected = body), true))
        .matchHeader('content-type', 'application/x-www-form-urlencoded')
        .reply(200, { active: true, scopes: ['crm.objects.contacts.read', 'crm.objects.contacts.write', 'crm.schemas.contacts.read', 'crm.schemas.contacts.write'] });
      const connector = connectorWith({ accessToken: undefined, oauth: { clientId: 'cid', clientSecret: 'cs', refreshToken: 'rt-1' } });
      const report = buildScopeReport(connector, await connector.grantedScopes(testContext()));
      expect(report.missing).toEqual([]);
      expect(introspected).toEqual({ client_id: 'cid', client_secret: 'cs', token: 'at-1', token_type_hint: 'access_token' });
      expect(nock.isDone()).toBe(true);
    });

    it('blocks with a credential error when the refresh token is revoked', async () => {
      nock(API).post('/oauth/2026-03/token').reply(400, { status: 'BAD_REFRESH_TOKEN', message: 'missing or unknown refresh token' });
      const connector = connectorWith({ accessToken: undefined, oauth: { clientId: 'cid', clientSecret: 'cs', refreshToken: 'revoked' } });
      const context = testContext();
      context.refs.set('contact:c1', '101');
      expect((await connector.execute([messageOp('wamid.A', 'c1')], context))[0]).toMatchObject({ ok: false, error: expect.any(CredentialError) });
    });
  });

  describe('scopes and setup', () => {
    it('reports missing scopes from the private-app token metadata, each named with how to grant it', async () => {
      nock(API)
        .post('/oauth/v2/private-apps/get/access-token-info', { tokenKey: 'pat-na1-test' })
        .reply(200, { userId: 1, hubId: 2, appId: 3, scopes: ['crm.objects.contacts.read', 'crm.objects.deals.write'] });
      const connector = connectorWith();
      const report = buildScopeReport(connector, await connector.grantedScopes(testContext()));
      expect(report.missing).toEqual(['crm.objects.contacts.write', 'crm.schemas.contacts.read', 'crm.schemas.contacts.write']);
      expect(report.extra).toEqual(['crm.objects.deals.write']);
      expect(missingScopesReason(connector, report)).toMatch(/^HubSpot credentials lack scopes crm\.objects\.contacts\.write, crm\.schemas\.contacts\.read, crm\.schemas\.contacts\.write \(needed by contacts, conversation, setup\); in HubSpot, Settings > Integrations > Private apps/);
    });

    it('needs no schema scopes when automatic setup is off', async () => {
      nock(API).post('/oauth/v2/private-apps/get/access-token-info').reply(200, { scopes: ['crm.objects.contacts.read', 'crm.objects.contacts.write'] });
      const connector = connectorWith({ autoSetup: false });
      expect(buildScopeReport(connector, await connector.grantedScopes(testContext())).missing).toEqual([]);
    });

    it('creates the unique WhatsApp id properties when they are missing', async () => {
      const created: any[] = [];
      nock(API)
        .get('/account-info/v3/details')
        .reply(200, { portalId: 1, accountType: 'STANDARD', timeZone: 'Asia/Tokyo', utcOffset: '+09:00', utcOffsetMilliseconds: 32_400_000 })
        .get('/crm/v3/properties/contacts/whatsapp_id').query(true)
        .reply(404, { status: 'error', message: 'Unable to find property', category: 'OBJECT_NOT_FOUND' })
        .post('/crm/v3/properties/contacts/groups').reply(201, { name: 'whatsapp', label: 'WhatsApp', displayOrder: -1, archived: false })
        .post('/crm/v3/properties/contacts', (body) => (created.push(body), true)).reply(201, { name: 'whatsapp_id', label: 'WhatsApp ID', type: 'string', fieldType: 'text', groupName: 'whatsapp', hasUniqueValue: true })
        .get('/crm/v3/properties/contacts/whatsapp_bsuid').query(true)
        .reply(404, { status: 'error', message: 'Unable to find property', category: 'OBJECT_NOT_FOUND' })
        .post('/crm/v3/properties/contacts/groups').reply(409, { status: 'error', message: 'exists', category: 'CONFLICT' })
        .post('/crm/v3/properties/contacts', (body) => (created.push(body), true)).reply(201, { name: 'whatsapp_bsuid', label: 'WhatsApp BSUID', type: 'string', fieldType: 'text', groupName: 'whatsapp', hasUniqueValue: false })
        // An identifier property that is there already, unique or not, is fine as long as it is text.
        .get('/crm/v3/properties/contacts/whatsapp_username').query(true)
        .reply(200, { name: 'whatsapp_username', label: 'x', type: 'string', fieldType: 'text', groupName: 'whatsapp', hasUniqueValue: false })
        .get('/crm/v3/properties/contacts/whatsapp_identity_note').query(true)
        .reply(200, { name: 'whatsapp_identity_note', label: 'x', type: 'string', fieldType: 'text', groupName: 'whatsapp', hasUniqueValue: false })
        .get('/crm/v3/properties/communications/whatsapp_message_id').query(true)
        .reply(200, { name: 'whatsapp_message_id', label: 'x', type: 'string', fieldType: 'text', groupName: 'whatsapp', hasUniqueValue: true })
        // The consent properties are there already, as setup makes them.
        .get('/crm/v3/properties/contacts/whatsapp_marketing_consent').query(true)
        .reply(200, { name: 'whatsapp_marketing_consent', label: 'x', type: 'enumeration', fieldType: 'select', groupName: 'whatsapp', hasUniqueValue: false, options: [{ value: 'opted_in', label: 'Opted in', hidden: false }, { value: 'opted_out', label: 'Opted out', hidden: false }] })
        .get('/crm/v3/properties/contacts/whatsapp_consent_changed_at').query(true)
        .reply(200, { name: 'whatsapp_consent_changed_at', label: 'x', type: 'datetime', fieldType: 'date', groupName: 'whatsapp', hasUniqueValue: false })
        .get('/crm/v3/properties/contacts/whatsapp_window_open_until').query(true)
        .reply(200, { name: 'whatsapp_window_open_until', label: 'x', type: 'datetime', fieldType: 'date', groupName: 'whatsapp', hasUniqueValue: false });
      const connector = connectorWith();
      const actions = await connector.setup!(testContext());
      expect(actions).toEqual(['created contacts property whatsapp_id (unique values)', 'created contacts property whatsapp_bsuid']);
      expect(connector.tuning.dailyLimitTimeZone).toBe('Asia/Tokyo');
      expect(created[0]).toMatchObject({ name: 'whatsapp_id', type: 'string', fieldType: 'text', hasUniqueValue: true, groupName: 'whatsapp' });
      // BSUIDs change with the number: searchable text, not a unique key.
      expect(created[1]).toMatchObject({ name: 'whatsapp_bsuid', type: 'string', fieldType: 'text', hasUniqueValue: false, groupName: 'whatsapp' });
    });

    it('refuses a consent dropdown lacking a value, saying what it must be', async () => {
      nock(API)
        .get('/crm/v3/properties/contacts/whatsapp_marketing_consent').query(true)
        .reply(200, { name: 'whatsapp_marketing_consent', label: 'x', type: 'enumeration', fieldType: 'select', groupName: 'whatsapp', hasUniqueValue: false, options: [{ value: 'opted_in', label: 'In', hidden: false }] });
      const settings = hubspotSettingsSchema.parse({ enabled: true, accessToken: 'pat-test' });
      await expect(setupHubSpotConsentAndWindow(new HubSpotApi(settings), settings, testContext())).rejects.toThrow(/whatsapp_marketing_consent exists as type "enumeration" without the options opted_out; it must be a dropdown with the options opted_in and opted_out/);
    });

    it('refuses a property that exists with the wrong type, saying what to do', async () => {
      nock(API)
        .get('/account-info/v3/details')
        .reply(200, { portalId: 1, accountType: 'STANDARD', timeZone: 'US/Eastern', utcOffset: '-05:00', utcOffsetMilliseconds: -18_000_000 })
        .get('/crm/v3/properties/contacts/whatsapp_id').query(true)
        .reply(200, { name: 'whatsapp_id', label: 'x', type: 'number', fieldType: 'number', groupName: 'contactinformation', hasUniqueValue: false });
      await expect(connectorWith().setup!(testContext())).rejects.toThrow(/property contacts\.whatsapp_id exists as type "number" without unique values; it must be a single-line text property with unique values/);
    });
  });
});

describe('HubSpot contacts of customers known by BSUID', () => {
  onlyMockedHttp();
  const bsuidOp = (extra: Record<string, string | null> = {}) =>
    op(KIND.contact, { contactId: 'c9', crmKey: 'GB.80412277419022635518', phone: null, bsuid: 'GB.80412277419022635518', parentBsuid: null, username: 'ada.builds', profileName: null, previousPhone: null, ...extra });

  it('creates a phone-less contact named by @username, with the BSUID and the withheld-number note, and no phone search', async () => {
    let upsert: any;
    nock(API)
      .post('/crm/v3/objects/contacts/batch/read').reply(200, { status: 'COMPLETE', results: [], startedAt: '2026-01-01T00:00:00Z', completedAt: '2026-01-01T00:00:00Z' })
      .post('/crm/v3/objects/contacts/batch/upsert', (b) => ((upsert = b), true))
      .reply(200, batchBody([upsertResult('301', { whatsapp_id: 'GB.80412277419022635518' })]));
    const [outcome] = await connectorWith().execute([bsuidOp()], testContext());
    expect(outcome).toEqual({ ok: true, result: { hubspotContactId: '301' } });
    expect(upsert.inputs[0].properties).toEqual({
      whatsapp_id: 'GB.80412277419022635518',
      whatsapp_bsuid: 'GB.80412277419022635518',
      whatsapp_username: '@ada.builds',
      whatsapp_identity_note: NUMBER_WITHHELD_NOTE,
      firstname: '@ada.builds',
    });
  });

  it('writes no identity property an account chose not to keep (set to null)', async () => {
    let upsert: any;
    nock(API)
      .post('/crm/v3/objects/contacts/batch/read').reply(200, { status: 'COMPLETE', results: [], startedAt: '2026-01-01T00:00:00Z', completedAt: '2026-01-01T00:00:00Z' })
      .post('/crm/v3/objects/contacts/batch/upsert', (b) => ((upsert = b), true))
      .reply(200, batchBody([upsertResult('302', { whatsapp_id: 'GB.80412277419022635518' })]));
    await connectorWith({ bsuidProperty: null, usernameProperty: null, identityNoteProperty: null }).execute([bsuidOp()], testContext());
    expect(upsert.inputs[0].properties).toEqual({ whatsapp_id: 'GB.80412277419022635518', firstname: '@ada.builds' });
  });
});
