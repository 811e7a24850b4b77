// The sync engine: turns stored deliveries into model changes, and model changes into outbox
// operations through each configured connector, in the transaction that marks the delivery done.
import type { Transaction } from 'kysely';
import { PENDING_SEND_REF, SENT_MESSAGE_REF, decodePendingSend, parseSentPartKey, type Connector, type OperationEffect } from './connector.js';
import { errorMessage } from './errors.js';
import type { Logger } from './logger.js';
import {
  changeContactBsuid,
  changeContactNumber,
  linkKnownContact,
  insertMessage,
  messageExists,
  recordStatus,
  resolveContact,
  threadFor,
  toContact,
  loadContact,
  loadMessage,
  loadThread,
  nextArrivalSeq,
  touchThread,
  recordAccountEvent,
  latestThreadId,
  queueMediaDownload,
  fillPlaceholderMessage,
  recordHistoryChunk,
} from './model/repository.js';
import { maskIdentifier } from './model/identity.js';
import { consentFromWords, type ConsentKeywords } from './consent/keywords.js';
import { recordConsent } from './consent/store.js';
import { explainReference } from './model/references.js';
import { DELIVERY_STATUSES, type DeliveryParser, type DeliveryStatus, type InboundAccountEvent, type InboundAppContactEvent, type InboundConsentEvent, type InboundEvent, type InboundHelpdeskEvent, type InboundHistoryChunkEvent, type InboundIdentityEvent, type InboundMessageEvent, type InboundStatusEvent, type Message, type ModelChange, type ParsedDelivery } from './model/types.js';
import { checkLinks, linkWarning, linksOutsideAllowList, type LinkPolicy } from './security/links.js';
import type { Alerts } from './security/alerts.js';
import { accountEventAlert, unknownSenderAlert, unknownStatusAlert } from './security/signals.js';

/**
 * Whether this service sent the message: its wamid is kept the moment WhatsApp answers the send,
 * before the message itself is recorded, so a status arriving in between is not taken for a stranger's.
 */
/** The newest of our threads a connector's refs of one kind link to a vendor conversation id (see InboundHelpdeskEvent.threadRef). */
async function newestThreadByRef(tx: Transaction<Database>, connector: string, ref: { kind: string; externalId: string }): Promise<string | undefined> {
  const row = await tx
    .selectFrom('external_refs')
    .innerJoin('threads', 'threads.id', 'external_refs.local_id')
    .select('threads.id')
    .where('external_refs.connector', '=', connector)
    .where('external_refs.kind', '=', ref.kind)
    .where('external_refs.external_id', '=', ref.externalId)
    .orderBy('threads.last_message_at', 'desc')
    .limit(1)
    .executeTakeFirst();
  return row?.id;
}

/** The reply part one of our sends carried (its SENT_MESSAGE_REF local id), or undefined for a message we did not send. */
async function sentPartRef(tx: Transaction<Database>, messageId: string): Promise<string | undefined> {
  const row = await tx.selectFrom('external_refs').select('local_id').where('connector', '=', SENT_MESSAGE_REF.connector).where('kind', '=', SENT_MESSAGE_REF.kind).where('external_id', '=', messageId).executeTakeFirst();
  return row?.local_id;
}

/**
 * A status echoing the callback data of one of our sends: that send arrived. Its wamid is kept
 * for the part (unless a wamid is already kept: a resend's), and the operation waiting to learn
 * whether it may send again runs now. Returns whether the callback data was ours.
 */
async function settlePendingSend(tx: Transaction<Database>, callbackData: string, messageId: string, now: number): Promise<boolean> {
  const row = await tx
    .selectFrom('external_refs')
    .select('external_id')
    .where('connector', '=', PENDING_SEND_REF.connector)
    .where('kind', '=', PENDING_SEND_REF.kind)
    .where('local_id', '=', callbackData)
    .executeTakeFirst();
  const pending = decodePendingSend(row?.external_id);
  if (!pending) return false;
  await tx
    .insertInto('external_refs')
    .values({ connector: SENT_MESSAGE_REF.connector, kind: SENT_MESSAGE_REF.kind, local_id: pending.part, external_id: messageId, updated_at: now })
    .onConflict((oc) => oc.columns(['connector', 'kind', 'local_id']).doNothing())
    .execute();
  await runPendingOperationNow(tx, pending.operation, now);
  return true;
}

