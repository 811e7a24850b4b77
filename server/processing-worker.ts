// The processing thread's body (see processing-thread.ts): its own store connection, engine and
// planning connectors, built from the config the main thread sends. It processes stored
// deliveries in short transactions until none are pending, then waits for a wake or the poll.
// On SQLite it first imports the webhooks the main thread acknowledged into its intake file.
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { deliveryParsers } from '../connectors/registry.js';
import type { Config } from '../core/config/schema.js';
import { Engine } from '../core/engine.js';
import { errorMessage } from '../core/errors.js';
import { createLogger } from '../core/logger.js';
import { Alerts } from '../core/security/alerts.js';
import { importIntake, IntakeReader } from '../core/store/intake.js';
import { openStore } from '../core/store/store.js';
import { alertOptions, buildConnectors, engineOptions } from './connectors.js';
import type { FromProcessing, ProcessingWorkerData, ToProcessing } from './processing-thread.js';

/** Deliveries per processing transaction: small, so the store's write lock is never held long (the main thread commits webhooks between them). */
const PROCESS_BATCH = 20;
/** Intake rows imported per transaction. */
const IMPORT_BATCH = 200;
/**
 * How often, at most, the import cursor is flushed to disk and reported, so the main thread may
 * delete the rows imported (a flush each time would be a flush per batch).
 */
const IMPORT_REPORT_MS = 200;

/**
 * The nice value of this thread alone (Linux applies setpriority to the calling thread): on a
 * busy machine the thread acknowledging webhooks gets the CPU first, and processing catches up
 * between bursts (it drained a 5 s burst at 1,000 req/s within 1.6 s of its end on a quiet machine).
 */
const PROCESSING_NICE = 10;

const port = parentPort!;
const post = (message: FromProcessing) => port.postMessage(message);

try {
  setPriority(PROCESSING_NICE);
} catch {
  // Not permitted or not supported here: processing runs at the service's priority.
}

let config = (workerData as ProcessingWorkerData).config;
const log = createLogger({ level: config.log.level, destination: { write: (line: string) => post({ type: 'log', line }) } });
let connectors = buildConnectors(config, log);
let running = true;
let wake: (() => void) | undefined;
/** A wake that came while a batch ran: the next wait is skipped, so a delivery stored meanwhile is not left to the poll. */
let wokenDuringBatch = false;

port.on('message', (message: ToProcessing) => {
  if (message.type === 'config') {
    config = message.config;
    log.level = config.log.level;
    connectors = buildConnectors(config, log);
    post({ type: 'configured' });
  } else if (message.type === 'stop') running = false;
  wokenDuringBatch = true;
  wake?.();
});

const store = await openStore(config.store.url, { threadGate: { buffer: (workerData as ProcessingWorkerData).storeGate, role: 'yielding' } }).catch((error: unknown) => {
  post({ type: 'failed', error: errorMessage(error) });
  process.exit(1);
});
const alerts = new Alerts({ log, options: () => alertOptions(config), onRaised: (kind, severity) => post({ type: 'alert', kind, severity }) });
const wakes = new Int32Array((workerData as ProcessingWorkerData).wakes);
const engine = new Engine({
  deliveriesStored: () => Atomics.load(wakes, 0),
  alerts,
  store,
  parsers: deliveryParsers,
  connectors: () => [...connectors.values()].map((c) => c.connector),
  log,
  options: () => engineOptions(config),
});
const intakeMark = (workerData as ProcessingWorkerData).intakeMark;
const durableIntake = intakeMark && new BigInt64Array(intakeMark);
/** Opened at the first import (the main thread makes the file before it starts this thread, but opening is tried again should it be missing). */
let intake: IntakeReader | undefined;
/** The import cursor as this thread last saw it (-1: not read yet); each import reads it again inside its transaction. */
let importedUpTo = -1;
let reportedUpTo = -1;
let reportedAt = 0;
post({ type: 'ready' });

/** Imports the acknowledged webhooks (those on disk) not imported yet; whether there were any. */
async function importAcknowledged(): Promise<boolean> {
  if (!durableIntake || !store.intakeFile) return false;
  intake ??= IntakeReader.open(store.intakeFile);
  if (!intake) return false;
  const durable = Number(Atomics.load(durableIntake, 0));
  if (importedUpTo >= 0 && durable <= importedUpTo) return false;
  const result = await importIntake(store, intake, durable, IMPORT_BATCH);
  importedUpTo = result.upTo;
  return result.imported > 0;
}

/** Tells the main thread how far the intake is imported, once that is on disk. */
async function reportImported(): Promise<void> {
  if (!intake || importedUpTo <= reportedUpTo || Date.now() - reportedAt < IMPORT_REPORT_MS) return;
  const upTo = importedUpTo;
  await store.durably(async () => undefined);
  post({ type: 'imported', generation: intake.generation, upTo });
  reportedUpTo = upTo;
  reportedAt = Date.now();
}

/** How often processing copies the store's log into its file (SQLite; see Store.checkpointLog). */
const CHECKPOINT_INTERVAL_MS = 1000;
let lastCheckpoint = Date.now();

while (running) {
  let worked = false;
  wokenDuringBatch = false;
  try {
    worked = await importAcknowledged();
    await reportImported();
  } catch (error) {
    log.error({ err: errorMessage(error) }, 'importing acknowledged webhooks failed; retrying');
  }
  try {
    // No pause between slices: the store's thread gate gives the main thread its turn whenever it waits (core/store/thread-gate.ts).
    const result = await engine.processPending(PROCESS_BATCH);
    if (result.operationsQueued > 0) post({ type: 'queued' });
    // A slice done means more of that delivery is left: go on at once (after any live delivery stored meanwhile, which the next call takes first).
    worked ||= result.processed + result.flagged > 0 || result.sliced;
  } catch (error) {
    log.error({ err: errorMessage(error) }, 'processing deliveries failed; retrying');
  }
  if (Date.now() - lastCheckpoint >= CHECKPOINT_INTERVAL_MS) {
    lastCheckpoint = Date.now();
    try {
      store.checkpointLog();
      intake?.checkpoint();
    } catch (error) {
      // Busy or interrupted: the log is only longer until the next one.
      log.warn({ err: errorMessage(error) }, 'store checkpoint failed; trying again later');
    }
  }
  // setImmediate lets a stop or a new config in between batches.
  if (worked || wokenDuringBatch) await new Promise((resolve) => setImmediate(resolve));
  else {
    // Poll too: with PostgreSQL another instance may have stored the delivery.
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, config.outbox.pollIntervalMs);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    wake = undefined;
  }
}
intake?.close();
await store.close();
port.close();
