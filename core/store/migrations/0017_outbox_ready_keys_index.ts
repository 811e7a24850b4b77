// Migration 0017_outbox_ready_keys_index: shipped; never edit it (a store that ran it keeps what it did).
import { sql, type Kysely, type Migration } from 'kysely';
import type { MigrationKit } from './kit.js';

export function migration0017(_kit: MigrationKit): Migration {
  return {
    // Every claim and settle rewrites key rows (ready_at, head_id), and each index on a changed
    // column takes a new entry per write (no heap-only update). outbox_keys_ready (0009) has been
    // superseded by the lane index since 0012 and only cost writes, or misled the planner into a
    // lane filter; the lane index keeps ready keys only (busy keys, ready_at null, leave it when
    // claimed instead of taking an entry). Both stores use a partial index on `ready_at is not
    // null` for `ready_at <= ?` (https://www.sqlite.org/partialindex.html, "Queries Using Partial
    // Indexes"; https://www.postgresql.org/docs/current/indexes-partial.html).
    async up(db: Kysely<unknown>) {
      await db.schema.dropIndex('outbox_keys_ready').execute();
      await db.schema.dropIndex('outbox_keys_lane_ready').execute();
      await db.schema
        .createIndex('outbox_keys_lane_ready')
        .on('outbox_keys')
        .columns(['connector', 'lane', 'ready_at', 'head_id'])
        .where(sql.ref('ready_at'), 'is not', null)
        .execute();
    },
  };
}
