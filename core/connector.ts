// The connector contract. Core knows this interface, never a vendor: each folder under
// connectors/ implements it and registers a factory in connectors/registry.ts.
import type { WorkflowRecipe } from './outbound/recipe.js';
import type { z } from 'zod';
import type { SyncError } from './errors.js';
import type { Logger } from './logger.js';
import type { DeliveryParser, JsonValue, ModelChange, OutboundReply, StoredMedia } from './model/types.js';
import type { OperationDraft, OutboxOperation } from './outbox/queries.js';
import { BACKGROUND_KEY_PREFIX, contactOrderingKey } from './outbox/key-queue.js';

export { contactOrderingKey };

/** A vendor rate limit: at most `requests` calls in any `intervalMs` window. */
export interface RateLimit {
  readonly requests: number;
  readonly intervalMs: number;
}

export interface DispatchTuning {
  /** Batches of this connector executed at once by one instance. */
  readonly concurrency: number;
  readonly rateLimit: RateLimit | null;
  /** Lower limits of some endpoints (e.g. HubSpot search), on top of `rateLimit`; a request names its bucket. */
  readonly bucketRateLimits?: Readonly<Record<string, RateLimit>>;
  /** Requests allowed per day (a vendor's daily allowance), counted with `rateLimit`. */
  readonly dailyLimit?: number;
  /**
   * The IANA time zone whose midnight starts the vendor's day for `dailyLimit` (a vendor may reset
   * it at the account's own midnight); UTC when absent. A connector may learn it at setup.
   */
  readonly dailyLimitTimeZone?: string;
  readonly maxAttempts: number;
  /** First retry waits up to this long; each further one doubles it (full jitter). */
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
}

/** What a connector is, as data: shown by `scopes`, used by the dispatcher. */
export interface ConnectorMetadata {
  readonly id: string;
  readonly displayName: string;
  /** Permission scopes each feature needs. The features in use decide what is required. */
  readonly featureScopes: Readonly<Record<string, readonly string[]>>;
  /** How an admin grants a missing scope, shown with every missing one. */
  readonly grantScopesHint: string;
  /** Largest batch per operation kind; kinds not listed run one at a time. */
  readonly maxBatch: Readonly<Record<string, number>>;
  /**
   * Largest run of one ordering key's consecutive operations (any kinds, in queue order) that
   * `execute` takes in one call and writes in that order, e.g. sequential posts or one vendor
   * call carrying several. A run drains one key's backlog without a claim between its
   * operations. When one of a run fails, the ones after it must come back as NotAttemptedError
   * (or be left unsent and reported so). A connector that writes by kind cuts the run with
   * `writeInSegments` (core/outbox/runs.ts): one call per consecutive same-kind segment, and
   * nothing after a segment that failed. Absent or 1: heads only.
   */
  readonly maxRun?: number;
  /**
   * `execute` writes runs with `writeInSegments`, so runs of several keys may come in one call:
   * the dispatcher hands all runs of a claim (per lane) together, and their segments of one kind
   * share vendor calls instead of one call per key.
   */
  readonly runsInSegments?: boolean;
  readonly defaultTuning: DispatchTuning;
  readonly capabilities?: ConnectorCapabilities;
}

/** What a connector does beyond writing to its vendor, as data the service reads. */
export interface ConnectorCapabilities {
  /**
   * Its agents answer customers through WhatsApp (a helpdesk): while it is enabled the service
   * needs whatsapp.accessToken to send those replies with.
   */
  readonly sendsReplies?: boolean;
}

export type OperationOutcome =
  | {
      readonly ok: true;
      /** Stored on the operation (e.g. the vendor's record id). */
      readonly result?: JsonValue;
      /** What this operation changed in our own model (e.g. media now stored); applied and planned in the same transaction. */
      readonly effects?: readonly OperationEffect[];
    }
  | { readonly ok: false; readonly error: SyncError };

