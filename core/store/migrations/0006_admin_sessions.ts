// Migration 0006_admin_sessions: shipped; never edit it (a store that ran it keeps what it did).
import type { Kysely, Migration } from 'kysely';
import type { MigrationKit } from './kit.js';

export function migration0006({ int }: MigrationKit): Migration {
  return {
    // Browser sessions of admin accounts; the cookie is kept only as a hash.
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('admin_sessions')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('cookie_hash', 'text', (c) => c.notNull().unique())
        .addColumn('user', 'text', (c) => c.notNull())
        .addColumn('role', 'text', (c) => c.notNull())
        .addColumn('csrf_token', 'text', (c) => c.notNull())
        .addColumn('created_at', int, (c) => c.notNull())
        .addColumn('last_seen_at', int, (c) => c.notNull())
        .addColumn('ip', 'text', (c) => c.notNull())
        .addColumn('device', 'text', (c) => c.notNull())
        .addColumn('revoked', 'integer', (c) => c.notNull())
        .execute();
    },
  };
}
