// Pure mapping between our model and Zendesk: which operations a change needs, ticket and
// comment bodies, which agent comments are replies to send. No I/O.
import { undeliveredNote } from '../../core/outbound/send-failure.js';
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { messagePlacement, type ThreadMessage, contactOrderingKey } from '../../core/connector.js';
import { NUMBER_WITHHELD_NOTE, contactIdentityPayloadSchema, displayName, identityFields, phoneFieldNeedsUpdate, type ContactIdentityFields } from '../../core/model/identity.js';
import { storedMediaPayload, storedMediaPayloadSchema, type ModelChange } from '../../core/model/types.js';
import type { OperationDraft } from '../../core/outbox/queries.js';
import type { ZendeskComment } from './responses.js';
import type { ZendeskSettings } from './settings.js';

/** The origin our replies carry: messages with it are never written back to Zendesk (no echo loop). */
export const ORIGIN = 'zendesk';
/** Every ticket gets this tag; the setup trigger only fires on tickets that carry it. */
export const WHATSAPP_TAG = 'whatsapp';
/** Tickets imported from the business app's past carry this tag instead, so the reply trigger never fires on them. */
export const HISTORY_TAG = 'whatsapp_history';

export const KIND = {
  user: 'user.upsert',
  comment: 'ticket.comment',
  attachment: 'ticket.attachment',
  replies: 'replies.fetch',
  note: 'ticket.note',
  historyImport: 'ticket.import',
} as const;

/** Largest call per kind: users go in bulk jobs of up to 100; the rest are written one at a time, a call of them in turn. */
export const BATCH_SIZE = { [KIND.user]: 100, [KIND.comment]: 10, [KIND.attachment]: 5, [KIND.replies]: 1, [KIND.note]: 10, [KIND.historyImport]: 10 } as const;

/** A customer's identifiers (see core/model/identity.ts): `crmKey` is the external id, `phone` may be null. */
export type UserPayload = ContactIdentityFields;
export const userPayload = contactIdentityPayloadSchema;

/** Zendesk user fields (created by setup) holding the identifiers people read and search by. */
export const USER_FIELDS = { bsuid: 'whatsapp_bsuid', username: 'whatsapp_username', windowOpenUntil: 'whatsapp_window_open_until' } as const;

/**
 * The end user as written: name (with the @username), phone in E.164 with its `+`, our key as
 * external id, the identifiers as user fields, and a note when WhatsApp withholds the number.
 * https://developer.zendesk.com/api-reference/ticketing/users/users/
 */
export function endUser(payload: UserPayload): Record<string, unknown> {
  const userFields = {
    ...(payload.bsuid ? { [USER_FIELDS.bsuid]: payload.bsuid } : {}),
    ...(payload.username ? { [USER_FIELDS.username]: `@${payload.username}` } : {}),
  };
  return {
    name: displayName(payload),
    external_id: payload.crmKey,
    ...(payload.phone ? { phone: payload.phone } : {}),
    ...(Object.keys(userFields).length > 0 ? { user_fields: userFields } : {}),
    ...(payload.phone ? {} : { notes: NUMBER_WITHHELD_NOTE }),
  };
}

/** What an update of a linked end user writes: identifiers always; the phone where empty or still the previous number. */
export function endUserUpdate(payload: UserPayload, current: { phone?: string | null; notes?: string | null }): Record<string, unknown> {
  const { name: _name, phone: _phone, notes: _notes, ...identity } = endUser(payload);
  return {
    ...identity,
    ...(phoneFieldNeedsUpdate(current.phone, payload) ? { phone: payload.phone } : {}),
    ...(payload.phone && current.notes === NUMBER_WITHHELD_NOTE ? { notes: '' } : {}),
    ...(!payload.phone && !current.notes ? { notes: NUMBER_WITHHELD_NOTE } : {}),
  };
}

// The payload schemas: what the planner writes is what the handler reads back, checked. Plain
// (stripping) objects: fields an older version wrote and this one does not read are dropped,
// never refused; fields added later are optional.

export const commentPayload = z.object({
  messageId: z.string(),
  contactId: z.string(),
  threadId: z.string(),
  arrivalSeq: z.number(),
  /** How the customer reads in the ticket subject: name, @username, else number. */
  customerName: z.string().optional(),
  /** What comments queued before identities carried instead of customerName (see ticketSubject). */
  waId: z.string().nullish(),
  profileName: z.string().nullish(),
});
export type CommentPayload = z.infer<typeof commentPayload>;

/** A past conversation's message to import (see importedTicket); the operation imports all of the thread's not yet imported. */
export const historyImportPayload = z.object({
  messageId: z.string(),
  contactId: z.string(),
  threadId: z.string(),
  arrivalSeq: z.number(),
  customerName: z.string(),
});
export type HistoryImportPayload = z.infer<typeof historyImportPayload>;

