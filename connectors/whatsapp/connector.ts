// The WhatsApp Cloud API as a destination: fetches the media of received messages into the
// media directory (content-addressed by SHA-256), so CRM connectors can attach the files.
import { createHash, randomUUID } from 'node:crypto';
import { mkdir, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Connector, ConnectorMetadata, ExecutionContext, GrantedScopes, OperationOutcome } from '../../core/connector.js';
import { resolveTuning } from '../../core/connector.js';
import { VendorError, asSyncError } from '../../core/errors.js';
import type { WhatsAppSection } from '../../core/config/schema.js';
import type { ModelChange, StoredMedia } from '../../core/model/types.js';
import type { OutboxOperation } from '../../core/outbox/queries.js';
import { CloudApiClient } from './client.js';
import { MEDIA_SIZE_CAPS, toOperationDrafts, type FetchMediaPayload } from './mappers.js';

function sha256Matches(expected: string | null, bytes: Uint8Array): { hex: string; ok: boolean } {
  const digest = createHash('sha256').update(bytes).digest();
  const hex = digest.toString('hex');
  if (!expected) return { hex, ok: true };
  // Webhooks give the hash in base64, the media endpoint in hex.
  return { hex, ok: expected.toLowerCase() === hex || expected === digest.toString('base64') };
}

export class WhatsAppConnector implements Connector {
  readonly features: string[];
  readonly tuning;
  readonly #client: CloudApiClient;

  constructor(
    readonly metadata: ConnectorMetadata,
    private readonly settings: WhatsAppSection,
    private readonly mediaDir: string,
  ) {
    this.features = settings.media.fetch ? ['media'] : [];
    this.tuning = resolveTuning(metadata.defaultTuning, settings.rateLimit);
    this.#client = new CloudApiClient(settings.graphBaseUrl.replace(/\/$/, ''), settings.accessToken ?? '');
  }

  plan(change: ModelChange) {
    return this.settings.media.fetch ? toOperationDrafts(change) : [];
  }

  async execute(operations: readonly OutboxOperation[], context: ExecutionContext): Promise<OperationOutcome[]> {
    const outcomes: OperationOutcome[] = [];
    for (const op of operations) {
      try {
        outcomes.push(await this.#fetchMedia(op.payload as FetchMediaPayload, context));
      } catch (error) {
        outcomes.push({ ok: false, error: asSyncError(error) });
      }
    }
    return outcomes;
  }

  async #fetchMedia(payload: FetchMediaPayload, context: ExecutionContext): Promise<OperationOutcome> {
    const cap = Math.min(MEDIA_SIZE_CAPS[payload.kind], this.settings.media.maxBytes);
    const info = await this.#client.getMedia(context, payload.mediaId);
    if (info.file_size !== undefined && Number(info.file_size) > cap) {
      throw new VendorError('whatsapp', `media ${payload.mediaId} is ${info.file_size} bytes, over the ${cap}-byte cap for ${payload.kind}`, { retryable: false });
    }
    const bytes = await this.#client.download(context, info.url, cap);
    const check = sha256Matches(info.sha256 ?? payload.sha256, bytes);
    if (!check.ok) throw new VendorError('whatsapp', `media ${payload.mediaId} arrived damaged (SHA-256 mismatch)`, { retryable: true });
    const path = await this.#storeFile(check.hex, bytes);
    const media: StoredMedia = { messageId: payload.messageId, sha256: check.hex, mimeType: info.mime_type, size: bytes.byteLength, path, filename: payload.filename };
    return { ok: true, result: { sha256: check.hex, size: bytes.byteLength }, effects: [{ type: 'media.stored', media }] };
  }

  async #storeFile(sha256: string, bytes: Uint8Array): Promise<string> {
    await mkdir(this.mediaDir, { recursive: true });
    const path = join(this.mediaDir, sha256);
    const existing = await stat(path).catch(() => undefined);
    if (existing?.size === bytes.byteLength) return path;
    const temp = `${path}.${randomUUID()}.tmp`;
    await writeFile(temp, bytes);
    await rename(temp, path);
    return path;
  }

  async reconcile(): Promise<undefined> {
    // Fetching media again is harmless: files are content-addressed.
    return undefined;
  }

  async grantedScopes(context: ExecutionContext): Promise<GrantedScopes> {
    return this.#client.tokenScopes(context);
  }
}
