// Zendesk Support API calls through node-zendesk 6: the shared rate budget before every call,
// every answer's status checked (the SDK resolves some failures, e.g. a 429 with Retry-After,
// instead of throwing), typed errors from Zendesk's status and error names, and the
// Idempotency-Key header on ticket creation (the SDK sends none by itself), and every answer we
// read checked against its schema (responses.ts).
import { checkedAnswer } from '../../core/vendor-answer.js';
import { createReadStream } from 'node:fs';
import type { ZendeskClient, ZendeskClientOptions } from 'node-zendesk';
import type { z } from 'zod';
import type { ExecutionContext } from '../../core/connector.js';
import { SyncError, TransportError, VendorError, classifyVendorFailure, failureVerdict, parseRetryAfter, type VendorErrorTable } from '../../core/errors.js';
import { vendorCall } from '../../core/http.js';
import { loadOnFirstUse } from '../../core/load-on-first-use.js';
import { currentUser, uploadAnswer, zendeskComments, type ZendeskComment, type ZendeskUser } from './responses.js';
import { apiRoot, type ZendeskSettings } from './settings.js';

/** node-zendesk is loaded by the first call, not by importing this module (core/load-on-first-use.ts). */
const loadZendeskSdk = loadOnFirstUse(async () => (await import('node-zendesk')).default);

/** What node-zendesk resolves with: the adapted fetch response and the parsed body. */
interface SdkAnswer {
  readonly response: { readonly status: number; readonly headers: { get(name: string): string | null } };
  readonly result: unknown;
}

/** What node-zendesk throws with `throwOriginalException`: the status and the parsed body. */
interface SdkFailure {
  readonly message?: string;
  readonly statusCode?: number;
  readonly result?: unknown;
  readonly name?: string;
}

/** Zendesk's error body: `{ error: "RecordInvalid", description, details }` or `{ error: { title, message } }`. */
function describeBody(body: unknown): { code: string | undefined; text: string } {
  if (!body || typeof body !== 'object' || body instanceof Error) return { code: undefined, text: '' };
  const record = body as { error?: unknown; description?: string; details?: unknown };
  if (typeof record.error === 'string') {
    const details = record.details ? ` ${JSON.stringify(record.details).slice(0, 300)}` : '';
    return { code: record.error, text: `${record.error}${record.description ? `: ${record.description}` : ''}${details}` };
  }
  if (record.error && typeof record.error === 'object') {
    const e = record.error as { title?: string; message?: string };
    return { code: e.title, text: [e.title, e.message].filter(Boolean).join(': ') };
  }
  return { code: undefined, text: JSON.stringify(body).slice(0, 300) };
}

/**
 * Where Zendesk departs from the common reading of a status
 * (https://developer.zendesk.com/api-reference/introduction/requests, "Response format"): a 403 is
 * the token's user lacking access to what we asked for (an admin must act, as for a refused token),
 * and a 409 is a conflict with a simultaneous update of the same record, which passes on a retry.
 * A rate limit without Retry-After waits out Zendesk's one-minute window.
 */
export const ZENDESK_ERRORS: VendorErrorTable = {
  vendor: 'zendesk',
  statuses: { 403: 'credential', 409: 'retry' },
  rateLimitWaitMs: 60_000,
  hints: {
    credential: 'the API token or OAuth token was refused: check connectors.zendesk credentials',
    'credential:403': "the token's user lacks access: wa-crm-sync scopes lists what is needed",
  },
};

/** One failed answer as a typed error, by status and Zendesk's error name. */
export function zendeskError(action: string, status: number, body: unknown, retryAfter: string | null): SyncError {
  const { code, text } = describeBody(body);
  const retryAfterMs = parseRetryAfter(retryAfter);
  const detail = `${action}: HTTP ${status}${text ? ` ${text}` : ''}`;
  const verdict = failureVerdict(ZENDESK_ERRORS, { status, detail });
  // Zendesk's error names (RecordInvalid, ...) describe the failure; they decide nothing here.
  return classifyVendorFailure(ZENDESK_ERRORS, { status, ...(code ? { code } : {}), detail: verdict === 'rate_limited' ? `rate limited: ${detail}` : detail, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) });
}

