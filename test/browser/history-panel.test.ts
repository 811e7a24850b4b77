// The dashboard's history-import panel in Chromium against the real service: hidden until a
// history chunk arrives, then WhatsApp's progress, messages per phase and each connector's bar.
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addUser, type Enrolment } from '../../core/admin/accounts.js';
import { openStore } from '../../core/store/store.js';
import { DASHBOARD_PASSWORD, launchChromium, screenshotPath, signInToDashboard, totpCode } from '../helpers/browser.js';
import { readExample } from '../helpers/fixtures.js';
import { Recorder } from '../helpers/recorder.js';
import { serviceWith, type ServiceProcess, waitFor } from '../helpers/service-process.js';


describe('history import panel in Chromium', () => {
  const recorder = new Recorder();
  let service: ServiceProcess;
  let browser: Browser;
  let viewer: Enrolment;

  beforeAll(async () => {
    const recorderUrl = await recorder.start();
    let storeUrl = '';
    ({ service } = await serviceWith(({ config }) => {
      storeUrl = (config['store'] as { url: string }).url;
      return { ...config, admin: { dashboard: { refreshSeconds: 1 } }, connectors: { webhook: { enabled: true, url: recorderUrl, timeoutMs: 2000 } } };
    }));
    const store = await openStore(storeUrl);
    viewer = await addUser(store, { name: 'vic', role: 'viewer', password: DASHBOARD_PASSWORD });
    await store.close();
    await service.start();
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await service.kill('SIGTERM');
    await recorder.stop();
  });

  it('appears once history comes and shows its progress', { timeout: 60_000 }, async () => {
    const { page } = await signInToDashboard(browser, service.baseUrl, { name: 'vic', code: totpCode(viewer), viewport: { width: 1100, height: 900 } });
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
    await page.locator('#history').screenshot({ path: screenshotPath('history-panel') });
  });
});