export const attachmentPayload = storedMediaPayloadSchema.extend({ text: z.string() });
export type AttachmentPayload = z.infer<typeof attachmentPayload>;

export const repliesPayload = z.object({ ticketId: z.string(), threadId: z.string(), contactId: z.string() });
export type RepliesPayload = z.infer<typeof repliesPayload>;

export const notePayload = z.object({
  threadId: z.string(),
  /** The ticket the note is about; the thread's current ticket when null. */
  ticketId: z.string().nullable(),
  body: z.string(),
});
export type NotePayload = z.infer<typeof notePayload>;

function shortHash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

export interface PlanOptions {
  /** How long a message's comment waits for the rest of its burst (settings.settleMs). */
  readonly settleMs: number;
  /** What past conversations become (settings.history), and how long their import waits (settings.historySettleMs). */
  readonly history?: 'none' | 'solved-tickets';
  readonly historySettleMs?: number;
}

export function toOperationDrafts(change: ModelChange, options: PlanOptions = { settleMs: 0 }): OperationDraft[] {
  switch (change.type) {
    case 'contact.upserted': {
      const c = change.contact;
      const payload: UserPayload = identityFields(c, change.previousWaId ?? null);
      return [{ kind: KIND.user, key: `${c.id}:${c.updatedAt}`, orderingKey: contactOrderingKey(c.id), payload }];
    }
    case 'message.recorded': {
      // Our own replies are already on the ticket as the agent's comment.
      if (change.message.origin === ORIGIN) return [];
      // The business app's past chats open no live tickets: by config they are imported as solved
      // ones, one per past conversation, on a background key per thread (its imports one at a time,
      // so two never create the same conversation's ticket). A placeholder filled in later is not
      // written again: an imported ticket takes no comment without running triggers.
      // A past message and a live one name the same things: the import reads the thread later.
      const payload = {
        messageId: change.message.id,
        contactId: change.contact.id,
        threadId: change.thread.id,
        arrivalSeq: change.message.arrivalSeq,
        customerName: displayName(identityFields(change.contact)),
      } satisfies CommentPayload & HistoryImportPayload;
      if (change.message.history) {
        if (options.history !== 'solved-tickets' || change.refilled) return [];
        // One ticket per past thread: its imports one at a time, on the thread's background key.
        const { orderingKey } = messagePlacement(change, { per: 'thread' });
        return [{ kind: KIND.historyImport, key: change.message.id, orderingKey, payload, settleMs: options.historySettleMs ?? 0 }];
      }
      return [{ kind: KIND.comment, key: change.message.id, orderingKey: contactOrderingKey(change.contact.id), payload, settleMs: options.settleMs }];
    }
    case 'media.stored': {
      if (change.message.direction !== 'inbound' || change.message.history) return [];
      const payload = { ...storedMediaPayload(change), text: change.message.text } satisfies AttachmentPayload;
      return [{ kind: KIND.attachment, key: change.message.id, orderingKey: contactOrderingKey(change.contact.id), payload }];
    }
    case 'helpdesk.updated': {
      if (change.connector !== ORIGIN) return [];
      const payload = { ticketId: change.recordId, threadId: change.thread.id, contactId: change.contact.id } satisfies RepliesPayload;
      // A key per notification: a fetch finds every comment since the last one, so extra fetches cost a call, never a duplicate.
      return [{ kind: KIND.replies, key: `${change.recordId}:${change.deliveryId}`, orderingKey: contactOrderingKey(change.contact.id), payload }];
    }
    case 'reply.undeliverable': {
      if (change.reply.origin !== ORIGIN) return [];
      const body = `This reply was not sent to the customer on WhatsApp: ${change.reason}.`;
      const payload = { threadId: change.thread.id, ticketId: change.reply.sourceRecord, body } satisfies NotePayload;
      return [{ kind: KIND.note, key: `undeliverable:${change.reply.sourceId}:${shortHash(change.reason)}`, orderingKey: contactOrderingKey(change.contact.id), payload }];
    }
    case 'reply.resent': {
      if (change.reply.origin !== ORIGIN) return [];
      const body = `This reply was sent to the customer on WhatsApp a second time: ${change.reason}.`;
      const payload = { threadId: change.thread.id, ticketId: change.reply.sourceRecord, body } satisfies NotePayload;
      return [{ kind: KIND.note, key: `resent:${change.reply.sourceId}:${shortHash(change.reason)}`, orderingKey: contactOrderingKey(change.contact.id), payload }];
    }
    case 'message.status': {
      if (change.status !== 'failed' || change.message?.origin !== ORIGIN || !change.contact) return [];
      const body = undeliveredNote('a reply', change.message.text, change.errors);
      const payload = { threadId: change.message.threadId, ticketId: null, body } satisfies NotePayload;
      return [{ kind: KIND.note, key: `failed:${change.messageId}`, orderingKey: contactOrderingKey(change.contact.id), payload }];
    }
    default:
      return [];
  }
}

