// The domain model every connector maps from: contacts, threads, messages, statuses,
// plus the events a source parses webhooks into and the changes the engine hands to connectors.
import type { E164 } from './phone.js';

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

export type MessageDirection = 'inbound' | 'outbound';

/** WhatsApp Cloud API message types we render; anything else is kept as `unsupported`. */
export const MESSAGE_TYPES = [
  'text',
  'image',
  'audio',
  'video',
  'document',
  'sticker',
  'location',
  'contacts',
  'interactive',
  'button',
  'reaction',
  'order',
  'system',
  'unsupported',
] as const;
export type MessageType = (typeof MESSAGE_TYPES)[number];

export type MediaKind = 'image' | 'audio' | 'video' | 'document' | 'sticker';

export interface MediaReference {
  readonly kind: MediaKind;
  /** The vendor's media id, used to fetch the bytes. */
  readonly mediaId: string;
  readonly mimeType: string;
  readonly sha256?: string;
  readonly filename?: string;
  readonly caption?: string;
  readonly voice?: boolean;
  readonly animated?: boolean;
}

export type DeliveryStatus = 'sent' | 'delivered' | 'read' | 'failed' | 'deleted' | 'warning';

export interface VendorErrorDetail {
  readonly code: number;
  readonly title: string;
  readonly message?: string;
  readonly details?: string;
}

export interface Contact {
  readonly id: string;
  /** The WhatsApp id as first seen, normalised to E.164: the key CRMs store. */
  readonly waId: E164;
  /** Meta's user id when it sends one; stable across number changes. */
  readonly userId: string | null;
  readonly profileName: string | null;
  readonly createdAt: number;
  readonly updatedAt: number;
}

export interface Thread {
  readonly id: string;
  readonly contactId: string;
  readonly businessNumberId: string;
  readonly startedAt: number;
  readonly lastMessageAt: number;
}

export interface Message {
  /** The WhatsApp message id (`wamid...`). */
  readonly id: string;
  readonly threadId: string;
  readonly contactId: string;
  readonly direction: MessageDirection;
  readonly type: MessageType;
  /** The original type name when `type` is `unsupported`. */
  readonly originalType: string;
  /** A human-readable rendering for CRM timelines. Never logged. */
  readonly text: string;
  readonly media: MediaReference | null;
  /** When the message was sent, in milliseconds (WhatsApp gives whole seconds). */
  readonly sentAt: number;
  /** Arrival order, breaking ties between messages of the same second. */
  readonly arrivalSeq: number;
  readonly status: DeliveryStatus | null;
  readonly replyToId: string | null;
}

// ---- Inbound events: what a source (the WhatsApp webhook) parses a delivery into ----

export interface InboundMessageEvent {
  readonly kind: 'message';
  /** `outbound` for echoes of messages the business sent from another app on the same number. */
  readonly direction: MessageDirection;
  readonly businessNumberId: string;
  readonly businessDisplayNumber: string;
  /** The customer's WhatsApp id (the sender of inbound messages, the recipient of echoes). */
  readonly fromWaId: string;
  readonly fromUserId: string | null;
  readonly profileName: string | null;
  readonly messageId: string;
  readonly sentAt: number;
  readonly type: MessageType;
  readonly originalType: string;
  readonly text: string;
  readonly media: MediaReference | null;
  readonly replyToId: string | null;
  /** For `system` messages announcing a new number: the user's new WhatsApp id. */
  readonly newWaId: string | null;
  readonly errors: readonly VendorErrorDetail[];
  readonly raw: JsonValue;
}

export interface InboundStatusEvent {
  readonly kind: 'status';
  readonly businessNumberId: string;
  readonly messageId: string;
  readonly status: DeliveryStatus;
  readonly at: number;
  readonly recipientWaId: string;
  readonly errors: readonly VendorErrorDetail[];
  readonly raw: JsonValue;
}

/** Account-level webhooks (security, quality, bans): surfaced to people, never synced to CRMs. */
export interface InboundAccountEvent {
  readonly kind: 'account';
  readonly field: string;
  readonly accountId: string;
  readonly at: number;
  readonly raw: JsonValue;
}

export type InboundEvent = InboundMessageEvent | InboundStatusEvent | InboundAccountEvent;

export interface ParsedDelivery {
  readonly events: readonly InboundEvent[];
  /** Parts of the delivery we could not understand; the delivery is flagged, never dropped. */
  readonly problems: readonly string[];
}

/** Turns one stored webhook body into events. Pure: no I/O. */
export type DeliveryParser = (body: string) => ParsedDelivery;

// ---- Model changes: what the engine hands to connectors to plan operations from ----

export interface StoredMedia {
  readonly messageId: string;
  readonly sha256: string;
  readonly mimeType: string;
  readonly size: number;
  readonly path: string;
  readonly filename: string | null;
}

export type ModelChange =
  | { readonly type: 'contact.upserted'; readonly contact: Contact; readonly created: boolean }
  | {
      readonly type: 'message.recorded';
      readonly contact: Contact;
      readonly thread: Thread;
      readonly threadCreated: boolean;
      readonly message: Message;
    }
  | {
      readonly type: 'message.status';
      readonly contact: Contact | null;
      readonly message: Message | null;
      readonly status: DeliveryStatus;
      readonly at: number;
      readonly messageId: string;
      readonly errors: readonly VendorErrorDetail[];
    }
  | { readonly type: 'media.stored'; readonly contact: Contact; readonly message: Message; readonly media: StoredMedia }
  | { readonly type: 'account.event'; readonly field: string; readonly accountId: string; readonly at: number; readonly raw: JsonValue };

/** What a connector needs to upload a stored media file: the operation payload of media attachments. */
export interface StoredMediaPayload {
  readonly messageId: string;
  readonly contactId: string;
  readonly threadId: string;
  readonly path: string;
  readonly sha256: string;
  readonly mimeType: string;
  readonly size: number;
  readonly filename: string | null;
  [key: string]: string | number | null;
}

export function storedMediaPayload(change: Extract<ModelChange, { type: 'media.stored' }>): StoredMediaPayload {
  const { media } = change;
  return {
    messageId: change.message.id,
    contactId: change.contact.id,
    threadId: change.message.threadId,
    path: media.path,
    sha256: media.sha256,
    mimeType: media.mimeType,
    size: media.size,
    filename: media.filename,
  };
}
