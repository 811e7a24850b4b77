// Agents' replies back to WhatsApp: on each notification of the setup trigger, the ticket's new
// public agent comments become replies (their attachments downloaded first). Comments by the
// customer or by this integration (its notes, the business app's messages) are never sent: no echo loop.
import type { ExecutionContext, OperationEffect } from '../../core/connector.js';
import { VendorError } from '../../core/errors.js';
import { vendorFetch } from '../../core/http.js';
import { sha256Hex, storeContentAddressed } from '../../core/media-store.js';
import type { LocalFile, OutboundReply } from '../../core/model/types.js';
import type { OperationDone } from '../../core/operations.js';
import type { ZendeskApi } from './client.js';
import { ORIGIN, agentReplies, type RepliesPayload } from './mappers.js';
import { REF } from './refs.js';
import type { ZendeskComment } from './responses.js';
import type { ZendeskSettings } from './settings.js';

export class ZendeskReplies {
  readonly #api: ZendeskApi;
  readonly #settings: ZendeskSettings;
  readonly #mediaDir: string;

  constructor(api: ZendeskApi, settings: ZendeskSettings, mediaDir: string) {
    this.#api = api;
    this.#settings = settings;
    this.#mediaDir = mediaDir;
  }

  /**
   * Reads the ticket's newest comments and hands every new public agent comment to WhatsApp,
   * with its attachments downloaded first. Comments by the customer or by this integration
   * (its notes, the business app's messages) are never sent: no echo loop.
   */
  async fetch(payload: RepliesPayload, context: ExecutionContext): Promise<OperationDone> {
    const cursor = Number((await context.getRef(REF.replyCursor, payload.ticketId)) ?? 0);
    const [comments, integrationUser] = [await this.#api.newestComments(context, payload.ticketId), await this.#api.integrationUserId(context)];
    const requester = await context.getRef(REF.user, payload.contactId);
    const replies = agentReplies(comments, cursor, requester === undefined ? undefined : Number(requester), integrationUser);
    const effects: OperationEffect[] = [];
    for (const comment of replies) {
      const attachments: LocalFile[] = [];
      for (const file of comment.attachments ?? []) attachments.push(await this.#download(file, context));
      const template = this.#settings.outsideWindowTemplate;
      const reply: OutboundReply = {
        origin: ORIGIN,
        sourceId: String(comment.id),
        sourceRecord: payload.ticketId,
        text: (comment.plain_body ?? comment.body ?? '').trim(),
        attachments,
        template: template ? { name: template.name, language: template.language, parameters: template.ticketNumberParameter ? [payload.ticketId] : [] } : null,
      };
      effects.push({ type: 'reply.requested', threadId: payload.threadId, reply });
    }
    const newest = Math.max(cursor, ...comments.map((c) => c.id));
    if (newest > cursor) await context.setRef(REF.replyCursor, payload.ticketId, String(newest));
    return { result: { replies: replies.length }, ...(effects.length > 0 ? { effects } : {}) };
  }

  /** Downloads an attachment (content URLs need the same credentials) into the media directory, by SHA-256. */
  async #download(file: NonNullable<ZendeskComment['attachments']>[number], context: ExecutionContext): Promise<LocalFile> {
    if (file.size > this.#settings.maxAttachmentBytes) throw new VendorError('zendesk', `attachment ${file.file_name} is ${file.size} bytes, over connectors.zendesk.maxAttachmentBytes`);
    const response = await vendorFetch(context, { vendor: 'zendesk', url: file.content_url, headers: { authorization: this.#api.authorization() }, timeoutMs: this.#settings.timeoutMs * 4 });
    const bytes = new Uint8Array(await response.arrayBuffer());
    const sha256 = sha256Hex(bytes);
    const path = await storeContentAddressed(this.#mediaDir, bytes, sha256);
    return { path, sha256, mimeType: file.content_type, size: bytes.byteLength, filename: file.file_name };
  }
}
