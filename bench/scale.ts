// `npm run bench -- scale` (issue 17): one and then two service instances on one local
// PostgreSQL store drain the same outbox to a loopback endpoint with a fixed answer time and a
// configured rate limit. Prints the dispatch throughput ratio (2 instances / 1), the requests
// that went over the limit in any window (must be 0) and operations posted twice (must be 0).
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { enqueueOperations } from '../core/outbox/queries.js';
import { openStore } from '../core/store/store.js';
import { forwardedMessage } from '../test/helpers/forward-payload.js';
import { Recorder } from '../test/helpers/recorder.js';
import { baseConfig, freePort, ServiceProcess, writeConfig } from '../test/helpers/service-process.js';
import { freshStoreUrl, tempDir } from '../test/helpers/stores.js';

type Metric = (name: string, value: number, digits?: number) => void;

const CONTACTS = 300;
const PER_CONTACT = 10;
/** The endpoint's answer time: a vendor is not instant, so instances overlap their waits. */
const ANSWER_MS = 20;
const LIMIT = { requests: 300, intervalMs: 1000 };
const CONCURRENCY = 4;
const START_TIMEOUT_MS = 180_000;

interface ScaleRun {
  readonly opsPerSecond: number;
  readonly overLimit: number;
  readonly postedTwice: number;
  readonly outOfOrder: number;
}

/** Requests beyond the limit: for each request, those before it within one window, counted past the limit. */
function requestsOverLimit(stamps: readonly number[]): number {
  const sorted = [...stamps].sort((a, b) => a - b);
  let over = 0;
  for (let i = LIMIT.requests; i < sorted.length; i++) if (sorted[i]! - sorted[i - LIMIT.requests]! < LIMIT.intervalMs) over++;
  return over;
}

async function drainWith(instances: number, limited = true): Promise<ScaleRun> {
  const fresh = freshStoreUrl('postgres');
  const recorder = new Recorder();
  const recorderUrl = await recorder.start();
  recorder.delayMs = ANSWER_MS;
  const services: ServiceProcess[] = [];
  try {
    for (let i = 0; i < instances; i++) {
      const dir = tempDir('wa-crm-sync-bench-');
      const port = await freePort();
      const configPath = join(dir, `instance-${i}.yaml`);
      const config = baseConfig({ storeUrl: fresh.url, port, dir, recorderUrl });
      writeConfig(configPath, {
        ...config,
        log: { level: 'warn' },
        outbox: { leaseMs: 30_000, pollIntervalMs: 50, claimBatch: 200 },
        connectors: { webhook: { enabled: true, url: recorderUrl, timeoutMs: 5000, rateLimit: { concurrency: CONCURRENCY, ...(limited ? { requests: LIMIT.requests, intervalMs: LIMIT.intervalMs } : {}), maxAttempts: 50 } } },
      });
      services.push(new ServiceProcess(configPath, port));
    }
    // The first start migrates the store; the others find it ready. Generous: on a loaded machine
    // a start takes well over the tests' 20 s, and a bench that gives up prints nothing.
    await services[0]!.start(START_TIMEOUT_MS);
    await Promise.all(services.slice(1).map((s) => s.start(START_TIMEOUT_MS)));
    const store = await openStore(fresh.url);
    const total = CONTACTS * PER_CONTACT;
    const drafts = Array.from({ length: total }, (_, i) => {
      const contact = i % CONTACTS;
      const seq = Math.floor(i / CONTACTS);
      return { kind: 'message.forward', key: `scale.${contact}.${seq}`, orderingKey: `contact:${contact}`, payload: forwardedMessage(`wamid.scale.${contact}.${seq}`, 'bench', `c${contact}`) };
    });
    const started = Date.now();
    await enqueueOperations(store.db, 'webhook', drafts, { maxAttempts: 50, now: started });
    await store.close();
    while (recorder.posts.size < total) await new Promise((r) => setTimeout(r, 20));
    const first = Math.min(...recorder.events.map((e) => e.receivedAt));
    const last = Math.max(...recorder.events.map((e) => e.receivedAt));
    // A moment for any late duplicate to show.
    await new Promise((r) => setTimeout(r, 1000));
    let outOfOrder = 0;
    const lastSeq = new Map<string, number>();
    for (const event of recorder.events) {
      const [, , contact, seq] = String(event.data['messageId']).split('.');
      if ((lastSeq.get(contact!) ?? -1) > Number(seq)) outOfOrder++;
      lastSeq.set(contact!, Number(seq));
    }
    return {
      opsPerSecond: total / ((last - first) / 1000),
      overLimit: limited ? requestsOverLimit(recorder.events.map((e) => e.receivedAt)) : 0,
      postedTwice: [...recorder.posts.values()].filter((n) => n > 1).length,
      outOfOrder,
    };
  } finally {
    await Promise.all(services.map((s) => s.kill('SIGTERM')));
    await recorder.stop();
    await fresh.drop();
  }
}

export async function benchScale(metric: Metric): Promise<void> {
  const one = await drainWith(1);
  const two = await drainWith(2);
  metric('scale_vendor_limit_per_s', (LIMIT.requests * 1000) / LIMIT.intervalMs, 0);
  metric('scale_dispatch_ops_per_s_1_instance', one.opsPerSecond, 0);
  metric('scale_dispatch_ops_per_s_2_instances', two.opsPerSecond, 0);
  metric('scale_dispatch_throughput_ratio_2_vs_1', two.opsPerSecond / one.opsPerSecond);
  // What bounds the ratio: the vendor's limit caps two instances at limit / (one's rate), and on
  // this machine two service processes, PostgreSQL and the endpoint share these cores.
  metric('scale_ratio_ceiling_from_vendor_limit', Math.min(2, (LIMIT.requests * 1000) / LIMIT.intervalMs / one.opsPerSecond));
  metric('scale_cpu_cores', availableParallelism(), 0);
  metric('scale_requests_over_vendor_limit', one.overLimit + two.overLimit, 0);
  // Without a rate limit there is no shared budget to take per request (one store transaction
  // under a lock that every instance queues for): what the instances themselves can do.
  const oneFree = await drainWith(1, false);
  const twoFree = await drainWith(2, false);
  metric('scale_dispatch_ops_per_s_1_instance_no_limit', oneFree.opsPerSecond, 0);
  metric('scale_dispatch_ops_per_s_2_instances_no_limit', twoFree.opsPerSecond, 0);
  metric('scale_dispatch_throughput_ratio_2_vs_1_no_limit', twoFree.opsPerSecond / oneFree.opsPerSecond);
  metric('scale_operations_run_twice', one.postedTwice + two.postedTwice + oneFree.postedTwice + twoFree.postedTwice, 0);
  metric('scale_operations_out_of_order', one.outOfOrder + two.outOfOrder + oneFree.outOfOrder + twoFree.outOfOrder, 0);
}
