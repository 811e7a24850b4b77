// Opens the durable store from its URL: `sqlite:PATH` (embedded default) or `postgres://...`
// (several instances behind a load balancer). One Kysely code path serves both.
import SQLite from 'better-sqlite3';
import { CompiledQuery, Kysely, Migrator, PostgresDialect, SqliteDialect, SqliteDriver, sql, type DatabaseConnection, type Driver, type TransactionSettings, type Transaction } from 'kysely';
import pg from 'pg';
import Cursor from 'pg-cursor';
import { ConfigError } from '../errors.js';
import { StaticMigrationProvider } from './migrations.js';
import { intakeFileOf, restrictSqliteFiles } from './sqlite-files.js';
import { ThreadGate, type ThreadGateShare } from './thread-gate.js';
import { WalSync } from './wal-sync.js';
import type { Database } from './schema.js';

export type { Db, Store, StoreDialect } from './types.js';
export { intakeFileOf, sqliteFiles } from './sqlite-files.js';
import type { Store } from './types.js';

function hashLockName(name: string): number {
  let hash = 0;
  for (const char of name) hash = (Math.imul(hash, 31) + char.charCodeAt(0)) | 0;
  return hash;
}

/**
 * better-sqlite3 prepares a statement per call; Kysely sends the same SQL texts again and again.
 * Long texts (multi-row inserts, a new text for each row count) are not kept: they rarely repeat
 * and each holds a large compiled program.
 */
function withStatementCache(database: SQLite.Database, size = 200, maxSqlLength = 1000): { prepare(sql: string): SQLite.Statement; close(): void } {
  const cache = new Map<string, SQLite.Statement>();
  return {
    prepare(sql: string) {
      if (sql.length > maxSqlLength) return database.prepare(sql);
      let statement = cache.get(sql);
      if (statement) {
        // Re-insert: the map's order doubles as least-recently-used order.
        cache.delete(sql);
      } else {
        statement = database.prepare(sql);
        if (cache.size >= size) cache.delete(cache.keys().next().value!);
      }
      cache.set(sql, statement);
      return statement;
    },
    close: () => database.close(),
  };
}

/**
 * SQLite's plain `begin` starts as a reader; when it then writes while another process (a CLI
 * command beside the running service) has committed since its first read, SQLite answers
 * "database is locked" at once instead of waiting out busy_timeout. `begin immediate` takes the
 * write lock up front, so such transactions wait their turn. Read-only transactions (backups)
 * keep plain `begin`, so a long read never holds writers off.
 */
class ImmediateSqliteDriver extends SqliteDriver {
  readonly #gate: ThreadGate | undefined;
  constructor(config: ConstructorParameters<typeof SqliteDriver>[0], gate?: ThreadGate) {
    super(config);
    this.#gate = gate;
  }

  // Kysely hands its one connection to one query or transaction at a time (its own mutex, inside
  // super); the gate then makes this thread's turn wait for another thread's turn on the same file.
  override async acquireConnection(): Promise<DatabaseConnection> {
    const connection = await super.acquireConnection();
    if (this.#gate) {
      try {
        await this.#gate.acquire();
      } catch (error) {
        await super.releaseConnection();
        throw error;
      }
    }
    return connection;
  }

  override async releaseConnection(): Promise<void> {
    this.#gate?.release();
    await super.releaseConnection();
  }

  override async beginTransaction(connection: DatabaseConnection, settings?: TransactionSettings): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(settings?.accessMode === 'read only' ? 'begin' : 'begin immediate'));
  }
}

