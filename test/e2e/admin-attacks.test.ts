// Attacks on the admin surface through the real service process over HTTP, as an outsider on
// this machine would make them: sign-in floods sent all at once, forged forwarding headers,
// audit-trail flooding. Each stays here so that what was fixed stays fixed.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { URI, type TOTP } from 'otpauth';
import { addUser, LOCKOUT, type Enrolment } from '../../core/admin/accounts.js';
import { listAudit } from '../../core/security/audit-trail.js';
import { openStore } from '../../core/store/store.js';
import { projectRoot } from '../helpers/fixtures.js';
import { serviceWith, type ServiceProcess } from '../helpers/service-process.js';

const PASSWORD = 'a long admin password for attacks';

describe('attacks on the admin sign-in, through the real service', () => {
  let service: ServiceProcess;
  let configPath = '';
  let storeUrl = '';
  const enrolments = {} as Record<string, Enrolment>;

  beforeAll(async () => {
    ({ service, configPath } = await serviceWith(({ config }) => {
      storeUrl = (config['store'] as { url: string }).url;
      return config;
    }));
    const store = await openStore(storeUrl);
    for (const name of ['mia', 'ned']) enrolments[name] = await addUser(store, { name, role: 'admin', password: PASSWORD });
    await store.close();
    await service.start();
  });
  afterAll(async () => {
    await service.kill('SIGTERM');
  });

  const signIn = async (body: { name: string; password: string; code: string }, headers: Record<string, string> = {}) => {
    const res = await fetch(`${service.baseUrl}/admin/session`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as { error?: string } };
  };
  const accountRow = async (name: string) => {
    const store = await openStore(storeUrl);
    try {
      return await store.db.selectFrom('admin_users').select(['failed_attempts', 'locked_until']).where('name', '=', name).executeTakeFirstOrThrow();
    } finally {
      await store.close();
    }
  };

  // First: refusals of one address and kind share one record per minute, so a refusal written by
  // an earlier test (a revoked token's 401) would take in this test's 400 as repeats.
  it('400 unauthenticated requests with 15 kB paths write one short audit record, not megabytes', { timeout: 60_000 }, async () => {
    const store = await openStore(storeUrl);
    const before = (await listAudit(store, { limit: 10_000 })).length;
    const long = `/status/${'x'.repeat(15_000)}`;
    for (let batch = 0; batch < 8; batch++) {
      const statuses = await Promise.all(Array.from({ length: 50 }, () => fetch(`${service.baseUrl}/admin/api${long}`).then((r) => r.status)));
      expect(statuses.every((s) => s === 401)).toBe(true);
    }
    const added = (await listAudit(store, { limit: 10_000 })).slice(0, -before || undefined);
    await store.close();
    expect(added.map((r) => r.action)).toEqual(['admin.unauthenticated']);
    expect(added[0]!.target.length).toBeLessThan(260);
    expect(added[0]!.target).toMatch(/^GET \/status\/x+… \(15012 characters\)$/);
  });

  it("disabling an account from the CLI kills its session's tokens and the tokens those made", { timeout: 60_000 }, async () => {
    const code = (URI.parse(enrolments['ned']!.totpUri) as TOTP).generate();
    const res = await fetch(`${service.baseUrl}/admin/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'ned', password: PASSWORD, code }) });
    expect(res.status).toBe(200);
    const cookie = (res.headers.get('set-cookie') ?? '').split(';')[0]!;
    const { csrfToken } = (await res.json()) as { csrfToken: string };
    const api = (method: string, path: string, auth: Record<string, string>, body?: unknown) =>
      fetch(`${service.baseUrl}/admin/api${path}`, { method, headers: { 'content-type': 'application/json', ...auth }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    const first = (await (await api('POST', '/tokens', { cookie, 'x-csrf-token': csrfToken }, { name: 'ned-bot', role: 'admin', expiresInDays: 30 })).json()) as { token: string };
    const minted = await api('POST', '/tokens', { authorization: `Bearer ${first.token}` }, { name: 'ned-bot-2', role: 'admin', expiresInDays: 366 });
    expect(minted.status).toBe(201);
    const second = (await minted.json()) as { token: string };
    expect((await api('GET', '/status', { authorization: `Bearer ${second.token}` })).status).toBe(200);

    const { stdout } = await promisify(execFile)(process.execPath, [join(projectRoot, 'bin/wa-crm-sync.js'), 'users', 'disable', 'ned', '--config', configPath]);
    expect(stdout).toContain('ned disabled; 2 API tokens revoked, 1 session ended');
    for (const token of [first.token, second.token]) {
      expect((await api('GET', '/status', { authorization: `Bearer ${token}` })).status).toBe(401);
      expect((await api('POST', '/tokens', { authorization: `Bearer ${token}` }, { name: 'again', role: 'admin', expiresInDays: 366 })).status).toBe(401);
    }
    expect((await api('GET', '/status', { cookie })).status).toBe(401);
  });

  // Last: it uses up this address's sign-in allowance for the window.
  it('200 wrong sign-ins sent at once from one address, the right one last: the address limit and the account lock hold', { timeout: 60_000 }, async () => {
    const code = (URI.parse(enrolments['mia']!.totpUri) as TOTP).generate();
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => signIn({ name: 'mia', password: i === 199 ? PASSWORD : 'not the password', code })));
    const count = (status: number) => results.filter((r) => r.status === status).length;
    expect(count(200)).toBe(0);
    // Each attempt took its address slot before it was checked: at most 20 were checked at all.
    expect(count(401)).toBeLessThanOrEqual(20);
    expect(count(401) + count(429) + count(503)).toBe(200);
    expect(count(429)).toBeGreaterThanOrEqual(180);
    // And of those, the account let only LOCKOUT.failures reach its password, then locked.
    const row = await accountRow('mia');
    expect(row.locked_until).toBeGreaterThan(Date.now());
    const store = await openStore(storeUrl);
    const failures = await listAudit(store, { action: 'signin.failure', limit: 500 });
    await store.close();
    expect(failures.filter((r) => (r.detail as { reason?: string }).reason === 'wrong password or code')).toHaveLength(LOCKOUT.failures);
  });
});

describe('forwarded addresses, through the real service', () => {
  const started: ServiceProcess[] = [];
  afterAll(async () => {
    for (const s of started) await s.kill('SIGTERM');
  });
  const start = async (server: Record<string, unknown>, admin: Record<string, unknown>, users: string[] = []) => {
    let storeUrl = '';
    const { service } = await serviceWith(({ config }) => {
      storeUrl = (config['store'] as { url: string }).url;
      return { ...config, server: { ...(config['server'] as object), ...server }, admin };
    });
    const store = await openStore(storeUrl);
    const enrolments: Record<string, Enrolment> = {};
    for (const name of users) enrolments[name] = await addUser(store, { name, role: 'admin', password: PASSWORD });
    await store.close();
    await service.start();
    started.push(service);
    return { service, storeUrl, enrolments };
  };
  const status = async (service: ServiceProcess, forwardedFor: string) => (await fetch(`${service.baseUrl}/admin/api/status`, { headers: { 'x-forwarded-for': forwardedFor } })).status;

  it('by default nobody is a trusted proxy: X-Forwarded-For from this machine does not get past admin.allowIps', async () => {
    const { service } = await start({}, { allowIps: ['10.9.9.9'] });
    expect(await status(service, '10.9.9.9')).toBe(403);
  });

  it('from a configured proxy only addresses are taken: a forged string is refused with 400, an address is checked against allowIps', async () => {
    const { service } = await start({ trustedProxies: ['127.0.0.1'] }, { allowIps: ['10.9.9.9'] });
    expect(await status(service, '10.9.9.9')).toBe(401);
    expect(await status(service, '10.9.9.8')).toBe(403);
    const forged = await fetch(`${service.baseUrl}/admin/api/status`, { headers: { 'x-forwarded-for': 'alert title <b>pwned</b>' } });
    expect(forged.status).toBe(400);
    expect(await forged.json()).toEqual({ error: 'X-Forwarded-For holds something that is not an IP address (check the proxy in server.trustedProxies)' });
    expect(service.output).not.toContain('pwned');
    // HSTS once the trusted proxy says the client came over https; never over plain http.
    const overHttps = await fetch(`${service.baseUrl}/healthz`, { headers: { 'x-forwarded-proto': 'https' } });
    expect(overHttps.headers.get('strict-transport-security')).toBe('max-age=31536000; includeSubDomains');
    expect((await fetch(`${service.baseUrl}/healthz`)).headers.get('strict-transport-security')).toBeNull();
  });

  it('200 wrong sign-ins sent at once from 200 addresses: the account still locks after five and the right code is refused after', { timeout: 60_000 }, async () => {
    const { service, storeUrl, enrolments } = await start({ trustedProxies: ['127.0.0.1'] }, {}, ['oli']);
    const totp = URI.parse(enrolments['oli']!.totpUri) as TOTP;
    const code = totp.generate();
    const attempt = (i: number, password: string, c = code) =>
      fetch(`${service.baseUrl}/admin/session`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': `10.0.${i >> 8}.${i & 255}` }, body: JSON.stringify({ name: 'oli', password, code: c }) }).then((r) => r.status);
    const statuses = await Promise.all(Array.from({ length: 200 }, (_, i) => attempt(i, 'not the password')));
    expect(statuses.every((s) => s === 401 || s === 503)).toBe(true);
    expect(statuses.filter((s) => s === 401).length).toBeGreaterThanOrEqual(LOCKOUT.failures);
    const store = await openStore(storeUrl);
    const row = await store.db.selectFrom('admin_users').select(['locked_until']).where('name', '=', 'oli').executeTakeFirstOrThrow();
    const checked = (await listAudit(store, { action: 'signin.failure', limit: 500 })).filter((r) => (r.detail as { reason?: string }).reason === 'wrong password or code');
    await store.close();
    expect(row.locked_until).toBeGreaterThan(Date.now());
    expect(checked).toHaveLength(LOCKOUT.failures);
    // From a fresh address, with the right password and code: still refused while locked.
    expect(await attempt(500, PASSWORD)).toBe(401);
  });
});
