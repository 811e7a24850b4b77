// Migration 0002_rate_event_ids: shipped; never edit it (a store that ran it keeps what it did).
import type { Kysely, Migration } from 'kysely';
import type { MigrationKit } from './kit.js';

export function migration0002({ int, serialId }: MigrationKit): Migration {
  return {
    // Each rate event gets an id, so a request's slot can be moved to the time its answer came.
    async up(db: Kysely<unknown>) {
      await db.schema.dropTable('rate_events').execute();
      await serialId(db, 'rate_events')
        .addColumn('connector', 'text', (c) => c.notNull())
        .addColumn('at', int, (c) => c.notNull())
        .addColumn('weight', 'integer', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('rate_events_window_v2').on('rate_events').columns(['connector', 'at']).execute();
    },
  };
}
