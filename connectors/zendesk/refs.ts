// Where the Zendesk connector keeps what it knows between operations (the context's refs): the
// Zendesk ids of our records, how far each ticket is written, and notes of writes whose answer
// may be lost. One list, so every job of the connector names a ref the same way.
import type { LateLandingWrite } from '../../core/lost-answer.js';
import type { ZendeskSettings } from './settings.js';

/** Ref kinds: Zendesk ids of our records and how far each ticket is written. */
export const REF = {
  user: 'user',
  ticket: 'ticket',
  syncedTo: 'ticket-synced-to',
  /** Set before a write whose answer may be lost: the arrival sequence it carries and its body's hash. */
  pendingWrite: 'ticket-pending-write',
  /** When the thread's last ticket creation or comment update went out, while its answer is in doubt ('0' once answered). */
  commentSent: 'ticket-comment-sent',
  attachment: 'attachment-comment',
  /** When a single comment (an attachment's, by message id; a note, by ticket and body hash) went out, while in doubt. */
  singleCommentSent: 'single-comment-sent',
  replyCursor: 'reply-cursor',
  requester: 'ticket-requester',
  webhook: 'webhook',
  /** How far a thread's past messages are imported (an arrival sequence), and the import under way. */
  historyImportedTo: 'history-imported-to',
  historyPendingImport: 'history-pending-import',
  /** When the thread's last history import went out, while its answer is in doubt. */
  historyImportSent: 'history-import-sent',
  /** The tickets a thread's past was imported into, newest last (JSON list of ids). */
  historyTickets: 'history-tickets',
  /** When the Ticket Import API last refused the token (local id `account`): the next imports fail without a call. */
  historyForbidden: 'history-forbidden',
} as const;

/** A write Zendesk may carry out after its answer was lost (see lostAnswerWaitSeconds). */
export function lateLanding(settings: Pick<ZendeskSettings, 'lostAnswerWaitSeconds'>, ref: string, localId: string, what: string): LateLandingWrite {
  return { ref, localId, windowMs: settings.lostAnswerWaitSeconds * 1000, what };
}
