// Operations declared as data: a connector lists its operation kinds, each with a zod schema of
// its payload, its batch size, its rate buckets and a handler, and gets `execute`, `reconcile` and
// `maxBatch` from the table. Payloads reach the handler parsed (never cast); outcomes are ordered
// and assembled here, once, for every connector.
import type { z } from 'zod';
import type { ExecutionContext, OperationEffect, OperationOutcome, RateSlot } from './connector.js';
import { InvalidPayloadError, NotAttemptedError, SyncError, asSyncError } from './errors.js';
import type { JsonValue } from './model/types.js';
import type { OutboxOperation } from './outbox/queries.js';
import { writeInSegments, type RunSegmentRules } from './outbox/runs.js';

/** An outbox operation whose payload its kind's schema has parsed. */
export type DeclaredOperation<Payload> = Omit<OutboxOperation, 'payload'> & { readonly payload: Payload };

/** What a handler returns when the operation is done: its vendor result and its effects on our model, both optional. */
export interface OperationDone {
  /** Stored on the operation (e.g. the vendor's record id). */
  readonly result?: JsonValue;
  readonly effects?: readonly OperationEffect[];
}

/**
 * A handler's context: the connector's execution context, whose `throttle` without a bucket
 * counts against the kind's declared `rateBuckets`.
 */
export type OperationContext = ExecutionContext;

interface KindBase<Payload> {
  /** The operation kind as stored in the outbox (`contact.forward`). */
  readonly kind: string;
  /** What a payload of this kind must be; one that is not is dead with the schema's reason, never run. */
  readonly payload: z.ZodType<Payload>;
  /** Largest batch of this kind's operations in one call (heads of their keys); absent: one at a time. */
  readonly batchSize?: number;
  /** Endpoint limits each request of this kind counts against, on top of the connector's own (see DispatchTuning.bucketRateLimits). */
  readonly rateBuckets?: readonly string[];
  /**
   * The vendor record a payload writes, where one vendor call cannot carry two writes of one
   * record (a batch endpoint refusing an input list that names an id twice): a call ends before
   * a second operation of a record it holds. Absent: no such limit. See RunSegmentRules.recordOf.
   */
  recordOf?(payload: Payload): string | undefined;
  /**
   * Called before running again an operation that may already have reached the vendor: looks
   * the record up. An outcome means the work is done; undefined means run it. Absent where the
   * vendor offers no lookup: the operation simply runs again.
   */
  reconcile?(operation: DeclaredOperation<Payload>, context: OperationContext): Promise<OperationOutcome | undefined>;
}

/**
 * One operation at a time: throws a typed error (SyncError) to fail, returns what it did
 * otherwise. One key's operations run one after another; the heads of different keys in one
 * call run side by side.
 */
interface SingleKind<Payload> extends KindBase<Payload> {
  handle(operation: DeclaredOperation<Payload>, context: OperationContext): Promise<OperationDone | void>;
  /**
   * The heads of different keys in one call run one after another too, in the call's order,
   * instead of side by side: for a vendor whose per-record limits would only queue a burst of
   * parallel requests (each waiting for its own record's budget) behind one another anyway.
   */
  readonly oneAtATime?: boolean;
  readonly handleBatch?: never;
}

/** Several of one kind in one vendor call: returns one outcome per operation, in their order. */
interface BatchKind<Payload> extends KindBase<Payload> {
  handleBatch(operations: readonly DeclaredOperation<Payload>[], context: OperationContext): Promise<readonly OperationOutcome[]>;
  readonly handle?: never;
}

export type OperationKindDeclaration<Payload> = SingleKind<Payload> | BatchKind<Payload>;

/** A declared kind with its payload type sealed inside: the table holds kinds of any payload. */
export interface OperationKind {
  readonly kind: string;
  readonly batchSize: number;
  readonly rateBuckets: readonly string[];
  /** Parses each payload and runs the valid ones; one outcome per operation, in order. */
  run(operations: readonly OutboxOperation[], context: ExecutionContext): Promise<OperationOutcome[]>;
  /** The record an operation writes (see recordOf of the declaration); undefined for an invalid payload. */
  recordOf(operation: OutboxOperation): string | undefined;
  reconcile(operation: OutboxOperation, context: ExecutionContext): Promise<OperationOutcome | undefined>;
}

/**
 * A prerequisite of an operation is not in place yet (the vendor record an earlier operation
 * writes): retried later, like any retryable failure, and a dead prerequisite's replay unblocks it.
 */
export class MissingPrerequisiteError extends SyncError {
  override readonly name = 'MissingPrerequisiteError';
  constructor(readonly what: string) {
    super(`${what} is not there yet (its operation failed or is dead: replay it)`, { retryable: true, code: 'missing_prerequisite' });
  }
}