/** The original type a source gives a history media message whose media is not shared yet. */
const HISTORY_PLACEHOLDER_TYPE = 'media_placeholder';

function historyStatus(status: string | null): DeliveryStatus | null {
  return status !== null && (DELIVERY_STATUSES as readonly string[]).includes(status) ? (status as DeliveryStatus) : null;
}

/** One parser per delivery source (`whatsapp`, `zendesk`): the source a delivery was stored under picks it. */
export type DeliveryParsers = Readonly<Record<string, DeliveryParser>>;
import { enqueueOperations, runPendingOperationNow } from './outbox/queries.js';
import type { Database } from './store/schema.js';
import type { Store } from './store/store.js';

export interface EngineOptions {
  readonly threadGapMs: number;
  /** Business phone_number_ids served; empty serves all. */
  readonly servedNumbers: readonly string[];
  /** Phishing-link checks on customers' messages and agents' replies (security.links). */
  readonly links?: LinkPolicy & { readonly outboundReplies: 'off' | 'warn' | 'block' };
  /** Coexistence onboarding: whether the business app's address book becomes contacts (whatsapp.history.appContacts). */
  readonly history?: { readonly appContacts: boolean };
  /** Opt-out and opt-in words and button payloads (the `consent` section); none: messages change no consent. */
  readonly consent?: ConsentKeywords;
}

export interface ProcessResult {
  readonly processed: number;
  readonly flagged: number;
  readonly operationsQueued: number;
  /** A delivery is part-way through its slices: call again (live deliveries stored meanwhile go first). */
  readonly sliced: boolean;
}

/**
 * Events of one delivery per processing transaction: a history webhook of 1,000 messages took
 * ~8.5 s in one go, and live messages stored after it waited all that time; a slice of 50 takes
 * well under a second. Small deliveries (a live webhook has a handful of events) are never cut.
 */
export const DELIVERY_SLICE_EVENTS = 50;

/** What applying one delivery's events shares: its transaction, its id and time, and what it found and changed so far. */
interface EventApplication {
  readonly tx: Transaction<Database>;
  readonly deliveryId: number;
  readonly now: number;
  /** Parts of the delivery that could not be applied, said plainly (the delivery is flagged with them). */
  readonly problems: string[];
  readonly nextSeq: () => Promise<number>;
  readonly changes: ModelChange[];
}

/** The connectors that plan operations now: every configured one, enabled or not, so nothing is missed while one is switched off. */
export type PlanningConnectors = () => readonly Connector[];

export class Engine {
  readonly #store: Store;
  readonly #parsers: DeliveryParsers;
  readonly #connectors: PlanningConnectors;
  readonly #log: Logger;
  readonly #options: () => EngineOptions;
  readonly #maxAttempts: (connector: Connector) => number;
  readonly #alerts: Alerts | undefined;
  readonly #sliceEvents: number;
  readonly #deliveriesStored: () => number;
  /** The delivery part-way through its slices, kept parsed. */
  #sliced: { readonly deliveryId: number; readonly parsed: ParsedDelivery } | undefined;

  constructor(deps: {
    store: Store;
    parsers: DeliveryParsers;
    connectors: PlanningConnectors;
    log: Logger;
    /** Read on every use, so a config reload takes effect at once. */
    options: () => EngineOptions;
    /** Where compromise signals seen in deliveries are raised. */
    alerts?: Alerts;
    /** Events per slice of a big delivery (DELIVERY_SLICE_EVENTS). */
    sliceEvents?: number;
    /**
     * A count that moves whenever a delivery is stored, readable inside a transaction (the
     * processing thread's shared wake counter): a slice under way ends when it moves, so the new
     * delivery (a live message) waits one event, not the rest of the slice.
     */
    deliveriesStored?: () => number;
  }) {
    this.#deliveriesStored = deps.deliveriesStored ?? (() => 0);
    this.#sliceEvents = Math.max(1, deps.sliceEvents ?? DELIVERY_SLICE_EVENTS);
    this.#alerts = deps.alerts;
    this.#store = deps.store;
    this.#parsers = deps.parsers;
    this.#connectors = deps.connectors;
    this.#log = deps.log;
    this.#options = deps.options;
    this.#maxAttempts = (c) => c.tuning.maxAttempts;
  }

