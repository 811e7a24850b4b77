// WhatsApp Cloud API (Graph API) calls used by the connector: media metadata and download,
// token introspection. Paths follow Meta's OpenAPI description, vendored at
// test/contract/specs/whatsapp/business-messaging-api_v23.0.yaml (facebook/openapi, MIT).
import type { ExecutionContext } from '../../core/connector.js';
import { CredentialError, InvalidPayloadError, VendorError, errorFromHttpStatus, parseRetryAfter, type SyncError } from '../../core/errors.js';
import { vendorFetch } from '../../core/http.js';
import { checkedAnswer } from '../../core/vendor-answer.js';
import { graphError, mediaInfo, sendAnswer, syncAnswer, templatePage, tokenInfo, uploadAnswer, type MediaInfo, type TemplateRecord } from './responses.js';
import { MEDIA_ID } from './webhook-schema.js';
import { explainSendError } from './send-errors.js';

export type { MediaInfo, TemplateRecord } from './responses.js';

/** Graph error codes that mean "slow down" (app, account and WhatsApp throughput limits). */
const THROTTLING_CODES = new Set([4, 17, 32, 613, 80007, 130429, 131056]);

/** Maps a Graph API error answer to a typed error by its code, not its text. */
export function classifyGraphError(status: number, body: string, retryAfter: string | null): SyncError {
  const parsed = graphError.safeParse((() => { try { return JSON.parse(body); } catch { return undefined; } })());
  if (!parsed.success) return errorFromHttpStatus('whatsapp', status, body.slice(0, 300), retryAfter);
  const { message, code } = parsed.data.error;
  const explained = explainSendError(code);
  const detail = `${message}${code === undefined ? '' : ` (code ${code})`}${explained ? `: ${explained}` : ''}`;
  if (status === 401 || code === 190) {
    return new CredentialError('whatsapp', `access token rejected: ${detail}; create a new system-user token in Meta Business Settings and update whatsapp.accessToken`, { status, ...(code === undefined ? {} : { code: String(code) }) });
  }
  if (status === 429 || (code !== undefined && THROTTLING_CODES.has(code))) {
    const retryAfterMs = parseRetryAfter(retryAfter) ?? 60_000;
    return new VendorError('whatsapp', `throttled: ${detail}`, { status, retryable: true, retryAfterMs, ...(code === undefined ? {} : { code: String(code) }) });
  }
  return new VendorError('whatsapp', detail, { status, retryable: status >= 500, ...(code === undefined ? {} : { code: String(code) }) });
}



/** Rate buckets of sends: per business number, and per business number and customer. */
export const SEND_BUCKET = { number: 'number', customer: 'customer' } as const;

/** The body of `POST /{phone-number-id}/messages` after the common fields: one message of any type. */
export type OutgoingMessage =
  | { readonly type: 'text'; readonly text: { readonly body: string; readonly preview_url: boolean } }
  | { readonly type: 'image' | 'video' | 'audio'; readonly [kind: string]: unknown }
  | { readonly type: 'document'; readonly document: { readonly id: string; readonly filename?: string } }
  | { readonly type: 'template'; readonly template: { readonly name: string; readonly language: { readonly policy: 'deterministic'; readonly code: string }; readonly components?: unknown[] } };



export class CloudApiClient {
  constructor(
    private readonly baseUrl: string,
    private readonly accessToken: string,
    private readonly timeoutMs = 30_000,
  ) {}

