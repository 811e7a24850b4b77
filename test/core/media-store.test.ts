// Media shared by the instances of one PostgreSQL store: a file one instance stored is read by
// another that never had it on disk, survives a backup and restore, and a file found nowhere
// fails with what to do.
import { randomBytes } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MediaMissingError, readStoredMedia, sha256Hex, shareMediaThroughStore, storeContentAddressed } from '../../core/media-store.js';
import { restoreBackup, writeBackup } from '../../core/store/backup.js';
import { openStore, type Store } from '../../core/store/store.js';
import { freshStoreUrl, tempDir } from '../helpers/stores.js';

const KEY = 'a backup key of decent length';

describe('media shared through the store', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  const open = async (url: string): Promise<Store> => {
    const store = await openStore(url);
    cleanups.push(() => store.close());
    return store;
  };

  it('lets an instance read a file another instance stored, and keeps it on its own disk after', async () => {
    const fresh = freshStoreUrl('postgres');
    cleanups.push(fresh.drop);
    const [first, second] = [await open(fresh.url), await open(fresh.url)];
    const [dirA, dirB] = [tempDir(), tempDir()];
    const bytes = randomBytes(70_000);
    const unshareA = shareMediaThroughStore(dirA, first);
    const path = await storeContentAddressed(dirA, bytes);
    expect(path).toBe(join(dirA, sha256Hex(bytes)));
    // Instance A is elsewhere: its disk is not this one's.
    unshareA();
    rmSync(dirA, { recursive: true, force: true });
    cleanups.push(shareMediaThroughStore(dirB, second));
    expect(Buffer.compare(await readStoredMedia(path), bytes)).toBe(0);
    expect(existsSync(join(dirB, sha256Hex(bytes)))).toBe(true);
    // Stored twice, kept once.
    await storeContentAddressed(dirB, bytes);
    expect((await second.db.selectFrom('media_blobs').select('sha256').execute()).length).toBe(1);
  });

  it('carries shared media in backups: a restored store serves them to an instance with an empty disk', async () => {
    const source = freshStoreUrl('postgres');
    cleanups.push(source.drop);
    const store = await open(source.url);
    const dir = tempDir();
    const unshare = shareMediaThroughStore(dir, store);
    const bytes = randomBytes(5000);
    const path = await storeContentAddressed(dir, bytes);
    unshare();
    const file = join(tempDir(), 'store.backup');
    await writeBackup(store, file, KEY);
    const target = freshStoreUrl('postgres');
    cleanups.push(target.drop);
    const restored = await open(target.url);
    await restoreBackup(restored, file, KEY);
    rmSync(dir, { recursive: true, force: true });
    cleanups.push(shareMediaThroughStore(tempDir(), restored));
    expect(Buffer.compare(await readStoredMedia(path), bytes)).toBe(0);
  });

  it('says what to do when a file is on no disk and in no store', async () => {
    const path = join(tempDir(), sha256Hex(Buffer.from('gone')));
    const failure = await readStoredMedia(path).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(MediaMissingError);
    expect((failure as Error).message).toMatch(/not on this instance's disk.*PostgreSQL store.*replay the media operation/);
  });
});
