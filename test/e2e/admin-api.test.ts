// The admin API through the real service process: every route for every role, missing and
// expired tokens, pause and resume persisted and honoured, refusals in the audit trail; and
// the users and tokens commands.
import { execFile, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { URI, type TOTP } from 'otpauth';
import { addUser, createToken, roleAllows, ROLES, type Enrolment, type Role } from '../../core/admin/accounts.js';
import { openAlerts } from '../../core/security/alerts.js';
import { listAudit, verifyAuditTrail } from '../../core/security/audit-trail.js';
import { openStore } from '../../core/store/store.js';
import { ADMIN_ROUTES } from '../../server/admin-api.js';
import { projectRoot, textWebhook } from '../helpers/fixtures.js';
import { Recorder } from '../helpers/recorder.js';
import { serviceWith, type ServiceProcess, waitFor } from '../helpers/service-process.js';
import { tempDir } from '../helpers/stores.js';

describe('admin API end to end', () => {
  const recorder = new Recorder();
  let service: ServiceProcess;
  let configPath: string;
  let storeUrl = '';
  const tokens = {} as Record<Role | 'expired', string>;
  const enrolments = {} as Record<'olga' | 'vic', Enrolment>;
  const PASSWORD = 'a long admin password';
  const call = (method: string, path: string, token?: string, body?: unknown) =>
    fetch(`${service.baseUrl}/admin/api${path}`, {
      method: method.toUpperCase(),
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });

  beforeAll(async () => {
    const recorderUrl = await recorder.start();
    // The service and the CLI seal TOTP secrets with the key in this file (olga's and vic's, added
    // below without it, are sealed at their first sign-in).
    const secretsKeyFile = join(tempDir(), 'secrets.key');
    writeFileSync(secretsKeyFile, 'a long random secrets key\n', { mode: 0o600 });
    ({ service, configPath } = await serviceWith(({ config }) => {
      storeUrl = (config['store'] as { url: string }).url;
      return { ...config, admin: { session: { idleMinutes: 0.05 }, secretsKeyFile }, connectors: { webhook: { enabled: true, url: recorderUrl, timeoutMs: 2000 } } };
    }));
    const store = await openStore(storeUrl);
    for (const role of ROLES) tokens[role] = (await createToken(store, { name: `${role}-bot`, role, expiresInDays: 1, createdBy: { cli: 'cli:test' } })).token;
    tokens.expired = (await createToken(store, { name: 'old', role: 'admin', expiresInDays: 1, createdBy: { cli: 'cli:test' } }, Date.now() - 2 * 86_400_000)).token;
    enrolments.olga = await addUser(store, { name: 'olga', role: 'operator', password: PASSWORD });
    enrolments.vic = await addUser(store, { name: 'vic', role: 'viewer', password: PASSWORD });
    await store.close();
    await service.start();
  });
  afterAll(async () => {
    await service.kill('SIGTERM');
    await recorder.stop();
  });

  it('checks the role on every route: allowed roles get through, others get 403, no or expired token 401', async () => {
    for (const route of ADMIN_ROUTES) {
      const path = route.path.replace(':id', route.path.startsWith('/tokens') ? '000000000000' : 'webhook');
      const body = route.method !== 'post' ? undefined : route.path === '/operations/replay' ? { allDead: true } : route.path === '/tokens' ? { name: 'x', role: 'viewer', expiresInDays: 1 } : {};
      for (const role of ROLES) {
        const status = (await call(route.method, path, tokens[role], body)).status;
        // Through the role check; changing a password is for people, so a token gets 400 there.
        if (roleAllows(role, route.role)) expect(route.path === '/me/password' ? [400] : [200, 201, 404], `${role} ${route.method} ${path}`).toContain(status);
        else expect(status, `${role} ${route.method} ${path}`).toBe(403);
      }
      expect((await call(route.method, path)).status).toBe(401);
      expect((await call(route.method, path, tokens.expired)).status).toBe(401);
    }
    // A page of the audit trail is bounded: -1 would mean no limit to SQLite.
    for (const limit of ['-1', '0', '1.5', '5000', 'all']) expect((await call('get', `/audit?limit=${limit}`, tokens.admin)).status, limit).toBe(400);
    expect(((await (await call('get', '/audit?limit=2', tokens.admin)).json()) as { records: unknown[] }).records).toHaveLength(2);
    // Resume what the walk paused last (pause ran before resume for operator and admin).
    expect((await call('post', '/connectors/webhook/resume', tokens.operator)).status).toBe(200);
  });

  it('pauses a connector for every instance until resumed, and writes it all to the audit trail', { timeout: 30_000 }, async () => {
    expect(await (await call('post', '/connectors/webhook/pause', tokens.operator)).json()).toEqual({ connector: 'webhook', paused: true });
    await waitFor(async () => ((await (await fetch(`${service.baseUrl}/readyz`)).json()) as { connectors: Array<{ state: string }> }).connectors[0]!.state === 'paused', 5000, 'the paused state');
    const before = recorder.messages().length;
    await service.deliver(textWebhook({ from: '447700900777', id: 'wamid.PAUSED', timestamp: 1_760_000_000, body: 'while paused' }));
    await new Promise((r) => setTimeout(r, 1500));
    expect(recorder.messages().length).toBe(before);
    await call('post', '/connectors/webhook/resume', tokens.operator);
    await waitFor(() => recorder.messages().some((m) => (m.data as { messageId?: string }).messageId === 'wamid.PAUSED'), 10_000, 'the message after resume');

    const store = await openStore(storeUrl);
    const records = await listAudit(store, { limit: 500 });
    expect(records.some((r) => r.action === 'admin.forbidden' && r.actor === 'token:viewer-bot')).toBe(true);
    expect(records.some((r) => r.action === 'admin.unauthenticated')).toBe(true);
    expect(records.filter((r) => r.action === 'connector.pause' && r.actor === 'token:operator-bot').length).toBeGreaterThan(0);
    expect(await verifyAuditTrail(store)).toMatchObject({ ok: true });
    await store.close();
  });

  it('adds a user with a QR enrolment and creates a token that works, from the command line', async () => {
    const bin = join(projectRoot, 'bin/wa-crm-sync.js');
    const added = await new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, [bin, 'users', 'add', 'erin', '--role', 'viewer', '--config', configPath]);
      let out = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`exit ${code}: ${out}`))));
      child.stdin.end('a strong enough password\n');
    });
    expect(added).toMatch(/otpauth:\/\/totp\/wa-crm-sync:erin\?/);
    expect(added).toMatch(/▄|█/); // the terminal QR code
    // Sealed with the key file's key, and the service, holding the same key, signs Erin in.
    const totp = URI.parse(/otpauth:\/\/\S+/.exec(added)![0]) as TOTP;
    const store = await openStore(storeUrl);
    const row = await store.db.selectFrom('admin_users').select('totp_secret').where('name', '=', 'erin').executeTakeFirstOrThrow();
    await store.close();
    expect(row.totp_secret).toMatch(/^sealed:/);
    expect(row.totp_secret).not.toContain(totp.secret.base32);
    const signedIn = await fetch(`${service.baseUrl}/admin/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'erin', password: 'a strong enough password', code: totp.generate() }) });
    expect(signedIn.status).toBe(200);
    const { stdout } = await promisify(execFile)(process.execPath, [bin, 'tokens', 'create', 'ops', '--role', 'operator', '--days', '7', '--config', configPath]);
    const token = stdout.trim();
    expect((await call('get', '/status', token)).status).toBe(200);
    const users = (await (await call('get', '/users', tokens.admin)).json()) as { users: Array<{ name: string; role: string }> };
    expect(users.users).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'erin', role: 'viewer' })]));
  });

  it('a person changes their password from a session: the other sessions end; an admin sets a forgotten one from the CLI', { timeout: 30_000 }, async () => {
    const store = await openStore(storeUrl);
    const pat = await addUser(store, { name: 'pat', role: 'viewer', password: PASSWORD });
    await store.close();
    const signIn = async (password: string, code: string) => {
      const res = await fetch(`${service.baseUrl}/admin/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'pat', password, code }) });
      return { status: res.status, cookie: (res.headers.get('set-cookie') ?? '').split(';')[0]!, body: (await res.json()) as { csrfToken: string } };
    };
    const laptop = await signIn(PASSWORD, (URI.parse(pat.totpUri) as TOTP).generate());
    const phone = await signIn(PASSWORD, pat.recoveryCodes[0]!);
    expect([laptop.status, phone.status]).toEqual([200, 200]);
    const change = (body: unknown) => fetch(`${service.baseUrl}/admin/api/me/password`, { method: 'POST', headers: { cookie: laptop.cookie, 'x-csrf-token': laptop.body.csrfToken, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const NEW = 'pat has a new password';
    const wrong = await change({ currentPassword: 'not the password', newPassword: NEW, code: pat.recoveryCodes[1] });
    expect(wrong.status).toBe(400);
    const changed = await change({ currentPassword: PASSWORD, newPassword: NEW, code: pat.recoveryCodes[1] });
    expect(await changed.json()).toEqual({ changed: true, otherSessionsEnded: 1 });
    expect((await fetch(`${service.baseUrl}/admin/api/status`, { headers: { cookie: phone.cookie } })).status).toBe(401);
    expect((await fetch(`${service.baseUrl}/admin/api/status`, { headers: { cookie: laptop.cookie } })).status).toBe(200);
    expect((await signIn(PASSWORD, pat.recoveryCodes[2]!)).status).toBe(401);
    expect((await signIn(NEW, pat.recoveryCodes[3]!)).status).toBe(200);

    // Forgotten: an admin sets one from the command line, and every session of Pat's ends.
    await new Promise<void>((resolve, reject) => {
      const child = spawn(process.execPath, [join(projectRoot, 'bin/wa-crm-sync.js'), 'users', 'set-password', 'pat', '--config', configPath]);
      let out = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      child.on('exit', (code) => (code === 0 && out.includes('pat: password set; 2 sessions ended') ? resolve() : reject(new Error(`exit ${code}: ${out}`))));
      child.stdin.end('set by the admin for pat\n');
    });
    expect((await fetch(`${service.baseUrl}/admin/api/status`, { headers: { cookie: laptop.cookie } })).status).toBe(401);
    const again = await signIn('set by the admin for pat', pat.recoveryCodes[4]!);
    expect(again.status).toBe(200);
    // reset-2fa (the old secret may be in someone else's hands) ends the sessions too.
    await promisify(execFile)(process.execPath, [join(projectRoot, 'bin/wa-crm-sync.js'), 'users', 'reset-2fa', 'pat', '--config', configPath]);
    expect((await fetch(`${service.baseUrl}/admin/api/status`, { headers: { cookie: again.cookie } })).status).toBe(401);
    const after = await openStore(storeUrl);
    expect((await listAudit(after, { action: 'user.password' })).map((r) => r.action)).toEqual(expect.arrayContaining(['user.password.refused', 'user.password', 'user.password.set']));
    await after.close();
  });

  it('with the wrong secrets key, sign-in answers 503 and the log and audit trail say why', { timeout: 30_000 }, async () => {
    let otherStoreUrl = '';
    const other = await serviceWith(({ config, dir }) => {
      otherStoreUrl = (config['store'] as { url: string }).url;
      writeFileSync(join(dir, 'secrets.key'), 'not the key the secrets were sealed with');
      return { ...config, admin: { secretsKeyFile: join(dir, 'secrets.key') } };
    });
    const store = await openStore(otherStoreUrl);
    const enrolment = await addUser(store, { name: 'una', role: 'admin', password: PASSWORD }, 'the key they were sealed with');
    await store.close();
    await other.service.start();
    try {
      const res = await fetch(`${other.service.baseUrl}/admin/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'una', password: PASSWORD, code: (URI.parse(enrolment.totpUri) as TOTP).generate() }) });
      expect(res.status).toBe(503);
      expect(await res.json()).toEqual({ error: 'sign-in is unavailable: the service cannot read the two-step secrets; an admin must fix its key (the service log says what is wrong)' });
      await waitFor(() => other.service.output.includes('cannot be opened with this key'), 5000, 'the reason in the log');
    } finally {
      await other.service.kill('SIGTERM');
    }
    const after = await openStore(otherStoreUrl);
    expect((await listAudit(after, { action: 'signin' })).map((r) => r.action)).toEqual(['signin.unavailable']);
    await after.close();
  });

  it('signs people in with password and TOTP into a cookie session: CSRF on changes, roles, revoke, idle timeout, alerts', { timeout: 30_000 }, async () => {
    const signIn = async (name: 'olga' | 'vic', code = (URI.parse(enrolments[name].totpUri) as TOTP).generate()) => {
      const res = await fetch(`${service.baseUrl}/admin/session`, { method: 'POST', headers: { 'content-type': 'application/json', 'user-agent': 'TestBrowser/1.0' }, body: JSON.stringify({ name, password: PASSWORD, code }) });
      return { status: res.status, cookie: (res.headers.get('set-cookie') ?? '').split(';')[0]!, setCookie: res.headers.get('set-cookie') ?? '', body: (await res.json()) as { csrfToken?: string; error?: string } };
    };
    const withCookie = (method: string, path: string, cookie: string, csrf?: string) =>
      fetch(`${service.baseUrl}/admin/api${path}`, { method, headers: { cookie, ...(csrf ? { 'x-csrf-token': csrf } : {}) } });

    expect(await signIn('olga', '000000')).toMatchObject({ status: 401, body: { error: 'wrong user name, password or code' } });
    const olga = await signIn('olga');
    expect(olga.status).toBe(200);
    const sealedNow = await openStore(storeUrl);
    expect((await sealedNow.db.selectFrom('admin_users').select('totp_secret').where('name', '=', 'olga').executeTakeFirstOrThrow()).totp_secret).toMatch(/^sealed:/);
    await sealedNow.close();
    expect(olga.setCookie).toMatch(/^wacs_session=[\w-]+; HttpOnly; SameSite=Strict; Path=\/admin; Max-Age=43200$/);
    expect((await withCookie('GET', '/status', olga.cookie)).status).toBe(200);
    expect((await withCookie('POST', '/connectors/webhook/pause', olga.cookie)).status).toBe(403);
    expect((await withCookie('POST', '/connectors/webhook/pause', olga.cookie, 'forged')).status).toBe(403);
    expect((await withCookie('POST', '/connectors/webhook/pause', olga.cookie, olga.body.csrfToken)).status).toBe(200);
    expect((await withCookie('POST', '/connectors/webhook/resume', olga.cookie, olga.body.csrfToken)).status).toBe(200);
    const vic = await signIn('vic');
    expect((await withCookie('POST', '/connectors/webhook/pause', vic.cookie, vic.body.csrfToken)).status).toBe(403);

    // Olga sees her own session and revokes Vic's? No: only her own; an admin may revoke any.
    const mine = (await (await withCookie('GET', '/sessions', olga.cookie)).json()) as { sessions: Array<{ id: string; user: string; ip: string; device: string }> };
    expect(mine.sessions).toEqual([expect.objectContaining({ user: 'olga', device: 'TestBrowser/1.0' })]);
    // A viewer or operator token acts for no person: it sees no one's sessions (it saw everyone's).
    for (const role of ['viewer', 'operator'] as const) expect(await (await call('get', '/sessions', tokens[role])).json()).toEqual({ sessions: [] });
    const all = (await (await call('get', '/sessions', tokens.admin)).json()) as { sessions: Array<{ id: string; user: string }> };
    const vicSession = all.sessions.find((x) => x.user === 'vic')!;
    expect((await withCookie('DELETE', `/sessions/${vicSession.id}`, olga.cookie, olga.body.csrfToken)).status).toBe(404);
    expect((await call('delete', `/sessions/${vicSession.id}`, tokens.admin)).status).toBe(200);
    expect(await (await withCookie('GET', '/status', vic.cookie)).json()).toEqual({ error: 'not signed in (or the session was revoked)' });

    // Idle for longer than admin.session.idleMinutes (3 s here): signed out, although the open page kept
    // reloading itself meanwhile (its timed reloads are marked and are not activity).
    for (let i = 0; i < 7; i++) {
      await new Promise((r) => setTimeout(r, 500));
      const reload = await fetch(`${service.baseUrl}/admin/api/status`, { headers: { cookie: olga.cookie, 'x-background-refresh': '1' } });
      if (i === 0) expect(reload.status).toBe(200);
    }
    const idle = await withCookie('GET', '/status', olga.cookie);
    expect(idle.status).toBe(401);
    expect(await idle.json()).toEqual({ error: 'signed out after 0 minutes without activity' });

    // The first sign-in from this browser raised an alert; ten failures in a row raise another.
    for (let i = 0; i < 10; i++) await signIn('vic', '123456');
    const store = await openStore(storeUrl);
    const kinds = (await openAlerts(store.db)).map((a) => a.kind);
    expect(kinds).toEqual(expect.arrayContaining(['admin_new_device', 'admin_signin_failures']));
    expect((await listAudit(store, { action: 'signin' })).map((r) => r.action)).toEqual(expect.arrayContaining(['signin.success', 'signin.failure']));
    await store.close();
    // Past 20 failures in ten minutes the address is refused outright, even with the right code.
    for (let i = 0; i < 9; i++) await signIn('vic', '123456');
    const limited = await signIn('vic');
    expect(limited).toMatchObject({ status: 429, body: { error: expect.stringMatching(/too many failed sign-ins from this address; try again in \d+ minutes/) } });
  });
});
