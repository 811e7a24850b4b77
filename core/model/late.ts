// Which messages arrived late: after a message the customer sent later was already written to a
// record. Shared by connectors whose records people have already read (a ticket's comments, a
// transcript), so a message never lands silently out of place in any of them.
import type { ThreadMessage } from '../connector.js';

/**
 * The messages written for the first time now (arrival sequence above `writtenTo`) that were sent
 * before the newest message already written (arrival sequence up to `writtenTo`). Messages of an
 * imported history are never late: the past comes in shuffled chunks by design and is read as
 * the past, in time order.
 */
export function lateArrivals(messages: readonly Pick<ThreadMessage, 'id' | 'sentAt' | 'arrivalSeq' | 'history'>[], writtenTo: number): string[] {
  const written = messages.filter((m) => m.arrivalSeq <= writtenTo);
  if (written.length === 0) return [];
  const newestWrittenAt = Math.max(...written.map((m) => m.sentAt));
  return messages.filter((m) => m.arrivalSeq > writtenTo && m.sentAt < newestWrittenAt && m.history !== true).map((m) => m.id);
}

/** How a late message is marked where its own time is shown beside it. */
export const ARRIVED_LATE = 'arrived late';
