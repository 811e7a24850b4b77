// Pure mapping from model changes to the forwarded events, and the zod schema of each
// operation's payload: what the planner writes is what the handler reads back, checked.
import { contactOrderingKey } from '../../core/connector.js';
import { z } from 'zod';
import type { ModelChange } from '../../core/model/types.js';
import type { OperationDraft } from '../../core/outbox/queries.js';
import { BACKGROUND_KEY_PREFIX } from '../../core/outbox/key-queue.js';
import type { WebhookSettings } from './settings.js';

export const KIND = { contact: 'contact.forward', message: 'message.forward', status: 'status.forward' } as const;

// Loose objects: the receiver gets every field the planner wrote, including any this schema does
// not name. Fields added after the first release are optional, so operations queued by an older
// version still go out. Keys are listed in the planner's order, which is the order they are sent in.
const nullableString = z.string().nullable();

export const contactForwardPayload = z.looseObject({
  contactId: z.string(),
  crmKey: z.string().optional(),
  // waId is null while WhatsApp withholds the number; bsuid then names the person.
  waId: nullableString,
  bsuid: nullableString.optional(),
  parentBsuid: nullableString.optional(),
  username: nullableString.optional(),
  userId: nullableString,
  profileName: nullableString,
  created: z.boolean(),
});
export type ContactForwardPayload = z.infer<typeof contactForwardPayload>;

export const messageForwardPayload = z.looseObject({
  messageId: z.string(),
  contactId: z.string(),
  waId: nullableString,
  bsuid: nullableString.optional(),
  threadId: z.string(),
  newThread: z.boolean(),
  direction: z.enum(['inbound', 'outbound']),
  type: z.string(),
  originalType: z.string().optional(),
  text: z.string(),
  media: z.looseObject({ kind: z.string(), mimeType: nullableString.optional(), filename: nullableString, caption: nullableString }).nullable(),
  sentAt: z.iso.datetime(),
  arrivalSeq: z.number().int(),
  replyToId: nullableString.optional(),
  history: z.boolean().optional(),
});
export type MessageForwardPayload = z.infer<typeof messageForwardPayload>;

export const statusForwardPayload = z.looseObject({
  messageId: z.string(),
  status: z.string(),
  at: z.iso.datetime(),
  errors: z.array(z.looseObject({ code: z.union([z.number(), z.string()]).nullable(), title: nullableString.optional() })),
});
export type StatusForwardPayload = z.infer<typeof statusForwardPayload>;

export type ForwardPayload = ContactForwardPayload | MessageForwardPayload | StatusForwardPayload;

export function toOperationDrafts(change: ModelChange, events: WebhookSettings['events']): OperationDraft[] {
  switch (change.type) {
    case 'contact.upserted': {
      if (!events.includes('contact')) return [];
      const c = change.contact;
      const payload = {
        contactId: c.id,
        crmKey: c.crmKey,
        waId: c.waId,
        bsuid: c.bsuid,
        parentBsuid: c.parentBsuid,
        username: c.username,
        userId: c.userId,
        profileName: c.profileName,
        created: change.created,
      } satisfies ContactForwardPayload;
      return [{ kind: KIND.contact, key: `${c.id}:${c.updatedAt}`, orderingKey: contactOrderingKey(c.id), payload }];
    }
    case 'message.recorded': {
      if (!events.includes('message')) return [];
      const m = change.message;
      const payload = {
        messageId: m.id,
        contactId: change.contact.id,
        waId: change.contact.waId,
        bsuid: change.contact.bsuid,
        threadId: m.threadId,
        newThread: change.threadCreated,
        direction: m.direction,
        type: m.type,
        originalType: m.originalType,
        text: m.text,
        media: m.media === null ? null : { kind: m.media.kind, mimeType: m.media.mimeType, filename: m.media.filename ?? null, caption: m.media.caption ?? null },
        sentAt: new Date(m.sentAt).toISOString(),
        arrivalSeq: m.arrivalSeq,
        replyToId: m.replyToId,
        history: m.history === true,
      } satisfies MessageForwardPayload;
      // History goes in the contact's own background key: in order, behind live work.
      const orderingKey = m.history ? `${BACKGROUND_KEY_PREFIX}${contactOrderingKey(change.contact.id)}` : contactOrderingKey(change.contact.id);
      return [{ kind: KIND.message, key: change.refilled ? `${m.id}:media` : m.id, orderingKey, payload }];
    }
    case 'message.status': {
      if (!events.includes('status')) return [];
      const payload = {
        messageId: change.messageId,
        status: change.status,
        at: new Date(change.at).toISOString(),
        errors: change.errors.map((e) => ({ code: e.code, title: e.title })),
      } satisfies StatusForwardPayload;
      return [{ kind: KIND.status, key: `${change.messageId}:${change.status}`, orderingKey: change.contact ? contactOrderingKey(change.contact.id) : `message:${change.messageId}`, payload }];
    }
    default:
      return [];
  }
}

/** The body POSTed for one operation: `type` is the kind without `.forward`. */
export function eventBody(kind: string, idempotencyKey: string, data: ForwardPayload): string {
  const type = kind.replace(/\.forward$/, '');
  return JSON.stringify({ idempotencyKey, type, data });
}
