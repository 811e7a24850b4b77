// Live tickets: one per WhatsApp thread, the customer as requester, their messages as comments.
// A burst costs few calls: the messages not yet on the ticket go in one update; a closed ticket
// gets a follow-up. Every write whose answer may be lost is noted first and, on a retry, looked
// for on the ticket (or the ticket adopted by its external id) instead of being written twice.
// Files are attachments on a comment, notes are internal comments, consent is a user tag and a note.
import { createHash } from 'node:crypto';
import type { ExecutionContext, OperationEffect } from '../../core/connector.js';
import type { OutboundReply } from '../../core/model/types.js';
import { optOutNote, type ConsentPayload } from '../../core/consent/operation.js';
import { sendNoted, waitOutLateLanding, type LateLandingWrite } from '../../core/lost-answer.js';
import { requirePrerequisite, type OperationDone } from '../../core/operations.js';
import { expectAnswer, isClosedTicketError, isIdempotencyMismatch, type ZendeskApi } from './client.js';
import { writeZendeskConsentTag } from './consent.js';
import {
  ORIGIN,
  acknowledgement,
  commentBody,
  flaggedTags,
  isKeptComment,
  keptCommentText,
  nextCommentRun,
  ticketDefaults,
  ticketSubject,
  type AttachmentPayload,
  type CommentPayload,
  type NotePayload,
} from './mappers.js';
import { REF, lateLanding } from './refs.js';
import { zendeskTicket, zendeskTickets, type ZendeskComment } from './responses.js';
import type { ZendeskSettings } from './settings.js';

interface PendingWrite {
  /** The highest arrival sequence the write carries. */
  readonly seq: number;
  /** The body as Zendesk will keep it (see keptCommentText), to recognise it on the ticket. */
  readonly text?: string;
  /** Written by earlier versions instead of `text`: a hash of the exact body. */
  readonly hash?: string;
}

function pendingWrite(seq: number, body: string): PendingWrite {
  return { seq, text: keptCommentText(body) };
}

/** Whether a comment on the ticket is this noted write. */
function isWriteOnTicket(write: PendingWrite, comment: ZendeskComment): boolean {
  const kept = comment.body ?? comment.plain_body ?? '';
  if (write.text !== undefined) return isKeptComment(write.text, kept);
  return write.hash === createHash('sha256').update(kept.trim()).digest('hex').slice(0, 24);
}

export class ZendeskTicketWriter {
  readonly #api: ZendeskApi;
  readonly #settings: ZendeskSettings;

  constructor(api: ZendeskApi, settings: ZendeskSettings) {
    this.#api = api;
    this.#settings = settings;
  }

