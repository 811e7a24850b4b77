// Compromise signals on both stores: account webhooks, statuses of messages we never sent,
// echoes from an unknown number; alerts deduplicated, throttled, and delivered to the sinks.
import { WhatsAppSimulator } from '../../../sandbox/whatsapp.js';
import nock from 'nock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseWhatsAppDelivery } from '../../../connectors/whatsapp/webhook.js';
import { Engine, type EngineOptions } from '../../../core/engine.js';
import { DeliveryInbox } from '../../../core/ingest.js';
import { silentLogger } from '../../../core/logger.js';
import { AlertSinksConnector, sinkBody } from '../../../core/security/alert-sinks.js';
import { Alerts, openAlerts, type AlertPayload } from '../../../core/security/alerts.js';
import { accountEventAlert } from '../../../core/security/signals.js';
import { openStore, type Store } from '../../../core/store/store.js';
import { claimedOperation, testContext } from '../../helpers/context.js';
import { FIXTURE, readExample, statusWebhook } from '../../helpers/fixtures.js';
import { onlyMockedHttp } from '../../helpers/nock.js';
import { freshStoreUrl, STORE_KINDS } from '../../helpers/stores.js';

describe('account webhooks in plain words', () => {
  it('explains a PIN change, a restriction and a quality drop, and stays quiet on good news', () => {
    const first = (name: string) => {
      const change = JSON.parse(readExample(name)).entry[0].changes[0];
      return accountEventAlert(change.field, FIXTURE.wabaId, change.value);
    };
    expect(first('field-security')).toMatchObject({ kind: 'account_security', severity: 'critical', title: expect.stringMatching(/two-step verification PIN was changed/), detail: expect.stringMatching(/reset the two-step verification PIN/) });
    expect(first('field-account_update')).toMatchObject({ kind: 'account_update', severity: 'critical', detail: expect.stringMatching(/ACCOUNT_RESTRICTION: RESTRICTED_ADD_PHONE_NUMBER_ACTION/) });
    expect(first('field-phone_number_quality_update')).toBeUndefined(); // an UPGRADE
    expect(accountEventAlert('phone_number_quality_update', '1', { display_phone_number: FIXTURE.displayNumber, event: 'DOWNGRADE', current_limit: 'TIER_250' })).toMatchObject({ kind: 'quality_drop', severity: 'warning', title: expect.stringMatching(/number \+15\*+47: quality downgraded/) });
    expect(first('field-message_template_status_update')).toMatchObject({ kind: 'template_status', title: 'WhatsApp template "repair_ready" rejected' });
  });
});