/** `value` when it is there; otherwise throws MissingPrerequisiteError naming `what` (`the contact's HubSpot id`). */
export function requirePrerequisite<T>(value: T | null | undefined, what: string): T {
  if (value === null || value === undefined) throw new MissingPrerequisiteError(what);
  return value;
}

function schemaProblem(kind: string, error: z.ZodError): InvalidPayloadError {
  const issue = error.issues[0];
  const at = issue && issue.path.length > 0 ? issue.path.map(String).join('.') : '(payload)';
  return new InvalidPayloadError(`${kind} payload does not match its schema: ${at}: ${issue?.message ?? 'unknown shape'}${error.issues.length > 1 ? ` (and ${error.issues.length - 1} more)` : ''}`);
}

function withBuckets(context: ExecutionContext, buckets: readonly string[]): OperationContext {
  if (buckets.length === 0) return context;
  const throttle = (weight?: number, bucket?: string | readonly string[]): Promise<RateSlot> => context.throttle(weight, bucket ?? buckets);
  return Object.assign(Object.create(context) as ExecutionContext, { throttle });
}

/** Seals a declaration's payload type: the table runs it without knowing the type. */
export function declareKind<Payload>(declaration: OperationKindDeclaration<Payload>): OperationKind {
  const rateBuckets = declaration.rateBuckets ?? [];
  const parse = (op: OutboxOperation): { ok: true; op: DeclaredOperation<Payload> } | { ok: false; error: InvalidPayloadError } => {
    const parsed = declaration.payload.safeParse(op.payload);
    return parsed.success ? { ok: true, op: { ...op, payload: parsed.data } } : { ok: false, error: schemaProblem(op.kind, parsed.error) };
  };
  return {
    kind: declaration.kind,
    batchSize: declaration.batchSize ?? 1,
    rateBuckets,
    async run(operations, context) {
      const ctx = withBuckets(context, rateBuckets);
      const parsed = operations.map(parse);
      const outcomes: OperationOutcome[] = parsed.map((p) => (p.ok ? { ok: false, error: new NotAttemptedError() } : { ok: false, error: p.error }));
      if (declaration.handleBatch) {
        // A key whose operation is invalid sends nothing after it in this call: its later ones wait, not attempted.
        const stopped = new Set<string>();
        const valid = parsed.flatMap((p, index) => {
          const key = operations[index]!.orderingKey;
          if (!p.ok) stopped.add(key);
          return p.ok && !stopped.has(key) ? [{ index, op: p.op }] : [];
        });
        if (valid.length === 0) return outcomes;
        let results: readonly OperationOutcome[];
        try {
          results = await declaration.handleBatch(valid.map((v) => v.op), ctx);
        } catch (error) {
          const failure = asSyncError(error);
          results = valid.map(() => ({ ok: false, error: failure }));
        }
        if (results.length !== valid.length) {
          const failure = new SyncError(`${declaration.kind}: the handler returned ${results.length} outcomes for ${valid.length} operations`, { retryable: true });
          results = valid.map(() => ({ ok: false, error: failure }));
        }
        valid.forEach((v, i) => (outcomes[v.index] = results[i]!));
        return outcomes;
      }
      // One key's operations in order: after one fails (or is invalid), the rest of that key wait.
      // Different keys' operations do not wait for each other, unless the kind runs one at a time.
      const byKey = new Map<string, number[]>();
      for (const index of parsed.keys()) {
        const key = operations[index]!.orderingKey;
        const indexes = byKey.get(key);
        if (indexes) indexes.push(index);
        else byKey.set(key, [index]);
      }
      const runKey = async (indexes: readonly number[]): Promise<void> => {
        for (const index of indexes) {
          const p = parsed[index]!;
          if (!p.ok) return;
          try {
            const done = await declaration.handle(p.op, ctx);
            outcomes[index] = { ok: true, ...(done?.result !== undefined ? { result: done.result } : {}), ...(done?.effects ? { effects: done.effects } : {}) };
          } catch (error) {
            outcomes[index] = { ok: false, error: asSyncError(error) };
            return;
          }
        }
      };
      if (declaration.oneAtATime) {
        // In the call's order: operation by operation, skipping those of a key that already failed.
        const failed = new Set<string>();
        for (const index of parsed.keys()) {
          const key = operations[index]!.orderingKey;
          if (failed.has(key)) continue;
          await runKey([index]);
          if (!outcomes[index]!.ok) failed.add(key);
        }
      } else await Promise.all([...byKey.values()].map(runKey));
      return outcomes;
    },
    recordOf(operation) {
      if (!declaration.recordOf) return undefined;
      const parsed = parse(operation);
      return parsed.ok ? declaration.recordOf(parsed.op.payload) : undefined;
    },
    async reconcile(operation, context) {
      if (!declaration.reconcile) return undefined;
      const parsed = parse(operation);
      // An invalid payload is not looked up: running it reports it dead, with the schema's reason.
      if (!parsed.ok) return undefined;
      return declaration.reconcile(parsed.op, withBuckets(context, rateBuckets));
    },
  };
}