  /**
   * Writes every message of the thread not yet on its ticket, up to and including this
   * operation's: creates the ticket on the first (with an Idempotency-Key), adds comments after,
   * opens a follow-up when the ticket is closed. Later operations of messages already written cost no call.
   */
  async writeComments(payload: CommentPayload, context: ExecutionContext, retried: boolean): Promise<OperationDone> {
    const effects: OperationEffect[] = [];
    // An update in doubt may still land: looking for it now could find nothing and write it twice.
    await waitOutLateLanding(context, this.#threadWrite(payload.threadId));
    // After a lost answer, first ask whether the write then under way landed (once per run).
    let landingChecked = !retried;
    for (let step = 0; step < 50; step++) {
      const syncedTo = Number((await context.getRef(REF.syncedTo, payload.threadId)) ?? -1);
      if (syncedTo >= payload.arrivalSeq) break;
      if (!landingChecked) {
        landingChecked = true;
        const landed = await this.#landedWrite(payload.threadId, syncedTo, context);
        if (landed !== undefined) {
          await context.setRef(REF.syncedTo, payload.threadId, String(landed));
          continue;
        }
      }
      const requesterId = requirePrerequisite(await context.getRef(REF.user, payload.contactId), "the customer's Zendesk user");
      const run = nextCommentRun(await context.threadMessages(payload.threadId), syncedTo);
      if (!run || run.lastSeq <= syncedTo) {
        // The message is not in the thread as we read it (moved or gone): nothing to write.
        await context.setRef(REF.syncedTo, payload.threadId, String(Math.max(syncedTo, payload.arrivalSeq)));
        break;
      }
      if (run.messages.length === 0) {
        await context.setRef(REF.syncedTo, payload.threadId, String(run.lastSeq));
        continue;
      }
      const body = commentBody(run.messages, run.public, run.newestWrittenAt);
      const comment = { body, public: run.public, ...(run.public ? { author_id: Number(requesterId) } : {}) };
      const ticketId = await context.getRef(REF.ticket, payload.threadId);
      await this.#rememberWrite(payload.threadId, pendingWrite(run.lastSeq, body), !ticketId, context);
      if (!ticketId) {
        const created = await this.#createTicket(payload, comment, flaggedTags(run.messages), Number(requesterId), `wa-crm-sync:${payload.threadId}`, null, context);
        if (created.adoptedSyncedTo !== undefined) {
          // An earlier attempt created it: what it carried is on the ticket already.
          await context.setRef(REF.syncedTo, payload.threadId, String(created.adoptedSyncedTo));
          continue;
        }
      } else {
        // Read again once the ticket's limit lets the update through: what arrived while it waited goes in the same update.
        let sent: { run: typeof run; comment: Record<string, unknown> } = { run, comment };
        try {
          await sendNoted(context, [this.#threadWrite(payload.threadId)], () =>
            this.#api.call(
              context,
              `adding a comment to ticket ${ticketId}`,
              async (c) => {
                sent = await this.#widenRun(payload.threadId, syncedTo, sent, context);
                const tags = flaggedTags(sent.run.messages);
                return c.tickets.put(['tickets', ticketId], { ticket: { comment: sent.comment, ...(run.public ? { status: 'open' } : {}), ...(tags.length > 0 ? { additional_tags: tags } : {}) } });
              },
              { buckets: ['ticket-update', `ticket:${ticketId}`] },
            ),
          );
        } catch (error) {
          if (!isClosedTicketError(error)) throw error;
          // https://developer.zendesk.com/documentation/ticketing/managing-tickets/creating-and-managing-follow-up-tickets/
          const created = await this.#createTicket(payload, sent.comment, flaggedTags(sent.run.messages), Number(requesterId), `wa-crm-sync:${payload.threadId}:followup:${ticketId}`, ticketId, context);
          context.log.info({ closedTicket: ticketId, followUp: created.ticketId }, 'customer wrote on a closed ticket; opened a follow-up');
        }
        await context.setRef(REF.syncedTo, payload.threadId, String(sent.run.lastSeq));
        continue;
      }
      await context.setRef(REF.syncedTo, payload.threadId, String(run.lastSeq));
    }
    const ticketId = await context.getRef(REF.ticket, payload.threadId);
    // Asked for at every success, not only by the write that created the ticket (that operation
    // may fail at a later step and lose its effects): the send's key makes it one message.
    if (ticketId) effects.push(...this.#acknowledge(payload.threadId, ticketId));
    return { result: { zendeskTicketId: ticketId ?? null }, ...(effects.length > 0 ? { effects } : {}) };
  }

  /**
   * Before a comment write runs again: if it may have created a ticket (none is known for the
   * thread, or the known one is closed and a follow-up was under way), looks for that ticket by
   * its external_id (our thread id) and adopts it, so the retry adds to it instead of creating
   * another. The Idempotency-Key alone is not enough: Zendesk forgets it after 2 hours
   * (https://developer.zendesk.com/api-reference/ticketing/introduction/#idempotency), and an
   * outage or backlog can last longer. A creation whose answer was lost may also still be carried
   * out, so the look waits until it can no longer land (see lostAnswerWaitSeconds). Then the write
   * itself runs, and its landed-write check says how far the adopted ticket already goes. Users
   * need no step here: every attempt looks them up by external id before creating; notes and
   * attachments check the ticket's comments, after the same wait.
   */
  async reconcileComment(payload: CommentPayload, context: ExecutionContext): Promise<undefined> {
    const pending = await this.#pendingWrites(payload.threadId, context);
    if (pending.length === 0) return undefined;
    // A creation in doubt may still land: looking now could find nothing and let the write create another.
    await waitOutLateLanding(context, this.#threadWrite(payload.threadId));
    await this.#adoptCreatedTicket(payload.threadId, context);
    return undefined;
  }

  /**
   * Adopts the newest ticket with the thread's external_id that is newer than the one we know
   * (a creation or follow-up whose answer was lost). List Tickets filters by external_id
   * without the search index's delay.
   * https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/#list-tickets
   */
  async #adoptCreatedTicket(threadId: string, context: ExecutionContext): Promise<string | undefined> {
    const known = await context.getRef(REF.ticket, threadId);
    const tickets = await this.#api.read(context, "looking up the thread's ticket by external id", zendeskTickets, (c) => c.tickets.get(['tickets', { external_id: threadId }]));
    const newer = tickets.filter((t) => t.id > Number(known ?? 0)).sort((a, b) => a.id - b.id);
    // The oldest newer one: if duplicates exist from before this check, keep writing to the first.
    const found = newer[0];
    if (!found) return undefined;
    await context.setRef(REF.ticket, threadId, String(found.id));
    context.log.info({ zendeskTicketId: found.id, threadId }, 'adopted a ticket an earlier attempt created');
    return String(found.id);
  }

  /** A thread's ticket creation or comment update: one at a time per thread, so one note covers both. */
  #threadWrite(threadId: string): LateLandingWrite {
    return lateLanding(this.#settings, REF.commentSent, threadId, 'ticket creation or comment update');
  }

  /** The same comment with the messages of its run that arrived since it was put together. */
  async #widenRun(
    threadId: string,
    syncedTo: number,
    current: { run: NonNullable<ReturnType<typeof nextCommentRun>>; comment: Record<string, unknown> },
    context: ExecutionContext,
  ): Promise<typeof current> {
    const latest = nextCommentRun(await context.threadMessages(threadId), syncedTo);
    if (!latest || latest.public !== current.run.public || latest.lastSeq <= current.run.lastSeq) return current;
    const body = commentBody(latest.messages, latest.public, latest.newestWrittenAt);
    await this.#rememberWrite(threadId, pendingWrite(latest.lastSeq, body), false, context);
    return { run: latest, comment: { ...current.comment, body } };
  }

  /**
   * Notes what a write carries before it is sent, for when its answer is lost. Creation attempts
   * accumulate (each retry may carry more messages, and any one of them may be the one Zendesk
   * kept); a comment write replaces the note.
   */
  async #rememberWrite(threadId: string, write: PendingWrite, creating: boolean, context: ExecutionContext): Promise<void> {
    const earlier = creating ? await this.#pendingWrites(threadId, context) : [];
    await context.setRef(REF.pendingWrite, threadId, JSON.stringify([...earlier.filter((w) => w.text !== write.text), write]));
  }

