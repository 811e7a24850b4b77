// A run of one key cut into same-kind segments (core/outbox/runs.ts): order kept, each segment
// one write, and nothing after a segment that failed; then settled by the real dispatcher, so
// the unsent rest stays queued, in order, behind the failed operation.
import { afterEach, describe, expect, it } from 'vitest';
import type { Connector, OperationOutcome } from '../../core/connector.js';
import { NotAttemptedError, VendorError } from '../../core/errors.js';
import { silentLogger } from '../../core/logger.js';
import { ConnectorDispatcher } from '../../core/outbox/dispatcher.js';
import { enqueueOperations, listOperations, type OutboxOperation } from '../../core/outbox/queries.js';
import { RateBudget } from '../../core/outbox/rate-budget.js';
import { runSegments, writeInSegments, type RunSegmentRules } from '../../core/outbox/runs.js';
import { claimedOperation } from '../helpers/context.js';
import { freshStorePerTest } from '../helpers/store-per-test.js';
import { STORE_KINDS } from '../helpers/stores.js';

const RULES: RunSegmentRules = { maxSegment: { contact: 10, message: 3, status: 10 }, recordOf: (op) => (op.payload as { record?: string }).record };
const op = (kind: string, name: string, options: { record?: string; orderingKey?: string } = {}) =>
  claimedOperation('fake', kind, { name, ...(options.record ? { record: options.record } : {}) }, { orderingKey: options.orderingKey ?? 'contact:1' });
const names = (ops: readonly OutboxOperation[]) => ops.map((o) => (o.payload as { name: string }).name);
const ok = (segment: readonly OutboxOperation[]): OperationOutcome[] => segment.map(() => ({ ok: true }));
const outcomeNames = (outcomes: readonly OperationOutcome[]) => outcomes.map((o) => (o.ok ? 'ok' : o.error.name));

describe('runSegments', () => {
  it('cuts a run into consecutive same-kind segments, in queue order, each within its kind\'s size', () => {
    const run = [op('contact', 'c'), op('message', 'm1'), op('message', 'm2'), op('message', 'm3'), op('message', 'm4'), op('status', 's1'), op('message', 'm5'), op('media', 'f1'), op('media', 'f2')];
    const segments = runSegments(run, RULES);
    expect(segments.map(names)).toEqual([['c'], ['m1', 'm2', 'm3'], ['m4'], ['s1'], ['m5'], ['f1'], ['f2']]);
    expect(segments.flat()).toEqual(run);
  });

  it('never puts two writes of one record in one segment (a batch refuses an id twice)', () => {
    const run = [op('status', 'delivered', { record: 'm1' }), op('status', 'delivered', { record: 'm2' }), op('status', 'read', { record: 'm1' }), op('status', 'read', { record: 'm2' })];
    expect(runSegments(run, RULES).map((s) => s.map((o) => (o.payload as { record: string }).record))).toEqual([['m1', 'm2'], ['m1', 'm2']]);
  });
});

describe('writeInSegments', () => {
  it('writes heads of several keys in one call as they came, and never more than a call takes', async () => {
    const head = (name: string) => op('message', name, { orderingKey: `contact:${name}` });
    const calls: string[][] = [];
    await writeInSegments([head('a'), head('b'), head('c')], RULES, async (segment) => (calls.push(names(segment)), ok(segment)));
    expect(calls).toEqual([['a', 'b', 'c']]);
    calls.length = 0;
    await writeInSegments([head('a'), head('b'), head('c'), head('d')], RULES, async (segment) => (calls.push(names(segment)), ok(segment)));
    expect(calls).toEqual([['a', 'b', 'c'], ['d']]);
  });

  it('writes a run one segment per call, and after a segment with a failure writes nothing more', async () => {
    const run = [op('contact', 'c'), op('message', 'm1'), op('message', 'm2'), op('status', 's1'), op('message', 'm3')];
    const calls: string[][] = [];
    const outcomes = await writeInSegments(run, RULES, async (segment) => {
      calls.push(names(segment));
      // The second message of the batch is refused; the first was written.
      return segment.map((o) => (names([o])[0] === 'm2' ? { ok: false, error: new VendorError('fake', 'HTTP 503', { status: 503, retryable: true }) } : { ok: true }));
    });
    expect(calls).toEqual([['c'], ['m1', 'm2']]);
    expect(outcomeNames(outcomes)).toEqual(['ok', 'ok', 'VendorError', 'NotAttemptedError', 'NotAttemptedError']);
  });

  it('a segment whose call throws fails as a whole and keeps what earlier segments wrote; a single call\'s error is thrown on', async () => {
    const run = [op('contact', 'c'), op('message', 'm1'), op('message', 'm2'), op('status', 's1')];
    const outcomes = await writeInSegments(run, RULES, async (segment) => {
      if (segment[0]!.kind === 'message') throw new VendorError('fake', 'HTTP 502', { status: 502, retryable: true });
      return ok(segment);
    });
    expect(outcomeNames(outcomes)).toEqual(['ok', 'VendorError', 'VendorError', 'NotAttemptedError']);
    const heads = [op('message', 'a', { orderingKey: 'contact:a' }), op('message', 'b', { orderingKey: 'contact:b' })];
    await expect(writeInSegments(heads, RULES, async () => Promise.reject(new VendorError('fake', 'HTTP 500', { status: 500 })))).rejects.toThrow(/HTTP 500/);
  });

  it('writes the runs of several keys in waves: their segments of one kind share a call, and a key that failed stops alone', async () => {
    const a = (kind: string, name: string) => op(kind, name, { orderingKey: 'contact:a' });
    const b = (kind: string, name: string) => op(kind, name, { orderingKey: 'contact:b' });
    const c = (kind: string, name: string) => op(kind, name, { orderingKey: 'contact:c' });
    const ops = [a('contact', 'a0'), b('message', 'b1'), a('message', 'a1'), b('message', 'b2'), c('message', 'c1'), a('status', 'a2'), b('status', 'b3'), c('status', 'c2')];
    const calls: string[][] = [];
    const outcomes = await writeInSegments(ops, RULES, async (call) => {
      calls.push(names(call));
      return call.map((o) => (names([o])[0] === 'c1' ? { ok: false, error: new VendorError('fake', 'HTTP 400', { status: 400 }) } : { ok: true }));
    });
    // Wave 1: a's contact; b's two messages with c's one in one call. Wave 2: a's message, b's status. Wave 3: a's status.
    expect(calls).toEqual([['a0'], ['b1', 'b2', 'c1'], ['a1'], ['b3'], ['a2']]);
    expect(outcomeNames(outcomes)).toEqual(['ok', 'ok', 'ok', 'ok', 'VendorError', 'ok', 'ok', 'NotAttemptedError']);
  });
});

