// Pure mapping for the HubSpot inbox (Custom Channels): which changes are published to the
// inbox, how a customer is addressed (delivery identifiers), and the request bodies. No I/O.
import { z } from 'zod';
import { contactOrderingKey } from '../../core/connector.js';
import { BACKGROUND_KEY_PREFIX } from '../../core/outbox/key-queue.js';
import { storedMediaPayload, type Contact, type DeliveryStatus, type LocalFile, type Message, type ModelChange, type OutboundReply, type Thread } from '../../core/model/types.js';
import type { OperationDraft } from '../../core/outbox/queries.js';
import { failureNote, mediaPayload } from './mappers.js';
import type { InboxSettings } from './settings.js';

export const INBOX_KIND = { publish: 'inbox.publish', reply: 'inbox.reply', status: 'inbox.status' } as const;

/** Our replies' origin: an agent's reply from HubSpot's inbox, never published back to it. */
export const INBOX_ORIGIN = 'hubspot';

/**
 * How HubSpot threads and addresses a person on the channel. A phone number is an
 * `HS_PHONE_NUMBER`; a customer who withholds it (BSUID only) is a `CHANNEL_SPECIFIC_OPAQUE_ID`:
 * https://developers.hubspot.com/docs/api-reference/legacy/conversations/custom-channels/messages/create-custom-channel
 */
export const deliveryIdentifier = z.object({ type: z.enum(['HS_PHONE_NUMBER', 'CHANNEL_SPECIFIC_OPAQUE_ID']), value: z.string() });
export type DeliveryIdentifier = z.infer<typeof deliveryIdentifier>;

export function deliveryIdentifierOf(contact: Pick<Contact, 'waId' | 'bsuid' | 'parentBsuid'>): DeliveryIdentifier | undefined {
  if (contact.waId) return { type: 'HS_PHONE_NUMBER', value: contact.waId };
  const opaque = contact.bsuid ?? contact.parentBsuid;
  return opaque ? { type: 'CHANNEL_SPECIFIC_OPAQUE_ID', value: opaque } : undefined;
}

/** The business number's own identifier on the channel: its channel account stands for it. */
export function businessIdentifierOf(businessNumberId: string): DeliveryIdentifier {
  return { type: 'CHANNEL_SPECIFIC_OPAQUE_ID', value: `whatsapp:${businessNumberId}` };
}

// Payload schemas: what inboxDrafts writes is what the inbox's handlers read back, checked.
// Plain (stripping) objects; fields added after the first release are optional or nullable.

export const publishPayload = z.object({
  /** The WhatsApp message id, or `<wamid>:media` for the file of a media message (published once stored). */
  messageId: z.string(),
  threadId: z.string(),
  contactId: z.string(),
  /** Null for a file (a media.stored change names no thread): it goes over the number its text went over. */
  businessNumberId: z.string().nullable(),
  direction: z.enum(['inbound', 'outbound']),
  text: z.string(),
  sentAt: z.number(),
  customer: deliveryIdentifier,
  customerName: z.string().nullable(),
  /** The stored file to upload and attach (media messages, once the file is fetched). */
  file: mediaPayload.optional(),
});
export type PublishPayload = z.infer<typeof publishPayload>;

export const replyFetchPayload = z.object({
  /** See inboxRecordId: the HubSpot conversation and message. */
  recordId: z.string(),
  threadId: z.string(),
  contactId: z.string(),
});
export type ReplyFetchPayload = z.infer<typeof replyFetchPayload>;

/** What HubSpot knows of an agent's message (SENT, FAILED, READ), and why it failed. */
export const inboxStatusPayload = z.object({
  /** HubSpot's id of the agent's message. */
  hubspotMessageId: z.string(),
  status: z.enum(['SENT', 'FAILED', 'READ']),
  errorMessage: z.string().nullable(),
});
export type StatusPayload = z.infer<typeof inboxStatusPayload>;

/**
 * The inbox's operations for a change. Customers' messages are published as INCOMING, the
 * business's own from elsewhere (its app, a Zendesk agent) as OUTGOING, on the contact's key so
 * the thread reads in order; replies sent for HubSpot agents are already in the thread. The app's
 * past chats stay on the timeline only (no live conversation is opened for them).
 */