/** A change to our own model that an operation brought about. */
export type OperationEffect =
  | { readonly type: 'media.stored'; readonly media: StoredMedia }
  /** A helpdesk connector found an agent reply for this thread. */
  | { readonly type: 'reply.requested'; readonly threadId: string; readonly reply: OutboundReply }
  /** A message went out on WhatsApp: recorded as an outbound message of the thread. */
  | { readonly type: 'message.sent'; readonly threadId: string; readonly messageId: string; readonly text: string; readonly origin: string; readonly sentAt: number }
  | { readonly type: 'reply.undeliverable'; readonly threadId: string; readonly reply: OutboundReply; readonly reason: string }
  | { readonly type: 'reply.resent'; readonly threadId: string; readonly reply: OutboundReply; readonly reason: string };

export interface ThreadMessage {
  readonly id: string;
  readonly direction: 'inbound' | 'outbound';
  readonly text: string;
  readonly sentAt: number;
  readonly arrivalSeq: number;
  /** See Message.origin: set on replies this service sent for a connector. */
  readonly origin: string | null;
  /** See Message.warnings. */
  readonly warnings: readonly string[];
  /** See Message.history: imported from the app's past chats. */
  readonly history?: boolean;
}

export interface RateSlot {
  settle(): Promise<void>;
}

/** What the store offers a connector while it executes: vendor ids and the shared rate budget. */
export interface ExecutionContext {
  readonly log: Logger;
  /**
   * Waits for room in the vendor's rate budget (shared by all instances) before one request;
   * `bucket` adds an endpoint's own limit (or several). A bucket named `name:key` counts per key
   * against the limit declared for `name` (e.g. Zendesk's updates per ticket). Call the returned `settle` when the answer arrives,
   * so the slot counts from then (the vendor counted it on arrival, not when we took it).
   */
  throttle(weight?: number, bucket?: string | readonly string[]): Promise<RateSlot>;
  /** Counts one vendor answer by HTTP status (0 when none came) for /metrics. */
  recordVendorCall(status: number): void;
  /** A thread's messages in order (timestamp, then arrival), for transcripts. */
  threadMessages(threadId: string): Promise<ThreadMessage[]>;
  /** When the contact last wrote to us (any thread): WhatsApp's customer service window runs 24 h from it. */
  lastInboundAt(contactId: string): Promise<number | undefined>;
  /** Reports the vendor's remaining allowance (e.g. Salesforce's daily API requests) for /metrics and `status`. */
  reportQuota(remaining: number, max: number): void;
  getRef(kind: string, localId: string): Promise<string | undefined>;
  setRef(kind: string, localId: string, externalId: string): Promise<void>;
  /**
   * Several refs in one store transaction: a batch of 100 history messages notes 100 writes
   * before its call and clears them after, and one write each took the store's write turn 200
   * times per call on the thread that also answers webhooks and runs live work.
   */
  setRefs(refs: ReadonlyArray<{ readonly kind: string; readonly localId: string; readonly externalId: string }>): Promise<void>;
  readonly signal: AbortSignal;
}

/**
 * The ref under which the WhatsApp connector keeps each wamid it sent (local id: the reply part),
 * written as soon as the Cloud API answers; the engine reads it to tell our messages from a stranger's.
 */
export const SENT_MESSAGE_REF = { connector: 'whatsapp', kind: 'sent' } as const;

/** The reply a sent message was part of: its origin and the origin's id for it (OutboundReply.sourceId). */
export interface SentReplyPart {
  readonly origin: string;
  readonly sourceId: string;
  readonly index: number;
}

/**
 * The SENT_MESSAGE_REF local id of one part of a reply. It is the only record tying a wamid to
 * the reply it sent, so a status webhook can be told to the reply's origin (an agent's message in
 * a helpdesk) even before the sent message itself is recorded.
 */
