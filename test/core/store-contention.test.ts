// Two processes on one SQLite file: the service and a CLI command (replay, users, backup) both
// write, each in its own transactions. Neither may fail with "database is locked", and the audit
// chain both append to must stay whole.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { appendAudit, verifyAuditTrail } from '../../core/security/audit-trail.js';
import { openStore, type Store } from '../../core/store/store.js';
import { projectRoot, TEST_AUDIT_KEY } from '../helpers/fixtures.js';
import { waitFor } from '../helpers/service-process.js';
import { freshStoreUrl } from '../helpers/stores.js';

const WRITES = 300;

function writerProcess(url: string, actor: string): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(projectRoot, 'test/helpers/audit-writer.ts'), url, String(WRITES), actor], { cwd: projectRoot });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stderr })));
}

describe('sqlite store shared by two processes', () => {
  let store: Store | undefined;
  afterEach(async () => {
    await store?.close();
  });

  it('lets both append to the audit trail at once: none refused, the chain intact', { timeout: 60_000 }, async () => {
    const { url } = freshStoreUrl('sqlite');
    store = await openStore(url);
    await appendAudit(store, TEST_AUDIT_KEY, { actor: 'test', action: 'test.start' });
    const other = writerProcess(url, 'other-process');
    // Start once the other process is writing, so the two really overlap.
    const db = store.db;
    await waitFor(async () => (await db.selectFrom('audit_trail').select('seq').where('actor', '=', 'other-process').executeTakeFirst()) !== undefined, 20_000, 'the other process to start writing');
    const failures: string[] = [];
    for (let i = 0; i < WRITES; i++) {
      await appendAudit(store, TEST_AUDIT_KEY, { actor: 'this-process', action: 'test.write', target: String(i) }).catch((error: Error) => failures.push(error.message));
      // Leave the other process room to interleave with ours between transactions.
      await new Promise((r) => setImmediate(r));
    }
    const { code, stderr } = await other;
    expect(failures).toEqual([]);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(await verifyAuditTrail(store, TEST_AUDIT_KEY)).toEqual({ ok: true, records: 1 + 2 * WRITES, legacy: 0 });
  });
});
