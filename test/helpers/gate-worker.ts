// A second thread on one SQLite store, joined to the main thread's write gate as the yielding side
// (as the processing thread is): used by test/core/thread-gate.test.ts.
import { parentPort, workerData } from 'node:worker_threads';
import { openStore } from '../../core/store/store.js';

interface GateWorkerData {
  readonly url: string;
  readonly buffer: SharedArrayBuffer;
  /** hold: transactions that keep the store for holdMs each; turns: short transactions, counted. */
  readonly mode: 'hold' | 'turns';
  readonly holdMs: number;
  /** Without the gate: what the threads did before it (SQLite's own lock and busy handler only). */
  readonly gated: boolean;
}

const data = workerData as GateWorkerData;
const store = await openStore(data.url, data.gated ? { threadGate: { buffer: data.buffer, role: 'yielding' } } : {});
const port = parentPort!;
let running = true;
let turns = 0;
port.on('message', (message: string) => {
  if (message === 'stop') running = false;
});
port.postMessage({ type: 'ready' });
while (running) {
  await store.db.transaction().execute(async (tx) => {
    await tx.insertInto('account_events').values({ field: 'gate-test', account_id: 'worker', at: Date.now(), raw: '{}', received_at: Date.now() }).execute();
    if (data.mode === 'hold') {
      port.postMessage({ type: 'holding' });
      const until = Date.now() + data.holdMs;
      while (Date.now() < until) {
        // Busy, as processing is: the turn is CPU work inside one transaction.
      }
    }
  });
  turns++;
  if (data.mode === 'turns') port.postMessage({ type: 'turn', turns });
  // A pause between held turns, so that SQLite's busy handler (ungated) can find the lock free.
  await new Promise((resolve) => (data.mode === 'hold' ? setTimeout(resolve, 50) : setImmediate(resolve)));
}
await store.close();
port.postMessage({ type: 'stopped', turns });
