// Parses a stored WhatsApp webhook body into inbound events. Whatever cannot be understood
// is reported as a problem (the delivery is flagged and kept), never thrown away.
import type {
  DeliveryStatus,
  InboundEvent,
  InboundMessageEvent,
  JsonValue,
  MediaKind,
  MediaReference,
  MessageType,
  ParsedDelivery,
  VendorErrorDetail,
} from '../../core/model/types.js';
import { MESSAGE_TYPES } from '../../core/model/types.js';
import { renderMessage } from './render.js';
import { cloudApiEcho, cloudApiMessage, cloudApiStatus, messagesValue, webhookEnvelope, type CloudApiMessage } from './webhook-schema.js';
import type { z } from 'zod';

const MEDIA_KINDS: readonly string[] = ['image', 'audio', 'video', 'document', 'sticker'] satisfies MediaKind[];

function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`)
    .join('; ');
}

function toErrors(errors: CloudApiMessage['errors']): VendorErrorDetail[] {
  return (errors ?? []).map((e) => ({
    code: e.code,
    title: e.title ?? '',
    ...(e.message === undefined ? {} : { message: e.message }),
    ...(e.error_data?.details === undefined ? {} : { details: e.error_data.details }),
  }));
}

function mediaOf(message: CloudApiMessage): MediaReference | null {
  if (!MEDIA_KINDS.includes(message.type)) return null;
  const kind = message.type as MediaKind;
  const media = message[kind];
  if (!media) return null;
  return {
    kind,
    mediaId: media.id,
    mimeType: media.mime_type ?? 'application/octet-stream',
    ...(media.sha256 === undefined ? {} : { sha256: media.sha256 }),
    ...(media.filename === undefined ? {} : { filename: media.filename }),
    ...(media.caption === undefined ? {} : { caption: media.caption }),
    ...(media.voice === undefined ? {} : { voice: media.voice }),
    ...(media.animated === undefined ? {} : { animated: media.animated }),
  };
}

function knownType(type: string): MessageType {
  return (MESSAGE_TYPES as readonly string[]).includes(type) ? (type as MessageType) : 'unsupported';
}

/** The event for one parsed message, as received from the customer. */
function messageEvent(
  m: CloudApiMessage,
  raw: unknown,
  number: { businessNumberId: string; businessDisplayNumber: string },
): InboundMessageEvent {
  return {
    kind: 'message',
    direction: 'inbound',
    ...number,
    fromWaId: m.from,
    fromUserId: null,
    profileName: null,
    messageId: m.id,
    sentAt: Number(m.timestamp) * 1000,
    type: knownType(m.type),
    originalType: m.type,
    text: renderMessage(m),
    media: mediaOf(m),
    replyToId: m.context?.id ?? (m.type === 'reaction' ? (m.reaction?.message_id ?? null) : null),
    newWaId: m.type === 'system' ? (m.system?.wa_id ?? m.system?.new_wa_id ?? null) : null,
    errors: toErrors(m.errors),
    raw: raw as JsonValue,
  };
}

function parseMessagesChange(value: unknown, where: string, events: InboundEvent[], problems: string[]): void {
  const parsedValue = messagesValue.safeParse(value);
  if (!parsedValue.success) {
    problems.push(`${where}: not a messages value (${describeIssues(parsedValue.error)})`);
    return;
  }
  const v = parsedValue.data;
  const businessNumberId = v.metadata.phone_number_id;
  const profiles = new Map((v.contacts ?? []).map((c) => [c.wa_id, c]));

  const number = { businessNumberId, businessDisplayNumber: v.metadata.display_phone_number };

  (v.messages ?? []).forEach((item, index) => {
    const parsed = cloudApiMessage.safeParse(item);
    if (!parsed.success) {
      problems.push(`${where}.messages[${index}]: ${describeIssues(parsed.error)}`);
      return;
    }
    const m = parsed.data;
    const profile = profiles.get(m.from);
    events.push({
      ...messageEvent(m, item, number),
      fromUserId: m.from_user_id ?? profile?.user_id ?? null,
      profileName: profile?.profile?.name ?? null,
    });
  });

  // Echoes of messages sent from the WhatsApp Business app: the customer is the recipient.
  (v.message_echoes ?? []).forEach((item, index) => {
    const echo = cloudApiEcho.safeParse(item);
    const message = cloudApiMessage.safeParse(item && typeof item === 'object' ? { ...item, from: (item as { to?: unknown }).to } : item);
    if (!echo.success || !message.success) {
      problems.push(`${where}.message_echoes[${index}]: ${echo.error ? describeIssues(echo.error) : 'unreadable message'}`);
      return;
    }
    events.push({ ...messageEvent(message.data, item, number), direction: 'outbound' });
  });

  (v.statuses ?? []).forEach((item, index) => {
    const parsed = cloudApiStatus.safeParse(item);
    if (!parsed.success) {
      problems.push(`${where}.statuses[${index}]: ${describeIssues(parsed.error)}`);
      return;
    }
    const s = parsed.data;
    events.push({
      kind: 'status',
      businessNumberId,
      messageId: s.id,
      status: s.status as DeliveryStatus,
      at: Number(s.timestamp) * 1000,
      recipientWaId: s.recipient_id,
      errors: toErrors(s.errors),
      callbackData: s.biz_opaque_callback_data ?? null,
      raw: item as JsonValue,
    });
  });

  if (v.errors && v.errors.length > 0) {
    // Errors at value level (throughput, account problems) concern the account, not a message.
    events.push({ kind: 'account', field: 'messages.errors', accountId: businessNumberId, at: Date.now(), raw: value as JsonValue });
  }
}

/** Parses one webhook body (as received, before JSON parsing) into inbound events. */
export function parseWhatsAppDelivery(body: string): ParsedDelivery {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch (error) {
    return { events: [], problems: [`body is not valid JSON: ${(error as Error).message}`] };
  }
  const envelope = webhookEnvelope.safeParse(json);
  if (!envelope.success) {
    return { events: [], problems: [`not a WhatsApp Business Account webhook: ${describeIssues(envelope.error)}`] };
  }
  const events: InboundEvent[] = [];
  const problems: string[] = [];
  envelope.data.entry.forEach((entry, entryIndex) => {
    entry.changes.forEach((change, changeIndex) => {
      const where = `entry[${entryIndex}].changes[${changeIndex}]`;
      if (change.field === 'messages' || change.field === 'smb_message_echoes') {
        parseMessagesChange(change.value, where, events, problems);
      } else {
        // Account fields carry no metadata: route on the field name, keep the value whole.
        events.push({
          kind: 'account',
          field: change.field,
          accountId: entry.id,
          at: (entry.time ?? Math.floor(Date.now() / 1000)) * 1000,
          raw: (change.value ?? null) as JsonValue,
        });
      }
    });
  });
  return { events, problems };
}
