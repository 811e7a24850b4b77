// What a migration needs to be written once for both dialects.
import type { CreateTableBuilder, Kysely } from 'kysely';
import type { StoreDialect } from '../types.js';

export interface MigrationKit {
  readonly dialect: StoreDialect;
  /** Integer millisecond times and row ids need 64 bits on PostgreSQL. */
  readonly int: 'bigint' | 'integer';
  /** A new table with an auto-numbered primary key `id`. */
  readonly serialId: (db: Kysely<unknown>, table: string) => CreateTableBuilder<string, 'id'>;
}

export function migrationKit(dialect: StoreDialect): MigrationKit {
  return {
    dialect,
    int: dialect === 'postgres' ? 'bigint' : 'integer',
    serialId: (db, table) =>
      dialect === 'postgres'
        ? db.schema.createTable(table).addColumn('id', 'bigserial', (c) => c.primaryKey())
        : db.schema.createTable(table).addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement()),
  };
}