/** A thrown SDK or network error as a typed error. */
export function classifyZendeskFailure(error: unknown, action: string): SyncError {
  if (error instanceof SyncError) return error;
  const failure = (error ?? {}) as SdkFailure;
  if (typeof failure.statusCode === 'number' && failure.statusCode >= 400) return zendeskError(action, failure.statusCode, failure.result, null);
  const reason = failure.name === 'TimeoutError' || failure.name === 'AbortError' ? 'no answer in time' : (failure.message ?? String(error));
  return new TransportError(`zendesk: ${action} failed: ${reason}`, { cause: error });
}

/** Whether a failed update was refused because the ticket is closed (a follow-up is needed). */
export function isClosedTicketError(error: unknown): boolean {
  return error instanceof VendorError && error.status === 422 && /closed/i.test(error.message);
}

/** Whether a ticket creation reused an Idempotency-Key with a different body. */
export function isIdempotencyMismatch(error: unknown): boolean {
  return error instanceof VendorError && error.status === 400 && error.code === 'IdempotentRequestError';
}

/**
 * `value` (an answer of `action`) checked against its schema (core/vendor-answer.ts): the parsed
 * answer, or a VendorError saying where it departs and how, never what it holds (answers carry
 * personal data). Retryable, like any answer we could not use: a proxy's page or a partial answer
 * passes; a lasting change of Zendesk's ends dead after the retries.
 */
export function expectAnswer<Schema extends z.ZodType>(action: string, answer: Schema, value: unknown): z.output<Schema> {
  return checkedAnswer('zendesk', action, answer, value, { retryable: true });
}

interface CallOptions {
  readonly buckets?: readonly string[];
  readonly idempotencyKey?: string;
}

export class ZendeskApi {
  readonly #settings: ZendeskSettings;
  #client: ZendeskClient | undefined;
  #integrationUserId: number | undefined;

  constructor(settings: ZendeskSettings) {
    this.#settings = settings;
  }

