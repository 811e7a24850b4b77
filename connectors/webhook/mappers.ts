// Pure mapping from model changes to the forwarded event bodies.
import type { JsonValue, ModelChange } from '../../core/model/types.js';
import type { OperationDraft } from '../../core/outbox/queries.js';
import { BACKGROUND_KEY_PREFIX } from '../../core/outbox/key-queue.js';
import type { WebhookSettings } from './settings.js';

export const KIND = { contact: 'contact.forward', message: 'message.forward', status: 'status.forward' } as const;

export function toOperationDrafts(change: ModelChange, events: WebhookSettings['events']): OperationDraft[] {
  switch (change.type) {
    case 'contact.upserted': {
      if (!events.includes('contact')) return [];
      const c = change.contact;
      return [
        {
          kind: KIND.contact,
          key: `${c.id}:${c.updatedAt}`,
          orderingKey: `contact:${c.id}`,
          // waId is null while WhatsApp withholds the number; bsuid then names the person.
          payload: {
            contactId: c.id,
            crmKey: c.crmKey,
            waId: c.waId,
            bsuid: c.bsuid,
            parentBsuid: c.parentBsuid,
            username: c.username,
            userId: c.userId,
            profileName: c.profileName,
            created: change.created,
          },
        },
      ];
    }
    case 'message.recorded': {
      if (!events.includes('message')) return [];
      const m = change.message;
      const payload: JsonValue = {
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
      };
      // History goes in the contact's own background key: in order, behind live work.
      const orderingKey = m.history ? `${BACKGROUND_KEY_PREFIX}contact:${change.contact.id}` : `contact:${change.contact.id}`;
      return [{ kind: KIND.message, key: change.refilled ? `${m.id}:media` : m.id, orderingKey, payload }];
    }
    case 'message.status': {
      if (!events.includes('status')) return [];
      return [
        {
          kind: KIND.status,
          key: `${change.messageId}:${change.status}`,
          orderingKey: change.contact ? `contact:${change.contact.id}` : `message:${change.messageId}`,
          payload: {
            messageId: change.messageId,
            status: change.status,
            at: new Date(change.at).toISOString(),
            errors: change.errors.map((e) => ({ code: e.code, title: e.title })),
          },
        },
      ];
    }
    default:
      return [];
  }
}

/** The body POSTed for one operation. */
export function eventBody(kind: string, idempotencyKey: string, data: JsonValue): string {
  const type = kind.replace(/\.forward$/, '');
  return JSON.stringify({ idempotencyKey, type, data });
}
