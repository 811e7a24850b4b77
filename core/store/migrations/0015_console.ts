// Migration 0015_console: shipped; never edit it (a store that ran it keeps what it did).
import { sql, type Kysely, type Migration } from 'kysely';
import type { MigrationKit } from './kit.js';

export function migration0015({ dialect, int }: MigrationKit): Migration {
  return {
    // The operations console: the trace reads a customer's operations by ordering key in every
    // state (outbox_ordering_open covers open ones only); the charts read a bounded window of
    // settled operations and of messages by time; queue depth over time is sampled, since the
    // outbox keeps no history of it (one row per connector and minute, whichever instance writes it).
    async up(db: Kysely<unknown>) {
      await db.schema.createIndex('outbox_ordering_key').on('outbox').columns(['ordering_key', 'id']).execute();
      // Settled states only (the charts read done and dead rows): a claim or a retry rewrites a
      // pending or in-flight row several times, and each rewrite would otherwise take an entry here.
      await db.schema
        .createIndex('outbox_state_updated')
        .on('outbox')
        .columns(['state', 'updated_at'])
        // OR rather than IN: SQLite uses a partial index only for a predicate it can match term by
        // term, and state = 'done' is not matched against state IN (...).
        .where(sql<boolean>`state = 'done' or state = 'dead' or state = 'discarded'`)
        .execute();
      await db.schema.createIndex('messages_created').on('messages').column('created_at').execute();
      await db.schema
        .createTable('queue_samples')
        .addColumn('connector', 'text', (c) => c.notNull())
        .addColumn('at', int, (c) => c.notNull())
        .addColumn('depth', int, (c) => c.notNull())
        .addColumn('oldest_created_at', int)
        .addColumn('error_rate', dialect === 'postgres' ? 'double precision' : 'real')
        .addPrimaryKeyConstraint('queue_samples_pk', ['at', 'connector'])
        .execute();
    },
  };
}
