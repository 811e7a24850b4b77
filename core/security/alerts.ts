// Security alerts: stored (one row per kind and key, repeats counted), logged, counted on
// /metrics, and handed to the configured sinks through the outbox, at most once per throttle
// window for the same alert, so a flood of one signal never floods the people who watch.
// An alert lives: a person acknowledges it, and it is resolved by hand (with a note) or by the
// service once its condition clears; a repeat after that opens it again.
import { Counter, type Registry } from 'prom-client';
import { errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import { enqueueOperations } from '../outbox/queries.js';
import type { AuditEntry } from './audit-trail.js';
import { auditHead, formatAuditHead } from './audit-trail.js';
import type { Selectable } from 'kysely';
import type { AlertSeverity, AlertState, AlertsTable } from '../store/schema.js';
import type { Db } from '../store/store.js';

/** The outbox connector id of alert deliveries, and their operation kind. */
export const ALERT_SINKS = 'alerts';
export const ALERT_SEND = 'alert.send';

export interface AlertDraft {
  /** What kind of signal (e.g. `unknown_status`, `account_security`). */
  readonly kind: string;
  /** Repeats with the same kind and key are one alert (e.g. the business number, the connector). */
  readonly key: string;
  readonly severity: AlertSeverity;
  readonly title: string;
  /** What happened and what to check, in plain words. Never personal data. */
  readonly detail: string;
}

export interface AlertPayload {
  readonly id: number;
  readonly kind: string;
  readonly severity: AlertSeverity;
  readonly title: string;
  readonly detail: string;
  readonly count: number;
  readonly firstAt: number;
  readonly lastAt: number;
  /** The audit trail's head when the alert was raised (SEQ:HASH): sinks keep it outside the store, for `audit verify --head`. Absent in alerts queued before. */
  readonly auditHead?: string;
  [key: string]: string | number | undefined;
}

export interface AlertOptions {
  /** Sinks are told about the same alert at most once in this long. */
  readonly throttleMs: number;
  /** How many sinks are configured (none: alerts are stored, logged and counted only). */
  readonly sinkCount: number;
  readonly maxAttempts: number;
}

/** Why an acknowledgement or a resolution was refused: the caller answers with the message. */
export class AlertChangeError extends Error {
  constructor(message: string, readonly status: 404 | 409) {
    super(message);
    this.name = 'AlertChangeError';
  }
}

export interface Alert {
  readonly id: number;
  readonly kind: string;
  readonly severity: AlertSeverity;
  readonly state: AlertState;
  readonly title: string;
  /** What happened and what to check. */
  readonly detail: string;
  readonly count: number;
  readonly firstAt: number;
  readonly lastAt: number;
  readonly acknowledgedAt: number | null;
  readonly acknowledgedBy: string | null;
  readonly resolvedAt: number | null;
  readonly resolvedBy: string | null;
  readonly resolutionNote: string | null;
}

/** Longest note kept with a resolution. */
export const RESOLUTION_NOTE_LIMIT = 500;

export class Alerts {
  readonly #log: Logger;
  readonly #options: () => AlertOptions;
  readonly #raised: Counter<'kind' | 'severity'>;
  readonly #audit: ((entry: AuditEntry) => Promise<void>) | undefined;
  readonly #onRaised: ((kind: string, severity: AlertSeverity) => void) | undefined;

  /**
   * @param deps.onRaised told of every raise, for a registry in another thread (the processing
   *   thread raises alerts; /metrics is served by the main thread's registry, through count()).
   */
  constructor(deps: { log: Logger; registry?: Registry; options: () => AlertOptions; audit?: (entry: AuditEntry) => Promise<void>; onRaised?: (kind: string, severity: AlertSeverity) => void }) {
    this.#log = deps.log;
    this.#onRaised = deps.onRaised;
    this.#options = deps.options;
    this.#audit = deps.audit;
    this.#raised = new Counter({
      name: 'wa_crm_sync_alerts_total',
      help: 'Security alerts raised, repeats included, by kind and severity',
      labelNames: ['kind', 'severity'] as const,
      registers: deps.registry ? [deps.registry] : [],
    });
  }

  /** Records the alert in `db` (a transaction when the caller has one) and queues the sinks' delivery when due. */
  async raise(db: Db, draft: AlertDraft, now = Date.now()): Promise<void> {
    const options = this.#options();
    const head = formatAuditHead(await auditHead(db));
    const existing = await db.selectFrom('alerts').selectAll().where('kind', '=', draft.kind).where('dedupe_key', '=', draft.key).executeTakeFirst();
    let payload: AlertPayload;
    if (existing) {
      const due = options.sinkCount > 0 && (existing.notified_at === null || now - existing.notified_at >= options.throttleMs || existing.state === 'resolved');
      await db
        .updateTable('alerts')
        // A repeat of a resolved alert opens it again (the condition came back); one a person
        // acknowledged stays theirs.
        .set({
          count: existing.count + 1,
          last_at: now,
          title: draft.title,
          detail: draft.detail,
          severity: draft.severity,
          ...(existing.state === 'resolved' ? { state: 'open', acknowledged_at: null, acknowledged_by: null, resolved_at: null, resolved_by: null, resolution_note: null } : {}),
          ...(due ? { notified_at: now } : {}),
        })
        .where('id', '=', existing.id)
        .execute();
      payload = { id: existing.id, kind: draft.kind, severity: draft.severity, title: draft.title, detail: draft.detail, count: existing.count + 1, firstAt: existing.first_at, lastAt: now, auditHead: head };
      if (due) await this.#queue(db, payload, now, options);
    } else {
      const row = await db
        .insertInto('alerts')
        .values({ kind: draft.kind, dedupe_key: draft.key, severity: draft.severity, title: draft.title, detail: draft.detail, count: 1, first_at: now, last_at: now, notified_at: options.sinkCount > 0 ? now : null, state: 'open' })
        .returning('id')
        .executeTakeFirstOrThrow();
      payload = { id: row.id, kind: draft.kind, severity: draft.severity, title: draft.title, detail: draft.detail, count: 1, firstAt: now, lastAt: now, auditHead: head };
      if (options.sinkCount > 0) await this.#queue(db, payload, now, options);
    }
    this.count(draft.kind, draft.severity);
    const level = draft.severity === 'critical' ? 'error' : draft.severity === 'warning' ? 'warn' : 'info';
    this.#log[level]({ alert: draft.kind, severity: draft.severity, alertId: payload.id, count: payload.count }, `security alert: ${draft.title}`);
  }

  /** Counts a raise in wa_crm_sync_alerts_total (also one raised in the processing thread). */
  count(kind: string, severity: AlertSeverity): void {
    this.#raised.inc({ kind, severity });
    this.#onRaised?.(kind, severity);
  }

  /** Raises an alert from a place that must carry on whatever happens: a failure to record it is logged. */
  report(db: Db, draft: AlertDraft, now = Date.now()): void {
    this.raise(db, draft, now).catch((error: unknown) => this.#log.error({ err: errorMessage(error), alert: draft.kind }, 'could not record a security alert'));
  }

  /** A person says they are on it: the alert stays unresolved, and everyone sees who took it. */
  async acknowledge(db: Db, id: number, actor: string, now = Date.now()): Promise<Alert> {
    const alert = await alertById(db, id);
    if (alert.state !== 'open') throw new AlertChangeError(`alert ${id} is ${alert.state}${alert.state === 'acknowledged' ? ` by ${alert.acknowledgedBy}` : ''}: only an open alert can be acknowledged`, 409);
    await db.updateTable('alerts').set({ state: 'acknowledged', acknowledged_at: now, acknowledged_by: actor }).where('id', '=', id).where('state', '=', 'open').execute();
    await this.#audit?.({ actor, action: 'alert.acknowledge', target: String(id), detail: { kind: alert.kind, severity: alert.severity } });
    return alertById(db, id);
  }

  /** A person closes the alert, saying what they found or did. */
  async resolveByHand(db: Db, id: number, actor: string, note: string, now = Date.now()): Promise<Alert> {
    const text = note.trim();
    if (text.length === 0) throw new AlertChangeError('say what was found or done: a resolution needs a note', 409);
    const alert = await alertById(db, id);
    if (alert.state === 'resolved') throw new AlertChangeError(`alert ${id} is already resolved (by ${alert.resolvedBy})`, 409);
    const kept = text.slice(0, RESOLUTION_NOTE_LIMIT);
    await db.updateTable('alerts').set({ state: 'resolved', resolved_at: now, resolved_by: actor, resolution_note: kept }).where('id', '=', id).execute();
    await this.#audit?.({ actor, action: 'alert.resolve', target: String(id), detail: { kind: alert.kind, severity: alert.severity, note: kept } });
    return alertById(db, id);
  }

  /** The condition behind an alert cleared (a connector works again): resolves it if unresolved; true when it did. */
  async resolveCleared(db: Db, which: { kind: string; key: string }, reason: string, now = Date.now()): Promise<boolean> {
    const row = await db.selectFrom('alerts').select(['id', 'severity']).where('kind', '=', which.kind).where('dedupe_key', '=', which.key).where('state', '!=', 'resolved').executeTakeFirst();
    if (!row) return false;
    await this.#resolveByService(db, [{ id: row.id, kind: which.kind, severity: row.severity }], reason, now);
    return true;
  }

  /** Resolves unresolved alerts of `kind` not repeated for `quietMs` (a burst that is over); returns how many. */
  async resolveQuiet(db: Db, kind: string, quietMs: number, reason: string, now = Date.now()): Promise<number> {
    const rows = await db.selectFrom('alerts').select(['id', 'kind', 'severity']).where('kind', '=', kind).where('state', '!=', 'resolved').where('last_at', '<=', now - quietMs).execute();
    if (rows.length > 0) await this.#resolveByService(db, rows, reason, now);
    return rows.length;
  }

  /** Like resolveCleared, from a place that must carry on whatever happens. */
  reportCleared(db: Db, which: { kind: string; key: string }, reason: string): void {
    this.resolveCleared(db, which, reason).catch((error: unknown) => this.#log.error({ err: errorMessage(error), alert: which.kind }, 'could not resolve a security alert'));
  }

  async #resolveByService(db: Db, rows: ReadonlyArray<{ id: number; kind: string; severity: AlertSeverity }>, reason: string, now: number): Promise<void> {
    await db.updateTable('alerts').set({ state: 'resolved', resolved_at: now, resolved_by: 'service', resolution_note: reason }).where('id', 'in', rows.map((r) => r.id)).where('state', '!=', 'resolved').execute();
    for (const row of rows) {
      this.#log.info({ alert: row.kind, alertId: row.id }, `security alert resolved: ${reason}`);
      await this.#audit?.({ actor: 'service', action: 'alert.resolve', target: String(row.id), detail: { kind: row.kind, severity: row.severity, note: reason, automatic: true } });
    }
  }

  /** One delivery per sink, so a sink that fails never makes another one hear twice. */
  async #queue(db: Db, payload: AlertPayload, now: number, options: AlertOptions): Promise<void> {
    const drafts = Array.from({ length: options.sinkCount }, (_, sink) => ({ kind: ALERT_SEND, key: `${payload.id}:${payload.count}:${sink}`, orderingKey: `alerts:${sink}`, payload: { ...payload, sink } }));
    await enqueueOperations(db, ALERT_SINKS, drafts, { maxAttempts: options.maxAttempts, now });
  }
}

