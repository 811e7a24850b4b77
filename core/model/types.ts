// The domain model every connector maps from: contacts, threads, messages, statuses,
// plus the events a source parses webhooks into and the changes the engine hands to connectors.
import { z } from 'zod';
import type { E164 } from './phone.js';
import type { Consent, ConsentStatus, CustomerWords } from '../consent/types.js';

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

export type MessageDirection = 'inbound' | 'outbound';

/** The identifiers one webhook gives for the customer; any may be missing. */
export interface CustomerIdentity {
  /** The phone number as WhatsApp sends it (digits with the country code), or null when withheld. */
  readonly waId: string | null;
  readonly bsuid: string | null;
  readonly parentBsuid: string | null;
  /** The WhatsApp username, without the `@`; it can change. */
  readonly username: string | null;
}


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

export const DELIVERY_STATUSES = ['sent', 'delivered', 'read', 'failed', 'deleted', 'warning'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

export interface VendorErrorDetail {
  readonly code: number;
  readonly title: string;
  readonly message?: string;
  readonly details?: string;
  /** The source's words for what the error means and what to do, when it has them (shown on CRM records). */
  readonly explanation?: string;
}

/**
 * One person, known by every identifier WhatsApp has given for them. Any of phone, BSUID and
 * parent BSUID may be missing (a username user withholds the phone), never all three.
 */
export interface Contact {
  readonly id: string;
  /**
   * The key CRMs store and upsert on: set when the contact is created (its first BSUID, else its
   * number; the WhatsApp id for contacts from before BSUIDs) and never changed, so number and
   * BSUID changes keep one record per person.
   */
  readonly crmKey: string;
  /** The current phone number in E.164, or null while WhatsApp withholds it. */
  readonly waId: E164 | null;
  /** The current business-scoped user id (a new one comes with a new number). */
  readonly bsuid: string | null;
  /** The parent BSUID shared by linked business portfolios, when enabled. */
  readonly parentBsuid: string | null;
  /** The WhatsApp username (without `@`), when the person has one; it can change. */
  readonly username: string | null;
  /** An older Meta user id kept from before BSUIDs (not a BSUID). */
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
  /**
   * For outbound messages this service sent: the connector the reply came from (e.g. `zendesk`),
   * so that connector never writes its own reply back (no echo loops). Null for customer
   * messages and for echoes of messages sent from the business's own WhatsApp app.
   */
  readonly origin: string | null;
  /** Security findings on the message (e.g. `suspicious_link`); the text already carries a visible warning. */
  readonly warnings: readonly string[];
  /** True for messages imported from the WhatsApp Business app's chat history (the past, not live traffic). */
  readonly history?: boolean;
}

/** A file kept in the media directory (content-addressed), ready to send or upload. */
export interface LocalFile {
  readonly path: string;
  readonly sha256: string;
  readonly mimeType: string;
  readonly size: number;
  readonly filename: string | null;
  [key: string]: string | number | null;
}

/** A reply a helpdesk agent wrote, to go out to the customer on WhatsApp. */
export interface OutboundReply {
  /** The connector the reply came from; stored on the sent message as its origin. */
  readonly origin: string;
  /** Unique per reply at its origin (e.g. the Zendesk comment id): the send's idempotency key. */
  readonly sourceId: string;
  /** The origin's record the reply belongs to (e.g. the ticket id), for notes about it. */
  readonly sourceRecord: string;
  readonly text: string;
  readonly attachments: readonly LocalFile[];
  /** Approved template sent instead when the customer service window is closed; none means "do not send". */
  readonly template: {
    readonly name: string;
    readonly language: string;
    readonly parameters: readonly string[];
    /** For a template with named parameters: each parameter's name, in the order of `parameters`. */
    readonly parameterNames?: readonly string[] | null;
    /** A text header's parameter (at most one), and its name for a named template. */
    readonly header?: readonly string[];
    readonly headerNames?: readonly string[] | null;
    /** The suffix of each URL button ending in a parameter, by the button's position (0-based). */
    readonly buttons?: ReadonlyArray<{ readonly index: number; readonly urlSuffix: string }>;
    /** The body as the customer reads it (parameters filled in): what CRM timelines show. */
    readonly rendered?: string;
  } | null;
  /** Send the template even inside the window, never the text (the outbound API's template sends). */
  readonly templateOnly?: boolean;
}

// ---- Inbound events: what a source (the WhatsApp webhook) parses a delivery into ----

export interface InboundMessageEvent {
  readonly kind: 'message';
  /** `outbound` for echoes of messages the business sent from another app on the same number. */
  readonly direction: MessageDirection;
  readonly businessNumberId: string;
  readonly businessDisplayNumber: string;
  /** The customer (the sender of inbound messages, the recipient of echoes), by every identifier given. */
  readonly customer: CustomerIdentity;
  readonly profileName: string | null;
  readonly messageId: string;
  readonly sentAt: number;
  readonly type: MessageType;
  readonly originalType: string;
  readonly text: string;
  readonly media: MediaReference | null;
  readonly replyToId: string | null;
  /** For `system` messages announcing a new number (`user_changed_number`): the user's new WhatsApp id. */
  readonly newWaId: string | null;
  /** For `system` messages announcing a new BSUID (`user_changed_user_id`): the new one. */
  readonly newBsuid: string | null;
  readonly newParentBsuid: string | null;
  readonly errors: readonly VendorErrorDetail[];
  readonly raw: JsonValue;
  /** Set on messages from the WhatsApp Business app's past (coexistence onboarding): see HistoryMark. */
  readonly history?: HistoryMark;
  /** What the customer typed or tapped, verbatim, where a consent keyword or button payload may be (text, buttons, button replies). */
  readonly words?: CustomerWords;
}

/**
 * A message imported from the app's chat history: logged in the CRMs as the past, never treated
 * as live traffic (no tickets, acknowledgements, alerts, or customer service window).
 */
export interface HistoryMark {
  /** The message's last status in the app (`history_context.status`), e.g. `read`; null when not given. */
  readonly status: string | null;
  /** A media message whose media id WhatsApp has not shared (yet): a later history webhook may fill it in. */
  readonly placeholder: boolean;
}

/** One chunk of a history phase, counted for progress (its messages come as their own events). */
export interface InboundHistoryChunkEvent {
  readonly kind: 'history.chunk';
  readonly businessNumberId: string;
  /** 0: day 0-1, 1: day 1-90, 2: day 90-180 before onboarding; null on a declined sync. */
  readonly phase: number | null;
  readonly chunkOrder: number | null;
  /** The sync's overall progress, 0-100. */
  readonly progress: number | null;
  readonly threads: number;
  readonly messages: number;
  /** The business declined to share its history (code 2593109): nothing will come. */
  readonly errors: readonly VendorErrorDetail[];
}

/** A contact of the WhatsApp Business app's address book (`smb_app_state_sync`). */
export interface InboundAppContactEvent {
  readonly kind: 'app.contact';
  readonly businessNumberId: string;
  readonly customer: CustomerIdentity;
  readonly fullName: string | null;
  readonly firstName: string | null;
  readonly action: 'add' | 'remove';
  readonly at: number;
}

export interface InboundStatusEvent {
  readonly kind: 'status';
  readonly businessNumberId: string;
  readonly messageId: string;
  readonly status: DeliveryStatus;
  readonly at: number;
  /** Who the message went to: a phone number, a BSUID, or both (a failed send to a phone has no BSUID). */
  readonly recipient: CustomerIdentity;
  readonly errors: readonly VendorErrorDetail[];
  /** What the sender tagged the message with (WhatsApp's biz_opaque_callback_data), echoed in its statuses. */
  readonly callbackData: string | null;
  readonly raw: JsonValue;
}

/** Identifiers seen together outside a message (e.g. a `user_preferences` webhook): linked to a known person, nothing else. */
export interface InboundIdentityEvent {
  readonly kind: 'identity';
  readonly businessNumberId: string;
  readonly customer: CustomerIdentity;
  readonly profileName: string | null;
  readonly source: string;
}

/** A person stopped or resumed marketing messages at WhatsApp (the `user_preferences` webhook). */
export interface InboundConsentEvent {
  readonly kind: 'consent';
  readonly businessNumberId: string;
  readonly customer: CustomerIdentity;
  readonly profileName: string | null;
  readonly status: ConsentStatus;
  /** When the person changed it, in milliseconds. */
  readonly at: number;
}

/** Account-level webhooks (security, quality, bans): surfaced to people, never synced to CRMs. */
export interface InboundAccountEvent {
  readonly kind: 'account';
  readonly field: string;
  readonly accountId: string;
  readonly at: number;
  readonly raw: JsonValue;
}

/** A helpdesk says one of its records changed (e.g. an agent commented on a ticket): the connector fetches what is new. */
export interface InboundHelpdeskEvent {
  readonly kind: 'helpdesk';
  readonly connector: string;
  /** The helpdesk's record id (a ticket id). */
  readonly recordId: string;
  /** Our thread id as the helpdesk holds it (the ticket's external id), when it holds one. */
  readonly threadId: string | null;
  /**
   * When the helpdesk holds no id of ours but its own conversation id, which its connector kept as
   * the external id of refs of this kind (one per thread of ours it published to): the newest of
   * those threads is the one meant.
   */
  readonly threadRef?: { readonly kind: string; readonly externalId: string };
}

export type InboundEvent =
  | InboundMessageEvent
  | InboundStatusEvent
  | InboundAccountEvent
  | InboundHelpdeskEvent
  | InboundIdentityEvent
  | InboundConsentEvent
  | InboundHistoryChunkEvent
  | InboundAppContactEvent;

export interface ParsedDelivery {
  readonly events: readonly InboundEvent[];
  /** Parts of the delivery we could not understand; the delivery is flagged, never dropped. */
  readonly problems: readonly string[];
}

/** Turns one stored webhook body into events. Pure: no I/O. `receivedAt`: when the delivery came (some texts depend on age). */
export type DeliveryParser = (body: string, receivedAt: number) => ParsedDelivery;

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
  | {
      readonly type: 'contact.upserted';
      readonly contact: Contact;
      readonly created: boolean;
      /** The number the person had before a `user_changed_number`: a CRM phone field holding it is ours to update. */
      readonly previousWaId?: E164 | null;
    }
  | {
      readonly type: 'message.recorded';
      readonly contact: Contact;
      readonly thread: Thread;
      readonly threadCreated: boolean;
      readonly message: Message;
      /** A history media placeholder recorded before got its media (and text) now: write it again. */
      readonly refilled?: boolean;
    }
  | {
      readonly type: 'message.status';
      readonly contact: Contact | null;
      readonly message: Message | null;
      readonly status: DeliveryStatus;
      readonly at: number;
      readonly messageId: string;
      readonly errors: readonly VendorErrorDetail[];
      /** The reply this message was sent for (its origin and the origin's id), when this service sent it; absent otherwise. */
      readonly reply?: { readonly origin: string; readonly sourceId: string };
    }
  | { readonly type: 'media.stored'; readonly contact: Contact; readonly message: Message; readonly media: StoredMedia }
  | { readonly type: 'account.event'; readonly field: string; readonly accountId: string; readonly at: number; readonly raw: JsonValue }
  /** A helpdesk record of this thread changed: its connector looks for agent replies. */
  | { readonly type: 'helpdesk.updated'; readonly connector: string; readonly recordId: string; readonly contact: Contact; readonly thread: Thread; readonly deliveryId: number }
  /** An agent's reply is ready to go to the customer on WhatsApp. */
  | { readonly type: 'reply.requested'; readonly contact: Contact; readonly thread: Thread; readonly reply: OutboundReply }
  /** A reply could not go out (e.g. outside the 24-hour window with no template); its origin is told why. */
  | { readonly type: 'reply.undeliverable'; readonly contact: Contact; readonly thread: Thread; readonly reply: OutboundReply; readonly reason: string }
  /** A person's marketing consent changed (webhook, keyword or button): every CRM is told. */
  | {
      readonly type: 'consent.changed';
      readonly contact: Contact;
      readonly consent: Consent;
      /** The person's latest thread (where a helpdesk notes an opt-out on its ticket), null when they never wrote. */
      readonly threadId: string | null;
    }
  /** A reply went out a second time: the first send's answer was lost and no status told whether it had arrived. */
  | { readonly type: 'reply.resent'; readonly contact: Contact; readonly thread: Thread; readonly reply: OutboundReply; readonly reason: string };

/** What a connector needs to upload a stored media file: the operation payload of media attachments. */
export interface StoredMediaPayload extends LocalFile {
  readonly messageId: string;
  readonly contactId: string;
  readonly threadId: string;
}

/** The schema of a stored media file's payload, for a connector declaring its attachment kind (core/operations.ts). */
export const storedMediaPayloadSchema = z.object({
  messageId: z.string(),
  contactId: z.string(),
  threadId: z.string(),
  path: z.string(),
  sha256: z.string(),
  mimeType: z.string(),
  size: z.number(),
  filename: z.string().nullable(),
}) satisfies z.ZodType<StoredMediaPayload>;

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