  async #pendingWrites(threadId: string, context: ExecutionContext): Promise<PendingWrite[]> {
    const stored = await context.getRef(REF.pendingWrite, threadId);
    return stored ? (JSON.parse(stored) as PendingWrite[]) : [];
  }

  /**
   * After a lost answer: how far the writes noted before it reached the ticket (a comment among
   * its newest has the body of one of them), or undefined when none did. The next write is
   * recomputed from there, so messages that arrived since are added, not written twice.
   */
  async #landedWrite(threadId: string, syncedTo: number, context: ExecutionContext): Promise<number | undefined> {
    const pending = (await this.#pendingWrites(threadId, context)).filter((w) => w.seq > syncedTo);
    const ticketId = await context.getRef(REF.ticket, threadId);
    if (!ticketId || pending.length === 0) return undefined;
    const comments = await this.#api.newestComments(context, ticketId);
    const landed = pending.filter((w) => comments.some((c) => isWriteOnTicket(w, c))).map((w) => w.seq);
    return landed.length > 0 ? Math.max(...landed) : undefined;
  }

  /** Whether one of the ticket's newest comments has this body: how a retry after a lost answer avoids writing twice. */
  async #onTicket(ticketId: string, body: string, context: ExecutionContext): Promise<boolean> {
    const comments = await this.#api.newestComments(context, ticketId);
    return comments.some((c) => isKeptComment(body, c.body ?? c.plain_body ?? ''));
  }

  /**
   * POST /tickets with an Idempotency-Key: a repeat with the same body returns the first ticket.
   * A repeat with a different body (more messages arrived since) is refused by Zendesk; then the
   * ticket is found by its external id (our thread id) and adopted.
   * https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/#create-ticket
   */
  async #createTicket(
    payload: CommentPayload,
    comment: Record<string, unknown>,
    extraTags: readonly string[],
    requesterId: number,
    idempotencyKey: string,
    followUpOf: string | null,
    context: ExecutionContext,
  ): Promise<{ ticketId: string; adoptedSyncedTo?: number }> {
    const ticket = {
      subject: ticketSubject(payload),
      comment,
      requester_id: requesterId,
      external_id: payload.threadId,
      ...ticketDefaults(this.#settings, extraTags),
      ...(followUpOf ? { via_followup_source_id: Number(followUpOf) } : {}),
    };
    try {
      // Noted like a comment update: a creation carried out after its answer was lost is found
      // by external_id once it can no longer land (see reconcile), whether or not Zendesk still
      // holds its Idempotency-Key by then.
      const { result } = await sendNoted(context, [this.#threadWrite(payload.threadId)], () =>
        this.#api.call(context, 'creating a ticket', (c) => c.tickets.post(['tickets'], { ticket }), { idempotencyKey }),
      );
      // Checked once the creation is answered (and so no longer in doubt): a retry adopts it by external id.
      const created = expectAnswer('creating a ticket', zendeskTicket, result);
      await context.setRef(REF.ticket, payload.threadId, String(created.id));
      return { ticketId: String(created.id) };
    } catch (error) {
      if (!isIdempotencyMismatch(error)) throw error;
      const tickets = await this.#api.read(context, 'finding the ticket an earlier attempt created', zendeskTickets, (c) => c.tickets.get(['tickets', { external_id: payload.threadId }]));
      const found = tickets.filter((t) => !followUpOf || String(t.id) !== followUpOf).sort((a, b) => b.id - a.id)[0];
      if (!found) throw error;
      await context.setRef(REF.ticket, payload.threadId, String(found.id));
      // The ticket's first comment is the body Zendesk kept for this key: it says how far that attempt went.
      const comments = await this.#api.newestComments(context, String(found.id));
      const first = comments[comments.length - 1];
      const attempts = await this.#pendingWrites(payload.threadId, context);
      const kept = first ? attempts.find((w) => isWriteOnTicket(w, first)) : undefined;
      // Unknown: assume the least was carried; a message written twice beats a message lost.
      const carried = kept?.seq ?? Math.min(...attempts.map((w) => w.seq), payload.arrivalSeq);
      return { ticketId: String(found.id), adoptedSyncedTo: carried };
    }
  }

  /** The optional WhatsApp acknowledgement with the new ticket's number. */
  #acknowledge(threadId: string, ticketId: string): OperationEffect[] {
    if (!this.#settings.autoAcknowledge.enabled) return [];
    const reply: OutboundReply = {
      origin: ORIGIN,
      sourceId: `ack:${ticketId}`,
      sourceRecord: ticketId,
      text: acknowledgement(this.#settings.autoAcknowledge.text, ticketId),
      attachments: [],
      template: null,
    };
    return [{ type: 'reply.requested', threadId, reply }];
  }

  /** A received file as an attachment on a comment of the thread's ticket, or a note when it is too large. */
  async attach(payload: AttachmentPayload, context: ExecutionContext, retried: boolean): Promise<OperationDone> {
    const done = await context.getRef(REF.attachment, payload.messageId);
    if (done) return { result: { zendeskTicketId: done } };
    const ticketId = requirePrerequisite(await context.getRef(REF.ticket, payload.threadId), "the thread's Zendesk ticket");
    const requesterId = requirePrerequisite(await context.getRef(REF.user, payload.contactId), "the customer's Zendesk user");
    const name = payload.filename ?? `whatsapp-${payload.sha256.slice(0, 16)}.${payload.mimeType.split('/')[1]?.split(';')[0] ?? 'bin'}`;
    const tooLarge = payload.size > this.#settings.maxAttachmentBytes;
    const body = tooLarge
      ? `${payload.text}\n\n(The file ${name}, ${(payload.size / 1048576).toFixed(1)} MB, is over the ${(this.#settings.maxAttachmentBytes / 1048576).toFixed(0)} MB attachment limit and was not attached; it is kept by wa-crm-sync.)`
      : `${payload.text} (attached: ${name})`;
    // Uploading again after a lost upload answer doubles nothing: an upload no comment carries is
    // deleted by Zendesk when its token expires (60 minutes), so only the comment must be once.
    // https://support.zendesk.com/hc/en-us/articles/4408887057946-Can-I-attach-files-to-tickets-using-the-API
    await this.#commentOnce(ticketId, body, lateLanding(this.#settings, REF.singleCommentSent, `attachment:${payload.messageId}`, 'attachment comment'), retried, context, `attaching a file to ticket ${ticketId}`, async () =>
      tooLarge ? { body, public: false } : { body, public: true, author_id: Number(requesterId), uploads: [await this.#api.upload(context, payload.path, name, payload.mimeType.split(';')[0]!.trim())] },
    );
    await context.setRef(REF.attachment, payload.messageId, ticketId);
    return { result: { zendeskTicketId: ticketId } };
  }

  /**
   * A consent change: the user's tag, then for an opt-out an internal note on the latest thread's
   * ticket (none when the person never wrote or their ticket is not written yet: the tag is the record).
   */
  async consent(payload: ConsentPayload, context: ExecutionContext, retried: boolean): Promise<OperationDone> {
    const tagged = await writeZendeskConsentTag(this.#api, payload, context);
    if (payload.status !== 'opted_out' || !payload.threadId || !(await context.getRef(REF.ticket, payload.threadId))) return { result: tagged };
    const noted = await this.note({ threadId: payload.threadId, ticketId: null, body: optOutNote(payload) }, context, retried);
    return { result: { ...tagged, ...noted } };
  }

  /** An internal note on the ticket (never public, so no trigger sends it). */
  async note(payload: NotePayload, context: ExecutionContext, retried: boolean): Promise<{ zendeskTicketId: string }> {
    const ticketId = requirePrerequisite(payload.ticketId ?? (await context.getRef(REF.ticket, payload.threadId)), "the thread's Zendesk ticket");
    const noted = lateLanding(this.#settings, REF.singleCommentSent, `note:${ticketId}:${createHash('sha256').update(payload.body).digest('hex').slice(0, 24)}`, 'internal note');
    await this.#commentOnce(ticketId, payload.body, noted, retried, context, `adding a note to ticket ${ticketId}`, async () => ({ body: payload.body, public: false }));
    return { zendeskTicketId: ticketId };
  }

  /**
   * One comment on a ticket, once. After a lost answer the retry looks for it among the ticket's
   * newest comments, but only once the earlier write can no longer land: Zendesk may still be
   * carrying it out (see lostAnswerWaitSeconds), and a look before that finds nothing.
   */
  async #commentOnce(
    ticketId: string,
    body: string,
    write: LateLandingWrite,
    retried: boolean,
    context: ExecutionContext,
    action: string,
    comment: () => Promise<Record<string, unknown>>,
  ): Promise<void> {
    await waitOutLateLanding(context, write);
    if (retried && (await this.#onTicket(ticketId, body, context))) return;
    const built = await comment();
    await sendNoted(context, [write], () => this.#api.call(context, action, (c) => c.tickets.put(['tickets', ticketId], { ticket: { comment: built } }), { buckets: ['ticket-update', `ticket:${ticketId}`] }));
  }
}
