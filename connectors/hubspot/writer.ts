// HubSpot record writes: contacts on the contact they already had, every message as a
// Communication (channel WHATS_APP) on that contact's timeline, its delivery status, a note or
// task per new thread, and media files. Contacts are upserted on a unique-value property (the
// WhatsApp id; unique values are documented for contacts), so re-running after a crash or a lost
// answer finds the record instead of writing a second one. Communications are upserted on the
// message id only where setup found HubSpot keeping that property unique (not documented for
// communications); elsewhere they are created with their contact association inline, guarded by
// the stored refs, and a create whose answer was lost is looked up by its message id (after the
// search index caught up) before it is sent again.
import { AssociationSpecAssociationCategoryEnum } from '@hubspot/api-client/lib/codegen/crm/objects/communications/models/AssociationSpec.js';
import type { ExecutionContext, OperationOutcome } from '../../core/connector.js';
import { SyncError, VendorError, asSyncError } from '../../core/errors.js';
import { sendNoted, waitOutLateLanding, type LateLandingWrite } from '../../core/lost-answer.js';
import { maskIdentifier } from '../../core/model/identity.js';
import type { OperationDone } from '../../core/operations.js';
import type { HubSpotApi } from './client.js';
import { uploadMediaFile } from './files.js';
import type { HubSpotFinder } from './finder.js';
import {
  communicationBody,
  communicationProperties,
  existingContactProperties,
  mediaFileName,
  newContactProperties,
  threadActivityProperties,
  type ContactPayload,
  type ContactPropertyNames,
  type MediaPayload,
  type MessagePayload,
  type ThreadPayload,
} from './mappers.js';
import { batchAnswer, type BatchAnswer } from './responses.js';
import type { HubSpotSettings } from './settings.js';
import type { HubSpotSetup } from './setup.js';

/**
 * Ref kinds stored in external_refs. The `-sent` kinds note when a write of the record went out
 * and its answer has not come ('0' once it has; see core/lost-answer.ts): `communicationSent`
 * (local id: the message id) for a communication's create, rewrite or status update,
 * `mediaNoteSent` for a media note's create, `contactSent` and `threadActivitySent` for a
 * contact's and a thread note's or task's writes.
 */
export const REF = {
  contact: 'contact',
  contactSent: 'contact-sent',
  communication: 'communication',
  communicationSent: 'communication-sent',
  mediaNote: 'media-note',
  mediaNoteSent: 'media-note-sent',
  threadActivitySent: 'thread-activity-sent',
} as const;

/** HubSpot-defined association type of a note to its contact (inline on create). */
const NOTE_TO_CONTACT = 202;

/** HubSpot-defined association type of a communication to its contact (inline on create). */
const COMMUNICATION_TO_CONTACT = 81;


function failed(error: SyncError): OperationOutcome {
  return { ok: false, error };
}

/** The message HubSpot gave for one input of a batch, from a 207 answer's errors. */
function errorFor(response: BatchAnswer, id: string): string | undefined {
  const errors = response.errors ?? [];
  const specific = errors.find((e) => Object.values(e.context ?? {}).some((ids) => ids.includes(id)));
  return (specific ?? errors[0])?.message;
}

export class HubSpotWriter {
  readonly #api: HubSpotApi;
  readonly #settings: HubSpotSettings;
  /** Setup's decisions: how messages are keyed, where media go. */
  readonly #setup: HubSpotSetup;
  readonly #finder: HubSpotFinder;

  constructor(api: HubSpotApi, settings: HubSpotSettings, setup: HubSpotSetup, finder: HubSpotFinder) {
    this.#api = api;
    this.#settings = settings;
    this.#setup = setup;
    this.#finder = finder;
  }

  /** The communication of a message an earlier attempt may have created (see #findCreated). */
  async findLoggedMessage(payload: MessagePayload, context: ExecutionContext): Promise<OperationOutcome | undefined> {
    const id = await this.#findLoggedMessageId(payload, context);
    return id ? { ok: true, result: { hubspotCommunicationId: id } } : undefined;
  }

