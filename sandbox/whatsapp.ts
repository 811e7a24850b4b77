// A local stand-in for the WhatsApp Cloud API (Graph API v23.0) parts the service uses: token
// introspection, media metadata and download with the bearer token, and message sending (with
// the status webhooks Meta then delivers, once told where); plus a simulator that builds
// customers' webhook deliveries in Meta's shapes and signs them.
import { createHash, createHmac, randomBytes } from 'node:crypto';
import express, { type Request, type Response } from 'express';
import { Chaos } from './chaos.js';
import { LoopbackServer } from './loopback.js';

/** One message template in Meta's shape (the fields the service asks for). */
export interface SandboxTemplate {
  id: string;
  name: string;
  language: string;
  status: 'APPROVED' | 'PENDING' | 'REJECTED' | 'PAUSED' | 'DISABLED';
  category: 'MARKETING' | 'UTILITY' | 'AUTHENTICATION';
  parameter_format: 'POSITIONAL' | 'NAMED';
  components: Array<{ type: string; format?: string; text?: string; buttons?: Array<{ type: string; text?: string; url?: string }> }>;
}

export interface WhatsAppSandboxState {
  requests: number;
  /** Sends refused for going over the business number's throughput (error 130429). */
  throttled: number;
  media: Record<string, { bytes: number; mimeType: string }>;
  /** Each accepted send: `to` is the phone number or, for a send by `recipient`, the BSUID. */
  sent: Array<{ to: string; type: string; body: unknown; id: string; by: 'phone' | 'bsuid'; at: number }>;
  /** Sends made whose answer was then lost on purpose (see loseSendAnswers). */
  answersLost: number;
  /** `POST /{phone-number-id}/smb_app_data` requests accepted, in order. */
  appSyncRequests: Array<{ phoneNumberId: string; syncType: string }>;
}

/** What a coexistence onboarding plays when its syncs are requested (see prepareOnboarding). */
export interface Onboarding {
  readonly business: { readonly phoneNumberId: string; readonly displayNumber: string };
  readonly history: readonly PastMessage[];
  readonly contacts: ReadonlyArray<{ phone: string; fullName?: string; firstName?: string }>;
  readonly chunkSize: number;
}

/** A BSUID or parent BSUID: country, dot, (ENT.), up to 128 letters and digits. */
const BSUID = /^[A-Z]{2}\.(?:ENT\.)?[A-Za-z0-9]{1,128}$/;

function graphError(res: Response, status: number, message: string, code: number): void {
  res.status(status).json({ error: { message, type: 'OAuthException', code, fbtrace_id: randomBytes(6).toString('hex') } });
}

