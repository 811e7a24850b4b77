// The settlement rules (core/outbox/settlement.ts) without a store: what each outcome makes of an
// operation, and what a batch asks of its connector (a pause, a block).
import { describe, expect, it } from 'vitest';
import type { OperationOutcome } from '../../core/connector.js';
import { CredentialError, DeferredError, NotAttemptedError, SyncError, VendorError } from '../../core/errors.js';
import type { OutboxOperation } from '../../core/outbox/queries.js';
import { backoffDelay, settleBatch, settlementOf, StoppedError } from '../../core/outbox/settlement.js';

const NOW = 1_800_000_000_000;
const BACKOFF = { baseMs: 1000, maxMs: 60_000 };
const always = (value: number) => () => value;

function operation(id: number, attempts = 1, maxAttempts = 5): OutboxOperation {
  return { id, idempotencyKey: `k${id}`, connector: 'crm', kind: 'message.log', orderingKey: 'contact:1', payload: {}, state: 'in_flight', runAt: NOW, attempts, maxAttempts, lastError: null, result: null, createdAt: NOW - 1000 };
}
const failed = (error: SyncError): OperationOutcome => ({ ok: false, error });

describe('settlementOf', () => {
  it('a success is done, with its result and effects', () => {
    const effects = [{ type: 'contact.linked', contactId: 'c1' }] as never;
    expect(settlementOf(operation(1), { ok: true, result: { id: 'x' }, effects }, BACKOFF, NOW)).toEqual({ kind: 'done', result: { id: 'x' }, effects });
    expect(settlementOf(operation(1), { ok: true }, BACKOFF, NOW)).toEqual({ kind: 'done', result: undefined, effects: [] });
  });

  it('work that did not run (stopping, an earlier one of its run failed, credentials refused) waits for no time and uses no attempt', () => {
    for (const error of [new StoppedError(), new NotAttemptedError(), new CredentialError('crm', 'token revoked')]) {
      expect(settlementOf(operation(1, 5, 5), failed(error), BACKOFF, NOW)).toEqual({ kind: 'defer', untilMs: NOW });
    }
  });

  it('a wait the connector asks for is kept with its reason, even on the last attempt', () => {
    expect(settlementOf(operation(1, 5, 5), failed(new DeferredError('the ticket is not indexed yet', NOW + 30_000)), BACKOFF, NOW)).toEqual({ kind: 'defer', untilMs: NOW + 30_000, reason: 'the ticket is not indexed yet' });
  });

  it('a retryable failure with attempts left is retried after full-jitter backoff, or after the vendor\'s Retry-After', () => {
    const busy = new VendorError('crm', 'service unavailable', { status: 503, retryable: true });
    expect(settlementOf(operation(1, 3), failed(busy), BACKOFF, NOW, always(1))).toEqual({ kind: 'retry', atMs: NOW + 4000, error: 'VendorError: crm: service unavailable', message: 'crm: service unavailable' });
    expect(settlementOf(operation(1, 3), failed(busy), BACKOFF, NOW, always(0))).toMatchObject({ kind: 'retry', atMs: NOW });
    const limited = new VendorError('crm', 'rate limited', { status: 429, retryable: true, retryAfterMs: 7000 });
    expect(settlementOf(operation(1, 3), failed(limited), BACKOFF, NOW, always(1))).toMatchObject({ kind: 'retry', atMs: NOW + 7000 });
  });

  it('a failure that cannot be retried, or the last attempt\'s, is dead with its error', () => {
    const refused = new VendorError('crm', 'property does not exist', { status: 400, retryable: false });
    expect(settlementOf(operation(1, 1), failed(refused), BACKOFF, NOW)).toEqual({ kind: 'dead', error: 'VendorError: crm: property does not exist', message: 'crm: property does not exist' });
    const busy = new VendorError('crm', 'service unavailable', { status: 503, retryable: true });
    expect(settlementOf(operation(1, 5, 5), failed(busy), BACKOFF, NOW)).toMatchObject({ kind: 'dead' });
  });
});

describe('settleBatch', () => {
  it('pauses the connector until the latest Retry-After of the operations it retries, and names a refused credential', () => {
    const batch = [operation(1, 2), operation(2, 2), operation(3, 5, 5), operation(4)];
    const outcomes = new Map<number, OperationOutcome>([
      [1, failed(new VendorError('crm', 'slow down', { status: 429, retryable: true, retryAfterMs: 5000 }))],
      [2, failed(new VendorError('crm', 'slow down', { status: 429, retryable: true, retryAfterMs: 9000 }))],
      // Dead on its last attempt: its Retry-After asks nothing of the others.
      [3, failed(new VendorError('crm', 'slow down', { status: 429, retryable: true, retryAfterMs: 60_000 }))],
      [4, failed(new CredentialError('crm', 'the token was revoked'))],
    ]);
    const settled = settleBatch(batch, outcomes, BACKOFF, NOW);
    expect(settled.settlements.map((s) => [s.op.id, s.settlement.kind])).toEqual([[1, 'retry'], [2, 'retry'], [3, 'dead'], [4, 'defer']]);
    expect(settled.pauseUntil).toBe(NOW + 9000);
    expect(settled.credentialProblem).toBe('crm: the token was revoked');
  });

  it('asks for no pause and no block when all went well', () => {
    const settled = settleBatch([operation(1), operation(2)], new Map([[1, { ok: true }], [2, { ok: true }]]), BACKOFF, NOW);
    expect(settled).toMatchObject({ pauseUntil: 0, credentialProblem: undefined });
  });

  it('refuses a batch with an operation the connector gave no outcome for', () => {
    expect(() => settleBatch([operation(1), operation(2)], new Map([[1, { ok: true }]]), BACKOFF, NOW)).toThrow('no outcome for operation 2');
  });
});

describe('backoffDelay', () => {
  it('doubles per attempt from the base, capped, scaled by the jitter draw', () => {
    expect(backoffDelay(1, 100, 10_000, always(1))).toBe(100);
    expect(backoffDelay(4, 100, 10_000, always(1))).toBe(800);
    expect(backoffDelay(20, 100, 10_000, always(1))).toBe(10_000);
    expect(backoffDelay(3, 100, 10_000, always(0.5))).toBe(200);
  });
});
