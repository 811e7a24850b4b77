// The WhatsApp Cloud API as a destination: fetches the media of received messages into the
// media directory (content-addressed by SHA-256), so CRM connectors can attach the files.
import { createHash } from 'node:crypto';
import type { Connector, ConnectorMetadata, ExecutionContext, GrantedScopes, OperationEffect, OperationOutcome } from '../../core/connector.js';
import { declareKind, OperationTable, type DeclaredOperation, type OperationDone } from '../../core/operations.js';
import { PENDING_SEND_REF, SENT_MESSAGE_REF, decodePendingSend, encodePendingSend, resolveTuning, sentPartKey } from '../../core/connector.js';
import { DeferredError, InvalidPayloadError, SyncError, TransportError, VendorError } from '../../core/errors.js';
import { readStoredMedia, storeContentAddressed } from '../../core/media-store.js';
import type { WhatsAppSection } from '../../core/config/schema.js';
import type { ModelChange, StoredMedia } from '../../core/model/types.js';
import type { OutboxOperation } from '../../core/outbox/queries.js';
import { CloudApiClient, SEND_BUCKET } from './client.js';
import type { MessageTemplate } from '../../core/outbound/templates.js';
import {
  BSUID_NOT_SUPPORTED,
  KIND,
  MEDIA_SIZE_CAPS,
  SERVICE_WINDOW_MS,
  addressOf,
  bsuidRefusalReason,
  callbackDataFor,
  fetchMediaPayload,
  mediaKindFor,
  mediaMessage,
  replyParts,
  sendReplyPayload,
  toMessageTemplate,
  toOperationDrafts,
  type FetchMediaPayload,
  type SendReplyPayload,
} from './mappers.js';

/** Ref kind: the wamid of each part of a reply already sent, so a retry sends only the rest (and the engine knows it is ours). */
const SENT_REF = SENT_MESSAGE_REF.kind;

function sha256Matches(expected: string | null, bytes: Uint8Array): { hex: string; ok: boolean } {
  const digest = createHash('sha256').update(bytes).digest();
  const hex = digest.toString('hex');
  if (!expected) return { hex, ok: true };
  // Webhooks give the hash in base64, the media endpoint in hex.
  return { hex, ok: expected.toLowerCase() === hex || expected === digest.toString('base64') };
}


