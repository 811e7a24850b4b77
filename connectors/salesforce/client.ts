// Salesforce REST calls through jsforce 3: the shared rate budget before every call, the daily
// API allowance watched (with a reserve left for the org), sessions obtained and refreshed by the
// client-credentials or JWT bearer flow, and typed errors from Salesforce's error codes.
import { createSign } from 'node:crypto';
import type { Connection } from 'jsforce';
import type { z } from 'zod';
import type { ExecutionContext } from '../../core/connector.js';
import { CredentialError, SyncError, TransportError, VendorError, classifyVendorFailure, failureVerdict, type VendorErrorTable } from '../../core/errors.js';
import { vendorCall } from '../../core/http.js';
import { loadOnFirstUse } from '../../core/load-on-first-use.js';
import { checkedAnswer } from '../../core/vendor-answer.js';
import { tokenAnswer } from './responses.js';
import type { SalesforceSettings } from './settings.js';

/** jsforce is loaded by the first call, not by importing this module (core/load-on-first-use.ts). */
const loadJsforce = loadOnFirstUse(async () => (await import('jsforce')).default);

interface SalesforceFailure {
  readonly errorCode?: string;
  readonly name?: string;
  readonly message?: string;
  readonly code?: string;
}

/**
 * Salesforce answers in error codes (https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/errorcodes.htm,
 * https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_calls_concepts_core_data_objects.htm#statuscode):
 * a refused session and missing access are for an admin; lock contention, an unavailable server and
 * long-running requests pass on a retry; REQUEST_LIMIT_EXCEEDED is a rate limit (no Retry-After:
 * the connector picks the wait from the limit named). jsforce reports a bare HTTP failure as
 * ERROR_HTTP_<status>, read by the common rule.
 */
export const SALESFORCE_ERRORS: VendorErrorTable = {
  vendor: 'salesforce',
  codes: {
    INVALID_SESSION_ID: 'credential',
    INVALID_AUTH_HEADER: 'credential',
    INSUFFICIENT_ACCESS_OR_READONLY: 'credential',
    INSUFFICIENT_ACCESS: 'credential',
    API_DISABLED_FOR_ORG: 'credential',
    API_CURRENTLY_DISABLED: 'credential',
    REQUEST_LIMIT_EXCEEDED: 'rate_limited',
    UNABLE_TO_LOCK_ROW: 'retry',
    SERVER_UNAVAILABLE: 'retry',
    REQUEST_RUNNING_TOO_LONG: 'retry',
    QUERY_TIMEOUT: 'retry',
  },
  hints: {
    credential: 'give the integration user access to the objects and fields (wa-crm-sync scopes lists them)',
    'credential:INVALID_SESSION_ID': "check the connected app's credentials in connectors.salesforce",
    'credential:INVALID_AUTH_HEADER': "check the connected app's credentials in connectors.salesforce",
    'credential:401': "check the connected app's credentials in connectors.salesforce",
  },
};

/** Turns a jsforce error into our typed error by Salesforce's error code. */
export function classifySalesforceError(error: unknown, action: string): SyncError {
  if (error instanceof SyncError) return error;
  const failure = (error ?? {}) as SalesforceFailure;
  const code = failure.errorCode ?? '';
  const message = failure.message ?? String(error);
  if (!code) return new TransportError(`salesforce: ${action} failed: ${message}`, { cause: error });
  const httpStatus = /^ERROR_HTTP_(\d{3})$/.exec(code)?.[1];
  const status = httpStatus === undefined ? undefined : Number(httpStatus);
  const base = { code, ...(status === undefined ? {} : { status }) };
  const verdict = failureVerdict(SALESFORCE_ERRORS, { ...base, detail: message });
  const detail = verdict === 'credential' && (code === 'INVALID_SESSION_ID' || code === 'INVALID_AUTH_HEADER') ? `${action}: session refused (${code}: ${message})` : `${action}: ${code}: ${message}`;
  // No Retry-After from Salesforce: the daily allowance frees up slowly, concurrency quickly.
  const retryAfterMs = code === 'REQUEST_LIMIT_EXCEEDED' ? (/total ?requests/i.test(message) ? 15 * 60_000 : 30_000) : undefined;
  // An unknown code without a status is a request Salesforce will not take as it is (the table's default).
  return classifyVendorFailure(SALESFORCE_ERRORS, { ...base, detail, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) });
}

