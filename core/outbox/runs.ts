// Runs of ordering keys, cut into what a vendor writes in one call. A connector that batches by
// kind (one endpoint per kind of record) gets runs that mix kinds (a contact, its messages, their
// statuses, a file...). Each key's run is cut into consecutive same-kind segments, in queue
// order; segments are written in waves (every key's next segment at once, segments of one kind
// sharing a call), and a key whose segment did not fully succeed writes nothing more, so nothing
// of a key is written before an earlier operation of that key that failed.
import type { OperationOutcome } from '../connector.js';
import { NotAttemptedError, SyncError, asSyncError } from '../errors.js';
import type { OutboxOperation } from './queries.js';

export interface RunSegmentRules {
  /** Largest segment, and call, per kind (what one vendor call takes); kinds not listed go one at a time. */
  readonly maxSegment: Readonly<Record<string, number>>;
  /**
   * The vendor record an operation writes, where one call cannot carry two writes of the same
   * record (a batch endpoint refuses an input list naming one id twice): a segment or call ends
   * before a second operation of a record it already holds. Undefined for an operation: no such limit.
   */
  readonly recordOf?: (operation: OutboxOperation) => string | undefined;
  /** Calls of one wave under way at once (the connector's concurrency). Default 4. */
  readonly parallelCalls?: number;
}

/** Writes one call's operations (all of one kind) and returns an outcome per operation, in order. */
export type SegmentWriter = (operations: readonly OutboxOperation[]) => Promise<OperationOutcome[]>;

/** Whether the operations are one key's run (several operations of one ordering key) rather than heads of several keys. */
export function isRun(operations: readonly OutboxOperation[]): boolean {
  return operations.length > 1 && operations.every((op) => op.orderingKey === operations[0]!.orderingKey);
}

function limitOf(rules: RunSegmentRules, kind: string): number {
  return Math.max(1, rules.maxSegment[kind] ?? 1);
}

/** Cuts one key's run into consecutive segments of one kind, in order, each within the rules. */
export function runSegments(operations: readonly OutboxOperation[], rules: RunSegmentRules): OutboxOperation[][] {
  const segments: OutboxOperation[][] = [];
  let current: OutboxOperation[] = [];
  let records = new Set<string>();
  for (const op of operations) {
    const record = rules.recordOf?.(op);
    const head = current[0];
    if (head !== undefined && (head.kind !== op.kind || current.length >= limitOf(rules, head.kind) || (record !== undefined && records.has(record)))) {
      segments.push(current);
      current = [];
      records = new Set();
    }
    current.push(op);
    if (record !== undefined) records.add(record);
  }
  if (current.length > 0) segments.push(current);
  return segments;
}

/** Packs segments of different keys into calls: one kind per call, within its size, each record once, a segment never split. */
function packCalls(segments: readonly OutboxOperation[][], rules: RunSegmentRules): OutboxOperation[][][] {
  const calls: Array<{ kind: string; segments: OutboxOperation[][]; size: number; records: Set<string> }> = [];
  for (const segment of segments) {
    const kind = segment[0]!.kind;
    const records = segment.map((op) => rules.recordOf?.(op)).filter((r): r is string => r !== undefined);
    const call = calls.find((c) => c.kind === kind && c.size + segment.length <= limitOf(rules, kind) && !records.some((r) => c.records.has(r)));
    if (call) {
      call.segments.push(segment);
      call.size += segment.length;
      for (const r of records) call.records.add(r);
    } else calls.push({ kind, segments: [segment], size: segment.length, records: new Set(records) });
  }
  return calls.map((c) => c.segments);
}

/** Runs `tasks` with at most `parallel` under way at once; results in task order. */
async function inParallel<T>(tasks: ReadonlyArray<() => Promise<T>>, parallel: number): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const index = next++;
      results[index] = await tasks[index]!();
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, tasks.length) }, worker));
  return results;
}

/**
 * Writes `operations` (heads of several keys, runs of several keys, or both) through `write`, and
 * returns an outcome per operation in the order given. Each wave writes every key's next
 * segment, segments of one kind sharing calls. After a segment with any failure (a deferral
 * included), the rest of that key comes back NotAttemptedError: the dispatcher puts it back
 * unattempted, behind the failed operation, which is now its key's head. A call that throws
 * fails its own operations; when everything went in that one call, the error is thrown on, as
 * the connector's write would throw it without runs.
 */
export async function writeInSegments(operations: readonly OutboxOperation[], rules: RunSegmentRules, write: SegmentWriter): Promise<OperationOutcome[]> {
  const byKey = new Map<string, OutboxOperation[]>();
  for (const op of operations) {
    const ops = byKey.get(op.orderingKey);
    if (ops) ops.push(op);
    else byKey.set(op.orderingKey, [op]);
  }
  const keys = [...byKey.values()].map((ops) => ({ segments: runSegments(ops, rules), next: 0, failed: false }));
  const firstWave = packCalls(keys.map((k) => k.segments[0]!), rules);
  // One call carries everything: the connector's own write, errors and all.
  if (keys.every((k) => k.segments.length === 1) && firstWave.length === 1) return write(operations);

  const outcomes = new Map<OutboxOperation, OperationOutcome>();
  for (;;) {
    const wave = keys.filter((k) => !k.failed && k.next < k.segments.length);
    if (wave.length === 0) break;
    const segments = wave.map((k) => k.segments[k.next++]!);
    const calls = packCalls(segments, rules);
    const written = await inParallel(
      calls.map((call) => async (): Promise<OperationOutcome[]> => {
        const ops = call.flat();
        try {
          const results = await write(ops);
          if (results.length === ops.length) return results;
          const failure = new SyncError(`connector returned ${results.length} outcomes for ${ops.length} operations`, { retryable: true });
          return ops.map(() => ({ ok: false, error: failure }));
        } catch (error) {
          const failure = asSyncError(error);
          return ops.map(() => ({ ok: false, error: failure }));
        }
      }),
      rules.parallelCalls ?? 4,
    );
    calls.forEach((call, i) => call.flat().forEach((op, j) => outcomes.set(op, written[i]![j]!)));
    wave.forEach((key, i) => {
      if (segments[i]!.some((op) => !outcomes.get(op)!.ok)) key.failed = true;
    });
  }
  return operations.map((op) => outcomes.get(op) ?? { ok: false, error: new NotAttemptedError() });
}
