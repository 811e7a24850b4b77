// Table types for Kysely. The same tables exist on SQLite and PostgreSQL (see migrations.ts).
// Times are integer milliseconds since the epoch; JSON is stored as text.
import type { Generated, Insertable, Selectable } from 'kysely';

export type DeliveryState = 'pending' | 'processed' | 'flagged';

export interface WebhookDeliveriesTable {
  id: Generated<number>;
  source: string;
  received_at: number;
  body: string;
  state: DeliveryState;
  /** What could not be understood (JSON array of strings), for flagged deliveries. */
  problems: string | null;
  processed_at: number | null;
  /** Events of a delivery processed in slices applied so far (0 until its first slice commits). */
  events_done: Generated<number>;
}

export interface ContactsTable {
  id: string;
  /** The stable key every CRM upserts on (see Contact.crmKey). */
  crm_key: string;
  /** The current phone number in E.164; null while WhatsApp withholds it. */
  wa_id: string | null;
  bsuid: string | null;
  parent_bsuid: string | null;
  username: string | null;
  /** An older Meta user id (not a BSUID). */
  user_id: string | null;
  profile_name: string | null;
  created_at: number;
  updated_at: number;
}

/** Every identifier a contact has been seen under: `wa:+E164` (each number variant), `bsuid:`, `parent:`, `user:`. */
export interface ContactIdentitiesTable {
  identity: string;
  contact_id: string;
}

export interface ThreadsTable {
  id: string;
  contact_id: string;
  business_number_id: string;
  started_at: number;
  last_message_at: number;
}

export interface MessagesTable {
  id: string;
  thread_id: string;
  contact_id: string;
  direction: string;
  type: string;
  original_type: string;
  text: string;
  media: string | null;
  sent_at: number;
  arrival_seq: number;
  status: string | null;
  status_at: number | null;
  reply_to_id: string | null;
  errors: string | null;
  raw: string;
  created_at: number;
  /** The connector a reply we sent came from; null otherwise (see Message.origin). */
  origin: string | null;
  /** JSON array of security findings (see Message.warnings); null when none. */
  warnings: string | null;
  /** 1: imported from the WhatsApp Business app's chat history (see HistoryMark), 0: live. */
  history: Generated<number>;
}

export interface MessageStatusesTable {
  message_id: string;
  status: string;
  at: number;
  recipient: string;
  known_message: number;
  errors: string | null;
  received_at: number;
}

export type MediaState = 'pending' | 'stored' | 'failed';

export interface MediaTable {
  message_id: string;
  media_id: string;
  mime_type: string;
  sha256: string | null;
  state: MediaState;
  path: string | null;
  size: number | null;
  error: string | null;
  updated_at: number;
}

/** `discarded`: a dead operation a person decided not to send (kept, with its last error, for the record). */
export type OperationState = 'pending' | 'in_flight' | 'done' | 'dead' | 'discarded';

export interface OutboxTable {
  id: Generated<number>;
  idempotency_key: string;
  connector: string;
  kind: string;
  ordering_key: string;
  payload: string;
  state: OperationState;
  /**
   * 1 while unfinished (pending or in flight), 0 once settled (done, dead, discarded): what
   * `outbox_ordering_open` is partial on. Enqueue and settlement write it, never a claim or a
   * release (see OPEN_OPERATIONS in core/outbox/key-queue.ts); a writer that leaves it out gets
   * it derived from `state` by the store (migration 0020's triggers).
   */
  open: Generated<0 | 1>;
  run_at: number;
  attempts: number;
  max_attempts: number;
  locked_by: string | null;
  lease_until: number | null;
  last_error: string | null;
  result: string | null;
  created_at: number;
  updated_at: number;
}

/**
 * One row per connector and ordering key with unfinished operations (see core/outbox/key-queue.ts):
 * the key's head, and when it may be claimed (null while its work is in flight).
 */
