// The operations console in Chromium against the real service: dead operations with customer,
// payload summary and vendor record, replay and discard each confirmed and audited; waiting
// operations linking to what they wait for; the message trace; the charts drawn by the locally
// served chart library under the strict CSP. Screenshots go to test-artifacts/screenshots.
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addUser, type Enrolment } from '../../core/admin/accounts.js';
import { listAudit } from '../../core/security/audit-trail.js';
import { openStore, type Store } from '../../core/store/store.js';
import { DASHBOARD_PASSWORD, collectPageErrors, launchChromium, screenshotPath, signInToDashboard, totpCode } from '../helpers/browser.js';
import { Recorder } from '../helpers/recorder.js';
import { serviceWith, type ServiceProcess, waitFor } from '../helpers/service-process.js';

const HOUR = 3_600_000;

/** A customer with a thread and messages, and the outbox rows of the webhook connector about them. */
async function seed(store: Store, now: number): Promise<Record<string, number>> {
  const db = store.db;
  await db.insertInto('contacts').values({ id: 'c-grace', crm_key: '+447700900555', wa_id: '+447700900555', bsuid: null, parent_bsuid: null, username: null, user_id: null, profile_name: 'Grace Hopper', created_at: now - 5 * HOUR, updated_at: now - 5 * HOUR }).execute();
  await db.insertInto('contact_identities').values({ identity: 'wa:+447700900555', contact_id: 'c-grace' }).execute();
  await db.insertInto('threads').values({ id: 't-grace', contact_id: 'c-grace', business_number_id: '106540352242922', started_at: now - 5 * HOUR, last_message_at: now - HOUR }).execute();
  const message = (id: string, at: number, direction: string) =>
    db.insertInto('messages').values({ id, thread_id: 't-grace', contact_id: 'c-grace', direction, type: 'text', original_type: 'text', text: 'a private message body', media: null, sent_at: at, arrival_seq: at, status: null, status_at: null, reply_to_id: null, errors: null, raw: '{}', created_at: at, origin: null, warnings: null }).execute();
  // A few hours of traffic for the charts.
  for (let h = 5; h >= 1; h--) for (let i = 0; i < h; i++) await message(`wamid.HIST-${h}-${i}`, now - h * HOUR + i * 1000, i % 3 === 2 ? 'outbound' : 'inbound');
  await message('wamid.TRACE-OK', now - 2 * HOUR, 'inbound');
  await message('wamid.TRACE-STUCK', now - HOUR, 'inbound');
  const op = async (values: { kind: string; key: string; payload: object; state: 'pending' | 'done' | 'dead'; attempts: number; runAt?: number; error?: string; at: number }) =>
    (
      await db
        .insertInto('outbox')
        .values({ idempotency_key: `webhook:${values.kind}:${values.key}`, connector: 'webhook', kind: values.kind, ordering_key: 'contact:c-grace', payload: JSON.stringify(values.payload), state: values.state, run_at: values.runAt ?? values.at, attempts: values.attempts, max_attempts: 12, locked_by: null, lease_until: null, last_error: values.error ?? null, result: null, created_at: values.at - 60_000, updated_at: values.at })
        .returning('id')
        .executeTakeFirstOrThrow()
    ).id;
  for (let h = 5; h >= 1; h--) for (let i = 0; i < 2 * h; i++) await op({ kind: 'message', key: `hist-${h}-${i}`, payload: { messageId: `wamid.HIST-${h}-${i % h}`, contactId: 'c-grace' }, state: 'done', attempts: 1, at: now - h * HOUR + i * 1000 });
  const ids: Record<string, number> = {};
  ids['sent'] = await op({ kind: 'message', key: 'trace-ok', payload: { messageId: 'wamid.TRACE-OK', contactId: 'c-grace', text: 'a private message body' }, state: 'done', attempts: 1, at: now - 2 * HOUR });
  ids['contactDead'] = await op({ kind: 'contact', key: 'grace-1', payload: { contactId: 'c-grace', phone: '+447700900555', profileName: 'Grace Hopper' }, state: 'dead', attempts: 12, error: 'VendorError: webhook: request rejected (HTTP 422) for +447700900555', at: now - 90 * 60_000 });
  ids['stuck'] = await op({ kind: 'message', key: 'trace-stuck', payload: { messageId: 'wamid.TRACE-STUCK', contactId: 'c-grace', text: 'a private message body' }, state: 'pending', attempts: 3, runAt: now + HOUR, error: 'SyncError: webhook: the contact is not at the endpoint yet', at: now - 10 * 60_000 });
  ids['behind'] = await op({ kind: 'status', key: 'trace-stuck:read', payload: { messageId: 'wamid.TRACE-STUCK', contactId: 'c-grace', status: 'read' }, state: 'pending', attempts: 0, at: now - 5 * 60_000 });
  ids['toDiscard'] = await op({ kind: 'message', key: 'old-typo', payload: { messageId: 'wamid.HIST-1-0', contactId: 'c-grace', text: 'a private message body' }, state: 'dead', attempts: 12, error: 'VendorError: webhook: request rejected (HTTP 400)', at: now - 30 * 60_000 });
  await db.insertInto('outbox_keys').values({ connector: 'webhook', ordering_key: 'contact:c-grace', head_id: ids['stuck'], ready_at: now + HOUR }).execute();
  await db.insertInto('external_refs').values({ connector: 'webhook', kind: 'delivery', local_id: 'wamid.TRACE-OK', external_id: 'rec-77', updated_at: now }).execute();
  // Queue samples of the last three hours (the service adds one a minute from its start).
  for (let m = 180; m >= 5; m -= 5) {
    const at = Math.floor((now - m * 60_000) / 60_000) * 60_000;
    await db.insertInto('queue_samples').values({ connector: 'webhook', at, depth: Math.round(20 + 15 * Math.sin(m / 20)), oldest_created_at: at - (m % 60) * 10_000, error_rate: m < 60 ? 0.25 : 0 }).execute();
  }
  return ids;
}

