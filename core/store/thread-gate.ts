// A write gate shared by the threads of one process that open the same SQLite file.
//
// Why: SQLite lets one connection write at a time, and a connection that finds the file locked
// waits in its busy handler, which sleeps the calling thread in growing steps (1, 2, 5, 10 ... 100
// ms) and loses the race to a writer that takes the lock back at once. Measured here: a thread
// holding the lock for 5 ms at a time made the other thread's single insert wait 8 ms at the median
// and 940 ms at worst. When the waiting thread is the one acknowledging webhooks, its whole event
// loop stops for that long (issue 26: p99 of seconds at 1,000 requests/s).
//
// The gate makes the threads take turns before SQLite sees them, without ever blocking the
// priority thread: it waits asynchronously (Atomics.waitAsync), so its event loop keeps reading
// requests. The yielding thread (processing) works in the priority thread's quiet gaps: it starts
// a turn once the priority thread has taken none for QUIET_MS, and it ends its turn as soon as the
// priority thread waits. So that a steady stream of webhooks cannot stop processing altogether, a
// turn it has wanted for MAX_DEFER_MS is taken anyway and kept for at least FORCED_TURN_MS.
// Measured with the gate but without the quiet gaps: the acknowledging thread sat idle a third of
// the time waiting for processing's turns (one delivery each), at 1,100 requests/s.
// Other processes (a CLI command beside the service) still meet SQLite's own lock and busy timeout.

/** Slots of the shared buffer. */
const HOLDER = 0;
const PRIORITY_WAITING = 1;
/** The low 32 bits of Date.now() when the priority thread last ended a turn. */
const PRIORITY_LAST_TURN = 2;
/** The yielding thread's turns so far, counted as each begins (the watchdog tells one long turn from many short ones). */
const YIELDING_TURNS = 3;
const SLOTS = 4;
/** Values of HOLDER. */
const FREE = 0;
const PRIORITY = 1;
const YIELDING = 2;

/** A gap this long without a priority turn lets the yielding thread in. */
const QUIET_MS = 3;
/** A yielding thread waiting this long takes its turn even while the priority thread stays busy. */
const MAX_DEFER_MS = 100;
/** How long a turn taken that way is kept before the thread gives way again. */
const FORCED_TURN_MS = 5;
/**
 * How long a yielding thread sleeps between looks. The priority thread's releases do not wake it
 * (it waits for a gap, not a release, and a wake per webhook batch is a system call each time).
 */
const YIELD_RECHECK_MS = 2;

export type ThreadGateRole = 'priority' | 'yielding';

/** What a thread needs to join a gate: the shared buffer (passed to a worker in workerData) and its role. */
export interface ThreadGateShare {
  readonly buffer: SharedArrayBuffer;
  readonly role: ThreadGateRole;
}

export function newThreadGateBuffer(): SharedArrayBuffer {
  return new SharedArrayBuffer(SLOTS * Int32Array.BYTES_PER_ELEMENT);
}

/** Milliseconds since a time stored as Date.now()'s low 32 bits (right for gaps under 24 days). */
function msSince(stored: number, now = Date.now()): number {
  return ((now | 0) - stored) | 0;
}

export class ThreadGate {
  readonly #slots: Int32Array;
  readonly #role: ThreadGateRole;
  /** The yielding side's current turn: when it started, and whether it was forced by MAX_DEFER_MS. */
  #turnStartedAt = 0;
  #forcedTurn = false;

  constructor(share: ThreadGateShare) {
    this.#slots = new Int32Array(share.buffer);
    this.#role = share.role;
  }

  /** Resolves once this thread holds the gate. A thread takes it once at a time (callers serialise their own turns). */
  async acquire(): Promise<void> {
    if (this.#role === 'priority') await this.#acquireFirst();
    else await this.#acquireInGap();
  }

  async #acquireFirst(): Promise<void> {
    const slots = this.#slots;
    if (Atomics.compareExchange(slots, HOLDER, FREE, PRIORITY) === FREE) return;
    Atomics.add(slots, PRIORITY_WAITING, 1);
    try {
      for (let holder = Atomics.compareExchange(slots, HOLDER, FREE, PRIORITY); holder !== FREE; holder = Atomics.compareExchange(slots, HOLDER, FREE, PRIORITY)) {
        const wait = Atomics.waitAsync(slots, HOLDER, holder);
        if (wait.async) await wait.value;
      }
    } finally {
      Atomics.sub(slots, PRIORITY_WAITING, 1);
    }
  }