export interface OutboxKeysTable {
  connector: string;
  ordering_key: string;
  head_id: number;
  ready_at: number | null;
  /** 0: claimed first; 1: background work (ordering keys starting `background:`), claimed after every ready lane-0 key. */
  lane: Generated<number>;
}

/**
 * One chunk of a coexistence history sync, once (a redelivery changes nothing): progress per
 * phase. A declined sync is kept as phase -1, chunk -1, with its errors.
 */
export interface HistoryChunksTable {
  business_number_id: string;
  phase: number;
  chunk_order: number;
  /** The sync's overall progress (0-100) when this chunk came. */
  progress: number;
  threads: number;
  messages: number;
  errors: string | null;
  delivery_id: number;
  received_at: number;
}

/** Media bytes by hash, kept in a PostgreSQL store so every instance can read them (core/media-store.ts). */
export interface MediaBlobsTable {
  sha256: string;
  size: number;
  data_base64: string;
  created_at: number;
}

/** Vendor ids of our records (a contact's CRM id, a thread's ticket id), written after the first create. */
export interface ExternalRefsTable {
  connector: string;
  kind: string;
  local_id: string;
  external_id: string;
  updated_at: number;
}

/** One row per vendor request, so that several instances share one rate budget. */
export interface RateEventsTable {
  id: Generated<number>;
  connector: string;
  at: number;
  weight: number;
}

/** Small per-connector facts shared by instances: pause-until after a 429, admin pause. */
export interface ConnectorStateTable {
  connector: string;
  key: string;
  value: string;
  updated_at: number;
}

/** Queue depth and oldest age of one connector at one minute, for the console's charts (the outbox keeps no history of them). */
export interface QueueSamplesTable {
  connector: string;
  /** The minute, as ms since the epoch. */
  at: number;
  /** Pending and in-flight operations. */
  depth: number;
  oldest_created_at: number | null;
  /** Share of recent work that failed (see core/outbox/health.ts); null when there was none. */
  error_rate: number | null;
}

export interface AccountEventsTable {
  id: Generated<number>;
  field: string;
  account_id: string;
  at: number;
  raw: string;
  received_at: number;
}

export type AlertSeverity = 'critical' | 'warning' | 'info';

/** A security alert: repeats of the same kind and key are counted on one row. */
export interface AlertsTable {
  id: Generated<number>;
  kind: string;
  dedupe_key: string;
  severity: AlertSeverity;
  title: string;
  /** What happened and what to check, in plain words. */
  detail: string;
  count: number;
  first_at: number;
  last_at: number;
  /** When the sinks were last told (null: never, or no sinks). */
  notified_at: number | null;
  /** open: nobody has looked; acknowledged: a person is on it; resolved: the condition cleared or a person closed it. */
  state: AlertState;
  acknowledged_at: number | null;
  /** `user:NAME`, `token:NAME`, `cli:OSUSER`. */
  acknowledged_by: string | null;
  resolved_at: number | null;
  /** Who resolved it, or `service` when the condition cleared by itself. */
  resolved_by: string | null;
  /** What the person who resolved it wrote, or what cleared it. */
  resolution_note: string | null;
}

export type AlertState = 'open' | 'acknowledged' | 'resolved';

/** A signed webhook call already stored (hash of its signature and timestamp), kept while a replay would still pass the timestamp check. */
export interface WebhookReplaysTable {
  replay_key: string;
  expires_at: number;
}

/** One record of the audit trail; `hash` = HMAC-SHA-256 under the audit key of prev_hash + the record (SHA-256 for records from before the key), see core/security/audit-trail.ts. */
export interface AuditTrailTable {
  seq: number;
  at: number;
  actor: string;
  action: string;
  target: string;
  /** JSON. */
  detail: string;
  prev_hash: string;
  hash: string;
  /** The public id of the key that keyed `hash`; null for records written before the trail was keyed. */
  key_id: string | null;
}