/** Public comments hold the customer's messages; private notes hold what the business sent from elsewhere (its WhatsApp app). */
export function isPublic(message: Pick<ThreadMessage, 'direction'>): boolean {
  return message.direction === 'inbound';
}

/** The next comment for a ticket (see nextCommentRun). */
export interface CommentRun {
  /** What an agent reads, in the customer's order: by timestamp, then arrival. */
  readonly messages: ThreadMessage[];
  readonly public: boolean;
  /** The highest arrival sequence the comment carries: how far the ticket is written after it. */
  readonly lastSeq: number;
  /** When the newest message already on the ticket was sent; older messages in this run arrived late. */
  readonly newestWrittenAt: number | null;
}

/**
 * The next comment for a ticket: the run of not-yet-written messages of one visibility. Which
 * messages it takes follows arrival ("written up to" is an arrival sequence, so what is written
 * is always a prefix and a late message is appended, never skipped); inside the comment they
 * read in the customer's order. Our own replies are skipped (they are the agents' comments
 * already), and so are the business app's past messages (see toOperationDrafts).
 */
export function nextCommentRun(messages: readonly ThreadMessage[], syncedTo: number): CommentRun | undefined {
  const unwritten = messages.filter((m) => m.arrivalSeq > syncedTo).sort((a, b) => a.arrivalSeq - b.arrivalSeq);
  const written = messages.filter((m) => m.arrivalSeq <= syncedTo);
  const newestWrittenAt = written.length > 0 ? Math.max(...written.map((m) => m.sentAt)) : null;
  // Past messages of the business app (history) never go on a live ticket: they are imported, or not, on their own.
  const skipped = (m: ThreadMessage) => m.origin === ORIGIN || m.history === true;
  const first = unwritten.find((m) => !skipped(m));
  if (!first) return unwritten.length > 0 ? { messages: [], public: true, lastSeq: Math.max(...unwritten.map((m) => m.arrivalSeq)), newestWrittenAt } : undefined;
  const run: ThreadMessage[] = [];
  let lastSeq = syncedTo;
  for (const m of unwritten) {
    if (skipped(m)) {
      lastSeq = m.arrivalSeq;
      continue;
    }
    if (isPublic(m) !== isPublic(first)) break;
    run.push(m);
    lastSeq = m.arrivalSeq;
  }
  run.sort((a, b) => a.sentAt - b.sentAt || a.arrivalSeq - b.arrivalSeq);
  return { messages: run, public: isPublic(first), lastSeq, newestWrittenAt };
}

const clock = (at: number) => new Date(at).toISOString().slice(11, 16);

/**
 * A comment body: one message as it is; several as paragraphs with their times. A comment is
 * never moved once written, so a message sent before the newest one already on the ticket says
 * when it was sent and that it arrived late, instead of reading silently out of place.
 */
export function commentBody(run: readonly ThreadMessage[], isPublicComment: boolean, newestWrittenAt: number | null = null): string {
  const late = (m: ThreadMessage) => newestWrittenAt !== null && m.sentAt < newestWrittenAt;
  const lines =
    run.length === 1 && !late(run[0]!)
      ? [run[0]!.text]
      : run.map((m) => (late(m) ? `(sent ${clock(m.sentAt)} UTC, arrived late)  ${m.text}` : `${clock(m.sentAt)} UTC  ${m.text}`));
  const body = lines.join('\n\n');
  return isPublicComment ? body : `Sent from the business's WhatsApp app:\n\n${body}`;
}

export function ticketSubject(payload: Pick<CommentPayload, 'customerName' | 'waId' | 'profileName'>): string {
  // Comments queued before identities carried waId and profileName instead of customerName.
  const who = payload.customerName ?? payload.profileName ?? payload.waId ?? 'a WhatsApp customer';
  return `WhatsApp conversation with ${who}`.slice(0, 150);
}

/** Tags a run of messages adds to its ticket: `suspicious_link` when one carries a phishing warning. */
export function flaggedTags(messages: readonly ThreadMessage[]): string[] {
  return [...new Set(messages.flatMap((m) => m.warnings))];
}

/** The fields every new ticket (and follow-up) gets from the configuration; `tag` is the one our setup trigger looks for. */
export function ticketDefaults(settings: ZendeskSettings, extraTags: readonly string[] = [], tag: string = WHATSAPP_TAG): Record<string, unknown> {
  return {
    tags: [...new Set([tag, ...settings.tags, ...extraTags])],
    ...(settings.brandId ? { brand_id: settings.brandId } : {}),
    ...(settings.groupId ? { group_id: settings.groupId } : {}),
    ...(settings.customFields.length > 0 ? { custom_fields: settings.customFields } : {}),
  };
}

