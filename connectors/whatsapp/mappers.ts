// Pure planning for the WhatsApp side: which stored messages need their media fetched, which
// replies go out, and the zod schema of each operation's payload (checked before a handler reads it).
import { z } from 'zod';
import { contactOrderingKey } from '../../core/connector.js';
import { createHash } from 'node:crypto';
import type { LocalFile, MediaKind, ModelChange, OutboundReply } from '../../core/model/types.js';
import type { OutgoingMessage, TemplateRecord } from './client.js';
import { placeholdersOf, type MessageTemplate } from '../../core/outbound/templates.js';
import type { OperationDraft } from '../../core/outbox/queries.js';
import { BACKGROUND_KEY_PREFIX } from '../../core/outbox/key-queue.js';

export const KIND = { fetchMedia: 'media.fetch', send: 'message.send' } as const;

/** WhatsApp's customer service window: free-form messages only this long after the customer last wrote. */
export const SERVICE_WINDOW_MS = 24 * 3_600_000;

/** Meta's size caps per media kind (animated stickers are the larger sticker cap). */
export const MEDIA_SIZE_CAPS: Record<MediaKind, number> = {
  image: 5 * 1024 * 1024,
  audio: 16 * 1024 * 1024,
  video: 16 * 1024 * 1024,
  document: 100 * 1024 * 1024,
  sticker: 500 * 1024,
};

const nullableText = z.string().nullable();

/** A received message's media to download (`media.fetch`). */
export const fetchMediaPayload = z.object({
  messageId: z.string(),
  mediaId: z.string(),
  kind: z.enum(['image', 'audio', 'video', 'document', 'sticker'] satisfies readonly MediaKind[]),
  mimeType: z.string(),
  sha256: nullableText,
  filename: nullableText,
});
export type FetchMediaPayload = z.infer<typeof fetchMediaPayload>;

/** Who a reply goes to: the phone number when WhatsApp shares it (Meta's advice), else the BSUID. */
const replyRecipient = z.object({ waId: nullableText, bsuid: nullableText, parentBsuid: nullableText });
export type ReplyRecipient = z.infer<typeof replyRecipient>;

/** A file of a reply, as the media store keeps it (LocalFile). */
const replyFile: z.ZodType<LocalFile> = z.object({ path: z.string(), sha256: z.string(), mimeType: z.string(), size: z.number(), filename: nullableText }).catchall(z.union([z.string(), z.number(), z.null()]));

/**
 * The reply as its origin asked for it (core's OutboundReply). Loose: the reply goes back whole
 * in the effects telling its origin what became of it, so no field of it is dropped here.
 */
const outboundReply: z.ZodType<OutboundReply> = z.looseObject({
  origin: z.string(),
  sourceId: z.string(),
  sourceRecord: z.string(),
  text: z.string(),
  attachments: z.array(replyFile),
  template: z
    .looseObject({
      name: z.string(),
      language: z.string(),
      parameters: z.array(z.string()),
      parameterNames: z.array(z.string()).nullable().optional(),
      header: z.array(z.string()).optional(),
      headerNames: z.array(z.string()).nullable().optional(),
      buttons: z.array(z.looseObject({ index: z.number(), urlSuffix: z.string() })).optional(),
      rendered: z.string().optional(),
    })
    .nullable(),
  templateOnly: z.boolean().optional(),
});

/** An agent's reply to send (`message.send`). */
export const sendReplyPayload = z.object({
  contactId: z.string(),
  threadId: z.string(),
  /** The customer's identifiers when the reply was queued (absent in operations queued before BSUIDs). */
  recipient: replyRecipient.optional(),
  /** The WhatsApp id of operations queued before BSUIDs (read when `recipient` is absent). */
  to: z.string().optional(),
  /** The business number the conversation is on (phone_number_id). */
  businessNumberId: z.string(),
  reply: outboundReply,
});
export type SendReplyPayload = z.infer<typeof sendReplyPayload>;

