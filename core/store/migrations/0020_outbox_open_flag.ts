// Migration 0020_outbox_open_flag: shipped; never edit it (a store that ran it keeps what it did).
import { sql, type Kysely, type Migration } from 'kysely';
import type { MigrationKit } from './kit.js';

export function migration0020({ dialect }: MigrationKit): Migration {
  return {
    // `outbox_ordering_open` (0001) was partial on `state in ('pending', 'in_flight')`. SQLite
    // rewrites a partial index's entry whenever an UPDATE sets a column its condition names, even
    // when the row stays inside the condition, so every claim (pending -> in_flight) and every
    // release rewrote one entry per claimed key, each on a leaf page of its own: with 100,000 keys
    // a claim of 200 heads wrote ~240 pages to the log where ~46 are its own rows and key rows.
    // The index is now partial on an `open` flag that enqueue and settlement write and a claim,
    // a release or a retry never names (OPEN_OPERATIONS in core/outbox/key-queue.ts).
    //
    // A writer that sets only the state (a binary older than this one during an upgrade, a hand
    // edit, a test) still gets the right flag: the store derives it, a trigger whose condition
    // is false when the writer set it itself, so the hot paths pay no second write. The default
    // 0 lets the backfill rewrite the unfinished rows only (done ones are never deleted).
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('outbox').addColumn('open', 'integer', (c) => c.notNull().defaultTo(0)).execute();
      await db.schema.dropIndex('outbox_ordering_open').execute();
      await sql`update outbox set open = 1 where state in ('pending', 'in_flight')`.execute(db);
      // AFTER triggers on both stores (SQLite's BEFORE triggers cannot change the row), whose
      // condition is false when the writer set the flag itself: a claim of 200 on PostgreSQL with
      // the trigger enabled and disabled, interleaved, measured the same within noise.
      const derived = sql.raw(`case when new.state in ('pending', 'in_flight') then 1 else 0 end`);
      if (dialect === 'sqlite') {
        for (const [name, event] of [['outbox_open_on_insert', 'insert'], ['outbox_open_on_state', 'update of state']] as const) {
          await sql`
            create trigger ${sql.raw(name)} after ${sql.raw(event)} on outbox
            when new.open is not ${derived}
            begin update outbox set open = ${derived} where id = new.id; end`.execute(db);
        }
      } else {
        // The table by the trigger's own schema: a hand edit's search_path may name another one.
        await sql`
          create function outbox_open_from_state() returns trigger language plpgsql as $$
          begin
            execute format('update %I.%I set open = $1 where id = $2', tg_table_schema, tg_table_name) using ${derived}, new.id;
            return null;
          end $$`.execute(db);
        await sql`
          create trigger outbox_open_from_state after insert or update of state on outbox
          for each row when (new.open is distinct from ${derived})
          execute function outbox_open_from_state()`.execute(db);
      }
      await db.schema
        .createIndex('outbox_ordering_open')
        .on('outbox')
        .columns(['connector', 'ordering_key', 'id'])
        // Word for word as the queries write it (OPEN_OPERATIONS): SQLite matches a partial index's condition as written.
        .where(sql<boolean>`open = 1`)
        .execute();
    },
  };
}