/**
 * How a table writes runs of several keys in one call (ConnectorMetadata.runsInSegments): with
 * `writeInSegments`, one vendor call per kind and wave, each kind's batch size the segment limit.
 */
export interface SegmentedWrites {
  /** Calls of one wave under way at once (the connector's concurrency). */
  readonly parallelCalls: number;
}

/**
 * A connector's operation kinds. `execute` takes a batch of one kind, or a run of one key's
 * consecutive operations of any kinds (ConnectorMetadata.maxRun), and keeps each key in order:
 * once one of a key's operations fails, the ones after it come back not attempted. With
 * `segmented`, it takes runs of several keys at once and writes them in segments (see
 * core/outbox/runs.ts).
 */
export class OperationTable {
  readonly #kinds = new Map<string, OperationKind>();
  readonly #segmented: SegmentedWrites | undefined;

  constructor(kinds: readonly OperationKind[], options: { readonly segmented?: SegmentedWrites } = {}) {
    this.#segmented = options.segmented;
    for (const kind of kinds) {
      if (this.#kinds.has(kind.kind)) throw new TypeError(`Expected each operation kind once, got \`${kind.kind}\` twice`);
      if (!Number.isInteger(kind.batchSize) || kind.batchSize < 1) throw new TypeError(`Expected \`batchSize\` of ${kind.kind} to be an integer >= 1, got ${kind.batchSize}`);
      this.#kinds.set(kind.kind, kind);
    }
  }

  get kinds(): string[] {
    return [...this.#kinds.keys()];
  }

  /** Largest batch per kind, for ConnectorMetadata.maxBatch. */
  get maxBatch(): Record<string, number> {
    return Object.fromEntries([...this.#kinds.values()].map((k) => [k.kind, k.batchSize]));
  }

  async execute(operations: readonly OutboxOperation[], context: ExecutionContext): Promise<OperationOutcome[]> {
    if (this.#segmented) {
      const rules: RunSegmentRules = { maxSegment: this.maxBatch, parallelCalls: this.#segmented.parallelCalls, recordOf: (op) => this.#kinds.get(op.kind)?.recordOf(op) };
      return writeInSegments(operations, rules, (segment) => this.#runKind(segment, context));
    }
    return this.#inOrder(operations, context);
  }

  /** One kind's operations through their declaration, or each refused when no kind of that name is declared. */
  #runKind(operations: readonly OutboxOperation[], context: ExecutionContext): Promise<OperationOutcome[]> {
    const name = operations[0]?.kind;
    const kind = name === undefined ? undefined : this.#kinds.get(name);
    if (kind) return kind.run(operations, context);
    return Promise.resolve(operations.map(() => ({ ok: false as const, error: new InvalidPayloadError(`no operation kind ${name} is declared by this connector (declared: ${this.kinds.join(', ')})`) })));
  }

  async #inOrder(operations: readonly OutboxOperation[], context: ExecutionContext): Promise<OperationOutcome[]> {
    const outcomes: OperationOutcome[] = new Array<OperationOutcome>(operations.length);
    const failedKeys = new Set<string>();
    // Consecutive operations of one kind go to their kind together (a batch, or a segment of a run).
    for (let start = 0; start < operations.length; ) {
      let end = start + 1;
      while (end < operations.length && operations[end]!.kind === operations[start]!.kind) end++;
      const segment = operations.slice(start, end).map((op, i) => ({ op, index: start + i }));
      start = end;
      const todo = segment.filter(({ op, index }) => {
        if (!failedKeys.has(op.orderingKey)) return true;
        outcomes[index] = { ok: false, error: new NotAttemptedError() };
        return false;
      });
      if (todo.length === 0) continue;
      const results = await this.#runKind(todo.map((t) => t.op), context);
      todo.forEach(({ op, index }, i) => {
        const outcome = results[i]!;
        outcomes[index] = outcome;
        if (!outcome.ok) failedKeys.add(op.orderingKey);
      });
    }
    return outcomes;
  }

  reconcile(operation: OutboxOperation, context: ExecutionContext): Promise<OperationOutcome | undefined> {
    return this.#kinds.get(operation.kind)?.reconcile(operation, context) ?? Promise.resolve(undefined);
  }
}
