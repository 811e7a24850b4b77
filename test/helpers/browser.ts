// The admin console in a real browser, for every browser test: Debian's Chromium through
// playwright-core (never a downloaded browser), signing in with a TOTP or recovery code, page
// errors collected (a CSP refusal shows up as one), and where screenshots are kept.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { URI, type TOTP } from 'otpauth';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { expect } from 'vitest';
import type { Enrolment } from '../../core/admin/accounts.js';
import { projectRoot } from './fixtures.js';

/** Screenshots are test artifacts: CI keeps this folder. */
export const SHOTS = join(projectRoot, 'test-artifacts', 'screenshots');
/** The password every browser test gives its people (long enough for the strength check). */
export const DASHBOARD_PASSWORD = 'a long dashboard password';

export async function launchChromium(): Promise<Browser> {
  mkdirSync(SHOTS, { recursive: true });
  return chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-background-networking'] });
}

export function screenshotPath(name: string): string {
  return join(SHOTS, `${name}.png`);
}

/** The current TOTP code of an enrolled person (each code signs in once). */
export function totpCode(enrolment: Enrolment): string {
  return (URI.parse(enrolment.totpUri) as TOTP).generate();
}

/** Script errors and console errors of a page, but the 401s a signed-out page expects. */
export function collectPageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => m.type() === 'error' && !m.text().includes('401') && errors.push(m.text()));
  return errors;
}

export interface SignIn {
  readonly name: string;
  /** A TOTP code or a recovery code. */
  readonly code: string;
  readonly password?: string;
  /** A browser context to sign in within (a second tab shares it); a fresh one otherwise. */
  readonly context?: BrowserContext;
  readonly viewport?: { width: number; height: number };
}

/** Signs in on the page as a person would, waits for the dashboard's first tables, and checks the page raised no error. */
export async function signInToDashboard(browser: Browser, baseUrl: string, who: SignIn): Promise<{ page: Page; errors: string[] }> {
  const context = who.context ?? (await browser.newContext(who.viewport ? { viewport: who.viewport } : {}));
  const page = await context.newPage();
  const errors = collectPageErrors(page);
  await page.goto(`${baseUrl}/admin/`);
  await page.fill('input[name=name]', who.name);
  await page.fill('input[name=password]', who.password ?? DASHBOARD_PASSWORD);
  await page.fill('input[name=code]', who.code);
  await page.click('form#signin button[type=submit]');
  await page.waitForSelector('#dashboard:not([hidden])');
  await expect(page.isVisible('form#signin')).resolves.toBe(false);
  await page.waitForSelector('#connector-table tbody tr td.state-running, #connector-table tbody tr td.state-paused', { state: 'attached' });
  expect(errors, errors.join('\n')).toEqual([]);
  return { page, errors };
}