function base64Url(input: string | Buffer): string {
  return Buffer.from(input).toString('base64url');
}

/**
 * How long a JWT bearer assertion is valid. Salesforce wants "the expiration time of the assertion
 * within 3 minutes": https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_jwt_flow.htm
 * Two minutes leaves room for a clock running a little ahead of Salesforce's.
 */
export const JWT_ASSERTION_LIFETIME_S = 120;

/** A signed JWT for the OAuth 2.0 JWT bearer flow (RS256, valid for JWT_ASSERTION_LIFETIME_S). */
export function jwtAssertion(jwt: NonNullable<SalesforceSettings['jwt']>, now = Date.now()): string {
  const header = base64Url(JSON.stringify({ alg: 'RS256', typ: 'JWT' }));
  const claims = base64Url(JSON.stringify({ iss: jwt.clientId, sub: jwt.username, aud: jwt.audience, exp: Math.floor(now / 1000) + JWT_ASSERTION_LIFETIME_S }));
  const signature = createSign('RSA-SHA256').update(`${header}.${claims}`).sign(jwt.privateKey.replace(/\\n/g, '\n'));
  return `${header}.${claims}.${base64Url(signature)}`;
}

export class SalesforceApi {
  #connection: Connection | undefined;
  readonly #settings: SalesforceSettings;
  #hasSession: boolean;
  /**
   * Why the last session refresh inside jsforce failed: jsforce hands our typed error on as a plain
   * one, which would read as a transport failure (retried forever) instead of a credential problem.
   */
  #refreshFailure: SyncError | undefined;

  constructor(settings: SalesforceSettings) {
    this.#settings = settings;
    this.#hasSession = settings.accessToken !== undefined;
  }

