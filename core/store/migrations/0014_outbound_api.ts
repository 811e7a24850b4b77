// Migration 0014_outbound_api: shipped; never edit it (a store that ran it keeps what it did).
import type { Kysely, Migration } from 'kysely';
import type { MigrationKit } from './kit.js';

export function migration0014({ int }: MigrationKit): Migration {
  return {
    // The outbound API: tokens may hold permissions beyond their admin role (`send`), and each
    // accepted request is kept under the caller's idempotency key, so a retry of the same
    // request answers with the same message id and queues nothing new.
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('api_tokens').addColumn('permissions', 'text', (c) => c.notNull().defaultTo('')).execute();
      await db.schema
        .createTable('outbound_requests')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('token_id', 'text', (c) => c.notNull())
        .addColumn('idempotency_key', 'text', (c) => c.notNull())
        .addColumn('body_hash', 'text', (c) => c.notNull())
        .addColumn('contact_id', 'text', (c) => c.notNull())
        .addColumn('thread_id', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('template', 'text')
        .addColumn('created_at', int, (c) => c.notNull())
        .addUniqueConstraint('outbound_requests_key', ['token_id', 'idempotency_key'])
        .execute();
      // A caller may name the person by a CRM record id: found by the vendor's id, not ours.
      await db.schema.createIndex('external_refs_external_id').on('external_refs').columns(['connector', 'external_id']).execute();
    },
  };
}
