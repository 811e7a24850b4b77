// The audit trail: append-only records of what people and the service did (backups, restores,
// purges, config reloads, setup, replays, sign-ins), each chained to the one before it with an
// HMAC under a key kept outside the store. Whoever can write the store but lacks the key cannot
// edit, remove or reorder records and recompute the chain; cutting records off the end shows
// against a head published where the store cannot change it (the log, alert sinks, backups).
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { SyncError, errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import type { JsonValue } from '../model/types.js';
import type { Db, Store } from '../store/store.js';

export interface AuditEntry {
  /** Who: `service`, `cli:<os user>`, `user:<name>` or `token:<name>`. */
  readonly actor: string;
  /** What, as a dotted name: `backup`, `restore`, `config.reload`, `setup`, `replay`, `retention.purge`. */
  readonly action: string;
  /** What it was done to (a connector, a file, operation ids), when anything. */
  readonly target?: string;
  /** Details that help later; never secrets or message bodies. */
  readonly detail?: JsonValue;
}

export interface AuditRecord extends Required<Omit<AuditEntry, 'detail'>> {
  readonly seq: number;
  readonly at: number;
  readonly detail: JsonValue;
  readonly prevHash: string;
  readonly hash: string;
}

/** The audit trail's key could not be read or made; the message says where it was looked for. */
export class AuditKeyError extends SyncError {
  override readonly name = 'AuditKeyError';
}

/** The secret that keys the chain, and a short public id of it (so a wrong key is named as such). */
export interface AuditKey {
  readonly secret: Buffer;
  readonly id: string;
}

export const AUDIT_KEY_ENV = 'WA_CRM_SYNC_AUDIT_KEY';
const MIN_KEY_LENGTH = 16;

export function auditKeyFrom(secret: string): AuditKey {
  const bytes = Buffer.from(secret);
  return { secret: bytes, id: createHmac('sha256', bytes).update('wa-crm-sync audit key id').digest('hex').slice(0, 16) };
}

/** security.auditKeyFile, or audit.key in the config file's folder: outside the store and its backups. */
export function auditKeyPath(keyFile: string | undefined, configPath: string): string {
  return keyFile ?? join(dirname(configPath), 'audit.key');
}

/**
 * The audit key: WA_CRM_SYNC_AUDIT_KEY, else the key file (security.auditKeyFile, by default
 * audit.key beside the config). With `create`, a missing file is made (0600, 32 random bytes), so
 * every installation keys its trail from the first start; `wx` keeps two processes starting at
 * once from writing different keys.
 */
export async function loadAuditKey(options: { readonly env: NodeJS.ProcessEnv; readonly keyFile: string; readonly create: boolean }): Promise<AuditKey> {
  const fromEnv = options.env[AUDIT_KEY_ENV];
  if (fromEnv !== undefined && fromEnv !== '') {
    if (fromEnv.length < MIN_KEY_LENGTH) throw new AuditKeyError(`audit key: ${AUDIT_KEY_ENV} is shorter than ${MIN_KEY_LENGTH} characters; use a long random value`);
    return auditKeyFrom(fromEnv);
  }
  let text = await readFile(options.keyFile, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw new AuditKeyError(`audit key: cannot read ${options.keyFile} (${error.code ?? errorMessage(error)}); the service's user must be able to read it`);
  });
  if (text === undefined) {
    if (!options.create) throw new AuditKeyError(`audit key: ${options.keyFile} does not exist and ${AUDIT_KEY_ENV} is not set; give the key the service uses (the service makes the file at its first start)`);
    const made = randomBytes(32).toString('base64url');
    await writeFile(options.keyFile, `${made}\n`, { mode: 0o600, flag: 'wx' }).catch(async (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw new AuditKeyError(`audit key: cannot create ${options.keyFile} (${error.code ?? errorMessage(error)}); make its folder writable or set ${AUDIT_KEY_ENV}`);
    });
    text = await readFile(options.keyFile, 'utf8');
  }
  const secret = text.trim();
  if (secret.length < MIN_KEY_LENGTH) throw new AuditKeyError(`audit key: ${options.keyFile} holds fewer than ${MIN_KEY_LENGTH} characters; put a long random value in it`);
  return auditKeyFrom(secret);
}

const GENESIS = '0'.repeat(64);
/** Longest actor and target kept: both can come from a request (a path, a name typed at sign-in). */
export const AUDIT_TEXT_LIMIT = 200;