function toAlert(r: Selectable<AlertsTable>): Alert {
  return {
    id: r.id,
    kind: r.kind,
    severity: r.severity,
    state: r.state,
    title: r.title,
    detail: r.detail,
    count: r.count,
    firstAt: r.first_at,
    lastAt: r.last_at,
    acknowledgedAt: r.acknowledged_at,
    acknowledgedBy: r.acknowledged_by,
    resolvedAt: r.resolved_at,
    resolvedBy: r.resolved_by,
    resolutionNote: r.resolution_note,
  };
}

async function alertById(db: Db, id: number): Promise<Alert> {
  const row = await db.selectFrom('alerts').selectAll().where('id', '=', id).executeTakeFirst();
  if (!row) throw new AlertChangeError(`no alert ${id}`, 404);
  return toAlert(row);
}

/** Unresolved alerts (open or acknowledged), newest first: for `wa-crm-sync alerts` and the audit. */
export async function openAlerts(db: Db): Promise<Alert[]> {
  return listAlerts(db, { resolved: false });
}

/** Alerts newest first; resolved ones too when `resolved` is true (the most recent `limit`). */
export async function listAlerts(db: Db, filter: { resolved: boolean; limit?: number }): Promise<Alert[]> {
  let query = db.selectFrom('alerts').selectAll().orderBy('last_at', 'desc').limit(filter.limit ?? 500);
  if (!filter.resolved) query = query.where('state', '!=', 'resolved');
  return (await query.execute()).map(toAlert);
}
