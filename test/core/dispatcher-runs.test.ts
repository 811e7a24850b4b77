// Runs, not heads: a connector that declares `maxRun` gets one key's consecutive operations in
// one call, in order; a failure inside a run sends nothing after it until it succeeds. Also the
// generic webhook connector posting a run to a real loopback endpoint.
import { afterEach, describe, expect, it } from 'vitest';
import { webhookConnector } from '../../connectors/webhook/index.js';
import { forwardedMessage } from '../helpers/forward-payload.js';
import type { Connector, OperationOutcome } from '../../core/connector.js';
import { NotAttemptedError, VendorError } from '../../core/errors.js';
import { silentLogger } from '../../core/logger.js';
import { ConnectorDispatcher } from '../../core/outbox/dispatcher.js';
import { enqueueOperations, listOperations, type OutboxOperation } from '../../core/outbox/queries.js';
import { RateBudget } from '../../core/outbox/rate-budget.js';
import { Recorder } from '../helpers/recorder.js';
import { freshStorePerTest } from '../helpers/store-per-test.js';
import { STORE_KINDS } from '../helpers/stores.js';

type Script = (ops: readonly OutboxOperation[]) => Promise<OperationOutcome[]>;

function runningConnector(script: Script, maxRun: number): Connector {
  const tuning = { concurrency: 2, rateLimit: null, maxAttempts: 3, backoffBaseMs: 10, backoffMaxMs: 20 };
  return {
    metadata: { id: 'fake', displayName: 'Fake CRM', featureScopes: {}, grantScopesHint: '', maxBatch: { op: 1 }, maxRun, defaultTuning: tuning },
    features: [],
    tuning,
    plan: () => [],
    execute: script,
    reconcile: async () => undefined,
    grantedScopes: async () => [],
  };
}

async function until(probe: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

const indexOf = (op: OutboxOperation) => (op.payload as { i: number }).i;

describe.each(STORE_KINDS)('runs of one key on %s', (kind) => {
  const fresh = freshStorePerTest(kind);
  let dispatcher: ConnectorDispatcher | undefined;
  // Registered after the store's hooks, so it runs before the store closes.
  afterEach(async () => {
    await dispatcher?.stop();
    dispatcher = undefined;
  });
  function start(connector: Connector): void {
    dispatcher = new ConnectorDispatcher({
      connector,
      store: fresh.store,
      budget: new RateBudget(fresh.store),
      applyEffects: async () => 0,
      log: silentLogger(),
      options: { workerId: 'test', leaseMs: 5000, pollIntervalMs: 200, claimBatch: 50 },
    });
    dispatcher.start();
  }

  const allSettled = async (connector: string) => (await listOperations(fresh.store.db, { connector, limit: 1000 })).every((o) => o.state === 'done');

  it('hands a connector that declares maxRun one key\'s backlog in runs, in order, while other keys still get their turn', async () => {
    const drafts = [
      ...Array.from({ length: 12 }, (_, i) => ({ kind: 'op', key: `a${i}`, orderingKey: 'A', payload: { i } })),
      { kind: 'op', key: 'b', orderingKey: 'B', payload: { i: 100 } },
      { kind: 'op', key: 'c', orderingKey: 'C', payload: { i: 200 } },
    ];
    await enqueueOperations(fresh.store.db, 'fake', drafts, { maxAttempts: 3, now: Date.now() });
    const calls: number[][] = [];
    start(runningConnector(async (ops) => {
      calls.push(ops.map(indexOf));
      return ops.map(() => ({ ok: true }));
    }, 5));
    await until(() => allSettled('fake'));
    const ofA = calls.filter((c) => c[0]! < 100);
    expect(ofA.flat()).toEqual(Array.from({ length: 12 }, (_, i) => i));
    // Runs of up to 5, not twelve separate heads with a claim cycle (and a poll) between each.
    expect(ofA.length).toBeLessThanOrEqual(4);
    expect(Math.max(...ofA.map((c) => c.length))).toBe(5);
    expect(calls.filter((c) => c[0]! >= 100).flat().sort()).toEqual([100, 200]);
  });

  it('sends nothing after a failed operation of a run until it succeeds, and the unsent ones keep their attempts', async () => {
    await enqueueOperations(fresh.store.db, 'fake', Array.from({ length: 6 }, (_, i) => ({ kind: 'op', key: `a${i}`, orderingKey: 'A', payload: { i } })), { maxAttempts: 3, now: Date.now() });
    const sent: number[] = [];
    let failedOnce = false;
    start(runningConnector(async (ops) => {
      const outcomes: OperationOutcome[] = [];
      for (const op of ops) {
        if (outcomes.some((o) => !o.ok)) {
          outcomes.push({ ok: false, error: new NotAttemptedError() });
          continue;
        }
        sent.push(indexOf(op));
        if (indexOf(op) === 2 && !failedOnce) {
          failedOnce = true;
          outcomes.push({ ok: false, error: new VendorError('fake', 'HTTP 503', { status: 503, retryable: true }) });
        } else outcomes.push({ ok: true });
      }
      return outcomes;
    }, 10));
    await until(() => allSettled('fake'));
    expect(sent).toEqual([0, 1, 2, 2, 3, 4, 5]);
    const attempts = (await listOperations(fresh.store.db, { connector: 'fake', limit: 10 })).map((o) => o.attempts);
    expect(attempts).toEqual([1, 1, 2, 1, 1, 1]);
  });

  it('the webhook connector posts a contact\'s backlog back to back and stops a run at the first refused post', async () => {
    const recorder = new Recorder();
    const url = await recorder.start();
    try {
      const connector = webhookConnector.create(
        { enabled: true, url, timeoutMs: 2000, events: ['contact', 'message', 'status'], rateLimit: { maxAttempts: 3, backoffBaseMs: 10, backoffMaxMs: 20 } },
        { log: silentLogger(), mediaDir: '' },
      );
      expect(connector.metadata.maxRun).toBeGreaterThan(1);
      const ops = Array.from({ length: 3 }, (_, i) => ({ kind: 'message.forward', key: `m${i}`, orderingKey: 'contact:1', payload: forwardedMessage(`m${i}`, `message ${i}`) }));
      await enqueueOperations(fresh.store.db, 'webhook', ops, { maxAttempts: 3, now: Date.now() });
      recorder.failWith = 503;
      let executions = 0;
      const counting: Connector = {
        metadata: connector.metadata,
        features: connector.features,
        tuning: connector.tuning,
        plan: (change) => connector.plan(change),
        reconcile: (op, context) => connector.reconcile(op, context),
        grantedScopes: (context) => connector.grantedScopes(context),
        execute: async (batch: readonly OutboxOperation[], context: Parameters<Connector['execute']>[1]) => {
          executions++;
          const outcomes = await connector.execute(batch, context);
          if (executions === 1) {
            // The first post was refused; the two behind it were never sent.
            expect(outcomes.map((o) => (o.ok ? 'ok' : o.error.name))).toEqual(['VendorError', 'NotAttemptedError', 'NotAttemptedError']);
            recorder.failWith = undefined;
          }
          return outcomes;
        },
      };
      start(counting);
      await until(() => allSettled('webhook'));
      expect(recorder.events.map((e) => e.idempotencyKey)).toEqual(['webhook:message.forward:m0', 'webhook:message.forward:m1', 'webhook:message.forward:m2']);
      expect(executions).toBe(2);
    } finally {
      await recorder.stop();
    }
  });
});
