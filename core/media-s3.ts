// Media kept in S3-compatible object storage (`whatsapp.media.store: s3`): one object per file,
// named by its SHA-256 under a prefix, so every instance reads what any of them stored and the
// database holds no media bytes. The client library is loaded only when this is configured.
import { SyncError } from './errors.js';
import type { SharedMedia } from './media-store.js';

/** The `whatsapp.media.s3` settings, validated by the config schema. */
export interface S3MediaSettings {
  readonly bucket: string;
  readonly region: string;
  /** An S3-compatible server other than AWS (MinIO, Ceph, R2…); the path-style address is used then. */
  readonly endpoint?: string | undefined;
  /** Object names start with this (say `media/`), so the bucket can hold other things too. */
  readonly prefix: string;
  /** Without both, the library's own chain applies (AWS_ACCESS_KEY_ID…, an instance role). */
  readonly accessKeyId?: string | undefined;
  readonly secretAccessKey?: string | undefined;
}

/** Object storage refused or could not be reached: retried like any transient failure. */
export class MediaStorageError extends SyncError {
  override readonly name = 'MediaStorageError';
}

/** Opens the bucket; checks it is reachable, so a wrong name or credential fails at start, not at the first file. */
export async function openS3Media(settings: S3MediaSettings): Promise<SharedMedia> {
  const s3 = await import('@aws-sdk/client-s3');
  const client = new s3.S3Client({
    region: settings.region,
    ...(settings.endpoint ? { endpoint: settings.endpoint, forcePathStyle: true } : {}),
    ...(settings.accessKeyId && settings.secretAccessKey ? { credentials: { accessKeyId: settings.accessKeyId, secretAccessKey: settings.secretAccessKey } } : {}),
  });
  const description = `bucket ${settings.bucket}${settings.endpoint ? ` at ${new URL(settings.endpoint).host}` : ''}`;
  const failure = (action: string, error: unknown) =>
    new MediaStorageError(`could not ${action} ${description}: ${(error as Error).name ?? 'error'}: ${(error as Error).message}; check whatsapp.media.s3 (bucket, region, endpoint) and the credentials`, {
      retryable: true,
      cause: error,
    });
  try {
    // https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadBucket.html
    await client.send(new s3.HeadBucketCommand({ Bucket: settings.bucket }));
  } catch (error) {
    client.destroy();
    throw failure('reach', error);
  }
  const key = (sha256: string) => `${settings.prefix}${sha256}`;
  return {
    description,
    async put(sha256, bytes) {
      try {
        // Same name, same bytes: writing again is harmless, so no existence check first.
        // https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html
        await client.send(new s3.PutObjectCommand({ Bucket: settings.bucket, Key: key(sha256), Body: bytes, ContentLength: bytes.byteLength }));
      } catch (error) {
        throw failure('store a file in', error);
      }
    },
    async get(sha256) {
      try {
        // https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html (404 NoSuchKey when absent)
        const object = await client.send(new s3.GetObjectCommand({ Bucket: settings.bucket, Key: key(sha256) }));
        return object.Body ? Buffer.from(await object.Body.transformToByteArray()) : Buffer.alloc(0);
      } catch (error) {
        if (error instanceof s3.NoSuchKey || (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return undefined;
        throw failure('read a file from', error);
      }
    },
    close: () => client.destroy(),
  };
}
