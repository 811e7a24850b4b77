// Encrypted, consistent backups of the store, and restores into an empty store. A backup is
// a logical dump (every table, read in one transaction, so it is consistent while the service
// runs), gzipped and sealed with AES-256-GCM under a key derived from a passphrase by scrypt.
// The same format serves SQLite and PostgreSQL, so a backup of one restores into the other.
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { appendFile, open, rename, rm, stat, writeFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import { sql } from 'kysely';
import { isBsuid } from '../model/identity.js';
import { SyncError } from '../errors.js';
import { rebuildOrderingKeys } from '../outbox/key-queue.js';
import { auditHead, formatAuditHead } from '../security/audit-trail.js';
import { passphraseFrom, sealedFraming, sealingStream, unsealingStream } from '../passphrase-seal.js';
import { importAcknowledgedIntake } from './intake.js';
import type { Database } from './schema.js';
import type { Store } from './store.js';

/**
 * Every table a backup holds. `rate_events` is left out: it is a few minutes of rate bookkeeping;
 * `outbox_keys` too: restore rebuilds it from the outbox.
 */
export const BACKUP_TABLES = [
  'webhook_deliveries',
  'contacts',
  'contact_identities',
  'threads',
  'messages',
  'message_statuses',
  'media',
  'media_blobs',
  'outbox',
  'external_refs',
  'connector_state',
  'account_events',
  'alerts',
  'audit_trail',
  'admin_users',
  'api_tokens',
  'admin_sessions',
  'history_chunks',
  'consents',
  'outbound_requests',
] as const satisfies ReadonlyArray<keyof Database>;
export type BackupTable = (typeof BACKUP_TABLES)[number];
/** Tables a backup leaves out: rate bookkeeping, state a restore derives from the other tables, replay keys that live minutes, and the console's queue samples. */
export const UNSAVED_TABLES = ['rate_events', 'outbox_keys', 'webhook_replays', 'queue_samples'] as const satisfies ReadonlyArray<Exclude<keyof Database, BackupTable>>;
/** Tables whose `id` comes from a sequence on PostgreSQL: it must continue after the restored rows. */
const SERIAL_TABLES: readonly BackupTable[] = ['webhook_deliveries', 'outbox', 'account_events', 'alerts'];

const MAGIC = Buffer.from('WACSBK01');
/** Rows fetched per round trip while streaming a table (a PostgreSQL cursor page). */
const STREAM_CHUNK_ROWS = 1000;
const FORMAT = 'wa-crm-sync-backup';

/** A backup that cannot be read or restored; the message says why and what to do. Nothing was changed. */
export class BackupError extends SyncError {
  override readonly name = 'BackupError';
}

interface BackupHeader {
  readonly format: typeof FORMAT;
  readonly version: 1;
  readonly createdAt: string;
  readonly dialect: string;
  readonly counts: Record<string, number>;
  /**
   * The audit trail's head in this snapshot (SEQ:HASH): a backup is sealed with a key the store
   * does not hold, so it keeps the head where the store's writer cannot change it. Absent in
   * backups from before.
   */
  readonly auditHead?: string;
}

/** The passphrase (at least 16 characters) that keys backups, from the environment or a key file. */
export async function backupPassphrase(options: { env: NodeJS.ProcessEnv; keyFile?: string | undefined }): Promise<string> {
  const passphrase = await passphraseFrom({ ...options, envName: 'WA_CRM_SYNC_BACKUP_KEY', makeError: (message) => new BackupError(`backup key: ${message}`) });
  if (passphrase === undefined) throw new BackupError('no backup key: set WA_CRM_SYNC_BACKUP_KEY or backup.keyFile (a file holding a passphrase of at least 16 characters)');
  return passphrase;
}

/**
 * Writes an encrypted backup of the store to `path` (via a temporary file, so a crash leaves no
 * half backup). Rows stream from one consistent snapshot through gzip and the cipher to the file,
 * so memory stays flat however large the store is.
 */
export async function writeBackup(store: Store, path: string, passphrase: string, now = new Date()): Promise<{ bytes: number; counts: Record<string, number> }> {
  const temp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  const sealing = sealingStream(passphrase, MAGIC);
  try {
    // Webhooks acknowledged into the intake file and not yet imported by processing (a few ms
    // of them while the service runs, or all it left when it stopped) go into the store first,
    // so the backup holds every delivery acknowledged before it began (intake.ts).
    await importAcknowledgedIntake(store);
    await writeFile(temp, sealing.head, { mode: 0o600 });
    const counts = await store.readSnapshot(async (db) => {
      const counts: Record<string, number> = {};
      for (const table of BACKUP_TABLES) {
        counts[table] = Number((await db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
      }
      const header: BackupHeader = { format: FORMAT, version: 1, createdAt: now.toISOString(), dialect: store.dialect, counts, auditHead: formatAuditHead(await auditHead(db)) };
      async function* lines(): AsyncGenerator<string> {
        yield JSON.stringify(header);
        for (const table of BACKUP_TABLES) {
          for await (const row of db.selectFrom(table).selectAll().stream(STREAM_CHUNK_ROWS)) yield `\n${JSON.stringify({ table, row })}`;
        }
      }
      await pipeline(Readable.from(lines()), createGzip(), sealing.cipher, createWriteStream(temp, { flags: 'a' }));
      return counts;
    });
    await appendFile(temp, sealing.tag());
    await rename(temp, path);
    return { bytes: (await stat(path)).size, counts };
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

/**
 * The lines of a backup as they are decrypted and unzipped, read from the file in pieces. The
 * authentication tag is checked when the last piece has been read: a wrong key or an altered file
 * throws then (or sooner, when the unzipping fails), so whatever was done with the lines before
 * must be undoable.
 */
async function* backupLines(path: string, passphrase: string): AsyncGenerator<string> {
  const damaged = () => new BackupError(`${path}: the key is wrong or the file is damaged (it failed authentication); nothing was changed`);
  const framing = sealedFraming(MAGIC);
  const file = await open(path).catch((error: Error) => {
    throw new BackupError(`cannot read ${path}: ${error.message}`);
  });
  let head: Buffer;
  let tag: Buffer;
  let size: number;
  try {
    size = (await file.stat()).size;
    head = Buffer.alloc(framing.head);
    tag = Buffer.alloc(framing.tag);
    await file.read(head, 0, framing.head, 0);
    if (size < framing.head + framing.tag || !head.subarray(0, MAGIC.length).equals(MAGIC)) {
      throw new BackupError(`${path} is not a wa-crm-sync backup (or it was cut short); nothing was changed`);
    }
    await file.read(tag, 0, framing.tag, size - framing.tag);
  } finally {
    await file.close();
  }
  const decipher = unsealingStream(passphrase, MAGIC, head, tag);
  const gunzip = createGunzip();
  const source = createReadStream(path, { start: framing.head, end: size - framing.tag - 1 });
  // pipe() does not pass errors on: hand them to the end of the chain, where they are read.
  source.on('error', (error) => gunzip.destroy(error));
  decipher.on('error', (error) => gunzip.destroy(error));
  source.pipe(decipher).pipe(gunzip);
  // Decode across chunk ends: a character of several bytes may be split between two chunks.
  gunzip.setEncoding('utf8');
  let rest = '';
  try {
    for await (const chunk of gunzip) {
      const lines = (rest + (chunk as string)).split('\n');
      rest = lines.pop()!;
      yield* lines;
    }
  } catch {
    throw damaged();
  } finally {
    source.destroy();
  }
  yield rest;
}

function parseHeader(path: string, line: string | undefined): BackupHeader {
  let header: BackupHeader;
  try {
    header = JSON.parse(line ?? '{}') as BackupHeader;
  } catch {
    // Altered bytes can unzip into garbage before the tag is reached.
    throw new BackupError(`${path}: the key is wrong or the file is damaged (its header does not read); nothing was changed`);
  }
  if (header.format !== FORMAT || header.version !== 1) throw new BackupError(`${path}: unknown backup format ${header.format}/${header.version}`);
  return header;
}

/** Checks the key, the file's integrity and its row counts, reading it through once; changes nothing. */
export async function verifyBackup(path: string, passphrase: string): Promise<BackupHeader> {
  let header: BackupHeader | undefined;
  const found: Record<string, number> = {};
  for await (const line of backupLines(path, passphrase)) {
    if (header === undefined) {
      header = parseHeader(path, line);
      continue;
    }
    // Each row line starts {"table":"NAME", as writeBackup writes it.
    const table = /^\{"table":"([a-z_]+)"/.exec(line)?.[1];
    if (table) found[table] = (found[table] ?? 0) + 1;
  }
  if (header === undefined) throw new BackupError(`${path} holds no header; nothing was changed`);
  for (const table of BACKUP_TABLES) {
    if ((found[table] ?? 0) !== (header.counts[table] ?? 0)) throw new BackupError(`${path}: ${table} holds ${found[table] ?? 0} rows where the header says ${header.counts[table]}; nothing was changed`);
  }
  return header;
}

/**
 * A row from a backup an earlier release wrote, as this release's tables hold it: contacts from
 * before BSUIDs get their WhatsApp id as CRM key, and user ids that are BSUIDs move over
 * (what migration 0013 does to a live store).
 */
function rowOfThisRelease(table: BackupTable, row: Record<string, unknown>): Record<string, unknown> {
  if (table === 'contacts' && row['crm_key'] === undefined) {
    const userId = typeof row['user_id'] === 'string' ? row['user_id'] : null;
    const bsuid = userId && isBsuid(userId) ? userId : null;
    return {
      ...row,
      crm_key: row['wa_id'],
      bsuid: bsuid && !bsuid.includes('.ENT.') ? bsuid : null,
      parent_bsuid: bsuid?.includes('.ENT.') ? bsuid : null,
      username: null,
      user_id: bsuid ? null : userId,
    };
  }
  if (table === 'contact_identities' && typeof row['identity'] === 'string' && row['identity'].startsWith('user:') && isBsuid(row['identity'].slice(5))) {
    const id = row['identity'].slice(5);
    return { ...row, identity: `${id.includes('.ENT.') ? 'parent' : 'bsuid'}:${id}` };
  }
  return row;
}

/**
 * Restores a backup into an empty store in one transaction: all of it, or (on any error) nothing.
 * The file is read twice, never whole in memory: once to check key, integrity and counts before
 * anything is touched, once to insert (inside the transaction, which a failed check at the end
 * of that read would still roll back).
 */
export async function restoreBackup(store: Store, path: string, passphrase: string): Promise<{ header: BackupHeader; restored: number }> {
  const header = await verifyBackup(path, passphrase);
  for (const table of BACKUP_TABLES) {
    const { n } = await store.db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    if (Number(n) > 0) throw new BackupError(`the target store is not empty (${n} rows in ${table}); restore only into an empty store: point store.url at a new database and run restore again`);
  }
  let restored = 0;
  await store.db.transaction().execute(async (tx) => {
    let table: BackupTable | undefined;
    let pending: Array<Record<string, unknown>> = [];
    const flush = async () => {
      if (table && pending.length > 0) await tx.insertInto(table).values(pending as never).execute();
      restored += pending.length;
      pending = [];
    };
    let first = true;
    for await (const line of backupLines(path, passphrase)) {
      if (first || line === '') {
        first = false;
        continue;
      }
      const parsed = JSON.parse(line) as { table: BackupTable; row: Record<string, unknown> };
      if (parsed.table !== table) await flush();
      table = parsed.table;
      pending.push(rowOfThisRelease(parsed.table, parsed.row));
      // Chunks keep each statement under SQLite's bound-parameter limit.
      if (pending.length >= Math.max(1, Math.floor(900 / Object.keys(parsed.row).length))) await flush();
    }
    await flush();
    // The outbox's per-key queue state is derived, so it is rebuilt rather than carried in the file.
    await rebuildOrderingKeys(tx);
    if (store.dialect === 'postgres') {
      for (const serial of SERIAL_TABLES) {
        await sql`select setval(pg_get_serial_sequence(${serial}, 'id'), coalesce((select max(id) from ${sql.table(serial)}), 0) + 1, false)`.execute(tx);
      }
    }
  });
  return { header, restored };
}

/** Where the last good backup is remembered (shared by instances, read by the audit). */
const LAST_BACKUP = { connector: '_service', key: 'last-backup' } as const;
const BACKUP_NAME = /^wa-crm-sync-\d{8}T\d{6}Z\.backup$/;

export async function recordBackup(store: Store, info: { path: string; bytes: number; at: number }): Promise<void> {
  const value = JSON.stringify(info);
  await store.db
    .insertInto('connector_state')
    .values({ ...LAST_BACKUP, value, updated_at: info.at })
    .onConflict((oc) => oc.columns(['connector', 'key']).doUpdateSet({ value, updated_at: info.at }))
    .execute();
}

export async function lastBackup(store: Store): Promise<{ path: string; bytes: number; at: number } | undefined> {
  const row = await store.db.selectFrom('connector_state').select('value').where('connector', '=', LAST_BACKUP.connector).where('key', '=', LAST_BACKUP.key).executeTakeFirst();
  return row ? (JSON.parse(row.value) as { path: string; bytes: number; at: number }) : undefined;
}

/** A backup into `dir` named by its time, remembered as the last good one; with `keep`, older scheduled ones are deleted. */
export async function backupToDir(store: Store, dir: string, passphrase: string, keep?: number, now = new Date()): Promise<{ path: string; bytes: number; removed: string[] }> {
  const { mkdir, readdir, rm } = await import('node:fs/promises');
  const { join } = await import('node:path');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, `wa-crm-sync-${now.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '')}.backup`);
  const { bytes } = await writeBackup(store, path, passphrase, now);
  await recordBackup(store, { path, bytes, at: now.getTime() });
  const removed: string[] = [];
  if (keep !== undefined) {
    const backups = (await readdir(dir)).filter((f) => BACKUP_NAME.test(f)).sort();
    for (const old of backups.slice(0, Math.max(0, backups.length - keep))) {
      await rm(join(dir, old), { force: true });
      removed.push(old);
    }
  }
  return { path, bytes, removed };
}
