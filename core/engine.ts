// The sync engine: turns stored deliveries into model changes, and model changes into outbox
// operations through each configured connector, in the transaction that marks the delivery done.
import type { Transaction } from 'kysely';
import type { Connector, OperationEffect } from './connector.js';
import { errorMessage } from './errors.js';
import type { Logger } from './logger.js';
import {
  changeContactNumber,
  insertMessage,
  messageExists,
  recordStatus,
  resolveContact,
  threadFor,
  toContact,
  loadContact,
  loadMessage,
} from './model/repository.js';
import { maskPhone } from './model/phone.js';
import type { DeliveryParser, InboundEvent, Message, ModelChange } from './model/types.js';
import { enqueueOperations } from './outbox/queries.js';
import type { Database } from './store/schema.js';
import type { Store } from './store/store.js';

export interface EngineOptions {
  readonly threadGapMs: number;
  /** Business phone_number_ids served; empty serves all. */
  readonly servedNumbers: readonly string[];
}

export interface ProcessResult {
  readonly processed: number;
  readonly flagged: number;
  readonly operationsQueued: number;
}

/** The connectors that plan operations now: every configured one, enabled or not, so nothing is missed while one is switched off. */
export type PlanningConnectors = () => readonly Connector[];

export class Engine {
  readonly #store: Store;
  readonly #parse: DeliveryParser;
  readonly #connectors: PlanningConnectors;
  readonly #log: Logger;
  readonly #options: () => EngineOptions;
  readonly #maxAttempts: (connector: Connector) => number;

  constructor(deps: {
    store: Store;
    parse: DeliveryParser;
    connectors: PlanningConnectors;
    log: Logger;
    /** Read on every use, so a config reload takes effect at once. */
    options: () => EngineOptions;
  }) {
    this.#store = deps.store;
    this.#parse = deps.parse;
    this.#connectors = deps.connectors;
    this.#log = deps.log;
    this.#options = deps.options;
    this.#maxAttempts = (c) => c.tuning.maxAttempts;
  }

