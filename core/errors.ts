// Typed errors. The outbox decides what to do with a failure from these fields
// (retryable, retryAfterMs, blocksConnector), never from message text.

export interface SyncErrorOptions {
  /** HTTP status from the vendor or for our own API answer, when there is one. */
  readonly status?: number;
  readonly cause?: unknown;
  /** Whether running the same operation again later may succeed. */
  readonly retryable?: boolean;
  /** Vendor-requested wait before the next attempt (from `Retry-After` or similar). */
  readonly retryAfterMs?: number;
  /** Stable machine-readable code, e.g. the vendor's error code. */
  readonly code?: string;
}

export class SyncError extends Error {
  override readonly name: string = 'SyncError';
  readonly status: number | undefined;
  readonly retryable: boolean;
  readonly retryAfterMs: number | undefined;
  readonly code: string | undefined;

  constructor(message: string, options: SyncErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.status = options.status;
    this.retryable = options.retryable ?? false;
    this.retryAfterMs = options.retryAfterMs;
    this.code = options.code;
  }
}

/** The configuration file (or one of its values) is wrong; the message names the key and the fix. */
export class ConfigError extends SyncError {
  override readonly name = 'ConfigError';
  constructor(
    message: string,
    readonly issues: readonly string[] = [message],
  ) {
    super(message, { retryable: false });
  }
}

/** The service could not take its port: another process holds it, or the address is not this machine's. */
export class ListenError extends SyncError {
  override readonly name = 'ListenError';
  constructor(host: string, port: number, cause: unknown) {
    const code = (cause as NodeJS.ErrnoException | undefined)?.code;
    const why =
      code === 'EADDRINUSE'
        ? 'the port is in use by another process (stop it, or choose another with server.port or --port)'
        : code === 'EACCES'
          ? 'permission denied (ports below 1024 need privileges: use a higher port behind the reverse proxy)'
          : code === 'EADDRNOTAVAIL'
            ? 'the address is not one of this machine\'s (check server.host)'
            : errorMessage(cause);
    super(`cannot listen on ${host}:${port}: ${why}`, { cause, code });
  }
}

/** A vendor answered with an error. Retryable for 429, 5xx, timeouts and lock contention. */
export class VendorError extends SyncError {
  override readonly name = 'VendorError';
  constructor(
    readonly vendor: string,
    message: string,
    options: SyncErrorOptions = {},
  ) {
    super(`${vendor}: ${message}`, options);
  }
}

/** The vendor refused our credentials or their permissions: the connector stops until an admin acts. */
export class CredentialError extends SyncError {
  override readonly name = 'CredentialError';
  constructor(
    readonly vendor: string,
    message: string,
    options: SyncErrorOptions = {},
  ) {
    super(`${vendor}: ${message}`, { ...options, retryable: false });
  }
}

/**
 * An operation of a run (see ConnectorMetadata.maxRun) that was not sent because an earlier one
 * of its key failed: it goes back in line behind that one, without using up an attempt.
 */
export class NotAttemptedError extends SyncError {
  override readonly name = 'NotAttemptedError';
  constructor(message = 'not sent: an earlier operation of the same ordering key failed first') {
    super(message, { retryable: true });
  }
}

/** Input we received (a webhook body, a vendor response) does not have the shape we expect. */
export class InvalidPayloadError extends SyncError {
  override readonly name = 'InvalidPayloadError';
  constructor(message: string, options: SyncErrorOptions = {}) {
    super(message, { ...options, retryable: false });
  }
}

/** Network-level failure (reset, timeout, DNS): the request may or may not have reached the vendor. */
export class TransportError extends SyncError {
  override readonly name = 'TransportError';
  /**
   * A request we stopped waiting for that the client goes on with (an SDK that repeats it after
   * renewing a session, or holds it until a renewal ends): it settles once the client let go of
   * it, and only then has the vendor had its last chance to receive it. Absent when the request
   * was aborted or failed on its own.
   */
  readonly stillSending: Promise<unknown> | undefined;
  constructor(message: string, options: SyncErrorOptions & { readonly stillSending?: Promise<unknown> } = {}) {
    const { stillSending, ...rest } = options;
    super(message, { ...rest, retryable: true });
    this.stillSending = stillSending;
  }
}

/**
 * The operation cannot be decided yet: it waits for evidence (e.g. a vendor's webhook saying
 * whether an earlier attempt arrived) until `untilMs`. It is put back without using an attempt
 * and without pausing the connector's other work.
 */
export class DeferredError extends SyncError {
  override readonly name = 'DeferredError';
  constructor(
    message: string,
    readonly untilMs: number,
  ) {
    super(message, { retryable: true });
  }
}

