// The admin dashboard in a real browser (Debian's Chromium through playwright-core) against
// the real service process: sign-in with a TOTP code, role limits, pause and resume, replay,
// masked numbers, the page's Content-Security-Policy. Screenshots go to test-artifacts/.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { URI, type TOTP } from 'otpauth';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addUser, createToken, type Enrolment } from '../../core/admin/accounts.js';
import { openStore } from '../../core/store/store.js';
import { projectRoot, textWebhook } from '../helpers/fixtures.js';
import { Recorder } from '../helpers/recorder.js';
import { serviceWith, type ServiceProcess, waitFor } from '../helpers/service-process.js';

const PASSWORD = 'a long dashboard password';
const SHOTS = join(projectRoot, 'test-artifacts', 'screenshots');

describe('admin dashboard in Chromium', () => {
  const recorder = new Recorder();
  let service: ServiceProcess;
  let browser: Browser;
  // A TOTP code signs in once, so each test signs in a person of its own or uses a recovery code.
  const people = {} as Record<'ada' | 'abe' | 'olga' | 'vic', Enrolment>;
  let reportBotToken = '';

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    const recorderUrl = await recorder.start();
    let storeUrl = '';
    ({ service } = await serviceWith(({ config }) => {
      storeUrl = (config['store'] as { url: string }).url;
      return { ...config, admin: { dashboard: { refreshSeconds: 1 } }, connectors: { webhook: { enabled: true, url: recorderUrl, timeoutMs: 2000 } } };
    }));
    const store = await openStore(storeUrl);
    people.ada = await addUser(store, { name: 'ada', role: 'admin', password: PASSWORD });
    people.abe = await addUser(store, { name: 'abe', role: 'admin', password: PASSWORD });
    people.olga = await addUser(store, { name: 'olga', role: 'operator', password: PASSWORD });
    people.vic = await addUser(store, { name: 'vic', role: 'viewer', password: PASSWORD });
    reportBotToken = (await createToken(store, { name: 'report-bot', role: 'viewer', expiresInDays: 7, createdBy: { cli: 'cli:root' } })).token;
    // A dead operation to replay.
    await store.db
      .insertInto('outbox')
      .values({ idempotency_key: 'webhook:contact.sync:dead-1', connector: 'webhook', kind: 'contact.sync', ordering_key: 'contact:x', payload: '{"contactId":"x"}', state: 'dead', run_at: 0, attempts: 12, max_attempts: 12, locked_by: null, lease_until: null, last_error: 'VendorError: webhook: request rejected (HTTP 400)', result: null, created_at: 0, updated_at: 0 })
      .execute();
    await store.close();
    await service.start();
    await service.deliver(textWebhook({ from: '447700900888', id: 'wamid.DASH1', timestamp: Math.floor(Date.now() / 1000), body: 'hello' }));
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-background-networking'] });
  });
  afterAll(async () => {
    await browser?.close();
    await service.kill('SIGTERM');
    await recorder.stop();
  });

  async function signIn(name: 'ada' | 'abe' | 'olga' | 'vic', code = (URI.parse(people[name].totpUri) as TOTP).generate()): Promise<Page> {
    const page = await (await browser.newContext()).newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => m.type() === 'error' && !m.text().includes('401') && errors.push(m.text()));
    await page.goto(`${service.baseUrl}/admin/`);
    await page.fill('input[name=name]', name);
    await page.fill('input[name=password]', PASSWORD);
    await page.fill('input[name=code]', code);
    await page.click('form#signin button[type=submit]');
    await page.waitForSelector('#dashboard:not([hidden])');
    await expect(page.isVisible('form#signin')).resolves.toBe(false);
    await page.waitForSelector('#connectors tbody tr td.state-running, #connectors tbody tr td.state-paused');
    expect(errors, errors.join('\n')).toEqual([]);
    return page;
  }

  it('serves the page with a strict Content-Security-Policy and nothing from elsewhere', async () => {
    const res = await fetch(`${service.baseUrl}/admin/`);
    expect(res.headers.get('content-security-policy')).toBe("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
    expect(await res.text()).not.toMatch(/https?:\/\//);
  });

  it('an operator signs in with a TOTP code, pauses and resumes a connector, and replays a dead operation', { timeout: 60_000 }, async () => {
    const page = await signIn('olga');
    await expect(page.textContent('#who')).resolves.toBe('olga (operator)');
    await page.screenshot({ path: join(SHOTS, 'dashboard-operator.png'), fullPage: true });
    await page.click('#connectors tbody tr >> text=Pause');
    await page.waitForSelector('#connectors td.state-paused');
    await page.click('#connectors tbody tr >> text=Resume');
    await page.waitForSelector('#connectors td.state-running');
    await expect(page.textContent('#dead tbody')).resolves.toContain('HTTP 400');
    await page.click('#dead tbody tr >> text=Replay');
    await waitFor(async () => !(await page.textContent('#dead tbody'))!.includes('HTTP 400'), 10_000, 'the replayed operation to leave the dead list');
    // The audit trail is for admins: hidden from an operator.
    await expect(page.isHidden('section.admin')).resolves.toBe(true);
    // Olga changes her password, proving it with a recovery code (her TOTP code was just used).
    await page.fill('#password input[name=currentPassword]', PASSWORD);
    await page.fill('#password input[name=newPassword]', 'olga has a new password');
    await page.fill('#password input[name=code]', people.olga.recoveryCodes[0]!);
    await page.click('#password button[type=submit]');
    await waitFor(async () => (await page.textContent('#message')) === 'password changed', 5000, 'the change confirmed on the page');
    await expect(page.inputValue('#password input[name=newPassword]')).resolves.toBe('');
  });

  it('a viewer sees state and masked numbers but no buttons that change anything', { timeout: 60_000 }, async () => {
    const page = await signIn('vic');
    await page.waitForSelector('#activity tbody tr td:nth-child(2)');
    await expect(page.textContent('#activity tbody')).resolves.toMatch(/\+44\*+88/);
    await expect(page.locator('#connectors button').count()).resolves.toBe(0);
    await expect(page.isHidden('#replay-all')).resolves.toBe(true);
    await page.screenshot({ path: join(SHOTS, 'dashboard-viewer.png'), fullPage: true });
  });

  it('an admin sees full numbers and searches the audit trail', { timeout: 60_000 }, async () => {
    const page = await signIn('ada');
    await page.waitForSelector('#audit tbody tr');
    await expect(page.textContent('#activity tbody')).resolves.toContain('+447700900888');
    await page.fill('#audit-search input[name=action]', 'connector');
    await page.click('#audit-search button[type=submit]');
    await waitFor(async () => (await page.textContent('#audit tbody'))!.includes('connector.pause'), 5000, 'the pause in the audit trail');
    await expect(page.textContent('#audit tbody')).resolves.toContain('user:olga');
    await page.screenshot({ path: join(SHOTS, 'dashboard-admin.png'), fullPage: true });
    // The scopes report, and the sessions with a Revoke button: revoking Vic's signs Vic out.
    await expect(page.textContent('#scopes tbody')).resolves.toContain('webhook');
    await waitFor(async () => (await page.textContent('#sessions tbody'))!.includes('vic'), 5000, "Vic's session in the list");
    await page.click('#sessions tbody tr:has-text("vic") >> text=Revoke');
    await waitFor(async () => !(await page.textContent('#sessions tbody'))!.includes('vic'), 5000, "Vic's session to go");
    const vicPage = await signIn('vic', people.vic.recoveryCodes[0]);
    await vicPage.close();
    // Accounts and API tokens: an admin sees them and revokes a token, which stops working.
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
    await expect(page.textContent('#activity tbody')).resolves.not.toContain('+447700900999');
    // The page fills its tables after it shows: wait for the first load before the message arrives.
    await waitFor(async () => /^Updated /.test((await page.textContent('#updated')) ?? ''), 10_000, 'the first load of the page');
    await service.deliver(textWebhook({ from: '447700900999', id: 'wamid.DASH-LIVE', timestamp: Math.floor(Date.now() / 1000), body: 'while you watch' }));
    await waitFor(async () => (await page.textContent('#activity tbody'))!.includes('+447700900999'), 10_000, 'the new message on the open page');
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
});