function bounded(text: string): string {
  return text.length <= AUDIT_TEXT_LIMIT ? text : `${text.slice(0, AUDIT_TEXT_LIMIT)}… (${text.length} characters)`;
}
/** Where the newest record's number and hash are kept too, so cutting records off the end shows. */
const HEAD = { connector: '_service', key: 'audit-head' } as const;

type Hashed = { seq: number; at: number; actor: string; action: string; target: string; detail: JsonValue };

function recordText(r: Hashed): string {
  return JSON.stringify([r.seq, r.at, r.actor, r.action, r.target, r.detail]);
}

/** Records from before the trail was keyed (key_id null): plain SHA-256, vouched for by the first keyed record after them. */
function legacyHash(prevHash: string, r: Hashed): string {
  return createHash('sha256').update(prevHash).update(recordText(r)).digest('hex');
}

function keyedHash(key: AuditKey, prevHash: string, r: Hashed): string {
  return createHmac('sha256', key.secret).update(prevHash).update(recordText(r)).digest('hex');
}

function sameHex(a: string, b: string): boolean {
  return a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
}

/** The newest record's number and hash: what is published, and what `verify` compares with. */
export interface AuditHead {
  readonly seq: number;
  readonly hash: string;
}

export function formatAuditHead(head: AuditHead): string {
  return `${head.seq}:${head.hash}`;
}

/** Reads `SEQ:HASH` as printed by formatAuditHead (the log's `auditHead`, a backup's header). */
export function parseAuditHead(text: string): AuditHead {
  const match = /^(\d{1,15}):([0-9a-f]{64})$/.exec(text.trim());
  if (!match) throw new AuditKeyError(`"${text.slice(0, 80)}" is not an audit head; write it as SEQ:HASH, as the service logs it (e.g. 42:3f9c…, 64 hex digits)`);
  return { seq: Number(match[1]), hash: match[2]! };
}

/** The newest record, from `db` (a backup's snapshot, an alert's transaction). */
export async function auditHead(db: Db): Promise<AuditHead> {
  const last = await db.selectFrom('audit_trail').select(['seq', 'hash']).orderBy('seq', 'desc').limit(1).executeTakeFirst();
  return last ? { seq: last.seq, hash: last.hash } : { seq: 0, hash: GENESIS };
}

/** Appends one record, chained to the newest one (serialised across instances). */
export async function appendAudit(store: Store, key: AuditKey, entry: AuditEntry, now = Date.now()): Promise<AuditRecord> {
  return store.db.transaction().execute(async (tx) => {
    await store.lockForTransaction(tx, 'audit-trail');
    const last = await tx.selectFrom('audit_trail').select(['seq', 'hash']).orderBy('seq', 'desc').limit(1).executeTakeFirst();
    const base = { seq: (last?.seq ?? 0) + 1, at: now, actor: bounded(entry.actor), action: entry.action, target: bounded(entry.target ?? ''), detail: entry.detail ?? null };
    const prevHash = last?.hash ?? GENESIS;
    const hash = keyedHash(key, prevHash, base);
    await tx.insertInto('audit_trail').values({ seq: base.seq, at: base.at, actor: base.actor, action: base.action, target: base.target, detail: JSON.stringify(base.detail), prev_hash: prevHash, hash, key_id: key.id }).execute();
    const head = JSON.stringify({ seq: base.seq, hash });
    await tx
      .insertInto('connector_state')
      .values({ ...HEAD, value: head, updated_at: now })
      .onConflict((oc) => oc.columns(['connector', 'key']).doUpdateSet({ value: head, updated_at: now }))
      .execute();
    return { ...base, prevHash, hash };
  });
}

/** Appends a record for an action that already happened: a failure to record is logged, never fatal to the action. */
export async function recordAudit(store: Store, key: AuditKey, log: Logger, entry: AuditEntry): Promise<void> {
  await appendAudit(store, key, entry).catch((error: unknown) => log.error({ err: errorMessage(error), action: entry.action }, 'could not append to the audit trail'));
}

/**
 * Records written before the trail was keyed are vouched for by the first keyed record after
 * them (its HMAC covers their last hash). The service calls this at start, so an upgraded trail
 * is sealed at once rather than at the next action; history itself is never re-hashed.
 */
export async function sealLegacyAudit(store: Store, key: AuditKey): Promise<number> {
  const last = await store.db.selectFrom('audit_trail').select(['seq', 'key_id']).orderBy('seq', 'desc').limit(1).executeTakeFirst();
  if (!last || last.key_id !== null) return 0;
  await appendAudit(store, key, { actor: 'service', action: 'audit.keyed', detail: { legacyRecords: last.seq } });
  return last.seq;
}

