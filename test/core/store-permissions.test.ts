// The SQLite store, its WAL files, media files and the backup folder are the service user's
// alone: they hold message texts, phone numbers and session tokens.
import { chmodSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { storeContentAddressed } from '../../core/media-store.js';
import { openStore, sqliteFiles } from '../../core/store/store.js';
import { appendAudit } from '../../core/security/audit-trail.js';
import { tempDir } from '../helpers/stores.js';
import { TEST_AUDIT_KEY } from '../helpers/fixtures.js';

const modeOf = (path: string) => statSync(path).mode & 0o777;

describe('file permissions of what the service writes', () => {
  it('creates the store folder 0700 and the store and its WAL files 0600, and tightens an older store', async () => {
    const file = join(tempDir(), 'nested', 'store.sqlite');
    const store = await openStore(`sqlite:${file}`);
    await appendAudit(store, TEST_AUDIT_KEY, { actor: 'test', action: 'test.write' });
    expect(modeOf(dirname(file))).toBe(0o700);
    for (const f of sqliteFiles(file)) expect(modeOf(f), f).toBe(0o600);
    await store.close();
    chmodSync(file, 0o644);
    const again = await openStore(`sqlite:${file}`);
    expect(modeOf(file)).toBe(0o600);
    await again.close();
  });

  it('writes media files 0600 in a 0700 folder', async () => {
    const dir = join(tempDir(), 'media');
    const path = await storeContentAddressed(dir, Buffer.from('a customer photo'));
    expect([modeOf(dir), modeOf(path)]).toEqual([0o700, 0o600]);
  });
});
