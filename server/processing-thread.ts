// The processing thread, seen from the main thread: stored deliveries are turned into model
// changes and outbox operations in a worker thread with its own store connection, so a backlog
// never holds the event loop that acknowledges webhooks (issue 26). The main thread keeps HTTP,
// the durable commit of each delivery, dispatch and the admin API.
import { Worker } from 'node:worker_threads';
import { pino } from 'pino';
import type { Config } from '../core/config/schema.js';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { IntakeWriter } from '../core/store/intake.js';
import type { AlertSeverity } from '../core/store/schema.js';
import { ThreadGate, watchYieldingTurns } from '../core/store/thread-gate.js';

/** Messages from the main thread to the processing thread. */
export type ToProcessing =
  /** Deliveries were stored: look now rather than at the next poll. */
  | { readonly type: 'wake' }
  /** The config was reloaded: plan with the new connectors and options. */
  | { readonly type: 'config'; readonly config: Config }
  /** Finish the batch under way, close the store connection, exit. */
  | { readonly type: 'stop' };

/** Messages from the processing thread to the main thread. */
export type FromProcessing =
  | { readonly type: 'ready' }
  /** The config sent last is the one processing uses from now on. */
  | { readonly type: 'configured' }
  /** Operations were queued: the dispatchers should claim now. */
  | { readonly type: 'queued' }
  /** An alert was raised in processing: counted in the main thread's /metrics. */
  | { readonly type: 'alert'; readonly kind: string; readonly severity: AlertSeverity }
  /** The intake file's rows up to `upTo` are imported, and that is on disk: the main thread may delete them. */
  | { readonly type: 'imported'; readonly generation: string; readonly upTo: number }
  /** One JSON log line, already redacted and masked by the processing thread's logger. */
  | { readonly type: 'log'; readonly line: string }
  | { readonly type: 'failed'; readonly error: string };

export interface ProcessingWorkerData {
  readonly config: Config;
  /** The main thread's SQLite write gate, joined by the worker as the yielding side. */
  readonly storeGate: SharedArrayBuffer;
  /**
   * One Int32 counting the wakes (deliveries stored), readable in the middle of a transaction,
   * where a posted 'wake' is not: a history slice under way ends when it moves.
   */
  readonly wakes: SharedArrayBuffer;
  /** With an intake file (SQLite), its durable mark: the worker imports acknowledged webhooks from it up to there (core/store/intake.ts). */
  readonly intakeMark?: SharedArrayBuffer;
}

/** Wait before starting a processing thread again after it died unexpectedly. */
const RESTART_DELAY_MS = 1000;
/** Longest wait for the processing thread to stop before it is terminated (its transaction rolls back). */
const DEFAULT_STOP_TIMEOUT_MS = 10_000;
/**
 * One turn at the store longer than this means the processing thread is stuck inside a
 * transaction (its turns take milliseconds: it ends a batch early whenever the main thread
 * waits); meanwhile no webhook can be stored. It is terminated and started again.
 */
const DEFAULT_STUCK_TURN_MS = 60_000;
const STUCK_CHECK_MS = 1000;

/**
 * What the worker runs: the compiled .js beside this file in dist/, or, when this file runs from
 * source under tsx (tests, benchmarks), a bootstrap that registers tsx in the worker and then
 * imports the .ts source (a worker does not inherit the parent's loader hooks).
 */
function workerEntry(): { entry: URL | string; eval: boolean } {
  if (!import.meta.url.endsWith('.ts')) return { entry: new URL('./processing-worker.js', import.meta.url), eval: false };
  const source = new URL('./processing-worker.ts', import.meta.url).href;
  const tsx = import.meta.resolve('tsx/esm/api');
  return { entry: `import(${JSON.stringify(tsx)}).then(({ register }) => { register(); return import(${JSON.stringify(source)}); });`, eval: true };
}

export interface ProcessingThreadOptions {
  readonly config: Config;
  /** The main thread's logger: the worker's lines are written through it. */
  readonly log: Logger;
  readonly onQueued: () => void;
  readonly onAlert: (kind: string, severity: AlertSeverity) => void;
  /** The write gate the main thread's store holds as its priority side (core/store/thread-gate.ts). */
  readonly storeGate: SharedArrayBuffer;
  /** The intake the main thread writes acknowledged webhooks to (SQLite): the thread imports them and says how far. */
  readonly intake?: IntakeWriter;
  /** A turn at the store this long ends the thread (see DEFAULT_STUCK_TURN_MS). */
  readonly stuckTurnMs?: number;
}

export class ProcessingThread {
  readonly #options: ProcessingThreadOptions;
  #config: Config;
  #worker: Worker | undefined;
  #running = false;
  #restartTimer: NodeJS.Timeout | undefined;
  #stopWatching: (() => void) | undefined;
  readonly #wakes = new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT);

