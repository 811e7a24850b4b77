// Durable commits on SQLite without blocking the event loop.
//
// With synchronous=FULL, SQLite flushes the write-ahead log inside the commit, on the calling
// thread: the thread acknowledging webhooks stood still for every flush (issue 26). In WAL mode a
// commit is durable once its log frames are on disk, or once a checkpoint has copied them into
// the database file (a checkpoint flushes the log before it copies and the database after), so
// committing with synchronous=NORMAL and then flushing the log file from libuv's thread pool gives
// the same guarantee (https://www.sqlite.org/pragma.html#pragma_synchronous,
// https://www.sqlite.org/wal.html). One flush serves every commit that finished before it began.
import { open, stat, type FileHandle } from 'node:fs/promises';

const INODE_CHECK_MS = 1000;

export class WalSync {
  readonly #path: string;
  #file: FileHandle | undefined;
  #fileInode = 0;
  /** When the handle was last checked against the path (a stat per flush cost 2 % of the acknowledging thread). */
  #checkedAt = 0;
  /** The flush under way, and the one queued behind it for commits made while it ran. */
  #running: Promise<void> | undefined;
  #queued: Promise<void> | undefined;
  #failed: Error | undefined;

  constructor(walPath: string) {
    this.#path = walPath;
  }

  /** Resolves once every commit that finished before this call is on disk. */
  flush(): Promise<void> {
    // After a failed flush Linux may mark the lost pages clean, so a later flush would succeed
    // without them on disk: once one fails, none is trusted again (SQLite's FULL fails each commit too).
    if (this.#failed) return Promise.reject(this.#failed);
    if (!this.#running) return this.#start();
    // The running flush may have begun before the caller's commit: a new one follows it.
    this.#queued ??= this.#running.then(
      () => this.#start(),
      () => this.#start(),
    );
    return this.#queued;
  }

  async close(): Promise<void> {
    await this.#queued?.catch(() => undefined);
    await this.#running?.catch(() => undefined);
    await this.#file?.close();
    this.#file = undefined;
  }

  #start(): Promise<void> {
    this.#queued = undefined;
    const running = this.#flushNow().finally(() => {
      if (this.#running === running) this.#running = undefined;
    });
    this.#running = running;
    return running;
  }

  async #flushNow(): Promise<void> {
    // SQLite deletes the log when its last connection closes and makes a new one later: a handle
    // on a deleted file would flush nothing of the new one. The store keeps its own connection
    // open, so that happens only at close; checked once a second all the same.
    const now = Date.now();
    if (!this.#file || now - this.#checkedAt >= INODE_CHECK_MS) {
      const inode = (await stat(this.#path)).ino;
      if (!this.#file || inode !== this.#fileInode) {
        await this.#file?.close();
        this.#file = await open(this.#path, 'r');
        this.#fileInode = (await this.#file.stat()).ino;
      }
      this.#checkedAt = now;
    }
    try {
      await this.#file.datasync();
    } catch (error) {
      this.#failed = new Error(`the store's log could not be flushed to disk (${(error as Error).message}); acknowledged writes may be lost on a power cut: check the disk, then restart the service`);
      throw this.#failed;
    }
  }
}
