// The intake: a SQLite file of its own beside a SQLite store, where the service puts each webhook
// before answering it, and from which the processing thread imports it into webhook_deliveries.
//
// Why (issue 26): the thread acknowledging webhooks committed each one into the store, whose
// single write lock it shares with the processing thread; it waited for processing's turns at the
// thread gate (p99 30-73 ms under load, the whole of the ingest p99). The intake file is written
// by that thread alone, so its commit never waits for another writer.
//
// What keeps the guarantees (a webhook answered 200 is on disk and processed exactly once, even
// across SIGKILL at any point):
// - A row is answered only once the intake's log is flushed to disk (WalSync), as the store's was.
// - Processing imports rows into webhook_deliveries and moves its cursor (in the store's
//   connector_state, so backups hold it) in one transaction: a row is imported once or not at all.
// - Only rows known flushed are imported (the durable mark): after a power cut the intake may lose
//   rows that were committed but not flushed (never answered), and hand their ids out again; had
//   one of them been imported, the cursor would pass over the new row holding its id.
// - Ids are AUTOINCREMENT, so deleting every row never hands an id out again; the cursor is kept
//   per intake file (a generation made with the file), so a file made anew starts from 0.
// - Rows are deleted by the acknowledging thread itself (the file's only writer), in rare batches,
//   and only up to a cursor the processing thread has flushed to disk.
// PostgreSQL has no single write lock: the service writes webhook_deliveries directly there.
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { open } from 'node:fs/promises';
import SQLite from 'better-sqlite3';
import { restrictSqliteFiles, sqliteFiles } from './sqlite-files.js';
import type { Db, Store } from './types.js';
import { WalSync } from './wal-sync.js';

/** A webhook as the intake holds it. */
export interface IntakeRow {
  readonly source: string;
  readonly body: string;
  readonly receivedAt: number;
}

/** Where the store keeps how far it imported which intake file (connector_state, so a backup holds it). */
const CURSOR = { connector: '_service', key: 'intake-imported' } as const;

/**
 * Imported rows are deleted once this many wait, or once this long has passed since the last
 * delete: each delete is a commit on the acknowledging thread, so they are few; and the intake
 * holds message bodies, so they do not linger.
 */
const PRUNE_MIN_ROWS = 1000;
const PRUNE_EVERY_MS = 1000;
/**
 * Rows per delete, each in its own turn of the event loop: a delete of 500 rows took 0.6-1.3 ms
 * (median, on a loaded 2-core machine), so one of 250 holds the answering thread about half that.
 */
const PRUNE_CHUNK_ROWS = 250;

function prepare(database: SQLite.Database): void {
  database.pragma('journal_mode = WAL');
  // NORMAL survives a process crash; the writer flushes the log before each answer (WalSync).
  database.pragma('synchronous = NORMAL');
  database.pragma('busy_timeout = 5000');
}

/** The highest id the intake has ever handed out (0 for a new file). */
function lastIdOf(database: SQLite.Database): number {
  const row = database.prepare("select seq from sqlite_sequence where name = 'intake'").get() as { seq: number } | undefined;
  return row?.seq ?? 0;
}

/** The writing side, on the thread that acknowledges webhooks: the file's only writer. */
export class IntakeWriter {
  readonly path: string;
  /**
   * One BigInt64: the highest id whose commit is flushed to disk. Shared with the processing
   * thread (workerData), which imports no row above it.
   */
  readonly durableMark: SharedArrayBuffer;
  readonly generation: string;
  readonly #database: SQLite.Database;
  readonly #insert: SQLite.Statement<[string, string, number]>;
  readonly #delete: SQLite.Statement<[number]>;
  readonly #append: (rows: readonly IntakeRow[]) => number[];
  readonly #walSync: WalSync;
  readonly #mark: BigInt64Array;
  #lastAppended: number;
  /** How far processing has imported, on disk, as it last said; rows up to here may be deleted. */
  #imported = 0;
  #pruned = 0;
  #lastPruneAt = Date.now();
  readonly #pruneEveryMs: number;
  #pruneScheduled = false;
  #closed = false;

