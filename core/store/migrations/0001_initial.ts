// Migration 0001_initial: shipped; never edit it (a store that ran it keeps what it did).
import { sql, type Kysely, type Migration } from 'kysely';
import type { MigrationKit } from './kit.js';

export function migration0001({ int, serialId }: MigrationKit): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await serialId(db, 'webhook_deliveries')
        .addColumn('source', 'text', (c) => c.notNull())
        .addColumn('received_at', int, (c) => c.notNull())
        .addColumn('body', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('problems', 'text')
        .addColumn('processed_at', int)
        .execute();
      await db.schema.createIndex('webhook_deliveries_state').on('webhook_deliveries').columns(['state', 'id']).execute();

      await db.schema
        .createTable('contacts')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('wa_id', 'text', (c) => c.notNull().unique())
        .addColumn('user_id', 'text')
        .addColumn('profile_name', 'text')
        .addColumn('created_at', int, (c) => c.notNull())
        .addColumn('updated_at', int, (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('contact_identities')
        .addColumn('identity', 'text', (c) => c.primaryKey())
        .addColumn('contact_id', 'text', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('threads')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('contact_id', 'text', (c) => c.notNull())
        .addColumn('business_number_id', 'text', (c) => c.notNull())
        .addColumn('started_at', int, (c) => c.notNull())
        .addColumn('last_message_at', int, (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('threads_contact')
        .on('threads')
        .columns(['contact_id', 'business_number_id', 'last_message_at'])
        .execute();

      await db.schema
        .createTable('messages')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('thread_id', 'text', (c) => c.notNull())
        .addColumn('contact_id', 'text', (c) => c.notNull())
        .addColumn('direction', 'text', (c) => c.notNull())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('original_type', 'text', (c) => c.notNull())
        .addColumn('text', 'text', (c) => c.notNull())
        .addColumn('media', 'text')
        .addColumn('sent_at', int, (c) => c.notNull())
        .addColumn('arrival_seq', int, (c) => c.notNull())
        .addColumn('status', 'text')
        .addColumn('status_at', int)
        .addColumn('reply_to_id', 'text')
        .addColumn('errors', 'text')
        .addColumn('raw', 'text', (c) => c.notNull())
        .addColumn('created_at', int, (c) => c.notNull())
        .execute();
      await db.schema.createIndex('messages_thread').on('messages').columns(['thread_id', 'sent_at', 'arrival_seq']).execute();

      await db.schema
        .createTable('message_statuses')
        .addColumn('message_id', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('at', int, (c) => c.notNull())
        .addColumn('recipient', 'text', (c) => c.notNull())
        .addColumn('known_message', 'integer', (c) => c.notNull())
        .addColumn('errors', 'text')
        .addColumn('received_at', int, (c) => c.notNull())
        .addPrimaryKeyConstraint('message_statuses_pk', ['message_id', 'status'])
        .execute();

      await db.schema
        .createTable('media')
        .addColumn('message_id', 'text', (c) => c.primaryKey())
        .addColumn('media_id', 'text', (c) => c.notNull())
        .addColumn('mime_type', 'text', (c) => c.notNull())
        .addColumn('sha256', 'text')
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('path', 'text')
        .addColumn('size', int)
        .addColumn('error', 'text')
        .addColumn('updated_at', int, (c) => c.notNull())
        .execute();

      await serialId(db, 'outbox')
        .addColumn('idempotency_key', 'text', (c) => c.notNull().unique())
        .addColumn('connector', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('ordering_key', 'text', (c) => c.notNull())
        .addColumn('payload', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('run_at', int, (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull())
        .addColumn('max_attempts', 'integer', (c) => c.notNull())
        .addColumn('locked_by', 'text')
        .addColumn('lease_until', int)
        .addColumn('last_error', 'text')
        .addColumn('result', 'text')
        .addColumn('created_at', int, (c) => c.notNull())
        .addColumn('updated_at', int, (c) => c.notNull())
        .execute();
      // Claiming scans a connector's pending rows in id order.
      await db.schema.createIndex('outbox_claim').on('outbox').columns(['connector', 'state', 'id']).execute();
      // "Is an earlier operation of this ordering key unfinished?" must stay an index probe.
      await db.schema
        .createIndex('outbox_ordering_open')
        .on('outbox')
        .columns(['connector', 'ordering_key', 'id'])
        .where(sql.ref('state'), 'in', ['pending', 'in_flight'])
        .execute();

      await db.schema
        .createTable('external_refs')
        .addColumn('connector', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('local_id', 'text', (c) => c.notNull())
        .addColumn('external_id', 'text', (c) => c.notNull())
        .addColumn('updated_at', int, (c) => c.notNull())
        .addPrimaryKeyConstraint('external_refs_pk', ['connector', 'kind', 'local_id'])
        .execute();

      await db.schema
        .createTable('rate_events')
        .addColumn('connector', 'text', (c) => c.notNull())
        .addColumn('at', int, (c) => c.notNull())
        .addColumn('weight', 'integer', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('rate_events_window').on('rate_events').columns(['connector', 'at']).execute();

      await db.schema
        .createTable('connector_state')
        .addColumn('connector', 'text', (c) => c.notNull())
        .addColumn('key', 'text', (c) => c.notNull())
        .addColumn('value', 'text', (c) => c.notNull())
        .addColumn('updated_at', int, (c) => c.notNull())
        .addPrimaryKeyConstraint('connector_state_pk', ['connector', 'key'])
        .execute();

      await serialId(db, 'account_events')
        .addColumn('field', 'text', (c) => c.notNull())
        .addColumn('account_id', 'text', (c) => c.notNull())
        .addColumn('at', int, (c) => c.notNull())
        .addColumn('raw', 'text', (c) => c.notNull())
        .addColumn('received_at', int, (c) => c.notNull())
        .execute();
    },
  };
}
