// Signed-in sessions for people using the admin API from a browser: a random id in an
// HttpOnly, SameSite=Strict cookie (stored only as a hash), a CSRF token for every change,
// idle and absolute timeouts, and a list of active sessions that can be revoked.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Store } from '../store/store.js';
import type { Role } from './accounts.js';

export interface SessionLimits {
  readonly idleMs: number;
  readonly absoluteMs: number;
}

export interface Session {
  readonly id: string;
  readonly user: string;
  readonly role: Role;
  readonly csrfToken: string;
  readonly createdAt: number;
  readonly lastSeenAt: number;
  readonly ip: string;
  readonly device: string;
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Opens a session; `newDevice` says whether this user never signed in from this address and browser before. */
export async function openSession(store: Store, input: { user: string; role: Role; ip: string; device: string }, now = Date.now()): Promise<{ cookie: string; session: Session; newDevice: boolean }> {
  const cookie = randomBytes(32).toString('base64url');
  const id = sha256(cookie).slice(0, 32);
  const csrfToken = randomBytes(24).toString('base64url');
  const seen = await store.db.selectFrom('admin_sessions').select('id').where('user', '=', input.user).where('ip', '=', input.ip).where('device', '=', input.device).executeTakeFirst();
  await store.db
    .insertInto('admin_sessions')
    .values({ id, cookie_hash: sha256(cookie), user: input.user, role: input.role, csrf_token: csrfToken, created_at: now, last_seen_at: now, ip: input.ip, device: input.device.slice(0, 300), revoked: 0 })
    .execute();
  return { cookie, session: { id, user: input.user, role: input.role, csrfToken, createdAt: now, lastSeenAt: now, ip: input.ip, device: input.device }, newDevice: seen === undefined };
}

/**
 * The live session a cookie belongs to, or why there is none. Its last use moves on only when
 * `activity` is true: a page left open reloading itself is not a person at the keyboard, and must
 * not hold the idle timeout off.
 */
export async function sessionFor(store: Store, cookie: string, limits: SessionLimits, now = Date.now(), activity = true): Promise<{ session: Session } | { expired: string }> {
  const row = await store.db.selectFrom('admin_sessions').selectAll().where('cookie_hash', '=', sha256(cookie)).executeTakeFirst();
  if (!row || row.revoked === 1) return { expired: 'not signed in (or the session was revoked)' };
  if (now - row.last_seen_at > limits.idleMs) return { expired: `signed out after ${Math.round(limits.idleMs / 60_000)} minutes without activity` };
  if (now - row.created_at > limits.absoluteMs) return { expired: `signed out: sessions last at most ${Math.round(limits.absoluteMs / 3_600_000)} hours` };
  const user = await store.db.selectFrom('admin_users').select(['disabled', 'role']).where('name', '=', row.user).executeTakeFirst();
  if (!user || user.disabled === 1) return { expired: 'the account is disabled' };
  if (activity) await store.db.updateTable('admin_sessions').set({ last_seen_at: now }).where('id', '=', row.id).execute();
  const lastSeenAt = activity ? now : row.last_seen_at;
  return { session: { id: row.id, user: row.user, role: user.role, csrfToken: row.csrf_token, createdAt: row.created_at, lastSeenAt, ip: row.ip, device: row.device } };
}

export function csrfMatches(session: Session, given: string | undefined): boolean {
  if (!given) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(session.csrfToken);
  return a.length === b.length && timingSafeEqual(a, b);
}

export async function listSessions(store: Store, filter: { user?: string }, limits: SessionLimits, now = Date.now()): Promise<Array<Omit<Session, 'csrfToken'>>> {
  let query = store.db.selectFrom('admin_sessions').selectAll().where('revoked', '=', 0).where('last_seen_at', '>', now - limits.idleMs).where('created_at', '>', now - limits.absoluteMs);
  // An empty name filters too (to nothing): only a missing filter lists everyone's.
  if (filter.user !== undefined) query = query.where('user', '=', filter.user);
  return (await query.orderBy('last_seen_at', 'desc').execute()).map((r) => ({ id: r.id, user: r.user, role: r.role, createdAt: r.created_at, lastSeenAt: r.last_seen_at, ip: r.ip, device: r.device }));
}

/** Ends every session of `user` but `except` (after a password change); returns how many. */
export async function revokeSessionsOf(store: Store, user: string, except?: string): Promise<number> {
  let query = store.db.updateTable('admin_sessions').set({ revoked: 1 }).where('user', '=', user).where('revoked', '=', 0);
  if (except) query = query.where('id', '!=', except);
  return Number((await query.executeTakeFirst()).numUpdatedRows);
}

/** Revokes a session (only the owner's own, unless `anyUser`); true when one was revoked. */
export async function revokeSession(store: Store, id: string, by: { user: string; anyUser: boolean }): Promise<boolean> {
  let query = store.db.updateTable('admin_sessions').set({ revoked: 1 }).where('id', '=', id);
  if (!by.anyUser) query = query.where('user', '=', by.user);
  return Number((await query.executeTakeFirst()).numUpdatedRows) > 0;
}
