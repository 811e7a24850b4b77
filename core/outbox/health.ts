// How each connector is doing, read from the outbox rows (so every instance sees the same):
// last success, last error in the vendor's words with customers' identifiers masked, the error
// rate of recent work, what waits in backoff and when it runs next. A connector whose recent
// work all fails is degraded, before anything is dead.
import { maskIdentifier } from '../model/identity.js';
import type { Db } from '../store/store.js';

/** Recent work is what settled or failed in this long. */
export const HEALTH_WINDOW_MS = 15 * 60_000;
/** At least this many recent failures, and no success, make a connector degraded. */
export const DEGRADED_AFTER_FAILURES = 3;

export interface ConnectorHealth {
  readonly connector: string;
  readonly lastSuccessAt: number | null;
  readonly lastError: { readonly at: number; readonly message: string; readonly operationId: number } | null;
  /** Of the operations that finished or failed in the window, the share that failed; null when none did. */
  readonly errorRate: number | null;
  readonly recent: { readonly succeeded: number; readonly failing: number };
  /** Pending operations that failed before and wait for their next attempt. */
  readonly backoff: { readonly count: number; readonly nextRunAt: number | null };
  readonly degraded: boolean;
}

const BSUID_IN_TEXT = /\b[A-Z]{2}\.(?:ENT\.)?[A-Za-z0-9]{6,128}\b/g;
/** Phone-like runs: an optional +, then 7 or more digits, spaces, dots or dashes allowed between. */
const PHONE_IN_TEXT = /\+?\d[\d .-]{5,}\d/g;
const EMAIL_IN_TEXT = /[\w.+-]+@[\w-]+\.[\w.-]+/g;

/** A vendor's error message with customers' numbers, BSUIDs and e-mail addresses masked. */
export function redactPersonalData(text: string): string {
  return text
    .replace(EMAIL_IN_TEXT, '[e-mail]')
    .replace(BSUID_IN_TEXT, (m) => maskIdentifier(m))
    .replace(PHONE_IN_TEXT, (m) => (m.replace(/\D/g, '').length >= 7 ? maskIdentifier(m) : m));
}

export async function connectorHealth(db: Db, connectors: readonly string[], now = Date.now()): Promise<ConnectorHealth[]> {
  const since = now - HEALTH_WINDOW_MS;
  return Promise.all(
    connectors.map(async (connector) => {
      const lastDone = await db.selectFrom('outbox').select((eb) => eb.fn.max('updated_at').as('at')).where('connector', '=', connector).where('state', '=', 'done').executeTakeFirst();
      const lastFailed = await db
        .selectFrom('outbox')
        .select(['id', 'updated_at', 'last_error'])
        .where('connector', '=', connector)
        .where('last_error', 'is not', null)
        .where('state', 'in', ['pending', 'dead'])
        .orderBy('updated_at', 'desc')
        .limit(1)
        .executeTakeFirst();
      const succeeded = await db.selectFrom('outbox').select((eb) => eb.fn.countAll<number>().as('n')).where('connector', '=', connector).where('state', '=', 'done').where('updated_at', '>', since).executeTakeFirstOrThrow();
      const failing = await db
        .selectFrom('outbox')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('connector', '=', connector)
        .where('state', 'in', ['pending', 'dead'])
        .where('attempts', '>', 0)
        .where('last_error', 'is not', null)
        .where('updated_at', '>', since)
        .executeTakeFirstOrThrow();
      const backoff = await db
        .selectFrom('outbox')
        .select([(eb) => eb.fn.countAll<number>().as('n'), (eb) => eb.fn.min('run_at').as('next')])
        .where('connector', '=', connector)
        .where('state', '=', 'pending')
        .where('attempts', '>', 0)
        .where('run_at', '>', now)
        .executeTakeFirstOrThrow();
      const ok = Number(succeeded.n);
      const bad = Number(failing.n);
      return {
        connector,
        lastSuccessAt: lastDone?.at === null || lastDone?.at === undefined ? null : Number(lastDone.at),
        lastError: lastFailed ? { at: Number(lastFailed.updated_at), message: redactPersonalData(lastFailed.last_error!), operationId: Number(lastFailed.id) } : null,
        errorRate: ok + bad === 0 ? null : bad / (ok + bad),
        recent: { succeeded: ok, failing: bad },
        backoff: { count: Number(backoff.n), nextRunAt: backoff.next === null ? null : Number(backoff.next) },
        degraded: ok === 0 && bad >= DEGRADED_AFTER_FAILURES,
      };
    }),
  );
}