  private constructor(path: string, database: SQLite.Database, walSync: WalSync, pruneEveryMs: number) {
    this.path = path;
    this.#pruneEveryMs = pruneEveryMs;
    this.#database = database;
    this.#walSync = walSync;
    database.exec(`
      create table if not exists intake (id integer primary key autoincrement, source text not null, body text not null, received_at integer not null);
      create table if not exists intake_generation (generation text not null);
    `);
    const existing = database.prepare('select generation from intake_generation').get() as { generation: string } | undefined;
    this.generation = existing?.generation ?? randomUUID();
    if (!existing) database.prepare('insert into intake_generation (generation) values (?)').run(this.generation);
    this.#insert = database.prepare('insert into intake (source, body, received_at) values (?, ?, ?)');
    this.#delete = database.prepare('delete from intake where id <= ?');
    this.#append = database.transaction((rows: readonly IntakeRow[]) => {
      const ids = new Array<number>(rows.length);
      for (let i = 0; i < rows.length; i++) {
        const row = rows[i]!;
        ids[i] = Number(this.#insert.run(row.source, row.body, row.receivedAt).lastInsertRowid);
      }
      return ids;
    });
    this.#lastAppended = lastIdOf(database);
    const lowest = database.prepare('select min(id) as id from intake').get() as { id: number | null };
    this.#pruned = this.#imported = (lowest.id ?? this.#lastAppended + 1) - 1;
    this.durableMark = new SharedArrayBuffer(BigInt64Array.BYTES_PER_ELEMENT);
    this.#mark = new BigInt64Array(this.durableMark);
  }

  /**
   * Opens (or makes) the intake file at `path`. What a process killed before it left in the file
   * was committed, maybe not flushed: it is flushed here before any of it may be imported.
   */
  static async open(path: string, options: { readonly pruneEveryMs?: number } = {}): Promise<IntakeWriter> {
    restrictSqliteFiles(path);
    const database = new SQLite(path);
    prepare(database);
    // The processing thread checkpoints this file between its batches (IntakeReader.checkpoint):
    // a checkpoint inside one of this thread's commits would hold that answer for tens of ms. Past
    // 10,000 pages (processing down) this connection steps in, so the log stays bounded.
    database.pragma('wal_autocheckpoint = 10000');
    const writer = new IntakeWriter(path, database, new WalSync(`${path}-wal`), options.pruneEveryMs ?? PRUNE_EVERY_MS);
    try {
      await writer.flush();
    } catch (error) {
      await writer.close();
      throw error;
    }
    return writer;
  }

  /** Commits the rows (not yet flushed: see flush) and gives their ids, in order. */
  append(rows: readonly IntakeRow[]): number[] {
    const ids = this.#append(rows);
    if (ids.length > 0) this.#lastAppended = ids[ids.length - 1]!;
    return ids;
  }

  /** Resolves once every row appended before the call is on disk; processing may import them from then on. */
  async flush(): Promise<void> {
    const upTo = this.#lastAppended;
    await this.#walSync.flush();
    if (BigInt(upTo) > Atomics.load(this.#mark, 0)) Atomics.store(this.#mark, 0, BigInt(upTo));
  }

  /** Processing has imported this file's rows up to `upTo`, and that is on disk: they may be deleted. */
  imported(generation: string, upTo: number): void {
    if (generation !== this.generation || upTo <= this.#imported) return;
    this.#imported = Math.min(upTo, this.#lastAppended);
    this.#schedulePrune();
  }

  /** Rows acknowledged that processing has not yet said it imported (an upper bound: it says so in batches). */
  waiting(): number {
    return Math.max(0, this.#lastAppended - this.#imported);
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#walSync.close();
    this.#database.close();
  }

  #schedulePrune(): void {
    if (this.#pruneScheduled || this.#closed || this.#imported <= this.#pruned) return;
    this.#pruneScheduled = true;
    const waitMs = this.#imported - this.#pruned >= PRUNE_MIN_ROWS ? 0 : Math.max(0, this.#lastPruneAt + this.#pruneEveryMs - Date.now());
    // At once: after the requests read in this turn of the event loop (their commit goes first).
    if (waitMs === 0) setImmediate(() => this.#pruneChunk());
    else setTimeout(() => this.#pruneChunk(), waitMs).unref();
  }

  #pruneChunk(): void {
    this.#pruneScheduled = false;
    if (this.#closed) return;
    const upTo = Math.min(this.#imported, this.#pruned + PRUNE_CHUNK_ROWS);
    try {
      this.#delete.run(upTo);
    } catch {
      // Busy (another process's checkpoint) or a full disk: the rows stay until the next try.
      this.#lastPruneAt = Date.now();
      this.#schedulePrune();
      return;
    }
    this.#pruned = upTo;
    this.#lastPruneAt = Date.now();
    if (this.#imported > this.#pruned) {
      this.#pruneScheduled = true;
      setImmediate(() => this.#pruneChunk());
    }
  }
}

/** A row read back, with its id. */
export interface IntakeEntry extends IntakeRow {
  readonly id: number;
}

/** The reading side: the processing thread, or a backup. It writes nothing but checkpoints. */
export class IntakeReader {
  readonly generation: string;
  readonly #database: SQLite.Database;
  readonly #rowsAfter: SQLite.Statement<[number, number, number]>;

  private constructor(database: SQLite.Database, generation: string) {
    this.#database = database;
    this.generation = generation;
    this.#rowsAfter = database.prepare('select id, source, body, received_at as receivedAt from intake where id > ? and id <= ? order by id limit ?');
  }

  /** Opens the intake file at `path`; undefined when there is none (or its writer has not made it yet). */
  static open(path: string): IntakeReader | undefined {
    if (!existsSync(path)) return undefined;
    const database = new SQLite(path, { fileMustExist: true });
    try {
      prepare(database);
      const row = database.prepare("select name from sqlite_master where type = 'table' and name = 'intake_generation'").get()
        ? (database.prepare('select generation from intake_generation').get() as { generation: string } | undefined)
        : undefined;
      if (!row) {
        database.close();
        return undefined;
      }
      return new IntakeReader(database, row.generation);
    } catch (error) {
      database.close();
      throw error;
    }
  }

  /** Rows with an id above `after`, up to `upTo`, in order, at most `limit`. */
  rowsAfter(after: number, upTo: number, limit: number): IntakeEntry[] {
    return this.#rowsAfter.all(after, upTo, limit) as IntakeEntry[];
  }

  lastId(): number {
    return lastIdOf(this.#database);
  }

  /** How many rows have an id above `after`. */
  countAfter(after: number): number {
    return (this.#database.prepare('select count(*) as n from intake where id > ?').get(after) as { n: number }).n;
  }

  /** Copies the file's log into it as far as readers allow (passive: never waits for the writer). */
  checkpoint(): void {
    this.#database.pragma('wal_checkpoint(PASSIVE)');
  }

  close(): void {
    this.#database.close();
  }
}

/** How far the store has imported the intake file of `generation` (0 for a file it has not seen). */
export async function intakeCursor(db: Db, generation: string): Promise<number> {
  const row = await db.selectFrom('connector_state').select('value').where('connector', '=', CURSOR.connector).where('key', '=', CURSOR.key).executeTakeFirst();
  if (!row) return 0;
  const cursor = JSON.parse(row.value) as { generation: string; upTo: number };
  return cursor.generation === generation ? cursor.upTo : 0;
}

/**
 * Imports up to `limit` rows of the intake, those not imported yet and at most `upTo` (the
 * highest id known on disk), into webhook_deliveries as pending deliveries, in their order, and
 * moves the cursor in the same transaction. Returns how many, and the cursor after.
 */
export async function importIntake(store: Store, reader: IntakeReader, upTo: number, limit: number): Promise<{ imported: number; upTo: number }> {
  return store.db.transaction().execute(async (tx) => {
    // Read inside the transaction: another importer (a backup beside the service) may have moved it.
    const cursor = await intakeCursor(tx, reader.generation);
    const rows = reader.rowsAfter(cursor, upTo, limit);
    if (rows.length === 0) return { imported: 0, upTo: cursor };
    await tx
      .insertInto('webhook_deliveries')
      .values(rows.map((r) => ({ source: r.source, body: r.body, received_at: r.receivedAt, state: 'pending' as const, problems: null, processed_at: null })))
      .execute();
    const next = rows[rows.length - 1]!.id;
    const value = JSON.stringify({ generation: reader.generation, upTo: next });
    const now = Date.now();
    await tx
      .insertInto('connector_state')
      .values({ ...CURSOR, value, updated_at: now })
      .onConflict((oc) => oc.columns(['connector', 'key']).doUpdateSet({ value, updated_at: now }))
      .execute();
    return { imported: rows.length, upTo: next };
  });
}

/** Webhooks acknowledged into the intake beside `store` that processing has not imported yet (0 without an intake file). */
export async function acknowledgedNotImported(store: Store): Promise<number> {
  if (!store.intakeFile) return 0;
  const reader = IntakeReader.open(store.intakeFile);
  if (!reader) return 0;
  try {
    return reader.countAfter(await intakeCursor(store.db, reader.generation));
  } finally {
    reader.close();
  }
}

/** Flushes the files SQLite keeps for `path` to disk (those there are). */
async function flushFiles(path: string): Promise<void> {
  for (const file of sqliteFiles(path).slice(0, 2)) {
    const handle = await open(file, 'r').catch(() => undefined);
    if (!handle) continue;
    try {
      await handle.datasync();
    } finally {
      await handle.close();
    }
  }
}

/**
 * Imports every webhook the intake beside `store` holds that was acknowledged before the call
 * (from any process: a backup beside the running service, or after it stopped), so a backup
 * taken next holds them. Returns how many were imported. Nothing to do without an intake file.
 */
export async function importAcknowledgedIntake(store: Store): Promise<number> {
  if (!store.intakeFile) return 0;
  const reader = IntakeReader.open(store.intakeFile);
  if (!reader) return 0;
  try {
    // The writer's durable mark is not shared with this process: every row committed before
    // this point is made durable here instead, so none can be lost and its id handed out again.
    const upTo = reader.lastId();
    await flushFiles(store.intakeFile);
    let total = 0;
    for (;;) {
      const { imported } = await importIntake(store, reader, upTo, 500);
      if (imported === 0) break;
      total += imported;
    }
    // The cursor on disk before the service may delete what was imported here.
    await store.durably(async () => undefined);
    return total;
  } finally {
    reader.close();
  }
}
