// Backups on both stores: a round trip loses nothing (even across store kinds), a wrong key, a
// damaged file and a non-empty target are refused before anything is touched.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { parseWhatsAppDelivery } from '../../connectors/whatsapp/webhook.js';
import type { Connector } from '../../core/connector.js';
import { Engine } from '../../core/engine.js';
import { DeliveryInbox } from '../../core/ingest.js';
import { silentLogger } from '../../core/logger.js';
import { Alerts } from '../../core/security/alerts.js';
import { BACKUP_TABLES, BackupError, UNSAVED_TABLES, backupPassphrase, restoreBackup, writeBackup } from '../../core/store/backup.js';
import { openStore, type Store } from '../../core/store/store.js';
import { PURGED_TEXT, purgeMessageBodies } from '../../core/model/repository.js';
import { readExample, statusWebhook, textWebhook } from '../helpers/fixtures.js';
import { freshStoreUrl, STORE_KINDS, tempDir } from '../helpers/stores.js';

const KEY = 'correct horse battery staple 42';
const planning: Connector = {
  metadata: { id: 'rec', displayName: 'Recorder', featureScopes: {}, grantScopesHint: '', maxBatch: {}, defaultTuning: { concurrency: 1, rateLimit: null, maxAttempts: 3, backoffBaseMs: 1, backoffMaxMs: 1 } },
  features: [],
  tuning: { concurrency: 1, rateLimit: null, maxAttempts: 3, backoffBaseMs: 1, backoffMaxMs: 1 },
  plan: (change) => (change.type === 'message.recorded' ? [{ kind: 'log', key: change.message.id, orderingKey: change.contact.id, payload: { id: change.message.id } }] : []),
  execute: async () => [],
  reconcile: async () => undefined,
  grantedScopes: async () => [],
};

async function populated(kind: (typeof STORE_KINDS)[number]): Promise<{ store: Store; drop: () => Promise<void> }> {
  const fresh = freshStoreUrl(kind);
  const store = await openStore(fresh.url);
  const alerts = new Alerts({ log: silentLogger(), options: () => ({ throttleMs: 60_000, sinkCount: 1, maxAttempts: 3 }) });
  const engine = new Engine({ store, parsers: { whatsapp: parseWhatsAppDelivery }, connectors: () => [planning], log: silentLogger(), options: () => ({ threadGapMs: 86_400_000, servedNumbers: [] }), alerts });
  const inbox = new DeliveryInbox(store);
  for (let i = 0; i < 30; i++) await inbox.accept('whatsapp', textWebhook({ from: `4477009001${String(i % 7).padStart(2, '0')}`, id: `wamid.B${i}`, timestamp: 1_760_000_000 + i, body: `message ${i} — with ünïcode`, name: `Customer ${i % 7}` }));
  await inbox.accept('whatsapp', readExample('message-image'));
  await inbox.accept('whatsapp', readExample('field-security'));
  await inbox.accept('whatsapp', statusWebhook({ id: 'wamid.UNKNOWN', status: 'read', recipient: '447700900101', timestamp: 1_760_000_100 }));
  await inbox.accept('whatsapp', '{ not json');
  for (;;) {
    const result = await engine.processPending(10);
    if (result.processed + result.flagged === 0) break;
  }
  await store.db.insertInto('external_refs').values({ connector: 'rec', kind: 'contact', local_id: 'c', external_id: '42', updated_at: 1 }).execute();
  // Far longer than one unzipped chunk, in characters of several bytes: some fall across chunk ends.
  await store.db.insertInto('connector_state').values({ connector: 'rec', key: 'long-text', value: 'ünï€😀'.repeat(40_000), updated_at: 1 }).execute();
  return { store, drop: fresh.drop };
}

async function contents(store: Store): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const table of BACKUP_TABLES) out[table] = (await store.db.selectFrom(table).selectAll().execute()).map((r) => JSON.stringify(Object.entries(r).sort())).sort();
  return out;
}