class ImmediateSqliteDialect extends SqliteDialect {
  readonly #config: ConstructorParameters<typeof SqliteDialect>[0];
  readonly #gate: ThreadGate | undefined;
  constructor(config: ConstructorParameters<typeof SqliteDialect>[0], gate?: ThreadGate) {
    super(config);
    this.#config = config;
    this.#gate = gate;
  }
  override createDriver(): Driver {
    return new ImmediateSqliteDriver(this.#config, this.#gate);
  }
}

function openSqlite(path: string, gate?: ThreadGateShare): Store {
  if (path !== ':memory:') restrictSqliteFiles(path);
  const database = new SQLite(path);
  database.pragma('journal_mode = WAL');
  // NORMAL survives a process crash; durably() flushes the log where a power cut matters too.
  database.pragma('synchronous = NORMAL');
  const walSync = path === ':memory:' ? undefined : new WalSync(`${path}-wal`);
  database.pragma('busy_timeout = 5000');
  const threadGate = gate && new ThreadGate(gate);
  // SQLite checkpoints inside whichever commit passes 1,000 log pages, holding that commit for the
  // copy and two flushes: tens of ms. On the answering thread that would stop its event loop, so
  // its connection leaves checkpoints to the processing thread (whose commits keep the default,
  // the main thread waiting for them without blocking) and only steps in past 10,000 pages, should
  // processing be down: the log stays bounded either way. A passive checkpoint (checkpointLog)
  // between processing's batches does most of the copying beside writers.
  if (gate?.role === 'priority') database.pragma('wal_autocheckpoint = 10000');
  const db = new Kysely<Database>({ dialect: new ImmediateSqliteDialect({ database: withStatementCache(database) }, threadGate) });
  return {
    db,
    turnWanted: () => threadGate?.turnWanted() ?? false,
    checkpointLog: () => {
      if (path !== ':memory:') database.pragma('wal_checkpoint(PASSIVE)');
    },
    dialect: 'sqlite',
    description: `sqlite:${path}`,
    ...(path === ':memory:' ? {} : { intakeFile: intakeFileOf(path) }),
    // The commit itself leaves the log unflushed (synchronous=NORMAL); the flush runs off the
    // event loop afterwards, shared by the commits made meanwhile (wal-sync.ts).
    durably: async (work) => {
      const result = await work(db);
      await walSync?.flush();
      return result;
    },
    async lockForTransaction() {},
    async readSnapshot(work) {
      // WAL: a read transaction sees one snapshot from its first read to its end.
      if (path === ':memory:') return db.transaction().setAccessMode('read only').execute(work);
      const reader = new Kysely<Database>({ dialect: new ImmediateSqliteDialect({ database: new SQLite(path, { fileMustExist: true, timeout: 5000 }) }) });
      try {
        return await reader.transaction().setAccessMode('read only').execute(work);
      } finally {
        await reader.destroy();
      }
    },
    async ping() {
      await sql`select 1`.execute(db);
    },
    async close() {
      await walSync?.close();
      await db.destroy();
    },
  };
}

function openPostgres(url: string): Store {
  const parsed = new URL(url);
  const schema = parsed.searchParams.get('schema');
  parsed.searchParams.delete('schema');
  if (schema !== null && !/^[a-z_][a-z0-9_]*$/.test(schema)) {
    throw new ConfigError(`store.url: schema "${schema}" must be lower-case letters, digits and underscores`);
  }
  const pool = new pg.Pool({
    connectionString: parsed.toString(),
    max: 10,
    // int8 columns hold millisecond times and row ids, all far below 2^53.
    types: {
      getTypeParser: (oid: number, format?: string) =>
        oid === 20 ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format as 'text'),
    },
  });
  const db = new Kysely<Database>({
    dialect: new PostgresDialect({
      pool,
      // Streamed reads (backups) fetch rows in pages through a server-side cursor.
      cursor: Cursor,
      onCreateConnection: async (connection) => {
        if (schema !== null) {
          // Two instances starting together may race to create it; the loser's duplicate-key error is harmless.
          await connection.executeQuery(CompiledQuery.raw(`create schema if not exists "${schema}"`)).catch((error: { code?: string }) => {
            if (error.code !== '23505' && error.code !== '42P06') throw error;
          });
          await connection.executeQuery(CompiledQuery.raw(`set search_path to "${schema}"`));
        }
      },
    }),
  });
  const safe = new URL(parsed.toString());
  if (safe.password) safe.password = '***';
  return {
    db,
    dialect: 'postgres',
    schema: schema ?? 'public',
    turnWanted: () => false,
    checkpointLog: () => {},
    // PostgreSQL commits are durable by default (synchronous_commit = on).
    durably: (work) => work(db),
    description: `${safe.toString()}${schema ? ` (schema ${schema})` : ''}`,
    readSnapshot: (work) => db.transaction().setIsolationLevel('repeatable read').setAccessMode('read only').execute(work),
    async lockForTransaction(tx, name) {
      await sql`select pg_advisory_xact_lock(${hashLockName(name)})`.execute(tx);
    },
    async ping() {
      await sql`select 1`.execute(db);
    },
    async close() {
      await db.destroy();
    },
  };
}

/**
 * Opens the store and brings its tables up to date (or only up to `migrateUpTo`, a migration
 * name: how the migration tests build a store as an earlier release left it). `threadGate` joins
 * the threads of this process that open the same SQLite file to one write gate (thread-gate.ts);
 * PostgreSQL needs none.
 */
export async function openStore(url: string, options: { readonly migrateUpTo?: string; readonly threadGate?: ThreadGateShare } = {}): Promise<Store> {
  let store: Store;
  if (url.startsWith('sqlite:')) store = openSqlite(url.slice('sqlite:'.length), options.threadGate);
  else if (url.startsWith('postgres://') || url.startsWith('postgresql://')) store = openPostgres(url);
  else throw new ConfigError(`store.url: "${url.split(':')[0]}:" is not a supported store; use sqlite:PATH or postgres://USER@HOST:PORT/DB`);

  // Name the schema: otherwise Kysely takes another schema's migration tables for ours.
  const migrator = new Migrator({
    db: store.db,
    provider: new StaticMigrationProvider(store.dialect),
    // Numbers are handed out to parallel work ahead of time (0013 shipped before 0010-0012): a store
    // migrated by a release with a higher number still takes a lower one that came later.
    allowUnorderedMigrations: true,
    ...(store.schema ? { migrationTableSchema: store.schema } : {}),
  });
  // Kysely reads the catalogue of the whole database first; a schema dropped meanwhile by someone
  // else (parallel test suites, another tenant) fails that read, and a second try succeeds.
  const migrate = () => (options.migrateUpTo ? migrator.migrateTo(options.migrateUpTo) : migrator.migrateToLatest());
  let { error } = await migrate();
  for (let attempt = 1; error && attempt < 3 && /does not exist/.test((error as Error).message); attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
    ({ error } = await migrate());
  }
  if (error) {
    await store.close();
    throw new ConfigError(`store.url: could not prepare the tables of ${store.description}: ${(error as Error).message}`);
  }
  return store;
}
