// What becomes of each operation of a batch once its outcome is known: done, deferred (no attempt
// used), retried later, or dead with its error kept. A pure function of the outcome, the
// operation's attempts and the connector's backoff, so each rule is tested without a store; the
// dispatcher writes what it decides in one transaction.
import type { OperationEffect, OperationOutcome } from '../connector.js';
import { CredentialError, DeferredError, NotAttemptedError, SyncError } from '../errors.js';
import type { JsonValue } from '../model/types.js';
import type { OutboxOperation } from './queries.js';

/** The dispatcher stopped before the operation could run. */
export class StoppedError extends SyncError {
  override readonly name = 'StoppedError';
  constructor() {
    super('dispatch stopped before the operation ran', { retryable: true });
  }
}

/** Full jitter: a random wait between 0 and base·2^(attempt-1), capped. */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(random() * ceiling);
}

export type Settlement =
  | { readonly kind: 'done'; readonly result: JsonValue | undefined; readonly effects: readonly OperationEffect[] }
  /** Runs again at `untilMs` without using an attempt; `reason` when the connector asked for the wait. */
  | { readonly kind: 'defer'; readonly untilMs: number; readonly reason?: string }
  | { readonly kind: 'retry'; readonly atMs: number; readonly error: string; readonly message: string }
  | { readonly kind: 'dead'; readonly error: string; readonly message: string };

export interface BatchSettlement {
  /** One per operation of the batch, in the batch's order. */
  readonly settlements: ReadonlyArray<{ readonly op: OutboxOperation; readonly settlement: Settlement }>;
  /** The latest Retry-After end the vendor asked for (0 when none): the whole connector waits until then. */
  readonly pauseUntil: number;
  /** Set when the vendor refused the credentials: dispatch blocks with this reason, the operations wait. */
  readonly credentialProblem: string | undefined;
}

export interface Backoff {
  readonly baseMs: number;
  readonly maxMs: number;
}

/** One operation's fate. `random` draws the jitter (tests pin it). */
export function settlementOf(op: OutboxOperation, outcome: OperationOutcome, backoff: Backoff, now: number, random: () => number = Math.random): Settlement {
  if (outcome.ok) return { kind: 'done', result: outcome.result, effects: outcome.effects ?? [] };
  const error = outcome.error;
  // Not run (stopping, or an earlier operation of its run failed) or held back by the credentials: again at once, no attempt used.
  if (error instanceof StoppedError || error instanceof NotAttemptedError || error instanceof CredentialError) return { kind: 'defer', untilMs: now };
  if (error instanceof DeferredError) return { kind: 'defer', untilMs: error.untilMs, reason: error.message };
  const text = `${error.name}: ${error.message}`;
  if (!error.retryable || op.attempts >= op.maxAttempts) return { kind: 'dead', error: text, message: error.message };
  return { kind: 'retry', atMs: now + (error.retryAfterMs ?? backoffDelay(op.attempts, backoff.baseMs, backoff.maxMs, random)), error: text, message: error.message };
}

/** The fate of every operation of a batch, and what it asks of the connector as a whole (a pause, a block). */
export function settleBatch(batch: readonly OutboxOperation[], outcomes: ReadonlyMap<number, OperationOutcome>, backoff: Backoff, now: number, random: () => number = Math.random): BatchSettlement {
  let pauseUntil = 0;
  let credentialProblem: string | undefined;
  const settlements = batch.map((op) => {
    const outcome = outcomes.get(op.id);
    if (!outcome) throw new Error(`no outcome for operation ${op.id}`);
    const settlement = settlementOf(op, outcome, backoff, now, random);
    if (!outcome.ok && outcome.error instanceof CredentialError) credentialProblem = outcome.error.message;
    if (settlement.kind === 'retry' && !outcome.ok && outcome.error.retryAfterMs !== undefined) pauseUntil = Math.max(pauseUntil, now + outcome.error.retryAfterMs);
    return { op, settlement };
  });
  return { settlements, pauseUntil, credentialProblem };
}