  /** Processes up to `limit` pending deliveries in arrival order. */
  async processPending(limit = 50): Promise<ProcessResult> {
    try {
      return await this.#store.db.transaction().execute((tx) => this.#processBatch(tx, limit, undefined));
    } catch (error) {
      // One delivery may be at fault: go one by one so the rest still flow.
      this.#log.warn({ err: errorMessage(error) }, 'delivery batch failed; processing one at a time');
      const total = { processed: 0, flagged: 0, operationsQueued: 0 };
      for (let i = 0; i < limit; i++) {
        let result: ProcessResult;
        try {
          result = await this.#store.db.transaction().execute((tx) => this.#processBatch(tx, 1, undefined));
        } catch (single) {
          result = await this.#store.db.transaction().execute((tx) => this.#processBatch(tx, 1, single));
        }
        if (result.processed + result.flagged === 0) break;
        total.processed += result.processed;
        total.flagged += result.flagged;
        total.operationsQueued += result.operationsQueued;
      }
      return total;
    }
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

  /** Records what operations changed (media stored) and plans what follows from it. */
  async applyEffects(tx: Transaction<Database>, effects: readonly OperationEffect[], now = Date.now()): Promise<number> {
    const changes: ModelChange[] = [];
    for (const effect of effects) {
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

  async #processBatch(tx: Transaction<Database>, limit: number, failure: unknown): Promise<ProcessResult> {
    await this.#store.lockForTransaction(tx, 'process-deliveries');
    const rows = await tx.selectFrom('webhook_deliveries').selectAll().where('state', '=', 'pending').orderBy('id').limit(limit).execute();
    const now = Date.now();
    let processed = 0;
    let flagged = 0;
    let operationsQueued = 0;
    for (const row of rows) {
      if (failure !== undefined) {
        // Kept and flagged with the reason; `replay --deliveries` puts it back once fixed.
        await tx
          .updateTable('webhook_deliveries')
          .set({ state: 'flagged', problems: JSON.stringify([`processing failed: ${errorMessage(failure)}`]), processed_at: now })
          .where('id', '=', row.id)
          .execute();
        this.#log.error({ deliveryId: row.id, err: errorMessage(failure) }, 'delivery could not be processed; flagged for replay');
        flagged++;
        continue;
      }
      const parsed = this.#parse(row.body);
      const problems = [...parsed.problems];
      const changes = await this.#applyEvents(tx, parsed.events, row.id, now, problems);
      operationsQueued += await this.planChanges(tx, changes, now);
      const state = problems.length > 0 ? 'flagged' : 'processed';
      await tx
        .updateTable('webhook_deliveries')
        .set({ state, problems: problems.length > 0 ? JSON.stringify(problems) : null, processed_at: now })
        .where('id', '=', row.id)
        .execute();
      if (problems.length > 0) {
        flagged++;
        this.#log.warn({ deliveryId: row.id, problems: problems.length, first: problems[0] }, 'delivery flagged: parts were not understood');
      } else processed++;
    }
    return { processed, flagged, operationsQueued };
  }

  async #applyEvents(
    tx: Transaction<Database>,
    events: readonly InboundEvent[],
    deliveryId: number,
    now: number,
    problems: string[],
  ): Promise<ModelChange[]> {
    const changes: ModelChange[] = [];
    let index = 0;
    for (const event of events) {
      index++;
      if (event.kind === 'account') {
        await tx
          .insertInto('account_events')
          .values({ field: event.field, account_id: event.accountId, at: event.at, raw: JSON.stringify(event.raw), received_at: now })
          .execute();
        changes.push({ type: 'account.event', field: event.field, accountId: event.accountId, at: event.at, raw: event.raw });
        this.#log.warn({ field: event.field, deliveryId }, 'WhatsApp account event received');
        continue;
      }
      if (this.#options().servedNumbers.length > 0 && !this.#options().servedNumbers.includes(event.businessNumberId)) {
        problems.push(`event for business number ${event.businessNumberId}, which is not in whatsapp.phoneNumbers`);
        continue;
      }
      if (event.kind === 'status') {
        const { isNew, message } = await recordStatus(tx, {
          messageId: event.messageId,
          status: event.status,
          at: event.at,
          recipient: event.recipientWaId,
          errors: event.errors,
          now,
        });
        if (!isNew) continue;
        const contact = message ? await tx.selectFrom('contacts').selectAll().where('id', '=', message.contactId).executeTakeFirst() : undefined;
        changes.push({
          type: 'message.status',
          contact: contact ? toContact(contact) : null,
          message,
          status: event.status,
          at: event.at,
          messageId: event.messageId,
          errors: event.errors,
        });
        continue;
      }
      // A redelivered message (same wamid) changes nothing.
      if (await messageExists(tx, event.messageId)) continue;
      const resolved = await resolveContact(tx, {
        waId: event.fromWaId,
        userId: event.fromUserId,
        profileName: event.direction === 'inbound' ? event.profileName : null,
        now,
      });
      if (!resolved) {
        problems.push(`message ${event.messageId}: sender "${maskPhone(event.fromWaId)}" is not a phone number`);
        continue;
      }
      let contact = resolved.contact;
      if (resolved.changed) changes.push({ type: 'contact.upserted', contact, created: resolved.created });
      const { thread, created: threadCreated } = await threadFor(tx, {
        contactId: contact.id,
        businessNumberId: event.businessNumberId,
        sentAt: event.sentAt,
        gapMs: this.#options().threadGapMs,
      });
      const message: Message = {
        id: event.messageId,
        threadId: thread.id,
        contactId: contact.id,
        direction: event.direction,
        type: event.type,
        originalType: event.originalType,
        text: event.text,
        media: event.media,
        sentAt: event.sentAt,
        arrivalSeq: deliveryId * 1000 + index,
        status: null,
        replyToId: event.replyToId,
      };
      await insertMessage(tx, { ...message, errors: event.errors, raw: event.raw }, now);
      if (event.media) {
        await tx
          .insertInto('media')
          .values({ message_id: message.id, media_id: event.media.mediaId, mime_type: event.media.mimeType, sha256: event.media.sha256 ?? null, state: 'pending', path: null, size: null, error: null, updated_at: now })
          .onConflict((oc) => oc.column('message_id').doNothing())
          .execute();
      }
      changes.push({ type: 'message.recorded', contact, thread, threadCreated, message });
      if (event.type === 'system' && event.newWaId) {
        const moved = await changeContactNumber(tx, contact, event.newWaId, now);
        if (moved) {
          contact = moved;
          changes.push({ type: 'contact.upserted', contact, created: false });
        }
      }
    }
    return changes;
  }
}
