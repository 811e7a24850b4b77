// The audit trail on both stores: records chain under the audit key, and verify names the first
// record that was edited, removed, reordered or cut off, after tampering with the store directly,
// including by someone who recomputes every hash and the stored head (but lacks the key).
import { createHash, createHmac } from 'node:crypto';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeEach, describe, expect, it } from 'vitest';
import { appendAudit, auditHead, auditKeyFrom, formatAuditHead, listAudit, loadAuditKey, sealLegacyAudit, verifyAuditTrail } from '../../../core/security/audit-trail.js';
import { openStore, type Store } from '../../../core/store/store.js';
import { projectRoot, TEST_AUDIT_KEY } from '../../helpers/fixtures.js';
import { writeConfig } from '../../helpers/service-process.js';
import { freshStorePerTest } from '../../helpers/store-per-test.js';
import { freshStoreUrl, STORE_KINDS, tempDir } from '../../helpers/stores.js';

const run = promisify(execFile);
const bin = join(projectRoot, 'bin/wa-crm-sync.js');

/**
 * What an attacker with write access to the store (but not the key) can do: delete rows, then
 * re-chain everything left with a hash of their choosing (`mac`) and rewrite the stored head.
 */
async function rewriteTrail(store: Store, remove: (seq: number) => boolean, mac: (prev: string, text: string) => string, keyId: (old: string | null) => string | null = (old) => old): Promise<void> {
  const rows = (await store.db.selectFrom('audit_trail').selectAll().orderBy('seq').execute()).filter((r) => !remove(r.seq));
  await store.db.deleteFrom('audit_trail').execute();
  let prev = '0'.repeat(64);
  for (const [i, row] of rows.entries()) {
    const seq = i + 1;
    const hash = mac(prev, JSON.stringify([seq, row.at, row.actor, row.action, row.target, JSON.parse(row.detail)]));
    await store.db.insertInto('audit_trail').values({ ...row, seq, prev_hash: prev, hash, key_id: keyId(row.key_id) }).execute();
    prev = hash;
  }
  await store.db.updateTable('connector_state').set({ value: JSON.stringify({ seq: rows.length, hash: prev }) }).where('connector', '=', '_service').where('key', '=', 'audit-head').execute();
}

const sha256 = (prev: string, text: string) => createHash('sha256').update(prev).update(text).digest('hex');

