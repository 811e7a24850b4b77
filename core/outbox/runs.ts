// Runs of one ordering key, cut into what a vendor writes in one call. A connector that batches
// by kind (one endpoint per kind of record) gets a run that mixes kinds (a contact, its
// messages, their statuses, a file...); it writes the run as consecutive segments of one kind,
// in queue order, and stops at the first segment that does not fully succeed, so nothing of a
// key is written before an earlier operation of that key that failed.
import type { OperationOutcome } from '../connector.js';
import { NotAttemptedError, SyncError, asSyncError } from '../errors.js';
import type { OutboxOperation } from './queries.js';

export interface RunSegmentRules {
  /** Largest segment per kind (what one vendor call takes); kinds not listed go one at a time. */
  readonly maxSegment: Readonly<Record<string, number>>;
  /**
   * The vendor record an operation writes, where one call cannot carry two writes of the same
   * record (a batch endpoint refuses an input list naming one id twice): a segment ends before a
   * second operation of a record it already holds. Undefined for an operation: no such limit.
   */
  readonly recordOf?: (operation: OutboxOperation) => string | undefined;
}

/** Writes one segment (operations of one kind) and returns an outcome per operation, in order. */
export type SegmentWriter = (segment: readonly OutboxOperation[]) => Promise<OperationOutcome[]>;

/** Whether the operations are one key's run (several operations of one ordering key) rather than heads of several keys. */
export function isRun(operations: readonly OutboxOperation[]): boolean {
  return operations.length > 1 && operations.every((op) => op.orderingKey === operations[0]!.orderingKey);
}

/** Cuts a run into consecutive segments of one kind, in order, each within the rules. */
export function runSegments(operations: readonly OutboxOperation[], rules: RunSegmentRules): OutboxOperation[][] {
  const segments: OutboxOperation[][] = [];
  let current: OutboxOperation[] = [];
  let records = new Set<string>();
  for (const op of operations) {
    const record = rules.recordOf?.(op);
    const head = current[0];
    const full = head !== undefined && current.length >= Math.max(1, rules.maxSegment[head.kind] ?? 1);
    if (head !== undefined && (head.kind !== op.kind || full || (record !== undefined && records.has(record)))) {
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

/**
 * Writes `operations` through `write`: heads of several keys (one kind, already sized by the
 * dispatcher) in one call as they are; one key's run segment by segment, in order. After a
 * segment with any failure (or a deferral), every later operation comes back NotAttemptedError:
 * the dispatcher puts those back unattempted, behind the failed one, which is now its key's head.
 * A segment whose write throws fails as a whole, except the first: its error is thrown on, as a
 * connector's would be without runs (nothing of the run was written).
 */
export async function writeInSegments(operations: readonly OutboxOperation[], rules: RunSegmentRules, write: SegmentWriter): Promise<OperationOutcome[]> {
  if (!isRun(operations)) return write(operations);
  const outcomes: OperationOutcome[] = [];
  for (const segment of runSegments(operations, rules)) {
    if (outcomes.some((o) => !o.ok)) {
      outcomes.push(...segment.map(() => ({ ok: false as const, error: new NotAttemptedError() })));
      continue;
    }
    let written: OperationOutcome[];
    try {
      written = await write(segment);
    } catch (error) {
      if (outcomes.length === 0) throw error;
      const failure = asSyncError(error);
      written = segment.map(() => ({ ok: false, error: failure }));
    }
    if (written.length !== segment.length) {
      const failure = new SyncError(`connector returned ${written.length} outcomes for a segment of ${segment.length} operations`, { retryable: true });
      written = segment.map(() => ({ ok: false, error: failure }));
    }
    outcomes.push(...written);
  }
  return outcomes;
}
