// Migration 0019_consents: shipped; never edit it (a store that ran it keeps what it did).
import type { Kysely, Migration } from 'kysely';
import type { MigrationKit } from './kit.js';

export function migration0019({ int }: MigrationKit): Migration {
  return {
    // Marketing consent per person (user_preferences webhooks, STOP/START keywords, buttons),
    // with when and how it last changed; the outbound side asks it before a marketing template.
    // https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/user_preferences/
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('consents')
        .addColumn('contact_id', 'text', (c) => c.notNull())
        .addColumn('category', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('changed_at', int, (c) => c.notNull())
        .addColumn('source', 'text', (c) => c.notNull())
        .addColumn('recorded_at', int, (c) => c.notNull())
        .addPrimaryKeyConstraint('consents_pk', ['contact_id', 'category'])
        .execute();
    },
  };
}