export function inboxDrafts(change: ModelChange, settings: InboxSettings): OperationDraft[] {
  if (!settings.enabled) return [];
  switch (change.type) {
    case 'message.recorded': {
      const payload = publishPayloadOf(change.contact, change.thread, change.message);
      return payload ? [{ kind: INBOX_KIND.publish, key: payload.messageId, orderingKey: contactOrderingKey(change.contact.id), payload }] : [];
    }
    case 'media.stored': {
      // The file follows its message's text in the thread, as a message of its own.
      const text = publishPayloadOf(change.contact, { id: change.message.threadId, businessNumberId: null }, change.message);
      if (!text) return [];
      const payload: PublishPayload = { ...text, messageId: `${change.message.id}:media`, text: change.message.media?.caption ?? '', file: storedMediaPayload(change) };
      return [{ kind: INBOX_KIND.publish, key: payload.messageId, orderingKey: contactOrderingKey(change.contact.id), payload }];
    }
    case 'helpdesk.updated': {
      if (change.connector !== INBOX_ORIGIN) return [];
      const payload: ReplyFetchPayload = { recordId: change.recordId, threadId: change.thread.id, contactId: change.contact.id };
      // One per HubSpot message: a redelivered webhook queues nothing new.
      return [{ kind: INBOX_KIND.reply, key: change.recordId, orderingKey: contactOrderingKey(change.contact.id), payload }];
    }
    case 'reply.undeliverable': {
      if (change.reply.origin !== INBOX_ORIGIN) return [];
      const payload: StatusPayload = { hubspotMessageId: change.reply.sourceId, status: 'FAILED', errorMessage: `Not sent to the customer on WhatsApp: ${change.reason}` };
      return [{ kind: INBOX_KIND.status, key: `failed:${change.reply.sourceId}`, orderingKey: statusOrderingKey(change.reply.sourceId), payload }];
    }
    case 'message.status': {
      // A status of a message sent for an agent's answer shows on that message in the inbox.
      if (change.reply?.origin !== INBOX_ORIGIN) return [];
      const status = INBOX_STATUS_OF[change.status];
      if (!status) return [];
      const hubspotMessageId = change.reply.sourceId;
      const errorMessage = status === 'FAILED' ? `WhatsApp could not deliver this message: ${failureNote(change.errors)}` : null;
      const payload: StatusPayload = { hubspotMessageId, status, errorMessage };
      // sent and delivered are both SENT to HubSpot: one report. A reply's parts share the keys.
      return [{ kind: INBOX_KIND.status, key: `${status.toLowerCase()}:${hubspotMessageId}`, orderingKey: statusOrderingKey(hubspotMessageId), payload }];
    }
    default:
      return [];
  }
}

/**
 * What each WhatsApp status is on the agent's message: HubSpot knows SENT, FAILED and READ
 * (https://developers.hubspot.com/docs/api-reference/latest/conversations/custom-channels/messages/update-custom-channel);
 * delivered to the phone is still SENT there. A warning or a deletion changes nothing the agent reads.
 */
const INBOX_STATUS_OF: Partial<Record<DeliveryStatus, StatusPayload['status']>> = { sent: 'SENT', delivered: 'SENT', read: 'READ', failed: 'FAILED' };

/**
 * How far along a reported status is: statuses arrive out of order (read before delivered), and
 * a later report never takes the agent's message back. A failure of any part is the last word.
 */
export const INBOX_STATUS_RANK: Record<StatusPayload['status'], number> = { SENT: 1, READ: 2, FAILED: 3 };

/** One agent message's status reports run in turn, apart from the conversation: a report never holds up the thread. */
function statusOrderingKey(hubspotMessageId: string): string {
  return `${BACKGROUND_KEY_PREFIX}inbox-status:${hubspotMessageId}`;
}

/** What a message of ours publishes, or nothing: past chats stay on the timeline, and replies sent for HubSpot agents are in the thread already. */
function publishPayloadOf(contact: Contact, thread: Pick<Thread, 'id'> & { businessNumberId: string | null }, m: Message): PublishPayload | undefined {
  if (m.history || m.origin === INBOX_ORIGIN) return undefined;
  const customer = deliveryIdentifierOf(contact);
  if (!customer) return undefined;
  return {
    messageId: m.id,
    threadId: thread.id,
    contactId: contact.id,
    businessNumberId: thread.businessNumberId,
    direction: m.direction,
    text: m.text,
    sentAt: m.sentAt,
    customer,
    customerName: contact.profileName,
  };
}

/**
 * The publish request: one message over the channel account of the business number, keyed by
 * the WhatsApp message id (integrationIdempotencyId), at the time WhatsApp gave.
 * https://developers.hubspot.com/docs/api-reference/legacy/conversations/custom-channels/messages/create-custom-channel
 */