  /**
   * Processes up to `limit` pending deliveries in arrival order, deliveries not yet started before
   * the rest of one processed in slices: a delivery of more than `sliceEvents` events (a history
   * webhook of thousands of messages) gets one slice per call, so live messages stored meanwhile
   * never wait behind it for more than one slice.
   */
  async processPending(limit = 50): Promise<ProcessResult> {
    try {
      return await this.#store.db.transaction().execute((tx) => this.#processBatch(tx, limit));
    } catch (error) {
      // One delivery may be at fault: go one by one so the rest still flow.
      this.#log.warn({ err: errorMessage(error) }, 'delivery batch failed; processing one at a time');
      const total = { processed: 0, flagged: 0, operationsQueued: 0, sliced: false };
      for (let i = 0; i < limit; i++) {
        // The one that failed is flagged by id: another delivery may be stored (and come first) in between.
        const [next] = await this.#nextRows(this.#store.db, 1);
        if (!next) break;
        let result: ProcessResult;
        try {
          result = await this.#store.db.transaction().execute((tx) => this.#processBatch(tx, 1, next.id));
        } catch (single) {
          result = await this.#store.db.transaction().execute((tx) => this.#flag(tx, next.id, single));
        }
        if (result.processed + result.flagged === 0 && !result.sliced) break;
        total.processed += result.processed;
        total.flagged += result.flagged;
        total.operationsQueued += result.operationsQueued;
        total.sliced ||= result.sliced;
        // A slice ends this batch, as in #processBatch: what is stored meanwhile goes first.
        if (result.sliced) break;
      }
      return total;
    }
  }

