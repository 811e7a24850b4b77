// Migration 0012_history_import: shipped; never edit it (a store that ran it keeps what it did).
import { sql, type Kysely, type Migration } from 'kysely';
import type { MigrationKit } from './kit.js';

export function migration0012({ int }: MigrationKit): Migration {
  return {
    // Coexistence onboarding: the WhatsApp Business app's past chats are imported as history
    // (kept apart from live traffic: no service window, no tickets), with the chunks counted for
    // progress; outbox keys get a lane so that background work is claimed after live work.
    // https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/history/
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('messages').addColumn('history', int, (c) => c.notNull().defaultTo(0)).execute();
      await db.schema.alterTable('outbox_keys').addColumn('lane', int, (c) => c.notNull().defaultTo(0)).execute();
      await sql`update outbox_keys set lane = 1 where ordering_key like 'background:%'`.execute(db);
      await db.schema.createIndex('outbox_keys_lane_ready').on('outbox_keys').columns(['connector', 'lane', 'ready_at', 'head_id']).execute();
      await db.schema
        .createTable('history_chunks')
        .addColumn('business_number_id', 'text', (c) => c.notNull())
        .addColumn('phase', int, (c) => c.notNull())
        .addColumn('chunk_order', int, (c) => c.notNull())
        .addColumn('progress', int, (c) => c.notNull())
        .addColumn('threads', int, (c) => c.notNull())
        .addColumn('messages', int, (c) => c.notNull())
        .addColumn('errors', 'text')
        .addColumn('delivery_id', int, (c) => c.notNull())
        .addColumn('received_at', int, (c) => c.notNull())
        .addPrimaryKeyConstraint('history_chunks_pk', ['business_number_id', 'phase', 'chunk_order'])
        .execute();
    },
  };
}