export function sentPartKey(part: SentReplyPart): string {
  return `${part.origin}:${part.sourceId}:${part.index}`;
}

/** The reply part a SENT_MESSAGE_REF local id names. Origins are connector ids (no colon); a source id may hold colons. */
export function parseSentPartKey(key: string): SentReplyPart | undefined {
  const first = key.indexOf(':');
  const last = key.lastIndexOf(':');
  if (first <= 0 || last <= first + 1 || !/^\d+$/.test(key.slice(last + 1))) return undefined;
  return { origin: key.slice(0, first), sourceId: key.slice(first + 1, last), index: Number(key.slice(last + 1)) };
}

/**
 * The ref under which the WhatsApp connector notes each send before it goes out (local id: the
 * callback data the message carries as biz_opaque_callback_data). Should the answer be lost, a
 * status echoing that callback data tells the engine the message did arrive: it keeps the wamid
 * under SENT_MESSAGE_REF for the part and wakes the waiting operation, so nothing is sent twice.
 */
export const PENDING_SEND_REF = { connector: 'whatsapp', kind: 'sending' } as const;

/** What a PENDING_SEND_REF holds (as JSON in the ref's external id). */
export interface PendingSend {
  /** The SENT_MESSAGE_REF local id of the part. */
  readonly part: string;
  /** The outbox operation sending it. */
  readonly operation: string;
  /** When the send whose outcome is unknown went out; 0 when no send is in doubt (WhatsApp answered). */
  readonly sentAt: number;
}

export function encodePendingSend(pending: PendingSend): string {
  return JSON.stringify(pending);
}

export function decodePendingSend(value: string | undefined): PendingSend | undefined {
  if (value === undefined) return undefined;
  try {
    const parsed = JSON.parse(value) as Partial<PendingSend>;
    if (typeof parsed.part === 'string' && typeof parsed.operation === 'string' && typeof parsed.sentAt === 'number') return parsed as PendingSend;
  } catch {
    // not ours: treated as absent
  }
  return undefined;
}

/** Credentials' granted scopes, or `unknown` when the vendor offers no way to read them. */
export type GrantedScopes = readonly string[] | 'unknown';

export interface Connector {
  readonly metadata: ConnectorMetadata;
  /** Features switched on by this connector's config; they decide the required scopes. */
  readonly features: readonly string[];
  readonly tuning: DispatchTuning;
  /** Pure: the operations a model change needs at this vendor (none is fine). */
  plan(change: ModelChange): OperationDraft[];
  /**
   * Runs a batch of operations and returns one outcome per operation, in the same order. A batch
   * is either operations of one kind (at most `maxBatch[kind]`, each the head of its ordering
   * key) or, with `maxRun`, a run of one key's consecutive operations in queue order.
   */
  execute(operations: readonly OutboxOperation[], context: ExecutionContext): Promise<OperationOutcome[]>;
  /**
   * Called before re-running an operation that may already have reached the vendor (a crash
   * or timeout after sending): looks the record up by its external key. An outcome means the
   * work is already done; undefined means run it.
   */
  reconcile(operation: OutboxOperation, context: ExecutionContext): Promise<OperationOutcome | undefined>;
  /** Reads which scopes the credentials hold (a vendor call). */
  grantedScopes(context: ExecutionContext): Promise<GrantedScopes>;
  /** Scopes required by this configuration, when they depend on more than the features (e.g. named fields). */
  requiredScopes?(): string[];
  /**
   * Prepares the vendor account (custom properties, webhooks); idempotent. Runs at start once the
   * scopes are there, and from `wa-crm-sync setup <id>`. Returns what it did, in words.
   */
  setup?(context: ExecutionContext): Promise<string[]>;
  /**
   * How a person opens a vendor record this connector keeps as a ref (`getRef` kind and the
   * vendor's id), for the console; undefined for refs that are bookkeeping (a cursor, a time
   * stamp), not records. Without it the console lists every ref by kind and id, with no link.
   */
  describeRecord?(kind: string, externalId: string): VendorRecordLink | undefined;
  close?(): Promise<void>;
}

