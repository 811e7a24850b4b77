// Roles and people's sessions, on both stores: who may do what (written out by hand, every pair),
// and sessions that end when idle, when old, when revoked or when the account is disabled, that
// list and revoke only their owner's (an admin's: anyone's), and whose CSRF token must match.
import { beforeEach, describe, expect, it } from 'vitest';
import { addUser, disableUser, roleAllows, ROLES, type Role } from '../../../core/admin/accounts.js';
import { csrfMatches, listSessions, openSession, revokeSession, revokeSessionsOf, sessionFor } from '../../../core/admin/sessions.js';
import type { Store } from '../../../core/store/store.js';
import { freshStorePerTest } from '../../helpers/store-per-test.js';
import { STORE_KINDS } from '../../helpers/stores.js';

describe('roleAllows', () => {
  // [role, needed, allowed]: the README's viewer < operator < admin, each pair stated.
  const TABLE: Array<[Role, Role, boolean]> = [
    ['viewer', 'viewer', true],
    ['viewer', 'operator', false],
    ['viewer', 'admin', false],
    ['operator', 'viewer', true],
    ['operator', 'operator', true],
    ['operator', 'admin', false],
    ['admin', 'viewer', true],
    ['admin', 'operator', true],
    ['admin', 'admin', true],
  ];
  it.each(TABLE)('%s doing what needs %s: %s', (role, needed, allowed) => {
    expect(roleAllows(role, needed)).toBe(allowed);
  });
  it('knows exactly the three roles, least first', () => {
    expect(ROLES).toEqual(['viewer', 'operator', 'admin']);
  });
});

describe('csrfMatches', () => {
  const session = { id: 's', user: 'u', role: 'viewer' as const, csrfToken: 'the-csrf-token-of-this-session', createdAt: 0, lastSeenAt: 0, ip: '', device: '' };
  it.each([
    ['missing', undefined, false],
    ['empty', '', false],
    ['a prefix of it', 'the-csrf-token', false],
    ['it and more', 'the-csrf-token-of-this-session!', false],
    ['same length, one character off', 'the-csrf-token-of-this-sessioN', false],
    ['exactly it', 'the-csrf-token-of-this-session', true],
  ] as const)('%s: %s', (_case, given, ok) => {
    expect(csrfMatches(session, given)).toBe(ok);
  });
});

