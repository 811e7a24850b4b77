// Migration 0017: the claim's ready keys come from one index holding ready keys only (busy keys,
// ready_at null, take no entry in it), and the index superseded by lanes is gone, so a key row's
// rewrite on every claim and settle updates one index fewer.
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { openStore } from '../../core/store/store.js';
import { freshStorePerTest } from '../helpers/store-per-test.js';
import { freshStoreUrl, STORE_KINDS } from '../helpers/stores.js';

describe.each(STORE_KINDS)('outbox key indexes on %s', (kind) => {
  const fresh = freshStorePerTest(kind);

  const indexes = async () =>
    kind === 'sqlite'
      ? (await sql<{ name: string; sql: string | null }>`select name, sql from sqlite_master where type = 'index' and tbl_name = 'outbox_keys'`.execute(fresh.store.db)).rows
      : (await sql<{ name: string; sql: string }>`select indexname as name, indexdef as sql from pg_indexes where tablename = 'outbox_keys' and schemaname = current_schema()`.execute(fresh.store.db)).rows;

  it('keeps one ready-keys index, partial on ready_at, and no longer the one lanes superseded', async () => {
    const found = await indexes();
    expect(found.map((i) => i.name)).not.toContain('outbox_keys_ready');
    const ready = found.find((i) => i.name === 'outbox_keys_lane_ready');
    expect(ready?.sql).toMatch(/where \(?"?ready_at"? is not null\)?/i);
  });

  it('the claim\'s ready-keys read is a range of that index', async () => {
    const query = fresh.store.db
      .selectFrom('outbox_keys')
      .select(['ordering_key', 'head_id'])
      .where('connector', '=', 'webhook')
      .where('lane', '=', 0)
      .where('ready_at', '<=', Date.now())
      .orderBy('ready_at')
      .orderBy('head_id')
      .limit(200)
      .compile();
    const explain = kind === 'sqlite' ? `explain query plan ${query.sql}` : `explain ${query.sql}`;
    const rows = (await fresh.store.db.executeQuery({ ...query, sql: explain })).rows as Array<Record<string, string>>;
    const plan = rows.map((r) => r['detail'] ?? r['QUERY PLAN']).join('\n');
    // PostgreSQL may prefer a sequential scan of an empty table: the index must at least be usable.
    if (kind === 'sqlite') expect(plan).toMatch(/USING INDEX outbox_keys_lane_ready \(connector=\? AND lane=\? AND ready_at<\?\)/);
    else expect(plan).toMatch(/outbox_keys_lane_ready|Seq Scan/);
  });

  it('a store as release 0013 left it gets the new index and keeps its key rows', async () => {
    const old = freshStoreUrl(kind);
    try {
      const before = await openStore(old.url, { migrateUpTo: '0013_contact_identities' });
      await sql`insert into outbox_keys (connector, ordering_key, head_id, ready_at, lane) values ('webhook', 'contact:1', 1, 5, 0), ('webhook', 'contact:2', 2, null, 0)`.execute(before.db);
      await before.close();
      const after = await openStore(old.url);
      const keys = await after.db.selectFrom('outbox_keys').select(['ordering_key', 'ready_at']).orderBy('ordering_key').execute();
      expect(keys.map((k) => [k.ordering_key, k.ready_at === null ? null : Number(k.ready_at)])).toEqual([['contact:1', 5], ['contact:2', null]]);
      await after.close();
    } finally {
      await old.drop();
    }
  });
});
