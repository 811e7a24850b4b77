// Migration 0004_alerts: shipped; never edit it (a store that ran it keeps what it did).
import type { Kysely, Migration } from 'kysely';
import type { MigrationKit } from './kit.js';

export function migration0004({ int, serialId }: MigrationKit): Migration {
  return {
    // Security alerts: one row per kind and key, counted while it repeats; sinks are told at most
    // once per throttle window. And the hash-chained audit trail.
    async up(db: Kysely<unknown>) {
      await serialId(db, 'alerts')
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('dedupe_key', 'text', (c) => c.notNull())
        .addColumn('severity', 'text', (c) => c.notNull())
        .addColumn('title', 'text', (c) => c.notNull())
        .addColumn('detail', 'text', (c) => c.notNull())
        .addColumn('count', 'integer', (c) => c.notNull())
        .addColumn('first_at', int, (c) => c.notNull())
        .addColumn('last_at', int, (c) => c.notNull())
        .addColumn('notified_at', int)
        .addColumn('state', 'text', (c) => c.notNull())
        .addUniqueConstraint('alerts_kind_key', ['kind', 'dedupe_key'])
        .execute();
      // The audit trail: append-only, each record hashed with the one before it.
      await db.schema
        .createTable('audit_trail')
        .addColumn('seq', int, (c) => c.primaryKey())
        .addColumn('at', int, (c) => c.notNull())
        .addColumn('actor', 'text', (c) => c.notNull())
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('target', 'text', (c) => c.notNull())
        .addColumn('detail', 'text', (c) => c.notNull())
        .addColumn('prev_hash', 'text', (c) => c.notNull())
        .addColumn('hash', 'text', (c) => c.notNull())
        .execute();
      // "Did we send this message?" is asked by wamid for every status report.
      await db.schema.createIndex('external_refs_external').on('external_refs').columns(['connector', 'kind', 'external_id']).execute();
    },
  };
}
