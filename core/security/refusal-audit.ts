// Refused requests from outside (no credentials, an address not allowed) go to the audit trail
// without letting a flood of them fill it: the first refusal per address and kind in a window is
// written, the rest are counted and written once as one `<action>.repeated` record.
import type { AuditEntry } from './audit-trail.js';

interface OpenWindow {
  readonly entry: AuditEntry;
  readonly startedAt: number;
  repeats: number;
}

export interface RefusalAuditOptions {
  /** Refusals of one kind from one address within this long share one record. */
  readonly windowMs: number;
  /** Addresses followed at once; past this, the rest share one tally (a flood from many addresses). */
  readonly maxKeys: number;
}

export class RefusalAudit {
  readonly #windows = new Map<string, OpenWindow>();

  constructor(
    readonly options: RefusalAuditOptions,
    readonly write: (entry: AuditEntry) => Promise<void>,
  ) {}

  /** Records a refusal: written now when it opens a window, otherwise counted. */
  async refused(entry: AuditEntry, now = Date.now()): Promise<void> {
    await this.flush(now);
    let key = `${entry.action} ${entry.actor}`;
    if (!this.#windows.has(key) && this.#windows.size >= this.options.maxKeys) {
      key = `${entry.action} *`;
      entry = { actor: 'ip:*', action: entry.action, detail: { note: `more than ${this.options.maxKeys} addresses refused at once; counted together` } };
    }
    const open = this.#windows.get(key);
    if (open) {
      open.repeats++;
      return;
    }
    this.#windows.set(key, { entry, startedAt: now, repeats: 0 });
    await this.write(entry);
  }

  /** Closes the windows that have ended, writing one record for each that saw repeats. */
  async flush(now = Date.now()): Promise<void> {
    for (const [key, open] of this.#windows) {
      if (now - open.startedAt < this.options.windowMs) continue;
      this.#windows.delete(key);
      if (open.repeats > 0) {
        await this.write({ actor: open.entry.actor, action: `${open.entry.action}.repeated`, ...(open.entry.target === undefined ? {} : { target: open.entry.target }), detail: { repeats: open.repeats, from: open.startedAt, until: now } });
      }
    }
  }
}