/** How often an operation waiting for a lost send's status webhooks looks for them again. */
const LOST_ANSWER_RECHECK_MS = 2_000;
export class WhatsAppConnector implements Connector {
  readonly features: string[];
  readonly tuning;
  readonly #client: CloudApiClient;
  /**
   * Sends and media fetches, one at a time. Neither kind reconciles: fetching media again is
   * harmless (files are content-addressed), and a send in doubt is settled by its status
   * webhooks, the only answer the Cloud API gives (see #sendReply).
   */
  readonly #operations = new OperationTable([
    declareKind({ kind: KIND.send, payload: sendReplyPayload, handle: (op, context) => this.#sendReply(op, context) }),
    declareKind({ kind: KIND.fetchMedia, payload: fetchMediaPayload, handle: (op, context) => this.#fetchMedia(op.payload, context) }),
  ]);

  constructor(
    readonly metadata: ConnectorMetadata,
    private readonly settings: WhatsAppSection,
    private readonly mediaDir: string,
  ) {
    this.features = settings.media.fetch ? ['media', 'send'] : ['send'];
    const tuning = resolveTuning(metadata.defaultTuning, settings.rateLimit);
    this.tuning = {
      ...tuning,
      bucketRateLimits: {
        ...tuning.bucketRateLimits,
        [SEND_BUCKET.number]: { requests: settings.sendLimits.perNumberPerSecond, intervalMs: 1000 },
        [SEND_BUCKET.customer]: { requests: settings.sendLimits.perCustomerPerMinute, intervalMs: 60_000 },
      },
    };
    this.#client = new CloudApiClient(settings.graphBaseUrl.replace(/\/$/, ''), settings.accessToken ?? '');
  }

  /** Asks WhatsApp for a coexistence number's app contacts or chat history (see CloudApiClient.requestAppSync). */
  requestAppSync(context: ExecutionContext, phoneNumberId: string, syncType: 'smb_app_state_sync' | 'history'): Promise<string | null> {
    return this.#client.requestAppSync(context, phoneNumberId, syncType);
  }

  /** The WhatsApp Business Account's templates (whatsapp.businessAccountId); refused without the id. */
  async listTemplates(context: ExecutionContext): Promise<MessageTemplate[]> {
    const account = this.settings.businessAccountId;
    if (!account) throw new InvalidPayloadError('whatsapp.businessAccountId is not set: templates are read from the WhatsApp Business Account (WhatsApp Manager > Account tools > the account id)');
    return (await this.#client.listTemplates(context, account)).map(toMessageTemplate);
  }

  plan(change: ModelChange) {
    return toOperationDrafts(change, { fetchMedia: this.settings.media.fetch });
  }

  execute(operations: readonly OutboxOperation[], context: ExecutionContext): Promise<OperationOutcome[]> {
    return this.#operations.execute(operations, context);
  }

  /**
   * Sends an agent's reply: text and files inside the customer service window, the approved
   * template outside it, or nothing (the origin is told why). Each part's wamid is kept as soon
   * as WhatsApp answers, so a retry after a crash sends only the parts not yet sent. A part whose
   * answer was lost is sent again only once its status webhooks have had lostAnswerWaitSeconds
   * to say it arrived (they echo the part's callback data), and the origin is told. Statuses are
   * the only answer to be had: the Cloud API has no call that finds or lists sent messages
   * (`/{phone-number-id}/messages` takes POST only), so there is nothing to reconcile by asking.
   */
  async #sendReply(op: DeclaredOperation<SendReplyPayload>, context: ExecutionContext): Promise<OperationDone> {
    const payload = op.payload;
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
      return { result: { sent: 0, reason: 'outside the customer service window' }, effects };
    }
    const address = addressOf(payload);
    if (!address) {
      effects.push({ type: 'reply.undeliverable', threadId: payload.threadId, reply, reason: 'WhatsApp has given neither a phone number nor a business-scoped user id for this customer, so there is nobody to address the reply to' });
      return { result: { sent: 0, reason: 'no address' }, effects };
    }
    const sent: string[] = [];
    for (const [index, part] of parts.entries()) {
      const refKey = sentPartKey({ origin: reply.origin, sourceId: reply.sourceId, index });
      let wamid = await context.getRef(SENT_REF, refKey);
      if (!wamid) {
        const callbackData = callbackDataFor(refKey);
        const resending = await this.#earlierSendInDoubt(context, callbackData);
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
        const pending = { part: refKey, operation: op.idempotencyKey };
        await context.setRef(PENDING_SEND_REF.kind, callbackData, encodePendingSend({ ...pending, sentAt: Date.now() }));
        try {
          wamid = await this.#client.sendMessage(context, payload.businessNumberId, address, message!, callbackData);
        } catch (error) {
          // WhatsApp answered with an error: nothing went out, so nothing is in doubt.
          const answered = error instanceof SyncError && !(error instanceof TransportError) && error.status !== undefined;
          if (answered) await context.setRef(PENDING_SEND_REF.kind, callbackData, encodePendingSend({ ...pending, sentAt: 0 }));
          // A part WhatsApp cannot send to a BSUID is told to the agent; the other parts still go.
          if ('recipient' in address && error instanceof VendorError && error.code === BSUID_NOT_SUPPORTED) {
            context.log.warn({ threadId: payload.threadId, part: index }, 'WhatsApp refused a reply part for a BSUID recipient (131062)');
            effects.push({ type: 'reply.undeliverable', threadId: payload.threadId, reply, reason: bsuidRefusalReason(part.description) });
            continue;
          }
          throw error;
        }
        await context.setRef(SENT_REF, refKey, wamid);
        if (resending) {
          const reason = `WhatsApp's answer to the first send was lost and no status for it came within ${this.settings.lostAnswerWaitSeconds} s, so it was sent again; the customer may see it twice`;
          effects.push({ type: 'reply.resent', threadId: payload.threadId, reply, reason });
        }
      }
      sent.push(wamid);
      effects.push({ type: 'message.sent', threadId: payload.threadId, messageId: wamid, text: part.description, origin: reply.origin, sentAt: now });
    }
    return { result: { sent: sent.length, messageIds: sent }, effects };
  }

  /**
   * Whether an earlier send of this part got no answer. While its statuses may still come, the
   * operation waits (DeferredError); a status echoing the callback data keeps its wamid and
   * wakes the operation. Past the wait, true: the part is sent again.
   */
  async #earlierSendInDoubt(context: ExecutionContext, callbackData: string): Promise<boolean> {
    const earlier = decodePendingSend(await context.getRef(PENDING_SEND_REF.kind, callbackData));
    if (!earlier || earlier.sentAt === 0) return false;
    const waitUntil = earlier.sentAt + this.settings.lostAnswerWaitSeconds * 1000;
    // Wake to look again every few seconds until then: a status that came while this operation
    // was still in flight (before it was put back) found nothing to wake, and would otherwise be
    // seen only at the end of the wait.
    if (Date.now() < waitUntil) throw new DeferredError('the answer to an earlier send was lost; waiting for its status webhooks before sending again', Math.min(waitUntil, Date.now() + LOST_ANSWER_RECHECK_MS));
    return true;
  }

  async #fetchMedia(payload: FetchMediaPayload, context: ExecutionContext): Promise<OperationDone> {
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
    return { result: { sha256: check.hex, size: bytes.byteLength }, effects: [{ type: 'media.stored', media }] };
  }

  reconcile(operation: OutboxOperation, context: ExecutionContext): Promise<OperationOutcome | undefined> {
    return this.#operations.reconcile(operation, context);
  }

  async grantedScopes(context: ExecutionContext): Promise<GrantedScopes> {
    return this.#client.tokenScopes(context);
  }
}
