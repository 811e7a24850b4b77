// HubSpot API calls through the official SDK (@hubspot/api-client 13): the shared rate budget
// before every call, OAuth refresh by TTL and once on 401, and typed errors from HubSpot's answers.
// The SDK's own retries stay off (numberOfApiCallRetries 0): the outbox schedules every retry.
import type { Client } from '@hubspot/api-client';
import type { z } from 'zod';
import type { ExecutionContext } from '../../core/connector.js';
import { CredentialError, SyncError, TransportError, VendorError, classifyVendorFailure, failureVerdict, parseRetryAfter, type VendorErrorTable } from '../../core/errors.js';
import { vendorCall, vendorFetch } from '../../core/http.js';
import { loadOnFirstUse } from '../../core/load-on-first-use.js';
import { accessTokenInfo, checkAnswer, introspectionAnswer, oauthTokenAnswer } from './responses.js';
import type { HubSpotSettings } from './settings.js';

/** The SDK is loaded by the first call, not by importing this module (core/load-on-first-use.ts). */
const loadHubSpotSdk = loadOnFirstUse(() => import('@hubspot/api-client'));

/** The parts of an SDK ApiException we read. */
interface HubSpotFailure {
  readonly code?: number;
  readonly body?: { message?: string; category?: string; policyName?: string; errors?: Array<{ message?: string; context?: Record<string, string[]> }> } | string;
  readonly headers?: Record<string, string>;
  readonly message?: string;
  readonly type?: string;
}

const WAIT_BY_POLICY: Record<string, number> = { SECONDLY: 1000, TEN_SECONDLY_ROLLING: 10_000, DAILY: 3_600_000 };

/**
 * Where HubSpot departs from the common reading of a status
 * (https://developers.hubspot.com/docs/api/error-handling): a 403 of category MISSING_SCOPES is
 * the token lacking a scope, which an admin must add (other 403s refuse the one request); a rate
 * limit without Retry-After waits out its policy's window (WAIT_BY_POLICY), else 10 s.
 */
export const HUBSPOT_ERRORS: VendorErrorTable = {
  vendor: 'hubspot',
  codes: { MISSING_SCOPES: 'credential' },
  rateLimitWaitMs: 10_000,
  hints: {
    'credential:401': 'issue a new token and update connectors.hubspot',
    'credential:MISSING_SCOPES': 'add them to the private app (Settings > Integrations > Private apps > Scopes)',
  },
};

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
  const category = body.category;
  const verdict = failureVerdict(HUBSPOT_ERRORS, { status, ...(category ? { code: category } : {}), detail });
  let phrased: string;
  let retryAfterMs: number | undefined;
  if (verdict === 'credential' && status === 401) phrased = `${action}: access token rejected (HTTP 401: ${detail})`;
  else if (verdict === 'credential') {
    // HubSpot names the scopes as requiredGranularScopes, requiredScopes, or both.
    const scopes = [...new Set(body.errors?.flatMap((e) => [...(e.context?.['requiredGranularScopes'] ?? []), ...(e.context?.['requiredScopes'] ?? [])]) ?? [])];
    phrased = `${action}: the token lacks scope${scopes.length > 1 ? 's' : ''} ${scopes.join(', ') || '(unnamed)'}`;
  } else if (verdict === 'rate_limited') {
    phrased = `${action}: rate limited (${body.policyName ?? 'HTTP 429'})`;
    retryAfterMs = parseRetryAfter(failure.headers?.['retry-after']) ?? WAIT_BY_POLICY[body.policyName ?? ''];
  } else if (verdict === 'retry') phrased = `${action}: HubSpot error (HTTP ${status}): ${detail}`;
  else phrased = `${action}: rejected (HTTP ${status}${category ? `, ${category}` : ''}): ${detail}`;
  return classifyVendorFailure(HUBSPOT_ERRORS, { status, ...(category ? { code: category } : {}), detail: phrased, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) });
}

export class HubSpotApi {
  #client: Client | undefined;
  readonly #settings: HubSpotSettings;
  #tokenExpiresAt = 0;

  constructor(settings: HubSpotSettings) {
    this.#settings = settings;
  }

