// Sending an agent's reply on WhatsApp: text and files inside the 24-hour customer service
// window, the approved template outside it, each part once (its wamid kept as soon as WhatsApp
// answers), and a part whose answer was lost sent again only after its status webhooks had
// their time to say it arrived.
import type { ExecutionContext, OperationEffect } from '../../core/connector.js';
import { PENDING_SEND_REF, SENT_MESSAGE_REF, decodePendingSend, encodePendingSend, sentPartKey } from '../../core/connector.js';
import type { WhatsAppSection } from '../../core/config/schema.js';
import { DeferredError, SyncError, TransportError, VendorError } from '../../core/errors.js';
import { readStoredMedia } from '../../core/media-store.js';
import type { DeclaredOperation, OperationDone } from '../../core/operations.js';
import type { CloudApiClient } from './client.js';
import { BSUID_NOT_SUPPORTED, MEDIA_SIZE_CAPS, SERVICE_WINDOW_MS, addressOf, bsuidRefusalReason, callbackDataFor, mediaKindFor, mediaMessage, replyParts, type SendReplyPayload } from './mappers.js';

/** Ref kind: the wamid of each part of a reply already sent, so a retry sends only the rest (and the engine knows it is ours). */
const SENT_REF = SENT_MESSAGE_REF.kind;

/** How often an operation waiting for a lost send's status webhooks looks for them again. */
const LOST_ANSWER_RECHECK_MS = 2_000;

export class ReplySender {
  readonly #client: CloudApiClient;
  readonly #settings: Pick<WhatsAppSection, 'lostAnswerWaitSeconds' | 'media'>;

  constructor(client: CloudApiClient, settings: Pick<WhatsAppSection, 'lostAnswerWaitSeconds' | 'media'>) {
    this.#client = client;
    this.#settings = settings;
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
  async send(op: DeclaredOperation<SendReplyPayload>, context: ExecutionContext): Promise<OperationDone> {
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
          const cap = Math.min(MEDIA_SIZE_CAPS[mediaKindFor(part.file.mimeType)], this.#settings.media.maxBytes);
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
          const reason = `WhatsApp's answer to the first send was lost and no status for it came within ${this.#settings.lostAnswerWaitSeconds} s, so it was sent again; the customer may see it twice`;
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
    const waitUntil = earlier.sentAt + this.#settings.lostAnswerWaitSeconds * 1000;
    // Wake to look again every few seconds until then: a status that came while this operation
    // was still in flight (before it was put back) found nothing to wake, and would otherwise be
    // seen only at the end of the wait.
    if (Date.now() < waitUntil) throw new DeferredError('the answer to an earlier send was lost; waiting for its status webhooks before sending again', Math.min(waitUntil, Date.now() + LOST_ANSWER_RECHECK_MS));
    return true;
  }
}
