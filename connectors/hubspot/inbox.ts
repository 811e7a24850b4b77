// The HubSpot inbox through Custom Channels: customers' WhatsApp messages published into the
// inbox thread of their delivery identifier, agents' answers read back and queued as WhatsApp
// replies, and what became of a reply reported on the agent's message. Setup registers or finds
// the channel and one channel account per business number.
import { z } from 'zod';
import type { ExecutionContext, OperationEffect, OperationOutcome } from '../../core/connector.js';
import { SyncError, VendorError } from '../../core/errors.js';
import { vendorFetch } from '../../core/http.js';
import { sha256Hex, storeContentAddressed } from '../../core/media-store.js';
import type { LocalFile } from '../../core/model/types.js';
import { declareKind, type OperationDone, type OperationKind } from '../../core/operations.js';
import { classifyHubSpotError, type HubSpotApi } from './client.js';
import { uploadMediaFile } from './files.js';
import { INBOX_THREAD_REF, parseInboxRecordId } from './inbox-webhook.js';
import { anyAnswer, channel, channelAccount, channelAccountList, channelList, checkAnswer, inboxList, publishedMessage, signedFileUrl, threadMessage } from './responses.js';
import {
  INBOX_KIND,
  INBOX_STATUS_RANK,
  MAX_ATTACHMENT_BYTES,
  attachmentMimeType,
  businessIdentifierOf,
  channelRegistration,
  inboxStatusPayload,
  publishBody,
  publishPayload,
  replyFetchPayload,
  replyFromAgentMessage,
  type PublishPayload,
  type ReplyFetchPayload,
  type StatusPayload,
} from './inbox-mappers.js';
import type { InboxSettings } from './settings.js';

/** Ref kinds of the inbox: the HubSpot message per WhatsApp message, the channel account per business number, the channel, the furthest status reported per agent message. */
const REF = { message: 'inbox-message', channelAccount: 'channel-account', channel: 'inbox-channel', threadNumber: 'inbox-thread-number', reportedStatus: 'inbox-reported-status' } as const;

