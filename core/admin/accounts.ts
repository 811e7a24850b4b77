// Admin accounts and API tokens. Passwords are hashed with scrypt (memory-hard); two-step
// verification by TOTP is mandatory for every account, with single-use recovery codes; repeated
// failures lock the account for a while. TOTP secrets must be readable to check codes, so they
// cannot be hashed: with a secrets key they are sealed (AES-256-GCM) in the store. API tokens
// are random, stored only as a hash, scoped to a role and expiring.
import { createHash, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import { Secret, TOTP } from 'otpauth';
import PQueue from 'p-queue';
import type { ZxcvbnFactory } from '@zxcvbn-ts/core';
import { SyncError } from '../errors.js';
import { passphraseFrom, sealSecret, unsealSecret } from '../passphrase-seal.js';
import type { Store } from '../store/types.js';

export const ROLES = ['viewer', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/**
 * Permissions a token may hold beside its role: `send` lets it use the outbound API
 * (POST /api/v1/messages). No role implies one: a console admin's token sends nothing unless made to.
 */
export const PERMISSIONS = ['send'] as const;
export type Permission = (typeof PERMISSIONS)[number];

function parsePermissions(stored: string): Permission[] {
  return stored.split(',').filter((p): p is Permission => (PERMISSIONS as readonly string[]).includes(p));
}

/** Whether `role` may do what needs `needed` (viewer < operator < admin). */
export function roleAllows(role: Role, needed: Role): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(needed);
}

/** A refused account operation or sign-in; the message is safe to show the person. */
export class AccountError extends SyncError {
  override readonly name = 'AccountError';
}

const scryptAsync = promisify(scrypt) as (password: string, salt: Buffer, keylen: number, options: { N: number; r: number; p: number; maxmem: number }) => Promise<Buffer>;
const SCRYPT = { N: 1 << 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };
/** Failed sign-ins before the account locks, and for how long. */
export const LOCKOUT = { failures: 5, minutes: 15 } as const;

/**
 * Each scrypt takes 32 MB and a libuv thread for tens of milliseconds, and anyone who can reach
 * the sign-in page can ask for one: at most `concurrent` run at once, and a sign-in that would
 * wait behind more than `waiting` others is turned away at once (SignInBusyError) rather than
 * queued, so a flood of requests holds neither the CPU nor the memory.
 */
export const HASHING = { concurrent: 2, waiting: 32 } as const;
const hashing = new PQueue({ concurrency: HASHING.concurrent });

/** Too many sign-ins are being checked right now; the caller should answer 503 with Retry-After. */
export class SignInBusyError extends SyncError {
  override readonly name = 'SignInBusyError';
  constructor() {
    super('too many sign-ins are being checked right now; try again in a few seconds', { status: 503, retryable: true, retryAfterMs: 2000 });
  }
}

/** How many password hashes are running and waiting now (for tests and metrics). */
export function hashingLoad(): { running: number; waiting: number } {
  return { running: hashing.pending, waiting: hashing.size };
}

function queuedScrypt(password: string, salt: Buffer, keylen: number, params: { N: number; r: number; p: number }, shed: boolean): Promise<Buffer> {
  if (shed && hashing.size >= HASHING.waiting) throw new SignInBusyError();
  return hashing.add(() => scryptAsync(password, salt, keylen, { ...params, maxmem: SCRYPT.maxmem }));
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await queuedScrypt(password, salt, 32, SCRYPT, false);
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

/** `shed`: refuse with SignInBusyError instead of waiting when the hashing queue is full (sign-ins). */
export async function passwordMatches(password: string, stored: string, shed = false): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64');
  const actual = await queuedScrypt(password, Buffer.from(salt, 'base64'), expected.length, { N: Number(n), r: Number(r), p: Number(p) }, shed);
  return timingSafeEqual(actual, expected);
}

/** A hash no password matches: checked instead of a real one, so every refusal costs the same. */
let placeholderHash: Promise<string> | undefined;
function placeholder(): Promise<string> {
  placeholderHash ??= hashPassword(randomBytes(32).toString('base64'));
  return placeholderHash;
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * The stored TOTP secrets cannot be opened (sealed, and the key is missing or wrong): nobody can
 * sign in until an operator fixes the key. Not the person's fault, so not an AccountError.
 */
export class TwoStepSecretsError extends SyncError {
  override readonly name = 'TwoStepSecretsError';
}

export const SECRETS_KEY_ENV = 'WA_CRM_SYNC_SECRETS_KEY';

/** The key that seals TOTP secrets, from WA_CRM_SYNC_SECRETS_KEY or admin.secretsKeyFile; undefined when neither is set. */
export function secretsKey(env: NodeJS.ProcessEnv, keyFile: string | undefined): Promise<string | undefined> {
  return passphraseFrom({ env, envName: SECRETS_KEY_ENV, keyFile, makeError: (message) => new TwoStepSecretsError(`secrets key: ${message}`) });
}

const SEALED_PREFIX = 'sealed:';
const TOTP_SECRET_MAGIC = Buffer.from('WACSTS01');

async function storedSecret(secret: string, key: string | undefined): Promise<string> {
  return key ? `${SEALED_PREFIX}${(await sealSecret(key, TOTP_SECRET_MAGIC, Buffer.from(secret))).toString('base64')}` : secret;
}

export function isSealedSecret(stored: string): boolean {
  return stored.startsWith(SEALED_PREFIX);
}

async function openSecret(stored: string, key: string | undefined): Promise<string> {
  if (!isSealedSecret(stored)) return stored;
  if (!key) throw new TwoStepSecretsError(`the TOTP secrets are sealed but no key is set: set ${SECRETS_KEY_ENV} (or admin.secretsKeyFile) to the key they were sealed with`);
  const plain = await unsealSecret(key, TOTP_SECRET_MAGIC, Buffer.from(stored.slice(SEALED_PREFIX.length), 'base64'));
  if (!plain) throw new TwoStepSecretsError(`the TOTP secrets cannot be opened with this key: set ${SECRETS_KEY_ENV} (or admin.secretsKeyFile) to the key they were sealed with`);
  return plain.toString();
}

const TOTP_PERIOD_SECONDS = 30;

function totpFor(name: string, secret: string): TOTP {
  return new TOTP({ issuer: 'wa-crm-sync', label: name, secret: Secret.fromBase32(secret), algorithm: 'SHA1', digits: 6, period: TOTP_PERIOD_SECONDS });
}

export interface Enrolment {
  /** The otpauth:// URI an authenticator app reads (from a QR code). */
  readonly totpUri: string;
  /** Shown once; each works once instead of a code. */
  readonly recoveryCodes: readonly string[];
}

/**
 * Recovery codes are 40 random bits: unsalted SHA-256 would fall to a table in hours. Each is
 * stored as `rc1$SALT$HASH`, scrypt (a lighter cost than passwords: ten are made at once) of the
 * code's SHA-256 under one salt per account, so a sign-in hashes the code given once and compares.
 * Hashing the SHA-256 rather than the code lets migration 0008 convert hashes stored before.
 */
export const RECOVERY_SCRYPT = { N: 1 << 14, r: 8, p: 1 } as const;
const RECOVERY_CODE = /^[0-9a-f]{5}-[0-9a-f]{5}$/;

export async function recoveryCodeHash(codeSha256: string, salt: Buffer): Promise<string> {
  return `rc1$${salt.toString('base64')}$${(await queuedScrypt(codeSha256, salt, 32, RECOVERY_SCRYPT, false)).toString('base64')}`;
}

/** The stored entry the code matches, if any (one hash, whatever the number of codes left). */
async function matchingRecoveryCode(stored: readonly string[], code: string): Promise<string | undefined> {
  const normalised = code.toLowerCase();
  const salt = stored[0]?.split('$')[1];
  if (!RECOVERY_CODE.test(normalised) || salt === undefined) return undefined;
  const expected = Buffer.from(await recoveryCodeHash(sha256(normalised), Buffer.from(salt, 'base64')));
  return stored.find((entry) => entry.length === expected.length && timingSafeEqual(Buffer.from(entry), expected));
}

async function newEnrolment(name: string): Promise<{ secret: string; enrolment: Enrolment; codeHashes: string[] }> {
  const secret = new Secret({ size: 20 }).base32;
  const recoveryCodes = Array.from({ length: 10 }, () => randomBytes(5).toString('hex').replace(/(.{5})/, '$1-'));
  const salt = randomBytes(16);
  const codeHashes = await Promise.all(recoveryCodes.map((c) => recoveryCodeHash(sha256(c), salt)));
  return { secret, enrolment: { totpUri: totpFor(name, secret).toString(), recoveryCodes }, codeHashes };
}

/**
 * Length alone lets `passwordpassword` and `qwertyuiop123` through. zxcvbn (the maintained
 * TypeScript port) scores a password against common passwords, English words and names,
 * keyboard walks, repeats and dates, and the account's own name: we ask for a 3 of 4 or better,
 * "safely unguessable: moderate protection from offline slow-hash attacks".
 */
let strength: Promise<ZxcvbnFactory> | undefined;
export const MIN_PASSWORD_SCORE = 3;

/**
 * Its dictionaries are 12 MB of heap, loaded on the first password set: a service that never
 * sets one does not carry them, and every full garbage collection of the thread that answers
 * webhooks has that much less to mark (issue 26).
 */
function passwordStrength(): Promise<ZxcvbnFactory> {
  strength ??= Promise.all([import('@zxcvbn-ts/core'), import('@zxcvbn-ts/language-common'), import('@zxcvbn-ts/language-en')]).then(
    ([{ ZxcvbnFactory }, commonPasswords, englishWords]) =>
      new ZxcvbnFactory({ dictionary: { ...commonPasswords.dictionary, ...englishWords.dictionary }, graphs: commonPasswords.adjacencyGraphs, translations: englishWords.translations }),
  );
  return strength;
}

async function checkPassword(password: string, name?: string): Promise<void> {
  if (password.length < 12) throw new AccountError('the password must have at least 12 characters');
  const result = (await passwordStrength()).check(password, name ? [name, 'wa-crm-sync', 'whatsapp'] : ['wa-crm-sync', 'whatsapp']);
  if (result.score < MIN_PASSWORD_SCORE) {
    const why = [result.feedback.warning, ...result.feedback.suggestions].filter(Boolean).join(' ');
    throw new AccountError(`the password is too easy to guess${why ? `: ${why}` : ''}; a few unrelated words make a strong one`);
  }
}

/** Adds an account; `key` (secretsKey) seals its TOTP secret in the store. */
export async function addUser(store: Store, input: { name: string; role: Role; password: string }, key?: string, now = Date.now()): Promise<Enrolment> {
  if (!/^[a-z0-9][a-z0-9._-]{1,63}$/i.test(input.name)) throw new AccountError('a user name is 2 to 64 letters, digits, dots, dashes or underscores');
  await checkPassword(input.password, input.name);
  const existing = await store.db.selectFrom('admin_users').select('name').where('name', '=', input.name).executeTakeFirst();
  if (existing) throw new AccountError(`user ${input.name} exists already`);
  const { secret, enrolment, codeHashes } = await newEnrolment(input.name);
  await store.db
    .insertInto('admin_users')
    .values({ name: input.name, role: input.role, password_hash: await hashPassword(input.password), totp_secret: await storedSecret(secret, key), recovery_codes: JSON.stringify(codeHashes), disabled: 0, failed_attempts: 0, locked_until: null, created_at: now, last_login_at: null })
    .execute();
  return enrolment;
}

export async function listUsers(store: Store): Promise<Array<{ name: string; role: Role; disabled: boolean; lockedUntil: number | null; lastLoginAt: number | null; recoveryCodesLeft: number; secretSealed: boolean }>> {
  const rows = await store.db.selectFrom('admin_users').selectAll().orderBy('name').execute();
  return rows.map((r) => ({ name: r.name, role: r.role, disabled: r.disabled === 1, lockedUntil: r.locked_until, lastLoginAt: r.last_login_at, recoveryCodesLeft: (JSON.parse(r.recovery_codes) as string[]).length, secretSealed: isSealedSecret(r.totp_secret) }));
}

async function requireUser(store: Store, name: string) {
  const user = await store.db.selectFrom('admin_users').selectAll().where('name', '=', name).executeTakeFirst();
  if (!user) throw new AccountError(`no user ${name}`);
  return user;
}

/** Disables an account and revokes every token it owns (made by its sessions, or by its tokens); returns how many tokens. */
export async function disableUser(store: Store, name: string): Promise<{ tokensRevoked: number }> {
  await requireUser(store, name);
  await store.db.updateTable('admin_users').set({ disabled: 1 }).where('name', '=', name).execute();
  // Tokens check their owner at every use too; revoking them keeps them dead if the account is enabled again.
  const owned = await store.db.selectFrom('api_tokens').select('id').where('owner', '=', name).execute();
  return { tokensRevoked: await revokeTokenTree(store, owned.map((t) => t.id)) };
}

/** A new TOTP secret and recovery codes (the old ones stop working); also lifts a lockout. */
export async function resetTwoFactor(store: Store, name: string, key?: string): Promise<Enrolment> {
  await requireUser(store, name);
  const { secret, enrolment, codeHashes } = await newEnrolment(name);
  await store.db.updateTable('admin_users').set({ totp_secret: await storedSecret(secret, key), totp_last_step: null, recovery_codes: JSON.stringify(codeHashes), failed_attempts: 0, locked_until: null }).where('name', '=', name).execute();
  return enrolment;
}

/** Why a sign-in was refused: for the audit trail only; the person always reads the same message. */
export type SignInRefusal = 'unknown user' | 'disabled' | 'locked' | 'wrong password or code' | 'locked meanwhile or code already used';

/**
 * A refused sign-in. Every cause (no such user, disabled, locked, wrong password or code) reads
 * the same and costs the same work, so the answer tells an outsider nothing about the account.
 */
export class SignInRefusedError extends AccountError {
  constructor(
    readonly reason: SignInRefusal,
    /** This failure locked the account. */
    readonly lockedNow = false,
  ) {
    super('wrong user name, password or code');
  }
}

/**
 * Takes one of the account's LOCKOUT.failures attempts before anything is checked: the count
 * moves in the store, in one statement, so attempts running at once cannot all read the same
 * count (each would write back old + 1). False when the account is disabled, locked, or every
 * attempt is taken by failures and attempts still being checked.
 */
async function reserveAttempt(store: Store, name: string, now: number): Promise<boolean> {
  const result = await store.db
    .updateTable('admin_users')
    .set((eb) => ({ failed_attempts: eb('failed_attempts', '+', 1) }))
    .where('name', '=', name)
    .where('disabled', '=', 0)
    .where('failed_attempts', '<', LOCKOUT.failures)
    .where((eb) => eb.or([eb('locked_until', 'is', null), eb('locked_until', '<=', now)]))
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/** Gives a reserved attempt back: the check could not run, which is not the person's failure. */
async function releaseAttempt(store: Store, name: string): Promise<void> {
  await store.db.updateTable('admin_users').set((eb) => ({ failed_attempts: eb('failed_attempts', '-', 1) })).where('name', '=', name).where('failed_attempts', '>', 0).execute();
}

/** The reserved attempt failed (it stays counted); locks the account once the failures reach the limit. True when this locked it. */
async function lockIfExhausted(store: Store, name: string, now: number): Promise<boolean> {
  const result = await store.db
    .updateTable('admin_users')
    .set({ failed_attempts: 0, locked_until: now + LOCKOUT.minutes * 60_000 })
    .where('name', '=', name)
    .where('failed_attempts', '>=', LOCKOUT.failures)
    .where((eb) => eb.or([eb('locked_until', 'is', null), eb('locked_until', '<=', now)]))
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/**
 * Checks a sign-in: password and a current TOTP code (or an unused recovery code). Each attempt
 * holds one of the account's attempt slots while it is checked, and failures lock the account;
 * every refusal reads alike (SignInRefusedError) and costs one password hash. Throws
 * SignInBusyError when too many hashes are waiting. With `key`, a secret still stored in clear
 * is sealed once the person has signed in.
 */
export async function verifySignIn(store: Store, input: { name: string; password: string; code: string }, key?: string, now = Date.now()): Promise<{ name: string; role: Role; usedRecoveryCode: boolean }> {
  const user = await store.db.selectFrom('admin_users').selectAll().where('name', '=', input.name).executeTakeFirst();
  const reserved = user !== undefined && (await reserveAttempt(store, user.name, now));
  const refusal: SignInRefusal = !user ? 'unknown user' : user.disabled === 1 ? 'disabled' : 'locked';
  let passwordOk: boolean;
  let secret: string;
  try {
    // Unknown, disabled and locked accounts cost a hash too, against one no password matches.
    passwordOk = await passwordMatches(input.password, reserved ? user.password_hash : await placeholder(), true);
    if (!reserved) throw new SignInRefusedError(refusal);
    secret = await openSecret(user.totp_secret, key);
  } catch (error) {
    if (reserved && !(error instanceof SignInRefusedError)) await releaseAttempt(store, user.name);
    throw error;
  }
  const code = input.code.trim();
  const delta = /^\d{6}$/.test(code) ? totpFor(user.name, secret).validate({ token: code, window: 1, timestamp: now }) : null;
  // A code seen once (over a shoulder, by a phishing page relaying it) must not sign in again.
  const step = delta === null ? null : Math.floor(now / 1000 / TOTP_PERIOD_SECONDS) + delta;
  const totpOk = step !== null && (user.totp_last_step === null || step > user.totp_last_step);
  const codes = JSON.parse(user.recovery_codes) as string[];
  const usedCode = totpOk ? undefined : await matchingRecoveryCode(codes, code);
  const recovery = usedCode !== undefined;
  const fail = async (reason: SignInRefusal) => new SignInRefusedError(reason, await lockIfExhausted(store, user.name, now));
  if (!passwordOk || !(totpOk || recovery)) throw await fail('wrong password or code');
  let accept = store.db
    .updateTable('admin_users')
    .set({
      failed_attempts: 0,
      locked_until: null,
      last_login_at: now,
      ...(recovery ? { recovery_codes: JSON.stringify(codes.filter((c) => c !== usedCode)) } : { totp_last_step: step }),
      ...(key && !isSealedSecret(user.totp_secret) ? { totp_secret: await storedSecret(secret, key) } : {}),
    })
    .where('name', '=', user.name)
    // Attempts running beside this one may have locked the account meanwhile: the lock wins.
    .where((eb) => eb.or([eb('locked_until', 'is', null), eb('locked_until', '<=', now)]))
    .where('disabled', '=', 0);
  // Two sign-ins racing with one code (or one recovery code): only the first changes the row.
  accept = recovery ? accept.where('recovery_codes', '=', user.recovery_codes) : accept.where((eb) => eb.or([eb('totp_last_step', 'is', null), eb('totp_last_step', '<', step!)]));
  if (Number((await accept.executeTakeFirst()).numUpdatedRows) === 0) throw await fail('locked meanwhile or code already used');
  return { name: user.name, role: user.role, usedRecoveryCode: recovery };
}

/**
 * A person changes their own password. The current password and a fresh TOTP code (or a recovery
 * code) prove it is them; like a sign-in, failures count towards the lockout.
 */
export async function changePassword(store: Store, input: { name: string; currentPassword: string; newPassword: string; code: string }, key?: string, now = Date.now()): Promise<void> {
  await checkPassword(input.newPassword, input.name);
  if (input.newPassword === input.currentPassword) throw new AccountError('the new password must differ from the current one');
  await verifySignIn(store, { name: input.name, password: input.currentPassword, code: input.code }, key, now);
  await store.db.updateTable('admin_users').set({ password_hash: await hashPassword(input.newPassword) }).where('name', '=', input.name).execute();
}

/** An admin sets someone's password (it was forgotten); two-step verification stays as it was. */
export async function setPassword(store: Store, name: string, password: string): Promise<void> {
  await requireUser(store, name);
  await checkPassword(password, name);
  await store.db.updateTable('admin_users').set({ password_hash: await hashPassword(password), failed_attempts: 0, locked_until: null }).where('name', '=', name).execute();
}

// ---- API tokens ----

/**
 * Who makes a token. A person (their session) or a token acting for a person makes a token owned
 * by that person: it lives only as long as the account stays enabled, never holds a higher role
 * than the account, and a token made by a token dies with it. The command line (someone with the
 * store's config on the machine) makes tokens owned by nobody.
 */
export type TokenCreator = { readonly user: string } | { readonly token: string } | { readonly cli: string };

function creatorLabel(creator: TokenCreator): string {
  return 'user' in creator ? `user:${creator.user}` : 'token' in creator ? `token:${creator.token}` : creator.cli;
}

export async function createToken(
  store: Store,
  input: { name: string; role: Role; expiresInDays: number; createdBy: TokenCreator; permissions?: readonly Permission[] },
  now = Date.now(),
): Promise<{ id: string; token: string; expiresAt: number; permissions: Permission[] }> {
  if (!(input.expiresInDays > 0 && input.expiresInDays <= 366)) throw new AccountError('a token expires in 1 to 366 days');
  const unknown = (input.permissions ?? []).filter((p) => !(PERMISSIONS as readonly string[]).includes(p));
  if (unknown.length > 0) throw new AccountError(`unknown permission ${unknown.join(', ')}; permissions are ${PERMISSIONS.join(', ')}`);
  const permissions = [...new Set(input.permissions ?? [])].sort();
  let expiresAt = now + input.expiresInDays * 86_400_000;
  let owner: string | null = null;
  let parentId: string | null = null;
  if ('token' in input.createdBy) {
    const parent = await store.db.selectFrom('api_tokens').select(['id', 'owner', 'expires_at']).where('id', '=', input.createdBy.token).executeTakeFirst();
    if (!parent) throw new AccountError(`no token ${input.createdBy.token}`);
    ({ owner } = parent);
    parentId = parent.id;
    // A token cannot outlive the one that made it.
    expiresAt = Math.min(expiresAt, parent.expires_at);
  } else if ('user' in input.createdBy) owner = input.createdBy.user;
  if (owner !== null) {
    const account = await store.db.selectFrom('admin_users').select(['role', 'disabled']).where('name', '=', owner).executeTakeFirst();
    if (!account || account.disabled === 1) throw new AccountError(`the account ${owner} is disabled or gone: it cannot make tokens`);
    if (!roleAllows(account.role, input.role)) throw new AccountError(`a token made for ${owner} can have at most the ${account.role} role`);
  }
  const id = randomBytes(6).toString('hex');
  const secret = randomBytes(24).toString('base64url');
  await store.db
    .insertInto('api_tokens')
    .values({ id, name: input.name, role: input.role, hash: sha256(secret), expires_at: expiresAt, created_at: now, created_by: creatorLabel(input.createdBy), owner, parent_id: parentId, last_used_at: null, revoked: 0, permissions: permissions.join(',') })
    .execute();
  return { id, token: `wacs_${id}_${secret}`, expiresAt, permissions };
}

/** Tokens made by a token, made by those, and so on, at most this deep (a loop in edited rows ends here). */
const TOKEN_CHAIN_DEPTH = 32;

/**
 * The token's identity when `Authorization: Bearer` carries a live token; records its last use.
 * Checked at every use, not only when the token was made: the token and every token above it
 * unrevoked and unexpired, and its owner's account enabled, whose role caps the token's.
 */
export async function authenticateToken(store: Store, bearer: string, now = Date.now()): Promise<{ id: string; name: string; role: Role; owner: string | null; permissions: Permission[] } | undefined> {
  const match = /^wacs_([0-9a-f]{12})_([A-Za-z0-9_-]{32})$/.exec(bearer);
  if (!match) return undefined;
  const row = await store.db.selectFrom('api_tokens').selectAll().where('id', '=', match[1]!).executeTakeFirst();
  if (!row || row.revoked === 1 || row.expires_at <= now) return undefined;
  const given = Buffer.from(sha256(match[2]!), 'hex');
  if (!timingSafeEqual(given, Buffer.from(row.hash, 'hex'))) return undefined;
  let role = row.role;
  if (row.owner !== null) {
    const account = await store.db.selectFrom('admin_users').select(['role', 'disabled']).where('name', '=', row.owner).executeTakeFirst();
    if (!account || account.disabled === 1) return undefined;
    if (!roleAllows(account.role, role)) role = account.role;
  }
  let parentId = row.parent_id;
  for (let depth = 0; parentId !== null; depth++) {
    const parent = depth < TOKEN_CHAIN_DEPTH ? await store.db.selectFrom('api_tokens').select(['revoked', 'expires_at', 'parent_id']).where('id', '=', parentId).executeTakeFirst() : undefined;
    if (!parent || parent.revoked === 1 || parent.expires_at <= now) return undefined;
    parentId = parent.parent_id;
  }
  await store.db.updateTable('api_tokens').set({ last_used_at: now }).where('id', '=', row.id).execute();
  return { id: row.id, name: row.name, role, owner: row.owner, permissions: parsePermissions(row.permissions) };
}

export async function listTokens(store: Store): Promise<Array<{ id: string; name: string; role: Role; expiresAt: number; lastUsedAt: number | null; revoked: boolean; createdBy: string; owner: string | null; permissions: Permission[] }>> {
  const rows = await store.db.selectFrom('api_tokens').selectAll().orderBy('created_at').execute();
  return rows.map((r) => ({ id: r.id, name: r.name, role: r.role, expiresAt: r.expires_at, lastUsedAt: r.last_used_at, revoked: r.revoked === 1, createdBy: r.created_by, owner: r.owner, permissions: parsePermissions(r.permissions) }));
}

/** Revokes the tokens with these ids and every token made from them, however deep; returns how many were live. */
async function revokeTokenTree(store: Store, roots: readonly string[]): Promise<number> {
  let revoked = 0;
  let level = [...roots];
  const seen = new Set<string>();
  while (level.length > 0) {
    level = level.filter((id) => !seen.has(id));
    if (level.length === 0) break;
    for (const id of level) seen.add(id);
    revoked += Number((await store.db.updateTable('api_tokens').set({ revoked: 1 }).where('id', 'in', level).where('revoked', '=', 0).executeTakeFirst()).numUpdatedRows);
    level = (await store.db.selectFrom('api_tokens').select('id').where('parent_id', 'in', level).execute()).map((r) => r.id);
  }
  return revoked;
}

/** Revokes a token and every token it made; false when there is no such token. */
export async function revokeToken(store: Store, id: string): Promise<boolean> {
  const found = await store.db.selectFrom('api_tokens').select('id').where('id', '=', id).executeTakeFirst();
  if (!found) return false;
  await revokeTokenTree(store, [id]);
  return true;
}
