// The admin dashboard in a real browser (Debian's Chromium through playwright-core) against
// the real service process: sign-in with a TOTP code, role limits, pause and resume, replay,
// masked numbers, the page's Content-Security-Policy. Screenshots go to test-artifacts/.
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addUser, createToken, type Enrolment } from '../../core/admin/accounts.js';
import { openStore } from '../../core/store/store.js';
import { silentLogger } from '../../core/logger.js';
import { Alerts } from '../../core/security/alerts.js';
import { listAudit } from '../../core/security/audit-trail.js';
import { unknownStatusAlert } from '../../core/security/signals.js';
import { DASHBOARD_PASSWORD as PASSWORD, launchChromium, screenshotPath, signInToDashboard, totpCode } from '../helpers/browser.js';
import { textWebhook } from '../helpers/fixtures.js';
import { Recorder } from '../helpers/recorder.js';
import { serviceWith, type ServiceProcess, waitFor } from '../helpers/service-process.js';

type Person = 'ada' | 'abe' | 'olga' | 'vic' | 'otto' | 'tess';

describe('admin dashboard in Chromium', () => {
  const recorder = new Recorder();
  let service: ServiceProcess;
  let browser: Browser;
  // A TOTP code signs in once, so each test signs in a person of its own or uses a recovery code.
  const people = {} as Record<Person, Enrolment>;
  let reportBotToken = '';
  let storeUrl = '';

  beforeAll(async () => {
    const recorderUrl = await recorder.start();
    storeUrl = '';
    ({ service } = await serviceWith(({ config }) => {
      storeUrl = (config['store'] as { url: string }).url;
      return { ...config, admin: { dashboard: { refreshSeconds: 1 } }, connectors: { webhook: { enabled: true, url: recorderUrl, timeoutMs: 2000 } } };
    }));
    const store = await openStore(storeUrl);
    people.ada = await addUser(store, { name: 'ada', role: 'admin', password: PASSWORD });
    people.abe = await addUser(store, { name: 'abe', role: 'admin', password: PASSWORD });
    people.olga = await addUser(store, { name: 'olga', role: 'operator', password: PASSWORD });
    people.vic = await addUser(store, { name: 'vic', role: 'viewer', password: PASSWORD });
    people.otto = await addUser(store, { name: 'otto', role: 'operator', password: PASSWORD });
    people.tess = await addUser(store, { name: 'tess', role: 'operator', password: PASSWORD });
    // An alert to take and close, with its "what to check" text.
    await new Alerts({ log: silentLogger(), options: () => ({ throttleMs: 60_000, sinkCount: 0, maxAttempts: 1 }) }).raise(store.db, unknownStatusAlert('106540352242922', 'read'));
    reportBotToken = (await createToken(store, { name: 'report-bot', role: 'viewer', expiresInDays: 7, createdBy: { cli: 'cli:root' } })).token;
    // A dead operation to replay.
    await store.db
      .insertInto('outbox')
      .values({ idempotency_key: 'webhook:contact.forward:dead-1', connector: 'webhook', kind: 'contact.forward', ordering_key: 'contact:x', payload: JSON.stringify({ contactId: 'x', waId: '+447700900777', userId: null, profileName: null, created: false }), state: 'dead', run_at: 0, attempts: 12, max_attempts: 12, locked_by: null, lease_until: null, last_error: 'VendorError: webhook: request rejected (HTTP 400)', result: null, created_at: 0, updated_at: 0 })
      .execute();
    // An operation waiting out a backoff after a vendor error naming a customer, with its key queue row.
    const waiting = await store.db
      .insertInto('outbox')
      .values({ idempotency_key: 'webhook:contact.forward:backoff-1', connector: 'webhook', kind: 'contact.forward', ordering_key: 'contact:y', payload: JSON.stringify({ contactId: 'y', waId: '+447700900777', userId: null, profileName: null, created: false }), state: 'pending', run_at: Date.now() + 3_600_000, attempts: 2, max_attempts: 12, locked_by: null, lease_until: null, last_error: 'VendorError: webhook: HTTP 503 for +447700900777', result: null, created_at: Date.now(), updated_at: Date.now() })
      .returning('id')
      .executeTakeFirstOrThrow();
    await store.db.insertInto('outbox_keys').values({ connector: 'webhook', ordering_key: 'contact:y', head_id: waiting.id, ready_at: Date.now() + 3_600_000 }).execute();
    await store.close();
    await service.start();
    await service.deliver(textWebhook({ from: '447700900888', id: 'wamid.DASH1', timestamp: Math.floor(Date.now() / 1000), body: 'hello' }));
    browser = await launchChromium();
    // Six scrypt password hashes and a service start: slow on a loaded machine.
  }, 180_000);
  afterAll(async () => {
    await browser?.close();
    await service.kill('SIGTERM');
    await recorder.stop();
  });

  async function signIn(name: Person, code = totpCode(people[name]), context?: BrowserContext): Promise<Page> {
    return (await signInToDashboard(browser, service.baseUrl, { name, code, ...(context ? { context } : {}) })).page;
  }

  it('serves the page with a strict Content-Security-Policy and nothing from elsewhere', async () => {
    const res = await fetch(`${service.baseUrl}/admin/`);
    expect(res.headers.get('content-security-policy')).toBe("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
    expect(await res.text()).not.toMatch(/https?:\/\//);
  });

  it('an operator signs in with a TOTP code, pauses and resumes a connector, and replays a dead operation', { timeout: 60_000 }, async () => {
    const page = await signIn('olga');
    await expect(page.textContent('#who')).resolves.toBe('olga (operator)');
    await page.screenshot({ path: screenshotPath('dashboard-operator'), fullPage: true });
    await page.click('#nav a[href="#connectors"]');
    await page.click('#connector-table tbody tr >> text=Pause');
    await page.waitForSelector('#connector-table td.state-paused');
    await page.click('#connector-table tbody tr >> text=Resume');
    await page.waitForSelector('#connector-table td.state-running');
    // Health: the waiting operation's vendor error, the customer's number masked; retry now, confirmed.
    await expect(page.textContent('#health tbody')).resolves.toMatch(/HTTP 503 for \+44\*+77/);
    await expect(page.textContent('#health tbody')).resolves.not.toContain('447700900777');
    await page.screenshot({ path: screenshotPath('connectors-health'), fullPage: true });
    await page.click('#health tbody tr >> text=Retry now');
    await page.click('#confirm-ok');
    await waitFor(async () => (await page.textContent('#health tbody'))!.includes('none yet') === false, 15_000, 'the retried operation to succeed');
    await page.click('#nav a[href="#dead"]');
    await expect(page.textContent('#dead-table tbody')).resolves.toContain('HTTP 400');
    await page.click('#dead-table tbody tr >> text=Replay');
    await page.click('#confirm-ok');
    await waitFor(async () => !(await page.textContent('#dead-table tbody'))!.includes('HTTP 400'), 10_000, 'the replayed operation to leave the dead list');
    // The audit trail is for admins: hidden from an operator.
    await expect(page.isHidden('#nav a[href="#admin"]')).resolves.toBe(true);
    await page.goto(`${service.baseUrl}/admin/#admin`);
    await page.waitForSelector('#overview:not([hidden])');
    await expect(page.isHidden('section.admin')).resolves.toBe(true);
    await page.click('#nav a[href="#account"]');
    // Olga changes her password, proving it with a recovery code (her TOTP code was just used).
    await page.fill('#password input[name=currentPassword]', PASSWORD);
    await page.fill('#password input[name=newPassword]', 'olga has a new password');
    await page.fill('#password input[name=code]', people.olga.recoveryCodes[0]!);
    await page.click('#password button[type=submit]');
    await waitFor(async () => (await page.textContent('#message')) === 'password changed', 20_000, 'the change confirmed on the page');
    await expect(page.inputValue('#password input[name=newPassword]')).resolves.toBe('');
  });

  it('a viewer sees state and masked numbers but no buttons that change anything', { timeout: 60_000 }, async () => {
    const page = await signIn('vic');
    await page.click('#nav a[href="#activity"]');
    await page.waitForSelector('#activity-table tbody tr td:nth-child(2)');
    await expect(page.textContent('#activity-table tbody')).resolves.toMatch(/\+44\*+88/);
    await expect(page.locator('#connector-table button').count()).resolves.toBe(0);
    await expect(page.isHidden('#replay-all')).resolves.toBe(true);
    await page.screenshot({ path: screenshotPath('dashboard-viewer'), fullPage: true });
  });

  it('an admin sees full numbers and searches the audit trail', { timeout: 60_000 }, async () => {
    const page = await signIn('ada');
    await page.click('#nav a[href="#admin"]');
    await page.waitForSelector('#audit tbody tr');
    await expect(page.textContent('#activity-table tbody')).resolves.toContain('+447700900888');
    await page.fill('#audit-search input[name=action]', 'connector');
    await page.click('#audit-search button[type=submit]');
    await waitFor(async () => (await page.textContent('#audit tbody'))!.includes('connector.pause'), 5000, 'the pause in the audit trail');
    await expect(page.textContent('#audit tbody')).resolves.toContain('user:olga');
    await page.screenshot({ path: screenshotPath('dashboard-admin'), fullPage: true });
    // The scopes report, and the sessions with a Revoke button: revoking Vic's signs Vic out.
    await expect(page.textContent('#scopes tbody')).resolves.toContain('webhook');
    await page.click('#nav a[href="#account"]');
    await waitFor(async () => (await page.textContent('#sessions tbody'))!.includes('vic'), 5000, "Vic's session in the list");
    await page.click('#sessions tbody tr:has-text("vic") >> text=Revoke');
    await waitFor(async () => !(await page.textContent('#sessions tbody'))!.includes('vic'), 5000, "Vic's session to go");
    const vicPage = await signIn('vic', people.vic.recoveryCodes[0]);
    await vicPage.close();
    // Accounts and API tokens: an admin sees them and revokes a token, which stops working.
    await page.click('#nav a[href="#admin"]');
    await expect(page.textContent('#users tbody')).resolves.toMatch(/olga\s*operator\s*active/);
    const status = () => fetch(`${service.baseUrl}/admin/api/status`, { headers: { authorization: `Bearer ${reportBotToken}` } }).then((r) => r.status);
    expect(await status()).toBe(200);
    await waitFor(async () => (await page.textContent('#tokens tbody'))!.includes('report-bot'), 5000, 'the token in the list');
    await page.click('#tokens tbody tr:has-text("report-bot") >> text=Revoke');
    await waitFor(async () => !(await page.textContent('#tokens tbody'))!.includes('report-bot'), 5000, 'the revoked token to leave the list');
    expect(await status()).toBe(401);
  });

  it('a page left open shows new messages without a click', { timeout: 60_000 }, async () => {
    const page = await signIn('abe');
    await expect(page.textContent('#activity-table tbody')).resolves.not.toContain('+447700900999');
    // The page fills its tables after it shows: wait for the first load before the message arrives.
    await waitFor(async () => /^Updated /.test((await page.textContent('#updated')) ?? ''), 10_000, 'the first load of the page');
    await service.deliver(textWebhook({ from: '447700900999', id: 'wamid.DASH-LIVE', timestamp: Math.floor(Date.now() / 1000), body: 'while you watch' }));
    await waitFor(async () => (await page.textContent('#activity-table tbody'))!.includes('+447700900999'), 10_000, 'the new message on the open page');
    await page.close();
  });

  it('refuses the page and sign-in from an address outside admin.allowIps', async () => {
    const refused = await serviceWith(({ config }) => ({ ...config, admin: { allowIps: ['10.9.9.9'] } }));
    await refused.service.start();
    try {
      expect((await fetch(`${refused.service.baseUrl}/admin/`)).status).toBe(403);
      expect((await fetch(`${refused.service.baseUrl}/admin/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status).toBe(403);
    } finally {
      await refused.service.kill('SIGTERM');
    }
  });

  it('a wrong code is refused on the page', { timeout: 30_000 }, async () => {
    const page = await (await browser.newContext()).newPage();
    await page.goto(`${service.baseUrl}/admin/`);
    await page.fill('input[name=name]', 'vic');
    await page.fill('input[name=password]', PASSWORD);
    await page.fill('input[name=code]', '000000');
    await page.click('form#signin button[type=submit]');
    await waitFor(async () => (await page.textContent('#message')) === 'wrong user name, password or code', 5000, 'the refusal on the page');
    await expect(page.isHidden('#dashboard')).resolves.toBe(true);
  });

  it('the sign-in page reads like one', { timeout: 30_000 }, async () => {
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
    await page.goto(`${service.baseUrl}/admin/`);
    await page.waitForSelector('#signin-page:not([hidden])');
    await expect(page.textContent('#signin h1')).resolves.toBe('Sign in to wa-crm-sync');
    await expect(page.isHidden('#nav')).resolves.toBe(true);
    await page.screenshot({ path: screenshotPath('sign-in') });
  });

  it('an operator acknowledges an alert, then resolves it with a note after confirming; both audited', { timeout: 60_000 }, async () => {
    const page = await signIn('otto');
    await page.setViewportSize({ width: 1280, height: 900 });
    // Sign-ins from new devices raise alerts of their own: this one is about a message we never sent.
    await waitFor(async () => Number(await page.textContent('#nav-alerts')) >= 1, 10_000, 'unresolved alerts counted in the navigation');
    await page.click('#nav a[href="#alerts"]');
    const alert = page.locator('article.alert', { hasText: 'never sent' });
    await alert.waitFor();
    await expect(alert.locator('.check').textContent()).resolves.toMatch(/What to check: .*rotate the access tokens/);
    await expect(alert.locator('.pill').textContent()).resolves.toBe('open');
    await alert.locator('button', { hasText: 'Acknowledge' }).click();
    await waitFor(async () => /acknowledged by user:otto/.test((await alert.locator('.pill').textContent()) ?? ''), 10_000, 'the alert acknowledged');
    await page.screenshot({ path: screenshotPath('alerts-acknowledged'), fullPage: true });
    // Cancelling the confirmation changes nothing.
    await alert.locator('button', { hasText: 'Resolve' }).click();
    await page.click('#confirm button[value=cancel]');
    await expect(alert.count()).resolves.toBe(1);
    await expect(alert.locator('.pill').textContent()).resolves.toMatch(/acknowledged/);
    await alert.locator('button', { hasText: 'Resolve' }).click();
    await page.fill('#confirm-note', 'a test number of ours, now removed');
    await page.screenshot({ path: screenshotPath('alerts-resolve-dialog') });
    await page.click('#confirm-ok');
    await waitFor(async () => (await alert.count()) === 0, 10_000, 'the resolved alert to leave the list');
    await page.check('#alerts-resolved');
    await waitFor(async () => (await page.textContent('#alert-list'))!.includes('Note: a test number of ours, now removed'), 10_000, 'the resolved alert with its note');
    await page.screenshot({ path: screenshotPath('alerts-resolved'), fullPage: true });
    const store = await openStore(storeUrl);
    const records = await listAudit(store, { action: 'alert' });
    await store.close();
    expect(records.map((r) => [r.actor, r.action])).toEqual([['user:otto', 'alert.resolve'], ['user:otto', 'alert.acknowledge']]);
  });

  it('a second tab and a restarted browser keep the session, and their changes pass the CSRF check', { timeout: 60_000 }, async () => {
    const context = await browser.newContext();
    const first = await signIn('tess', undefined, context);
    // A second tab of the same browser: signed in at once, and it can change things.
    const second = await context.newPage();
    await second.goto(`${service.baseUrl}/admin/#connectors`);
    await second.waitForSelector('#connector-table td.state-running');
    await second.click('#connector-table tbody tr >> text=Pause');
    await second.waitForSelector('#connector-table td.state-paused');
    await expect(second.textContent('#message')).resolves.toBe('');
    // The browser closed and opened again: the cookie lives on (Max-Age), the page fetches the token bound to it.
    const cookies = await context.cookies();
    await context.close();
    const reopened = await (await browser.newContext()).newPage();
    await reopened.context().addCookies(cookies);
    await reopened.goto(`${service.baseUrl}/admin/#connectors`);
    await reopened.waitForSelector('#connector-table td.state-paused');
    await reopened.click('#connector-table tbody tr >> text=Resume');
    await reopened.waitForSelector('#connector-table td.state-running');
    await expect(reopened.textContent('#who')).resolves.toBe('tess (operator)');
    void first;
    // A change without the token is still refused.
    const refused = await reopened.evaluate(async () => (await fetch('/admin/api/connectors/webhook/pause', { method: 'POST' })).status);
    expect(refused).toBe(403);
  });
});