describe.each(STORE_KINDS)('compromise signals on %s', (kind) => {
  let store: Store;
  let drop: () => Promise<void>;
  let inbox: DeliveryInbox;
  let engine: Engine;
  let sinkCount = 2;
  const options: EngineOptions = { threadGapMs: 86_400_000, servedNumbers: [] };

  beforeEach(async () => {
    const fresh = freshStoreUrl(kind);
    drop = fresh.drop;
    store = await openStore(fresh.url);
    inbox = new DeliveryInbox(store);
    sinkCount = 2;
    const alerts = new Alerts({ log: silentLogger(), options: () => ({ throttleMs: 3_600_000, sinkCount, maxAttempts: 5 }) });
    engine = new Engine({ store, parsers: { whatsapp: parseWhatsAppDelivery }, connectors: () => [], log: silentLogger(), options: () => options, alerts });
  });
  afterEach(async () => {
    await store.close();
    await drop();
  });

  const deliveries = async () => (await store.db.selectFrom('outbox').selectAll().where('connector', '=', 'alerts').execute()).map((r) => r.idempotency_key);

  it('raises a security alert from an account webhook, once per sink', async () => {
    await inbox.accept('whatsapp', readExample('field-security'));
    await engine.processPending();
    const [alert] = await openAlerts(store.db);
    expect(alert).toMatchObject({ kind: 'account_security', severity: 'critical', count: 1 });
    expect(await deliveries()).toEqual([`alerts:alert.send:${alert!.id}:1:0`, `alerts:alert.send:${alert!.id}:1:1`]);
  });

  it('raises an alert for statuses of messages this service never sent, not for ours, and throttles repeats', async () => {
    await store.db.insertInto('external_refs').values({ connector: 'whatsapp', kind: 'sent', local_id: 'zendesk:14:0', external_id: 'wamid.OURS', updated_at: 0 }).execute();
    await inbox.accept('whatsapp', statusWebhook({ id: 'wamid.OURS', status: 'sent', recipient: '447700900123', timestamp: 1_760_000_000 }));
    await engine.processPending();
    expect(await openAlerts(store.db)).toEqual([]);
    for (const id of ['wamid.STRANGER1', 'wamid.STRANGER2', 'wamid.STRANGER3']) {
      await inbox.accept('whatsapp', statusWebhook({ id, status: 'delivered', recipient: '447700900123', timestamp: 1_760_000_000 }));
    }
    await engine.processPending();
    const alerts = await openAlerts(store.db);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ kind: 'unknown_status', count: 3, title: 'WhatsApp reported "delivered" for a message this service never sent' });
    // Counted three times, but the sinks hear once within the throttle window.
    expect(await deliveries()).toHaveLength(2);
  });

  it('raises the same alert for a status with only a BSUID (a recipient who withholds the number), not for ours', async () => {
    const simulator = new WhatsAppSimulator('secret');
    const hidden = { waId: null, bsuid: 'GB.80412277419022635518', name: 'Ada' };
    await store.db.insertInto('external_refs').values({ connector: 'whatsapp', kind: 'sent', local_id: 'zendesk:15:0', external_id: 'wamid.OURS2', updated_at: 0 }).execute();
    await inbox.accept('whatsapp', simulator.status('wamid.OURS2', hidden, 'read', 1_760_000_000));
    await inbox.accept('whatsapp', simulator.status('wamid.STRANGER9', hidden, 'failed', 1_760_000_001, { code: 131026, title: 'Message undeliverable', details: 'x' }));
    const result = await engine.processPending();
    expect(result.flagged).toBe(0);
    const alerts = await openAlerts(store.db);
    expect(alerts).toMatchObject([{ kind: 'unknown_status', count: 1, title: 'WhatsApp reported "failed" for a message this service never sent' }]);
  });

  it('stores and counts alerts with no sink configured, queuing nothing', async () => {
    sinkCount = 0;
    await inbox.accept('whatsapp', readExample('field-account_update'));
    await engine.processPending();
    expect(await openAlerts(store.db)).toHaveLength(1);
    expect(await deliveries()).toEqual([]);
  });
});

describe('alert sinks', () => {
  onlyMockedHttp();
  const alert: AlertPayload & { sink: number } = { id: 3, kind: 'unknown_status', severity: 'critical', title: 'Something is off', detail: 'Check this.', count: 2, firstAt: 0, lastAt: 60_000, sink: 0 };

  it('posts signed JSON to a webhook sink and a text to a Slack-compatible sink; a failing sink is retried', async () => {
    let json: any;
    let slack: any;
    let signature = '';
    nock('https://alerts.example.com')
      .post('/hook', (b) => ((json = b), true))
      .reply(function () {
        signature = String(this.req.headers['x-wa-crm-sync-signature']);
        return [204];
      });
    nock('https://hooks.slack.com').post('/services/T/B/X', (b) => ((slack = b), true)).reply(500).post('/services/T/B/X', (b) => ((slack = b), true)).reply(200, 'ok');
    const connector = new AlertSinksConnector([
      { type: 'webhook', url: 'https://alerts.example.com/hook', secret: 'a-long-enough-secret' },
      { type: 'slack', url: 'https://hooks.slack.com/services/T/B/X' },
    ]);
    const context = testContext();
    expect(await connector.execute([claimedOperation('alerts', 'alert.send', alert)], context)).toEqual([{ ok: true }]);
    expect(json).toMatchObject({ type: 'alert', kind: 'unknown_status', severity: 'critical', count: 2 });
    expect(signature).toMatch(/^sha256=[0-9a-f]{64}$/);
    const [failed] = await connector.execute([claimedOperation('alerts', 'alert.send', { ...alert, sink: 1 })], context);
    expect(failed).toMatchObject({ ok: false, error: { retryable: true } });
    expect(await connector.execute([claimedOperation('alerts', 'alert.send', { ...alert, sink: 1 })], context)).toEqual([{ ok: true }]);
    expect(slack.text).toBe(':rotating_light: *wa-crm-sync: Something is off* (2 times since 1970-01-01T00:00:00.000Z)\nCheck this.');
    expect(sinkBody({ type: 'slack', url: 'x' }, { ...alert, count: 1 })).not.toContain('times since');
  });
});