  #findLoggedMessageId(payload: MessagePayload, context: ExecutionContext): Promise<string | undefined> {
    return this.#finder.findCreated(context, {
      objectType: 'communications',
      ref: REF.communication,
      write: this.#communicationWrite(payload.messageId),
      property: this.#settings.messageIdProperty,
      value: payload.messageId,
    });
  }

  /**
   * A write HubSpot may carry out after its answer was lost (see lostAnswerWaitSeconds). A create
   * found again by search also waits for the index to show what landed that late.
   */
  #lateLanding(ref: string, localId: string, what: string, foundBySearch: boolean): LateLandingWrite {
    const seconds = this.#settings.lostAnswerWaitSeconds + (foundBySearch ? this.#settings.searchIndexWaitSeconds : 0);
    return { ref, localId, windowMs: seconds * 1000, what };
  }

  /**
   * Every write of one message's communication (create, rewrite, status update) under one note:
   * a create in doubt is searched for only once it can no longer land and the index shows it, and
   * a rewrite or status update in doubt could land after a newer one and put an older body back.
   */
  #communicationWrite(messageId: string): LateLandingWrite {
    return this.#lateLanding(REF.communicationSent, messageId, 'message write', this.#setup.messageWrites === 'create');
  }

  /** The deferral of a record whose earlier write may still land (see core/lost-answer.ts); undefined once none can. */
  async #waitedOut(context: ExecutionContext, write: LateLandingWrite): Promise<OperationOutcome | undefined> {
    try {
      await waitOutLateLanding(context, write);
      return undefined;
    } catch (error) {
      return failed(asSyncError(error));
    }
  }

  /** A call writing these messages' communications, each under its note (see #communicationWrite). */
  #writeCommunications<T>(context: ExecutionContext, messageIds: readonly string[], send: () => Promise<T>): Promise<T> {
    return sendNoted(context, messageIds.map((id) => this.#communicationWrite(id)), send);
  }

  // ---- contacts ----

  /**
   * A contact's write (an update or an upsert). The upsert key makes a repeat find the record, but
   * one whose answer was lost may land after a newer write and put older identifiers back (a
   * username, a BSUID, the identity note), so the contact's next write waits until it can no
   * longer land, then reads the record and writes what differs.
   */
  #contactWrite(contactId: string): LateLandingWrite {
    return this.#lateLanding(REF.contactSent, contactId, 'contact write', false);
  }

  async upsertContacts(all: readonly ContactPayload[], context: ExecutionContext): Promise<OperationOutcome[]> {
    const waiting = new Map<string, OperationOutcome>();
    for (const p of all) {
      const waited = await this.#waitedOut(context, this.#contactWrite(p.contactId));
      if (waited) waiting.set(p.contactId, waited);
    }
    const ready = all.filter((p) => !waiting.has(p.contactId));
    const written = ready.length > 0 ? await this.#writeContacts(ready, context) : [];
    return all.map((p) => waiting.get(p.contactId) ?? written[ready.indexOf(p)]!);
  }

  async #writeContacts(payloads: readonly ContactPayload[], context: ExecutionContext): Promise<OperationOutcome[]> {
    const idProperty = this.#settings.contactIdProperty;
    const names = this.#contactPropertyNames();
    const readProperties = [idProperty, 'firstname', 'lastname', 'phone', 'mobilephone', ...(names.identityNote ? [names.identityNote] : [])];
    const linked = new Map<string, string>();
    for (const p of payloads) {
      const known = await context.getRef(REF.contact, p.contactId);
      if (known) linked.set(p.contactId, known);
    }
    const { hubspotIds, current } = await this.#finder.matchContacts(payloads, linked, readProperties, context);

    const outcomes = new Map<string, OperationOutcome>();
    // 4. Existing records: our id, and names only where empty.
    const updates = payloads
      .filter((p) => hubspotIds.has(p.contactId))
      .map((p) => ({ payload: p, properties: existingContactProperties(p, names, current.get(p.contactId) ?? {}) }))
      .filter(({ payload, properties }) => Object.entries(properties).some(([k, v]) => current.get(payload.contactId)?.[k] !== v));
    if (updates.length > 0) {
      const response = (await sendNoted(
        context,
        updates.map((u) => this.#contactWrite(u.payload.contactId)),
        () =>
          this.#api.read(context, 'updating contacts', batchAnswer, (c) =>
            c.crm.contacts.batchApi.update({ inputs: updates.map((u) => ({ id: hubspotIds.get(u.payload.contactId)!, properties: u.properties })) }),
          ),
      ));
      for (const { payload } of updates) {
        const id = hubspotIds.get(payload.contactId)!;
        if (!response.results.some((r) => r.id === id)) {
          outcomes.set(payload.contactId, failed(new VendorError('hubspot', `contact ${id} not updated: ${errorFor(response, id) ?? 'no result'}`)));
        }
      }
    }

    // 5. New people: create, keyed on the WhatsApp id so a repeat finds the first.
    const creates = payloads.filter((p) => !hubspotIds.has(p.contactId));
    if (creates.length > 0) {
      const response = (await sendNoted(
        context,
        creates.map((p) => this.#contactWrite(p.contactId)),
        () =>
          this.#api.read(context, 'creating contacts', batchAnswer, (c) =>
            c.crm.contacts.batchApi.upsert({ inputs: creates.map((p) => ({ idProperty, id: p.crmKey, properties: newContactProperties(p, names) })) }),
          ),
      ));
      for (const payload of creates) {
        const record = response.results.find((r) => r.properties[idProperty] === payload.crmKey);
        if (record) hubspotIds.set(payload.contactId, record.id);
        else outcomes.set(payload.contactId, failed(new VendorError('hubspot', `contact ${maskIdentifier(payload.crmKey)} not created: ${errorFor(response, payload.crmKey) ?? 'no result'}`)));
      }
    }

    const results: OperationOutcome[] = [];
    for (const payload of payloads) {
      const outcome = outcomes.get(payload.contactId);
      if (outcome) {
        results.push(outcome);
        continue;
      }
      const id = hubspotIds.get(payload.contactId)!;
      await context.setRef(REF.contact, payload.contactId, id);
      results.push({ ok: true, result: { hubspotContactId: id } });
    }
    return results;
  }

  #contactPropertyNames(): ContactPropertyNames {
    const s = this.#settings;
    return { id: s.contactIdProperty, bsuid: s.bsuidProperty, username: s.usernameProperty, identityNote: s.identityNoteProperty };
  }

  // ---- thread notes and tasks ----

  /**
   * A thread note's or task's upsert. Keyed on the thread id, so a late landing doubles nothing;
   * but it carries the owner read just before it, and one landing after a newer write would put
   * an older owner back. The thread's next write waits until it can no longer land.
   */
  #threadActivityWrite(threadId: string): LateLandingWrite {
    return this.#lateLanding(REF.threadActivitySent, threadId, `thread ${this.#settings.threadActivity} write`, false);
  }

  /** One note or task per new thread, for the contact's owner, upserted on the thread id. */
  async threadActivities(payloads: readonly ThreadPayload[], context: ExecutionContext): Promise<OperationOutcome[]> {
    const kind = this.#settings.threadActivity === 'task' ? 'task' : 'note';
    const objectType = `${kind}s` as const;
    const idProperty = this.#settings.threadIdProperty;
    const outcomes: OperationOutcome[] = payloads.map(() => ({ ok: true }));
    const contactIds = new Map<string, string>();
    for (const [index, payload] of payloads.entries()) {
      const waited = await this.#waitedOut(context, this.#threadActivityWrite(payload.threadId));
      if (waited) {
        outcomes[index] = waited;
        continue;
      }
      const id = await context.getRef(REF.contact, payload.contactId);
      if (id) contactIds.set(payload.threadId, id);
      else outcomes[index] = failed(new SyncError('hubspot: the contact is not in HubSpot yet (its contact operation failed or is dead: replay it)', { retryable: true }));
    }
    const ready = payloads.filter((p) => contactIds.has(p.threadId));
    if (ready.length === 0) return outcomes;
    const owners = await this.#api.read(context, 'reading contact owners', batchAnswer, (c) =>
      c.crm.contacts.batchApi.read({ inputs: [...new Set(contactIds.values())].map((id) => ({ id })), properties: ['hubspot_owner_id'], propertiesWithHistory: [] }),
    );
    const ownerOf = new Map(owners.results.map((r) => [r.id, r.properties['hubspot_owner_id']]));
    const response = (await sendNoted(
      context,
      ready.map((p) => this.#threadActivityWrite(p.threadId)),
      () =>
        this.#api.read(context, `creating ${objectType}`, batchAnswer, (c) =>
          (objectType === 'tasks' ? c.crm.objects.tasks.batchApi : c.crm.objects.notes.batchApi).upsert({
            inputs: ready.map((p) => ({ idProperty, id: p.threadId, properties: threadActivityProperties(p, kind, idProperty, ownerOf.get(contactIds.get(p.threadId)!)) })),
          }),
        ),
    ));
    const created = new Map(response.results.map((r) => [r.properties[idProperty], r.id]));
    const linked = ready.filter((p) => created.has(p.threadId));
    if (linked.length > 0) {
      await this.#api.call(context, `associating ${objectType} with contacts`, (c) =>
        c.crm.associations.v4.batchApi.createDefault(objectType, 'contacts', {
          inputs: linked.map((p) => ({ _from: { id: created.get(p.threadId)! }, to: { id: contactIds.get(p.threadId)! } })),
        }),
      );
    }
    for (const [index, payload] of payloads.entries()) {
      if (!contactIds.has(payload.threadId)) continue;
      const id = created.get(payload.threadId);
      outcomes[index] = id ? { ok: true, result: { [`hubspot${kind === 'task' ? 'Task' : 'Note'}Id`]: id } } : failed(new VendorError('hubspot', `${kind} not created: ${errorFor(response, payload.threadId) ?? 'no result'}`));
    }
    return outcomes;
  }

  // ---- media ----

  /**
   * Uploads the file (unless an upload of the same bytes is already there: the name is derived
   * from the content hash) and attaches it to the logged communication. The search only sees an
   * upload that has landed; one whose answer was lost may still be landing, so the upload also
   * asks HubSpot to hand back a duplicate in the folder instead of storing a second copy
   * (duplicateValidationStrategy RETURN_EXISTING, https://developers.hubspot.com/docs/api/files/files).
   */
  async attachMedia(payload: MediaPayload, context: ExecutionContext): Promise<OperationDone> {
    const communicationId = await context.getRef(REF.communication, payload.messageId);
    if (!communicationId) throw new SyncError('hubspot: the message is not logged yet (its operation failed or is dead: replay it)', { retryable: true });
    const fileId = await uploadMediaFile(this.#api, this.#settings.mediaFolder, payload, context);
    if (this.#setup.mediaOn === 'note') return this.#attachThroughNote(payload, communicationId, fileId, context);
    const response = (await this.#api.read(context, 'attaching a media file', batchAnswer, (c) =>
      c.crm.objects.communications.batchApi.update({ inputs: [{ id: communicationId, properties: { hs_attachment_ids: fileId } }] }),
    ));
    if (!response.results.some((r) => r.id === communicationId)) throw new VendorError('hubspot', `attachment not saved: ${errorFor(response, communicationId) ?? 'no result'}`);
    return { result: { hubspotFileId: fileId } };
  }

  /**
   * A note carrying the file (`hs_attachment_ids`), on the contact (type 202, inline) and the
   * communication (HubSpot's default association, after). Once per media: the ref, else, after a
   * create whose answer was lost, a search for a note with this file once indexed.
   */
  async #attachThroughNote(payload: MediaPayload, communicationId: string, fileId: string, context: ExecutionContext): Promise<OperationDone> {
    const write = this.#lateLanding(REF.mediaNoteSent, `${payload.messageId}:${payload.sha256}`, 'media note', true);
    let noteId = await this.#finder.findCreated(context, { objectType: 'notes', ref: REF.mediaNote, write, property: 'hs_attachment_ids', value: fileId });
    if (!noteId) {
      const contactId = await context.getRef(REF.contact, payload.contactId);
      if (!contactId) throw new SyncError('hubspot: the contact is not in HubSpot yet (its contact operation failed or is dead: replay it)', { retryable: true });
      const response = await sendNoted(context, [write], async () => {
        const answer = (await this.#api.read(context, 'attaching a media file through a note', batchAnswer, (c) =>
          c.crm.objects.notes.batchApi.create({
            inputs: [
              {
                properties: { hs_note_body: `<p>WhatsApp media: ${mediaFileName(payload)}</p>`, hs_timestamp: new Date().toISOString(), hs_attachment_ids: fileId },
                associations: [{ to: { id: contactId }, types: [{ associationCategory: AssociationSpecAssociationCategoryEnum.HubspotDefined, associationTypeId: NOTE_TO_CONTACT }] }],
              },
            ],
          }),
        ));
        // The ref before the note is cleared: a crash between them leaves a create in doubt (looked up), never a second note.
        const created = answer.results.find((r) => r.properties['hs_attachment_ids'] === fileId)?.id;
        if (created) await context.setRef(REF.mediaNote, write.localId, created);
        return answer;
      });
      noteId = response.results.find((r) => r.properties['hs_attachment_ids'] === fileId)?.id;
      if (!noteId) throw new VendorError('hubspot', `media note not created: ${response.errors?.[0]?.message ?? 'no result'}`);
    }
    // Associating again is harmless, so a retry simply repeats it.
    await this.#api.call(context, 'associating the media note with the message', (c) =>
      c.crm.associations.v4.batchApi.createDefault('notes', 'communications', { inputs: [{ _from: { id: noteId! }, to: { id: communicationId } }] }),
    );
    return { result: { hubspotFileId: fileId, hubspotNoteId: noteId } };
  }

  // ---- conversation ----

  /** Rewrites the body of communications we logged with their delivery status; never creates one. */
  async updateStatuses(payloads: readonly MessagePayload[], context: ExecutionContext): Promise<OperationOutcome[]> {
    const outcomes: OperationOutcome[] = payloads.map(() => ({ ok: true }));
    const ready: Array<{ index: number; id: string; payload: MessagePayload }> = [];
    for (const [index, payload] of payloads.entries()) {
      const id = await context.getRef(REF.communication, payload.messageId);
      if (!id) {
        outcomes[index] = failed(new SyncError('hubspot: the message is not logged yet (its operation failed or is dead: replay it)', { retryable: true }));
        continue;
      }
      // An earlier write in doubt could land after this one and put an older status back.
      const waited = await this.#waitedOut(context, this.#communicationWrite(payload.messageId));
      if (waited) outcomes[index] = waited;
      else ready.push({ index, id, payload });
    }
    if (ready.length === 0) return outcomes;
    const response = (await this.#writeCommunications(
      context,
      ready.map(({ payload }) => payload.messageId),
      () =>
        this.#api.read(context, 'updating message statuses', batchAnswer, (c) =>
          c.crm.objects.communications.batchApi.update({
            inputs: ready.map(({ id, payload }) => ({ id, properties: { hs_communication_body: communicationBody(payload) } })),
          }),
        ),
    ));
    for (const { index, id } of ready) {
      outcomes[index] = response.results.some((r) => r.id === id)
        ? { ok: true, result: { hubspotCommunicationId: id } }
        : failed(new VendorError('hubspot', `status not saved on communication ${id}: ${errorFor(response, id) ?? 'no result'}`));
    }
    return outcomes;
  }

  async logMessages(payloads: readonly MessagePayload[], context: ExecutionContext): Promise<OperationOutcome[]> {
    const idProperty = this.#settings.messageIdProperty;
    const outcomes: OperationOutcome[] = payloads.map(() => ({ ok: true }));
    const contactIds = new Map<string, string>();
    const ready: Array<{ index: number; payload: MessagePayload }> = [];
    for (const [index, payload] of payloads.entries()) {
      const contactId = await context.getRef(REF.contact, payload.contactId);
      if (!contactId) {
        // The contact's own operation runs first in its ordering key; it must have failed.
        outcomes[index] = failed(new SyncError('hubspot: the contact is not in HubSpot yet (its contact operation failed or is dead: replay it)', { retryable: true }));
        continue;
      }
      // An earlier write in doubt could land after this one (an older body over a newer status);
      // a create in doubt is looked up once it can no longer land (#createMessages).
      const waited = await this.#waitedOut(context, this.#communicationWrite(payload.messageId));
      if (waited) {
        outcomes[index] = waited;
        continue;
      }
      contactIds.set(payload.messageId, contactId);
      ready.push({ index, payload });
    }
    if (ready.length === 0) return outcomes;
    if (this.#setup.messageWrites === 'create') return this.#createMessages(ready, contactIds, outcomes, context);

    const response = (await this.#writeCommunications(
      context,
      ready.map(({ payload }) => payload.messageId),
      () =>
        this.#api.read(context, 'logging messages', batchAnswer, (c) =>
          c.crm.objects.communications.batchApi.upsert({
            inputs: ready.map(({ payload }) => ({ idProperty, id: payload.messageId, properties: communicationProperties(payload, idProperty) })),
          }),
        ),
    ));
    const communicationIds = new Map<string, string>();
    for (const record of response.results) {
      const messageId = record.properties[idProperty];
      if (messageId) communicationIds.set(messageId, record.id);
    }
    for (const { index, payload } of ready) {
      if (!communicationIds.has(payload.messageId)) {
        outcomes[index] = failed(new VendorError('hubspot', `message not logged: ${errorFor(response, payload.messageId) ?? 'no result for it'}`));
      }
    }

    const logged = ready.filter(({ payload }) => communicationIds.has(payload.messageId));
    if (logged.length > 0) {
      // Associating again is harmless, so a re-run after a crash simply repeats it.
      await this.#api.call(context, 'associating messages with contacts', (c) =>
        c.crm.associations.v4.batchApi.createDefault('communications', 'contacts', {
          inputs: logged.map(({ payload }) => ({ _from: { id: communicationIds.get(payload.messageId)! }, to: { id: contactIds.get(payload.messageId)! } })),
        }),
      );
    }
    for (const { index, payload } of logged) {
      const communicationId = communicationIds.get(payload.messageId)!;
      await context.setRef(REF.communication, payload.messageId, communicationId);
      outcomes[index] = { ok: true, result: { hubspotCommunicationId: communicationId } };
    }
    return outcomes;
  }

  /**
   * Messages as new communications with their contact association inline (type 81, documented:
   * https://developers.hubspot.com/docs/guides/api/crm/engagements/communications), one request
   * each batch. A message already logged (its ref) or whose earlier create may have landed (found
   * by search once indexed) is not created again; the time of each create is noted first, so a
   * lost answer is known as one.
   */
  async #createMessages(
    ready: ReadonlyArray<{ index: number; payload: MessagePayload }>,
    contactIds: ReadonlyMap<string, string>,
    outcomes: OperationOutcome[],
    context: ExecutionContext,
  ): Promise<OperationOutcome[]> {
    const idProperty = this.#settings.messageIdProperty;
    const toCreate: Array<{ index: number; payload: MessagePayload }> = [];
    const toRewrite: Array<{ index: number; id: string; payload: MessagePayload }> = [];
    for (const entry of ready) {
      try {
        const id = await this.#findLoggedMessageId(entry.payload, context);
        if (id) toRewrite.push({ ...entry, id });
        else toCreate.push(entry);
      } catch (error) {
        outcomes[entry.index] = failed(asSyncError(error));
      }
    }
    if (toRewrite.length > 0) {
      // A message written again (a history placeholder whose media came, a retry after the
      // record landed) gets its properties rewritten, as an upsert would: never a second record.
      const response = (await this.#writeCommunications(
        context,
        toRewrite.map(({ payload }) => payload.messageId),
        () =>
          this.#api.read(context, 'rewriting logged messages', batchAnswer, (c) =>
            c.crm.objects.communications.batchApi.update({
              inputs: toRewrite.map(({ id, payload }) => ({ id, properties: communicationProperties(payload, idProperty) })),
            }),
          ),
      ));
      for (const { index, id } of toRewrite) {
        outcomes[index] = response.results.some((r) => r.id === id)
          ? { ok: true, result: { hubspotCommunicationId: id } }
          : failed(new VendorError('hubspot', `message not rewritten on communication ${id}: ${errorFor(response, id) ?? 'no result'}`));
      }
    }
    if (toCreate.length === 0) return outcomes;
    // Noted before it goes out and cleared once answered: a create whose answer is lost is looked
    // up by its message id before it is sent again (#findCreated), never simply repeated.
    const created = new Map<string, string>();
    const response = await this.#writeCommunications(
      context,
      toCreate.map(({ payload }) => payload.messageId),
      async () => {
        const answer = (await this.#api.read(context, 'logging messages', batchAnswer, (c) =>
          c.crm.objects.communications.batchApi.create({
            inputs: toCreate.map(({ payload }) => ({
              properties: communicationProperties(payload, idProperty),
              associations: [{ to: { id: contactIds.get(payload.messageId)! }, types: [{ associationCategory: AssociationSpecAssociationCategoryEnum.HubspotDefined, associationTypeId: COMMUNICATION_TO_CONTACT }] }],
            })),
          }),
        ));
        // Results come in no particular order: matched by the message id each carries. The refs
        // are stored before the notes are cleared: a crash between them leaves a create in doubt
        // (looked up), never a second record.
        for (const record of answer.results) {
          const messageId = record.properties[idProperty];
          if (messageId && !created.has(messageId)) created.set(messageId, record.id);
        }
        for (const [messageId, id] of created) await context.setRef(REF.communication, messageId, id);
        return answer;
      },
    );
    for (const { index, payload } of toCreate) {
      const id = created.get(payload.messageId);
      outcomes[index] = id ? { ok: true, result: { hubspotCommunicationId: id } } : failed(new VendorError('hubspot', `message not logged: ${errorFor(response, payload.messageId) ?? 'no result for it'}`));
    }
    return outcomes;
  }
}
