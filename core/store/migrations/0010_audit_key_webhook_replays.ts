// Migration 0010_audit_key_webhook_replays: shipped; never edit it (a store that ran it keeps what it did).
import type { Kysely, Migration } from 'kysely';
import type { MigrationKit } from './kit.js';

export function migration0010({ int }: MigrationKit): Migration {
  return {
    // The audit chain is keyed from here on (an HMAC under a key kept outside the store). Older
    // records keep their SHA-256 hashes and key_id null: history is never re-hashed; the first
    // keyed record after them vouches for them (see sealLegacyAudit).
    // Signed webhook calls already stored, by signature and timestamp, until their timestamp is
    // past the tolerance (then the timestamp check refuses a replay by itself).
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('audit_trail').addColumn('key_id', 'text').execute();
      await db.schema
        .createTable('webhook_replays')
        .addColumn('replay_key', 'text', (c) => c.primaryKey())
        .addColumn('expires_at', int, (c) => c.notNull())
        .execute();
      await db.schema.createIndex('webhook_replays_expires').on('webhook_replays').column('expires_at').execute();
    },
  };
}