export class WhatsAppSandbox {
  readonly state: WhatsAppSandboxState = { requests: 0, throttled: 0, media: {}, sent: [], answersLost: 0, appSyncRequests: [] };
  #onboarding: Onboarding | undefined;
  /** The next this many sends are made (statuses follow), then their connection is reset instead of answered. */
  loseSendAnswers = 0;
  /** Random faults on API requests (off until set). */
  readonly chaos = new Chaos();
  readonly #sendWindow: number[] = [];
  readonly #media = new Map<string, { data: Buffer; mimeType: string }>();
  readonly #server = new LoopbackServer();
  #baseUrl = '';
  #statusWebhook: { url: string; appSecret: string } | undefined;
  #statusDeliveries = new Set<Promise<void>>();
  #stopped = false;
  /**
   * Authentication templates (one-tap, zero-tap, copy-code): Meta refuses them for BSUID
   * recipients with error 131062.
   * https://developers.facebook.com/documentation/business-messaging/whatsapp/business-scoped-user-ids/
   */
  readonly authenticationTemplates = new Set<string>();
  /**
   * The WhatsApp Business Account's templates, as GET /{waba-id}/message_templates lists them
   * (name, language, status, category, parameter_format, components). Sends of a template not
   * listed here, or not APPROVED, are refused with 132001 as Meta does.
   * https://developers.facebook.com/documentation/business-messaging/whatsapp/templates/template-management/
   */
  readonly templates: SandboxTemplate[] = [
    { id: '1001', name: 'order_shipped', language: 'en_US', status: 'APPROVED', category: 'UTILITY', parameter_format: 'POSITIONAL', components: [{ type: 'BODY', text: 'Hi {{1}}, your order {{2}} has shipped.' }] },
    { id: '1002', name: 'spring_sale', language: 'en_US', status: 'APPROVED', category: 'MARKETING', parameter_format: 'POSITIONAL', components: [{ type: 'BODY', text: 'Spring sale: 20% off everything until Sunday.' }, { type: 'FOOTER', text: 'Reply STOP to opt out' }] },
    { id: '1003', name: 'appointment_reminder', language: 'en_US', status: 'APPROVED', category: 'UTILITY', parameter_format: 'NAMED', components: [{ type: 'BODY', text: 'Hello {{first_name}}, see you on {{day}}.' }] },
    { id: '1004', name: 'welcome_back', language: 'en_US', status: 'PENDING', category: 'MARKETING', parameter_format: 'POSITIONAL', components: [{ type: 'BODY', text: 'Welcome back!' }] },
    {
      id: '1005', name: 'order_tracking', language: 'en_US', status: 'APPROVED', category: 'UTILITY', parameter_format: 'POSITIONAL',
      components: [
        { type: 'HEADER', format: 'TEXT', text: 'Order {{1}}' },
        { type: 'BODY', text: 'Hi {{1}}, your parcel is on its way.' },
        { type: 'BUTTONS', buttons: [{ type: 'QUICK_REPLY', text: 'Thanks' }, { type: 'URL', text: 'Track it', url: 'https://shop.example/track/{{1}}' }] },
      ],
    },
  ];
  /** Accounts whose templates this sandbox serves (the WABA ids); any other id is refused as Meta refuses an unknown object. */
  readonly businessAccounts = new Set<string>(['102290129340398']);

  constructor(
    readonly accessToken = 'EAAG-sandbox-token',
    /** Messages per second per business number (Meta's default throughput is about 80). */
    readonly messagesPerSecond = 80,
  ) {}

