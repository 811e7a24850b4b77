// The HubSpot sandbox's conversations inbox through Custom Channels: channels registered with a
// developer API key, channel accounts, messages published by the integration (one thread per
// channel account and delivery identifier, idempotent by integrationIdempotencyId), statuses,
// and an agent who answers in a thread: HubSpot then posts OUTGOING_CHANNEL_MESSAGE_CREATED to
// the channel's webhookUrl, signed with the app's client secret (X-HubSpot-Signature-v3).
import { createHmac } from 'node:crypto';
import type express from 'express';
import type { Request, Response } from 'express';

export interface InboxSandboxOptions {
  /** The developer API key (hapikey) that may register channels for `appId`. */
  readonly developerApiKey?: string;
  readonly appId?: number;
  /** The app's client secret: webhooks to the channel are signed with it. */
  readonly clientSecret?: string;
}

export interface InboxMessage {
  id: string;
  conversationsThreadId: string;
  channelId: string;
  channelAccountId: string;
  direction: 'INCOMING' | 'OUTGOING';
  text: string;
  senders: Array<{ deliveryIdentifier: { type: string; value: string }; name?: string }>;
  recipients: Array<{ deliveryIdentifier: { type: string; value: string }; name?: string }>;
  createdAt: string;
  client: { clientType: 'HUBSPOT' | 'INTEGRATION'; integrationAppId?: number };
  integrationIdempotencyId?: string;
  status?: { statusType: string; failureDetails?: { errorMessage: string } };
  attachments: Array<{ type: 'FILE'; fileId: string; name?: string }>;
  archived: boolean;
  type: 'MESSAGE';
}

export interface InboxSandboxState {
  channels: Array<{ id: string; name: string; webhookUrl: string; capabilities: Record<string, unknown> }>;
  channelAccounts: Array<{ id: string; channelId: string; name: string; inboxId: string; authorized: boolean; deliveryIdentifier: { type: string; value: string } | null }>;
  /** One per channel account and customer delivery identifier (threadingModel DELIVERY_IDENTIFIER). */
  threads: Array<{ id: string; channelAccountId: string; customer: string; inboxId: string }>;
  messages: InboxMessage[];
  inboxes: Array<{ id: string; name: string }>;
  /** Webhook calls sent to channels, with HubSpot's answer status (0: no answer). */
  webhooks: Array<{ url: string; type: string; status: number }>;
}

function refuse(res: Response, status: number, category: string, message: string): void {
  res.status(status).json({ status: 'error', message, category, correlationId: '00000000-0000-0000-0000-000000000000' });
}

/**
 * The scopes a custom channel app asks for, per the guide: custom_channels.read to read the
 * messages and threads the channel published, custom_channels.write to publish (and so to
 * connect accounts and report statuses), conversations.read to list the account's inboxes.
 * https://developers.hubspot.com/docs/api-reference/legacy/conversations/custom-channels/guide
 */
export const CUSTOM_CHANNEL_SCOPES = { read: 'conversations.custom_channels.read', write: 'conversations.custom_channels.write', conversations: 'conversations.read' } as const;

/**
 * A call the token's scopes do not cover, answered as HubSpot answers one (403, MISSING_SCOPES,
 * the scopes of which one is needed): https://developers.hubspot.com/docs/api/error-handling
 */
function lacksScope(req: Request, res: Response, granted: (req: Request) => readonly string[], anyOf: readonly string[]): boolean {
  if (anyOf.some((scope) => granted(req).includes(scope))) return false;
  res.status(403).json({
    status: 'error',
    message: "This app hasn't been granted all required scopes to make this call. Read more about required scopes here: https://developers.hubspot.com/scopes.",
    category: 'MISSING_SCOPES',
    correlationId: '00000000-0000-0000-0000-000000000000',
    errors: [{ message: 'One or more of the following scopes are required.', context: { requiredGranularScopes: [...anyOf] } }],
  });
  return true;
}

export class HubSpotInboxSandbox {
  readonly state: InboxSandboxState = { channels: [], channelAccounts: [], threads: [], messages: [], inboxes: [{ id: '501', name: 'Support' }], webhooks: [] };
  readonly #options: Required<InboxSandboxOptions>;
  #nextId = 70_000;

  /** Whether HubSpot Files holds a file id (the account sandbox's uploads). */
  readonly #fileExists: (id: string) => boolean;

  /** Puts a file into HubSpot Files (what an agent attaches); returns its id. */
  readonly #addFile: (bytes: Buffer, fileName: string) => string;