export function publishBody(payload: PublishPayload & { readonly businessNumberId: string }, channelAccountId: string, fileId?: string): Record<string, unknown> {
  const customer = { deliveryIdentifier: payload.customer, ...(payload.customerName ? { name: payload.customerName } : {}) };
  const business = { deliveryIdentifier: businessIdentifierOf(payload.businessNumberId) };
  const incoming = payload.direction === 'inbound';
  return {
    type: 'MESSAGE',
    messageDirection: incoming ? 'INCOMING' : 'OUTGOING',
    integrationIdempotencyId: payload.messageId,
    channelAccountId,
    text: payload.text,
    senders: [incoming ? customer : business],
    recipients: [incoming ? business : customer],
    timestamp: new Date(payload.sentAt).toISOString(),
    ...(fileId ? { attachments: [{ type: 'FILE', fileId }] } : {}),
  };
}

/** WhatsApp's largest file (a 100 MB document, the Cloud API's media reference): the channel's attachment limit. */
export const MAX_ATTACHMENT_BYTES = 100_000_000;

/** MIME types by file extension, for files whose download names no specific type (the ones WhatsApp takes). */
const MIME_BY_EXTENSION: Record<string, string> = {
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  mp4: 'video/mp4',
  '3gp': 'video/3gpp',
  ogg: 'audio/ogg',
  mp3: 'audio/mpeg',
  aac: 'audio/aac',
  m4a: 'audio/mp4',
  pdf: 'application/pdf',
  txt: 'text/plain',
  doc: 'application/msword',
  docx: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  xls: 'application/vnd.ms-excel',
  xlsx: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  ppt: 'application/vnd.ms-powerpoint',
  pptx: 'application/vnd.openxmlformats-officedocument.presentationml.presentation',
};

/** An attachment's MIME type: the download's own when it names one, else by its extension. */
export function attachmentMimeType(contentType: string | null, extension: string | undefined): string {
  const given = contentType?.split(';')[0]!.trim().toLowerCase();
  if (given && given !== 'application/octet-stream' && given.includes('/')) return given;
  return MIME_BY_EXTENSION[(extension ?? '').toLowerCase()] ?? 'application/octet-stream';
}

/**
 * The channel's registration: threaded by delivery identifier (as HubSpot threads its own
 * WhatsApp and SMS), phone numbers and opaque ids (BSUIDs), agents may answer, one file a message.
 * https://developers.hubspot.com/docs/api-reference/conversations-custom-channels-v3/external-channels/post-conversations-v3-custom-channels-
 * https://developers.hubspot.com/changelog/custom-channels-api-is-now-live (threadingModel)
 */
export function channelRegistration(settings: InboxSettings): Record<string, unknown> {
  return {
    name: settings.channelName,
    webhookUrl: settings.webhookUrl,
    channelDescription: 'WhatsApp conversations synced by wa-crm-sync',
    capabilities: {
      threadingModel: 'DELIVERY_IDENTIFIER',
      deliveryIdentifierTypes: ['HS_PHONE_NUMBER', 'CHANNEL_SPECIFIC_OPAQUE_ID'],
      richText: [],
      allowInlineImages: false,
      allowOutgoingMessages: true,
      allowConversationStart: false,
      allowMultipleRecipients: false,
      outgoingAttachmentTypes: ['FILE'],
      // WhatsApp's media types and its 100 MB document limit (the Cloud API's media reference).
      allowedFileAttachmentMimeTypes: ['image/jpeg', 'image/png', 'application/pdf', 'audio/mpeg', 'audio/ogg', 'video/mp4', 'text/plain'],
      maxFileAttachmentCount: 1,
      maxFileAttachmentSizeBytes: MAX_ATTACHMENT_BYTES,
      maxTotalFileAttachmentSizeBytes: MAX_ATTACHMENT_BYTES,
    },
  };
}

/** What an agent's message becomes: a reply to send on WhatsApp (its files fetched), with the configured template outside the window. */
export function replyFromAgentMessage(
  message: { readonly id: string; readonly text?: string | undefined },
  conversationsThreadId: string,
  template: { readonly name: string; readonly language: string } | undefined,
  attachments: readonly LocalFile[] = [],
): OutboundReply {
  return {
    origin: INBOX_ORIGIN,
    sourceId: message.id,
    sourceRecord: conversationsThreadId,
    text: message.text ?? '',
    attachments,
    template: template ? { name: template.name, language: template.language, parameters: [] } : null,
  };
}
