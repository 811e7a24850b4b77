// Security alerts: stored (one row per kind and key, repeats counted), logged, counted on
// /metrics, and handed to the configured sinks through the outbox, at most once per throttle
// window for the same alert, so a flood of one signal never floods the people who watch.
import { Counter, type Registry } from 'prom-client';
import { errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import { enqueueOperations } from '../outbox/queries.js';
import type { AlertSeverity } from '../store/schema.js';
import { auditHead, formatAuditHead } from './audit-trail.js';
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

export class Alerts {
  readonly #log: Logger;
  readonly #options: () => AlertOptions;
  readonly #raised: Counter<'kind' | 'severity'>;

  constructor(deps: { log: Logger; registry?: Registry; options: () => AlertOptions }) {
    this.#log = deps.log;
    this.#options = deps.options;
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
        .set({ count: existing.count + 1, last_at: now, title: draft.title, detail: draft.detail, severity: draft.severity, state: 'open', ...(due ? { notified_at: now } : {}) })
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
    this.#raised.inc({ kind: draft.kind, severity: draft.severity });
    const level = draft.severity === 'critical' ? 'error' : draft.severity === 'warning' ? 'warn' : 'info';
    this.#log[level]({ alert: draft.kind, severity: draft.severity, alertId: payload.id, count: payload.count }, `security alert: ${draft.title}`);
  }

  /** One delivery per sink, so a sink that fails never makes another one hear twice. */
  /** Raises an alert from a place that must carry on whatever happens: a failure to record it is logged. */
  report(db: Db, draft: AlertDraft, now = Date.now()): void {
    this.raise(db, draft, now).catch((error: unknown) => this.#log.error({ err: errorMessage(error), alert: draft.kind }, 'could not record a security alert'));
  }

  async #queue(db: Db, payload: AlertPayload, now: number, options: AlertOptions): Promise<void> {
    const drafts = Array.from({ length: options.sinkCount }, (_, sink) => ({ kind: ALERT_SEND, key: `${payload.id}:${payload.count}:${sink}`, orderingKey: `alerts:${sink}`, payload: { ...payload, sink } }));
    await enqueueOperations(db, ALERT_SINKS, drafts, { maxAttempts: options.maxAttempts, now });
  }
}

/** Open alerts, newest first: for `wa-crm-sync alerts` and the audit. */
export async function openAlerts(db: Db): Promise<Array<{ id: number; kind: string; severity: AlertSeverity; title: string; detail: string; count: number; firstAt: number; lastAt: number }>> {
  const rows = await db.selectFrom('alerts').selectAll().where('state', '=', 'open').orderBy('last_at', 'desc').execute();
  return rows.map((r) => ({ id: r.id, kind: r.kind, severity: r.severity, title: r.title, detail: r.detail, count: r.count, firstAt: r.first_at, lastAt: r.last_at }));
}
