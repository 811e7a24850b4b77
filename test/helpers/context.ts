// An ExecutionContext for connector unit tests: no rate budget, refs kept in memory.
import type { ExecutionContext, ThreadMessage } from '../../core/connector.js';
import type { JsonValue } from '../../core/model/types.js';
import type { OutboxOperation } from '../../core/outbox/queries.js';
import { silentLogger } from '../../core/logger.js';

export function testContext(): ExecutionContext & {
  calls: number[];
  refs: Map<string, string>;
  /** How many refs each setRefs call wrote. */
  refWrites: number[];
  threads: Map<string, ThreadMessage[]>;
  quota: Array<[number, number]>;
  /** When each contact last wrote (tests set it to open or close the customer service window). */
  lastInbound: Map<string, number>;
} {
  const lastInbound = new Map<string, number>();
  const refs = new Map<string, string>();
  const refWrites: number[] = [];
  const calls: number[] = [];
  const threads = new Map<string, ThreadMessage[]>();
  const quota: Array<[number, number]> = [];
  return {
    threadMessages: async (threadId) => threads.get(threadId) ?? [],
    reportQuota: (remaining, max) => void quota.push([remaining, max]),
    threads,
    quota,
    lastInbound,
    lastInboundAt: async (contactId) => lastInbound.get(contactId),
    log: silentLogger(),
    signal: new AbortController().signal,
    throttle: async () => ({ settle: async () => {} }),
    recordVendorCall: (status) => calls.push(status),
    getRef: async (kind, id) => refs.get(`${kind}:${id}`),
    setRef: async (kind, id, external) => void refs.set(`${kind}:${id}`, external),
    setRefs: async (list) => {
      refWrites.push(list.length);
      for (const r of list) refs.set(`${r.kind}:${r.localId}`, r.externalId);
    },
    refWrites,
    calls,
    refs,
  };
}

let nextOperationId = 1;

/** An operation as the dispatcher hands it to a connector: claimed, leased, on its first attempt unless told. */
export function claimedOperation(connector: string, kind: string, payload: Record<string, unknown>, options: { attempts?: number; orderingKey?: string } = {}): OutboxOperation {
  const id = nextOperationId++;
  return {
    id,
    idempotencyKey: `${connector}:${kind}:${id}`,
    connector,
    kind,
    orderingKey: options.orderingKey ?? 'k',
    payload: payload as JsonValue,
    state: 'in_flight',
    runAt: 0,
    attempts: options.attempts ?? 1,
    maxAttempts: 5,
    lastError: null,
    result: null,
    createdAt: 0,
  };
}
