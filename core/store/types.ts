// What the store is, as the rest of the code sees it: types only, so that a module the store
// itself loads (a migration) can name them without importing the store.
import type { Kysely, Transaction } from 'kysely';
import type { Database } from './schema.js';

export type StoreDialect = 'sqlite' | 'postgres';
export type Db = Kysely<Database> | Transaction<Database>;

export interface Store {
  readonly db: Kysely<Database>;
  readonly dialect: StoreDialect;
  /** A description safe for logs (no password). */
  readonly description: string;
  /** PostgreSQL schema holding our tables (and the migration bookkeeping). */
  readonly schema?: string;
  /**
   * A SQLite store on disk: the intake file beside it, where the service puts webhooks before
   * answering them (intake.ts). Undefined elsewhere (in memory, PostgreSQL).
   */
  readonly intakeFile?: string;
  /**
   * Runs `work` so that its commits survive a power cut, not only a process crash: used for
   * acknowledged webhooks and for claims (an attempt must be on disk before the vendor call).
   * Other commits on SQLite use WAL with synchronous=NORMAL; the next durable commit flushes them.
   * On SQLite the flush happens after `work` and off the event loop (wal-sync.ts).
   */
  durably<T>(work: (db: Kysely<Database>) => Promise<T>): Promise<T>;
  /**
   * Serialises a critical section across instances for the rest of the transaction
   * (PostgreSQL advisory lock; SQLite transactions are serial already).
   */
  lockForTransaction(tx: Transaction<Database>, name: string): Promise<void>;
  /**
   * Runs `work` in one consistent, read-only snapshot of the store while writers carry on (a
   * backup). On SQLite it gets a connection of its own, so a long read never holds up the
   * service's own single connection.
   */
  readSnapshot<T>(work: (db: Transaction<Database>) => Promise<T>): Promise<T>;
  /**
   * True while a thread with priority on the same SQLite file waits for this connection's turn
   * (thread-gate.ts): work that loops inside one transaction commits what it has and ends early.
   * Always false elsewhere (PostgreSQL has no single write lock).
   */
  turnWanted(): boolean;
  /**
   * Copies SQLite's write-ahead log into the database file as far as readers allow (a passive
   * checkpoint), outside the thread gate: with a gate, neither thread checkpoints inside its own
   * commits (see openSqlite), and the processing thread calls this between its batches. No-op
   * elsewhere.
   */
  checkpointLog(): void;
  ping(): Promise<void>;
  close(): Promise<void>;
}
