// Migration 0011_alert_lifecycle: shipped; never edit it (a store that ran it keeps what it did).
import type { Kysely, Migration } from 'kysely';
import type { MigrationKit } from './kit.js';

export function migration0011({ int }: MigrationKit): Migration {
  return {
    // Alerts are acknowledged by a person, and resolved by hand (with a note) or by the service
    // when the condition clears: who and when is kept on the row (the audit trail has it too).
    async up(db: Kysely<unknown>) {
      for (const column of ['acknowledged_at', 'resolved_at'] as const) await db.schema.alterTable('alerts').addColumn(column, int).execute();
      for (const column of ['acknowledged_by', 'resolved_by', 'resolution_note'] as const) await db.schema.alterTable('alerts').addColumn(column, 'text').execute();
      await db.schema.createIndex('alerts_state').on('alerts').columns(['state', 'last_at']).execute();
    },
  };
}
