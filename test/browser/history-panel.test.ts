// The dashboard's history-import panel in Chromium against the real service: hidden until a
// history chunk arrives, then WhatsApp's progress, messages per phase and each connector's bar.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { URI, type TOTP } from 'otpauth';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addUser, type Enrolment } from '../../core/admin/accounts.js';
import { openStore } from '../../core/store/store.js';
import { projectRoot, readExample } from '../helpers/fixtures.js';
import { Recorder } from '../helpers/recorder.js';
import { serviceWith, type ServiceProcess, waitFor } from '../helpers/service-process.js';

const PASSWORD = 'a long dashboard password';
const SHOTS = join(projectRoot, 'test-artifacts', 'screenshots');

describe('history import panel in Chromium', () => {
  const recorder = new Recorder();
  let service: ServiceProcess;
  let browser: Browser;
  let viewer: Enrolment;

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    const recorderUrl = await recorder.start();
    let storeUrl = '';
    ({ service } = await serviceWith(({ config }) => {
      storeUrl = (config['store'] as { url: string }).url;
      return { ...config, admin: { dashboard: { refreshSeconds: 1 } }, connectors: { webhook: { enabled: true, url: recorderUrl, timeoutMs: 2000 } } };
    }));
    const store = await openStore(storeUrl);
    viewer = await addUser(store, { name: 'vic', role: 'viewer', password: PASSWORD });
    await store.close();
    await service.start();
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-background-networking'] });
  });
  afterAll(async () => {
    await browser?.close();
    await service.kill('SIGTERM');
    await recorder.stop();
  });

  it('appears once history comes and shows its progress', { timeout: 60_000 }, async () => {
    const page = await (await browser.newContext({ viewport: { width: 1100, height: 900 } })).newPage();
    await page.goto(`${service.baseUrl}/admin/`);
    await page.fill('input[name=name]', 'vic');
    await page.fill('input[name=password]', PASSWORD);
    await page.fill('input[name=code]', (URI.parse(viewer.totpUri) as TOTP).generate());
    await page.click('form#signin button[type=submit]');
    await page.waitForSelector('#dashboard:not([hidden])');
    await page.waitForSelector('#connector-table tbody tr td.state-running', { state: 'attached' });
    expect(await page.isVisible('#history')).toBe(false);

    await service.deliver(readExample('history-chunk'));
    await waitFor(() => recorder.messages().length >= 5, 30_000, 'the past messages at the webhook connector');
    await page.waitForSelector('#history:not([hidden])');
    await waitFor(async () => /5 of 5/.test((await page.textContent('#history-connectors tbody')) ?? ''), 20_000, 'the panel showing the import written');
    const summary = await page.textContent('#history-summary');
    expect(summary).toContain("WhatsApp's sync 55%");
    expect(summary).toContain('phase 1: 1 chunks, 5 messages');
    expect(summary).toContain('5 messages stored');
    const row = await page.textContent('#history-connectors tbody tr');
    expect(row).toMatch(/webhook\s*5 of 5/);
    expect(await page.getAttribute('#history-connectors progress', 'value')).toBe('5');
    await page.locator('#history').screenshot({ path: join(SHOTS, 'history-panel.png') });
  });
});