  constructor(options: ProcessingThreadOptions) {
    this.#options = options;
    this.#config = options.config;
  }

  /**
   * Starts the thread without waiting for it: loading the engine and connectors again takes
   * seconds on a busy machine, and webhooks can be stored meanwhile (the thread finds them).
   */
  start(): void {
    this.#running = true;
    this.#spawn();
    this.#stopWatching = watchYieldingTurns(this.#options.storeGate, {
      limitMs: this.#options.stuckTurnMs ?? DEFAULT_STUCK_TURN_MS,
      everyMs: STUCK_CHECK_MS,
      onStuck: (heldMs) => {
        const worker = this.#worker;
        if (!worker) return;
        this.#options.log.error({ heldMs }, 'processing thread held the store for one turn too long (stuck); terminating it: its transaction rolls back, its deliveries stay pending, and it starts again');
        void worker.terminate();
      },
    });
  }

  wake(): void {
    Atomics.add(new Int32Array(this.#wakes), 0, 1);
    this.#post({ type: 'wake' });
  }

  /** Resolves once the thread plans with `config` (at once when no thread runs: the next one starts with it). */
  reconfigure(config: Config): Promise<void> {
    this.#config = config;
    const worker = this.#worker;
    if (!worker) return Promise.resolve();
    const applied = new Promise<void>((resolve) => {
      const done = () => {
        worker.off('message', onMessage);
        worker.off('exit', done);
        resolve();
      };
      const onMessage = (message: FromProcessing) => {
        if (message.type === 'configured') done();
      };
      worker.on('message', onMessage);
      // A thread that dies first is started again with the new config.
      worker.once('exit', done);
    });
    worker.postMessage({ type: 'config', config } satisfies ToProcessing);
    return applied;
  }

  /** Lets the batch under way finish; past `timeoutMs` the thread is terminated (its open transaction is not committed). */
  async stop(timeoutMs = DEFAULT_STOP_TIMEOUT_MS): Promise<void> {
    this.#running = false;
    clearTimeout(this.#restartTimer);
    this.#stopWatching?.();
    const worker = this.#worker;
    if (!worker) return;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    worker.postMessage({ type: 'stop' } satisfies ToProcessing);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
    if ((await Promise.race([exited, timedOut])) === 'timeout') {
      this.#options.log.warn({ timeoutMs }, 'processing thread did not stop in time; terminated (its deliveries stay pending)');
      await worker.terminate();
    }
    clearTimeout(timer);
  }

  #post(message: ToProcessing): void {
    this.#worker?.postMessage(message);
  }

  #spawn(): void {
    const { entry, eval: isCode } = workerEntry();
    const worker = new Worker(entry, { eval: isCode, workerData: { config: this.#config, storeGate: this.#options.storeGate, wakes: this.#wakes, ...(this.#options.intake ? { intakeMark: this.#options.intake.durableMark } : {}) } satisfies ProcessingWorkerData, stdout: false, stderr: false });
    this.#worker = worker;
    let ready = false;
    worker.on('message', (message: FromProcessing) => {
      switch (message.type) {
        case 'ready':
          ready = true;
          return;
        case 'configured':
          return;
        case 'queued':
          this.#options.onQueued();
          return;
        case 'imported':
          this.#options.intake?.imported(message.generation, message.upTo);
          return;
        case 'alert':
          this.#options.onAlert(message.kind, message.severity);
          return;
        case 'log':
          this.#relog(message.line);
          return;
        case 'failed':
          this.#options.log.error({ err: message.error }, 'processing thread could not open the store');
          return;
      }
    });
    worker.on('error', (error) => this.#options.log.error({ err: errorMessage(error) }, 'processing thread failed'));
    worker.on('exit', (code) => {
      // A thread terminated in its turn (stop timeout, crash) must not keep the main thread waiting.
      ThreadGate.releaseAbandoned(this.#options.storeGate);
      if (this.#worker === worker) this.#worker = undefined;
      if (!this.#running) return;
      // Deliveries stay pending in the store: a new thread picks them up where this one stopped.
      this.#options.log.error({ code, ready }, `processing thread exited unexpectedly; starting it again in ${RESTART_DELAY_MS} ms`);
      this.#restartTimer = setTimeout(() => {
        if (this.#running) this.#spawn();
      }, RESTART_DELAY_MS);
    });
  }

  /** Writes a processing-thread log line through the main logger, so both threads log to one place at one level. */
  #relog(line: string): void {
    let record: Record<string, unknown>;
    try {
      record = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    const { level, msg, time: _time, pid: _pid, hostname: _hostname, service: _service, ...fields } = record;
    const label = pino.levels.labels[Number(level)] ?? 'info';
    const log = this.#options.log as unknown as Record<string, (fields: object, msg?: string) => void>;
    log[label]?.call(this.#options.log, { ...fields, thread: 'processing' }, typeof msg === 'string' ? msg : undefined);
  }
}
