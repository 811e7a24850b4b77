// Numbered migrations, written once for both dialects. Add a new entry; never edit a shipped one.
import { sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import { randomBytes } from 'node:crypto';
import { recoveryCodeHash } from '../admin/accounts.js';
import type { StoreDialect } from './store.js';

function migrationsFor(dialect: StoreDialect): Record<string, Migration> {
  // Integer millisecond times and row ids need 64 bits on PostgreSQL.
  const int = dialect === 'postgres' ? 'bigint' : 'integer';
  const serialId = (db: Kysely<unknown>, table: string) =>
    dialect === 'postgres'
      ? db.schema.createTable(table).addColumn('id', 'bigserial', (c) => c.primaryKey())
      : db.schema.createTable(table).addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement());

  return {
    '0001_initial': {
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
    },
    '0002_rate_event_ids': {
      // Each rate event gets an id, so a request's slot can be moved to the time its answer came.
      async up(db: Kysely<unknown>) {
        await db.schema.dropTable('rate_events').execute();
        await serialId(db, 'rate_events')
          .addColumn('connector', 'text', (c) => c.notNull())
          .addColumn('at', int, (c) => c.notNull())
          .addColumn('weight', 'integer', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('rate_events_window_v2').on('rate_events').columns(['connector', 'at']).execute();
      },
    },
    '0003_message_origin': {
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
    },
    '0004_alerts': {
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
    },
    '0005_admin': {
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
    },
    '0006_admin_sessions': {
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
    },
    '0007_totp_last_step': {
      // The newest TOTP time step each account signed in with: a code works once (RFC 6238, 5.2).
      async up(db: Kysely<unknown>) {
        await db.schema.alterTable('admin_users').addColumn('totp_last_step', int).execute();
      },
    },
    '0008_security_hardening': {
      // Tokens record the account they act for and the token that made them, so disabling an
      // account or revoking a token reaches every token made from it.
      async up(db: Kysely<unknown>) {
        await db.schema.alterTable('api_tokens').addColumn('owner', 'text').execute();
        await db.schema.alterTable('api_tokens').addColumn('parent_id', 'text').execute();
        await db.schema.createIndex('api_tokens_owner').on('api_tokens').column('owner').execute();
        await db.schema.createIndex('api_tokens_parent').on('api_tokens').column('parent_id').execute();
        // Earlier tokens said `user:NAME` or `token:NAME` (a token's name, not its id): a name
        // that is unique points to its token; tokens made by a token inherit that token's owner.
        const tokens = db.withTables<{ api_tokens: { id: string; name: string; created_by: string; created_at: number; owner: string | null; parent_id: string | null } }>();
        const rows = await tokens.selectFrom('api_tokens').select(['id', 'name', 'created_by', 'created_at']).orderBy('created_at').execute();
        const owners = new Map<string, string | null>();
        for (const row of rows) {
          let owner: string | null = null;
          let parent: string | null = null;
          if (row.created_by.startsWith('user:')) owner = row.created_by.slice('user:'.length);
          else if (row.created_by.startsWith('token:')) {
            const named = rows.filter((r) => r.name === row.created_by.slice('token:'.length) && r.created_at <= row.created_at && r.id !== row.id);
            if (named.length === 1) {
              parent = named[0]!.id;
              owner = owners.get(parent) ?? null;
            }
          }
          owners.set(row.id, owner);
          if (owner !== null || parent !== null) await tokens.updateTable('api_tokens').set({ owner, parent_id: parent }).where('id', '=', row.id).execute();
        }
        // Recovery codes were unsalted SHA-256: each becomes scrypt(that SHA-256, a salt per account).
        const users = db.withTables<{ admin_users: { name: string; recovery_codes: string } }>();
        for (const user of await users.selectFrom('admin_users').select(['name', 'recovery_codes']).execute()) {
          const legacy = JSON.parse(user.recovery_codes) as string[];
          if (legacy.every((entry) => entry.startsWith('rc1$'))) continue;
          const salt = randomBytes(16);
          const hashed = await Promise.all(legacy.map((entry) => (entry.startsWith('rc1$') ? entry : recoveryCodeHash(entry, salt))));
          await users.updateTable('admin_users').set({ recovery_codes: JSON.stringify(hashed) }).where('name', '=', user.name).execute();
        }
      },
    },
    '0009_outbox_key_queue_media_blobs': {
      // Queue state per ordering key (core/outbox/key-queue.ts), so a claim reads ready keys
      // from an index instead of walking every pending operation. Existing stores get their
      // keys built from the operations they hold. And media bytes by hash, shared by the
      // instances of a PostgreSQL store (core/media-store.ts).
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('media_blobs')
          .addColumn('sha256', 'text', (c) => c.primaryKey())
          .addColumn('size', int, (c) => c.notNull())
          .addColumn('data_base64', 'text', (c) => c.notNull())
          .addColumn('created_at', int, (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('outbox_keys')
          .addColumn('connector', 'text', (c) => c.notNull())
          .addColumn('ordering_key', 'text', (c) => c.notNull())
          .addColumn('head_id', int, (c) => c.notNull())
          .addColumn('ready_at', int)
          .addPrimaryKeyConstraint('outbox_keys_pk', ['connector', 'ordering_key'])
          .execute();
        // The claim: a connector's ready keys, oldest turn first.
        await db.schema.createIndex('outbox_keys_ready').on('outbox_keys').columns(['connector', 'ready_at', 'head_id']).execute();
        // The same rows as rebuildOrderingKeys (restore) builds, written out: a migration must not
        // change when the code it would import does.
        await sql`
          insert into outbox_keys (connector, ordering_key, head_id, ready_at)
          select connector, ordering_key, min(id), null from outbox
          where state in ('pending', 'in_flight')
          group by connector, ordering_key`.execute(db);
        await sql`
          update outbox_keys set ready_at = (
            select case when h.state = 'pending' then h.run_at end from outbox h where h.id = outbox_keys.head_id
          )`.execute(db);
      },
    },
    '0010_audit_key_webhook_replays': {
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
    },
    '0011_alert_lifecycle': {
      // Alerts are acknowledged by a person, and resolved by hand (with a note) or by the service
      // when the condition clears: who and when is kept on the row (the audit trail has it too).
      async up(db: Kysely<unknown>) {
        for (const column of ['acknowledged_at', 'resolved_at'] as const) await db.schema.alterTable('alerts').addColumn(column, int).execute();
        for (const column of ['acknowledged_by', 'resolved_by', 'resolution_note'] as const) await db.schema.alterTable('alerts').addColumn(column, 'text').execute();
        await db.schema.createIndex('alerts_state').on('alerts').columns(['state', 'last_at']).execute();
      },
    },
    '0012_history_import': {
      // Coexistence onboarding: the WhatsApp Business app's past chats are imported as history
      // (kept apart from live traffic: no service window, no tickets), with the chunks counted for
      // progress; outbox keys get a lane so that background work is claimed after live work.
      // https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/history/
      async up(db: Kysely<unknown>) {
        await db.schema.alterTable('messages').addColumn('history', int, (c) => c.notNull().defaultTo(0)).execute();
        await db.schema.alterTable('outbox_keys').addColumn('lane', int, (c) => c.notNull().defaultTo(0)).execute();
        await sql`update outbox_keys set lane = 1 where ordering_key like 'background:%'`.execute(db);
        await db.schema.createIndex('outbox_keys_lane_ready').on('outbox_keys').columns(['connector', 'lane', 'ready_at', 'head_id']).execute();
        await db.schema
          .createTable('history_chunks')
          .addColumn('business_number_id', 'text', (c) => c.notNull())
          .addColumn('phase', int, (c) => c.notNull())
          .addColumn('chunk_order', int, (c) => c.notNull())
          .addColumn('progress', int, (c) => c.notNull())
          .addColumn('threads', int, (c) => c.notNull())
          .addColumn('messages', int, (c) => c.notNull())
          .addColumn('errors', 'text')
          .addColumn('delivery_id', int, (c) => c.notNull())
          .addColumn('received_at', int, (c) => c.notNull())
          .addPrimaryKeyConstraint('history_chunks_pk', ['business_number_id', 'phase', 'chunk_order'])
          .execute();
      },
    },
    '0013_contact_identities': {
      // A person is known by phone, BSUID, parent BSUID and username, and the phone may be withheld.
      // Contacts get a stable CRM key (their WhatsApp id for those from before, so every CRM record
      // keeps matching), the phone becomes optional, and user ids that are really BSUIDs move over.
      // https://developers.facebook.com/documentation/business-messaging/whatsapp/business-scoped-user-ids/
      async up(db: Kysely<unknown>) {
        if (dialect === 'postgres') {
          await db.schema.alterTable('contacts').addColumn('crm_key', 'text').execute();
          await db.schema.alterTable('contacts').addColumn('bsuid', 'text').execute();
          await db.schema.alterTable('contacts').addColumn('parent_bsuid', 'text').execute();
          await db.schema.alterTable('contacts').addColumn('username', 'text').execute();
          await sql`update contacts set crm_key = wa_id`.execute(db);
          await sql`alter table contacts alter column crm_key set not null`.execute(db);
          await sql`alter table contacts alter column wa_id drop not null`.execute(db);
          // Numbers move between people (a number given up is reassigned): the current number is not unique.
          await sql`alter table contacts drop constraint if exists contacts_wa_id_key`.execute(db);
        } else {
          // SQLite cannot drop NOT NULL or UNIQUE in place: rebuild the table.
          await db.schema
            .createTable('contacts_0013')
            .addColumn('id', 'text', (c) => c.primaryKey())
            .addColumn('crm_key', 'text', (c) => c.notNull())
            .addColumn('wa_id', 'text')
            .addColumn('bsuid', 'text')
            .addColumn('parent_bsuid', 'text')
            .addColumn('username', 'text')
            .addColumn('user_id', 'text')
            .addColumn('profile_name', 'text')
            .addColumn('created_at', int, (c) => c.notNull())
            .addColumn('updated_at', int, (c) => c.notNull())
            .execute();
          await sql`insert into contacts_0013 (id, crm_key, wa_id, user_id, profile_name, created_at, updated_at)
                    select id, wa_id, wa_id, user_id, profile_name, created_at, updated_at from contacts`.execute(db);
          await db.schema.dropTable('contacts').execute();
          await sql`alter table contacts_0013 rename to contacts`.execute(db);
        }
        await db.schema.createIndex('contacts_crm_key').on('contacts').column('crm_key').unique().execute();
        await db.schema.createIndex('contacts_wa_id').on('contacts').column('wa_id').execute();
        await db.schema.createIndex('contact_identities_contact').on('contact_identities').column('contact_id').execute();
        // Earlier releases kept contacts[].user_id (a BSUID since April 2026) as the "Meta user id".
        const withUserIds = await sql<{ id: string; user_id: string }>`select id, user_id from contacts where user_id is not null`.execute(db);
        for (const row of withUserIds.rows) {
          if (!/^[A-Z]{2}\.(?:ENT\.)?[A-Za-z0-9]{1,128}$/.test(row.user_id)) continue;
          const column = row.user_id.includes('.ENT.') ? 'parent_bsuid' : 'bsuid';
          const prefix = column === 'bsuid' ? 'bsuid' : 'parent';
          await sql`update contacts set ${sql.ref(column)} = ${row.user_id}, user_id = null where id = ${row.id}`.execute(db);
          await sql`update contact_identities set identity = ${`${prefix}:${row.user_id}`} where identity = ${`user:${row.user_id}`}`.execute(db);
        }
      },
    },
    '0017_outbox_ready_keys_index': {
      // Every claim and settle rewrites key rows (ready_at, head_id), and each index on a changed
      // column takes a new entry per write (no heap-only update). outbox_keys_ready (0009) has been
      // superseded by the lane index since 0012 and only cost writes, or misled the planner into a
      // lane filter; the lane index keeps ready keys only (busy keys, ready_at null, leave it when
      // claimed instead of taking an entry). Both stores use a partial index on `ready_at is not
      // null` for `ready_at <= ?` (https://www.sqlite.org/partialindex.html, "Queries Using Partial
      // Indexes"; https://www.postgresql.org/docs/current/indexes-partial.html).
      async up(db: Kysely<unknown>) {
        await db.schema.dropIndex('outbox_keys_ready').execute();
        await db.schema.dropIndex('outbox_keys_lane_ready').execute();
        await db.schema
          .createIndex('outbox_keys_lane_ready')
          .on('outbox_keys')
          .columns(['connector', 'lane', 'ready_at', 'head_id'])
          .where(sql.ref('ready_at'), 'is not', null)
          .execute();
      },
    },
    '0018_delivery_slices': {
      // A history webhook can carry thousands of messages: it is processed in slices, each in its
      // own short transaction, so live deliveries are taken between them. The count of its events
      // applied so far is kept with it, so a restart continues where the last committed slice ended.
      async up(db: Kysely<unknown>) {
        await db.schema.alterTable('webhook_deliveries').addColumn('events_done', int, (c) => c.notNull().defaultTo(0)).execute();
      },
    },
    '0015_console': {
      // The operations console: the trace reads a customer's operations by ordering key in every
      // state (outbox_ordering_open covers open ones only); the charts read a bounded window of
      // settled operations and of messages by time; queue depth over time is sampled, since the
      // outbox keeps no history of it (one row per connector and minute, whichever instance writes it).
      async up(db: Kysely<unknown>) {
        await db.schema.createIndex('outbox_ordering_key').on('outbox').columns(['ordering_key', 'id']).execute();
        // Settled states only (the charts read done and dead rows): a claim or a retry rewrites a
        // pending or in-flight row several times, and each rewrite would otherwise take an entry here.
        await db.schema
          .createIndex('outbox_state_updated')
          .on('outbox')
          .columns(['state', 'updated_at'])
          // OR rather than IN: SQLite uses a partial index only for a predicate it can match term by
          // term, and state = 'done' is not matched against state IN (...).
          .where(sql<boolean>`state = 'done' or state = 'dead' or state = 'discarded'`)
          .execute();
        await db.schema.createIndex('messages_created').on('messages').column('created_at').execute();
        await db.schema
          .createTable('queue_samples')
          .addColumn('connector', 'text', (c) => c.notNull())
          .addColumn('at', int, (c) => c.notNull())
          .addColumn('depth', int, (c) => c.notNull())
          .addColumn('oldest_created_at', int)
          .addColumn('error_rate', dialect === 'postgres' ? 'double precision' : 'real')
          .addPrimaryKeyConstraint('queue_samples_pk', ['at', 'connector'])
          .execute();
      },
    },
    '0019_consents': {
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
    },
    '0014_outbound_api': {
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
    },
  };
}

export class StaticMigrationProvider implements MigrationProvider {
  readonly #dialect: StoreDialect;
  constructor(dialect: StoreDialect) {
    this.#dialect = dialect;
  }
  async getMigrations(): Promise<Record<string, Migration>> {
    return migrationsFor(this.#dialect);
  }
}