  /** The jsforce connection, made on first use (jsforce is loaded then). */
  async #connected(): Promise<Connection> {
    if (this.#connection) return this.#connection;
    const jsforce = await loadJsforce();
    const settings = this.#settings;
    const refreshable = settings.clientCredentials !== undefined || settings.jwt !== undefined;
    this.#connection ??= new jsforce.Connection({
      instanceUrl: settings.instanceUrl!.replace(/\/$/, ''),
      version: settings.apiVersion,
      ...(settings.accessToken ? { accessToken: settings.accessToken } : {}),
      // jsforce calls this on INVALID_SESSION_ID and repeats the request once with the new session.
      ...(refreshable
        ? {
            refreshFn: (_conn, callback) => {
              this.#requestToken().then(
                (token) => {
                  this.#refreshFailure = undefined;
                  callback(null, token.access_token, token as never);
                },
                (error: unknown) => {
                  this.#refreshFailure = error instanceof SyncError ? error : undefined;
                  callback(error as Error);
                },
              );
            },
          }
        : {}),
    });
    return this.#connection;
  }

  /** POST /services/oauth2/token with the configured flow. */
  async #requestToken(): Promise<{ access_token: string; instance_url?: string }> {
    const params = new URLSearchParams();
    const { clientCredentials, jwt } = this.#settings;
    if (clientCredentials) {
      params.set('grant_type', 'client_credentials');
      params.set('client_id', clientCredentials.clientId);
      params.set('client_secret', clientCredentials.clientSecret);
    } else if (jwt) {
      params.set('grant_type', 'urn:ietf:params:oauth:grant-type:jwt-bearer');
      params.set('assertion', jwtAssertion(jwt));
    } else {
      throw new CredentialError('salesforce', 'the access token expired and no refreshable flow is configured; set clientCredentials or jwt in connectors.salesforce');
    }
    const url = `${this.#settings.instanceUrl!.replace(/\/$/, '')}/services/oauth2/token`;
    let response: Response;
    try {
      response = await fetch(url, { method: 'POST', body: params, signal: AbortSignal.timeout(this.#settings.timeoutMs) });
    } catch (error) {
      throw new TransportError(`salesforce: token request failed: ${(error as Error).message}`, { cause: error });
    }
    // An answer that is not the OAuth JSON (an HTML error page) reads as one without a token.
    const parsed = tokenAnswer.safeParse(await response.json().catch(() => ({})));
    const body = parsed.success ? parsed.data : {};
    if (!response.ok || !body.access_token) {
      if (response.status >= 500) throw new VendorError('salesforce', `token request failed (HTTP ${response.status})`, { status: response.status, retryable: true });
      throw new CredentialError('salesforce', `token request refused: ${body.error ?? response.status}${body.error_description ? ` (${body.error_description})` : ''}; check the connected app and connectors.salesforce credentials`);
    }
    return { access_token: body.access_token, ...(body.instance_url ? { instance_url: body.instance_url } : {}) };
  }

  async #ensureSession(): Promise<void> {
    if (this.#hasSession) return;
    const token = await this.#requestToken();
    (await this.#connected()).accessToken = token.access_token;
    this.#hasSession = true;
  }

  /**
   * The call's answer, or a TransportError after timeoutMs: jsforce takes no timeout per call (it
   * waits up to 30 minutes), and a call that hangs would hold its operation that long. The
   * request is not aborted, so Salesforce may still carry it out: callers of writes treat this
   * as a lost answer (core/lost-answer.ts). Nor does jsforce let go of it: on INVALID_SESSION_ID
   * it renews the session and sends the request again, as often as it is refused, and a request
   * made during a renewal waits for it; so the write can reach Salesforce well after our timeout,
   * and the error says when the call is really over (stillSending).
   */
  #answerWithin<T>(answer: Promise<T>, action: string): Promise<T> {
    const timeoutMs = this.#settings.timeoutMs;
    // Whatever the abandoned call ends with later is nobody's to handle.
    const over = answer.then(
      () => undefined,
      () => undefined,
    );
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new TransportError(`salesforce: ${action}: no answer within ${timeoutMs} ms`, { stillSending: over })), timeoutMs);
    });
    return Promise.race([answer, timeout]).finally(() => clearTimeout(timer));
  }

  /**
   * One jsforce call: stops short of the daily allowance's reserve, waits for the shared rate
   * budget, reports the allowance Salesforce announced in Sforce-Limit-Info, and checks the
   * answer against `answer` (responses.ts): one of another shape is a VendorError saying where.
   */
  async call<Answer extends z.ZodType>(context: ExecutionContext, action: string, answer: Answer, run: (connection: Connection) => Promise<unknown>): Promise<z.output<Answer>> {
    return checkedAnswer('salesforce', action, answer, await this.#send(context, action, run));
  }

  async #send(context: ExecutionContext, action: string, run: (connection: Connection) => Promise<unknown>): Promise<unknown> {
    await this.#ensureSession();
    const connection = await this.#connected();
    const usage = (connection.limitInfo as { apiUsage?: { used: number; limit: number } }).apiUsage;
    if (usage) {
      const remaining = usage.limit - usage.used;
      if (remaining <= usage.limit * this.#settings.dailyReserveShare) {
        throw new VendorError(
          'salesforce',
          `${action}: the org's daily API allowance is down to its reserve (${remaining} of ${usage.limit} left, ${Math.round(this.#settings.dailyReserveShare * 100)}% kept for the org); waiting`,
          { retryable: true, retryAfterMs: 15 * 60_000, code: 'DAILY_RESERVE' },
        );
      }
    }
    try {
      this.#refreshFailure = undefined;
      return await vendorCall(context, { classify: (error) => this.#refreshFailure ?? classifySalesforceError(error, action) }, () => this.#answerWithin(run(connection), action));
    } finally {
      const after = (connection.limitInfo as { apiUsage?: { used: number; limit: number } }).apiUsage;
      if (after) context.reportQuota(after.limit - after.used, after.limit);
    }
  }
}