  constructor(options: InboxSandboxOptions = {}, fileExists: (id: string) => boolean = () => false, addFile?: (bytes: Buffer, fileName: string) => string) {
    this.#fileExists = fileExists;
    this.#addFile = addFile ?? (() => {
      throw new Error('sandbox: this inbox has no Files API to attach files with');
    });
    this.#options = { developerApiKey: options.developerApiKey ?? 'dev-key-sandbox', appId: options.appId ?? 42, clientSecret: options.clientSecret ?? 'client-secret-sandbox' };
  }

  get credentials() {
    return { developerApiKey: this.#options.developerApiKey, appId: this.#options.appId, clientSecret: this.#options.clientSecret };
  }

  #id(): string {
    return String(this.#nextId++);
  }

  /**
   * Channel registration takes the developer API key and app id in the query, not an account's
   * token: https://developers.hubspot.com/docs/api-reference/legacy/conversations/custom-channels/guide
   * Mounted before the account-token check.
   */
  mountRegistration(app: express.Express): void {
    const developer = (req: Request, res: Response): boolean => {
      if (req.query['hapikey'] !== this.#options.developerApiKey || Number(req.query['appId']) !== this.#options.appId) {
        refuse(res, 401, 'INVALID_AUTHENTICATION', 'a developer API key (hapikey) and the app id are required');
        return false;
      }
      return true;
    };
    app.get('/conversations/v3/custom-channels', (req, res, next) => {
      if (!req.query['hapikey']) return next();
      if (!developer(req, res)) return;
      res.json({ results: this.state.channels });
    });
    // https://developers.hubspot.com/docs/api-reference/conversations-custom-channels-v3/external-channels/post-conversations-v3-custom-channels-
    app.post('/conversations/v3/custom-channels', (req, res) => {
      if (!developer(req, res)) return;
      const body = req.body as { name?: unknown; webhookUrl?: unknown; capabilities?: Record<string, unknown> };
      if (typeof body.name !== 'string' || typeof body.webhookUrl !== 'string') return refuse(res, 400, 'VALIDATION_ERROR', 'name and webhookUrl are required');
      const types = body.capabilities?.['deliveryIdentifierTypes'];
      if (!Array.isArray(types) || types.some((t) => typeof t !== 'string')) return refuse(res, 400, 'VALIDATION_ERROR', 'One or more Channel Capabilities specified had invalid values: deliveryIdentifierTypes');
      const channel = { id: this.#id(), name: body.name, webhookUrl: body.webhookUrl, capabilities: body.capabilities ?? {} };
      this.state.channels.push(channel);
      res.status(201).json({ ...channel, createdAt: new Date().toISOString() });
    });
  }

  /** The routes an account's token reaches (after the sandbox's token check), each checking the token's scopes. */
  mountAccount(app: express.Express, granted: (req: Request) => readonly string[]): void {
    const { read, write, conversations } = CUSTOM_CHANNEL_SCOPES;
    const channelOf = (req: Request, res: Response) => {
      const channel = this.state.channels.find((c) => c.id === req.params['channelId']);
      if (!channel) refuse(res, 404, 'OBJECT_NOT_FOUND', `no custom channel ${String(req.params['channelId'])}`);
      return channel;
    };
    // https://developers.hubspot.com/docs/api-reference/legacy/conversations/custom-channels/channel-accounts/create-custom-channel
    app.get('/conversations/v3/custom-channels/:channelId/channel-accounts', (req, res) => {
      if (lacksScope(req, res, granted, [read]) || !channelOf(req, res)) return;
      res.json({ results: this.state.channelAccounts.filter((a) => a.channelId === req.params['channelId']) });
    });
    app.post('/conversations/v3/custom-channels/:channelId/channel-accounts', (req, res) => {
      if (lacksScope(req, res, granted, [write]) || !channelOf(req, res)) return;
      const body = req.body as { name?: unknown; inboxId?: unknown; authorized?: unknown; deliveryIdentifier?: { type: string; value: string } };
      if (typeof body.name !== 'string' || typeof body.inboxId !== 'string') return refuse(res, 400, 'VALIDATION_ERROR', 'name and inboxId are required');
      if (!this.state.inboxes.some((i) => i.id === body.inboxId)) return refuse(res, 400, 'VALIDATION_ERROR', `no inbox ${body.inboxId}`);
      const account = { id: this.#id(), channelId: String(req.params['channelId']), name: body.name, inboxId: body.inboxId, authorized: body.authorized === true, deliveryIdentifier: body.deliveryIdentifier ?? null };
      this.state.channelAccounts.push(account);
      res.json({ ...account, active: true, archived: false, createdAt: new Date().toISOString() });
    });
    // The account's inboxes (conversations.read).
    app.get('/conversations/v3/conversations/inboxes', (req, res) => {
      if (lacksScope(req, res, granted, [conversations])) return;
      res.json({ results: this.state.inboxes });
    });
    /**
     * Publish: a thread per channel account and customer delivery identifier; the same
     * integrationIdempotencyId twice is the same message (answered again, not added).
     * https://developers.hubspot.com/docs/api-reference/legacy/conversations/custom-channels/messages/create-custom-channel
     */
    app.post('/conversations/v3/custom-channels/:channelId/messages', (req, res) => {
      if (lacksScope(req, res, granted, [write])) return;
      const channel = channelOf(req, res);
      if (!channel) return;
      const body = req.body as Partial<InboxMessage> & { messageDirection?: string; timestamp?: string };
      const account = this.state.channelAccounts.find((a) => a.id === body.channelAccountId && a.channelId === channel.id);
      if (!account) return refuse(res, 400, 'VALIDATION_ERROR', `no channel account ${String(body.channelAccountId)} on channel ${channel.id}`);
      if (body.messageDirection !== 'INCOMING' && body.messageDirection !== 'OUTGOING') return refuse(res, 400, 'VALIDATION_ERROR', 'messageDirection must be INCOMING or OUTGOING');
      if (body.integrationIdempotencyId) {
        const again = this.state.messages.find((m) => m.channelId === channel.id && m.integrationIdempotencyId === body.integrationIdempotencyId);
        if (again) return void res.json(again);
      }
      const customer = (body.messageDirection === 'INCOMING' ? body.senders : body.recipients)?.[0]?.deliveryIdentifier;
      if (!customer?.value) return refuse(res, 400, 'VALIDATION_ERROR', 'the customer needs a delivery identifier');
      const allowed = channel.capabilities['deliveryIdentifierTypes'];
      if (Array.isArray(allowed) && !allowed.includes(customer.type)) return refuse(res, 400, 'VALIDATION_ERROR', `delivery identifier type ${customer.type} is not among the channel's deliveryIdentifierTypes`);
      const attachments = Array.isArray(body.attachments) ? body.attachments : [];
      for (const attachment of attachments) {
        if (attachment?.type !== 'FILE' || !this.#fileExists(String(attachment.fileId))) return refuse(res, 400, 'VALIDATION_ERROR', `attachment ${JSON.stringify(attachment)} is not a FILE uploaded to HubSpot Files`);
      }
      let thread = this.state.threads.find((t) => t.channelAccountId === account.id && t.customer === customer.value);
      if (!thread) {
        thread = { id: this.#id(), channelAccountId: account.id, customer: customer.value, inboxId: account.inboxId };
        this.state.threads.push(thread);
      }
      const message: InboxMessage = {
        id: `msg-${this.#id()}`,
        conversationsThreadId: thread.id,
        channelId: channel.id,
        channelAccountId: account.id,
        direction: body.messageDirection,
        text: String(body.text ?? ''),
        senders: body.senders ?? [],
        recipients: body.recipients ?? [],
        createdAt: body.timestamp ?? new Date().toISOString(),
        client: { clientType: 'INTEGRATION', integrationAppId: this.#options.appId },
        ...(body.integrationIdempotencyId ? { integrationIdempotencyId: body.integrationIdempotencyId } : {}),
        attachments: attachments.map((a) => ({ type: 'FILE' as const, fileId: String(a.fileId) })),
        archived: false,
        type: 'MESSAGE',
      };
      this.state.messages.push(message);
      res.json(message);
    });
    // https://developers.hubspot.com/docs/api-reference/legacy/conversations/conversations/messages/get-conversation
    // The channel's own threads are readable with custom_channels.read (the guide), any thread with conversations.read.
    app.get('/conversations/v3/conversations/threads/:threadId/messages/:messageId', (req, res) => {
      if (lacksScope(req, res, granted, [read, conversations])) return;
      const message = this.state.messages.find((m) => m.conversationsThreadId === req.params['threadId'] && m.id === req.params['messageId']);
      if (!message) return refuse(res, 404, 'OBJECT_NOT_FOUND', 'no such message in the thread');
      res.json(message);
    });
    // https://developers.hubspot.com/docs/api-reference/latest/conversations/custom-channels/messages/update-custom-channel
    app.patch('/conversations/v3/custom-channels/:channelId/messages/:messageId', (req, res) => {
      if (lacksScope(req, res, granted, [write]) || !channelOf(req, res)) return;
      const message = this.state.messages.find((m) => m.id === req.params['messageId'] && m.channelId === req.params['channelId']);
      if (!message) return refuse(res, 404, 'OBJECT_NOT_FOUND', 'no such message on the channel');
      const body = req.body as { statusType?: unknown; errorMessage?: unknown };
      if (body.statusType !== 'SENT' && body.statusType !== 'FAILED' && body.statusType !== 'READ') return refuse(res, 400, 'VALIDATION_ERROR', 'Valid status are SENT, FAILED, and READ');
      message.status = { statusType: body.statusType, ...(body.statusType === 'FAILED' && typeof body.errorMessage === 'string' ? { failureDetails: { errorMessage: body.errorMessage } } : {}) };
      res.json(message);
    });
  }

  /** The inbox thread of a customer's delivery identifier (a phone number or a BSUID). */
  threadOf(customer: string) {
    return this.state.threads.find((t) => t.customer === customer);
  }

  /**
   * An agent answers in a thread: the message is added as OUTGOING from HubSpot and posted to the
   * channel's webhookUrl, signed v3 (method + URI + body + timestamp, base64 HMAC-SHA256 with the
   * app's client secret): https://developers.hubspot.com/docs/apps/developer-platform/build-apps/authentication/request-validation
   * Returns HubSpot's message and the webhook answer's status.
   */
  async agentReplies(conversationsThreadId: string, text: string, options: { signWith?: string; timestamp?: number; file?: { bytes: Buffer; name: string } } = {}): Promise<{ message: InboxMessage; status: number }> {
    const thread = this.state.threads.find((t) => t.id === conversationsThreadId);
    if (!thread) throw new Error(`sandbox: no inbox thread ${conversationsThreadId}`);
    const account = this.state.channelAccounts.find((a) => a.id === thread.channelAccountId)!;
    const channel = this.state.channels.find((c) => c.id === account.channelId)!;
    const customerType = this.state.messages.find((m) => m.conversationsThreadId === thread.id && m.direction === 'INCOMING')?.senders[0]?.deliveryIdentifier.type ?? 'HS_PHONE_NUMBER';
    const message: InboxMessage = {
      id: `msg-${this.#id()}`,
      conversationsThreadId: thread.id,
      channelId: channel.id,
      channelAccountId: account.id,
      direction: 'OUTGOING',
      text,
      senders: [{ deliveryIdentifier: account.deliveryIdentifier ?? { type: 'CHANNEL_SPECIFIC_OPAQUE_ID', value: account.id }, name: 'Sandbox Agent' }],
      recipients: [{ deliveryIdentifier: { type: customerType, value: thread.customer } }],
      createdAt: new Date().toISOString(),
      client: { clientType: 'HUBSPOT' },
      // An agent's file goes to HubSpot Files; the message names it (type FILE, fileId, name).
      attachments: options.file ? [{ type: 'FILE', fileId: this.#addFile(options.file.bytes, options.file.name), name: options.file.name }] : [],
      archived: false,
      type: 'MESSAGE',
    };
    this.state.messages.push(message);
    return { message, status: await this.sendWebhook(channel.webhookUrl, { type: 'OUTGOING_CHANNEL_MESSAGE_CREATED', portalId: 12345, channelId: channel.id, channelAccountId: account.id, message }, options) };
  }

  /** Posts one signed call to a channel's webhook, as HubSpot does (a test may sign it wrongly or date it). */
  async sendWebhook(url: string, payload: Record<string, unknown>, options: { signWith?: string; timestamp?: number } = {}): Promise<number> {
    const body = JSON.stringify(payload);
    const timestamp = String(options.timestamp ?? Date.now());
    const signature = createHmac('sha256', options.signWith ?? this.#options.clientSecret).update(`POST${url}${body}${timestamp}`).digest('base64');
    let status = 0;
    try {
      const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-hubspot-signature-v3': signature, 'x-hubspot-request-timestamp': timestamp }, body });
      status = response.status;
    } catch {
      status = 0;
    }
    this.state.webhooks.push({ url, type: String(payload['type']), status });
    return status;
  }
}
