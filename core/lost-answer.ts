// Writes whose answer may be lost. After a reset or a timeout we do not know whether the vendor
// did the work, and it may still be doing it: a vendor keeps processing a request whose caller
// gave up, so the write can land after a retry has looked for it and found nothing. Each such
// write is noted before it goes out and the note is cleared once the vendor answers; a later
// attempt that finds the note waits until the first write can no longer land, and only then
// looks for it and, when absent, writes again.
import type { ExecutionContext } from './connector.js';
import { DeferredError, SyncError, TransportError } from './errors.js';

/** One write that may land late: the ref naming it, and how long after it went out it may still land. */
export interface LateLandingWrite {
  /** The ref kind holding when the write went out ('0' once answered). */
  readonly ref: string;
  /** The ref's local id: one per write (e.g. the message and file it uploads). */
  readonly localId: string;
  /** How long the vendor may go on with a request after its caller stopped waiting. */
  readonly windowMs: number;
  /** What the write is, in words, for the deferral's reason. */
  readonly what: string;
}

/**
 * Whether a failure leaves the write in doubt: no answer came (a reset, our timeout), or a gateway
 * answered for a server that may still be working on it (502, 504). Any other answer, an error
 * included, came from the vendor after it decided, so nothing is left to land.
 */
export function leavesWriteInDoubt(error: unknown): boolean {
  if (error instanceof TransportError) return true;
  if (error instanceof SyncError) return error.status === 502 || error.status === 504;
  return true;
}

/**
 * Returns once no earlier attempt of this write is in doubt, or once its window has passed (then
 * the caller looks for what it may have written before writing again). Until then it throws
 * DeferredError: the operation waits without using an attempt.
 */
export async function waitOutLateLanding(context: ExecutionContext, write: LateLandingWrite, now = Date.now()): Promise<void> {
  const sentAt = Number((await context.getRef(write.ref, write.localId)) ?? 0);
  if (!sentAt) return;
  // The note is of a write this process is still sending (another batch writing the same record):
  // its answer is coming, not lost, so look again shortly instead of waiting out the whole window.
  if (underWay.has(underWayKey(write))) throw new DeferredError(`an earlier ${write.what} is still waiting for its answer; trying again shortly`, now + UNDER_WAY_RECHECK_MS);
  const settledAt = sentAt + write.windowMs;
  if (now < settledAt) throw new DeferredError(`the answer to an earlier ${write.what} was lost and it may still land; waiting before looking for it`, settledAt);
}

/** How soon an operation that found a write of this process under way looks again. */
const UNDER_WAY_RECHECK_MS = 1000;

/**
 * Noted writes this process is sending now, by ref and local id, with how many: a note alone
 * cannot tell a write still under way from one whose answer was lost. A crash empties it, and
 * then every note left is in doubt, as it should be.
 */
const underWay = new Map<string, number>();
const underWayKey = (write: LateLandingWrite) => `${write.ref}\u0000${write.localId}`;

/** Sends the writes, each noted before it goes out and cleared once the vendor answers (see leavesWriteInDoubt). */
export async function sendNoted<T>(context: ExecutionContext, writes: readonly LateLandingWrite[], send: () => Promise<T>): Promise<T> {
  // One store write for the whole batch's notes, not one each (see ExecutionContext.setRefs).
  const mark = (value: string) => context.setRefs(writes.map((write) => ({ kind: write.ref, localId: write.localId, externalId: value })));
  const keys = writes.map(underWayKey);
  for (const key of keys) underWay.set(key, (underWay.get(key) ?? 0) + 1);
  try {
    await mark(String(Date.now()));
    try {
      const answer = await send();
      await mark('0');
      return answer;
    } catch (error) {
      // In doubt, the window runs from when we stopped waiting, not from the note: the request may
      // have gone out well after it (a wait for rate budget, a session renewal), and the vendor's
      // time to carry it out starts when it got it. A crash before this leaves the earlier note.
      const inDoubt = leavesWriteInDoubt(error);
      const stoppedWaitingAt = String(Date.now());
      await mark(inDoubt ? stoppedWaitingAt : '0');
      // A client still sending it after we stopped waiting (repeating it after a session renewal)
      // can hand it over later still: the window then runs from when the client let go of it. The
      // attempt does not wait for that (a hung call would hold it); the note moves when it happens,
      // which a retry sees as long as it comes before the first window ends.
      if (inDoubt && error instanceof TransportError && error.stillSending) {
        void error.stillSending.then(() => restampUnchanged(context, writes, stoppedWaitingAt)).catch(() => undefined);
      }
      throw error;
    }
  } finally {
    for (const key of keys) {
      const left = (underWay.get(key) ?? 1) - 1;
      if (left > 0) underWay.set(key, left);
      else underWay.delete(key);
    }
  }
}

/** Moves each write's note to now, where it still holds `stamp` (no later attempt noted or cleared it since). */
async function restampUnchanged(context: ExecutionContext, writes: readonly LateLandingWrite[], stamp: string): Promise<void> {
  const now = String(Date.now());
  for (const write of writes) {
    if ((await context.getRef(write.ref, write.localId)) === stamp) await context.setRef(write.ref, write.localId, now);
  }
}
