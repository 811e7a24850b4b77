// The Salesforce connector over the real jsforce, HTTP mocked with nock.
import { createVerify, generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import nock from 'nock';
import { describe, expect, it } from 'vitest';
import { jwtAssertion } from '../../../connectors/salesforce/client.js';
import { salesforceConnector } from '../../../connectors/salesforce/index.js';
import { KIND, personQueries, transcript } from '../../../connectors/salesforce/mappers.js';
import { parseSoql } from '../../../sandbox/salesforce.js';
import { salesforceSettingsSchema } from '../../../connectors/salesforce/settings.js';
import { buildScopeReport, type Connector } from '../../../core/connector.js';
import { CredentialError, type DeferredError, VendorError } from '../../../core/errors.js';
import { silentLogger } from '../../../core/logger.js';
import { missingScopesReason } from '../../../core/scopes.js';
import { claimedOperation, testContext } from '../../helpers/context.js';
import { onlyMockedHttp } from '../../helpers/nock.js';
import { tempDir } from '../../helpers/stores.js';

const ORG = 'https://acme.my.salesforce.com';
const DATA = '/services/data/v62.0';

function connectorWith(settings: Record<string, unknown> = {}): Connector {
  return salesforceConnector.create(
    salesforceSettingsSchema.parse({ enabled: true, instanceUrl: ORG, accessToken: '00Dxx!token', ...settings }),
    { log: silentLogger(), mediaDir: '/tmp' },
  );
}

const op = (kind: string, payload: Record<string, unknown>) => claimedOperation('salesforce', kind, payload);
const personOp = (contactId: string, waId: string, profileName: string | null = 'Sheena Nelson') => op(KIND.person, { contactId, waId, profileName });
const activityOp = (messageId: string, arrivalSeq: number) =>
  op(KIND.activity, { messageId, contactId: 'c1', threadId: 't-1', arrivalSeq, threadStartedAt: 1749416383000, profileName: 'Sheena Nelson' });

function field(name: string, extra: Record<string, unknown> = {}) {
  return { name, type: 'string', createable: true, updateable: true, nillable: true, defaultedOnCreate: false, externalId: false, unique: false, length: 255, ...extra };
}

describe('Salesforce connector', () => {
  onlyMockedHttp();

  describe('records', () => {
    it('creates Leads in one collections upsert on the external id, after looking for them', async () => {
      let soql = '';
      let body: any;
      nock(ORG, { reqheaders: { authorization: 'Bearer 00Dxx!token' } })
        .get(`${DATA}/query`)
        .query((q) => ((soql = String(q['q'])), true))
        .reply(200, { totalSize: 0, done: true, records: [] })
        .patch(`${DATA}/composite/sobjects/Lead/WhatsApp_Id__c`, (b) => ((body = b), true))
        .reply(200, [
          { id: '00Q1', success: true, created: true, errors: [] },
          { id: '00Q2', success: true, created: true, errors: [] },
        ]);
      const context = testContext();
      const outcomes = await connectorWith().execute([personOp('c1', '+16505551234'), personOp('c2', '+447700900123', null)], context);
      expect(outcomes).toEqual([
        { ok: true, result: { salesforceId: '00Q1' } },
        { ok: true, result: { salesforceId: '00Q2' } },
      ]);
      expect(soql).toMatch(/^SELECT Id, FirstName, LastName, Phone, MobilePhone, Description, WhatsApp_Id__c, WhatsApp_BSUID__c, WhatsApp_Username__c, IsConverted, ConvertedContactId FROM Lead WHERE WhatsApp_Id__c IN \('\+16505551234', '\+447700900123'\) OR Phone IN \(/);
      expect(soql).toContain("'(650) 555-1234'");
      expect(body).toEqual({
        allOrNone: false,
        records: [
          { WhatsApp_Id__c: '+16505551234', attributes: { type: 'Lead' }, Company: 'WhatsApp', Phone: '+16505551234', FirstName: 'Sheena', LastName: 'Nelson' },
          { WhatsApp_Id__c: '+447700900123', attributes: { type: 'Lead' }, Company: 'WhatsApp', Phone: '+447700900123', LastName: '(WhatsApp customer)' },
        ],
      });
      expect(context.refs.get('person:c1')).toBe('00Q1');
    });

    it('saves a Lead over a duplicate rule that only alerts, with the Duplicate Rule header', async () => {
      nock(ORG)
        .get(`${DATA}/query`)
        .query(true)
        .reply(200, { totalSize: 0, done: true, records: [] })
        .patch(`${DATA}/composite/sobjects/Lead/WhatsApp_Id__c`)
        .matchHeader('sforce-duplicate-rule-header', 'allowSave=true')
        .reply(200, [{ id: '00Q9', success: true, created: true, errors: [] }]);
      const outcomes = await connectorWith().execute([personOp('c1', '+6281234567002', 'Budi Santoso')], testContext());
      expect(outcomes).toEqual([{ ok: true, result: { salesforceId: '00Q9' } }]);
      expect(nock.isDone()).toBe(true);
    });

    it('fails a Lead refused by a blocking duplicate rule for good, naming the rule and the fix', async () => {
      nock(ORG)
        .get(`${DATA}/query`)
        .query(true)
        .reply(200, { totalSize: 0, done: true, records: [] })
        .patch(`${DATA}/composite/sobjects/Lead/WhatsApp_Id__c`)
        .reply(200, [
          {
            success: false,
            errors: [{ statusCode: 'DUPLICATES_DETECTED', message: 'Use one of these records?', fields: [], duplicateResult: { allowSave: false, duplicateRule: 'Block_Same_Name_Leads', duplicateRuleEntityType: 'Lead', matchResults: [] } }],
          },
        ]);
      const [outcome] = await connectorWith().execute([personOp('c1', '+6281234567002', 'Budi Santoso')], testContext());
      expect(outcome!.ok).toBe(false);
      const error = (outcome as { error: Error & { retryable: boolean } }).error;
      expect(error.retryable).toBe(false);
      expect(error.message).toMatch(/duplicate rule Block_Same_Name_Leads: DUPLICATES_DETECTED.*the rule blocks duplicates: in Setup > Duplicate Rules, change Block_Same_Name_Leads/);
    });

    it('never writes to a converted Lead: follows it to the Contact it became', async () => {
      let soql = '';
      nock(ORG)
        .get(`${DATA}/query`)
        .query((q) => ((soql = String(q['q'])), true))
        .reply(200, {
          totalSize: 1,
          done: true,
          records: [{ attributes: { type: 'Lead' }, Id: '00Q7', FirstName: 'Ana', LastName: 'Souza', Phone: '+5511987650777', MobilePhone: null, WhatsApp_Id__c: '+5511987650777', IsConverted: true, ConvertedContactId: '0037' }],
        });
      const context = testContext();
      const outcomes = await connectorWith().execute([personOp('c1', '+5511987650777', 'Ana Souza')], context);
      expect(outcomes).toEqual([{ ok: true, result: { salesforceId: '0037' } }]);
      expect(soql).toContain('IsConverted, ConvertedContactId FROM Lead');
      expect(context.refs.get('person:c1')).toBe('0037');
      expect(nock.isDone()).toBe(true);
    });

    it('prefers a live Lead with the same number over a converted one', async () => {
      nock(ORG)
        .get(`${DATA}/query`)
        .query(true)
        .reply(200, {
          totalSize: 2,
          done: true,
          records: [
            { attributes: { type: 'Lead' }, Id: '00Q7', FirstName: 'Ana', LastName: 'Souza', Phone: '(11) 98765-0777', MobilePhone: null, WhatsApp_Id__c: null, IsConverted: true, ConvertedContactId: '0037' },
            { attributes: { type: 'Lead' }, Id: '00Q8', FirstName: 'Ana', LastName: 'Souza', Phone: '+55 11 98765-0777', MobilePhone: null, WhatsApp_Id__c: null, IsConverted: false, ConvertedContactId: null },
          ],
        })
        .patch(`${DATA}/composite/sobjects`)
        .reply(200, [{ id: '00Q8', success: true, errors: [] }]);
      const outcomes = await connectorWith().execute([personOp('c1', '+5511987650777', 'Ana Souza')], testContext());
      expect(outcomes).toEqual([{ ok: true, result: { salesforceId: '00Q8' } }]);
    });

    it('adopts an existing Contact whose phone is the same number typed otherwise, keeping its names', async () => {
      let body: any;
      nock(ORG)
        .get(`${DATA}/query`)
        .query(true)
        .reply(200, { totalSize: 1, done: true, records: [{ attributes: { type: 'Contact' }, Id: '0031', FirstName: 'Sheena', LastName: 'N. (key account)', Phone: null, MobilePhone: '+1 650-555-1234', WhatsApp_Id__c: null }] })
        .patch(`${DATA}/composite/sobjects`, (b) => ((body = b), true))
        .reply(200, [{ id: '0031', success: true, errors: [] }]);
      const [outcome] = await connectorWith({ target: 'Contact' }).execute([personOp('c1', '+16505551234')], testContext());
      expect(outcome).toEqual({ ok: true, result: { salesforceId: '0031' } });
      expect(body).toEqual({ allOrNone: false, records: [{ attributes: { type: 'Contact' }, id: '0031', WhatsApp_Id__c: '+16505551234' }] });
    });

    it('creates Contacts without the Lead-only Company field', async () => {
      let body: any;
      nock(ORG)
        .get(`${DATA}/query`).query(true).reply(200, { totalSize: 0, done: true, records: [] })
        .patch(`${DATA}/composite/sobjects/Contact/WhatsApp_Id__c`, (b) => ((body = b), true))
        .reply(200, [{ id: '0032', success: true, created: true, errors: [] }]);
      await connectorWith({ target: 'Contact' }).execute([personOp('c1', '+16505551234')], testContext());
      expect(body.records[0]).not.toHaveProperty('Company');
      expect(body.records[0]).toMatchObject({ LastName: 'Nelson', WhatsApp_Id__c: '+16505551234' });
    });

    it('keeps the records that saved and fails the one a validation rule refused, with the org\'s message', async () => {
      nock(ORG)
        .get(`${DATA}/query`).query(true).reply(200, { totalSize: 0, done: true, records: [] })
        .patch(`${DATA}/composite/sobjects/Lead/WhatsApp_Id__c`)
        .reply(200, [
          { id: '00Q1', success: true, created: true, errors: [] },
          { success: false, errors: [{ statusCode: 'FIELD_CUSTOM_VALIDATION_EXCEPTION', message: 'Phone must be a local number', fields: ['Phone'] }] },
        ]);
      const [good, bad] = await connectorWith().execute([personOp('c1', '+16505551234'), personOp('c2', '+447700900123')], testContext());
      expect(good).toEqual({ ok: true, result: { salesforceId: '00Q1' } });
      const error = !bad!.ok ? bad!.error : undefined;
      expect(error).toBeInstanceOf(VendorError);
      expect(error!.retryable).toBe(false);
      expect(error!.message).toBe(
        "salesforce: Lead for +44********23 refused by the org: FIELD_CUSTOM_VALIDATION_EXCEPTION: Phone must be a local number (fields: Phone); change the record or the org's rule, then replay",
      );
    });

    it('retries a record locked by another process', async () => {
      nock(ORG)
        .get(`${DATA}/query`).query(true).reply(200, { totalSize: 0, done: true, records: [] })
        .patch(`${DATA}/composite/sobjects/Lead/WhatsApp_Id__c`)
        .reply(200, [{ success: false, errors: [{ statusCode: 'UNABLE_TO_LOCK_ROW', message: 'unable to obtain exclusive access to this record' }] }]);
      const [outcome] = await connectorWith().execute([personOp('c1', '+16505551234')], testContext());
      expect(!outcome!.ok && outcome!.error.retryable).toBe(true);
    });
  });

  describe('activity', () => {
    it("refuses a payload its kind's schema does not accept, with the reason and no request, while its other kinds still run", async () => {
      // onlyMockedHttp: any request here would fail the test.
      const context = testContext();
      context.refs.set('person:c1', '00Q1');
      const [activity] = await connectorWith().execute([activityOp('wamid.1', 'one' as unknown as number)], context);
      expect(activity).toMatchObject({ ok: false, error: { name: 'InvalidPayloadError', retryable: false, message: expect.stringMatching(/^thread\.log payload does not match its schema: arrivalSeq: /) } });
      const [consent] = await connectorWith().execute([op('consent.write', { contactId: 'c1', crmKey: '+16505551234', status: 'maybe', changedAt: 1, source: 'keyword', threadId: null })], context);
      expect(consent).toMatchObject({ ok: false, error: { name: 'InvalidPayloadError', message: expect.stringMatching(/^consent\.write payload does not match its schema: status: /) } });
      const [person] = await connectorWith().execute([op(KIND.person, { contactId: 'c1', crmKey: 7 })], context);
      expect(person).toMatchObject({ ok: false, error: { name: 'InvalidPayloadError' } });
    });

    it('writes one Task per thread with the whole transcript, and skips messages an earlier write already carried', async () => {
      let body: any;
      nock(ORG)
        .patch(`${DATA}/composite/sobjects/Task/WhatsApp_Thread_Id__c`, (b) => ((body = b), true))
        .reply(200, [{ id: '00T1', success: true, created: true, errors: [] }]);
      const context = testContext();
      context.refs.set('person:c1', '00Q1');
      context.threads.set('t-1', [
        { id: 'wamid.1', direction: 'inbound', text: 'Hi, is it in stock?', sentAt: 1749416383000, arrivalSeq: 1001, origin: null, warnings: [] },
        { id: 'wamid.2', direction: 'inbound', text: 'In blue?', sentAt: 1749416390000, arrivalSeq: 2001, origin: null, warnings: [] },
      ]);
      const connector = connectorWith();
      const [first] = await connector.execute([activityOp('wamid.1', 1001)], context);
      expect(first).toEqual({ ok: true, result: { salesforceTaskId: '00T1' } });
      expect(body.records).toEqual([
        {
          WhatsApp_Thread_Id__c: 't-1',
          attributes: { type: 'Task' },
          WhoId: '00Q1',
          Subject: 'WhatsApp conversation with Sheena Nelson',
          Description: '2025-06-08 20:59 UTC  Customer: Hi, is it in stock?\n2025-06-08 20:59 UTC  Customer: In blue?',
          ActivityDate: '2025-06-08',
          Status: 'Completed',
          Priority: 'Normal',
        },
      ]);
      // The second message was already in that write: no further call (nock would refuse one).
      const [second] = await connector.execute([activityOp('wamid.2', 2001)], context);
      expect(second).toEqual({ ok: true });
      expect(nock.isDone()).toBe(true);
    });

    it('fails a write whose answer is not what Salesforce documents with a typed error saying what was unexpected', async () => {
      nock(ORG)
        .patch(`${DATA}/composite/sobjects/Task/WhatsApp_Thread_Id__c`)
        .reply(200, [{ id: '00T1', success: 'yes', errors: [] }]);
      const context = testContext();
      context.refs.set('person:c1', '00Q1');
      context.threads.set('t-1', [{ id: 'wamid.1', direction: 'inbound', text: 'Hi', sentAt: 1749416383000, arrivalSeq: 1001, origin: null, warnings: [] }]);
      const [outcome] = await connectorWith().execute([activityOp('wamid.1', 1001)], context);
      expect(outcome).toMatchObject({ ok: false, error: { name: 'VendorError', code: 'UNEXPECTED_ANSWER', retryable: false, message: expect.stringMatching(/^salesforce: writing conversation Tasks: unexpected answer: 0\.success: /) } });
      // Nothing is taken as written.
      expect(context.refs.get('task:t-1')).toBeUndefined();
    });

    it('does not rewrite the Task while a rewrite whose answer was lost may still land over it', async () => {
      nock(ORG)
        .patch(`${DATA}/composite/sobjects/Task/WhatsApp_Thread_Id__c`).replyWithError({ code: 'ECONNRESET', message: 'socket hang up' });
      const context = testContext();
      context.refs.set('person:c1', '00Q1');
      context.threads.set('t-1', [{ id: 'wamid.1', direction: 'inbound', text: 'Hi', sentAt: 1749416383000, arrivalSeq: 1001, origin: null, warnings: [] }]);
      const connector = connectorWith({ lostAnswerWaitSeconds: 600, timeoutMs: 1000 });
      expect(await connector.execute([activityOp('wamid.1', 1001)], context)).toMatchObject([{ ok: false, error: { name: 'TransportError' } }]);
      // A newer rewrite now could be overwritten by the older one landing late: it waits (no request).
      const [waiting] = await connector.execute([activityOp('wamid.1', 1001)], context);
      expect(waiting).toMatchObject({ ok: false, error: { name: 'DeferredError' } });
      context.refs.set('task-sent:t-1', String(Date.now() - 600_001));
      nock(ORG).patch(`${DATA}/composite/sobjects/Task/WhatsApp_Thread_Id__c`).reply(200, [{ id: '00T1', success: true, created: false, errors: [] }]);
      const [written] = await connector.execute([activityOp('wamid.1', 1001)], context);
      expect(written).toEqual({ ok: true, result: { salesforceTaskId: '00T1' } });
      expect(context.refs.get('task-sent:t-1')).toBe('0');
      expect(nock.isDone()).toBe(true);
    });

    it('marks a message that arrived after later ones were on the Task, in its place by time, on every rewrite after', async () => {
      const descriptions: string[] = [];
      nock(ORG)
        .patch(`${DATA}/composite/sobjects/Task/WhatsApp_Thread_Id__c`, (b: any) => (descriptions.push(b.records[0].Description), true))
        .times(3)
        .reply(200, [{ id: '00T1', success: true, created: false, errors: [] }]);
      const context = testContext();
      context.refs.set('person:c1', '00Q1');
      const at = Date.UTC(2026, 11, 1, 16, 0);
      const line = (id: string, minute: number, arrivalSeq: number, text: string) => ({ id, direction: 'inbound' as const, text, sentAt: at + minute * 60_000, arrivalSeq, origin: null, warnings: [] });
      const thread = [line('wamid.1', 0, 1, 'first'), line('wamid.3', 10, 2, 'third')];
      context.threads.set('t-1', thread);
      const connector = connectorWith();
      await connector.execute([activityOp('wamid.3', 2)], context);
      // Sent at 16:05, arrived after the 16:10 message was on the Task.
      thread.splice(1, 0, line('wamid.2', 5, 3, 'second, delayed'));
      await connector.execute([activityOp('wamid.2', 3)], context);
      thread.push(line('wamid.4', 12, 4, 'fourth'));
      await connector.execute([activityOp('wamid.4', 4)], context);
      expect(descriptions[0]).not.toContain('arrived late');
      expect(descriptions[1]).toBe('2026-12-01 16:00 UTC  Customer: first\n2026-12-01 16:05 UTC  Customer (arrived late): second, delayed\n2026-12-01 16:10 UTC  Customer: third');
      expect(descriptions[2]).toContain('16:05 UTC  Customer (arrived late): second, delayed');
      expect(descriptions[2]).toContain('16:12 UTC  Customer: fourth');
      expect(nock.isDone()).toBe(true);
    });

    it('splits phone look-ups so each query stays within the URL length Salesforce accepts', () => {
      const numbers = Array.from({ length: 200 }, (_, i) => `+4477009${String(10000 + i).slice(1)}` as const);
      const queries = personQueries(numbers.map((n) => ({ crmKey: n, phone: n })), 'Lead', { externalIdField: 'WhatsApp_Id__c', bsuidField: 'WhatsApp_BSUID__c', usernameField: 'WhatsApp_Username__c' });
      expect(queries.length).toBeGreaterThan(1);
      expect(queries.flatMap((q) => q.keys)).toEqual(numbers);
      for (const q of queries) expect(encodeURIComponent(q.soql).length).toBeLessThanOrEqual(8000);
      expect(parseSoql(queries[0]!.soql).conditions.map((c) => c.field)).toEqual(['WhatsApp_Id__c', 'Phone', 'MobilePhone']);
      expect(parseSoql("SELECT Id FROM ContentVersion WHERE Title = 'a\\'b' AND FirstPublishLocationId = 'x'")).toMatchObject({ join: 'AND', conditions: [{ field: 'Title', values: ["a'b"] }, { field: 'FirstPublishLocationId', values: ['x'] }] });
    });

    it('keeps the newest lines of a transcript that outgrows the Description field', () => {
      const messages = Array.from({ length: 50 }, (_, i) => ({ id: `m${i}`, direction: 'inbound' as const, text: `line ${i} ${'x'.repeat(40)}`, sentAt: 0, arrivalSeq: i, origin: null, warnings: [] }));
      const text = transcript(messages, 500);
      expect(text.length).toBeLessThanOrEqual(500);
      expect(text.startsWith('[earlier messages omitted]')).toBe(true);
      expect(text).toContain('line 49');
      expect(text).not.toContain('line 0 ');
    });
  });

  describe('media files', () => {
    const fileOp = (path: string) => op(KIND.media, { messageId: 'wamid.IMG', threadId: 't-1', path, sha256: 'b'.repeat(64), mimeType: 'image/jpeg', size: 5, filename: null });

    it('attaches a received file to the thread\'s Task once, found again by its content title', async () => {
      const path = join(tempDir(), 'img');
      writeFileSync(path, 'bytes');
      let soql = '';
      let body: any;
      nock(ORG)
        .get(`${DATA}/query`).query((q) => ((soql = String(q['q'])), true))
        .reply(200, { totalSize: 0, done: true, records: [] })
        .post(`${DATA}/sobjects/ContentVersion`, (b) => ((body = b), true))
        .reply(201, { id: '068000000000001', success: true, errors: [] });
      const context = testContext();
      context.refs.set('task:t-1', '00T1');
      const [outcome] = await connectorWith({ mediaFiles: true }).execute([fileOp(path)], context);
      expect(outcome).toEqual({ ok: true, result: { salesforceContentVersionId: '068000000000001' } });
      expect(soql).toBe(`SELECT Id FROM ContentVersion WHERE Title = 'whatsapp-${'b'.repeat(32)}' AND FirstPublishLocationId = '00T1'`);
      expect(body).toEqual({ Title: `whatsapp-${'b'.repeat(32)}`, PathOnClient: `whatsapp-${'b'.repeat(32)}.jpeg`, VersionData: Buffer.from('bytes').toString('base64'), FirstPublishLocationId: '00T1' });
    });

    it('does not upload twice after a crash', async () => {
      nock(ORG).get(`${DATA}/query`).query(true).reply(200, { totalSize: 1, done: true, records: [{ attributes: { type: 'ContentVersion' }, Id: '068000000000001' }] });
      const context = testContext();
      context.refs.set('task:t-1', '00T1');
      const [outcome] = await connectorWith({ mediaFiles: true }).execute([fileOp('/nonexistent')], context);
      expect(outcome).toEqual({ ok: true, result: { salesforceContentVersionId: '068000000000001' } });
    });

    it('after an upload whose answer was lost, waits until it can no longer land before looking for it, so it is not uploaded twice', async () => {
      const path = join(tempDir(), 'img');
      writeFileSync(path, 'bytes');
      const title = `whatsapp-${'b'.repeat(32)}`;
      // The first upload: nothing there yet, and no answer comes (a dropped connection under
      // nock leaves jsforce waiting: timeoutMs ends the wait).
      nock(ORG)
        .get(`${DATA}/query`).query(true).reply(200, { totalSize: 0, done: true, records: [] })
        .post(`${DATA}/sobjects/ContentVersion`).replyWithError({ code: 'ECONNRESET', message: 'socket hang up' });
      const context = testContext();
      context.refs.set('task:t-1', '00T1');
      const connector = connectorWith({ mediaFiles: true, lostAnswerWaitSeconds: 600, timeoutMs: 1000 });
      const [first] = await connector.execute([fileOp(path)], context);
      expect(first).toMatchObject({ ok: false, error: { name: 'TransportError' } });
      // Retried at once: Salesforce may still be carrying the upload out, so a lookup now could
      // miss it. The operation waits instead of asking (nock would refuse any request).
      const [second] = await connector.execute([fileOp(path)], context);
      expect(second).toMatchObject({ ok: false, error: { name: 'DeferredError' } });
      const untilMs = (second as unknown as { error: DeferredError }).error.untilMs;
      expect(untilMs - Date.now()).toBeGreaterThan(590_000);
      // Once the window has passed (as if 10 minutes went by), the file that landed late is found.
      const key = `file-sent:wamid.IMG:${'b'.repeat(64)}`;
      context.refs.set(key, String(Number(context.refs.get(key)) - 600_001));
      let soql = '';
      nock(ORG).get(`${DATA}/query`).query((q) => ((soql = String(q['q'])), true)).reply(200, { totalSize: 1, done: true, records: [{ attributes: { type: 'ContentVersion' }, Id: '068000000000009' }] });
      const [third] = await connector.execute([fileOp(path)], context);
      expect(third).toEqual({ ok: true, result: { salesforceContentVersionId: '068000000000009' } });
      expect(soql).toBe(`SELECT Id FROM ContentVersion WHERE Title = '${title}' AND FirstPublishLocationId = '00T1'`);
      expect(nock.isDone()).toBe(true);
    });

    it('retries at once an upload Salesforce answered with an error (nothing can land later)', async () => {
      const path = join(tempDir(), 'img');
      writeFileSync(path, 'bytes');
      nock(ORG)
        .get(`${DATA}/query`).query(true).times(2).reply(200, { totalSize: 0, done: true, records: [] })
        .post(`${DATA}/sobjects/ContentVersion`).reply(400, [{ errorCode: 'UNABLE_TO_LOCK_ROW', message: 'unable to obtain exclusive access to this record' }])
        .post(`${DATA}/sobjects/ContentVersion`).reply(201, { id: '068000000000002', success: true, errors: [] });
      const context = testContext();
      context.refs.set('task:t-1', '00T1');
      const connector = connectorWith({ mediaFiles: true });
      const [first] = await connector.execute([fileOp(path)], context);
      expect(first).toMatchObject({ ok: false, error: { code: 'UNABLE_TO_LOCK_ROW' } });
      const [second] = await connector.execute([fileOp(path)], context);
      expect(second).toEqual({ ok: true, result: { salesforceContentVersionId: '068000000000002' } });
      expect(nock.isDone()).toBe(true);
    });

    it('treats a call with no answer within timeoutMs as lost', async () => {
      const path = join(tempDir(), 'img');
      writeFileSync(path, 'bytes');
      nock(ORG)
        .get(`${DATA}/query`).query(true).reply(200, { totalSize: 0, done: true, records: [] })
        .post(`${DATA}/sobjects/ContentVersion`).delay(3_000).reply(201, { id: '068000000000003', success: true, errors: [] });
      const context = testContext();
      context.refs.set('task:t-1', '00T1');
      const started = Date.now();
      const [outcome] = await connectorWith({ mediaFiles: true, timeoutMs: 1000 }).execute([fileOp(path)], context);
      expect(outcome).toMatchObject({ ok: false, error: { name: 'TransportError', message: expect.stringContaining('no answer within 1000 ms') } });
      expect(Date.now() - started).toBeLessThan(2_900);
      expect(Number(context.refs.get(`file-sent:wamid.IMG:${'b'.repeat(64)}`))).toBeGreaterThan(0);
    });

    it('needs ContentVersion permissions only with mediaFiles on', () => {
      expect(connectorWith().requiredScopes!()).not.toContain('ContentVersion.create');
      expect(connectorWith({ mediaFiles: true }).requiredScopes!()).toContain('ContentVersion.VersionData.create');
    });
  });

  describe('limits, sessions and permissions', () => {
    it('backs off on REQUEST_LIMIT_EXCEEDED', async () => {
      nock(ORG).get(`${DATA}/query`).query(true).reply(403, [{ errorCode: 'REQUEST_LIMIT_EXCEEDED', message: 'TotalRequests Limit exceeded.' }]);
      expect(await connectorWith().execute([personOp('c1', '+16505551234')], testContext())).toMatchObject([{ ok: false, error: { retryable: true, retryAfterMs: 15 * 60_000, code: 'REQUEST_LIMIT_EXCEEDED' } }]);
    });

    it('stops short of the daily allowance reserve and reports the allowance', async () => {
      nock(ORG)
        .get(`${DATA}/query`).query(true)
        .reply(200, { totalSize: 0, done: true, records: [] }, { 'Sforce-Limit-Info': 'api-usage=85/100' });
      const context = testContext();
      const connector = connectorWith({ dailyReserveShare: 0.2 });
      expect(await connector.execute([personOp('c1', '+16505551234')], context)).toMatchObject([{ ok: false, error: { code: 'DAILY_RESERVE', retryable: true } }]);
      expect(context.quota).toEqual([[15, 100]]);
    });

    it('gets a session by client credentials and refreshes it when Salesforce says it expired', async () => {
      const seen: string[] = [];
      nock(ORG)
        .post('/services/oauth2/token', (b) => b.grant_type === 'client_credentials' && b.client_id === 'cid')
        .reply(200, { access_token: 'at-1', instance_url: ORG, token_type: 'Bearer' })
        .get(`${DATA}/query`).query(true)
        .reply(function () {
          seen.push(String(this.req.headers['authorization']));
          return [401, [{ errorCode: 'INVALID_SESSION_ID', message: 'Session expired or invalid' }]];
        })
        .post('/services/oauth2/token')
        .reply(200, { access_token: 'at-2', instance_url: ORG, token_type: 'Bearer' })
        .get(`${DATA}/query`).query(true)
        .reply(function () {
          seen.push(String(this.req.headers['authorization']));
          return [200, { totalSize: 0, done: true, records: [] }];
        })
        .patch(`${DATA}/composite/sobjects/Lead/WhatsApp_Id__c`)
        .reply(200, [{ id: '00Q1', success: true, created: true, errors: [] }]);
      const connector = connectorWith({ accessToken: undefined, clientCredentials: { clientId: 'cid', clientSecret: 'secret' } });
      const [outcome] = await connector.execute([personOp('c1', '+16505551234')], testContext());
      expect(outcome!.ok).toBe(true);
      expect(seen).toEqual(['Bearer at-1', 'Bearer at-2']);
    });

    it('blocks with a credential error when the session expires and Salesforce refuses the refresh', async () => {
      nock(ORG)
        .post('/services/oauth2/token')
        .reply(200, { access_token: 'at-1', instance_url: ORG, token_type: 'Bearer' })
        .get(`${DATA}/query`).query(true)
        .reply(401, [{ errorCode: 'INVALID_SESSION_ID', message: 'Session expired or invalid' }])
        .post('/services/oauth2/token')
        .reply(400, { error: 'invalid_client', error_description: 'invalid client credentials' });
      const connector = connectorWith({ accessToken: undefined, clientCredentials: { clientId: 'cid', clientSecret: 'revoked' } });
      const outcome = await connector.execute([personOp('c1', '+16505551234')], testContext()).then(
        (outcomes) => outcomes[0],
        (error: unknown) => ({ ok: false as const, error }),
      );
      expect(outcome!.ok).toBe(false);
      const error = (outcome as { error: unknown }).error;
      expect(error).toBeInstanceOf(CredentialError);
      expect(String((error as Error).message)).toMatch(/token request refused: invalid_client/);
    });

    it('signs a JWT bearer assertion that the connected app\'s certificate verifies', () => {
      const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
      const assertion = jwtAssertion({ clientId: 'cid', username: 'integration@acme.com', privateKey: pem, audience: 'https://login.salesforce.com' }, 1_750_000_000_000);
      const [header, claims, signature] = assertion.split('.');
      expect(JSON.parse(Buffer.from(header!, 'base64url').toString())).toEqual({ alg: 'RS256', typ: 'JWT' });
      expect(JSON.parse(Buffer.from(claims!, 'base64url').toString())).toEqual({ iss: 'cid', sub: 'integration@acme.com', aud: 'https://login.salesforce.com', exp: 1_750_000_120 });
      // Salesforce wants the assertion to expire within 3 minutes.
      expect(JSON.parse(Buffer.from(claims!, 'base64url').toString()).exp - 1_750_000_000).toBeLessThanOrEqual(180);
      expect(createVerify('RSA-SHA256').update(`${header}.${claims}`).verify(publicKey, Buffer.from(signature!, 'base64url'))).toBe(true);
    });

    it('names each missing object and field permission from describe', async () => {
      const leadFields = [field('Id'), field('Phone'), field('FirstName'), field('LastName'), field('Company'), field('Description'), field('WhatsApp_BSUID__c'), field('WhatsApp_Username__c'), field('WhatsApp_Id__c', { createable: false, updateable: false, externalId: true }), field('WhatsApp_Marketing_Consent__c', { type: 'picklist', picklistValues: [{ value: 'opted_in', active: true }, { value: 'opted_out', active: true }] }), field('WhatsApp_Consent_Changed_At__c', { type: 'datetime' }), field('WhatsApp_Window_Open_Until__c', { type: 'datetime' })];
      const taskFields = ['WhatsApp_Thread_Id__c', 'WhoId', 'Subject', 'Description', 'ActivityDate', 'Status', 'Priority'].map((n) => field(n));
      nock(ORG)
        .get(`${DATA}/sobjects/Lead/describe`).reply(200, { name: 'Lead', createable: true, updateable: true, fields: leadFields })
        .get(`${DATA}/sobjects/Task/describe`).reply(200, { name: 'Task', createable: true, updateable: false, fields: taskFields })
        .get(`${DATA}/limits`).reply(200, { DailyApiRequests: { Max: 100000, Remaining: 99000 } });
      const connector = connectorWith();
      const context = testContext();
      const report = buildScopeReport(connector, await connector.grantedScopes(context));
      expect(report.missing).toEqual(['Lead.WhatsApp_Id__c.create', 'Lead.WhatsApp_Id__c.update', 'Task.update']);
      expect(report.extra).toEqual([]);
      expect(missingScopesReason(connector, report)).toMatch(/^Salesforce credentials lack scopes Lead\.WhatsApp_Id__c\.create, Lead\.WhatsApp_Id__c\.update, Task\.update/);
      expect(context.quota).toEqual([[99000, 100000]]);
    });

    it('says exactly what to create when an external-id field is missing, and which required field needs a default', async () => {
      const leadFields = [field('Phone'), field('LastName', { nillable: false }), field('Company', { nillable: false }), field('Region__c', { nillable: false })];
      nock(ORG)
        .get(`${DATA}/sobjects/Lead/describe`).reply(200, { name: 'Lead', createable: true, updateable: true, fields: leadFields })
        .get(`${DATA}/sobjects/Task/describe`).reply(200, { name: 'Task', createable: true, updateable: true, fields: [field('WhatsApp_Thread_Id__c', { externalId: false })] });
      const error = await connectorWith().setup!(testContext()).catch((e: Error) => e);
      expect((error as Error).message).toContain('Lead.WhatsApp_Id__c does not exist: in Setup > Object Manager > Lead > Fields & Relationships > New, create a Text(255) field labelled "WhatsApp Id" with API name WhatsApp_Id');
      expect((error as Error).message).toContain('Lead.Region__c is required by the org on create: set connectors.salesforce.defaults.Region__c');
      expect((error as Error).message).toContain('Task.WhatsApp_Thread_Id__c exists but is not an External ID');
      // The identifiers people search by are named too, with the setting that picks another field.
      expect((error as Error).message).toContain('Lead.WhatsApp_BSUID__c does not exist: in Setup > Object Manager > Lead > Fields & Relationships > New, create a Text(255) field labelled "WhatsApp BSUID" with API name WhatsApp_BSUID (or set connectors.salesforce.bsuidField');
      expect((error as Error).message).toContain('Lead.WhatsApp_Username__c does not exist');
    });

    it('refuses an external-id field that is not Unique, since writes keyed on it would not be exactly once', async () => {
      const person = [field('Phone'), field('FirstName'), field('LastName', { nillable: false }), field('Company', { nillable: false }), field('Description'), field('WhatsApp_BSUID__c'), field('WhatsApp_Username__c'), field('WhatsApp_Id__c', { externalId: true, unique: true }), field('WhatsApp_Marketing_Consent__c', { type: 'picklist', picklistValues: [{ value: 'opted_in', active: true }, { value: 'opted_out', active: true }] }), field('WhatsApp_Consent_Changed_At__c', { type: 'datetime' }), field('WhatsApp_Window_Open_Until__c', { type: 'datetime' })];
      nock(ORG)
        .get(`${DATA}/sobjects/Lead/describe`).reply(200, { name: 'Lead', createable: true, updateable: true, fields: person })
        .get(`${DATA}/sobjects/Task/describe`).reply(200, { name: 'Task', createable: true, updateable: true, fields: [field('WhatsApp_Thread_Id__c', { externalId: true, unique: false })] });
      const error = await connectorWith().setup!(testContext()).catch((e: Error) => e);
      expect(error).toBeInstanceOf(VendorError);
      expect((error as Error).message).toMatch(/^salesforce: Task\.WhatsApp_Thread_Id__c is an External ID but not Unique, so writes keyed on it are not exactly once: edit the field and tick "Unique"/);
      expect((error as Error).message).not.toContain('Lead.');
    });
  });
});
