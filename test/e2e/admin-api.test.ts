// The admin API through the real service process: every route for every role, missing and
// expired tokens, pause and resume persisted and honoured, refusals in the audit trail; and
// the users and tokens commands.
import { execFile, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { URI, type TOTP } from 'otpauth';
import { addUser, createToken, ROLES, type Enrolment, type Role } from '../../core/admin/accounts.js';
import { openAlerts } from '../../core/security/alerts.js';
import { listAudit, verifyAuditTrail } from '../../core/security/audit-trail.js';
import { openStore } from '../../core/store/store.js';
import { ADMIN_ROUTES } from '../../server/admin-api.js';
import { projectRoot, textWebhook } from '../helpers/fixtures.js';
import { Recorder } from '../helpers/recorder.js';
import { holdsFor, outboxOperations, serviceAuditKey, serviceWith, type ServiceProcess, waitFor } from '../helpers/service-process.js';
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

  // What each role SHOULD get on each route, written out by hand (not derived from the server's
  // ADMIN_ROUTES or roleAllows, so a wrong entry in either fails here). 404 is never "allowed":
  // every :id below names a record that exists. Tokens have no password (400 on /me/password)
  // and own no sessions (another person's session is not found for them: 404; an admin revokes any).
  const ROLE_TABLE = `
    method  path                             viewer  operator  admin
    get     /me                              200     200       200
    post    /me/password                     400     400       400
    get     /status                          200     200       200
    get     /activity                        200     200       200
    get     /operations                      200     200       200
    get     /alerts                          200     200       200
    post    /alerts/:id/acknowledge          403     200       200
    post    /alerts/:id/resolve              403     200       200
    get     /scopes                          200     200       200
    get     /history                         200     200       200
    get     /connectors/health               200     200       200
    post    /connectors/webhook/retry        403     200       200
    post    /connectors/webhook/pause        403     200       200
    post    /connectors/webhook/resume       403     200       200
    post    /operations/replay               403     200       200
    get     /operations/:id                  200     200       200
    post    /operations/discard              403     200       200
    get     /trace                           200     200       200
    get     /charts                          200     200       200
    get     /audit                           403     403       200
    get     /users                           403     403       200
    get     /tokens                          403     403       200
    post    /tokens                          403     403       201
    delete  /tokens/:id                      403     403       200
    get     /sessions                        200     200       200
    delete  /sessions/:id                    404     404       200
  `;
  const roleTable = ROLE_TABLE.trim().split('\n').slice(1).map((line) => {
    const [method, path, viewer, operator, admin] = line.trim().split(/\s+/) as [string, string, string, string, string];
    return { method, path, expected: { viewer: Number(viewer), operator: Number(operator), admin: Number(admin) } as Record<Role, number> };
  });

  it('the table covers every admin route the server has, and no other', () => {
    const served = ADMIN_ROUTES.map((r) => `${r.method} ${r.path.replace('/connectors/:id/', '/connectors/webhook/')}`).sort();
    expect(roleTable.map((r) => `${r.method} ${r.path}`).sort()).toEqual(served);
  });

  it('answers every route for every role token as the table says; no token or an expired one gets 401', { timeout: 60_000 }, async () => {
    const signInWithRecoveryCode = async (name: 'olga' | 'vic', code: string) => {
      const res = await fetch(`${service.baseUrl}/admin/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name, password: PASSWORD, code }) });
      expect(res.status, `${name} signs in`).toBe(200);
    };
    const sessionIdOf = async (user: string) => {
      const listed = (await (await call('get', '/sessions', tokens.admin)).json()) as { sessions: Array<{ id: string; user: string }> };
      return listed.sessions.find((x) => x.user === user)!.id;
    };
    const liveToken = async (token: string) => (await call('get', '/me', token)).status === 200;
    const tokenNames = async () => ((await (await call('get', '/tokens', tokens.admin)).json()) as { tokens: Array<{ name: string; revoked: boolean }> }).tokens.filter((t) => !t.revoked).map((t) => t.name);

    const answered: string[] = [];
    const wanted: string[] = [];
    for (const row of roleTable) {
      for (const role of ROLES) {
        // A fresh record for each call that acts on one, so an answer never depends on an earlier call.
        let path = row.path;
        let victimToken: string | undefined;
        if (row.path === '/tokens/:id') {
          const victim = (await (await call('post', '/tokens', tokens.admin, { name: `victim-of-${role}`, role: 'viewer', expiresInDays: 1 })).json()) as { id: string; token: string };
          path = `/tokens/${victim.id}`;
          victimToken = victim.token;
        }
        if (row.path.startsWith('/alerts/:id/')) {
          const store = await openStore(storeUrl);
          const raised = await store.db.insertInto('alerts').values({ kind: 'role_table', dedupe_key: `${role}${row.path}`, severity: 'warning', title: 't', detail: 'd', count: 1, first_at: 1, last_at: 1, notified_at: null, state: 'open', acknowledged_at: null, acknowledged_by: null, resolved_at: null, resolved_by: null, resolution_note: null }).returning('id').executeTakeFirstOrThrow();
          await store.close();
          path = row.path.replace(':id', String(raised.id));
        }
        if (row.path === '/operations/:id') {
          const store = await openStore(storeUrl);
          const op = await store.db.insertInto('outbox').values({ idempotency_key: `webhook:role-table:${role}`, connector: 'webhook', kind: 'role-table', ordering_key: `contact:role-${role}`, payload: '{}', state: 'dead', run_at: 0, attempts: 1, max_attempts: 1, locked_by: null, lease_until: null, last_error: 'x', result: null, created_at: 0, updated_at: 0 }).returning('id').executeTakeFirstOrThrow();
          await store.close();
          path = `/operations/${op.id}`;
        }
        if (row.path === '/trace') path = '/trace?q=%2B447700900001';
        if (row.path === '/sessions/:id') {
          await signInWithRecoveryCode('vic', enrolments.vic.recoveryCodes[ROLES.indexOf(role)]!);
          path = `/sessions/${await sessionIdOf('vic')}`;
        }
        const body = row.method !== 'post' ? undefined : row.path === '/operations/replay' ? { allDead: true } : row.path === '/operations/discard' ? { ids: [1] } : row.path === '/tokens' ? { name: `minted-by-${role}`, role: 'admin', expiresInDays: 1 } : row.path === '/me/password' ? { currentPassword: PASSWORD, newPassword: 'whatever it is now', code: '000000' } : row.path === '/alerts/:id/resolve' ? { note: 'checked' } : {};
        const status = (await call(row.method, path, tokens[role], body)).status;
        answered.push(`${role} ${row.method} ${row.path} ${status}`);
        wanted.push(`${role} ${row.method} ${row.path} ${row.expected[role]}`);
        // A refusal changes nothing; an allowed revoke takes effect.
        if (victimToken) expect(await liveToken(victimToken), `${role}'s delete of a token`).toBe(status !== 200);
      }
      expect((await call(row.method, row.path.replace(':id', '000000000000'))).status, `no token: ${row.method} ${row.path}`).toBe(401);
      expect((await call(row.method, row.path.replace(':id', '000000000000'), tokens.expired)).status, `expired token: ${row.method} ${row.path}`).toBe(401);
    }
    expect(answered).toEqual(wanted);
    // A page of the audit trail is bounded: -1 would mean no limit to SQLite.
    for (const limit of ['-1', '0', '1.5', '5000', 'all']) expect((await call('get', `/audit?limit=${limit}`, tokens.admin)).status, limit).toBe(400);
    expect(((await (await call('get', '/audit?limit=2', tokens.admin)).json()) as { records: unknown[] }).records).toHaveLength(2);
    // Only the admin's mint went through; the viewer's and operator's refused ones left nothing.
    expect((await tokenNames()).filter((n) => n.startsWith('minted-by-'))).toEqual(['minted-by-admin']);
    // A token owns no sessions: a viewer's or operator's token sees nobody's, an admin's sees everyone's.
    await signInWithRecoveryCode('olga', enrolments.olga.recoveryCodes[0]!);
    for (const role of ['viewer', 'operator'] as const) {
      expect(((await (await call('get', '/sessions', tokens[role])).json()) as { sessions: unknown[] }).sessions, `${role} token's sessions`).toEqual([]);
    }
    expect(((await (await call('get', '/sessions', tokens.admin)).json()) as { sessions: Array<{ user: string }> }).sessions.map((x) => x.user)).toContain('olga');
    // The walk ended with a resume (the admin's, after every pause).
    expect(((await (await call('get', '/status', tokens.admin)).json()) as { connectors: Array<{ state: string }> }).connectors[0]!.state).toBe('running');
  });

  it('people signed in get what their role allows, with the same table as tokens for the role routes', { timeout: 30_000 }, async () => {
    // Vic (viewer) and Olga (operator) through cookie sessions: changes carry the CSRF token.
    const open = async (name: 'olga' | 'vic', code: string) => {
      const res = await fetch(`${service.baseUrl}/admin/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name, password: PASSWORD, code }) });
      expect(res.status).toBe(200);
      const { csrfToken } = (await res.json()) as { csrfToken: string };
      const cookie = (res.headers.get('set-cookie') ?? '').split(';')[0]!;
      return (method: string, path: string, body?: unknown) =>
        fetch(`${service.baseUrl}/admin/api${path}`, { method: method.toUpperCase(), headers: { cookie, 'x-csrf-token': csrfToken, 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    };
    const vic = await open('vic', enrolments.vic.recoveryCodes[5]!);
    const olga = await open('olga', enrolments.olga.recoveryCodes[1]!);
    const sessions = async (as: typeof vic) => ((await (await as('get', '/sessions')).json()) as { sessions: Array<{ id: string; user: string }> }).sessions;
    const PEOPLE_TABLE: Array<[string, string, unknown, number, number]> = [
      // method, path, body, vic (viewer), olga (operator)
      ['get', '/status', undefined, 200, 200],
      ['post', '/connectors/webhook/pause', {}, 403, 200],
      ['post', '/connectors/webhook/resume', {}, 403, 200],
      ['post', '/operations/replay', { allDead: true }, 403, 200],
      ['get', '/audit', undefined, 403, 403],
      ['get', '/users', undefined, 403, 403],
      ['get', '/tokens', undefined, 403, 403],
      ['post', '/tokens', { name: 'by-a-person', role: 'admin', expiresInDays: 1 }, 403, 403],
    ];
    for (const [method, path, body, vicStatus, olgaStatus] of PEOPLE_TABLE) {
      expect((await vic(method, path, body)).status, `vic ${method} ${path}`).toBe(vicStatus);
      expect((await olga(method, path, body)).status, `olga ${method} ${path}`).toBe(olgaStatus);
    }
    // Each sees only their own sessions; another's is not found for them; their own one they revoke.
    const vicSessions = await sessions(vic);
    const olgaSessions = await sessions(olga);
    expect(new Set(vicSessions.map((x) => x.user))).toEqual(new Set(['vic']));
    expect(new Set(olgaSessions.map((x) => x.user))).toEqual(new Set(['olga']));
    expect((await vic('delete', `/sessions/${olgaSessions[0]!.id}`)).status).toBe(404);
    expect((await olga('get', '/status')).status).toBe(200);
    const newest = vicSessions[0]!.id;
    expect((await vic('delete', `/sessions/${newest}`)).status).toBe(200);
    expect((await vic('get', '/status')).status).toBe(401);
  });

  it('pauses a connector for every instance until resumed, and writes it all to the audit trail', { timeout: 30_000 }, async () => {
    expect(await (await call('post', '/connectors/webhook/pause', tokens.operator)).json()).toEqual({ connector: 'webhook', paused: true });
    await waitFor(async () => ((await (await fetch(`${service.baseUrl}/readyz`)).json()) as { connectors: Array<{ state: string }> }).connectors[0]!.state === 'paused', 5000, 'the paused state');
    const before = recorder.messages().length;
    await service.deliver(textWebhook({ from: '447700900777', id: 'wamid.PAUSED', timestamp: 1_760_000_000, body: 'while paused' }));
    // Queued for the connector (a running dispatch would take it now), and nothing goes out.
    await waitFor(async () => (await outboxOperations(service, 'webhook', 'pending')) > 0, 10_000, 'the message queued while paused');
    await holdsFor(() => recorder.messages().length === before, 1000, 'nothing sent while paused');
    await call('post', '/connectors/webhook/resume', tokens.operator);
    await waitFor(() => recorder.messages().some((m) => (m.data as { messageId?: string }).messageId === 'wamid.PAUSED'), 10_000, 'the message after resume');

    const store = await openStore(storeUrl);
    const records = await listAudit(store, { limit: 500 });
    expect(records.some((r) => r.action === 'admin.forbidden' && r.actor === 'token:viewer-bot')).toBe(true);
    expect(records.some((r) => r.action === 'admin.unauthenticated')).toBe(true);
    expect(records.filter((r) => r.action === 'connector.pause' && r.actor === 'token:operator-bot').length).toBeGreaterThan(0);
    expect(await verifyAuditTrail(store, await serviceAuditKey(configPath))).toMatchObject({ ok: true });
    await store.close();
  });

  it('adds a user with a QR enrolment and creates a token that works, from the command line', async () => {
    const bin = join(projectRoot, 'bin/wa-crm-sync.js');
    const added = await new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, [bin, 'users', 'add', 'erin', '--role', 'viewer', '--config', configPath]);
      let out = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`exit ${code}: ${out}`))));
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
      child.on('close', (code) => (code === 0 && out.includes('pat: password set; 2 sessions ended') ? resolve() : reject(new Error(`exit ${code}: ${out}`))));
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
