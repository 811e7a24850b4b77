// Migration 0005_admin: shipped; never edit it (a store that ran it keeps what it did).
import type { Kysely, Migration } from 'kysely';
import type { MigrationKit } from './kit.js';

export function migration0005({ int }: MigrationKit): Migration {
  return {
    // Admin accounts (scrypt password hashes, TOTP secrets, recovery-code hashes) and API tokens (hashes only).
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('admin_users')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('role', 'text', (c) => c.notNull())
        .addColumn('password_hash', 'text', (c) => c.notNull())
        .addColumn('totp_secret', 'text', (c) => c.notNull())
        .addColumn('recovery_codes', 'text', (c) => c.notNull())
        .addColumn('disabled', 'integer', (c) => c.notNull())
        .addColumn('failed_attempts', 'integer', (c) => c.notNull())
        .addColumn('locked_until', int)
        .addColumn('created_at', int, (c) => c.notNull())
        .addColumn('last_login_at', int)
        .execute();
      await db.schema
        .createTable('api_tokens')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('role', 'text', (c) => c.notNull())
        .addColumn('hash', 'text', (c) => c.notNull())
        .addColumn('expires_at', int, (c) => c.notNull())
        .addColumn('created_at', int, (c) => c.notNull())
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('last_used_at', int)
        .addColumn('revoked', 'integer', (c) => c.notNull())
        .execute();
    },
  };
}
