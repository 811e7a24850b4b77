// The WhatsApp Cloud API as a destination: fetches the media of received messages into the
// media directory (content-addressed by SHA-256), so CRM connectors can attach the files.
import { createHash } from 'node:crypto';
import type { Connector, ConnectorMetadata, ExecutionContext, GrantedScopes, OperationEffect, OperationOutcome } from '../../core/connector.js';
import { SENT_MESSAGE_REF, resolveTuning } from '../../core/connector.js';
import { VendorError, asSyncError } from '../../core/errors.js';
import { readStoredMedia, storeContentAddressed } from '../../core/media-store.js';
import type { WhatsAppSection } from '../../core/config/schema.js';
import type { ModelChange, StoredMedia } from '../../core/model/types.js';
import type { OutboxOperation } from '../../core/outbox/queries.js';
import { CloudApiClient } from './client.js';
import { KIND, MEDIA_SIZE_CAPS, SERVICE_WINDOW_MS, mediaKindFor, mediaMessage, replyParts, toOperationDrafts, type FetchMediaPayload, type SendReplyPayload } from './mappers.js';

/** Ref kind: the wamid of each part of a reply already sent, so a retry sends only the rest (and the engine knows it is ours). */
const SENT_REF = SENT_MESSAGE_REF.kind;

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
    this.features = settings.media.fetch ? ['media', 'send'] : ['send'];
    this.tuning = resolveTuning(metadata.defaultTuning, settings.rateLimit);
    this.#client = new CloudApiClient(settings.graphBaseUrl.replace(/\/$/, ''), settings.accessToken ?? '');
  }

  plan(change: ModelChange) {
    return toOperationDrafts(change, { fetchMedia: this.settings.media.fetch });
  }

  async execute(operations: readonly OutboxOperation[], context: ExecutionContext): Promise<OperationOutcome[]> {
    const outcomes: OperationOutcome[] = [];
    for (const op of operations) {
      try {
        if (op.kind === KIND.send) outcomes.push(await this.#sendReply(op.payload as SendReplyPayload, context));
        else outcomes.push(await this.#fetchMedia(op.payload as FetchMediaPayload, context));
      } catch (error) {
        outcomes.push({ ok: false, error: asSyncError(error) });
      }
    }
    return outcomes;
  }

  /**
   * Sends an agent's reply: text and files inside the customer service window, the approved
   * template outside it, or nothing (the origin is told why). Each part's wamid is kept as soon
   * as WhatsApp answers, so a retry after a crash sends only the parts not yet sent.
   */
  async #sendReply(payload: SendReplyPayload, context: ExecutionContext): Promise<OperationOutcome> {
    const { reply } = payload;
    const lastInbound = await context.lastInboundAt(payload.contactId);
    const now = Date.now();
    const windowOpen = lastInbound !== undefined && now - lastInbound < SERVICE_WINDOW_MS;
    const parts = replyParts(reply, windowOpen);
    const effects: OperationEffect[] = [];
    if (parts.length === 0) {
      const since = lastInbound === undefined ? 'has never written' : `last wrote ${Math.round((now - lastInbound) / 3_600_000)} h ago`;
      const reason = `the customer ${since}, so WhatsApp's 24-hour customer service window is closed and no approved template is configured for replies (connectors.${reply.origin}.outsideWindowTemplate); the reply was not sent`;
      effects.push({ type: 'reply.undeliverable', threadId: payload.threadId, reply, reason });
      return { ok: true, result: { sent: 0, reason: 'outside the customer service window' }, effects };
    }
    const sent: string[] = [];
    for (const [index, part] of parts.entries()) {
      const refKey = `${reply.origin}:${reply.sourceId}:${index}`;
      let wamid = await context.getRef(SENT_REF, refKey);
      if (!wamid) {
        let message = part.message;
        if (part.file) {
          const cap = Math.min(MEDIA_SIZE_CAPS[mediaKindFor(part.file.mimeType)], this.settings.media.maxBytes);
          if (part.file.size > cap) {
            effects.push({ type: 'reply.undeliverable', threadId: payload.threadId, reply, reason: `the attachment ${part.file.filename ?? part.file.sha256.slice(0, 12)} is ${part.file.size} bytes, over WhatsApp's ${cap}-byte cap for this kind of file; it was not sent` });
            continue;
          }
          const bytes = await readStoredMedia(part.file.path);
          const mediaId = await this.#client.uploadMedia(context, payload.businessNumberId, { bytes, mimeType: part.file.mimeType, filename: part.file.filename ?? part.file.sha256 });
          message = mediaMessage(part.file, mediaId);
        }
        wamid = await this.#client.sendMessage(context, payload.businessNumberId, payload.to, message!);
        await context.setRef(SENT_REF, refKey, wamid);
      }
      sent.push(wamid);
      effects.push({ type: 'message.sent', threadId: payload.threadId, messageId: wamid, text: part.description, origin: reply.origin, sentAt: now });
    }
    return { ok: true, result: { sent: sent.length, messageIds: sent }, effects };
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
    const path = await storeContentAddressed(this.mediaDir, bytes, check.hex);
    const media: StoredMedia = { messageId: payload.messageId, sha256: check.hex, mimeType: info.mime_type, size: bytes.byteLength, path, filename: payload.filename };
    return { ok: true, result: { sha256: check.hex, size: bytes.byteLength }, effects: [{ type: 'media.stored', media }] };
  }

  async reconcile(): Promise<undefined> {
    // Fetching media again is harmless: files are content-addressed.
    return undefined;
  }

  async grantedScopes(context: ExecutionContext): Promise<GrantedScopes> {
    return this.#client.tokenScopes(context);
  }
}