describe.each(STORE_KINDS)('audit trail on %s', (kind) => {
  const fresh = freshStorePerTest(kind);
  let store: Store;
  let url: string;

  beforeEach(async () => {
    ({ store, url } = fresh);
    for (const [i, action] of ['backup', 'config.reload', 'replay.operations', 'setup', 'retention.purge'].entries()) {
      await appendAudit(store, TEST_AUDIT_KEY, { actor: i % 2 ? 'service' : 'cli:alice', action, target: `t${i}`, detail: { n: i } }, 1_760_000_000_000 + i);
    }
  });

  it('chains every record to the one before and verifies intact', async () => {
    expect(await verifyAuditTrail(store, TEST_AUDIT_KEY)).toEqual({ ok: true, records: 5, legacy: 0 });
    const records = await listAudit(store);
    expect(records.map((r) => r.seq)).toEqual([5, 4, 3, 2, 1]);
    expect(records[0]!.prevHash).toBe(records[1]!.hash);
    expect((await listAudit(store, { action: 'replay' })).map((r) => r.action)).toEqual(['replay.operations']);
  });

  it('names an edited record', async () => {
    await store.db.updateTable('audit_trail').set({ actor: 'cli:mallory' }).where('seq', '=', 2).execute();
    expect(await verifyAuditTrail(store, TEST_AUDIT_KEY)).toMatchObject({ ok: false, firstBad: 2, reason: expect.stringMatching(/^record 2 \(config.reload by cli:mallory\) does not match its HMAC/) });
  });

  it('names a removed record', async () => {
    await store.db.deleteFrom('audit_trail').where('seq', '=', 3).execute();
    expect(await verifyAuditTrail(store, TEST_AUDIT_KEY)).toMatchObject({ ok: false, firstBad: 3, reason: expect.stringMatching(/record 3 is missing/) });
  });

  it('names reordered records (two swapped)', async () => {
    const [two, three] = await store.db.selectFrom('audit_trail').selectAll().where('seq', 'in', [2, 3]).orderBy('seq').execute();
    await store.db.updateTable('audit_trail').set({ ...three!, seq: 2 }).where('seq', '=', 2).execute();
    await store.db.updateTable('audit_trail').set({ ...two!, seq: 3 }).where('seq', '=', 3).execute();
    expect(await verifyAuditTrail(store, TEST_AUDIT_KEY)).toMatchObject({ ok: false, firstBad: 2 });
  });

  it('notices records cut off the end', async () => {
    await store.db.deleteFrom('audit_trail').where('seq', '>=', 4).execute();
    expect(await verifyAuditTrail(store, TEST_AUDIT_KEY)).toMatchObject({ ok: false, firstBad: 4, reason: expect.stringMatching(/cut off the end/) });
  });

  it('a record deleted and every hash and the stored head recomputed without the key is caught, whichever hash the attacker picks', async () => {
    const original = await store.db.selectFrom('audit_trail').select(['seq', 'key_id']).orderBy('seq').execute();
    // SHA-256 as before the key, marked as records from before the key: nothing keyed vouches for them.
    await rewriteTrail(store, (seq) => seq === 3, sha256, () => null);
    expect(await verifyAuditTrail(store, TEST_AUDIT_KEY)).toMatchObject({ ok: false, reason: expect.stringMatching(/no record is keyed/) });
    // An HMAC under a key of their own: named as another key (they cannot learn ours from the store).
    await rewriteTrail(store, () => false, (prev, text) => createHmac('sha256', 'attacker key 0123456789').update(prev).update(text).digest('hex'), () => original[0]!.key_id);
    expect(await verifyAuditTrail(store, TEST_AUDIT_KEY)).toMatchObject({ ok: false, firstBad: 1, reason: expect.stringMatching(/^record 1 \(backup by cli:alice\) does not match its HMAC/) });
    // Their key's own id, so the ids agree: still the HMAC that fails.
    await rewriteTrail(store, () => false, sha256, () => auditKeyFrom('attacker key 0123456789').id);
    expect(await verifyAuditTrail(store, TEST_AUDIT_KEY)).toMatchObject({ ok: false, firstBad: 1, reason: expect.stringMatching(/another audit key/) });
  });

  it('cutting records off the end and rewriting the stored head shows against a published head', async () => {
    const published = await auditHead(store.db);
    const keyed = await store.db.selectFrom('audit_trail').selectAll().where('seq', '<=', 3).orderBy('seq').execute();
    await store.db.deleteFrom('audit_trail').where('seq', '>', 3).execute();
    await store.db.updateTable('connector_state').set({ value: JSON.stringify({ seq: 3, hash: keyed[2]!.hash }) }).where('key', '=', 'audit-head').execute();
    // The store alone cannot tell (the remaining records are genuine)...
    expect(await verifyAuditTrail(store, TEST_AUDIT_KEY)).toMatchObject({ ok: true, records: 3 });
    // ...the head published before can.
    expect(await verifyAuditTrail(store, TEST_AUDIT_KEY, [published])).toMatchObject({ ok: false, firstBad: 4, reason: expect.stringMatching(/record 5 was published: records were cut off the end/) });
    expect(await verifyAuditTrail(store, TEST_AUDIT_KEY, [{ seq: 2, hash: 'f'.repeat(64) }])).toMatchObject({ ok: false, firstBad: 2, reason: expect.stringMatching(/differs from the head published/) });
  });

  it('wa-crm-sync audit verify exits 1 and names the first bad record, also against a --head', { timeout: 180_000 }, async () => {
    const dir = tempDir();
    const configPath = join(dir, 'c.yaml');
    writeConfig(configPath, { whatsapp: { appSecret: 'x', verifyToken: 'y' }, store: { url } });
    const env = { ...process.env, WA_CRM_SYNC_AUDIT_KEY: 'test-audit-key-0123456789' };
    const head = formatAuditHead(await auditHead(store.db));
    expect((await run(process.execPath, [bin, 'audit', 'verify', '--config', configPath, '--head', head], { env })).stdout.trim()).toBe(`audit trail intact: 5 records keyed with audit key ${TEST_AUDIT_KEY.id}, matching 1 published head (newest: record 5)`);
    await expect(run(process.execPath, [bin, 'audit', 'verify', '--config', configPath, '--head', 'five'], { env })).rejects.toMatchObject({ stderr: expect.stringMatching(/"five" is not an audit head; write it as SEQ:HASH/) });
    // Without the key (no variable, no key file) nothing can be checked: said so, not "intact".
    const { WA_CRM_SYNC_AUDIT_KEY: _unset, ...withoutKey } = env;
    await expect(run(process.execPath, [bin, 'audit', 'verify', '--config', configPath], { env: withoutKey })).rejects.toMatchObject({ stderr: expect.stringMatching(/audit.key does not exist and WA_CRM_SYNC_AUDIT_KEY is not set/) });
    await store.db.updateTable('audit_trail').set({ detail: '{"n":99}' }).where('seq', '=', 4).execute();
    await expect(run(process.execPath, [bin, 'audit', 'verify', '--config', configPath], { env })).rejects.toMatchObject({ code: 1, stderr: expect.stringMatching(/audit trail broken at record 4 of 5: record 4 \(setup by service\) does not match its HMAC/) });
  });
});

