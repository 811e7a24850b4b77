// The Salesforce connector against the sandbox behaving as Salesforce documents itself: a REST
// call goes on for up to 10 minutes after its caller stopped waiting, so a write whose answer was
// lost can land after a retry has looked for it. Real HTTP, real jsforce; refs kept in memory.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { salesforceConnector } from '../../../connectors/salesforce/index.js';
import { KIND } from '../../../connectors/salesforce/mappers.js';
import { salesforceSettingsSchema } from '../../../connectors/salesforce/settings.js';
import type { Connector, ExecutionContext, OperationOutcome } from '../../../core/connector.js';
import { DeferredError } from '../../../core/errors.js';
import { silentLogger } from '../../../core/logger.js';
import type { OutboxOperation } from '../../../core/outbox/queries.js';
import { SalesforceSandbox, type SalesforceSandboxOptions } from '../../../sandbox/salesforce.js';
import { claimedOperation, testContext } from '../../helpers/context.js';
import { tempDir } from '../../helpers/stores.js';

/** How late the sandbox carries out the dropped request, and how long the connector waits for that. */
const LATE_MS = 800;
const WAIT_SECONDS = 2;

describe('Salesforce connector against documented Salesforce behaviour', () => {
  let sandbox: SalesforceSandbox;
  afterEach(() => sandbox.stop());

  async function connectorOn(options: SalesforceSandboxOptions = {}): Promise<Connector> {
    sandbox = new SalesforceSandbox(options);
    const instanceUrl = await sandbox.start();
    return salesforceConnector.create(
      salesforceSettingsSchema.parse({ enabled: true, instanceUrl, accessToken: '00Dsandbox!token', mediaFiles: true, timeoutMs: 1000, lostAnswerWaitSeconds: WAIT_SECONDS }),
      { log: silentLogger(), mediaDir: '/tmp' },
    );
  }

  /** What the dispatcher does with one operation: retry what is retryable, a deferral after its time. */
  async function dispatch(connector: Connector, op: OutboxOperation, context: ExecutionContext): Promise<OperationOutcome> {
    for (;;) {
      let outcome: OperationOutcome;
      try {
        outcome = (await connector.execute([op], context))[0]!;
      } catch (error) {
        outcome = { ok: false, error: error as DeferredError };
      }
      if (outcome.ok || !outcome.error.retryable) return outcome;
      const error = outcome.error;
      await new Promise((r) => setTimeout(r, error instanceof DeferredError ? Math.max(0, error.untilMs - Date.now()) : 50));
      if (!(error instanceof DeferredError)) op = { ...op, attempts: op.attempts + 1 };
    }
  }

  /** Long enough for anything carried out late to have landed. */
  const afterLateLandings = () => new Promise((r) => setTimeout(r, LATE_MS + 500));

  it('an upload that lands after its connection dropped is found by the retry, not uploaded again', { timeout: 30_000 }, async () => {
    const connector = await connectorOn();
    const path = join(tempDir(), 'img');
    writeFileSync(path, 'photo bytes');
    const context = testContext();
    context.refs.set('task:t-1', '00T000000000000001');
    sandbox.landLate('POST /sobjects/ContentVersion', LATE_MS);
    const outcome = await dispatch(connector, claimedOperation('salesforce', KIND.media, { messageId: 'wamid.IMG', threadId: 't-1', path, sha256: 'c'.repeat(64), mimeType: 'image/jpeg', size: 11, filename: null }), context);
    expect(outcome.ok).toBe(true);
    await afterLateLandings();
    const files = sandbox.state.records['ContentVersion']!;
    expect(files).toHaveLength(1);
    expect(outcome).toEqual({ ok: true, result: { salesforceContentVersionId: files[0]!.Id } });
  });

  it('an upload jsforce sends again after our timeout (renewing sessions) is waited out from when it let go, and not uploaded twice', { timeout: 30_000 }, async () => {
    // Each renewal takes 600 ms; jsforce repeats the refused upload after each, the fifth send
    // going out some 1.4 s after our 1 s timeout, and Salesforce carries it out 1 s later still:
    // after a retry that counted the 2 s wait from our timeout has looked.
    sandbox = new SalesforceSandbox({ tokenDelayMs: 600 });
    const instanceUrl = await sandbox.start();
    const connector = salesforceConnector.create(
      salesforceSettingsSchema.parse({ enabled: true, instanceUrl, clientCredentials: { clientId: 'sandbox-client', clientSecret: 'sandbox-secret' }, mediaFiles: true, timeoutMs: 1000, lostAnswerWaitSeconds: 2 }),
      { log: silentLogger(), mediaDir: '/tmp' },
    );
    const path = join(tempDir(), 'img');
    writeFileSync(path, 'photo bytes');
    const context = testContext();
    context.refs.set('task:t-1', '00T000000000000001');
    sandbox.refuseSessions('POST /sobjects/ContentVersion', 4);
    sandbox.landLate('POST /sobjects/ContentVersion', 1000);
    const op = claimedOperation('salesforce', KIND.media, { messageId: 'wamid.IMG', threadId: 't-1', path, sha256: 'c'.repeat(64), mimeType: 'image/jpeg', size: 11, filename: null });
    const outcome = await dispatch(connector, op, context);
    expect(outcome.ok).toBe(true);
    await afterLateLandings();
    expect(sandbox.state.records['ContentVersion']!).toHaveLength(1);
  });

  it('a Task rewrite that lands late does not put an older transcript back over a newer one', { timeout: 30_000 }, async () => {
    const connector = await connectorOn();
    const context = testContext();
    context.refs.set('person:c1', '00Q000000000000001');
    const line = (id: string, minute: number, arrivalSeq: number) => ({ id, direction: 'inbound' as const, text: `text of ${id}`, sentAt: Date.UTC(2026, 11, 2, 9, minute), arrivalSeq, origin: null, warnings: [] });
    const thread = [line('wamid.1', 0, 1)];
    context.threads.set('t-1', thread);
    const activity = (messageId: string, arrivalSeq: number) =>
      claimedOperation('salesforce', KIND.activity, { messageId, contactId: 'c1', threadId: 't-1', arrivalSeq, threadStartedAt: Date.UTC(2026, 11, 2, 9), profileName: 'Sheena Nelson' });
    sandbox.landLate('PATCH /composite/sobjects/Task/WhatsApp_Thread_Id__c', LATE_MS);
    const first = connector.execute([activity('wamid.1', 1)], context).catch((error: unknown) => error);
    // The second message arrives while the first rewrite (carrying only the first) is still in Salesforce's hands.
    await first;
    thread.push(line('wamid.2', 1, 2));
    expect((await dispatch(connector, { ...activity('wamid.1', 1), attempts: 2 }, context)).ok).toBe(true);
    expect((await dispatch(connector, activity('wamid.2', 2), context)).ok).toBe(true);
    await afterLateLandings();
    const tasks = sandbox.state.records['Task']!;
    expect(tasks).toHaveLength(1);
    expect(String(tasks[0]!['Description'])).toContain('text of wamid.2');
  });

  it('a batch where the duplicate rule blocks one Lead saves the others, each outcome read by its position', { timeout: 30_000 }, async () => {
    const connector = await connectorOn({ leadDuplicateRule: 'block' });
    const context = testContext();
    const person = (contactId: string, waId: string, profileName: string) =>
      claimedOperation('salesforce', KIND.person, { contactId, crmKey: waId, phone: waId, bsuid: null, parentBsuid: null, username: null, profileName, previousPhone: null });
    expect((await dispatch(connector, person('c0', '+447700900100', 'Ann Lee'), context)).ok).toBe(true);
    // The blocked one goes first: a caller matching results to records other than by position gets them crossed.
    const outcomes = await connector.execute([person('c1', '+447700900101', 'Ann Lee'), person('c2', '+447700900102', 'Bo Chan')], context);
    expect(outcomes[0]).toMatchObject({ ok: false });
    expect(outcomes[0]!.ok ? '' : outcomes[0]!.error.message).toMatch(/DUPLICATES_DETECTED/);
    const bo = sandbox.state.records['Lead']!.find((l) => l['WhatsApp_Id__c'] === '+447700900102')!;
    expect(outcomes[1]).toEqual({ ok: true, result: { salesforceId: bo.Id } });
    expect(sandbox.state.records['Lead']!.filter((l) => l['WhatsApp_Id__c'] === '+447700900101')).toHaveLength(0);
  });

  it('a Lead upsert that lands late does not bring back older identity fields over newer ones', { timeout: 30_000 }, async () => {
    const connector = await connectorOn();
    const context = testContext();
    const person = (username: string) =>
      claimedOperation('salesforce', KIND.person, { contactId: 'c1', crmKey: '+447700900123', phone: '+447700900123', bsuid: null, parentBsuid: null, username, profileName: 'Sheena Nelson', previousPhone: null });
    // The create goes out with the username the customer had then, and Salesforce carries it out late.
    sandbox.landLate('PATCH /composite/sobjects/Lead/WhatsApp_Id__c', LATE_MS);
    expect(await connector.execute([person('sheena_old')], context)).toMatchObject([{ ok: false, error: { message: expect.stringMatching(/socket hang up|ECONNRESET/) } }]);
    // Its retry, then the customer's new username, both while the first write is still in Salesforce's hands.
    expect((await dispatch(connector, { ...person('sheena_old'), attempts: 2 }, context)).ok).toBe(true);
    expect((await dispatch(connector, person('sheena_new'), context)).ok).toBe(true);
    await afterLateLandings();
    const leads = sandbox.state.records['Lead']!;
    expect(leads).toHaveLength(1);
    expect(leads[0]!['WhatsApp_Username__c']).toBe('@sheena_new');
  });
});
