// Fetching a received message's media: its short-lived URL from the Graph API, the bytes
// downloaded within the size cap, checked against the SHA-256 WhatsApp gave, and stored in the
// media directory by content, so a second fetch of the same file stores nothing new.
import { createHash } from 'node:crypto';
import type { WhatsAppSection } from '../../core/config/schema.js';
import type { ExecutionContext } from '../../core/connector.js';
import { VendorError } from '../../core/errors.js';
import { storeContentAddressed } from '../../core/media-store.js';
import type { StoredMedia } from '../../core/model/types.js';
import type { OperationDone } from '../../core/operations.js';
import type { CloudApiClient } from './client.js';
import { MEDIA_SIZE_CAPS, type FetchMediaPayload } from './mappers.js';

function sha256Matches(expected: string | null, bytes: Uint8Array): { hex: string; ok: boolean } {
  const digest = createHash('sha256').update(bytes).digest();
  const hex = digest.toString('hex');
  if (!expected) return { hex, ok: true };
  // Webhooks give the hash in base64, the media endpoint in hex.
  return { hex, ok: expected.toLowerCase() === hex || expected === digest.toString('base64') };
}

export class MediaFetcher {
  readonly #client: CloudApiClient;
  readonly #settings: Pick<WhatsAppSection, 'media'>;
  readonly #mediaDir: string;

  constructor(client: CloudApiClient, settings: Pick<WhatsAppSection, 'media'>, mediaDir: string) {
    this.#client = client;
    this.#settings = settings;
    this.#mediaDir = mediaDir;
  }

  async fetch(payload: FetchMediaPayload, context: ExecutionContext): Promise<OperationDone> {
    const cap = Math.min(MEDIA_SIZE_CAPS[payload.kind], this.#settings.media.maxBytes);
    const info = await this.#client.getMedia(context, payload.mediaId);
    if (info.file_size !== undefined && Number(info.file_size) > cap) {
      throw new VendorError('whatsapp', `media ${payload.mediaId} is ${info.file_size} bytes, over the ${cap}-byte cap for ${payload.kind}`, { retryable: false });
    }
    const bytes = await this.#client.download(context, info.url, cap);
    const check = sha256Matches(info.sha256 ?? payload.sha256, bytes);
    if (!check.ok) throw new VendorError('whatsapp', `media ${payload.mediaId} arrived damaged (SHA-256 mismatch)`, { retryable: true });
    const path = await storeContentAddressed(this.#mediaDir, bytes, check.hex);
    const media: StoredMedia = { messageId: payload.messageId, sha256: check.hex, mimeType: info.mime_type, size: bytes.byteLength, path, filename: payload.filename };
    return { result: { sha256: check.hex, size: bytes.byteLength }, effects: [{ type: 'media.stored', media }] };
  }
}
