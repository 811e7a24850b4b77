// Where the service's log lines go (stdout, as a file descriptor), written so that the log can
// never hold up or abort the service, whatever its reader does.
//
// Why not pino's default destination: sonic-boom's exit-time flushSync retries every failed
// write, EPIPE included, in an endless loop of short sleeps. When the log's reader is gone
// (`wa-crm-sync start | head`, a dead `tee`, a restarted log shipper) and a line is still
// queued at process.exit, the process never exits: SIGTERM seemed ignored. Here a write error
// other than EAGAIN ends logging for good, nothing is ever written synchronously, and what is
// queued is bounded.
import { write } from 'node:fs';

/** Characters of log lines kept while the reader is slower than the service; beyond, lines are counted and dropped. */
const DEFAULT_MAX_QUEUED_BYTES = 8 * 1024 * 1024;
/** Wait before writing again after EAGAIN (a non-blocking pipe that is full). */
const EAGAIN_RETRY_MS = 20;

export interface LogOutputOptions {
  /**
   * Characters of lines kept while the reader is slower than the service; later lines are
   * counted, dropped, and the count is logged once the reader catches up.
   * @default 8 Mi
   */
  readonly maxQueuedBytes?: number;
  /** Told once when output stops for good (EPIPE, EBADF...), with the error code. */
  readonly onBroken?: (code: string) => void;
}

export class LogOutput {
  readonly #fd: number;
  readonly #maxQueuedBytes: number;
  readonly #onBroken: ((code: string) => void) | undefined;
  #queue: string[] = [];
  #queuedBytes = 0;
  #writing = false;
  #dropped = 0;
  #brokenBy: string | undefined;
  #drained: Array<() => void> = [];

  constructor(fd: number, options: LogOutputOptions = {}) {
    this.#fd = fd;
    this.#maxQueuedBytes = options.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES;
    this.#onBroken = options.onBroken;
  }

  /** The error code that ended output (e.g. EPIPE), or undefined while it works. */
  get brokenBy(): string | undefined {
    return this.#brokenBy;
  }

  /** Lines dropped because the reader could not keep up, not yet reported in the log. */
  get dropped(): number {
    return this.#dropped;
  }

  /** pino's destination contract: one serialised line at a time. Never blocks, never throws. */
  write(line: string): void {
    if (this.#brokenBy !== undefined) return;
    if (this.#queuedBytes + line.length > this.#maxQueuedBytes) {
      this.#dropped++;
      return;
    }
    this.#queue.push(line);
    this.#queuedBytes += line.length;
    this.#pump();
  }

  /**
   * Resolves once every queued line is written, output is broken, or `timeoutMs` has passed:
   * a stopping service gives its last lines a bounded chance and then exits regardless.
   */
  drain(timeoutMs: number): Promise<void> {
    if (this.#idle()) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      timer.unref();
      const drained = this.#drained;
      function done() {
        clearTimeout(timer);
        const index = drained.indexOf(done);
        if (index >= 0) drained.splice(index, 1);
        resolve();
      }
      drained.push(done);
    });
  }

  #idle(): boolean {
    return this.#brokenBy !== undefined || (!this.#writing && this.#queue.length === 0);
  }

  #pump(): void {
    if (this.#writing || this.#queue.length === 0) return;
    if (this.#dropped > 0) {
      this.#queue.unshift(`${JSON.stringify({ level: 40, time: Date.now(), msg: `${this.#dropped} log lines dropped: the log's reader could not keep up` })}\n`);
      this.#dropped = 0;
    }
    const chunk = Buffer.from(this.#queue.join(''), 'utf8');
    this.#queue = [];
    this.#queuedBytes = 0;
    this.#writing = true;
    this.#writeChunk(chunk);
  }

  #writeChunk(chunk: Buffer): void {
    write(this.#fd, chunk, (error: NodeJS.ErrnoException | null, written: number) => {
      if (error) {
        if (error.code === 'EAGAIN') {
          setTimeout(() => this.#writeChunk(chunk), EAGAIN_RETRY_MS).unref();
          return;
        }
        this.#break(error.code ?? 'EIO');
        return;
      }
      if (written < chunk.length) {
        this.#writeChunk(chunk.subarray(written));
        return;
      }
      this.#writing = false;
      this.#pump();
      if (this.#idle()) this.#notifyDrained();
    });
  }

  #break(code: string): void {
    this.#brokenBy = code;
    this.#writing = false;
    this.#queue = [];
    this.#queuedBytes = 0;
    this.#notifyDrained();
    this.#onBroken?.(code);
  }

  #notifyDrained(): void {
    const waiting = this.#drained;
    this.#drained = [];
    for (const done of waiting) done();
  }
}