  async start(port = 0): Promise<string> {
    this.#baseUrl = await this.#server.start(this.#app(), port);
    return `${this.#baseUrl}/v23.0`;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.all(this.#statusDeliveries);
    await this.#server.stop();
  }

  /**
   * From now on every accepted send is followed by its `sent` and `delivered` status webhooks,
   * signed with the app secret and retried until acknowledged, as Meta does. Each echoes the
   * send's biz_opaque_callback_data, which is "returned as part of sent/delivered/read message
   * webhooks" (https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages/status/).
   */
  deliverStatusesTo(url: string, appSecret: string): void {
    this.#statusWebhook = { url, appSecret };
  }

  /** Resolves once every webhook the sandbox is delivering (statuses, an onboarding's syncs) was acknowledged. */
  async deliveriesSettled(): Promise<void> {
    while (this.#statusDeliveries.size > 0) await Promise.all(this.#statusDeliveries);
  }

  /**
   * A WhatsApp Business app number onboarded with its past: when the service requests the syncs,
   * the contacts come as `smb_app_state_sync`, the history as `history` webhooks in shuffled chunks
   * (Meta: "they may not be delivered sequentially"), media messages first as placeholders, and
   * the media of those under 14 days old in a later history webhook. Webhooks go where
   * deliverStatusesTo points.
   * https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/history/
   */
  prepareOnboarding(onboarding: Onboarding): void {
    this.#onboarding = onboarding;
  }

  #playSync(syncType: string): void {
    const onboarding = this.#onboarding;
    const target = this.#statusWebhook;
    if (!onboarding || !target) return;
    const now = Math.floor(Date.now() / 1000);
    const bodies: string[] = [];
    if (syncType === 'smb_app_state_sync') bodies.push(appContactsWebhook(onboarding.business, onboarding.contacts, now));
    if (syncType === 'history') {
      const chunks = historyWebhooks(
        onboarding.history.map((m) => (m.media ? { ...m, placeholder: true } : m)),
        onboarding.business,
        { chunkSize: onboarding.chunkSize, onboardedAt: now },
      );
      for (let i = chunks.length - 1; i > 0; i--) {
        const j = Math.floor(Math.random() * (i + 1));
        [chunks[i], chunks[j]] = [chunks[j]!, chunks[i]!];
      }
      bodies.push(...chunks);
      // Only media of the last 14 days are shared, afterwards.
      const recentMedia = onboarding.history.filter((m) => m.media && now - m.timestamp <= 14 * 86_400);
      if (recentMedia.length > 0) bodies.push(...historyWebhooks(recentMedia, onboarding.business, { chunkSize: onboarding.chunkSize, onboardedAt: now }));
    }
    const delivery = (async () => {
      for (const body of bodies) await this.#deliverSigned(target, body);
    })();
    this.#statusDeliveries.add(delivery);
    void delivery.finally(() => this.#statusDeliveries.delete(delivery));
  }

  /** Delivers one signed webhook, retried until acknowledged (Meta retries for days; a few seconds is enough here). */
  async #deliverSigned(target: { url: string; appSecret: string }, body: string): Promise<void> {
    const signature = `sha256=${createHmac('sha256', target.appSecret).update(body).digest('hex')}`;
    for (let attempt = 0; attempt < 100 && !this.#stopped; attempt++) {
      const answer = await fetch(target.url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-hub-signature-256': signature }, body })
        .then(async (res) => (await res.arrayBuffer(), res.status))
        .catch(() => 0);
      if (answer === 200) return;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  #queueStatuses(phoneNumberId: string, recipient: string | SimulatedCustomer, messageId: string, callbackData: string | undefined): void {
    const target = this.#statusWebhook;
    if (!target) return;
    const simulator = new WhatsAppSimulator(target.appSecret, phoneNumberId);
    const delivery = (async () => {
      for (const status of ['sent', 'delivered'] as const) {
        const body = simulator.status(messageId, typeof recipient === 'string' ? recipient.replace(/^\+/, '') : recipient, status, Math.floor(Date.now() / 1000), undefined, callbackData);
        // Meta retries an unacknowledged delivery for days; a minute covers a restart here.
        for (let attempt = 0; attempt < 600 && !this.#stopped; attempt++) {
          const answer = await fetch(target.url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-hub-signature-256': simulator.sign(body) }, body })
            .then(async (res) => (await res.arrayBuffer(), res.status))
            .catch(() => 0);
          if (answer === 200) break;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    })();
    this.#statusDeliveries.add(delivery);
    void delivery.finally(() => this.#statusDeliveries.delete(delivery));
  }

  /** The bytes held under a media id (a customer's file, or one the service uploaded to send). */
  mediaBytes(id: string): Buffer | undefined {
    return this.#media.get(id)?.data;
  }

  /** Makes a media file available under a new media id, as when a customer sends one. */
  addMedia(data: Buffer, mimeType: string): { id: string; sha256Base64: string } {
    const id = String(1_000_000_000_000 + this.#media.size + 1);
    this.#media.set(id, { data, mimeType });
    this.state.media[id] = { bytes: data.length, mimeType };
    return { id, sha256Base64: createHash('sha256').update(data).digest('base64') };
  }

  #authorised(req: Request, res: Response): boolean {
    this.state.requests++;
    if (req.get('authorization') === `Bearer ${this.accessToken}`) return true;
    graphError(res, 401, 'Error validating access token: The session is invalid.', 190);
    return false;
  }

  #app(): express.Express {
    const app = express();
    app.use(express.json());
    app.get('/_sandbox/state', (_req, res) => void res.json(this.state));
    app.use('/v23.0', this.chaos.middleware((res) => graphError(res, 500, 'An unexpected error has occurred. Please retry your request later.', 2)));

    app.get('/v23.0/debug_token', (req, res) => {
      if (!this.#authorised(req, res)) return;
      const valid = req.query['input_token'] === this.accessToken;
      res.json({ data: { is_valid: valid, scopes: valid ? ['whatsapp_business_messaging', 'whatsapp_business_management'] : [] } });
    });

    app.get('/media-download/:id', (req, res) => {
      if (!this.#authorised(req, res)) return;
      const media = this.#media.get(req.params.id);
      if (!media) return graphError(res, 404, 'Media not found', 100);
      res.type(media.mimeType).send(media.data);
    });

    // https://developers.facebook.com/documentation/business-messaging/whatsapp/embedded-signup/onboarding-business-app-users/
    // Each sync can be requested once per onboarding; a second request is refused.
    app.post('/v23.0/:phoneNumberId/smb_app_data', (req, res) => {
      if (!this.#authorised(req, res)) return;
      const body = req.body as { messaging_product?: string; sync_type?: string };
      if (body.messaging_product !== 'whatsapp' || (body.sync_type !== 'smb_app_state_sync' && body.sync_type !== 'history')) {
        return graphError(res, 400, '(#100) Param sync_type must be one of {smb_app_state_sync, history}', 100);
      }
      if (this.state.appSyncRequests.some((r) => r.phoneNumberId === req.params.phoneNumberId && r.syncType === body.sync_type)) {
        return graphError(res, 400, `(#100) ${body.sync_type} was already requested for this phone number`, 100);
      }
      this.state.appSyncRequests.push({ phoneNumberId: req.params.phoneNumberId, syncType: body.sync_type });
      res.json({ messaging_product: 'whatsapp', request_id: randomBytes(8).toString('hex') });
      this.#playSync(body.sync_type);
    });

    // https://developers.facebook.com/documentation/business-messaging/whatsapp/reference/whatsapp-business-account/message-template-api#get-version-waba-id-message-templates
    // `fields` picks the fields returned (id always comes); `limit` and the `after` cursor page
    // through them; `paging.next` is present while another page follows.
    app.get('/v23.0/:wabaId/message_templates', (req, res) => {
      if (!this.#authorised(req, res)) return;
      if (!this.businessAccounts.has(req.params.wabaId)) return graphError(res, 400, `Unsupported get request. Object with ID '${req.params.wabaId}' does not exist, cannot be loaded due to missing permissions, or does not support this operation.`, 100);
      const fields = typeof req.query['fields'] === 'string' ? req.query['fields'].split(',') : ['name', 'parameter_format', 'components', 'language', 'status', 'category'];
      const limit = Math.min(Math.max(Number(req.query['limit'] ?? 25) || 25, 1), 1000);
      const start = typeof req.query['after'] === 'string' ? Number(Buffer.from(req.query['after'], 'base64').toString('utf8')) || 0 : 0;
      const page = this.templates.slice(start, start + limit).map((t) => Object.fromEntries(Object.entries(t).filter(([key]) => key === 'id' || fields.includes(key))));
      const cursor = (n: number) => Buffer.from(String(n)).toString('base64');
      const more = start + limit < this.templates.length;
      res.json({
        data: page,
        paging: {
          cursors: { before: cursor(start), after: cursor(start + page.length) },
          ...(more ? { next: `${this.#baseUrl}/v23.0/${req.params.wabaId}/message_templates?limit=${limit}&after=${cursor(start + page.length)}` } : {}),
        },
      });
    });

    app.post('/v23.0/:phoneNumberId/messages', (req, res) => {
      if (!this.#authorised(req, res)) return;
      // `to` takes a phone number, `recipient` a BSUID or parent BSUID; with both, `to` wins.
      const body = req.body as { to?: string; recipient?: string; type?: string; template?: { name?: string }; biz_opaque_callback_data?: unknown };
      if ((!body.to && !body.recipient) || !body.type) return graphError(res, 400, '(#100) The parameter to or recipient is required.', 100);
      const byBsuid = !body.to;
      if (byBsuid && !BSUID.test(body.recipient!)) return graphError(res, 400, '(#100) Param recipient must be a business-scoped user ID', 100);
      if (byBsuid && body.type === 'template' && this.authenticationTemplates.has(body.template?.name ?? '')) {
        return graphError(res, 400, '(#131062) Business-scoped User ID recipients are not supported for this message.', 131062);
      }
      // Template sends must name an approved template in its language, with as many body parameters as it has.
      if (body.type === 'template' && !this.authenticationTemplates.has(body.template?.name ?? '')) {
        const sent = body.template as { name?: string; language?: { code?: string }; components?: Array<{ type?: string; parameters?: unknown[] }> } | undefined;
        const template = this.templates.find((t) => t.name === sent?.name && t.language === sent?.language?.code);
        if (!template || template.status !== 'APPROVED') return graphError(res, 404, `(#132001) Template name does not exist in the translation`, 132001);
        const placeholders = new Set([...(template.components.find((c) => c.type === 'BODY')?.text ?? '').matchAll(/\{\{\s*([A-Za-z0-9_]+)\s*\}\}/g)].map((m) => m[1])).size;
        const given = sent?.components?.find((c) => c.type === 'body')?.parameters?.length ?? 0;
        if (placeholders !== given) return graphError(res, 400, `(#132000) Number of parameters does not match the expected number of params`, 132000);
        // A text header's parameter goes in a `header` component, each URL button's suffix in a
        // `button` component with sub_type url and the button's index (from 0, as a string):
        // https://developers.facebook.com/documentation/business-messaging/whatsapp/templates/template-messages/
        const header = template.components.find((c) => c.type === 'HEADER' && (c.format ?? 'TEXT') === 'TEXT');
        const headerWanted = [...(header?.text ?? '').matchAll(/\{\{\s*([A-Za-z0-9_]+)\s*\}\}/g)].length;
        const headerGiven = sent?.components?.find((c) => c.type === 'header')?.parameters?.length ?? 0;
        if (headerWanted !== headerGiven) return graphError(res, 400, `(#132000) Number of parameters does not match the expected number of params`, 132000);
        const urlButtons = (template.components.find((c) => c.type === 'BUTTONS')?.buttons ?? []).flatMap((b, index) => (b.type === 'URL' && /\{\{/.test(b.url ?? '') ? [String(index)] : []));
        const buttonsGiven = (sent?.components ?? []).filter((c) => c.type === 'button') as Array<{ sub_type?: string; index?: string; parameters?: unknown[] }>;
        const buttonsRight = buttonsGiven.length === urlButtons.length && buttonsGiven.every((b) => b.sub_type === 'url' && urlButtons.includes(String(b.index)) && b.parameters?.length === 1);
        if (!buttonsRight) return graphError(res, 400, `(#132000) Number of parameters does not match the expected number of params`, 132000);
      }
      const callbackData = body.biz_opaque_callback_data;
      if (callbackData !== undefined && (typeof callbackData !== 'string' || callbackData.length > 512)) {
        return graphError(res, 400, '(#100) Param biz_opaque_callback_data must be a string of at most 512 characters', 100);
      }
      const now = Date.now();
      while (this.#sendWindow.length > 0 && this.#sendWindow[0]! <= now - 1000) this.#sendWindow.shift();
      if (this.#sendWindow.length >= this.messagesPerSecond) {
        this.state.throttled++;
        res.set('retry-after', '1');
        return graphError(res, 429, '(#130429) Rate limit hit: message throughput for this phone number was exceeded', 130429);
      }
      this.#sendWindow.push(now);
      const id = `wamid.SANDBOX${randomBytes(8).toString('hex').toUpperCase()}`;
      const address = body.to ?? body.recipient!;
      this.state.sent.push({ to: address, type: body.type, body, id, by: byBsuid ? 'bsuid' : 'phone', at: now });
      this.#queueStatuses(req.params.phoneNumberId, byBsuid ? { waId: null, bsuid: address, name: '' } : address, id, callbackData);
      if (this.loseSendAnswers > 0) {
        this.loseSendAnswers--;
        this.state.answersLost++;
        req.socket.destroy();
        return;
      }
      // contacts[]: `wa_id` for a send to a phone, `user_id` for one to a BSUID.
      res.json({ messaging_product: 'whatsapp', contacts: [byBsuid ? { input: address, user_id: address } : { input: address, wa_id: address.replace(/^\+/, '') }], messages: [{ id }] });
    });

    // Media upload for sending: multipart with messaging_product, type and file.
    app.post('/v23.0/:phoneNumberId/media', express.raw({ type: 'multipart/form-data', limit: '110mb' }), async (req, res) => {
      if (!this.#authorised(req, res)) return;
      const form = await new Response(req.body as Buffer, { headers: { 'content-type': req.get('content-type') ?? '' } }).formData().catch(() => undefined);
      const file = form?.get('file');
      if (!form || form.get('messaging_product') !== 'whatsapp' || !(file instanceof Blob)) return graphError(res, 400, '(#100) Param file must be a file with one of the supported types', 100);
      const { id } = this.addMedia(Buffer.from(await file.arrayBuffer()), String(form.get('type') ?? file.type));
      res.json({ id });
    });

    app.get('/v23.0/:mediaId', (req, res) => {
      if (!this.#authorised(req, res)) return;
      const media = this.#media.get(req.params.mediaId);
      if (!media) return graphError(res, 404, 'Unsupported get request. Object does not exist', 100);
      res.json({
        messaging_product: 'whatsapp',
        url: `${this.#baseUrl}/media-download/${req.params.mediaId}`,
        mime_type: media.mimeType,
        sha256: createHash('sha256').update(media.data).digest('hex'),
        // A string, as in Meta's spec.
        file_size: String(media.data.length),
        id: req.params.mediaId,
      });
    });
    return app;
  }
}

/** A `messages` webhook delivery around one change value (messages, contacts or statuses), in Meta's shape. */
export function messagesEnvelope(value: Record<string, unknown>, business: { phoneNumberId: string; displayNumber: string }): string {
  return JSON.stringify({
    object: 'whatsapp_business_account',
    entry: [
      {
        id: '419561257915477',
        changes: [
          {
            field: 'messages',
            value: { messaging_product: 'whatsapp', metadata: { display_phone_number: business.displayNumber, phone_number_id: business.phoneNumberId }, ...value },
          },
        ],
      },
    ],
  });
}

/** One message of a simulated WhatsApp Business app chat history. */
export interface PastMessage {
  readonly id: string;
  /** The customer's number (the thread) the message belongs to. */
  readonly customer: string;
  readonly fromBusiness: boolean;
  /** Unix seconds (the device's time). */
  readonly timestamp: number;
  readonly text?: string;
  /** A media message: a placeholder until a later webhook carries `media`. */
  readonly placeholder?: boolean;
  readonly media?: { readonly kind: 'image'; readonly id: string; readonly mimeType: string; readonly caption?: string };
  readonly status?: string;
}

/**
 * A coexistence onboarding's history as Meta sends it: the messages of each phase in chunks of
 * at most `chunkSize` (numbered by chunk_order), each chunk a webhook grouping its messages by
 * thread, with the sync's overall progress (100 on the last). Chunks come out of order, so the
 * caller shuffles them as it likes.
 * https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/history/
 */
export function historyWebhooks(
  messages: readonly PastMessage[],
  business: { phoneNumberId: string; displayNumber: string },
  options: { chunkSize: number; onboardedAt: number },
): string[] {
  const day = 86_400;
  const phaseOf = (m: PastMessage) => (options.onboardedAt - m.timestamp <= day ? 0 : options.onboardedAt - m.timestamp <= 90 * day ? 1 : 2);
  const chunks: Array<{ phase: number; order: number; messages: PastMessage[] }> = [];
  for (const phase of [0, 1, 2]) {
    // A phase with no history sends nothing.
    const ofPhase = messages.filter((m) => phaseOf(m) === phase).sort((a, b) => a.timestamp - b.timestamp);
    for (let i = 0; i < ofPhase.length; i += options.chunkSize) chunks.push({ phase, order: i / options.chunkSize + 1, messages: ofPhase.slice(i, i + options.chunkSize) });
  }
  return chunks.map((chunk, index) => {
    const threads = new Map<string, unknown[]>();
    for (const m of chunk.messages) {
      const body = m.placeholder
        ? { type: 'media_placeholder' }
        : m.media
          ? { type: m.media.kind, [m.media.kind]: { id: m.media.id, mime_type: m.media.mimeType, ...(m.media.caption ? { caption: m.media.caption } : {}) } }
          : { type: 'text', text: { body: m.text ?? '' } };
      const message = {
        from: m.fromBusiness ? business.displayNumber : m.customer,
        // `to` only on the business's own messages.
        ...(m.fromBusiness ? { to: m.customer } : {}),
        id: m.id,
        timestamp: String(m.timestamp),
        ...body,
        history_context: { status: m.status ?? (m.fromBusiness ? 'read' : 'delivered') },
      };
      threads.set(m.customer, [...(threads.get(m.customer) ?? []), message]);
    }
    return historyEnvelope(business, {
      metadata: { phase: chunk.phase, chunk_order: chunk.order, progress: Math.round(((index + 1) / chunks.length) * 100) },
      threads: [...threads].map(([id, list]) => ({ id, messages: list })),
    });
  });
}

/** One `history` webhook body holding one chunk (or a declined sync's errors). */
export function historyEnvelope(business: { phoneNumberId: string; displayNumber: string }, chunk: Record<string, unknown>): string {
  return JSON.stringify({
    object: 'whatsapp_business_account',
    entry: [
      {
        id: '419561257915477',
        changes: [
          {
            field: 'history',
            value: { messaging_product: 'whatsapp', metadata: { display_phone_number: business.displayNumber, phone_number_id: business.phoneNumberId }, history: [chunk] },
          },
        ],
      },
    ],
  });
}

/**
 * The app's address book as `smb_app_state_sync` sends it.
 * https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/smb_app_state_sync/
 */
export function appContactsWebhook(
  business: { phoneNumberId: string; displayNumber: string },
  contacts: ReadonlyArray<{ phone: string; fullName?: string; firstName?: string; action?: 'add' | 'remove' }>,
  at: number,
): string {
  return JSON.stringify({
    object: 'whatsapp_business_account',
    entry: [
      {
        id: '419561257915477',
        changes: [
          {
            field: 'smb_app_state_sync',
            value: {
              messaging_product: 'whatsapp',
              metadata: { display_phone_number: business.displayNumber, phone_number_id: business.phoneNumberId },
              state_sync: contacts.map((c) => ({
                type: 'contact',
                // Names are left out of removals.
                contact: c.action === 'remove' ? { phone_number: c.phone } : { full_name: c.fullName, first_name: c.firstName, phone_number: c.phone },
                action: c.action ?? 'add',
                metadata: { timestamp: String(at) },
              })),
            },
          },
        ],
      },
    ],
  });
}

/** A simulated customer: a number (null when a username user withholds it), and a BSUID and username once they have them. */
export interface SimulatedCustomer {
  readonly waId: string | null;
  readonly name: string;
  readonly bsuid?: string;
  readonly parentBsuid?: string;
  readonly username?: string;
}

/** The customer's `contacts[]` entry; a sent status carries no username. */
function contactEntry(customer: SimulatedCustomer, withoutUsername: boolean): Record<string, unknown> {
  return {
    profile: { name: customer.name, ...(customer.username && !withoutUsername ? { username: customer.username } : {}) },
    ...(customer.waId ? { wa_id: customer.waId } : {}),
    ...(customer.bsuid ? { user_id: customer.bsuid } : {}),
    ...(customer.parentBsuid ? { parent_user_id: customer.parentBsuid } : {}),
  };
}

/** Builds customers' webhook deliveries in Meta's shapes, signed with the app secret. */
export class WhatsAppSimulator {
  #sequence = 0;

  constructor(
    readonly appSecret: string,
    readonly phoneNumberId = '106540352242922',
    readonly displayNumber = '15550783881',
  ) {}

  sign(body: string): string {
    return `sha256=${createHmac('sha256', this.appSecret).update(body).digest('hex')}`;
  }

  /**
   * One delivery with one status report for a message we sent (`failed` with Meta's error
   * details; the send's callback data echoed). The recipient is a phone number, or a customer
   * whose BSUID is given (and whose number is left out when they withhold it). A failed status
   * has no contacts entry.
   * https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages/status/
   */
  status(messageId: string, recipient: string | SimulatedCustomer, status: 'sent' | 'delivered' | 'read' | 'failed', timestamp: number, error?: { code: number; title: string; details: string }, callbackData?: string): string {
    const errors = error ? { errors: [{ code: error.code, title: error.title, message: error.title, error_data: { details: error.details } }] } : {};
    const echo = callbackData === undefined ? {} : { biz_opaque_callback_data: callbackData };
    const customer: SimulatedCustomer = typeof recipient === 'string' ? { waId: recipient, name: '' } : recipient;
    const ids = {
      ...(customer.waId ? { recipient_id: customer.waId } : {}),
      ...(customer.bsuid ? { recipient_user_id: customer.bsuid } : {}),
      ...(customer.parentBsuid ? { recipient_parent_user_id: customer.parentBsuid } : {}),
    };
    const contacts = typeof recipient === 'string' || status === 'failed' ? {} : { contacts: [contactEntry(customer, status === 'sent')] };
    return messagesEnvelope({ ...contacts, statuses: [{ id: messageId, status, timestamp: String(timestamp), ...ids, ...echo, ...errors }] }, this);
  }

  /**
   * One delivery with one message from a customer; `content` is the type-specific part (e.g.
   * `{ type: 'text', text: { body } }`). A customer with a username who withholds the number
   * comes with `user_id` and `profile.username` and no `wa_id` or `from`.
   */
  message(customer: SimulatedCustomer, content: Record<string, unknown>, timestamp: number): { body: string; messageId: string } {
    const messageId = this.#messageId();
    const from = {
      ...(customer.waId ? { from: customer.waId } : {}),
      ...(customer.bsuid ? { from_user_id: customer.bsuid } : {}),
      ...(customer.parentBsuid ? { from_parent_user_id: customer.parentBsuid } : {}),
    };
    const body = messagesEnvelope({ contacts: [contactEntry(customer, false)], messages: [{ ...from, id: messageId, timestamp: String(timestamp), ...content }] }, this);
    return { body, messageId };
  }

  /**
   * A `user_changed_number` system message (no contacts array): the new number in `system.wa_id`.
   * https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages/system/
   */
  numberChange(customer: SimulatedCustomer, newWaId: string, timestamp: number): { body: string; messageId: string } {
    const messageId = this.#messageId();
    const system = { body: `User ${customer.name} changed from ${customer.waId ?? 'a hidden number'} to ${newWaId}`, wa_id: newWaId, type: 'user_changed_number' };
    const from = { ...(customer.waId ? { from: customer.waId } : {}), ...(customer.bsuid ? { from_user_id: customer.bsuid } : {}) };
    return { body: messagesEnvelope({ messages: [{ ...from, id: messageId, timestamp: String(timestamp), type: 'system', system }] }, this), messageId };
  }

  /** A `user_changed_user_id` system message: the new BSUID in `system.user_id`, the old one in `previous_user_id`. */
  bsuidChange(customer: SimulatedCustomer, newBsuid: string, timestamp: number): { body: string; messageId: string } {
    const messageId = this.#messageId();
    const system = { body: `User ${customer.name} changed their business-scoped user ID`, user_id: newBsuid, previous_user_id: customer.bsuid, type: 'user_changed_user_id' };
    const from = { ...(customer.waId ? { from: customer.waId } : {}), from_user_id: newBsuid };
    return { body: messagesEnvelope({ messages: [{ ...from, id: messageId, timestamp: String(timestamp), type: 'system', system }] }, this), messageId };
  }

  /**
   * A `user_preferences` webhook: the customer stopped (`stop`) or resumed (`resume`) marketing
   * messages, named by number and/or BSUID, with a contacts entry as Meta sends it.
   * https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/user_preferences/
   */
  userPreferences(customer: SimulatedCustomer, value: 'stop' | 'resume', timestamp: number): string {
    const ids = { ...(customer.waId ? { wa_id: customer.waId } : {}), ...(customer.bsuid ? { user_id: customer.bsuid } : {}) };
    const detail = value === 'stop' ? 'User requested to stop marketing messages' : 'User requested to resume marketing messages';
    return JSON.stringify({
      object: 'whatsapp_business_account',
      entry: [
        {
          id: '419561257915477',
          changes: [
            {
              field: 'user_preferences',
              value: {
                messaging_product: 'whatsapp',
                metadata: { display_phone_number: this.displayNumber, phone_number_id: this.phoneNumberId },
                contacts: [{ profile: { name: customer.name }, ...ids }],
                user_preferences: [{ ...ids, detail, category: 'marketing_messages', value, timestamp }],
              },
            },
          ],
        },
      ],
    });
  }

  #messageId(): string {
    return `wamid.SIM${String(++this.#sequence).padStart(8, '0')}${randomBytes(4).toString('hex').toUpperCase()}`;
  }
}
