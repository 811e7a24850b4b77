// Migration 0009_outbox_key_queue_media_blobs: shipped; never edit it (a store that ran it keeps what it did).
import { sql, type Kysely, type Migration } from 'kysely';
import type { MigrationKit } from './kit.js';

export function migration0009({ int }: MigrationKit): Migration {
  return {
    // Queue state per ordering key (core/outbox/key-queue.ts), so a claim reads ready keys
    // from an index instead of walking every pending operation. Existing stores get their
    // keys built from the operations they hold. And media bytes by hash, shared by the
    // instances of a PostgreSQL store (core/media-store.ts).
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('media_blobs')
        .addColumn('sha256', 'text', (c) => c.primaryKey())
        .addColumn('size', int, (c) => c.notNull())
        .addColumn('data_base64', 'text', (c) => c.notNull())
        .addColumn('created_at', int, (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('outbox_keys')
        .addColumn('connector', 'text', (c) => c.notNull())
        .addColumn('ordering_key', 'text', (c) => c.notNull())
        .addColumn('head_id', int, (c) => c.notNull())
        .addColumn('ready_at', int)
        .addPrimaryKeyConstraint('outbox_keys_pk', ['connector', 'ordering_key'])
        .execute();
      // The claim: a connector's ready keys, oldest turn first.
      await db.schema.createIndex('outbox_keys_ready').on('outbox_keys').columns(['connector', 'ready_at', 'head_id']).execute();
      // The same rows as rebuildOrderingKeys (restore) builds, written out: a migration must not
      // change when the code it would import does.
      await sql`
        insert into outbox_keys (connector, ordering_key, head_id, ready_at)
        select connector, ordering_key, min(id), null from outbox
        where state in ('pending', 'in_flight')
        group by connector, ordering_key`.execute(db);
      await sql`
        update outbox_keys set ready_at = (
          select case when h.state = 'pending' then h.run_at end from outbox h where h.id = outbox_keys.head_id
        )`.execute(db);
    },
  };
}