const V3 = '/conversations/v3';

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export class HubSpotInbox {
  readonly #api: HubSpotApi;
  readonly #settings: InboxSettings;
  readonly #base: string;
  readonly #timeoutMs: number;
  readonly #mediaFolder: string;
  readonly #mediaDir: string;
  /** The channel account lookup (or creation) under way per business number, shared by concurrent publishes. */
  readonly #accountLookups = new Map<string, Promise<{ id: string; created: boolean }>>();
  readonly #template: { readonly name: string; readonly language: string } | undefined;

  constructor(
    api: HubSpotApi,
    settings: InboxSettings,
    connection: { readonly baseUrl: string; readonly timeoutMs: number; readonly mediaFolder: string; readonly mediaDir: string; readonly outsideWindowTemplate?: { readonly name: string; readonly language: string } | undefined },
  ) {
    this.#api = api;
    this.#settings = settings;
    this.#base = connection.baseUrl.replace(/\/$/, '');
    this.#timeoutMs = connection.timeoutMs;
    this.#mediaFolder = connection.mediaFolder;
    this.#mediaDir = connection.mediaDir;
    this.#template = connection.outsideWindowTemplate;
  }

  /**
   * A call HubSpot answers with JSON, checked against its schema; refusals typed as the SDK's are.
   * Plain fetch with our timeout rather than the SDK's apiRequest: in our tests that one did not
   * settle when the connection dropped mid-answer, and a lost answer must fail the attempt, not hang it.
   */
  async #request<T>(context: ExecutionContext, action: string, options: { method: string; path: string; body?: unknown; qs?: Record<string, string | number>; developer?: boolean }, schema: z.ZodType<T>): Promise<T> {
    const url = new URL(`${this.#base}${options.path}`);
    for (const [key, value] of Object.entries(options.qs ?? {})) url.searchParams.set(key, String(value));
    // Channel registration authenticates with the developer API key (hapikey), not the account's token.
    const headers: Record<string, string> = options.body !== undefined ? { 'content-type': 'application/json' } : {};
    if (!options.developer) headers['authorization'] = `Bearer ${await this.#api.accessToken(context)}`;
    const response = await vendorFetch(context, {
      vendor: 'hubspot',
      url: url.toString(),
      method: options.method,
      headers,
      ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
      timeoutMs: this.#timeoutMs,
      classify: (status, body, retryAfter) => classifyHubSpotError({ code: status, body: parseJson(body), headers: retryAfter ? { 'retry-after': retryAfter } : {} }, action),
    });
    return checkAnswer(action, schema, await response.json().catch(() => ({})));
  }

  /** The configured channel, else the one setup registered or found (kept as a ref). */
  async #channelId(context: ExecutionContext): Promise<string> {
    const id = this.#settings.channelId ?? (await context.getRef(REF.channel, this.#settings.channelName));
    if (!id) throw new SyncError('hubspot: the inbox has no channel yet; run `wa-crm-sync setup hubspot` (or set connectors.hubspot.inbox.channelId)', { retryable: true });
    return id;
  }

  /** The message an earlier attempt published, by its stored ref; undefined when none did (or its answer was lost). */
  async publishedBefore(payload: PublishPayload, context: ExecutionContext): Promise<OperationOutcome | undefined> {
    const known = await context.getRef(REF.message, payload.messageId);
    return known ? { ok: true, result: { hubspotMessageId: known } } : undefined;
  }

  /** A customer's message (or a file of one) into the inbox thread of their delivery identifier, once. */
  async publish(payload: PublishPayload, context: ExecutionContext): Promise<OperationDone> {
    const done = await context.getRef(REF.message, payload.messageId);
    if (done) return { result: { hubspotMessageId: done } };
    const channelId = await this.#channelId(context);
    const businessNumberId = payload.businessNumberId ?? (await context.getRef(REF.threadNumber, payload.threadId));
    if (!businessNumberId) throw new SyncError("hubspot: the file's message is not in the inbox yet (its publish failed or is dead: replay it)", { retryable: true });
    const accountId = await this.#ensureChannelAccount(businessNumberId, context);
    // Files go to HubSpot Files first; the message carries the file id.
    // https://developers.hubspot.com/docs/api-reference/legacy/conversations/custom-channels/messages/create-custom-channel (attachments: type FILE, fileId)
    const fileId = payload.file ? await uploadMediaFile(this.#api, this.#mediaFolder, payload.file, context) : undefined;
    // https://developers.hubspot.com/docs/api-reference/legacy/conversations/custom-channels/messages/create-custom-channel
    const published = await this.#request(context, 'publishing a message to the inbox', { method: 'POST', path: `${V3}/custom-channels/${channelId}/messages`, body: publishBody({ ...payload, businessNumberId }, accountId, fileId) }, publishedMessage);
    await context.setRef(REF.message, payload.messageId, published.id);
    await context.setRef(REF.threadNumber, payload.threadId, businessNumberId);
    // The agent's answer names this conversation: it leads back to the thread (see threadRef).
    await context.setRef(INBOX_THREAD_REF, payload.threadId, published.conversationsThreadId);
    return { result: { hubspotMessageId: published.id, conversationsThreadId: published.conversationsThreadId } };
  }

  /**
   * An agent's message, read from the conversation (the webhook only says which): a reply for the
   * customer on WhatsApp. Messages this integration published itself are not agents' answers.
   * https://developers.hubspot.com/docs/api-reference/legacy/conversations/conversations/messages/get-conversation
   */
  async readReply(payload: ReplyFetchPayload, context: ExecutionContext): Promise<OperationDone> {
    const ids = parseInboxRecordId(payload.recordId);
    if (!ids) throw new SyncError(`hubspot: inbox record id ${JSON.stringify(payload.recordId)} is not conversation:message`);
    const message = await this.#request(
      context,
      "reading an agent's inbox message",
      { method: 'GET', path: `${V3}/conversations/threads/${encodeURIComponent(ids.conversationsThreadId)}/messages/${encodeURIComponent(ids.messageId)}` },
      threadMessage,
    );
    if (message.direction !== 'OUTGOING' || message.client?.clientType === 'INTEGRATION') return { result: { skipped: 'not an agent message' } };
    // The files are fetched before the reply is queued: the send then uploads them to WhatsApp,
    // each part once (a retry of this read fetches the same bytes to the same path).
    const files: LocalFile[] = [];
    for (const attachment of message.attachments ?? []) {
      if (attachment.type === 'FILE' && attachment.fileId) files.push(await this.#downloadFile(attachment.fileId, attachment.name, context));
    }
    const effects: OperationEffect[] = [{ type: 'reply.requested', threadId: payload.threadId, reply: replyFromAgentMessage(message, ids.conversationsThreadId, this.#template, files) }];
    return { result: { hubspotMessageId: message.id }, effects };
  }

  /**
   * A file an agent attached, from HubSpot Files into the media directory: a short-lived signed
   * URL first (the file is private), then its bytes. The URL carries its own access, so our token
   * is not sent with it.
   * https://developers.hubspot.com/docs/api-reference/files-files-v3/files/get-files-v3-files-fileId-signed-url
   */
  async #downloadFile(fileId: string, attachedName: string | undefined, context: ExecutionContext): Promise<LocalFile> {
    const signed = await this.#request(context, "reading an agent's attachment", { method: 'GET', path: `/files/v3/files/${encodeURIComponent(fileId)}/signed-url` }, signedFileUrl);
    if (signed.size !== undefined && signed.size > MAX_ATTACHMENT_BYTES) {
      throw new VendorError('hubspot', `the agent's attachment ${fileId} is ${signed.size} bytes, over the channel's ${MAX_ATTACHMENT_BYTES}-byte limit; it cannot go to WhatsApp`, { retryable: false });
    }
    const response = await vendorFetch(context, { vendor: 'hubspot', url: signed.url, timeoutMs: this.#timeoutMs * 4 });
    const bytes = new Uint8Array(await response.arrayBuffer());
    const sha256 = sha256Hex(bytes);
    const path = await storeContentAddressed(this.#mediaDir, bytes, sha256);
    const filename = attachedName ?? (signed.name ? `${signed.name}${signed.extension ? `.${signed.extension}` : ''}` : null);
    return { path, sha256, mimeType: attachmentMimeType(response.headers.get('content-type'), signed.extension ?? filename?.split('.').pop()), size: bytes.byteLength, filename };
  }

  /**
   * The agent's message shows what became of it. A status already reported as far along (READ
   * before a late delivered, FAILED before a read of another part) is left as it is.
   * https://developers.hubspot.com/docs/api-reference/latest/conversations/custom-channels/messages/update-custom-channel
   */
  async reportStatus(payload: StatusPayload, context: ExecutionContext): Promise<OperationDone> {
    // The ref holds a status this code wrote; anything else reads as none reported yet.
    const reported = inboxStatusPayload.shape.status.safeParse(await context.getRef(REF.reportedStatus, payload.hubspotMessageId));
    if (reported.success && INBOX_STATUS_RANK[reported.data] >= INBOX_STATUS_RANK[payload.status]) return { result: { skipped: `already ${reported.data}` } };
    const channelId = await this.#channelId(context);
    await this.#request(
      context,
      "reporting a reply's delivery to the inbox",
      {
        method: 'PATCH',
        path: `${V3}/custom-channels/${channelId}/messages/${encodeURIComponent(payload.hubspotMessageId)}`,
        body: { statusType: payload.status, ...(payload.errorMessage ? { errorMessage: payload.errorMessage } : {}) },
      },
      anyAnswer,
    );
    await context.setRef(REF.reportedStatus, payload.hubspotMessageId, payload.status);
    return { result: { status: payload.status } };
  }

  /**
   * The channel account of a business number: the stored ref, else one of the channel's accounts
   * carrying its identifier (an earlier create whose answer was lost), else a new one in the
   * configured inbox.
   * https://developers.hubspot.com/docs/api-reference/legacy/conversations/custom-channels/channel-accounts/create-custom-channel
   */
  async #ensureChannelAccount(businessNumberId: string, context: ExecutionContext): Promise<string> {
    // Publishes of different customers run side by side; the first messages of a number would
    // each find no account and create one apiece (HubSpot keeps both, splitting the threads).
    let pending = this.#accountLookups.get(businessNumberId);
    if (!pending) {
      pending = this.#channelAccount(businessNumberId, context).finally(() => this.#accountLookups.delete(businessNumberId));
      this.#accountLookups.set(businessNumberId, pending);
    }
    return (await pending).id;
  }

  async #channelAccount(businessNumberId: string, context: ExecutionContext): Promise<{ id: string; created: boolean }> {
    const known = await context.getRef(REF.channelAccount, businessNumberId);
    if (known) return { id: known, created: false };
    const channelId = await this.#channelId(context);
    const identifier = businessIdentifierOf(businessNumberId);
    const existing = await this.#request(context, 'listing the channel accounts', { method: 'GET', path: `${V3}/custom-channels/${channelId}/channel-accounts` }, channelAccountList);
    const found = existing.results.find((a) => a.deliveryIdentifier?.value === identifier.value);
    if (found) {
      await context.setRef(REF.channelAccount, businessNumberId, found.id);
      return { id: found.id, created: false };
    }
    const inboxId = this.#settings.inboxId;
    if (!inboxId) throw new SyncError(`hubspot: no channel account for business number ${businessNumberId} and no inbox to connect one to; set connectors.hubspot.inbox.inboxId (setup lists the inboxes)`, { retryable: true });
    const created = await this.#request(
      context,
      'creating a channel account',
      { method: 'POST', path: `${V3}/custom-channels/${channelId}/channel-accounts`, body: { name: `WhatsApp ${businessNumberId}`, inboxId, authorized: true, deliveryIdentifier: identifier } },
      channelAccount,
    );
    await context.setRef(REF.channelAccount, businessNumberId, created.id);
    return { id: created.id, created: true };
  }

  /**
   * Registers the channel when no channelId is configured (finding one of the app's channels by
   * name first, so a second run registers nothing), then connects the listed business numbers.
   * Registration uses the developer API key and app id:
   * https://developers.hubspot.com/docs/api-reference/legacy/conversations/custom-channels/guide
   */
  async setup(context: ExecutionContext): Promise<string[]> {
    const actions: string[] = [];
    let channelId = this.#settings.channelId ?? (await context.getRef(REF.channel, this.#settings.channelName));
    if (!channelId) {
      const { appId, developerApiKey } = this.#settings;
      if (!appId || !developerApiKey) throw new SyncError('hubspot: to register the inbox channel, set connectors.hubspot.inbox.appId and developerApiKey (or channelId of a channel registered before)');
      const qs = { hapikey: developerApiKey, appId };
      const channels = await this.#request(context, "listing the app's custom channels", { method: 'GET', path: `${V3}/custom-channels`, qs, developer: true }, channelList);
      const named = channels.results.find((c) => c.name === this.#settings.channelName);
      if (named) {
        channelId = named.id;
        actions.push(`found custom channel "${this.#settings.channelName}" (id ${channelId})`);
      } else {
        const registered = await this.#request(context, 'registering the custom channel', { method: 'POST', path: `${V3}/custom-channels`, qs, body: channelRegistration(this.#settings), developer: true }, channel);
        channelId = registered.id;
        actions.push(`registered custom channel "${this.#settings.channelName}" (id ${channelId}) with webhook ${this.#settings.webhookUrl}`);
      }
      await context.setRef(REF.channel, this.#settings.channelName, channelId);
      actions.push(`kept the channel id; to pin it, set connectors.hubspot.inbox.channelId: "${channelId}" in the config`);
    }
    if (!this.#settings.inboxId) {
      // The guide's reason for conversations.read: listing the inboxes to connect channel accounts to
      // (https://developers.hubspot.com/docs/api-reference/legacy/conversations/custom-channels/guide).
      const inboxes = await this.#request(context, "listing the account's inboxes", { method: 'GET', path: `${V3}/conversations/inboxes` }, inboxList);
      const names = inboxes.results.map((i) => `${i.id} (${i.name ?? 'unnamed'})`).join(', ') || 'none';
      actions.push(`choose the inbox or help desk for WhatsApp and set connectors.hubspot.inbox.inboxId to its id; this account has: ${names}`);
      return actions;
    }
    const scoped = this.#withChannel(channelId);
    for (const number of this.#settings.businessNumbers) {
      const account = await scoped.#channelAccount(number, context);
      actions.push(`${account.created ? 'connected' : 'found'} channel account ${account.id} for business number ${number} (inbox ${this.#settings.inboxId})`);
    }
    if (this.#settings.businessNumbers.length === 0) actions.push('no connectors.hubspot.inbox.businessNumbers listed: each business number gets its channel account at its first message');
    actions.push(
      'in HubSpot, open Settings > Inbox & Help Desk > Inboxes (or Help Desk) > Channels: the WhatsApp channel accounts appear there; an admin assigns the team or rules that should answer them',
    );
    return actions;
  }

  /** This inbox with the channel setup found (before the config names it). */
  #withChannel(channelId: string): HubSpotInbox {
    return channelId === this.#settings.channelId ? this : new HubSpotInbox(this.#api, { ...this.#settings, channelId }, { baseUrl: this.#base, timeoutMs: this.#timeoutMs, mediaFolder: this.#mediaFolder, mediaDir: this.#mediaDir, outsideWindowTemplate: this.#template });
  }
}

/** The inbox when it is on; a typed refusal for an operation queued while it was on, now that it is off. */
function inboxOn(inbox: HubSpotInbox | undefined): HubSpotInbox {
  if (!inbox) throw new SyncError('hubspot: an inbox operation is queued but connectors.hubspot.inbox is off; turn it on again or discard the operation');
  return inbox;
}

/**
 * The inbox's operation kinds, one operation at a time (the Custom Channels endpoints take one
 * message each). Declared whether or not the inbox is on: operations queued while it was on then
 * fail with the reason instead of as unknown kinds.
 */
export function inboxOperationKinds(inbox: HubSpotInbox | undefined): OperationKind[] {
  return [
    declareKind({
      kind: INBOX_KIND.publish,
      payload: publishPayload,
      handle: (op, context) => inboxOn(inbox).publish(op.payload, context),
      /**
       * Before a retry of a publish whose answer may have been lost: the stored ref when the answer
       * came; otherwise the publish runs again with the same integrationIdempotencyId. HubSpot's
       * reference names the field an idempotency id but does not spell out what a repeat answers;
       * we rely on it keying the message (the sandbox answers the first message again). Should a
       * real account add a second copy, the fix is a lookup in the conversation before the retry.
       */
      reconcile: async (op, context) => inbox?.publishedBefore(op.payload, context),
    }),
    declareKind({ kind: INBOX_KIND.reply, payload: replyFetchPayload, handle: (op, context) => inboxOn(inbox).readReply(op.payload, context) }),
    declareKind({ kind: INBOX_KIND.status, payload: inboxStatusPayload, handle: (op, context) => inboxOn(inbox).reportStatus(op.payload, context) }),
  ];
}
