// A signed Zendesk call captured and sent again inside the signature's tolerance passes every
// check: it must be stored once, also when sent 20 times at once and after a restart.
import { createHmac } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { ZendeskSandbox } from '../../sandbox/zendesk.js';
import { openStore } from '../../core/store/store.js';
import { holdsFor, serviceWith, waitFor, type ServiceProcess } from '../helpers/service-process.js';

const SECRET = 'zendesk-webhook-secret-for-replays';

describe('replayed Zendesk webhook calls', () => {
  const zendesk = new ZendeskSandbox();
  let service: ServiceProcess | undefined;
  afterAll(async () => {
    await service?.kill();
    await zendesk.stop();
  });

  it('the same signed call sent 20 times at once is stored once, and again after a restart is not stored', { timeout: 120_000 }, async () => {
    const zendeskUrl = await zendesk.start();
    let storeUrl = '';
    ({ service } = await serviceWith(({ config, port }) => {
      storeUrl = (config['store'] as { url: string }).url;
      return { ...config, whatsapp: { ...config.whatsapp, accessToken: 'EAAG-replay-test', graphBaseUrl: 'http://127.0.0.1:9/v23.0' }, connectors: { zendesk: { enabled: true, baseUrl: zendeskUrl, ...zendesk.credentials, webhookSecret: SECRET, publicUrl: `http://127.0.0.1:${port}` } } };
    }));
    await service.start();
    const body = JSON.stringify({ ticket_id: '42', external_id: 'thread-1' });
    const timestamp = new Date().toISOString();
    // https://developer.zendesk.com/documentation/webhooks/verifying/: base64 HMAC-SHA256 of timestamp + body.
    const signature = createHmac('sha256', SECRET).update(timestamp + body).digest('base64');
    const post = (ts = timestamp, sig = signature) =>
      fetch(`${service!.baseUrl}/webhooks/zendesk`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-zendesk-webhook-signature-timestamp': ts, 'x-zendesk-webhook-signature': sig }, body }).then(async (r) => ({ status: r.status, answer: ((await r.json()) as { status: string }).status }));
    const answers = await Promise.all(Array.from({ length: 20 }, () => post()));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(answers.filter((a) => a.answer === 'stored')).toHaveLength(1);
    expect(answers.filter((a) => a.answer === 'duplicate')).toHaveLength(19);

    await service.kill('SIGTERM');
    await service.start();
    expect(await post()).toEqual({ status: 200, answer: 'duplicate' });
    // Zendesk's own retry comes with a new timestamp and signature: taken.
    const later = new Date(Date.now() + 1000).toISOString();
    expect(await post(later, createHmac('sha256', SECRET).update(later + body).digest('base64'))).toEqual({ status: 200, answer: 'stored' });
    const metrics = await (await fetch(`${service.baseUrl}/metrics`)).text();
    expect(metrics).toMatch(/wa_crm_sync_webhooks_total\{source="zendesk",result="replayed"\} 1/);

    const store = await openStore(storeUrl);
    try {
      // Acknowledged into the intake file, the last call reaches webhook_deliveries once processing imports it (core/store/intake.ts).
      const stored = () => store.db.selectFrom('webhook_deliveries').select('id').where('source', '=', 'zendesk').execute();
      await waitFor(async () => (await stored()).length >= 2, 30_000, 'both stored calls imported');
      await holdsFor(async () => (await stored()).length === 2, 500, 'no third call stored');
      expect(await store.db.selectFrom('webhook_replays').selectAll().execute()).toHaveLength(2);
    } finally {
      await store.close();
    }
  });
});
