// Durable intake of webhook deliveries. A delivery is acknowledged only once its body is on disk;
// concurrent deliveries share one transaction (group commit), so durability stays cheap. On a
// SQLite store the service gives it an intake file of its own (store/intake.ts), so that commit
// never waits for the processing thread's turns at the store; elsewhere it goes to the store.
import type { IntakeWriter } from './store/intake.js';
import type { Store } from './store/store.js';

interface Waiting {
  readonly source: string;
  readonly body: string;
  readonly receivedAt: number;
  resolve(id: number): void;
  reject(error: unknown): void;
}

export class DeliveryInbox {
  readonly #store: Store;
  readonly #onStored: () => void;
  readonly #intake: IntakeWriter | undefined;
  #queue: Waiting[] = [];
  #flushing = false;
  /** When the last delivery came in: the processing loop yields while deliveries stream in. */
  lastAcceptAt = 0;

  /** With `intake`, deliveries go to that file, and processing imports them into the store. */
  constructor(store: Store, onStored: () => void = () => {}, intake?: IntakeWriter) {
    this.#store = store;
    this.#onStored = onStored;
    this.#intake = intake;
  }

  /** Deliveries acknowledged that are not yet among the store's webhook_deliveries (held in the intake). */
  waiting(): number {
    return this.#intake?.waiting() ?? 0;
  }

  /** Resolves once the delivery is on disk, with its id: the delivery's in the store, or its row's in the intake. */
  accept(source: string, body: string): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      const now = Date.now();
      this.lastAcceptAt = now;
      this.#queue.push({ source, body, receivedAt: now, resolve, reject });
      if (!this.#flushing) {
        this.#flushing = true;
        // Wait for the rest of this turn of the event loop, so requests read together commit together.
        setImmediate(() => void this.#flush());
      }
    });
  }

  /**
   * Claims a signed call's replay key (its signature and timestamp) until `expiresAt`: false when
   * it was claimed already (a replay inside the signature's tolerance). Durable, so a restart does
   * not reopen the window; expired keys are dropped on the way, so the table stays small.
   */
  async claimReplayKey(replayKey: string, expiresAt: number, now = Date.now()): Promise<boolean> {
    return this.#store.durably(async (db) => {
      await db.deleteFrom('webhook_replays').where('expires_at', '<', now).execute();
      const claimed = await db.insertInto('webhook_replays').values({ replay_key: replayKey, expires_at: expiresAt }).onConflict((oc) => oc.column('replay_key').doNothing()).returning('replay_key').executeTakeFirst();
      return claimed !== undefined;
    });
  }

  /** Gives a replay key back when its call could not be stored, so the sender's retry is taken. */
  async releaseReplayKey(replayKey: string): Promise<void> {
    await this.#store.db.deleteFrom('webhook_replays').where('replay_key', '=', replayKey).execute();
  }

  async #flush(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        const batch = this.#queue.splice(0, 200);
        try {
          const ids = this.#intake ? await this.#toIntake(this.#intake, batch) : await this.#toStore(batch);
          for (let i = 0; i < batch.length; i++) batch[i]!.resolve(ids[i]!);
          this.#onStored();
        } catch (error) {
          for (const w of batch) w.reject(error);
        }
      }
    } finally {
      this.#flushing = false;
    }
  }

  async #toIntake(intake: IntakeWriter, batch: readonly Waiting[]): Promise<number[]> {
    const ids = intake.append(batch);
    await intake.flush();
    return ids;
  }

  async #toStore(batch: readonly Waiting[]): Promise<number[]> {
    const rows = await this.#store.durably((db) => db.transaction().execute((tx) =>
      tx
        .insertInto('webhook_deliveries')
        .values(batch.map((w) => ({ source: w.source, body: w.body, received_at: w.receivedAt, state: 'pending' as const, problems: null, processed_at: null })))
        .returning('id')
        .execute(),
    ));
    return rows.map((r) => r.id);
  }
}