describe('operations console in Chromium', () => {
  const recorder = new Recorder();
  let service: ServiceProcess;
  let browser: Browser;
  let storeUrl = '';
  let ids: Record<string, number> = {};
  const people = {} as Record<'olga' | 'vic' | 'ada' | 'otto', Enrolment>;

  beforeAll(async () => {
    const recorderUrl = await recorder.start();
    ({ service } = await serviceWith(({ config }) => {
      storeUrl = (config['store'] as { url: string }).url;
      return { ...config, admin: { dashboard: { refreshSeconds: 2 } }, connectors: { webhook: { enabled: true, url: recorderUrl, timeoutMs: 2000 } } };
    }));
    const store = await openStore(storeUrl);
    ids = await seed(store, Date.now());
    people.olga = await addUser(store, { name: 'olga', role: 'operator', password: DASHBOARD_PASSWORD });
    people.otto = await addUser(store, { name: 'otto', role: 'operator', password: DASHBOARD_PASSWORD });
    people.vic = await addUser(store, { name: 'vic', role: 'viewer', password: DASHBOARD_PASSWORD });
    people.ada = await addUser(store, { name: 'ada', role: 'admin', password: DASHBOARD_PASSWORD });
    await store.close();
    await service.start();
    browser = await launchChromium();
  }, 180_000);
  afterAll(async () => {
    await browser?.close();
    await service?.kill('SIGTERM');
    await recorder.stop();
  });

  async function audited(action: string) {
    const store = await openStore(storeUrl);
    try {
      return await listAudit(store, { action });
    } finally {
      await store.close();
    }
  }

  it('serves the chart library from this origin under the strict CSP', async () => {
    const res = await fetch(`${service.baseUrl}/admin/vendor/uPlot.iife.min.js`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(await res.text()).toContain('uPlot');
    const page = await (await fetch(`${service.baseUrl}/admin/`)).text();
    expect(page).toContain('<script src="vendor/uPlot.iife.min.js" defer></script>');
  });

  it('shows dead operations with time, attempts, masked customer, what they carry and the vendor record; discard is confirmed and audited', { timeout: 90_000 }, async () => {
    const { page, errors } = await signInToDashboard(browser, service.baseUrl, { name: 'olga', code: totpCode(people.olga), viewport: { width: 1400, height: 900 } });
    await page.click('#nav a[href="#dead"]');
    const row = page.locator(`#dead-table tr[data-op="${ids['toDiscard']}"]`);
    await row.waitFor();
    const text = (await row.textContent())!;
    expect(text).toContain('12 of 12');
    expect(text).toMatch(/\+44\*+55/);
    expect(text).toContain('messageId wamid.HIST-1-0 · contactId c-grace · text (22 characters)');
    expect(text).not.toContain('a private message body');
    const dead = (await page.textContent('#dead-table tbody'))!;
    expect(dead).toContain('(HTTP 422) for +44********55');
    expect(dead).not.toContain('447700900555');
    await page.screenshot({ path: screenshotPath('dead-operations'), fullPage: true });
    // Cancelling changes nothing; confirming discards, and the operation moves to the discarded list.
    await row.locator('button', { hasText: 'Discard' }).click();
    await expect(page.textContent('#confirm-title')).resolves.toBe(`Discard operation #${ids['toDiscard']}?`);
    await page.screenshot({ path: screenshotPath('dead-discard-confirm') });
    await page.click('#confirm button[value=cancel]');
    await expect(row.count()).resolves.toBe(1);
    expect(await audited('discard.operations')).toEqual([]);
    await row.locator('button', { hasText: 'Discard' }).click();
    await page.click('#confirm-ok');
    await waitFor(async () => (await page.locator(`#discarded-table tr[data-op="${ids['toDiscard']}"]`).count()) === 1, 10_000, 'the operation in the discarded list');
    await expect(page.locator(`#dead-table tr[data-op="${ids['toDiscard']}"]`).count()).resolves.toBe(0);
    const records = await audited('discard.operations');
    expect(records.map((r) => [r.actor, r.target])).toEqual([['user:olga', String(ids['toDiscard'])]]);
    // Replay asks first too: cancelled, the operation stays dead.
    await page.locator(`#dead-table tr[data-op="${ids['contactDead']}"] button`, { hasText: 'Replay' }).click();
    await page.click('#confirm button[value=cancel]');
    await expect(page.locator(`#dead-table tr[data-op="${ids['contactDead']}"]`).count()).resolves.toBe(1);
    expect(await audited('replay.operations')).toEqual([]);
    expect(errors).toEqual([]);
  });

  it('a viewer sees dead operations but cannot replay or discard, and the API refuses the discard', { timeout: 60_000 }, async () => {
    const { page } = await signInToDashboard(browser, service.baseUrl, { name: 'vic', code: totpCode(people.vic) });
    await page.click('#nav a[href="#dead"]');
    await page.locator(`#dead-table tr[data-op="${ids['contactDead']}"]`).waitFor();
    await expect(page.locator('#dead-table button').count()).resolves.toBe(0);
    const status = await page.evaluate(async (id) => {
      const session = (await (await fetch('/admin/session')).json()) as { csrfToken: string };
      return (await fetch('/admin/api/operations/discard', { method: 'POST', headers: { 'content-type': 'application/json', 'x-csrf-token': session.csrfToken }, body: JSON.stringify({ ids: [id] }) })).status;
    }, ids['contactDead']!);
    expect(status).toBe(403);
  });

  it('a waiting operation says what it waits for and links to it', { timeout: 60_000 }, async () => {
    const { page } = await signInToDashboard(browser, service.baseUrl, { name: 'otto', code: totpCode(people.otto), viewport: { width: 1400, height: 800 } });
    await page.click('#nav a[href="#waiting"]');
    const stuck = page.locator(`#waiting-table tr[data-op="${ids['stuck']}"]`);
    await stuck.waitFor();
    await expect(stuck.textContent()).resolves.toContain(`needs #${ids['contactDead']} contact (dead: replay it first)`);
    const behind = page.locator(`#waiting-table tr[data-op="${ids['behind']}"]`);
    await expect(behind.textContent()).resolves.toContain(`queued behind #${ids['stuck']} message (pending)`);
    await page.screenshot({ path: screenshotPath('waiting-prerequisites'), fullPage: true });
    // The link opens the dead operation it needs, marked in its list.
    await stuck.locator('a.op-link').click();
    await page.waitForSelector(`#dead-table tr.target[data-op="${ids['contactDead']}"]`);
    expect(page.url()).toMatch(new RegExp(`#dead/${ids['contactDead']}$`));
    await expect(page.isVisible('#dead')).resolves.toBe(true);
    await page.screenshot({ path: screenshotPath('waiting-link-to-dead') });
  });

  it('traces a customer by number and by name: each message at each connector, with reason and vendor record; the search is audited masked', { timeout: 120_000 }, async () => {
    const { page } = await signInToDashboard(browser, service.baseUrl, { name: 'ada', code: totpCode(people.ada), viewport: { width: 1300, height: 900 } });
    await page.click('#nav a[href="#trace"]');
    await page.fill('#trace-form input[name=q]', '+44 7700 900555');
    await page.click('#trace-form button[type=submit]');
    const stuck = page.locator('article.trace-message[data-message="wamid.TRACE-STUCK"]');
    await stuck.waitFor();
    await expect(stuck.locator('.trace-state').textContent()).resolves.toBe('failing');
    await expect(stuck.textContent()).resolves.toContain('the contact is not at the endpoint yet');
    const ok = page.locator('article.trace-message[data-message="wamid.TRACE-OK"]');
    await expect(ok.locator('.trace-state').textContent()).resolves.toBe('sent');
    await expect(ok.textContent()).resolves.toContain('delivery rec-77');
    // An admin sees the number in full.
    await expect(page.textContent('#trace-summary')).resolves.toContain('+447700900555');
    await stuck.scrollIntoViewIfNeeded();
    await page.screenshot({ path: screenshotPath('message-trace') });
    await page.fill('#trace-form input[name=q]', 'grace');
    await page.click('#trace-form button[type=submit]');
    // The summary reads "Searching…" from the click until the answer comes.
    await waitFor(async () => /1 customer/.test((await page.textContent('#trace-summary')) ?? ''), 20_000, 'the name search');
    const searches = await audited('trace.search');
    expect(searches.map((r) => [r.actor, r.target])).toEqual([['user:ada', 'name (5 characters)'], ['user:ada', 'phone +44********55']]);
    // The trace links a waiting operation to its row.
    await page.fill('#trace-form input[name=q]', 'wamid.TRACE-STUCK');
    await page.click('#trace-form button[type=submit]');
    await page.locator(`article.trace-message a.op-link[href="#waiting/${ids['stuck']}"]`).click();
    await page.waitForSelector(`#waiting-table tr.target[data-op="${ids['stuck']}"]`);
  });

  it('draws the charts from the store with the chart library, and the page raises no CSP error', { timeout: 60_000 }, async () => {
    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    const { page } = await signInToDashboard(browser, service.baseUrl, { name: 'olga', code: people.olga.recoveryCodes[0]!, context });
    const errors = collectPageErrors(page);
    for (const id of ['chart-messages', 'chart-depth', 'chart-oldest', 'chart-errors', 'chart-dead']) await page.waitForSelector(`#${id} canvas`);
    await expect(page.textContent('#chart-messages')).resolves.toContain('written at webhook');
    await expect(page.textContent('#chart-depth')).resolves.toContain('webhook');
    const charts = (await page.evaluate(async () => (await fetch('/admin/api/charts')).json())) as { written: Record<string, number[]>; queue: Record<string, { at: number[] }>; deadPerDay: Record<string, number[]> };
    expect(charts.written['webhook']!.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(31);
    expect(charts.queue['webhook']!.at.length).toBeGreaterThanOrEqual(36);
    // The dead contact died 90 minutes ago: today's bar, or yesterday's when the test runs in the first 90 minutes of a UTC day.
    expect(charts.deadPerDay['webhook']!.slice(-2).reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(1);
    await page.locator('#charts').screenshot({ path: screenshotPath('overview-charts') });
    await page.screenshot({ path: screenshotPath('overview'), fullPage: true });
    // A timed reload redraws without errors.
    await page.waitForTimeout(2500);
    expect(errors).toEqual([]);
    await context.close();
  });
});