  /**
   * The deliveries to process next: those not started, in arrival order, or else the oldest one
   * part-way through its slices.
   */
  async #nextRows(db: Transaction<Database> | Store['db'], limit: number) {
    const fresh = await db.selectFrom('webhook_deliveries').selectAll().where('state', '=', 'pending').where('events_done', '=', 0).orderBy('id').limit(limit).execute();
    if (fresh.length > 0) return fresh;
    return db.selectFrom('webhook_deliveries').selectAll().where('state', '=', 'pending').where('events_done', '>', 0).orderBy('id').limit(1).execute();
  }

  /** Kept and flagged with the reason; `replay --deliveries` puts it back once fixed. */
  async #flag(tx: Transaction<Database>, deliveryId: number, failure: unknown): Promise<ProcessResult> {
    await this.#store.lockForTransaction(tx, 'process-deliveries');
    const flagged = await tx
      .updateTable('webhook_deliveries')
      .set({ state: 'flagged', problems: JSON.stringify([`processing failed: ${errorMessage(failure)}`]), processed_at: Date.now() })
      .where('id', '=', deliveryId)
      .where('state', '=', 'pending')
      .executeTakeFirst();
    if (Number(flagged.numUpdatedRows) === 0) return { processed: 0, flagged: 0, operationsQueued: 0, sliced: false };
    this.#log.error({ deliveryId, err: errorMessage(failure) }, 'delivery could not be processed; flagged for replay');
    return { processed: 0, flagged: 1, operationsQueued: 0, sliced: false };
  }

  /**
   * A delivery's events, parsed once for all its slices: the delivery part-way is kept parsed
   * (one at a time), and parsed again from its stored body only after a restart.
   */
  #parse(row: { id: number; source: string; body: string; received_at: number }): ParsedDelivery {
    if (this.#sliced?.deliveryId === row.id) return this.#sliced.parsed;
    const parse = this.#parsers[row.source];
    return parse ? parse(row.body, row.received_at) : { events: [], problems: [`no parser for deliveries from "${row.source}"`] };
  }

  /** Plans and queues operations for changes (used by the dispatcher for changes an operation caused). */
  async planChanges(tx: Transaction<Database>, changes: readonly ModelChange[], now = Date.now()): Promise<number> {
    let queued = 0;
    for (const connector of this.#connectors()) {
      const drafts = changes.flatMap((change) => connector.plan(change));
      queued += await enqueueOperations(tx, connector.metadata.id, drafts, { maxAttempts: this.#maxAttempts(connector), now });
    }
    return queued;
  }

  /** Records what operations changed (media stored, replies found or sent) and plans what follows from it. */
  async applyEffects(tx: Transaction<Database>, effects: readonly OperationEffect[], now = Date.now()): Promise<number> {
    const changes: ModelChange[] = [];
    for (const effect of effects) {
      if (effect.type !== 'media.stored') {
        const change = await this.#replyChange(tx, effect, now);
        if (change) changes.push(change);
        continue;
      }
      const { media } = effect;
      await tx
        .updateTable('media')
        .set({ state: 'stored', path: media.path, size: media.size, sha256: media.sha256, error: null, updated_at: now })
        .where('message_id', '=', media.messageId)
        .execute();
      const message = await loadMessage(tx, media.messageId);
      const contact = message ? await loadContact(tx, message.contactId) : undefined;
      if (message && contact) changes.push({ type: 'media.stored', contact, message, media });
    }
    return this.planChanges(tx, changes, now);
  }

  /** The model change a reply effect stands for; a sent reply is recorded as an outbound message first. */
  async #replyChange(tx: Transaction<Database>, effect: Exclude<OperationEffect, { type: 'media.stored' }>, now: number): Promise<ModelChange | undefined> {
    const thread = await loadThread(tx, effect.threadId);
    const contact = thread ? await loadContact(tx, thread.contactId) : undefined;
    if (!thread || !contact) {
      this.#log.error({ threadId: effect.threadId, effect: effect.type }, 'effect names a thread that is not in the store; ignored');
      return undefined;
    }
    if (effect.type === 'reply.requested') {
      const links = this.#options().links;
      const outside = links && links.outboundReplies !== 'off' ? linksOutsideAllowList(effect.reply.text, links) : [];
      if (outside.length > 0 && links) {
        const hosts = [...new Set(outside.map((u) => u.replace(/^https?:\/\//i, '').split(/[/?#]/)[0]))].join(', ');
        this.#log.warn({ origin: effect.reply.origin, sourceRecord: effect.reply.sourceRecord, hosts, policy: links.outboundReplies }, "an agent's reply links outside security.links.allow");
        if (links.outboundReplies === 'block') {
          const reason = `it links to ${hosts}, which is not on security.links.allow or brandDomains, and security.links.outboundReplies is block; add the domain to the allow list or remove the link, then reply again`;
          return { type: 'reply.undeliverable', contact, thread, reply: effect.reply, reason };
        }
      }
      return { type: 'reply.requested', contact, thread, reply: effect.reply };
    }
    if (effect.type === 'reply.undeliverable' || effect.type === 'reply.resent') return { type: effect.type, contact, thread, reply: effect.reply, reason: effect.reason };
    if (await messageExists(tx, effect.messageId)) return undefined;
    await this.#store.lockForTransaction(tx, 'process-deliveries');
    const message: Message = {
      id: effect.messageId,
      threadId: thread.id,
      contactId: contact.id,
      direction: 'outbound',
      type: 'text',
      originalType: 'text',
      text: effect.text,
      media: null,
      sentAt: effect.sentAt,
      arrivalSeq: await nextArrivalSeq(tx),
      status: 'sent',
      replyToId: null,
      origin: effect.origin,
      warnings: [],
    };
    if (!(await insertMessage(tx, { ...message, errors: [], raw: null }, now))) return undefined;
    await touchThread(tx, thread.id, effect.sentAt);
    return { type: 'message.recorded', contact, thread: { ...thread, lastMessageAt: Math.max(thread.lastMessageAt, effect.sentAt) }, threadCreated: false, message };
  }

  async #processBatch(tx: Transaction<Database>, limit: number, only?: number): Promise<ProcessResult> {
    await this.#store.lockForTransaction(tx, 'process-deliveries');
    const rows = only === undefined ? await this.#nextRows(tx, limit) : await tx.selectFrom('webhook_deliveries').selectAll().where('id', '=', only).where('state', '=', 'pending').execute();
    const now = Date.now();
    let processed = 0;
    let flagged = 0;
    let operationsQueued = 0;
    let sliced = false;
    // The arrival counter is read once per batch, under the processing lock, then counted up.
    const arrival = { next: undefined as number | undefined };
    const nextSeq = async () => (arrival.next = arrival.next === undefined ? await nextArrivalSeq(tx) : arrival.next + 1);
    for (const row of rows) {
      const parsed = this.#parse(row);
      const start = row.events_done;
      const sliceEnd = Math.min(parsed.events.length, start + this.#sliceEvents);
      // What earlier slices could not apply is carried in the row until the last slice.
      const applyProblems: string[] = start > 0 && row.problems !== null ? (JSON.parse(row.problems) as string[]) : [];
      const events = start === 0 && sliceEnd === parsed.events.length ? parsed.events : parsed.events.slice(start, sliceEnd);
      // A delivery big enough to slice also ends its slice early when the thread acknowledging
      // webhooks waits for the store, or when another delivery was stored meanwhile: that
      // thread's commit (a live webhook, a claim) or the new delivery then waits one event, not up
      // to a whole slice (hundreds of ms on a loaded machine, on every live message).
      const sliceable = parsed.events.length > this.#sliceEvents;
      const storedAtStart = this.#deliveriesStored();
      const stopEarly = () => sliceable && (this.#store.turnWanted() || this.#deliveriesStored() !== storedAtStart);
      const { changes, applied } = await this.#applyEvents(tx, events, row.id, now, applyProblems, nextSeq, stopEarly);
      const end = start + applied;
      operationsQueued += await this.planChanges(tx, changes, now);
      if (end < parsed.events.length) {
        await tx
          .updateTable('webhook_deliveries')
          .set({ events_done: end, problems: applyProblems.length > 0 ? JSON.stringify(applyProblems) : null })
          .where('id', '=', row.id)
          .execute();
        this.#sliced = { deliveryId: row.id, parsed };
        sliced = true;
        // The rest of this batch waits for the next call, behind whatever is stored meanwhile.
        break;
      }
      if (this.#sliced?.deliveryId === row.id) this.#sliced = undefined;
      const problems = [...parsed.problems, ...applyProblems];
      const state = problems.length > 0 ? 'flagged' : 'processed';
      await tx
        .updateTable('webhook_deliveries')
        .set({ state, problems: problems.length > 0 ? JSON.stringify(problems) : null, processed_at: now, events_done: end })
        .where('id', '=', row.id)
        .execute();
      if (problems.length > 0) {
        flagged++;
        this.#log.warn({ deliveryId: row.id, problems: problems.length, first: problems[0] }, 'delivery flagged: parts were not understood');
      } else processed++;
      // The thread acknowledging webhooks waits for the store: commit what is done, the rest stays pending for the next batch.
      if (this.#store.turnWanted()) break;
    }
    return { processed, flagged, operationsQueued, sliced };
  }

  async #applyEvents(
    tx: Transaction<Database>,
    events: readonly InboundEvent[],
    deliveryId: number,
    now: number,
    problems: string[],
    nextSeq: () => Promise<number>,
    /** Asked before each event after the first: true ends the slice there (the rest waits for the next one). */
    stopEarly: () => boolean = () => false,
  ): Promise<{ changes: ModelChange[]; applied: number }> {
    const at: EventApplication = { tx, deliveryId, now, problems, nextSeq, changes: [] };
    let applied = 0;
    for (const event of events) {
      if (applied > 0 && stopEarly()) break;
      applied++;
      await this.#applyEvent(event, at);
    }
    return { changes: at.changes, applied };
  }

  /** One event by its kind's handler; WhatsApp events of a business number we do not serve are refused first. */
  async #applyEvent(event: InboundEvent, at: EventApplication): Promise<void> {
    if (event.kind === 'account') return this.#accountEvent(event, at);
    if (event.kind === 'helpdesk') return this.#helpdeskEvent(event, at);
    const served = this.#options().servedNumbers;
    if (served.length > 0 && !served.includes(event.businessNumberId)) {
      at.problems.push(`event for business number ${event.businessNumberId}, which is not in whatsapp.phoneNumbers`);
      if (event.kind === 'message' && event.direction === 'outbound') await this.#alerts?.raise(at.tx, unknownSenderAlert(event.businessNumberId), at.now);
      return;
    }
    switch (event.kind) {
      case 'history.chunk':
        return this.#recordHistoryChunk(at.tx, event, at.deliveryId, at.now);
      case 'app.contact': {
        const change = await this.#appContact(at.tx, event, at.now);
        if (change) at.changes.push(change);
        return;
      }
      case 'consent':
        return this.#consentEvent(event, at);
      case 'identity':
        return this.#identityEvent(event, at);
      case 'status':
        return this.#statusEvent(event, at);
      case 'message':
        return this.#messageEvent(event, at);
    }
  }

  /** An account-level webhook (quality, ban, review...): kept, passed on, and raised as an alert where it is one. */
  async #accountEvent(event: InboundAccountEvent, at: EventApplication): Promise<void> {
    await recordAccountEvent(at.tx, event, at.now);
    at.changes.push({ type: 'account.event', field: event.field, accountId: event.accountId, at: event.at, raw: event.raw });
    this.#log.warn({ field: event.field, deliveryId: at.deliveryId }, 'WhatsApp account event received');
    const alert = accountEventAlert(event.field, event.accountId, event.raw);
    if (alert) await this.#alerts?.raise(at.tx, alert, at.now);
  }

  /** A helpdesk record changed (an agent answered): found on the WhatsApp thread it belongs to, or said why not. */
  async #helpdeskEvent(event: InboundHelpdeskEvent, at: EventApplication): Promise<void> {
    const { tx } = at;
    const threadId = event.threadId ?? (event.threadRef ? await newestThreadByRef(tx, event.connector, event.threadRef) : undefined);
    const thread = threadId ? await loadThread(tx, threadId) : undefined;
    const contact = thread ? await loadContact(tx, thread.contactId) : undefined;
    if (!thread || !contact) {
      at.problems.push(
        event.threadRef && !event.threadId
          ? `${event.connector} record ${event.recordId} is in conversation ${event.threadRef.externalId}, which no WhatsApp thread of ours was published to`
          : `${event.connector} record ${event.recordId} names no WhatsApp thread of ours (external id ${JSON.stringify(event.threadId)}); check the trigger's conditions`,
      );
      return;
    }
    at.changes.push({ type: 'helpdesk.updated', connector: event.connector, recordId: event.recordId, contact, thread, deliveryId: at.deliveryId });
  }

  /** A marketing opt-in or opt-out, kept even for someone never seen before: it must hold for whoever writes to them first. */
  async #consentEvent(event: InboundConsentEvent, at: EventApplication): Promise<void> {
    const resolved = await resolveContact(at.tx, { customer: event.customer, profileName: event.profileName, now: at.now });
    if (!resolved) {
      at.problems.push(`user_preferences: "${maskIdentifier(event.customer.waId ?? event.customer.bsuid ?? '')}" is neither a phone number nor a business-scoped user id`);
      return;
    }
    if (resolved.changed) at.changes.push({ type: 'contact.upserted', contact: resolved.contact, created: resolved.created });
    const consent = await recordConsent(at.tx, { contactId: resolved.contact.id, category: 'marketing', status: event.status, changedAt: event.at, source: 'webhook' }, at.now);
    if (consent) at.changes.push({ type: 'consent.changed', contact: resolved.contact, consent, threadId: (await latestThreadId(at.tx, resolved.contact.id)) ?? null });
  }

  /** Identifiers seen together (e.g. a user_preferences webhook with wa_id and user_id) join the person they name. */
  async #identityEvent(event: InboundIdentityEvent, at: EventApplication): Promise<void> {
    const linked = await linkKnownContact(at.tx, { customer: event.customer, profileName: event.profileName, now: at.now });
    if (linked?.changed) at.changes.push({ type: 'contact.upserted', contact: linked.contact, created: false });
  }

  /** A delivery status of a message we sent (or of a send whose answer was lost); one for a message we never sent is a compromise sign. */
  async #statusEvent(event: InboundStatusEvent, at: EventApplication): Promise<void> {
    const { tx, now } = at;
    const tagged = event.callbackData !== null && (await settlePendingSend(tx, event.callbackData, event.messageId, now));
    const { isNew, message } = await recordStatus(tx, {
      messageId: event.messageId,
      status: event.status,
      at: event.at,
      // A status of a message sent to a BSUID may carry no number: the BSUID names the recipient then.
      recipient: event.recipient.waId ?? event.recipient.bsuid ?? event.recipient.parentBsuid ?? '',
      errors: event.errors,
      now,
    });
    if (!isNew) return;
    // Read after settlePendingSend: a status whose send's answer was lost names its part too.
    const partKey = await sentPartRef(tx, event.messageId);
    if (!message && !tagged && this.#alerts && partKey === undefined) await this.#alerts.raise(tx, unknownStatusAlert(event.businessNumberId, event.status), now);
    const part = partKey === undefined ? undefined : parseSentPartKey(partKey);
    const contact = message ? await loadContact(tx, message.contactId) : undefined;
    at.changes.push({
      ...(part ? { reply: { origin: part.origin, sourceId: part.sourceId } } : {}),
      type: 'message.status',
      contact: contact ?? null,
      message,
      status: event.status,
      at: event.at,
      messageId: event.messageId,
      errors: event.errors,
    });
  }

  /** A message, live or from the imported past: its contact, thread, media and what it says about consent or a new number. */
  async #messageEvent(event: InboundMessageEvent, at: EventApplication): Promise<void> {
    // A redelivered message (same wamid) changes nothing; nor does the history copy of a message
    // already known live. Only a history placeholder's media, come later, fills it in.
    if (await messageExists(at.tx, event.messageId)) {
      if (event.history && !event.history.placeholder && event.media) {
        const refilled = await this.#fillPlaceholder(at.tx, event, at.now, at.nextSeq);
        if (refilled) at.changes.push(refilled);
      }
      return;
    }
    const resolved = await resolveContact(at.tx, {
      customer: event.customer,
      profileName: event.direction === 'inbound' ? event.profileName : null,
      now: at.now,
    });
    if (!resolved) {
      const sender = event.customer.waId ?? event.customer.bsuid ?? '';
      at.problems.push(`message ${event.messageId}: sender "${maskIdentifier(sender)}" is neither a phone number nor a business-scoped user id`);
      return;
    }
    if (resolved.relinkedFrom.length > 0) {
      this.#log.warn(
        { deliveryId: at.deliveryId, contactId: resolved.contact.id, otherContactIds: resolved.relinkedFrom },
        'a BSUID and a number seen together belonged to two contacts: the number now finds the BSUID\'s contact; their CRM records stay apart (merge them in the CRM if they are one person)',
      );
    }
    let contact = resolved.contact;
    if (resolved.changed) at.changes.push({ type: 'contact.upserted', contact, created: resolved.created });
    const { thread, created: threadCreated } = await threadFor(at.tx, {
      contactId: contact.id,
      businessNumberId: event.businessNumberId,
      sentAt: event.sentAt,
      gapMs: this.#options().threadGapMs,
    });
    // Suspicious links get a visible warning in front of the text, in every CRM and ticket.
    const findings = event.direction === 'inbound' && this.#options().links ? checkLinks(event.text, this.#options().links!) : [];
    if (findings.length > 0) this.#log.warn({ deliveryId: at.deliveryId, messageId: event.messageId, hosts: findings.map((f) => f.host) }, 'suspicious link in a customer message');
    // What it replies or reacts to, quoted from the store: the same words in every CRM.
    const referenced = event.replyToId ? await loadMessage(at.tx, event.replyToId) : undefined;
    const explained = explainReference(event, referenced);
    const message: Message = {
      id: event.messageId,
      threadId: thread.id,
      contactId: contact.id,
      direction: event.direction,
      type: event.type,
      originalType: event.originalType,
      text: findings.length > 0 ? `${linkWarning(findings)}\n\n${explained}` : explained,
      media: event.media,
      sentAt: event.sentAt,
      arrivalSeq: await at.nextSeq(),
      // The app's last status of the business's own past messages (read, delivered) is kept.
      status: event.history && event.direction === 'outbound' ? historyStatus(event.history.status) : null,
      replyToId: event.replyToId,
      origin: null,
      warnings: findings.length > 0 ? ['suspicious_link'] : [],
      ...(event.history ? { history: true } : {}),
    };
    await insertMessage(at.tx, { ...message, errors: event.errors, raw: event.raw }, at.now);
    if (event.media) await queueMediaDownload(at.tx, message.id, event.media, at.now);
    at.changes.push({ type: 'message.recorded', contact, thread, threadCreated, message });
    // A STOP the customer sends now is consent; one from an imported past (history) is not.
    const keywords = this.#options().consent;
    const said = event.direction === 'inbound' && !event.history && event.words && keywords ? consentFromWords(event.words, keywords) : null;
    if (said) {
      const source = event.type === 'text' ? 'keyword' : 'button';
      const consent = await recordConsent(at.tx, { contactId: contact.id, category: 'marketing', status: said.status, changedAt: event.sentAt, source }, at.now);
      if (consent) at.changes.push({ type: 'consent.changed', contact, consent, threadId: thread.id });
    }
    if (event.type === 'system' && event.newWaId) {
      const moved = await changeContactNumber(at.tx, contact, event.newWaId, at.now);
      if (moved) {
        at.changes.push({ type: 'contact.upserted', contact: moved, created: false, previousWaId: contact.waId });
        contact = moved;
      }
    }
    if (event.type === 'system' && event.newBsuid) {
      const renamed = await changeContactBsuid(at.tx, contact, { bsuid: event.newBsuid, parentBsuid: event.newParentBsuid }, at.now);
      if (renamed) {
        contact = renamed;
        at.changes.push({ type: 'contact.upserted', contact, created: false });
      }
    }
  }

  /** Counts one history chunk once (a redelivery changes nothing); a declined sync is said plainly. */
  async #recordHistoryChunk(tx: Transaction<Database>, event: InboundHistoryChunkEvent, deliveryId: number, now: number): Promise<void> {
    const declined = event.errors.length > 0;
    await recordHistoryChunk(tx, {
      businessNumberId: event.businessNumberId,
      phase: event.phase,
      chunkOrder: event.chunkOrder,
      progress: event.progress,
      threads: event.threads,
      messages: event.messages,
      errors: declined ? event.errors : null,
      deliveryId,
      now,
    });
    if (declined) this.#log.warn({ deliveryId, codes: event.errors.map((e) => e.code) }, 'the business declined to share its WhatsApp Business app chat history: none will be imported');
  }

  /**
   * A contact of the business's own app address book becomes a contact like any other (the same
   * identity rules), named from the address book only where no name is known; removals change
   * nothing (CRM records are never deleted for it). Off unless whatsapp.history.appContacts.
   */
  async #appContact(tx: Transaction<Database>, event: InboundAppContactEvent, now: number): Promise<ModelChange | undefined> {
    if (event.action !== 'add' || !this.#options().history?.appContacts) return undefined;
    const resolved = await resolveContact(tx, { customer: event.customer, profileName: null, profileNameIfEmpty: event.fullName ?? event.firstName, now });
    if (!resolved?.changed) return undefined;
    return { type: 'contact.upserted', contact: resolved.contact, created: resolved.created };
  }

  /** A history media placeholder whose media id came in a later history webhook: recorded with its media, to be written again. */
  async #fillPlaceholder(tx: Transaction<Database>, event: InboundMessageEvent, now: number, nextSeq: () => Promise<number>): Promise<ModelChange | undefined> {
    const row = await tx.selectFrom('messages').selectAll().where('id', '=', event.messageId).executeTakeFirst();
    if (!row || row.history !== 1 || row.media !== null || row.original_type !== HISTORY_PLACEHOLDER_TYPE || !event.media) return undefined;
    // A new arrival number: connectors that keep a "synced up to" mark write the thread again.
    const arrivalSeq = await nextSeq();
    await fillPlaceholderMessage(tx, row.id, { type: event.type, originalType: event.originalType, text: event.text, media: event.media, arrivalSeq, raw: event.raw });
    await queueMediaDownload(tx, row.id, event.media, now);
    const message = await loadMessage(tx, row.id);
    const thread = await loadThread(tx, row.thread_id);
    const contact = await loadContact(tx, row.contact_id);
    if (!message || !thread || !contact) return undefined;
    return { type: 'message.recorded', contact, thread, threadCreated: false, message, refilled: true };
  }
}
