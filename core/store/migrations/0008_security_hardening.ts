// Migration 0008_security_hardening: shipped; never edit it (a store that ran it keeps what it did).
import { randomBytes } from 'node:crypto';
import type { Kysely, Migration } from 'kysely';
import { recoveryCodeHash } from '../../admin/accounts.js';
import type { MigrationKit } from './kit.js';

export function migration0008(_kit: MigrationKit): Migration {
  return {
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
  };
}