export function toOperationDrafts(change: ModelChange, options: { fetchMedia: boolean }): OperationDraft[] {
  if (change.type === 'reply.requested') {
    const payload: SendReplyPayload = {
      contactId: change.contact.id,
      threadId: change.thread.id,
      recipient: { waId: change.contact.waId, bsuid: change.contact.bsuid, parentBsuid: change.contact.parentBsuid },
      businessNumberId: change.thread.businessNumberId,
      reply: change.reply,
    };
    // One at a time per customer, after earlier replies: WhatsApp keeps the order we send in.
    return [{ kind: KIND.send, key: `${change.reply.origin}:${change.reply.sourceId}`, orderingKey: contactOrderingKey(change.contact.id), payload: payload as never }];
  }
  if (!options.fetchMedia || change.type !== 'message.recorded' || change.message.media === null) return [];
  const media = change.message.media;
  const payload: FetchMediaPayload = {
    messageId: change.message.id,
    mediaId: media.mediaId,
    kind: media.kind,
    mimeType: media.mimeType,
    sha256: media.sha256 ?? null,
    filename: media.filename ?? null,
  };
  // Its own ordering key: a slow or failing download never holds up the conversation.
  // History media wait behind live work.
  const orderingKey = change.message.history ? `${BACKGROUND_KEY_PREFIX}media:${change.message.id}` : `media:${change.message.id}`;
  return [{ kind: KIND.fetchMedia, key: change.message.id, orderingKey, payload }];
}

/**
 * The addressing fields of a send: `to` with the phone number when known (Meta recommends it, so
 * numbers keep appearing in webhooks), else `recipient` with the BSUID or parent BSUID.
 * https://developers.facebook.com/documentation/business-messaging/whatsapp/business-scoped-user-ids/
 */
export function addressOf(payload: Pick<SendReplyPayload, 'recipient' | 'to'>): { to: string } | { recipient: string } | undefined {
  const phone = payload.recipient?.waId ?? payload.to;
  if (phone) return { to: phone };
  const bsuid = payload.recipient?.bsuid ?? payload.recipient?.parentBsuid;
  return bsuid ? { recipient: bsuid } : undefined;
}

/** Meta's code for "this message cannot go to a business-scoped user id" (e.g. one-tap authentication templates). */
export const BSUID_NOT_SUPPORTED = '131062';

/** What the agent reads on the ticket when WhatsApp refuses a part of a reply for a BSUID-only customer. */
export function bsuidRefusalReason(description: string): string {
  return `WhatsApp refused to send ${description.startsWith('[') ? description : 'the text'} to this customer's business-scoped user id (error 131062: this kind of message cannot go to a BSUID, and the customer withholds their phone number). What you can do: answer with plain text or a file while the 24-hour window is open, use a template that is not a one-tap, zero-tap or copy-code authentication template, or ask the customer to share their phone number`;
}

/** The media kind WhatsApp sends a file as, by its MIME type (anything else goes as a document). */
export function mediaKindFor(mimeType: string): Exclude<MediaKind, 'sticker'> {
  const type = mimeType.split(';')[0]!.trim().toLowerCase();
  if (['image/jpeg', 'image/png'].includes(type)) return 'image';
  if (type.startsWith('video/')) return 'video';
  if (type.startsWith('audio/')) return 'audio';
  return 'document';
}

/**
 * A template send's components: the text header's parameter, the body's, then one `button`
 * component per URL button with its suffix (sub_type url, index as a string), as the send
 * reference shows: https://developers.facebook.com/documentation/business-messaging/whatsapp/templates/template-messages/
 */
export function templateComponents(template: NonNullable<OutboundReply['template']>): Array<Record<string, unknown>> {
  const texts = (values: readonly string[], names: readonly string[] | null | undefined) => values.map((text, i) => ({ type: 'text', text, ...(names?.[i] ? { parameter_name: names[i] } : {}) }));
  const header = template.header ?? [];
  return [
    ...(header.length > 0 ? [{ type: 'header', parameters: texts(header, template.headerNames) }] : []),
    ...(template.parameters.length > 0 ? [{ type: 'body', parameters: texts(template.parameters, template.parameterNames) }] : []),
    ...(template.buttons ?? []).map((button) => ({ type: 'button', sub_type: 'url', index: String(button.index), parameters: [{ type: 'text', text: button.urlSuffix }] })),
  ];
}

