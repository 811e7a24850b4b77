// Migration 0003_message_origin: shipped; never edit it (a store that ran it keeps what it did).
import type { Kysely, Migration } from 'kysely';
import type { MigrationKit } from './kit.js';

export function migration0003(_kit: MigrationKit): Migration {
  return {
    // Replies this service sends are recorded as messages; their origin stops echo loops.
    // Messages also keep their security findings.
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('messages').addColumn('origin', 'text').execute();
      // Security findings (suspicious links) travel with the message to every connector.
      await db.schema.alterTable('messages').addColumn('warnings', 'text').execute();
      // The customer service window is read per contact: "when did this contact last write?".
      await db.schema.createIndex('messages_contact_direction').on('messages').columns(['contact_id', 'direction', 'sent_at']).execute();
      // Arrival sequences come from one counter (its maximum + 1).
      await db.schema.createIndex('messages_arrival_seq').on('messages').column('arrival_seq').execute();
    },
  };
}