/** A vendor record as the console shows it: what it is, and its page in the vendor's app when known. */
export interface VendorRecordLink {
  readonly label: string;
  readonly url?: string;
}

/**
 * Where a connector's setup keeps the signing secret it read from the vendor when it created the
 * webhook (an external ref of the connector, read when the config holds no secret).
 */
export const WEBHOOK_SECRET_REF = { kind: 'webhook', localId: 'signing-secret' } as const;

/** Request headers as the inbound route reads them: by lower-case name, undefined when absent. */
export type InboundHeaders = (name: string) => string | undefined;

/** Why an inbound call was refused: counted by `reason` on /metrics, `log` told to the admin, `answer` to the caller. */
export interface InboundRefusal {
  readonly ok: false;
  /** `bad_signature`: the signature does not match; `stale`: its signed time is missing or too far from now. */
  readonly reason: 'bad_signature' | 'stale';
  readonly log: string;
  readonly answer: string;
}

/**
 * A call whose signature holds. When a captured call could be sent again and pass (a signed
 * timestamp inside a tolerance), `replay` names it: a second call with the same key before
 * `until` is a replay, answered as a duplicate and not stored again.
 */
export interface InboundAccepted {
  readonly ok: true;
  readonly replay?: { readonly key: string; readonly until: number };
}

/**
 * A vendor calling us (a helpdesk's agent replies): the service mounts `POST /webhooks/<id>` for
 * every connector that declares one, verifies each call over its raw body, stores it, and hands
 * the stored body to `parse` (in the processing thread) like a WhatsApp delivery.
 */
export interface InboundWebhook<Settings = unknown> {
  /** The settings key holding the signing secret; without it, the secret setup kept under WEBHOOK_SECRET_REF. */
  readonly secretSetting: string;
  /** What an admin does when no secret is known (shown in the log and the security self-audit). */
  readonly missingSecretHint: string;
  /**
   * Whether these settings take calls at all, for a connector whose webhook belongs to an optional
   * mode (off: the route answers 404 and no secret is asked for). Absent: always, while enabled.
   */
  accepts?(settings: Settings): boolean;
  /** Checks the call's signature (and freshness, when the vendor signs a time), in constant time. Pure. */
  verify(raw: Buffer, headers: InboundHeaders, secret: string, now: number, settings: Settings): InboundAccepted | InboundRefusal;
  /** Turns a stored call into events (a record changed). Pure; what it cannot read is a problem, kept and flagged. */
  readonly parse: DeliveryParser;
}

/** What a connector module exports; the registry maps ids to these. */
export interface ConnectorFactory<Settings = unknown> {
  readonly metadata: ConnectorMetadata;
  /** zod schema of `connectors.<id>` (without `enabled`), next to the connector. */
  readonly settingsSchema: z.ZodType<Settings>;
  /** Present when the vendor calls us (see InboundWebhook). */
  readonly inbound?: InboundWebhook<Settings>;
  /** Present when the vendor's automation can send WhatsApp messages through the service (see WorkflowRecipe). */
  readonly recipe?: WorkflowRecipe<Settings>;
  /** Builds the connector; makes no vendor call. */
  create(settings: Settings, dependencies: ConnectorDependencies): Connector;
}

export interface ConnectorDependencies {
  readonly log: Logger;
  /** Where fetched media files live. */
  readonly mediaDir: string;
  /** How long a customer service window write waits for the rest of a burst (sync.windowWriteSettleSeconds); DEFAULT_WINDOW_WRITE_SETTLE_MS when absent. */
  readonly windowWriteSettleMs?: number;
}

/** Required, granted, missing and over-privileged scopes of one connector. */
export interface ScopeReport {
  readonly connector: string;
  readonly required: readonly string[];
  readonly granted: GrantedScopes;
  readonly missing: readonly string[];
  readonly extra: readonly string[];
}