describe.each(STORE_KINDS)('a run written in segments, settled on %s', (kind) => {
  const fresh = freshStorePerTest(kind);
  let dispatcher: ConnectorDispatcher | undefined;
  afterEach(async () => {
    await dispatcher?.stop();
    dispatcher = undefined;
  });

  it('keeps the rest of the run queued behind a failed segment, and writes it in order once that succeeds', async () => {
    const kinds = ['contact', 'message', 'message', 'message', 'status', 'status', 'message'];
    await enqueueOperations(fresh.store.db, 'fake', kinds.map((k, i) => ({ kind: k, key: `op${i}`, orderingKey: 'contact:1', payload: { name: `${k}${i}` } })), { maxAttempts: 5, now: Date.now() });
    const written: string[] = [];
    const calls: string[][] = [];
    let refused = false;
    const tuning = { concurrency: 2, rateLimit: null, maxAttempts: 5, backoffBaseMs: 10, backoffMaxMs: 20 };
    const connector: Connector = {
      metadata: { id: 'fake', displayName: 'Fake CRM', featureScopes: {}, grantScopesHint: '', maxBatch: RULES.maxSegment, maxRun: 20, runsInSegments: true, defaultTuning: tuning },
      features: [],
      tuning,
      plan: () => [],
      reconcile: async () => undefined,
      grantedScopes: async () => [],
      execute: (ops) =>
        writeInSegments(ops, RULES, async (segment) => {
          calls.push(names(segment));
          // The first message batch: its first message is written, the second refused once.
          if (!refused && segment[0]!.kind === 'message') {
            refused = true;
            written.push(names(segment)[0]!);
            return segment.map((_, i) => (i === 0 ? { ok: true } : i === 1 ? { ok: false, error: new VendorError('fake', 'HTTP 503', { status: 503, retryable: true }) } : { ok: false, error: new NotAttemptedError() }));
          }
          written.push(...names(segment));
          return ok(segment);
        }),
    };
    dispatcher = new ConnectorDispatcher({ connector, store: fresh.store, budget: new RateBudget(fresh.store), applyEffects: async () => 0, log: silentLogger(), options: { workerId: 'test', leaseMs: 5000, pollIntervalMs: 50, claimBatch: 50 } });
    dispatcher.start();
    const deadline = Date.now() + 20_000;
    while (!(await listOperations(fresh.store.db, { connector: 'fake', limit: 100 })).every((o) => o.state === 'done')) {
      if (Date.now() > deadline) throw new Error('the run did not drain');
      await new Promise((r) => setTimeout(r, 20));
    }
    // Nothing after the refused message went before it; each name written once, in queue order.
    expect(written).toEqual(kinds.map((k, i) => `${k}${i}`));
    expect(calls[0]).toEqual(['contact0']);
    expect(calls[1]).toEqual(['message1', 'message2', 'message3']);
    // The retry starts at the refused one, the statuses and last message behind it.
    expect(calls.slice(2)).toEqual([['message2', 'message3'], ['status4', 'status5'], ['message6']]);
    // Only the refused operation used a second attempt; the rest were handed back unattempted.
    expect((await listOperations(fresh.store.db, { connector: 'fake', limit: 100 })).map((o) => o.attempts)).toEqual([1, 1, 2, 1, 1, 1, 1]);
  });
});