  /** The SDK client for a call: the shared one, or one sending an Idempotency-Key (ticket creation). */
  async #clientFor(idempotencyKey: string | undefined): Promise<ZendeskClient> {
    const zendesk = await loadZendeskSdk();
    if (idempotencyKey) return zendesk.createClient(this.#options({ 'Idempotency-Key': idempotencyKey }));
    return (this.#client ??= zendesk.createClient(this.#options()));
  }

  /** The Authorization header value, for downloads the SDK does not make (attachment content URLs). */
  authorization(): string {
    const { oauthToken, email, apiToken } = this.#settings;
    if (oauthToken) return `Bearer ${oauthToken}`;
    return `Basic ${Buffer.from(`${email}/token:${apiToken}`).toString('base64')}`;
  }

  #options(extraHeaders: Record<string, string> = {}): ZendeskClientOptions {
    const { oauthToken, email, apiToken, timeoutMs } = this.#settings;
    return {
      endpointUri: apiRoot(this.#settings),
      ...(oauthToken ? { token: oauthToken, oauth: true, useOAuth: true } : { username: email!, token: apiToken! }),
      throwOriginalException: true,
      customHeaders: extraHeaders,
      // Node's own fetch with a timeout, instead of the SDK's bundled fetch which has none.
      transportConfig: {
        transportFn: (uri: string, init: { method: string; headers: Record<string, string>; body?: unknown }) =>
          fetch(uri, {
            method: init.method,
            headers: init.headers,
            ...(init.body === undefined ? {} : { body: init.body as never, duplex: 'half' }),
            signal: AbortSignal.timeout(init.body !== undefined && typeof init.body !== 'string' ? timeoutMs * 4 : timeoutMs),
          } as RequestInit),
        responseAdapter: (response: Response) => ({
          json: () => response.json(),
          status: response.status,
          headers: { get: (name: string) => response.headers.get(name) },
          statusText: response.statusText,
        }),
      },
    };
  }

  /**
   * One SDK call whose answer is read: as `call`, then the answer checked against `answer` (its
   * schema in responses.ts); one that does not match is an unexpectedAnswer error.
   */
  async read<Schema extends z.ZodType>(
    context: ExecutionContext,
    action: string,
    answer: Schema,
    run: (client: ZendeskClient) => Promise<unknown>,
    options: CallOptions = {},
  ): Promise<z.output<Schema>> {
    const { result } = await this.call(context, action, run, options);
    return expectAnswer(action, answer, result);
  }

  /**
   * One SDK call: waits for the rate budget (and the named endpoint buckets), then checks the
   * answer's status, since node-zendesk resolves some failures instead of throwing. The answer
   * comes back unread (`unknown`): what is read goes through `read` and its schema.
   */
  async call(context: ExecutionContext, action: string, run: (client: ZendeskClient) => Promise<unknown>, options: CallOptions = {}): Promise<{ result: unknown; headers: SdkAnswer['response']['headers'] }> {
    const client = await this.#clientFor(options.idempotencyKey);
    return vendorCall(context, { ...(options.buckets ? { bucket: options.buckets } : {}), classify: (error) => classifyZendeskFailure(error, action) }, async () => {
      const answer = (await run(client)) as SdkAnswer;
      const status = answer?.response?.status;
      if (typeof status !== 'number') return { result: answer as unknown, headers: { get: () => null } };
      if (status >= 400 || answer.result instanceof Error) {
        const body = answer.result instanceof Error ? (answer.result as SdkFailure).result : answer.result;
        throw zendeskError(action, status >= 400 ? status : 429, body, answer.response.headers.get('retry-after'));
      }
      return { result: answer.result, headers: answer.response.headers };
    });
  }

  /**
   * The user the credentials act as (the integration's agent), read afresh; its id is kept for
   * integrationUserId. Anonymous (no id) means the credentials are not an agent's.
   * https://developer.zendesk.com/api-reference/ticketing/users/users/#show-the-currently-authenticated-user
   */
  async integrationUser(context: ExecutionContext): Promise<ZendeskUser> {
    const me = await this.read(context, 'reading the integration user', currentUser, (c) => c.users.get(['users', 'me']));
    if (!me.id) throw new VendorError('zendesk', "GET /users/me answered anonymous: the credentials are not an agent's", { status: 401 });
    this.#integrationUserId = me.id;
    return { ...me, id: me.id };
  }

  /** The integration user's id, read once: its comments are never replies, and it writes the business's side of imported history. */
  async integrationUserId(context: ExecutionContext): Promise<number> {
    return this.#integrationUserId ?? (await this.integrationUser(context)).id;
  }

  /**
   * A ticket's newest comments, newest first: where replies are read and a write whose answer was
   * lost is looked for.
   * https://developer.zendesk.com/api-reference/ticketing/tickets/ticket_comments/#list-comments
   */
  newestComments(context: ExecutionContext, ticketId: string): Promise<ZendeskComment[]> {
    return this.read(context, `reading comments of ticket ${ticketId}`, zendeskComments, (c) => c.tickets.get(['tickets', ticketId, 'comments', { sort_order: 'desc' }]));
  }

  /**
   * POST /uploads?filename=… with the file's bytes and its real MIME type as Content-Type, as
   * Zendesk asks (node-zendesk would send every stream as application/binary); returns the
   * upload token for a comment.
   * https://developer.zendesk.com/api-reference/ticketing/tickets/ticket-attachments/#upload-files
   */
  async upload(context: ExecutionContext, path: string, filename: string, mimeType: string, buckets?: readonly string[]): Promise<string> {
    const url = `${apiRoot(this.#settings)}/uploads.json?filename=${encodeURIComponent(filename)}`;
    const result = await this.read(
      context,
      'uploading an attachment',
      uploadAnswer,
      async () => {
        const response = await fetch(url, {
          method: 'POST',
          headers: { authorization: this.authorization(), 'content-type': mimeType, accept: 'application/json' },
          body: createReadStream(path) as never,
          duplex: 'half',
          signal: AbortSignal.timeout(this.#settings.timeoutMs * 4),
        } as RequestInit);
        const json: unknown = response.headers.get('content-type')?.includes('application/json') ? await response.json() : {};
        return { response: { status: response.status, headers: { get: (name: string) => response.headers.get(name) } }, result: json };
      },
      buckets ? { buckets } : {},
    );
    const token = result.upload?.token;
    if (!token) throw new VendorError('zendesk', 'the upload answer carried no token', { retryable: true });
    return token;
  }
}