  #headers(): Record<string, string> {
    return { authorization: `Bearer ${this.accessToken}` };
  }

  /** GET /{media-id}: a short-lived download URL and the file's facts. */
  async getMedia(context: ExecutionContext, mediaId: string): Promise<MediaInfo> {
    // Checked again where it is used: an id from an older store or a replayed operation never passed the webhook's check.
    if (!MEDIA_ID.test(mediaId)) throw new InvalidPayloadError(`whatsapp: the media id (${mediaId.length} characters) is not a Graph API media id (letters, digits, "_" and "-" only); the message is kept without its file`);
    const response = await vendorFetch(context, {
      vendor: 'whatsapp',
      url: `${this.baseUrl}/${encodeURIComponent(mediaId)}`,
      headers: this.#headers(),
      timeoutMs: this.timeoutMs,
      classify: classifyGraphError,
    });
    return checkedAnswer('whatsapp', 'reading a media URL', mediaInfo, await response.json());
  }

  /** GET the media URL with the same bearer token; the URL lives only minutes. */
  async download(context: ExecutionContext, url: string, maxBytes: number): Promise<Uint8Array> {
    const response = await vendorFetch(context, { vendor: 'whatsapp', url, headers: this.#headers(), timeoutMs: this.timeoutMs * 4, classify: classifyGraphError });
    const length = Number(response.headers.get('content-length') ?? '0');
    if (length > maxBytes) {
      await response.body?.cancel();
      throw new VendorError('whatsapp', `media is ${length} bytes, over the ${maxBytes}-byte cap`, { retryable: false });
    }
    const bytes = new Uint8Array(await response.arrayBuffer());
    if (bytes.byteLength > maxBytes) throw new VendorError('whatsapp', `media is ${bytes.byteLength} bytes, over the ${maxBytes}-byte cap`, { retryable: false });
    return bytes;
  }

  /**
   * POST /{phone-number-id}/messages: one message to one customer, addressed by phone (`to`) or
   * by BSUID (`recipient`); returns its wamid.
   * https://developers.facebook.com/docs/whatsapp/cloud-api/reference/messages
   * https://developers.facebook.com/documentation/business-messaging/whatsapp/business-scoped-user-ids/
   * `callbackData` goes out as biz_opaque_callback_data (at most 512 characters), which WhatsApp
   * echoes in the message's status webhooks:
   * https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages/status/
   */
  async sendMessage(context: ExecutionContext, phoneNumberId: string, address: { to: string } | { recipient: string }, message: OutgoingMessage, callbackData?: string): Promise<string> {
    const response = await vendorFetch(context, {
      vendor: 'whatsapp',
      method: 'POST',
      // Meta's throughput per business number, and its pair rate limit per customer (131056):
      // https://developers.facebook.com/documentation/business-messaging/whatsapp/throughput/
      bucket: [`${SEND_BUCKET.number}:${phoneNumberId}`, `${SEND_BUCKET.customer}:${phoneNumberId}:${'to' in address ? address.to : address.recipient}`],
      url: `${this.baseUrl}/${encodeURIComponent(phoneNumberId)}/messages`,
      headers: { ...this.#headers(), 'content-type': 'application/json' },
      body: JSON.stringify({ messaging_product: 'whatsapp', recipient_type: 'individual', ...address, ...message, ...(callbackData === undefined ? {} : { biz_opaque_callback_data: callbackData }) }),
      timeoutMs: this.timeoutMs,
      classify: classifyGraphError,
    });
    return checkedAnswer('whatsapp', 'sending a message', sendAnswer, await response.json()).messages[0]!.id;
  }

  /**
   * POST /{phone-number-id}/media (multipart): uploads a file to send by id; returns the media id.
   * https://developers.facebook.com/docs/whatsapp/cloud-api/reference/media
   */
  async uploadMedia(context: ExecutionContext, phoneNumberId: string, file: { bytes: Uint8Array; mimeType: string; filename: string }): Promise<string> {
    const form = new FormData();
    form.set('messaging_product', 'whatsapp');
    form.set('type', file.mimeType);
    form.set('file', new Blob([file.bytes], { type: file.mimeType }), file.filename);
    const response = await vendorFetch(context, {
      vendor: 'whatsapp',
      method: 'POST',
      url: `${this.baseUrl}/${encodeURIComponent(phoneNumberId)}/media`,
      headers: this.#headers(),
      body: form,
      timeoutMs: this.timeoutMs * 4,
      classify: classifyGraphError,
    });
    return checkedAnswer('whatsapp', 'uploading media', uploadAnswer, await response.json()).id;
  }

  /**
   * POST /{phone-number-id}/smb_app_data: asks WhatsApp to send a coexistence number's app
   * contacts (`smb_app_state_sync`) or its chat history (`history`) as webhooks. Possible once,
   * within 24 hours of onboarding the WhatsApp Business app number; returns the request id.
   * https://developers.facebook.com/documentation/business-messaging/whatsapp/embedded-signup/onboarding-business-app-users/
   */
  async requestAppSync(context: ExecutionContext, phoneNumberId: string, syncType: 'smb_app_state_sync' | 'history'): Promise<string | null> {
    const response = await vendorFetch(context, {
      vendor: 'whatsapp',
      method: 'POST',
      url: `${this.baseUrl}/${encodeURIComponent(phoneNumberId)}/smb_app_data`,
      headers: { ...this.#headers(), 'content-type': 'application/json' },
      body: JSON.stringify({ messaging_product: 'whatsapp', sync_type: syncType }),
      timeoutMs: this.timeoutMs,
      classify: classifyGraphError,
    });
    return checkedAnswer('whatsapp', `requesting the ${syncType} sync`, syncAnswer, await response.json()).request_id ?? null;
  }

  /**
   * GET /{waba-id}/message_templates: every template of the account, page by page (`after`
   * cursor while `paging.next` is given), with the fields the outbound API checks.
   * https://developers.facebook.com/documentation/business-messaging/whatsapp/reference/whatsapp-business-account/message-template-api#get-version-waba-id-message-templates
   * https://developers.facebook.com/documentation/business-messaging/whatsapp/templates/template-management/
   */
  async listTemplates(context: ExecutionContext, businessAccountId: string): Promise<TemplateRecord[]> {
    const templates: TemplateRecord[] = [];
    let after: string | undefined;
    for (let page = 0; page < 100; page++) {
      const query = new URLSearchParams({ fields: 'name,language,status,category,parameter_format,components', limit: '100', ...(after ? { after } : {}) });
      const response = await vendorFetch(context, {
        vendor: 'whatsapp',
        url: `${this.baseUrl}/${encodeURIComponent(businessAccountId)}/message_templates?${query.toString()}`,
        headers: this.#headers(),
        timeoutMs: this.timeoutMs,
        classify: classifyGraphError,
      });
      const page = checkedAnswer('whatsapp', 'listing templates', templatePage, await response.json());
      templates.push(...page.data);
      after = page.paging?.cursors?.after;
      if (!page.paging?.next || !after) break;
    }
    return templates;
  }

  /** GET /debug_token: the scopes the access token holds. */
  async tokenScopes(context: ExecutionContext): Promise<string[]> {
    const url = `${this.baseUrl}/debug_token?input_token=${encodeURIComponent(this.accessToken)}`;
    const response = await vendorFetch(context, { vendor: 'whatsapp', url, headers: this.#headers(), timeoutMs: this.timeoutMs, classify: classifyGraphError });
    const { data } = checkedAnswer('whatsapp', 'reading the access token (debug_token)', tokenInfo, await response.json());
    if (data.is_valid === false) throw new CredentialError('whatsapp', 'the access token is no longer valid; create a new one and update whatsapp.accessToken');
    return data.scopes ?? [];
  }
}
