// Recent events per key in a sliding window, kept in memory: how bursts (refused webhook
// signatures, failed sign-ins) are noticed. Each instance counts what it saw itself.
export class EventWindow {
  readonly #events = new Map<string, number[]>();

  constructor(readonly windowMs: number) {}

  /** The times of this key's events still inside the window, oldest first. */
  recent(key: string, now = Date.now()): number[] {
    const kept = (this.#events.get(key) ?? []).filter((at) => now - at < this.windowMs);
    if (kept.length > 0) this.#events.set(key, kept);
    else this.#events.delete(key);
    return kept;
  }

  /** Records one event; returns how many the key has in the window now. */
  add(key: string, now = Date.now()): number {
    const kept = this.recent(key, now);
    kept.push(now);
    this.#events.set(key, kept);
    return kept.length;
  }

  /** Takes back one event recorded at `at` (a slot reserved for something that then did not count). */
  remove(key: string, at: number): void {
    const events = this.#events.get(key);
    const index = events?.lastIndexOf(at) ?? -1;
    if (index < 0) return;
    events!.splice(index, 1);
    if (events!.length === 0) this.#events.delete(key);
  }

  clear(key: string): void {
    this.#events.delete(key);
  }
}
