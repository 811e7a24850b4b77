// The media directory: files named by the SHA-256 of their bytes, written whole (temporary file,
// then rename), so the same file is stored once and a crash never leaves half a file under its name.
//
// Several instances do not share a disk: with `shareMedia` every file stored is also kept in a
// place they all reach (a `SharedMedia`: the PostgreSQL store's `media_blobs`, by hash, so in
// backups too, or S3-compatible object storage, core/media-s3.ts), and a file another instance
// stored is fetched from there on first read and kept in the local directory as a cache.
// Connectors store with `storeContentAddressed` and read with `readStoredMedia`, never the file
// system directly.
import { createHash, randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { SyncError } from './errors.js';
import type { Store } from './store/store.js';

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

const HASH_NAME = /^[0-9a-f]{64}$/;

/** Where the instances of one service keep media files by hash, so each can read what another stored. */
export interface SharedMedia {
  /** For messages: where the files are (no credentials). */
  readonly description: string;
  /** Keeps the bytes under their hash; the same hash twice keeps one copy. */
  put(sha256: string, bytes: Uint8Array): Promise<void>;
  /** The bytes stored under this hash, or undefined when there are none. */
  get(sha256: string): Promise<Buffer | undefined>;
  /** Lets go of connections, when there are any of its own. */
  close?(): void;
}

/** Media directories whose files are also kept in shared media (this process's instances of the service). */
const sharedStores = new Map<string, SharedMedia>();

/** From now on, files stored under `dir` are also kept in `shared`, and files missing there are fetched from it. */
export function shareMedia(dir: string, shared: SharedMedia): () => void {
  const key = resolve(dir);
  sharedStores.set(key, shared);
  return () => {
    if (sharedStores.get(key) === shared) sharedStores.delete(key);
  };
}

/** Media kept in the store itself (`media_blobs`): what instances of one PostgreSQL store share. */
export function storeMedia(store: Store): SharedMedia {
  return {
    description: 'the store',
    async put(sha256, bytes) {
      // Base64 text: the same column type on both dialects, and backups carry it as it is.
      await store.db
        .insertInto('media_blobs')
        .values({ sha256, size: bytes.byteLength, data_base64: Buffer.from(bytes).toString('base64'), created_at: Date.now() })
        .onConflict((oc) => oc.column('sha256').doNothing())
        .execute();
    },
    async get(sha256) {
      const row = await store.db.selectFrom('media_blobs').select('data_base64').where('sha256', '=', sha256).executeTakeFirst();
      return row ? Buffer.from(row.data_base64, 'base64') : undefined;
    },
  };
}

/** From now on, files stored under `dir` are also kept in `store` (`media_blobs`), and files missing there are fetched from it. */
export function shareMediaThroughStore(dir: string, store: Store): () => void {
  return shareMedia(dir, storeMedia(store));
}

async function writeWhole(path: string, bytes: Uint8Array): Promise<void> {
  const temp = `${path}.${randomUUID()}.tmp`;
  // Customers' photos and documents: readable by the service's user only.
  await writeFile(temp, bytes, { mode: 0o600 });
  await rename(temp, path);
}

/** Stores the bytes under their hash (`sha256` when the caller computed it already); returns the path. */
export async function storeContentAddressed(dir: string, bytes: Uint8Array, sha256 = sha256Hex(bytes)): Promise<string> {
  // Customers' photos and documents: readable by the service's user only.
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, sha256);
  const existing = await stat(path).catch(() => undefined);
  if (existing?.size !== bytes.byteLength) await writeWhole(path, bytes);
  await sharedStores.get(resolve(dir))?.put(sha256, bytes);
  return path;
}

/** A stored file that is neither on this instance's disk nor in the shared store. */
export class MediaMissingError extends SyncError {
  override readonly name = 'MediaMissingError';
}

/** Reads a file stored by `storeContentAddressed`, on this instance or (through the shared store) on another. */
export async function readStoredMedia(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const sha256 = basename(path);
  // The path another instance wrote may name a directory this one does not have: look in each shared store.
  for (const [dir, shared] of HASH_NAME.test(sha256) ? sharedStores : []) {
    const bytes = await shared.get(sha256);
    if (!bytes) continue;
    if (sha256Hex(bytes) !== sha256) throw new MediaMissingError(`media ${sha256.slice(0, 12)}… in ${shared.description} does not match its hash; fetch it again (replay the media operation)`);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await writeWhole(join(dir, sha256), bytes);
    return bytes;
  }
  throw new MediaMissingError(
    `media file ${sha256.slice(0, 12)}… is not on this instance's disk${sharedStores.size > 0 ? ` nor in ${[...new Set([...sharedStores.values()].map((m) => m.description))].join(' or ')}` : ''}; with several instances use a PostgreSQL store or whatsapp.media.store: s3 (media are then shared), or replay the media operation to fetch it again`,
    { retryable: false },
  );
}