export type AuditVerdict =
  | { readonly ok: true; readonly records: number; readonly legacy: number }
  | { readonly ok: false; readonly records: number; readonly firstBad: number; readonly reason: string };

/**
 * Walks the chain from the first record, checking each HMAC with `key`; names the first record
 * that was edited, removed, reordered or forged. `published` are heads seen outside the store
 * (the log, a backup): each must be a record of this trail, with that hash.
 */
export async function verifyAuditTrail(store: Store, key: AuditKey, published: readonly AuditHead[] = []): Promise<AuditVerdict> {
  const rows = await store.db.selectFrom('audit_trail').selectAll().orderBy('seq').execute();
  const bad = (firstBad: number, reason: string): AuditVerdict => ({ ok: false, records: rows.length, firstBad, reason });
  let prevHash = GENESIS;
  let legacy = 0;
  for (const [index, row] of rows.entries()) {
    const expectedSeq = index + 1;
    if (row.seq !== expectedSeq) return bad(expectedSeq, `record ${expectedSeq} is missing (the next one is ${row.seq}): records were removed`);
    if (row.prev_hash !== prevHash) return bad(row.seq, `record ${row.seq} does not follow record ${row.seq - 1}: records were removed, reordered or replaced`);
    const hashed = { seq: row.seq, at: row.at, actor: row.actor, action: row.action, target: row.target, detail: JSON.parse(row.detail) as JsonValue };
    if (row.key_id === null) {
      if (legacy !== index) return bad(row.seq, `record ${row.seq} is not keyed although record ${legacy + 1} before it is: it was written by someone without the audit key`);
      if (!sameHex(legacyHash(prevHash, hashed), row.hash)) return bad(row.seq, `record ${row.seq} (${row.action} by ${row.actor}) was edited after it was written`);
      legacy++;
    } else {
      if (row.key_id !== key.id) return bad(row.seq, `record ${row.seq} was keyed with another audit key (id ${row.key_id}; the key given has id ${key.id}): give the key the service uses (${AUDIT_KEY_ENV} or security.auditKeyFile), or the record was forged`);
      if (!sameHex(keyedHash(key, prevHash, hashed), row.hash)) return bad(row.seq, `record ${row.seq} (${row.action} by ${row.actor}) does not match its HMAC: it was edited, or written by someone without the audit key`);
    }
    prevHash = row.hash;
  }
  if (legacy > 0 && legacy === rows.length) {
    return bad(1, `no record is keyed, so nothing vouches for records 1–${legacy}: start the service once (it seals records from before the audit key); if it already ran with a key, its keyed records were removed`);
  }
  const head = await store.db.selectFrom('connector_state').select('value').where('connector', '=', HEAD.connector).where('key', '=', HEAD.key).executeTakeFirst();
  const expected = head ? (JSON.parse(head.value) as AuditHead) : { seq: 0, hash: GENESIS };
  if (expected.seq !== rows.length || expected.hash !== prevHash) {
    return bad(Math.min(rows.length, expected.seq) + 1, `the trail ends at record ${rows.length} but the last record written was ${expected.seq}: records were cut off the end`);
  }
  for (const seen of published) {
    if (seen.seq > rows.length) return bad(rows.length + 1, `the trail ends at record ${rows.length} but record ${seen.seq} was published: records were cut off the end (and the stored head rewritten)`);
    if (seen.seq > 0 && !sameHex(rows[seen.seq - 1]!.hash, seen.hash)) return bad(seen.seq, `record ${seen.seq} differs from the head published for it: the trail was rewritten from there or before`);
  }
  return { ok: true, records: rows.length, legacy };
}

/** Records, newest first, optionally filtered by action or actor (for listing and export). */
export async function listAudit(store: Store, filter: { action?: string; actor?: string; limit?: number } = {}): Promise<AuditRecord[]> {
  let query = store.db.selectFrom('audit_trail').selectAll().orderBy('seq', 'desc').limit(Math.max(1, filter.limit ?? 100));
  if (filter.action) query = query.where('action', 'like', `${filter.action}%`);
  if (filter.actor) query = query.where('actor', '=', filter.actor);
  return (await query.execute()).map((r) => ({ seq: r.seq, at: r.at, actor: r.actor, action: r.action, target: r.target, detail: JSON.parse(r.detail) as JsonValue, prevHash: r.prev_hash, hash: r.hash }));
}