describe.each(STORE_KINDS)('sessions on %s', (kind) => {
  const fresh = freshStorePerTest(kind);
  let store: Store;
  const LIMITS = { idleMs: 30 * 60_000, absoluteMs: 12 * 3_600_000 };
  const T0 = 1_800_000_000_000;
  beforeEach(async () => {
    store = fresh.store;
    await addUser(store, { name: 'vic', role: 'viewer', password: 'a long enough password' });
    await addUser(store, { name: 'olga', role: 'operator', password: 'a long enough password' });
  });
  const open = (user: string, role: Role, at = T0, device = 'Browser/1') => openSession(store, { user, role, ip: '192.0.2.7', device }, at);

  it('a cookie finds its session; an unknown cookie finds none; the store keeps only a hash of it', async () => {
    const { cookie, session } = await open('vic', 'viewer');
    expect(await sessionFor(store, cookie, LIMITS, T0 + 1000)).toMatchObject({ session: { id: session.id, user: 'vic', role: 'viewer', csrfToken: session.csrfToken } });
    expect(await sessionFor(store, `${cookie}x`, LIMITS, T0 + 1000)).toEqual({ expired: 'not signed in (or the session was revoked)' });
    const rows = await store.db.selectFrom('admin_sessions').selectAll().execute();
    expect(JSON.stringify(rows)).not.toContain(cookie);
  });

  it('ends after the idle time without activity, but not a moment before; activity moves it on, background reloads do not', async () => {
    const { cookie } = await open('vic', 'viewer');
    expect(await sessionFor(store, cookie, LIMITS, T0 + LIMITS.idleMs)).toHaveProperty('session');
    // That was activity: the idle time now counts from T0 + idle.
    expect(await sessionFor(store, cookie, LIMITS, T0 + 2 * LIMITS.idleMs - 1, false)).toHaveProperty('session');
    // The background reload above was not activity: one millisecond later than idle after the last activity, it is over.
    expect(await sessionFor(store, cookie, LIMITS, T0 + 2 * LIMITS.idleMs + 1)).toEqual({ expired: 'signed out after 30 minutes without activity' });
  });

  it('ends after the absolute time however active it was', async () => {
    const { cookie } = await open('vic', 'viewer');
    for (let t = T0 + LIMITS.idleMs / 2; t <= T0 + LIMITS.absoluteMs; t += LIMITS.idleMs / 2) expect(await sessionFor(store, cookie, LIMITS, t), `at ${t - T0}`).toHaveProperty('session');
    expect(await sessionFor(store, cookie, LIMITS, T0 + LIMITS.absoluteMs + 1)).toEqual({ expired: 'signed out: sessions last at most 12 hours' });
  });

  it('ends when the account is disabled, and takes the role the account has now', async () => {
    const { cookie } = await open('olga', 'operator');
    await store.db.updateTable('admin_users').set({ role: 'viewer' }).where('name', '=', 'olga').execute();
    expect(await sessionFor(store, cookie, LIMITS, T0 + 1)).toMatchObject({ session: { role: 'viewer' } });
    await disableUser(store, 'olga');
    expect(await sessionFor(store, cookie, LIMITS, T0 + 2)).toEqual({ expired: 'the account is disabled' });
  });

  it('says whether a device is new for this person: same address and browser is not, another browser is', async () => {
    expect((await open('vic', 'viewer')).newDevice).toBe(true);
    expect((await open('vic', 'viewer')).newDevice).toBe(false);
    expect((await open('vic', 'viewer', T0, 'Other/2')).newDevice).toBe(true);
    expect((await open('olga', 'operator')).newDevice).toBe(true);
  });

  it('keeps at most 300 characters of a browser name, so a huge User-Agent cannot bloat the store', async () => {
    await open('vic', 'viewer', T0, 'B'.repeat(1000));
    expect((await listSessions(store, {}, LIMITS, T0 + 1))[0]!.device).toBe('B'.repeat(300));
  });

  it("lists one person's live sessions, everyone's without a filter, nobody's for an empty name", async () => {
    const vic = await open('vic', 'viewer');
    const olga = await open('olga', 'operator');
    const old = await open('olga', 'operator', T0 - LIMITS.idleMs - 1);
    await revokeSession(store, olga.session.id, { user: 'olga', anyUser: false });
    const now = T0 + 1;
    expect((await listSessions(store, { user: 'vic' }, LIMITS, now)).map((s) => s.id)).toEqual([vic.session.id]);
    expect((await listSessions(store, {}, LIMITS, now)).map((s) => s.id)).toEqual([vic.session.id]);
    expect(await listSessions(store, { user: '' }, LIMITS, now)).toEqual([]);
    const listed = (await listSessions(store, {}, LIMITS, now))[0]!;
    expect(listed).not.toHaveProperty('csrfToken');
    expect(listed).toEqual({ id: vic.session.id, user: 'vic', role: 'viewer', createdAt: T0, lastSeenAt: T0, ip: '192.0.2.7', device: 'Browser/1' });
    expect(old.session.id).not.toBe(olga.session.id);
  });

  it("revokes only the owner's session unless told any user; a revoked cookie no longer works", async () => {
    const vic = await open('vic', 'viewer');
    expect(await revokeSession(store, vic.session.id, { user: 'olga', anyUser: false })).toBe(false);
    expect(await sessionFor(store, vic.cookie, LIMITS, T0 + 1)).toHaveProperty('session');
    expect(await revokeSession(store, vic.session.id, { user: 'olga', anyUser: true })).toBe(true);
    expect(await sessionFor(store, vic.cookie, LIMITS, T0 + 2)).toEqual({ expired: 'not signed in (or the session was revoked)' });
    const own = await open('vic', 'viewer');
    expect(await revokeSession(store, own.session.id, { user: 'vic', anyUser: false })).toBe(true);
    expect(await revokeSession(store, 'no-such-session', { user: 'vic', anyUser: true })).toBe(false);
  });

  it("ends every other session of a person (after a password change), and only theirs", async () => {
    const kept = await open('vic', 'viewer');
    const other = await open('vic', 'viewer', T0, 'Phone/1');
    const olga = await open('olga', 'operator');
    expect(await revokeSessionsOf(store, 'vic', kept.session.id)).toBe(1);
    expect(await sessionFor(store, kept.cookie, LIMITS, T0 + 1)).toHaveProperty('session');
    expect(await sessionFor(store, other.cookie, LIMITS, T0 + 1)).toHaveProperty('expired');
    expect(await sessionFor(store, olga.cookie, LIMITS, T0 + 1)).toHaveProperty('session');
    expect(await revokeSessionsOf(store, 'vic')).toBe(1);
    expect(await sessionFor(store, kept.cookie, LIMITS, T0 + 2)).toHaveProperty('expired');
  });
});