  /** The SDK client, made on first use (the SDK is loaded then) with the token in use. */
  async #sdkClient(): Promise<Client> {
    if (this.#client) return this.#client;
    const { Client } = await loadHubSpotSdk();
    const accessToken = this.#settings.accessToken ?? this.#currentOAuthToken;
    return (this.#client ??= new Client({
      basePath: this.#settings.baseUrl.replace(/\/$/, ''),
      numberOfApiCallRetries: 0,
      ...(accessToken ? { accessToken } : {}),
    }));
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

  /** The refresh token in use: HubSpot may rotate it with each refresh. */
  #refreshToken: string | undefined;

  /**
   * Refreshes the access token at the date-versioned OAuth endpoint (the v1 endpoints go away on
   * 16 February 2027), parameters in a form-encoded body, never in the URL:
   * https://developers.hubspot.com/docs/api-reference/2026-03/authentication/oauth-tokens/refresh-oauth-token
   */
  async #ensureFreshToken(context: ExecutionContext, force = false): Promise<void> {
    const oauth = this.#settings.oauth;
    // Refresh a minute before the TTL runs out, so no request goes out with a dying token.
    if (!oauth || (!force && Date.now() < this.#tokenExpiresAt - 60_000)) return;
    const form = new URLSearchParams({ grant_type: 'refresh_token', client_id: oauth.clientId, client_secret: oauth.clientSecret, refresh_token: this.#refreshToken ?? oauth.refreshToken });
    let response: Response;
    try {
      response = await vendorFetch(context, {
        vendor: 'hubspot',
        url: this.#oauthUrl('token'),
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: form.toString(),
        timeoutMs: this.#settings.timeoutMs,
        acceptStatuses: [400, 401],
      });
    } catch (error) {
      throw error instanceof SyncError ? error : classifyHubSpotError(error, 'refreshing the OAuth token');
    }
    const body = checkAnswer('refreshing the OAuth token', oauthTokenAnswer, await response.json().catch(() => ({})));
    // A refresh token HubSpot refuses (400/401, RFC 6749 invalid_grant) was revoked: only an admin can fix that.
    if (!response.ok || !body.access_token) {
      const reason = [body.error, body.error_description ?? body.message].filter(Boolean).join(': ') || `HTTP ${response.status}`;
      throw new CredentialError('hubspot', `the OAuth refresh token was refused (${reason}); reinstall the app and update connectors.hubspot.oauth.refreshToken`, { status: response.status });
    }
    this.#currentOAuthToken = body.access_token;
    if (body.refresh_token) this.#refreshToken = body.refresh_token;
    this.#tokenExpiresAt = Date.now() + (body.expires_in ?? 1800) * 1000;
    this.#client?.setAccessToken(body.access_token);
  }

  #oauthUrl(endpoint: 'token' | 'token/introspect'): string {
    return `${this.#settings.baseUrl.replace(/\/$/, '')}/oauth/${this.#settings.oauthApiVersion}/${endpoint}`;
  }

  /** One SDK call: rate budget first; on 401 with OAuth, one refresh and one retry. */
  async call<T>(context: ExecutionContext, action: string, run: (client: Client) => Promise<T>, bucket?: string): Promise<T> {
    await this.#ensureFreshToken(context);
    const client = await this.#sdkClient();
    const once = () => vendorCall(context, { ...(bucket ? { bucket } : {}), classify: (error) => classifyHubSpotError(error, action) }, () => run(client));
    try {
      return await once();
    } catch (error) {
      if (!(error instanceof SyncError) || error.status !== 401 || !this.usesOAuth) throw error;
      await this.#ensureFreshToken(context, true);
      return once();
    }
  }

  /**
   * One SDK call whose answer is read: checked against its schema (responses.ts), so an answer of
   * another shape is a VendorError saying what was unexpected rather than a crash further on.
   */
  async read<S extends z.ZodType>(context: ExecutionContext, action: string, schema: S, run: (client: Client) => Promise<unknown>, bucket?: string): Promise<z.output<S>> {
    return checkAnswer(action, schema, await this.call(context, action, run, bucket));
  }

  /** Scopes of the token: OAuth token metadata, or the private-app token-info endpoint. */
  async tokenScopes(context: ExecutionContext): Promise<string[]> {
    const token = await this.accessToken(context);
    const oauth = this.#settings.oauth;
    if (oauth) {
      // Token introspection (RFC 7662) at the date-versioned endpoint, form-encoded:
      // https://developers.hubspot.com/docs/api-reference/2026-03/authentication/oauth-tokens/token-introspect
      const response = await vendorFetch(context, {
        vendor: 'hubspot',
        url: this.#oauthUrl('token/introspect'),
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ client_id: oauth.clientId, client_secret: oauth.clientSecret, token, token_type_hint: 'access_token' }).toString(),
        timeoutMs: this.#settings.timeoutMs,
      });
      const info = checkAnswer('introspecting the OAuth token', introspectionAnswer, await response.json());
      if (info.active === false) throw new CredentialError('hubspot', 'the OAuth access token is not active; reinstall the app and update connectors.hubspot.oauth.refreshToken');
      // RFC 7662 gives `scope` as a space-separated string; HubSpot's metadata also lists `scopes`.
      const scopes = info.scopes ?? info.scope?.split(/\s+/);
      if (!scopes) throw new VendorError('hubspot', 'token introspection came without a scopes list');
      return scopes.filter((s): s is string => typeof s === 'string' && s !== '');
    }
    const response = await this.call(context, 'reading the token metadata', (c) =>
      c.apiRequest({ method: 'POST', path: '/oauth/v2/private-apps/get/access-token-info', body: { tokenKey: token } }),
    );
    if (!response.ok) throw classifyHubSpotError({ code: response.status, body: await response.json().catch(() => ({})), headers: {} }, 'reading the token metadata');
    const body = checkAnswer('reading the token metadata', accessTokenInfo, await response.json());
    if (!body.scopes) throw new VendorError('hubspot', 'token metadata came without a scopes list');
    return body.scopes.filter((s): s is string => typeof s === 'string');
  }
}
