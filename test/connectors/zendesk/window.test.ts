// The customer service window on the Zendesk end user, over the real node-zendesk with nock.
import nock from 'nock';
import { describe, expect, it } from 'vitest';
import { zendeskConnector } from '../../../connectors/zendesk/index.js';
import { zendeskSettingsSchema } from '../../../connectors/zendesk/settings.js';
import { WINDOW_KIND } from '../../../core/outbound/window.js';
import { silentLogger } from '../../../core/logger.js';
import { claimedOperation, testContext } from '../../helpers/context.js';
import { onlyMockedHttp } from '../../helpers/nock.js';
import { windowChange } from '../../helpers/window.js';

const ZD = 'https://acme.zendesk.com';
const SENT = Date.parse('2026-03-02T10:15:00Z');
const connectorWith = (extra: Record<string, unknown> = {}) =>
  zendeskConnector.create(zendeskSettingsSchema.parse({ enabled: true, subdomain: 'acme', email: 'agent@acme.test', apiToken: 'zd-token', autoSetup: false, ...extra }), { log: silentLogger(), mediaDir: '/tmp', windowWriteSettleMs: 30_000 });
const windowOp = () => claimedOperation('zendesk', WINDOW_KIND, { contactId: 'c1', crmKey: '+447700900123', lastInboundAt: SENT });

describe('Zendesk customer service window', () => {
  onlyMockedHttp();

  it('writes 24 h after the newest live message to the user field with Update User, counted against that user\'s own limit', async () => {
    let body: any;
    nock(ZD).put('/api/v2/users/501.json', (b) => ((body = b), true)).reply(200, { user: { id: 501, user_fields: { whatsapp_window_open_until: '2026-03-03T10:15:00.000Z' } } });
    const buckets: unknown[] = [];
    const context = { ...testContext(), throttle: async (_weight?: number, bucket?: string | readonly string[]) => (buckets.push(bucket), { settle: async () => {} }) };
    context.refs.set('user:c1', '501');
    const [outcome] = await connectorWith().execute([windowOp()], context);
    expect(outcome).toMatchObject({ ok: true, result: { zendeskUserId: '501', openUntil: '2026-03-03T10:15:00.000Z' } });
    expect(body).toEqual({ user: { user_fields: { whatsapp_window_open_until: '2026-03-03T10:15:00.000Z' } } });
    expect(buckets).toEqual([['user:501']]);
    expect(connectorWith().tuning.bucketRateLimits?.['user']).toEqual({ requests: 5, intervalMs: 60_000 });
  });

  it('a later write of the same burst that finds the same newest message calls Zendesk no more', async () => {
    nock(ZD).put('/api/v2/users/501.json').once().reply(200, { user: { id: 501 } });
    const context = testContext();
    context.refs.set('user:c1', '501');
    context.lastInbound.set('c1', SENT + 120_000);
    expect((await connectorWith().execute([windowOp()], context))[0]).toMatchObject({ ok: true, result: { openUntil: '2026-03-03T10:17:00.000Z' } });
    // Queued for an earlier message in another slice: the same time, nothing to write.
    expect((await connectorWith().execute([windowOp()], context))[0]).toMatchObject({ ok: true, result: { openUntil: '2026-03-03T10:17:00.000Z', unchanged: true } });
    expect(nock.isDone()).toBe(true);
  });

  it('a 429 from Zendesk fails the write as retryable, after the time Zendesk asks', async () => {
    nock(ZD).put('/api/v2/users/501.json').reply(429, { error: 'TooManyRequests' }, { 'retry-after': '17' });
    const context = testContext();
    context.refs.set('user:c1', '501');
    const [outcome] = await connectorWith().execute([windowOp()], context);
    expect(outcome).toMatchObject({ ok: false, error: { retryable: true, retryAfterMs: 17_000 } });
  });

  it('waits (retryable) while the end user is not in Zendesk yet', async () => {
    const [outcome] = await connectorWith().execute([windowOp()], testContext());
    expect(outcome).toMatchObject({ ok: false, error: { retryable: true } });
  });

  it('plans a write per live inbound message, none from history or with writeWindowOpenUntil off', () => {
    expect(connectorWith().plan(windowChange({ direction: 'inbound', sentAt: SENT })).filter((d) => d.kind === WINDOW_KIND)).toMatchObject([{ orderingKey: 'contact:c1', settleMs: 30_000 }]);
    expect(connectorWith().plan(windowChange({ direction: 'inbound', sentAt: SENT, history: true })).filter((d) => d.kind === WINDOW_KIND)).toEqual([]);
    expect(connectorWith({ writeWindowOpenUntil: false }).plan(windowChange({ direction: 'inbound', sentAt: SENT })).filter((d) => d.kind === WINDOW_KIND)).toEqual([]);
  });

  it('setup creates the text user field when it is missing', async () => {
    const created: any[] = [];
    nock(ZD)
      .get('/api/v2/user_fields.json').reply(200, { user_fields: [{ key: 'whatsapp_bsuid' }, { key: 'whatsapp_username' }] })
      .post('/api/v2/user_fields.json', (b) => (created.push(b), true)).reply(201, { user_field: { id: 7, key: 'whatsapp_window_open_until', type: 'text' } });
    expect(await connectorWith().setup!(testContext())).toContain('created the Zendesk user field whatsapp_window_open_until');
    expect(created).toEqual([{ user_field: expect.objectContaining({ type: 'text', key: 'whatsapp_window_open_until' }) }]);
  });
});