export interface ReplyPart {
  readonly description: string;
  readonly message?: OutgoingMessage;
  /** A file to upload first; its media id completes the message. */
  readonly file?: LocalFile;
}

/**
 * What goes out for a reply: inside the window its text and each attachment; outside it the
 * approved template alone; an empty list when nothing may be sent.
 */
export function replyParts(reply: OutboundReply, windowOpen: boolean): ReplyPart[] {
  // A template asked for as such (the outbound API) goes out whether the window is open or not.
  if (!windowOpen || reply.templateOnly) {
    if (!reply.template) return [];
    const { name, language } = reply.template;
    const components = templateComponents(reply.template);
    return [{ description: reply.template.rendered ?? `[template ${name}]`, message: { type: 'template', template: { name, language: { policy: 'deterministic', code: language }, ...(components.length > 0 ? { components } : {}) } } }];
  }
  const parts: ReplyPart[] = [];
  if (reply.text.trim() !== '') parts.push({ description: reply.text, message: { type: 'text', text: { body: reply.text, preview_url: false } } });
  for (const file of reply.attachments) parts.push({ description: `[${mediaKindFor(file.mimeType)}: ${file.filename ?? file.sha256.slice(0, 12)}]`, file });
  return parts;
}

/**
 * A template as the outbound API checks it: the body's and a text header's placeholders are its
 * parameters, and each URL button whose URL ends in a placeholder needs its suffix, found by the
 * button's position among all buttons (the `index` a send gives):
 * https://developers.facebook.com/documentation/business-messaging/whatsapp/templates/components/
 */
export function toMessageTemplate(record: TemplateRecord): MessageTemplate {
  const components = record.components ?? [];
  const body = components.find((c) => c.type.toUpperCase() === 'BODY');
  const anyHeader = components.find((c) => c.type.toUpperCase() === 'HEADER');
  const headerFormat = (anyHeader?.format ?? 'TEXT').toUpperCase();
  const header = anyHeader && headerFormat === 'TEXT' ? anyHeader : undefined;
  const urlButtons = components
    .filter((c) => c.type.toUpperCase() === 'BUTTONS')
    .flatMap((c) => c.buttons ?? [])
    .flatMap((b, index) => (b.type.toUpperCase() === 'URL' && placeholdersOf(b.url ?? '').length > 0 ? [index] : []));
  return {
    name: record.name,
    language: record.language,
    status: record.status,
    category: record.category,
    parameterFormat: record.parameter_format ?? 'POSITIONAL',
    bodyParameters: placeholdersOf(body?.text ?? ''),
    headerParameters: placeholdersOf(header?.text ?? ''),
    headerText: header?.text ?? '',
    urlButtons,
    mediaHeader: anyHeader && headerFormat !== 'TEXT' ? headerFormat : null,
    bodyText: body?.text ?? '',
  };
}

/** WhatsApp's limit on biz_opaque_callback_data (Cloud API messages reference). */
export const CALLBACK_DATA_MAX_CHARS = 512;

/**
 * The tag a reply part is sent with as biz_opaque_callback_data: its idempotency key, hashed
 * when it would exceed WhatsApp's 512 characters. Statuses echo it, so a send whose answer was
 * lost can be recognised when its status arrives.
 */
export function callbackDataFor(partKey: string): string {
  const plain = `wa-crm-sync:${partKey}`;
  if (plain.length <= CALLBACK_DATA_MAX_CHARS) return plain;
  return `wa-crm-sync:sha256:${createHash('sha256').update(partKey).digest('hex')}`;
}

/** The message that sends an uploaded file. */
export function mediaMessage(file: LocalFile, mediaId: string): OutgoingMessage {
  const kind = mediaKindFor(file.mimeType);
  if (kind === 'document') return { type: 'document', document: { id: mediaId, ...(file.filename ? { filename: file.filename } : {}) } };
  return { type: kind, [kind]: { id: mediaId } };
}
