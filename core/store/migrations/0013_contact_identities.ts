// Migration 0013_contact_identities: shipped; never edit it (a store that ran it keeps what it did).
import { sql, type Kysely, type Migration } from 'kysely';
import type { MigrationKit } from './kit.js';

export function migration0013({ dialect, int }: MigrationKit): Migration {
  return {
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
  };
}
