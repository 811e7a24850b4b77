// Migration 0007_totp_last_step: shipped; never edit it (a store that ran it keeps what it did).
import type { Kysely, Migration } from 'kysely';
import type { MigrationKit } from './kit.js';

export function migration0007({ int }: MigrationKit): Migration {
  return {
    // The newest TOTP time step each account signed in with: a code works once (RFC 6238, 5.2).
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('admin_users').addColumn('totp_last_step', int).execute();
    },
  };
}
