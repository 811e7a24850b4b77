// An ExecutionContext for connector unit tests: no rate budget, refs kept in memory.
import type { ExecutionContext, ThreadMessage } from '../../core/connector.js';
import { silentLogger } from '../../core/logger.js';

export function testContext(): ExecutionContext & { calls: number[]; refs: Map<string, string>; threads: Map<string, ThreadMessage[]>; quota: Array<[number, number]> } {
  const refs = new Map<string, string>();
  const calls: number[] = [];
  const threads = new Map<string, ThreadMessage[]>();
  const quota: Array<[number, number]> = [];
  return {
    threadMessages: async (threadId) => threads.get(threadId) ?? [],
    reportQuota: (remaining, max) => void quota.push([remaining, max]),
    threads,
    quota,
    log: silentLogger(),
    signal: new AbortController().signal,
    throttle: async () => ({ settle: async () => {} }),
    recordVendorCall: (status) => calls.push(status),
    getRef: async (kind, id) => refs.get(`${kind}:${id}`),
    setRef: async (kind, id, external) => void refs.set(`${kind}:${id}`, external),
    calls,
    refs,
  };
}