  async #acquireInGap(): Promise<void> {
    const slots = this.#slots;
    const wantedAt = Date.now();
    for (;;) {
      const now = Date.now();
      const forced = now - wantedAt >= MAX_DEFER_MS;
      const quiet = Atomics.load(slots, PRIORITY_WAITING) === 0 && msSince(Atomics.load(slots, PRIORITY_LAST_TURN), now) >= QUIET_MS;
      // Counted before the gate is taken: whoever sees it held by this side sees this turn's number.
      if (quiet || forced) Atomics.add(slots, YIELDING_TURNS, 1);
      if ((quiet || forced) && Atomics.compareExchange(slots, HOLDER, FREE, YIELDING) === FREE) {
        this.#turnStartedAt = now;
        this.#forcedTurn = !quiet;
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, YIELD_RECHECK_MS));
    }
  }

  /** On the yielding side: the priority thread waits for the gate now (after a forced turn's minimum). */
  turnWanted(): boolean {
    if (this.#role !== 'yielding' || Atomics.load(this.#slots, PRIORITY_WAITING) === 0) return false;
    return !this.#forcedTurn || Date.now() - this.#turnStartedAt >= FORCED_TURN_MS;
  }

  release(): void {
    const slots = this.#slots;
    if (this.#role === 'priority') {
      Atomics.store(slots, PRIORITY_LAST_TURN, Date.now() | 0);
      Atomics.compareExchange(slots, HOLDER, PRIORITY, FREE);
      return;
    }
    // The priority thread, when it waits, sleeps on the holder slot: wake it.
    if (Atomics.compareExchange(slots, HOLDER, YIELDING, FREE) === YIELDING && Atomics.load(slots, PRIORITY_WAITING) > 0) Atomics.notify(slots, HOLDER);
  }

  /** The number of the yielding thread's turn while it holds the gate; undefined while it does not. */
  static yieldingTurn(buffer: SharedArrayBuffer): number | undefined {
    const slots = new Int32Array(buffer);
    const turn = Atomics.load(slots, YIELDING_TURNS);
    return Atomics.load(slots, HOLDER) === YIELDING ? turn : undefined;
  }

  /**
   * Frees a gate left held by a yielding thread that died or was terminated in its turn (its
   * transaction was rolled back with it), so the priority thread does not wait for ever.
   */
  static releaseAbandoned(buffer: SharedArrayBuffer): void {
    const slots = new Int32Array(buffer);
    if (Atomics.compareExchange(slots, HOLDER, YIELDING, FREE) === YIELDING) Atomics.notify(slots, HOLDER);
  }
}

/**
 * Calls `onStuck` once when the yielding thread has held the gate for `limitMs` in one turn: a
 * thread stuck inside a transaction (a loop that never ends, a call that never returns) would
 * otherwise keep the priority thread from the store for ever, and every webhook unanswered. The
 * caller terminates that thread (its transaction rolls back) and frees the gate. Returns a stop.
 */
export function watchYieldingTurns(buffer: SharedArrayBuffer, options: { readonly limitMs: number; readonly everyMs: number; readonly onStuck: (heldMs: number) => void }): () => void {
  // Timed on this thread's own monotonic clock from when this turn was first seen held: no clock
  // is shared between the threads, and a clock step or a resumed machine makes no turn look long.
  let seen: { turn: number; at: number; reported: boolean } | undefined;
  const timer = setInterval(() => {
    const turn = ThreadGate.yieldingTurn(buffer);
    if (turn === undefined) {
      seen = undefined;
      return;
    }
    const now = performance.now();
    if (seen?.turn !== turn) {
      seen = { turn, at: now, reported: false };
      return;
    }
    const heldMs = now - seen.at;
    if (heldMs < options.limitMs || seen.reported) return;
    seen.reported = true;
    options.onStuck(heldMs);
  }, options.everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