/** Reads `Retry-After` (seconds or an HTTP date) into milliseconds. */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (value === null || value === undefined || value.trim() === '') return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, Math.round(seconds * 1000));
  const date = Date.parse(value);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

/** What a vendor's failed answer means for the operation that got it. */
export type FailureVerdict = 'credential' | 'rate_limited' | 'retry' | 'rejected';

/** One failed answer, as a connector reads it from its vendor. */
export interface VendorFailure {
  readonly status?: number;
  /** The vendor's error code or category, when its answer names one. */
  readonly code?: string;
  /** What went wrong, already phrased by the connector (action, status, the vendor's words). */
  readonly detail: string;
  /** The wait the vendor asked for (Retry-After, a rate-limit policy). */
  readonly retryAfterMs?: number;
}

/**
 * One vendor's reading of its failures, where it departs from the common rule: 401 is a credential
 * refused, 429 a rate limit, 408 and 5xx a passing fault to retry, any other 4xx a request this
 * vendor will not take. The table lives in the connector's folder, with a link to the vendor's
 * page beside each departure; this one classifier applies it, so the outbox sees the same kind of
 * error for the same kind of answer from every vendor.
 */
export interface VendorErrorTable {
  readonly vendor: string;
  /** Statuses with a meaning of their own at this vendor (Zendesk's 409 is a concurrent update to retry). */
  readonly statuses?: Readonly<Record<number, FailureVerdict>>;
  /** Error codes that decide whatever the status (Salesforce speaks in codes; HubSpot's MISSING_SCOPES 403). */
  readonly codes?: Readonly<Record<string, FailureVerdict>>;
  /**
   * What the admin should do, appended to the message, keyed by verdict: `credential`, or more
   * precisely `credential:401` (a status) or `credential:INVALID_SESSION_ID` (a code), which win.
   */
  readonly hints?: Readonly<Record<string, string>>;
  /** The wait after a rate limit that names none. */
  readonly rateLimitWaitMs?: number;
}

/** The common rule, for a status alone. */
function commonVerdict(status: number): FailureVerdict {
  if (status === 401) return 'credential';
  if (status === 429) return 'rate_limited';
  if (status === 408 || status >= 500) return 'retry';
  return 'rejected';
}

/** The verdict on a failure: its code in the table, else its status in the table, else the common rule. */
export function failureVerdict(table: VendorErrorTable, failure: VendorFailure): FailureVerdict {
  const byCode = failure.code === undefined ? undefined : table.codes?.[failure.code];
  if (byCode) return byCode;
  if (failure.status === undefined) return 'rejected';
  return table.statuses?.[failure.status] ?? commonVerdict(failure.status);
}

/** A failed answer as the typed error a connector throws. */
export function classifyVendorFailure(table: VendorErrorTable, failure: VendorFailure): SyncError {
  const verdict = failureVerdict(table, failure);
  const hints = table.hints ?? {};
  const hint = (failure.code === undefined ? undefined : hints[`${verdict}:${failure.code}`]) ?? (failure.status === undefined ? undefined : hints[`${verdict}:${failure.status}`]) ?? hints[verdict];
  const message = hint ? `${failure.detail}; ${hint}` : failure.detail;
  const options = { ...(failure.status === undefined ? {} : { status: failure.status }), ...(failure.code === undefined ? {} : { code: failure.code }) };
  switch (verdict) {
    case 'credential':
      return new CredentialError(table.vendor, message, options);
    case 'rate_limited':
      return new VendorError(table.vendor, message, { ...options, retryable: true, retryAfterMs: failure.retryAfterMs ?? table.rateLimitWaitMs });
    case 'retry':
      return new VendorError(table.vendor, message, { ...options, retryable: true, retryAfterMs: failure.retryAfterMs });
    case 'rejected':
      return new VendorError(table.vendor, message, { ...options, retryable: false });
  }
}

const COMMON_LABELS: Record<FailureVerdict, string> = { credential: 'credentials rejected', rate_limited: 'rate limited', retry: 'server error', rejected: 'request rejected' };

/** Classifies an HTTP status by the common rule alone, for a vendor without a table of its own. */
export function errorFromHttpStatus(
  vendor: string,
  status: number,
  detail: string,
  retryAfterHeader?: string | null,
): SyncError {
  const retryAfterMs = parseRetryAfter(retryAfterHeader);
  const label = COMMON_LABELS[commonVerdict(status)];
  return classifyVendorFailure({ vendor }, { status, detail: `${label} (HTTP ${status}): ${detail}`, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) });
}

export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

/** Any thrown value as a SyncError. An unexpected error may be a passing fault or a bug: retry it, keeping the message for the operator. */
export function asSyncError(error: unknown): SyncError {
  if (error instanceof SyncError) return error;
  return new SyncError(errorMessage(error), { retryable: true, cause: error });
}