/**
 * A comment body reduced to what survives Zendesk's processing of `body` (runs of spaces and
 * line breaks collapse, HTML tags are stripped): what we sent and what Zendesk kept compare equal
 * this way. https://developer.zendesk.com/api-reference/ticketing/tickets/ticket_comments/#bodies
 */
export function keptCommentText(body: string): string {
  return body.replace(/<[^>]*>/g, '').replace(/\s+/g, ' ').trim();
}

const PLACEHOLDER = /\{\{[^{}]*\}\}/g;

/**
 * Whether a comment Zendesk kept is the body we sent. Zendesk also renders `{{placeholders}}` a
 * customer may have typed (into values we cannot know), so each one matches any text.
 */
export function isKeptComment(sent: string, kept: string): boolean {
  const ours = keptCommentText(sent.replace(PLACEHOLDER, '\u0000'));
  const theirs = keptCommentText(kept);
  if (!ours.includes('\u0000')) return ours === theirs;
  const pattern = ours
    .split('\u0000')
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*?');
  return new RegExp(`^${pattern}$`, 's').test(theirs);
}

/**
 * The comments to send to the customer: public, newer than the last one looked at, and written by
 * neither the customer (their own messages) nor this integration's user (notes and echoes).
 */
export function agentReplies(comments: readonly ZendeskComment[], after: number, requesterId: number | undefined, integrationUserId: number): ZendeskComment[] {
  return comments
    .filter((c) => c.id > after && c.public && c.author_id !== requesterId && c.author_id !== integrationUserId)
    .sort((a, b) => a.id - b.id);
}

/** The acknowledgement text with the ticket number in place of `{{ticket}}`. */
export function acknowledgement(template: string, ticketId: string): string {
  return template.replaceAll('{{ticket}}', ticketId);
}

/**
 * The next past messages of a thread to import: its history messages not yet imported, the
 * `max` earliest by arrival (what is imported is always a prefix by arrival, as for comments),
 * returned in the customer's order. `lastSeq` is how far the thread is imported after them.
 */
export function nextHistoryBatch(messages: readonly ThreadMessage[], importedTo: number, max: number): { messages: ThreadMessage[]; lastSeq: number } | undefined {
  const batch = messages
    .filter((m) => m.history === true && m.arrivalSeq > importedTo)
    .sort((a, b) => a.arrivalSeq - b.arrivalSeq)
    .slice(0, max);
  if (batch.length === 0) return undefined;
  const lastSeq = batch[batch.length - 1]!.arrivalSeq;
  return { messages: batch.sort((a, b) => a.sentAt - b.sentAt || a.arrivalSeq - b.arrivalSeq), lastSeq };
}

/** The external id of a past conversation's imported ticket: the first of the thread, or the one continuing after `importedTo`. */
export function historyExternalId(threadId: string, importedTo: number): string {
  return importedTo < 0 ? `wa-history:${threadId}` : `wa-history:${threadId}:after:${importedTo}`;
}

const iso = (at: number) => new Date(at).toISOString();

/**
 * A past conversation as a ticket for the Ticket Import API: solved, dated from its first to its
 * last message, one public comment per message with its original time, written by the customer
 * (the requester) or by the business (the integration's agent).
 * https://developer.zendesk.com/api-reference/ticketing/tickets/ticket_import/#ticket-import
 */
export function importedTicket(
  settings: ZendeskSettings,
  input: { readonly messages: readonly ThreadMessage[]; readonly customerName: string; readonly externalId: string; readonly continued: boolean; readonly requesterId: number; readonly agentId: number },
): Record<string, unknown> {
  const first = input.messages[0]!;
  const last = input.messages[input.messages.length - 1]!;
  const subject = `WhatsApp conversation with ${input.customerName}, ${iso(first.sentAt).slice(0, 10)} (${input.continued ? 'history, continued' : 'history'})`.slice(0, 150);
  return {
    subject,
    requester_id: input.requesterId,
    external_id: input.externalId,
    status: 'solved',
    created_at: iso(first.sentAt),
    updated_at: iso(last.sentAt),
    solved_at: iso(last.sentAt),
    ...ticketDefaults(settings, [], HISTORY_TAG),
    comments: input.messages.map((m) => ({
      author_id: m.direction === 'inbound' ? input.requesterId : input.agentId,
      body: m.text.trim() === '' ? '(empty message)' : m.text,
      public: true,
      created_at: iso(m.sentAt),
    })),
  };
}
