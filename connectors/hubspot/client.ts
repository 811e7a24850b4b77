// HubSpot API calls through the official SDK (@hubspot/api-client 13): the shared rate budget
// before every call, OAuth refresh by TTL and once on 401, and typed errors from HubSpot's answers.
// The SDK's own retries stay off (numberOfApiCallRetries 0): the outbox schedules every retry.
import { Client } from '@hubspot/api-client';
import type { ExecutionContext } from '../../core/connector.js';
import { CredentialError, SyncError, TransportError, VendorError, parseRetryAfter } from '../../core/errors.js';
import { vendorCall } from '../../core/http.js';
import type { HubSpotSettings } from './settings.js';

/** The parts of an SDK ApiException we read. */
interface HubSpotFailure {
  readonly code?: number;
  readonly body?: { message?: string; category?: string; policyName?: string; errors?: Array<{ message?: string; context?: Record<string, string[]> }> } | string;
  readonly headers?: Record<string, string>;
  readonly message?: string;
  readonly type?: string;
}

const WAIT_BY_POLICY: Record<string, number> = { SECONDLY: 1000, TEN_SECONDLY_ROLLING: 10_000, DAILY: 3_600_000 };

/** Turns an SDK error into our typed error, by status and HubSpot's error category. */
export function classifyHubSpotError(error: unknown, action: string): SyncError {
  if (error instanceof SyncError) return error;
  const failure = (error ?? {}) as HubSpotFailure;
  const status = typeof failure.code === 'number' ? failure.code : undefined;
  if (status === undefined) {
    return new TransportError(`hubspot: ${action} failed: ${failure.message ?? String(error)}`, { cause: error });
  }
  const body = typeof failure.body === 'object' && failure.body !== null ? failure.body : {};
  const detail = body.message ?? (typeof failure.body === 'string' ? failure.body : failure.message) ?? 'no detail';
  if (status === 401) {
    return new CredentialError('hubspot', `${action}: access token rejected (HTTP 401: ${detail}); issue a new token and update connectors.hubspot`, { status });
  }
  if (status === 403 && body.category === 'MISSING_SCOPES') {
    const scopes = body.errors?.flatMap((e) => e.context?.['requiredGranularScopes'] ?? []) ?? [];
    return new CredentialError('hubspot', `${action}: the token lacks scope${scopes.length > 1 ? 's' : ''} ${scopes.join(', ') || '(unnamed)'}; add them to the private app (Settings > Integrations > Private apps > Scopes)`, { status });
  }
  if (status === 429) {
    const headerWait = parseRetryAfter(failure.headers?.['retry-after']);
    const retryAfterMs = headerWait ?? WAIT_BY_POLICY[body.policyName ?? ''] ?? 10_000;
    return new VendorError('hubspot', `${action}: rate limited (${body.policyName ?? 'HTTP 429'})`, { status, retryable: true, retryAfterMs });
  }
  if (status >= 500) return new VendorError('hubspot', `${action}: HubSpot error (HTTP ${status}): ${detail}`, { status, retryable: true });
  return new VendorError('hubspot', `${action}: rejected (HTTP ${status}${body.category ? `, ${body.category}` : ''}): ${detail}`, { status });
}

export class HubSpotApi {
  readonly client: Client;
  readonly #settings: HubSpotSettings;
  #tokenExpiresAt = 0;

  constructor(settings: HubSpotSettings) {
    this.#settings = settings;
    this.client = new Client({
      basePath: settings.baseUrl.replace(/\/$/, ''),
      numberOfApiCallRetries: 0,
      ...(settings.accessToken ? { accessToken: settings.accessToken } : {}),
    });
  }

  get usesOAuth(): boolean {
    return this.#settings.oauth !== undefined;
  }

  /** The access token in use now (refreshed first when it is an expiring OAuth token). */
  async accessToken(context: ExecutionContext): Promise<string> {
    await this.#ensureFreshToken(context);
    return this.#settings.accessToken ?? this.#currentOAuthToken;
  }

  #currentOAuthToken = '';

  async #ensureFreshToken(context: ExecutionContext, force = false): Promise<void> {
    const oauth = this.#settings.oauth;
    // Refresh a minute before the TTL runs out, so no request goes out with a dying token.
    if (!oauth || (!force && Date.now() < this.#tokenExpiresAt - 60_000)) return;
    const slot = await context.throttle();
    try {
      const token = await this.client.oauth.tokensApi.create('refresh_token', undefined, undefined, oauth.clientId, oauth.clientSecret, oauth.refreshToken);
      context.recordVendorCall(200);
      this.#currentOAuthToken = token.accessToken;
      this.#tokenExpiresAt = Date.now() + token.expiresIn * 1000;
      this.client.setAccessToken(token.accessToken);
    } catch (error) {
      const failure = classifyHubSpotError(error, 'refreshing the OAuth token');
      context.recordVendorCall(failure.status ?? 0);
      // A refresh token HubSpot refuses (400/401) was revoked: only an admin can fix that.
      if (failure.status === 400 || failure.status === 401) {
        throw new CredentialError('hubspot', `the OAuth refresh token was refused (${failure.message}); reinstall the app and update connectors.hubspot.oauth.refreshToken`, { status: failure.status });
      }
      throw failure;
    } finally {
      await slot.settle();
    }
  }

  /** One SDK call: rate budget first; on 401 with OAuth, one refresh and one retry. */
  async call<T>(context: ExecutionContext, action: string, run: (client: Client) => Promise<T>, bucket?: string): Promise<T> {
    await this.#ensureFreshToken(context);
    const once = () => vendorCall(context, { ...(bucket ? { bucket } : {}), classify: (error) => classifyHubSpotError(error, action) }, () => run(this.client));
    try {
      return await once();
    } catch (error) {
      if (!(error instanceof SyncError) || error.status !== 401 || !this.usesOAuth) throw error;
      await this.#ensureFreshToken(context, true);
      return once();
    }
  }

  /** Scopes of the token: OAuth token metadata, or the private-app token-info endpoint. */
  async tokenScopes(context: ExecutionContext): Promise<string[]> {
    const token = await this.accessToken(context);
    if (this.usesOAuth) {
      const info = await this.call(context, 'reading the token metadata', (c) => c.oauth.accessTokensApi.get(token));
      return info.scopes;
    }
    const response = await this.call(context, 'reading the token metadata', (c) =>
      c.apiRequest({ method: 'POST', path: '/oauth/v2/private-apps/get/access-token-info', body: { tokenKey: token } }),
    );
    if (!response.ok) throw classifyHubSpotError({ code: response.status, body: await response.json().catch(() => ({})), headers: {} }, 'reading the token metadata');
    const body = (await response.json()) as { scopes?: unknown };
    if (!Array.isArray(body.scopes)) throw new VendorError('hubspot', 'token metadata came without a scopes list');
    return body.scopes.filter((s): s is string => typeof s === 'string');
  }
}