describe('backup and restore', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });
  const open = async (kind: (typeof STORE_KINDS)[number]) => {
    const fresh = freshStoreUrl(kind);
    const store = await openStore(fresh.url);
    cleanups.push(async () => {
      await store.close();
      await fresh.drop();
    });
    return store;
  };

  it('covers every table of the store but the rate bookkeeping and the derived outbox key queues', async () => {
    const store = await open('sqlite');
    const tables = (await sql<{ name: string }>`select name from sqlite_master where type = 'table' and name not like 'sqlite_%' and name not like 'kysely_%'`.execute(store.db)).rows.map((r) => r.name);
    expect([...BACKUP_TABLES, ...UNSAVED_TABLES].sort()).toEqual(tables.sort());
  });

  for (const from of STORE_KINDS) {
    for (const to of STORE_KINDS) {
      it(`round trip from ${from} to ${to} loses nothing, and the restored store carries on`, async () => {
        const source = await populated(from);
        cleanups.push(async () => {
          await source.store.close();
          await source.drop();
        });
        const file = join(tempDir(), 'store.backup');
        const written = await writeBackup(source.store, file, KEY);
        expect(written.counts['messages']).toBe(31);
        expect(written.counts['alerts']).toBe(2);
        expect(readFileSync(file).toString('latin1')).not.toContain('message 1');
        const target = await open(to);
        const result = await restoreBackup(target, file, KEY);
        expect(result.restored).toBe(Object.values(written.counts).reduce((a, b) => a + b, 0));
        expect(await contents(target)).toEqual(await contents(source.store));
        // The outbox's key queues are rebuilt, so the restored outbox can be claimed as before.
        const keyRows = (store: Store) => store.db.selectFrom('outbox_keys').select(['connector', 'ordering_key', 'head_id', 'ready_at']).orderBy('connector').orderBy('ordering_key').execute();
        expect((await keyRows(target)).length).toBeGreaterThan(0);
        expect(await keyRows(target)).toEqual(await keyRows(source.store));
        // New rows get new ids after the restored ones.
        const next = await target.db.insertInto('webhook_deliveries').values({ source: 'whatsapp', received_at: 1, body: '{}', state: 'processed', problems: null, processed_at: 1 }).returning('id').executeTakeFirstOrThrow();
        expect(next.id).toBeGreaterThan(Math.max(...(await source.store.db.selectFrom('webhook_deliveries').select('id').execute()).map((r) => r.id)));
      });
    }
  }

  it('refuses a wrong key, a damaged file and a store that is not empty, changing nothing', async () => {
    const source = await populated('sqlite');
    cleanups.push(async () => {
      await source.store.close();
      await source.drop();
    });
    const file = join(tempDir(), 'store.backup');
    await writeBackup(source.store, file, KEY);
    const target = await open('sqlite');
    await expect(restoreBackup(target, file, 'not the right key at all')).rejects.toThrow(/the key is wrong or the file is damaged/);
    const damaged = readFileSync(file);
    damaged[damaged.length - 40] = damaged[damaged.length - 40]! ^ 0xff;
    const damagedFile = join(tempDir(), 'damaged.backup');
    writeFileSync(damagedFile, damaged);
    await expect(restoreBackup(target, damagedFile, KEY)).rejects.toThrow(/failed authentication/);
    // Altered near the start (what unzips first) and cut off in the middle: refused all the same.
    const early = readFileSync(file);
    early[40] = early[40]! ^ 0xff;
    writeFileSync(damagedFile, early);
    await expect(restoreBackup(target, damagedFile, KEY)).rejects.toThrow(/the key is wrong or the file is damaged/);
    writeFileSync(damagedFile, readFileSync(file).subarray(0, Math.floor(damaged.length / 2)));
    await expect(restoreBackup(target, damagedFile, KEY)).rejects.toThrow(/the key is wrong or the file is damaged/);
    writeFileSync(damagedFile, damaged.subarray(0, 20));
    await expect(restoreBackup(target, damagedFile, KEY)).rejects.toThrow(/not a wa-crm-sync backup/);
    expect(Object.values(await contents(target)).flat()).toEqual([]);
    await expect(restoreBackup(source.store, file, KEY)).rejects.toThrow(/the target store is not empty/);
  });

  it('purges message texts past the retention period, keeping that the messages existed', async () => {
    const source = await populated('postgres');
    cleanups.push(async () => {
      await source.store.close();
      await source.drop();
    });
    const purged = await purgeMessageBodies(source.store.db, (1_760_000_010) * 1000);
    expect(purged.messages).toBeGreaterThanOrEqual(10);
    const texts = (await source.store.db.selectFrom('messages').select(['id', 'text']).orderBy('sent_at').execute()).map((m) => m.text);
    expect(texts.filter((t) => t === PURGED_TEXT)).toHaveLength(purged.messages);
    expect(texts).toContain('message 20 — with ünïcode');
    expect(await purgeMessageBodies(source.store.db, 1_760_000_010 * 1000)).toEqual({ messages: 0, deliveries: 0 });
  });

  it('takes the key from the environment or a key file, and refuses a short one', async () => {
    expect(await backupPassphrase({ env: { WA_CRM_SYNC_BACKUP_KEY: KEY } })).toBe(KEY);
    const keyFile = join(tempDir(), 'key');
    writeFileSync(keyFile, `${KEY}\n`);
    expect(await backupPassphrase({ env: {}, keyFile })).toBe(KEY);
    await expect(backupPassphrase({ env: { WA_CRM_SYNC_BACKUP_KEY: 'short' } })).rejects.toBeInstanceOf(BackupError);
    await expect(backupPassphrase({ env: {} })).rejects.toThrow(/no backup key/);
  });
});