export interface AdminUsersTable {
  name: string;
  role: 'viewer' | 'operator' | 'admin';
  /** scrypt$N$r$p$salt$hash */
  password_hash: string;
  /** Base32 TOTP secret. */
  totp_secret: string;
  /** JSON array of SHA-256 hashes of unused recovery codes. */
  recovery_codes: string;
  disabled: number;
  failed_attempts: number;
  locked_until: number | null;
  created_at: number;
  last_login_at: number | null;
  /** The TOTP time step (30 s) of the newest code accepted: older and equal steps are refused. */
  totp_last_step: number | null;
}

export interface ApiTokensTable {
  /** The public part of the token (`wacs_<id>_<secret>`). */
  id: string;
  name: string;
  role: 'viewer' | 'operator' | 'admin';
  /** SHA-256 of the secret part. */
  hash: string;
  expires_at: number;
  created_at: number;
  /** Who made it: `user:NAME` (a session), `token:ID` (another token), `cli:OSUSER`. */
  created_by: string;
  /** The account the token acts for (its state and role are checked at every use); null for tokens made on the command line. */
  owner: string | null;
  /** The token that made this one: revoking it revokes this one. */
  parent_id: string | null;
  last_used_at: number | null;
  revoked: number;
  /** Permissions beyond the role, comma-separated (`send`: the outbound API); empty for none. */
  permissions: Generated<string>;
}

export interface AdminSessionsTable {
  id: string;
  /** SHA-256 of the cookie value. */
  cookie_hash: string;
  user: string;
  role: 'viewer' | 'operator' | 'admin';
  csrf_token: string;
  created_at: number;
  last_seen_at: number;
  ip: string;
  /** The browser's User-Agent, shortened. */
  device: string;
  revoked: number;
}

/** A person's current consent per category (see core/consent/store.ts). */
export interface ConsentsTable {
  contact_id: string;
  /** `marketing`: the only category WhatsApp users can stop and resume. */
  category: string;
  status: 'opted_in' | 'opted_out';
  /** When the person changed it (webhook or message time). */
  changed_at: number;
  /** `webhook`, `keyword` or `button`. */
  source: string;
  recorded_at: number;
}

/** One accepted `POST /api/v1/messages` (see core/outbound/accept.ts). */
export interface OutboundRequestsTable {
  /** The message id the caller was given (`msg_…`). */
  id: string;
  token_id: string;
  /** The caller's Idempotency-Key header, unique per token. */
  idempotency_key: string;
  /** SHA-256 of the request body as validated: the same key with another body is refused. */
  body_hash: string;
  contact_id: string;
  thread_id: string;
  /** `template` or `text`. */
  kind: string;
  /** The template as sent (name, language, category, parameters), JSON; null for text. */
  template: string | null;
  created_at: number;
}

export interface Database {
  webhook_deliveries: WebhookDeliveriesTable;
  contacts: ContactsTable;
  contact_identities: ContactIdentitiesTable;
  threads: ThreadsTable;
  messages: MessagesTable;
  message_statuses: MessageStatusesTable;
  media: MediaTable;
  outbox: OutboxTable;
  outbox_keys: OutboxKeysTable;
  media_blobs: MediaBlobsTable;
  external_refs: ExternalRefsTable;
  rate_events: RateEventsTable;
  connector_state: ConnectorStateTable;
  account_events: AccountEventsTable;
  alerts: AlertsTable;
  audit_trail: AuditTrailTable;
  webhook_replays: WebhookReplaysTable;
  admin_users: AdminUsersTable;
  api_tokens: ApiTokensTable;
  admin_sessions: AdminSessionsTable;
  history_chunks: HistoryChunksTable;
  queue_samples: QueueSamplesTable;
  consents: ConsentsTable;
  outbound_requests: OutboundRequestsTable;
}

export type OutboxRow = Selectable<OutboxTable>;
export type NewOutboxRow = Insertable<OutboxTable>;
export type MessageRow = Selectable<MessagesTable>;
export type ContactRow = Selectable<ContactsTable>;
export type ThreadRow = Selectable<ThreadsTable>;
