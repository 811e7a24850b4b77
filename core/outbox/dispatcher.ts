// Dispatches one connector's outbox operations: claims due heads of ordering keys (or runs of a
// key's operations, for connectors that declare `maxRun`), runs them in batches through a p-queue
// (concurrency and per-interval caps), and writes each outcome's settlement (settlement.ts: done,
// deferred, retried with full-jitter backoff or Retry-After, or dead with the last error kept).
// What operations run with is built in execution-context.ts.
import PQueue from 'p-queue';
import type { Connector, ExecutionContext, OperationEffect, OperationOutcome } from '../connector.js';
import type { Alerts } from '../security/alerts.js';
import { NotAttemptedError, SyncError, asSyncError, errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { Transaction } from 'kysely';
import type { JsonValue } from '../model/types.js';
import type { Database } from '../store/schema.js';
import type { Store } from '../store/store.js';
import {
  claimOperations,
  completeOperations,
  deferOperation,
  extendLeases,
  failOperation,
  releaseExpiredLeases,
  releaseOperations,
  type OutboxOperation,
} from './queries.js';
import { HEAL_BUSY_KEYS_INTERVAL_MS, healBusyKeys, laneOf, refreshOrderingKeys, type OrderingKeyRef } from './key-queue.js';
import { BACKGROUND_RATE_SHARE, type RateBudget } from './rate-budget.js';
import type { ScopeCheck } from '../scopes.js';
import { executionContext } from './execution-context.js';
import { ConnectorStanding } from './standing.js';
import { settleBatch, StoppedError } from './settlement.js';

export interface DispatcherOptions {
  readonly workerId: string;
  readonly leaseMs: number;
  readonly pollIntervalMs: number;
  readonly claimBatch: number;
}

/** Applies what operations changed in our model and plans the follow-up operations, inside the settling transaction. */
export type EffectApplier = (tx: Transaction<Database>, effects: readonly OperationEffect[], now: number) => Promise<number>;

export type DispatcherState = { readonly state: 'running' } | { readonly state: 'blocked'; readonly reason: string } | { readonly state: 'stopped' };

export class ConnectorDispatcher {
  readonly connector: Connector;
  readonly #store: Store;
  readonly #budget: RateBudget;
  readonly #applyEffects: EffectApplier;
  readonly #log: Logger;
  readonly #metrics: Metrics | undefined;
  readonly #options: DispatcherOptions;
  /** Live batches (any operation on a lane-0 key): up to `concurrency` at once. */
  readonly #queue: PQueue;
  /**
   * Background batches (all their operations on background keys): at most concurrency − 1 at
   * once, in slots of their own beside the live ones (see #backgroundRunsBeside), so a live batch
   * never waits for an import's batch, which can take seconds waiting for its share of the rate
   * window while it holds a slot.
   */
  readonly #background: PQueue;
  readonly #backgroundSlots: number;
  /**
   * Whether background batches run in their own slots (concurrency 2 and more) rather than
   * queue for one of `#queue`'s: measured in the history bench (10,000 past messages), live
   * batches sharing four slots with three background batches waited up to 2.9 s for the one
   * left, behind a batch of an imported customer's contact writes, while a live message took
   * 0.3 s end to end without the import. With one slot there is none to share: background work
   * then queues behind live work in it, one batch at a time in all.
   */
  readonly #backgroundRunsBeside: boolean;
  readonly #inFlight = new Set<number>();
  /** Blocked (credentials, scopes, setup), paused by an admin, the last scope check. */
  readonly #standing: ConnectorStanding;
  readonly #abort = new AbortController();
  /** Aborted as soon as stopping starts: waits for rate budget end at once, calls under way get the grace period. */
  readonly #stopping = new AbortController();
  #running = false;
  #loop: Promise<void> | undefined;
  #wakeUp: (() => void) | undefined;

  constructor(deps: {
    connector: Connector;
    store: Store;
    budget: RateBudget;
    applyEffects: EffectApplier;
    log: Logger;
    metrics?: Metrics;
    /** Where a blocked or over-privileged credential is raised as a security alert. */
    alerts?: Alerts;
    /** Told what a setup changed at the vendor (for the audit trail). */
    onSetup?: (actions: readonly string[]) => Promise<void>;
    options: DispatcherOptions;
  }) {
    this.connector = deps.connector;
    this.#store = deps.store;
    this.#budget = deps.budget;
    this.#applyEffects = deps.applyEffects;
    this.#log = deps.log.child({ connector: deps.connector.metadata.id });
    this.#metrics = deps.metrics;
    this.#options = deps.options;
    const { concurrency, rateLimit } = deps.connector.tuning;
    // Batch starts are capped per window for background batches only: a cap shared with live
    // batches let an import's batches, started and then waiting for rate room, use up the starts
    // a live batch needed. Every vendor request still takes its room in the shared rate budget
    // (the vendor's limit across instances), which a per-process cap never was.
    this.#queue = new PQueue({ concurrency });
    this.#backgroundSlots = Math.max(1, concurrency - 1);
    this.#backgroundRunsBeside = concurrency > 1;
    this.#background = new PQueue({
      concurrency: this.#backgroundSlots,
      ...(rateLimit ? { intervalCap: Math.max(1, Math.floor(rateLimit.requests * BACKGROUND_RATE_SHARE)), interval: rateLimit.intervalMs } : {}),
    });
    this.#standing = new ConnectorStanding({
      connector: deps.connector,
      store: deps.store,
      log: this.#log,
      ...(deps.alerts ? { alerts: deps.alerts } : {}),
      ...(deps.onSetup ? { onSetup: deps.onSetup } : {}),
      context: () => this.#context(),
      wake: () => this.wake(),
    });
  }

  get id(): string {
    return this.connector.metadata.id;
  }

  get state(): DispatcherState {
    if (!this.#running) return { state: 'stopped' };
    const blocked = this.#standing.blockedReason;
    if (blocked !== undefined) return { state: 'blocked', reason: blocked };
    return { state: 'running' };
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#loop = this.#run();
    // Work may wait long for rate budget (a Retry-After, a used-up daily allowance) or a slow
    // vendor: renew the leases of everything this dispatcher holds, so no other worker (nor our
    // own sweep) takes it over and runs it a second time meanwhile.
    this.#heartbeat = setInterval(() => {
      const ids = [...this.#inFlight];
      void extendLeases(this.#store.db, this.#options.workerId, ids, Date.now() + this.#options.leaseMs).catch((error: unknown) =>
        this.#log.warn({ err: errorMessage(error) }, 'could not renew leases; another worker may take the operations over'),
      );
    }, Math.max(100, Math.floor(this.#options.leaseMs / 3)));
    this.#heartbeat.unref();
  }

  #heartbeat: NodeJS.Timeout | undefined;

  /** Stops claiming, lets running batches finish (up to `graceMs`), and hands back the rest. */
  async stop(graceMs = 10_000): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    clearInterval(this.#heartbeat);
    this.#stopping.abort();
    this.wake();
    await this.#loop;
    // Background batches still waiting for a slot never start; their operations are handed back below.
    this.#background.clear();
    const idle = Promise.all([this.#queue.onIdle(), this.#background.onIdle()]);
    this.#queue.clear();
    const finished = await Promise.race([idle.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), graceMs).unref())]);
    if (!finished) this.#abort.abort();
    // Whatever is still leased to us goes back without using up an attempt.
    await releaseOperations(this.#store.db, this.#options.workerId, [...this.#inFlight], Date.now());
    this.#inFlight.clear();
    // Room reserved and not used goes back for the other instances.
    await this.#budget.releaseBlocks(this.id);
    await this.connector.close?.();
  }

  /** See ConnectorStanding.checkScopes. */
  checkScopes(options: { thenSetup?: boolean } = {}): Promise<ScopeCheck> {
    return this.#standing.checkScopes(options);
  }

  /** A context for one-off vendor calls outside the queue (the command line): the same shared rate budget. */
  executionContext(): ExecutionContext {
    return this.#context();
  }

  /** Runs the connector's setup; a failure blocks dispatch with the reason (operations stay queued). */
  runSetup(): Promise<{ ok: true; actions: string[] } | { ok: false; reason: string }> {
    return this.#standing.runSetup();
  }

  /** An admin paused or resumed this connector: read the pause state again now, not within a second. */
  pauseChanged(): void {
    this.#standing.pauseChanged();
    this.wake();
  }

  /** New operations were queued: look now rather than at the next poll. */
  wake(): void {
    this.#wakeUp?.();
  }

  /** Stops dispatch with a reason (missing scopes, revoked credentials); operations stay queued. */
  block(reason: string): void {
    this.#standing.block(reason);
  }

  unblock(): void {
    this.#standing.unblock();
  }

  /** The latest scope check (start, reload, the periodic recheck), for the dashboard. */
  get lastScopeCheck(): { at: number; check: ScopeCheck } | undefined {
    return this.#standing.lastScopeCheck;
  }

  /** Whether dispatch is paused by an admin, as last read. */
  get paused(): boolean {
    return this.#standing.paused;
  }

  async #sleep(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      timer.unref?.();
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wakeUp = done;
    });
    this.#wakeUp = undefined;
  }

  async #run(): Promise<void> {
    const { concurrency } = this.connector.tuning;
    let lastSweep = 0;
    let lastHeal = 0;
    while (this.#running) {
      try {
        if (this.#standing.blockedReason !== undefined || (await this.#standing.pausedByAdmin())) {
          await this.#sleep(this.#options.pollIntervalMs * 4);
          continue;
        }
        const now = Date.now();
        if (now - lastSweep > Math.min(this.#options.leaseMs / 2, 5_000)) {
          lastSweep = now;
          const released = await releaseExpiredLeases(this.#store.db, now);
          if (released > 0) this.#log.warn({ released }, 'took back operations whose lease expired (a worker stopped mid-way)');
        }
        if (now - lastHeal >= HEAL_BUSY_KEYS_INTERVAL_MS) {
          lastHeal = now;
          const healed = await healBusyKeys(this.#store.db, now);
          if (healed > 0) this.#log.warn({ healed }, 'put right ordering keys left busy with nothing in flight (an older release or a hand edit finished their operations)');
        }
        // While the vendor asked us to wait, claim nothing: the work would only sit leased.
        const pausedUntil = await this.#budget.pausedUntil(this.id);
        if (pausedUntil > now) {
          await this.#sleep(Math.min(pausedUntil - now, this.#options.pollIntervalMs * 4));
          continue;
        }
        // Keep at most one batch waiting per slot: claimed work should not sit in a queue.
        if (this.#queue.size >= concurrency) {
          await Promise.race([this.#queue.onSizeLessThan(concurrency), this.#sleep(this.#options.pollIntervalMs)]);
          continue;
        }
        // Background work is claimed only while a background slot is free and none waits for one.
        const backgroundFull = this.#background.pending + this.#background.size >= this.#backgroundSlots;
        const operations = await claimOperations(this.#store, this.id, this.#options.workerId, {
          limit: this.#options.claimBatch,
          leaseMs: this.#options.leaseMs,
          now,
          runLength: this.connector.metadata.maxRun ?? 1,
          backgroundLimit: backgroundFull ? 0 : this.#options.claimBatch,
        });
        if (operations.length === 0) {
          await this.#sleep(this.#options.pollIntervalMs);
          continue;
        }
        for (const op of operations) this.#inFlight.add(op.id);
        for (const batch of this.#batches(operations)) {
          const background = isBackground(batch);
          // With one shared slot, live batches go ahead of background ones waiting for it.
          const run = () => this.#queue.add(() => this.#runBatch(batch, background), { priority: background ? 0 : 1 });
          const runBackground = () => (this.#backgroundRunsBeside ? this.#runBatch(batch, true) : run());
          // A background slot frees only once its batch is settled: claim again then (the batch's own
          // wake came while the slot was still taken, and would have found no room for background work).
          void (background ? this.#background.add(runBackground).finally(() => this.wake()) : run()).catch((error: unknown) => {
            this.#log.error({ err: errorMessage(error) }, 'batch settlement failed; leases will expire and the operations run again');
          });
        }
      } catch (error) {
        this.#log.error({ err: errorMessage(error) }, 'dispatch loop error; retrying');
        await this.#sleep(this.#options.pollIntervalMs * 4);
      }
    }
  }

  /** Runs of one key (more than one of its operations claimed) stay whole and in order; single heads are grouped by kind up to `maxBatch`. */
  #batches(operations: readonly OutboxOperation[]): OutboxOperation[][] {
    const byKey = new Map<string, OutboxOperation[]>();
    for (const op of operations) byKey.set(op.orderingKey, [...(byKey.get(op.orderingKey) ?? []), op]);
    const batches: OutboxOperation[][] = [];
    const byKind = new Map<string, OutboxOperation[]>();
    // A connector writing runs in segments takes every run of a lane in one batch: segments of one
    // kind from several keys share a vendor call (see writeInSegments).
    const sharedRuns = new Map<number, OutboxOperation[]>();
    for (const ops of byKey.values()) {
      ops.sort((a, b) => a.id - b.id);
      if (ops.length > 1 && this.connector.metadata.runsInSegments) {
        const lane = laneOf(ops[0]!.orderingKey);
        sharedRuns.set(lane, [...(sharedRuns.get(lane) ?? []), ...ops]);
      } else if (ops.length > 1) batches.push(ops);
      else byKind.set(ops[0]!.kind, [...(byKind.get(ops[0]!.kind) ?? []), ops[0]!]);
    }
    batches.push(...sharedRuns.values());
    for (const [kind, ops] of byKind) {
      const size = Math.max(1, this.connector.metadata.maxBatch[kind] ?? 1);
      // Live work rides in the first batch of its kind, background work fills the rest.
      const ordered = [...ops].sort((a, b) => laneOf(a.orderingKey) - laneOf(b.orderingKey));
      for (let i = 0; i < ordered.length; i += size) batches.push(ordered.slice(i, i + size));
    }
    // Batches with live work go first into the queue.
    return batches.sort((a, b) => Math.min(...a.map((op) => laneOf(op.orderingKey))) - Math.min(...b.map((op) => laneOf(op.orderingKey))));
  }

  #context(background = false): ExecutionContext {
    return executionContext({ connector: this.connector, store: this.#store, budget: this.#budget, log: this.#log, metrics: this.#metrics, signal: this.#abort.signal, stopping: this.#stopping.signal }, background);
  }

  async #runBatch(batch: readonly OutboxOperation[], background: boolean): Promise<void> {
    const context = this.#context(background);
    const outcomes = new Map<number, OperationOutcome>();
    let toRun: OutboxOperation[] = [];
    // A run is one key's operations in order: nothing of a key after a failure may be sent.
    const perKey = new Map<string, number>();
    for (const op of batch) perKey.set(op.orderingKey, (perKey.get(op.orderingKey) ?? 0) + 1);
    const failedKeys = new Set<string>();
    for (const op of batch) {
      if (failedKeys.has(op.orderingKey)) {
        outcomes.set(op.id, { ok: false, error: new NotAttemptedError() });
        continue;
      }
      if (op.attempts <= 1) {
        toRun.push(op);
        continue;
      }
      // An earlier attempt may have reached the vendor before we lost track of it.
      try {
        const found = await this.connector.reconcile(op, context);
        if (found) outcomes.set(op.id, found);
        else toRun.push(op);
      } catch (error) {
        outcomes.set(op.id, { ok: false, error: asSyncError(error) });
        if (perKey.get(op.orderingKey)! > 1) failedKeys.add(op.orderingKey);
      }
    }
    if (failedKeys.size > 0) {
      // Those of a failed key before its failure that needed no reconcile were not sent either.
      for (const op of toRun) if (failedKeys.has(op.orderingKey)) outcomes.set(op.id, { ok: false, error: new NotAttemptedError() });
      toRun = toRun.filter((op) => !failedKeys.has(op.orderingKey));
    }
    if (toRun.length > 0) {
      try {
        const results = await this.connector.execute(toRun, context);
        if (results.length !== toRun.length) {
          throw new SyncError(`connector returned ${results.length} outcomes for ${toRun.length} operations`, { retryable: true });
        }
        // A run written in segments reports a later segment interrupted by stopping (its wait for
        // rate budget aborted) as a failure, not a throw: handed back the same, no attempt used.
        const stopped = this.#stopping.signal.aborted ? new StoppedError() : undefined;
        toRun.forEach((op, i) => {
          const outcome = results[i]!;
          outcomes.set(op.id, stopped && !outcome.ok ? { ok: false, error: stopped } : outcome);
        });
      } catch (error) {
        // Stopping interrupted the wait for rate budget: hand the work back, no attempt used.
        const failure = this.#stopping.signal.aborted ? new StoppedError() : asSyncError(error);
        for (const op of toRun) outcomes.set(op.id, { ok: false, error: failure });
      }
    }
    await this.#settle(batch, outcomes);
    // The keys just settled may be ready again (the next of a run): claim now, not at the next poll.
    this.wake();
  }

  async #settle(batch: readonly OutboxOperation[], outcomes: ReadonlyMap<number, OperationOutcome>): Promise<void> {
    const now = Date.now();
    const workerId = this.#options.workerId;
    const { backoffBaseMs, backoffMaxMs } = this.connector.tuning;
    let pauseUntil = 0;
    let credentialProblem: string | undefined;
    try {
      const settled = settleBatch(batch, outcomes, { baseMs: backoffBaseMs, maxMs: backoffMaxMs }, now);
      ({ pauseUntil, credentialProblem } = settled);
      const { settlements } = settled;
      await this.#store.db.transaction().execute(async (tx) => {
        const done: Array<{ id: number; result: JsonValue | undefined }> = [];
        const effects: OperationEffect[] = [];
        // Keys are refreshed once, sorted, after every operation is settled: a transaction that
        // locked them one by one in batch order could deadlock with another on PostgreSQL.
        const touched: OrderingKeyRef[] = [];
        for (const { op, settlement } of settlements) {
          switch (settlement.kind) {
            case 'done':
              done.push({ id: op.id, result: settlement.result });
              effects.push(...settlement.effects);
              break;
            case 'defer':
              await deferOperation(tx, workerId, op.id, settlement.untilMs, now, touched);
              if (settlement.reason !== undefined) this.#log.info({ operationId: op.id, kind: op.kind, waitMs: settlement.untilMs - now, reason: settlement.reason }, 'operation waits before running again');
              break;
            case 'retry':
              await failOperation(tx, workerId, op.id, settlement.error, settlement.atMs, now, touched);
              this.#log.warn({ operationId: op.id, kind: op.kind, attempts: op.attempts, retryInMs: settlement.atMs - now, err: settlement.message }, 'operation failed; will retry');
              break;
            case 'dead':
              await failOperation(tx, workerId, op.id, settlement.error, null, now, touched);
              this.#log.error({ operationId: op.id, kind: op.kind, attempts: op.attempts, err: settlement.message }, 'operation dead; replay it once the cause is fixed');
              this.#metrics?.operationLatency.observe({ connector: this.id, outcome: 'dead' }, (now - op.createdAt) / 1000);
              break;
          }
        }
        const completed = await completeOperations(tx, workerId, done, now, touched);
        await refreshOrderingKeys(tx, touched, now);
        if (completed.length < done.length) {
          this.#log.warn({ lost: done.length - completed.length }, 'lease lost before completion; another worker took these operations over');
        }
        if (effects.length > 0) await this.#applyEffects(tx, effects, now);
        for (const op of batch) {
          if (completed.includes(op.id)) this.#metrics?.operationLatency.observe({ connector: this.id, outcome: 'done' }, (now - op.createdAt) / 1000);
        }
      });
    } finally {
      // Settled or not, these are no longer ours to keep alive: had the transaction failed (a
      // deadlock, a lost connection), renewing their leases would keep them in flight, and their
      // keys busy, until this process exits; let the leases run out and the sweep take them back.
      for (const op of batch) this.#inFlight.delete(op.id);
    }
    if (pauseUntil > now) {
      await this.#budget.pauseUntil(this.id, pauseUntil);
      // Room this instance reserved ahead would let it keep calling through the pause.
      await this.#budget.releaseBlocks(this.id);
      this.#log.warn({ pauseMs: pauseUntil - now }, 'vendor asked us to slow down; pausing this connector');
    }
    if (credentialProblem !== undefined) this.block(credentialProblem);
  }
}

/** A batch of background work only (an imported history): a batch with any live operation is live. */
function isBackground(batch: readonly OutboxOperation[]): boolean {
  return batch.every((op) => laneOf(op.orderingKey) === 1);
}
