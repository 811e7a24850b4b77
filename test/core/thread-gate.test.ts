// The SQLite write gate between the thread acknowledging webhooks (priority) and the processing
// thread (yielding), core/store/thread-gate.ts. Without it, the acknowledging thread's insert
// waited in SQLite's busy handler, which sleeps the whole thread: no request is read meanwhile.
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../../core/store/store.js';
import { newThreadGateBuffer, ThreadGate, watchYieldingTurns } from '../../core/store/thread-gate.js';
import { freshStoreUrl } from '../helpers/stores.js';

type FromWorker = { type: 'ready' } | { type: 'holding' } | { type: 'turn'; turns: number } | { type: 'stopped'; turns: number };

/** The gate worker under tsx, as processing-thread.ts starts its worker from source. */
function startWorker(data: { url: string; buffer: SharedArrayBuffer; mode: 'hold' | 'turns'; holdMs: number; gated: boolean }): Worker {
  const source = new URL('../helpers/gate-worker.ts', import.meta.url).href;
  const tsx = import.meta.resolve('tsx/esm/api');
  return new Worker(`import(${JSON.stringify(tsx)}).then(({ register }) => { register(); return import(${JSON.stringify(source)}); });`, { eval: true, workerData: data });
}

function next(worker: Worker, type: FromWorker['type']): Promise<FromWorker> {
  return new Promise((resolve) => {
    const on = (message: FromWorker) => {
      if (message.type !== type) return;
      worker.off('message', on);
      resolve(message);
    };
    worker.on('message', on);
  });
}

const insert = (store: Store) => store.db.insertInto('account_events').values({ field: 'gate-test', account_id: 'main', at: Date.now(), raw: '{}', received_at: Date.now() }).execute();

describe('SQLite write gate between the service threads', () => {
  let worker: Worker | undefined;
  let store: Store | undefined;
  afterEach(async () => {
    await worker?.terminate();
    worker = undefined;
    await store?.close();
    store = undefined;
  });

  async function setUp(mode: 'hold' | 'turns', gated: boolean, holdMs = 300) {
    const { url } = freshStoreUrl('sqlite');
    const buffer = newThreadGateBuffer();
    store = await openStore(url, gated ? { threadGate: { buffer, role: 'priority' } } : {});
    worker = startWorker({ url, buffer, mode, holdMs, gated });
    await next(worker, 'ready');
    return { buffer };
  }

  /** How often a 1 ms timer fired while the main thread's insert waited for the worker's turn, and how long it waited. */
  async function insertWhileWorkerHolds(): Promise<{ ticks: number; waitedMs: number }> {
    await next(worker!, 'holding');
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const started = performance.now();
    await insert(store!);
    const waitedMs = performance.now() - started;
    clearInterval(timer);
    return { ticks, waitedMs };
  }

  it("keeps the acknowledging thread's event loop running while processing holds the store", { timeout: 30_000 }, async () => {
    await setUp('hold', true);
    const { ticks, waitedMs } = await insertWhileWorkerHolds();
    // It did wait for the worker's turn (the two really contended) ...
    expect(waitedMs).toBeGreaterThan(50);
    // ... and its timers ran meanwhile: it waited without blocking.
    expect(ticks).toBeGreaterThan(3);
  });

  it('shows what the gate prevents: without it the same insert stops the event loop', { timeout: 30_000 }, async () => {
    await setUp('hold', false);
    const { ticks, waitedMs } = await insertWhileWorkerHolds();
    expect(waitedMs).toBeGreaterThan(50);
    expect(ticks).toBe(0);
  });

  it('lets processing take turns while webhooks are committed back to back (it is never starved)', { timeout: 30_000 }, async () => {
    await setUp('turns', true);
    let turns = 0;
    worker!.on('message', (message: FromWorker) => {
      if (message.type === 'turn') turns = message.turns;
    });
    const before = turns;
    // The priority thread commits without a gap for a second: no quiet moment for the worker.
    const until = Date.now() + 1000;
    let commits = 0;
    while (Date.now() < until) {
      await insert(store!);
      commits++;
    }
    expect(commits).toBeGreaterThan(50);
    // Forced turns (one per 100 ms of waiting at most) still come.
    expect(turns - before).toBeGreaterThanOrEqual(3);
  });

  it('frees a gate left held by a processing thread that was terminated in its turn', { timeout: 30_000 }, async () => {
    const { buffer } = await setUp('hold', true, 60_000);
    await next(worker!, 'holding');
    await worker!.terminate();
    worker = undefined;
    ThreadGate.releaseAbandoned(buffer);
    const inserted = await Promise.race([insert(store!).then(() => 'inserted'), new Promise((resolve) => setTimeout(() => resolve('still waiting'), 5000))]);
    expect(inserted).toBe('inserted');
  });

  it('reports a processing thread stuck in one turn, so it can be ended and webhooks stored again', { timeout: 30_000 }, async () => {
    // The worker holds its transaction for a minute: as good as for ever here.
    const { buffer } = await setUp('hold', true, 60_000);
    await next(worker!, 'holding');
    const stuck = new Promise<number>((resolve) => {
      const stop = watchYieldingTurns(buffer, { limitMs: 400, everyMs: 50, onStuck: (heldMs) => (stop(), resolve(heldMs)) });
    });
    const waiting = insert(store!).then(() => 'inserted');
    const heldMs = await stuck;
    expect(heldMs).toBeGreaterThanOrEqual(400);
    expect(ThreadGate.yieldingTurn(buffer)).toBeDefined();
    // What the processing thread's owner does when told (server/processing-thread.ts).
    await worker!.terminate();
    worker = undefined;
    ThreadGate.releaseAbandoned(buffer);
    expect(ThreadGate.yieldingTurn(buffer)).toBeUndefined();
    expect(await Promise.race([waiting, new Promise((resolve) => setTimeout(() => resolve('still waiting'), 5000))])).toBe('inserted');
  });

  it('leaves a processing thread that takes short turns alone', { timeout: 30_000 }, async () => {
    const { buffer } = await setUp('turns', true);
    let reported = false;
    const stop = watchYieldingTurns(buffer, { limitMs: 400, everyMs: 20, onStuck: () => (reported = true) });
    const until = Date.now() + 1500;
    while (Date.now() < until) await insert(store!);
    stop();
    expect(reported).toBe(false);
  });
});