describe.each(STORE_KINDS)('a trail from before the audit key, on %s', (kind) => {
  it('keeps its old hashes; the first keyed record seals them, and editing one of them afterwards shows', async () => {
    const { url, drop } = freshStoreUrl(kind);
    let store = await openStore(url, { migrateUpTo: '0009_outbox_key_queue_media_blobs' });
    try {
      // Written as the release before wrote them: SHA-256, no key id column.
      let prev = '0'.repeat(64);
      for (let seq = 1; seq <= 3; seq++) {
        const hash = sha256(prev, JSON.stringify([seq, 1_750_000_000_000 + seq, 'service', 'backup', '', null]));
        await store.db.withTables<{ audit_trail: { seq: number; at: number; actor: string; action: string; target: string; detail: string; prev_hash: string; hash: string } }>().insertInto('audit_trail').values({ seq, at: 1_750_000_000_000 + seq, actor: 'service', action: 'backup', target: '', detail: 'null', prev_hash: prev, hash }).execute();
        prev = hash;
      }
      await store.db.insertInto('connector_state').values({ connector: '_service', key: 'audit-head', value: JSON.stringify({ seq: 3, hash: prev }), updated_at: 0 }).execute();
      await store.close();
      store = await openStore(url);
      const before = await store.db.selectFrom('audit_trail').select(['seq', 'hash', 'key_id']).orderBy('seq').execute();
      expect(before.map((r) => r.key_id)).toEqual([null, null, null]);
      expect(await verifyAuditTrail(store, TEST_AUDIT_KEY)).toMatchObject({ ok: false, reason: expect.stringMatching(/start the service once/) });

      expect(await sealLegacyAudit(store, TEST_AUDIT_KEY)).toBe(3);
      expect(await sealLegacyAudit(store, TEST_AUDIT_KEY)).toBe(0);
      expect(await verifyAuditTrail(store, TEST_AUDIT_KEY)).toEqual({ ok: true, records: 4, legacy: 3 });
      // History is not re-hashed.
      expect((await store.db.selectFrom('audit_trail').select(['seq', 'hash']).where('seq', '<=', 3).orderBy('seq').execute()).map((r) => r.hash)).toEqual(before.map((r) => r.hash));
      expect((await listAudit(store, { limit: 1 }))[0]).toMatchObject({ seq: 4, action: 'audit.keyed', detail: { legacyRecords: 3 } });

      // An old record edited and the old part re-chained: the keyed record no longer follows it.
      await store.db.updateTable('audit_trail').set({ actor: 'cli:mallory' }).where('seq', '=', 2).execute();
      await rewriteTrail(store, () => false, (p, text) => (text.includes('audit.keyed') ? 'x' : sha256(p, text)));
      expect(await verifyAuditTrail(store, TEST_AUDIT_KEY)).toMatchObject({ ok: false, firstBad: 4 });
    } finally {
      await store.close();
      await drop();
    }
  });
});

describe('the audit key', () => {
  it('is made 0600 beside the config at first use, read back the same, and refused when short', async () => {
    const dir = tempDir();
    const keyFile = join(dir, 'audit.key');
    await expect(loadAuditKey({ env: {}, keyFile, create: false })).rejects.toThrow(/does not exist/);
    const made = await loadAuditKey({ env: {}, keyFile, create: true });
    const { statSync } = await import('node:fs');
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    expect((await loadAuditKey({ env: {}, keyFile, create: false })).id).toBe(made.id);
    expect((await loadAuditKey({ env: { WA_CRM_SYNC_AUDIT_KEY: 'test-audit-key-0123456789' }, keyFile, create: false })).id).toBe(TEST_AUDIT_KEY.id);
    await expect(loadAuditKey({ env: { WA_CRM_SYNC_AUDIT_KEY: 'short' }, keyFile, create: false })).rejects.toThrow(/shorter than 16/);
    writeFileSync(keyFile, 'short\n');
    await expect(loadAuditKey({ env: {}, keyFile, create: false })).rejects.toThrow(/fewer than 16 characters/);
  });
});