export function requiredScopes(metadata: ConnectorMetadata, features: readonly string[]): string[] {
  const scopes = new Set<string>();
  for (const feature of features) for (const scope of metadata.featureScopes[feature] ?? []) scopes.add(scope);
  return [...scopes].sort();
}

export function buildScopeReport(connector: Connector, granted: GrantedScopes): ScopeReport {
  const required = [...new Set([...requiredScopes(connector.metadata, connector.features), ...(connector.requiredScopes?.() ?? [])])].sort();
  if (granted === 'unknown') return { connector: connector.metadata.id, required, granted, missing: [], extra: [] };
  const grantedSet = new Set(granted);
  const requiredSet = new Set(required);
  return {
    connector: connector.metadata.id,
    required,
    granted: [...granted].sort(),
    missing: required.filter((s) => !grantedSet.has(s)),
    extra: [...granted].filter((s) => !requiredSet.has(s)).sort(),
  };
}

/** The connector's defaults with the admin's overrides from its config section applied. */
export function resolveTuning(
  defaults: DispatchTuning,
  overrides: { concurrency?: number | undefined; requests?: number | undefined; intervalMs?: number | undefined; maxAttempts?: number | undefined; backoffBaseMs?: number | undefined; backoffMaxMs?: number | undefined } | undefined,
): DispatchTuning {
  const rateLimit =
    overrides?.requests !== undefined || overrides?.intervalMs !== undefined
      ? { requests: overrides.requests ?? defaults.rateLimit?.requests ?? 10, intervalMs: overrides.intervalMs ?? defaults.rateLimit?.intervalMs ?? 1000 }
      : defaults.rateLimit;
  return {
    concurrency: overrides?.concurrency ?? defaults.concurrency,
    rateLimit,
    ...(defaults.bucketRateLimits ? { bucketRateLimits: defaults.bucketRateLimits } : {}),
    ...(defaults.dailyLimit ? { dailyLimit: defaults.dailyLimit } : {}),
    ...(defaults.dailyLimitTimeZone ? { dailyLimitTimeZone: defaults.dailyLimitTimeZone } : {}),
    maxAttempts: overrides?.maxAttempts ?? defaults.maxAttempts,
    backoffBaseMs: overrides?.backoffBaseMs ?? defaults.backoffBaseMs,
    backoffMaxMs: overrides?.backoffMaxMs ?? defaults.backoffMaxMs,
  };
}

/**
 * Where a connector queues the write of a recorded message (or its media): live messages on the
 * contact's key, in order with everything else of that person; messages of an imported chat
 * history on a background key, claimed after live work. A connector writing one record per
 * message (`per: 'message'`) gets a key per message, batched freely (the CRM's timeline orders
 * them by their original time). A connector rewriting one record per thread (`per: 'thread'`: a
 * transcript) gets one key per thread, so two batches never rewrite that record at once: each
 * saw the other's write in flight as a lost answer and waited out the whole lost-answer window
 * (600 s in the history bench). A history placeholder that got its media later is written again
 * under a key of its own.
 */
export function messagePlacement(
  change: Extract<ModelChange, { type: 'message.recorded' | 'media.stored' }>,
  options: { readonly per: 'message' | 'thread' } = { per: 'message' },
): { key: string; orderingKey: string; history: boolean } {
  const { message } = change;
  if (!message.history) return { key: message.id, orderingKey: contactOrderingKey(change.contact.id), history: false };
  const refilled = change.type === 'message.recorded' && change.refilled === true;
  const background = options.per === 'thread' ? `thread:${message.threadId}` : `message:${message.id}`;
  return { key: refilled ? `${message.id}:media` : message.id, orderingKey: `${BACKGROUND_KEY_PREFIX}${background}`, history: true };
}
