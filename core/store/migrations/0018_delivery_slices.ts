// Migration 0018_delivery_slices: shipped; never edit it (a store that ran it keeps what it did).
import type { Kysely, Migration } from 'kysely';
import type { MigrationKit } from './kit.js';

export function migration0018({ int }: MigrationKit): Migration {
  return {
    // A history webhook can carry thousands of messages: it is processed in slices, each in its
    // own short transaction, so live deliveries are taken between them. The count of its events
    // applied so far is kept with it, so a restart continues where the last committed slice ended.
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('webhook_deliveries').addColumn('events_done', int, (c) => c.notNull().defaultTo(0)).execute();
    },
  };
}
