// Media in S3-compatible object storage, against a real local S3 server (s3rver): a file one
// instance stored is read by another that never had it on disk; the store (and so its backups)
// holds no media bytes, and a restored store's media are still read from the bucket.
import { randomBytes } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MediaStorageError, openS3Media, type S3MediaSettings } from '../../core/media-s3.js';
import { readStoredMedia, sha256Hex, shareMedia, storeContentAddressed, type SharedMedia } from '../../core/media-store.js';
import { restoreBackup, writeBackup } from '../../core/store/backup.js';
import { openStore } from '../../core/store/store.js';
import { freshStoreUrl, tempDir } from '../helpers/stores.js';

describe('media in S3-compatible object storage', () => {
  let server: S3rver;
  let settings: S3MediaSettings;
  beforeAll(async () => {
    server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: tempDir('wa-crm-sync-s3-'), configureBuckets: [{ name: 'media', configs: [] }] });
    const { port } = (await server.run()) as unknown as { port: number };
    settings = { bucket: 'media', region: 'us-east-1', endpoint: `http://127.0.0.1:${port}`, prefix: 'wa/', accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
  });
  afterAll(async () => {
    await server.close();
  });

  const withMedia = async <T>(work: (shared: SharedMedia) => Promise<T>): Promise<T> => {
    const shared = await openS3Media(settings);
    try {
      return await work(shared);
    } finally {
      shared.close?.();
    }
  };

  it('lets an instance read a file another instance stored, and keeps it on its own disk after', async () => {
    const bytes = randomBytes(70_000);
    const [dirA, dirB] = [tempDir(), tempDir()];
    const path = await withMedia(async (shared) => {
      const unshare = shareMedia(dirA, shared);
      try {
        return await storeContentAddressed(dirA, bytes);
      } finally {
        unshare();
      }
    });
    rmSync(dirA, { recursive: true, force: true });
    await withMedia(async (shared) => {
      const unshare = shareMedia(dirB, shared);
      try {
        expect(Buffer.compare(await readStoredMedia(path), bytes)).toBe(0);
        expect(existsSync(join(dirB, sha256Hex(bytes)))).toBe(true);
        expect(await shared.get(sha256Hex(Buffer.from('never stored')))).toBeUndefined();
      } finally {
        unshare();
      }
    });
  });

  it('keeps media out of the store: its backup has none, and a restored store reads them from the bucket', async () => {
    const source = freshStoreUrl('postgres');
    const target = freshStoreUrl('postgres');
    const store = await openStore(source.url);
    const restored = await openStore(target.url);
    try {
      const bytes = randomBytes(5000);
      const dir = tempDir();
      const path = await withMedia(async (shared) => {
        const unshare = shareMedia(dir, shared);
        try {
          return await storeContentAddressed(dir, bytes);
        } finally {
          unshare();
        }
      });
      expect(await store.db.selectFrom('media_blobs').select('sha256').execute()).toEqual([]);
      const file = join(tempDir(), 'store.backup');
      await writeBackup(store, file, 'a backup key of decent length');
      await restoreBackup(restored, file, 'a backup key of decent length');
      rmSync(dir, { recursive: true, force: true });
      await withMedia(async (shared) => {
        const unshare = shareMedia(tempDir(), shared);
        try {
          expect(Buffer.compare(await readStoredMedia(path), bytes)).toBe(0);
        } finally {
          unshare();
        }
      });
    } finally {
      await store.close();
      await restored.close();
      await source.drop();
      await target.drop();
    }
  });

  it('fails at start, saying what to check, when the bucket is not there', async () => {
    const failure = await openS3Media({ ...settings, bucket: 'no-such-bucket' }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(MediaStorageError);
    expect((failure as Error).message).toMatch(/could not reach bucket no-such-bucket at 127\.0\.0\.1:\d+.*check whatsapp\.media\.s3/);
    expect((failure as Error).message).not.toContain('S3RVER');
  });
});
