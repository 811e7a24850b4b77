// The audit trail on both stores: records chain, and verify names the first record that was
// edited, removed, reordered or cut off, after tampering with the store directly.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeEach, describe, expect, it } from 'vitest';
import { appendAudit, listAudit, verifyAuditTrail } from '../../../core/security/audit-trail.js';
import type { Store } from '../../../core/store/store.js';
import { projectRoot } from '../../helpers/fixtures.js';
import { writeConfig } from '../../helpers/service-process.js';
import { freshStorePerTest } from '../../helpers/store-per-test.js';
import { STORE_KINDS, tempDir } from '../../helpers/stores.js';

describe.each(STORE_KINDS)('audit trail on %s', (kind) => {
  const fresh = freshStorePerTest(kind);
  let store: Store;
  let url: string;

  beforeEach(async () => {
    ({ store, url } = fresh);
    for (const [i, action] of ['backup', 'config.reload', 'replay.operations', 'setup', 'retention.purge'].entries()) {
      await appendAudit(store, { actor: i % 2 ? 'service' : 'cli:alice', action, target: `t${i}`, detail: { n: i } }, 1_760_000_000_000 + i);
    }
  });

  it('chains every record to the one before and verifies intact', async () => {
    expect(await verifyAuditTrail(store)).toEqual({ ok: true, records: 5 });
    const records = await listAudit(store);
    expect(records.map((r) => r.seq)).toEqual([5, 4, 3, 2, 1]);
    expect(records[0]!.prevHash).toBe(records[1]!.hash);
    expect((await listAudit(store, { action: 'replay' })).map((r) => r.action)).toEqual(['replay.operations']);
  });

  it('names an edited record', async () => {
    await store.db.updateTable('audit_trail').set({ actor: 'cli:mallory' }).where('seq', '=', 2).execute();
    expect(await verifyAuditTrail(store)).toMatchObject({ ok: false, firstBad: 2, reason: 'record 2 (config.reload by cli:mallory) was edited after it was written' });
  });

  it('names a removed record', async () => {
    await store.db.deleteFrom('audit_trail').where('seq', '=', 3).execute();
    expect(await verifyAuditTrail(store)).toMatchObject({ ok: false, firstBad: 3, reason: expect.stringMatching(/record 3 is missing/) });
  });

  it('names reordered records (two swapped)', async () => {
    const [two, three] = await store.db.selectFrom('audit_trail').selectAll().where('seq', 'in', [2, 3]).orderBy('seq').execute();
    await store.db.updateTable('audit_trail').set({ ...three!, seq: 2 }).where('seq', '=', 2).execute();
    await store.db.updateTable('audit_trail').set({ ...two!, seq: 3 }).where('seq', '=', 3).execute();
    expect(await verifyAuditTrail(store)).toMatchObject({ ok: false, firstBad: 2 });
  });

  it('notices records cut off the end', async () => {
    await store.db.deleteFrom('audit_trail').where('seq', '>=', 4).execute();
    expect(await verifyAuditTrail(store)).toMatchObject({ ok: false, firstBad: 4, reason: expect.stringMatching(/cut off the end/) });
  });

  it('wa-crm-sync audit verify exits 1 and names the first bad record', async () => {
    const configPath = join(tempDir(), 'c.yaml');
    writeConfig(configPath, { whatsapp: { appSecret: 'x', verifyToken: 'y' }, store: { url } });
    const bin = join(projectRoot, 'bin/wa-crm-sync.js');
    const run = promisify(execFile);
    expect((await run(process.execPath, [bin, 'audit', 'verify', '--config', configPath])).stdout.trim()).toBe('audit trail intact: 5 records');
    await store.db.updateTable('audit_trail').set({ detail: '{"n":99}' }).where('seq', '=', 4).execute();
    await expect(run(process.execPath, [bin, 'audit', 'verify', '--config', configPath])).rejects.toMatchObject({ code: 1, stderr: expect.stringMatching(/audit trail broken at record 4 of 5: record 4 \(setup by service\) was edited/) });
  });
});
