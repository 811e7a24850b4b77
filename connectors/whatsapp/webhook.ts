// Parses a stored WhatsApp webhook body into inbound events. Whatever cannot be understood
// is reported as a problem (the delivery is flagged and kept), never thrown away.
import { explainSendError } from './send-errors.js';
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
import type { CustomerIdentity } from '../../core/model/identity.js';
import type { CustomerWords } from '../../core/consent/keywords.js';
import {
  appStateSyncItem,
  appStateSyncValue,
  historyMessage,
  historyValue,
  cloudApiEcho,
  cloudApiMessage,
  cloudApiStatus,
  MEDIA_ID,
  messagesValue,
  userPreferencesValue,
  webhookEnvelope,
  type CloudApiMessage,
  type WebhookContact,
} from './webhook-schema.js';
import type { z } from 'zod';

const MEDIA_KINDS: readonly string[] = ['image', 'audio', 'video', 'document', 'sticker'] satisfies MediaKind[];

function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`)
    .join('; ');
}

function toErrors(errors: CloudApiMessage['errors']): VendorErrorDetail[] {
  return (errors ?? []).map((e) => {
    const explanation = explainSendError(e.code);
    return {
      code: e.code,
      title: e.title ?? '',
      ...(e.message === undefined ? {} : { message: e.message }),
      ...(e.error_data?.details === undefined ? {} : { details: e.error_data.details }),
      ...(explanation === undefined ? {} : { explanation }),
    };
  });
}

/** A media id that is not one (`..`, a path): the message is kept, its file is not fetched. */
const REFUSED_MEDIA_ID: VendorErrorDetail = {
  code: 0,
  title: 'media id refused',
  message: 'the media id is not a Graph API media id (letters, digits, "_" and "-" only), so the file was not fetched; the raw webhook body is kept',
};

function refusedMediaId(message: CloudApiMessage): boolean {
  const media = MEDIA_KINDS.includes(message.type) ? message[message.type as MediaKind] : undefined;
  return media !== undefined && !MEDIA_ID.test(media.id);
}

function mediaOf(message: CloudApiMessage): MediaReference | null {
  if (!MEDIA_KINDS.includes(message.type)) return null;
  const kind = message.type as MediaKind;
  const media = message[kind];
  if (!media || !MEDIA_ID.test(media.id)) return null;
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

/** Usernames are written with `@` in the app; we keep them without it. */
function usernameOf(contact: WebhookContact | undefined): string | null {
  const username = contact?.profile?.username?.trim().replace(/^@/, '');
  return username ? username : null;
}

/**
 * The `contacts[]` entry describing a sender or recipient: by phone when both carry one, else by
 * BSUID (a username user's entries have no `wa_id`), else the only entry there is.
 */
function contactFor(contacts: readonly WebhookContact[], waId: string | undefined, bsuid: string | undefined): WebhookContact | undefined {
  return (
    (waId ? contacts.find((c) => c.wa_id === waId) : undefined) ??
    (bsuid ? contacts.find((c) => c.user_id === bsuid) : undefined) ??
    (contacts.length === 1 && (!waId || !contacts[0]!.wa_id) && (!bsuid || !contacts[0]!.user_id) ? contacts[0] : undefined)
  );
}

/** Every identifier given for one person, from the message or status itself and its contacts entry. */
function identityOf(ids: { waId?: string | undefined; bsuid?: string | undefined; parentBsuid?: string | undefined }, contact: WebhookContact | undefined): CustomerIdentity {
  return {
    waId: ids.waId ?? contact?.wa_id ?? null,
    bsuid: ids.bsuid ?? contact?.user_id ?? null,
    parentBsuid: ids.parentBsuid ?? contact?.parent_user_id ?? null,
    username: usernameOf(contact),
  };
}

/**
 * What the customer typed or tapped, verbatim, for consent keywords and button payloads: a
 * text's body, a quick-reply button's text and payload, an interactive button reply's title and id.
 * https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages/button
 * https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages/interactive
 */
function wordsOf(m: CloudApiMessage): CustomerWords | undefined {
  if (m.type === 'text') return { text: m.text?.body ?? null, payload: null };
  if (m.type === 'button') return { text: m.button?.text ?? null, payload: m.button?.payload ?? null };
  if (m.type === 'interactive' && m.interactive?.button_reply) return { text: m.interactive.button_reply.title, payload: m.interactive.button_reply.id };
  return undefined;
}

/** The event for one parsed message, as received from the customer. */
function messageEvent(
  m: CloudApiMessage,
  raw: unknown,
  number: { businessNumberId: string; businessDisplayNumber: string },
  customer: CustomerIdentity,
): InboundMessageEvent {
  const system = m.type === 'system' ? m.system : undefined;
  const bsuidChanged = system?.type === 'user_changed_user_id';
  return {
    kind: 'message',
    direction: 'inbound',
    ...number,
    // A BSUID change names the person by the BSUID they had: that is the one we know.
    customer: bsuidChanged && system?.previous_user_id ? { ...customer, bsuid: system.previous_user_id, parentBsuid: system.previous_parent_user_id ?? customer.parentBsuid } : customer,
    profileName: null,
    messageId: m.id,
    sentAt: Number(m.timestamp) * 1000,
    type: knownType(m.type),
    originalType: m.type,
    text: renderMessage(m),
    media: mediaOf(m),
    replyToId: m.context?.id ?? (m.type === 'reaction' ? (m.reaction?.message_id ?? null) : null),
    newWaId: system && !bsuidChanged ? (system.wa_id ?? system.new_wa_id ?? null) : null,
    newBsuid: bsuidChanged ? (system?.user_id ?? null) : null,
    newParentBsuid: bsuidChanged ? (system?.parent_user_id ?? null) : null,
    errors: refusedMediaId(m) ? [...toErrors(m.errors), REFUSED_MEDIA_ID] : toErrors(m.errors),
    raw: raw as JsonValue,
    ...(wordsOf(m) ? { words: wordsOf(m)! } : {}),
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
  const contacts = v.contacts ?? [];

  const number = { businessNumberId, businessDisplayNumber: v.metadata.display_phone_number };

  (v.messages ?? []).forEach((item, index) => {
    const parsed = cloudApiMessage.safeParse(item);
    if (!parsed.success) {
      problems.push(`${where}.messages[${index}]: ${describeIssues(parsed.error)}`);
      return;
    }
    const m = parsed.data;
    const contact = contactFor(contacts, m.from, m.from_user_id);
    const customer = identityOf({ waId: m.from, bsuid: m.from_user_id, parentBsuid: m.from_parent_user_id }, contact);
    if (!customer.waId && !customer.bsuid && !customer.parentBsuid && !m.system?.previous_user_id) {
      problems.push(`${where}.messages[${index}]: names no sender (no from, from_user_id or contacts entry)`);
      return;
    }
    events.push({ ...messageEvent(m, item, number, customer), profileName: contact?.profile?.name ?? null });
  });

  // Echoes of messages sent from the WhatsApp Business app: the customer is the recipient.
  (v.message_echoes ?? []).forEach((item, index) => {
    const echo = cloudApiEcho.safeParse(item);
    const message = cloudApiMessage.safeParse(item && typeof item === 'object' ? { ...item, from: (item as { to?: unknown }).to } : item);
    if (!echo.success || !message.success || (!echo.data.to && !echo.data.to_user_id)) {
      problems.push(`${where}.message_echoes[${index}]: ${echo.error ? describeIssues(echo.error) : message.success ? 'names no recipient (no to, to_user_id)' : 'unreadable message'}`);
      return;
    }
    const customer = identityOf({ waId: echo.data.to, bsuid: echo.data.to_user_id }, contactFor(contacts, echo.data.to, echo.data.to_user_id));
    events.push({ ...messageEvent(message.data, item, number, customer), direction: 'outbound' });
  });

  (v.statuses ?? []).forEach((item, index) => {
    const parsed = cloudApiStatus.safeParse(item);
    if (!parsed.success) {
      problems.push(`${where}.statuses[${index}]: ${describeIssues(parsed.error)}`);
      return;
    }
    const s = parsed.data;
    // A failed status has no contacts entry; a message sent to a BSUID may come back without recipient_id.
    const recipient = identityOf(
      { waId: s.recipient_id, bsuid: s.recipient_user_id, parentBsuid: s.recipient_parent_user_id ?? s.parent_recipient_user_id },
      contactFor(contacts, s.recipient_id, s.recipient_user_id),
    );
    events.push({
      kind: 'status',
      businessNumberId,
      messageId: s.id,
      status: s.status as DeliveryStatus,
      at: Number(s.timestamp) * 1000,
      recipient,
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

/** WhatsApp's two marketing preferences, as our consent states. */
const PREFERENCE_CONSENT = { stop: 'opted_out', resume: 'opted_in' } as const;

/**
 * `user_preferences`: a person stopped or resumed marketing messages (`category:
 * marketing_messages`, `value: stop | resume`, `timestamp` in unix seconds), named by `wa_id`
 * and/or `user_id` (BSUID): a consent event, which also links the identifiers to one person.
 * Entries of another category or value only link the identifiers (the webhook may grow).
 * https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/user_preferences/
 */
function parseUserPreferences(value: unknown, where: string, receivedAt: number, events: InboundEvent[], problems: string[]): void {
  const parsed = userPreferencesValue.safeParse(value);
  if (!parsed.success) {
    problems.push(`${where}: not a user_preferences value (${describeIssues(parsed.error)})`);
    return;
  }
  const contacts = parsed.data.contacts ?? [];
  parsed.data.user_preferences.forEach((preference, index) => {
    const contact = contactFor(contacts, preference.wa_id, preference.user_id);
    const customer = identityOf({ waId: preference.wa_id, bsuid: preference.user_id, parentBsuid: preference.parent_user_id }, contact);
    if (!customer.waId && !customer.bsuid && !customer.parentBsuid) {
      problems.push(`${where}.user_preferences[${index}]: names nobody (no wa_id, user_id or parent_user_id)`);
      return;
    }
    const businessNumberId = parsed.data.metadata.phone_number_id;
    const profileName = contact?.profile?.name ?? null;
    const status = preference.category === 'marketing_messages' && preference.value ? PREFERENCE_CONSENT[preference.value as keyof typeof PREFERENCE_CONSENT] : undefined;
    if (!status) {
      events.push({ kind: 'identity', businessNumberId, customer, profileName, source: 'user_preferences' });
      return;
    }
    const seconds = preference.timestamp === undefined ? undefined : Number(preference.timestamp);
    events.push({ kind: 'consent', businessNumberId, customer, profileName, status, at: seconds !== undefined && Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : receivedAt });
  });
}

/** WhatsApp shares the media of history messages from the last 14 days only (see the history reference). */
export const HISTORY_MEDIA_DAYS = 14;
export const MEDIA_NOT_SHARED_TEXT = `[media not shared by WhatsApp (older than ${HISTORY_MEDIA_DAYS} days)]`;
export const MEDIA_PENDING_TEXT = '[media: WhatsApp shares the file in a later history webhook]';

function digitsOf(number: string): string {
  return number.replace(/\D/g, '');
}

/**
 * `history`: the app's past chats, in chunks per phase. Each message becomes a message event
 * marked as history (the customer is the thread's person; the business's own messages carry `to`
 * or come from the business number), and each chunk a progress event.
 * https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/history/
 */
function parseHistory(value: unknown, where: string, receivedAt: number, events: InboundEvent[], problems: string[]): void {
  const parsed = historyValue.safeParse(value);
  if (!parsed.success) {
    problems.push(`${where}: not a history value (${describeIssues(parsed.error)})`);
    return;
  }
  const v = parsed.data;
  const number = { businessNumberId: v.metadata.phone_number_id, businessDisplayNumber: v.metadata.display_phone_number };
  const businessDigits = digitsOf(v.metadata.display_phone_number);
  v.history.forEach((chunk, chunkIndex) => {
    const at = `${where}.history[${chunkIndex}]`;
    let messages = 0;
    (chunk.threads ?? []).forEach((thread, threadIndex) => {
      const customer: CustomerIdentity = {
        waId: thread.context?.wa_id ?? thread.id,
        bsuid: thread.context?.user_id ?? null,
        parentBsuid: thread.context?.parent_user_id ?? null,
        username: thread.context?.username?.trim().replace(/^@/, '') || null,
      };
      thread.messages.forEach((item, messageIndex) => {
        const place = `${at}.threads[${threadIndex}].messages[${messageIndex}]`;
        const h = historyMessage.safeParse(item);
        const m = cloudApiMessage.safeParse(item);
        if (!h.success || !m.success) {
          problems.push(`${place}: ${describeIssues((h.error ?? m.error)!)}`);
          return;
        }
        const outbound = h.data.to !== undefined || digitsOf(h.data.from) === businessDigits;
        const placeholder = h.data.type === 'media_placeholder';
        const event = messageEvent(m.data, item, number, customer);
        const sentAt = event.sentAt;
        const text = placeholder ? (receivedAt - sentAt > HISTORY_MEDIA_DAYS * 86_400_000 ? MEDIA_NOT_SHARED_TEXT : MEDIA_PENDING_TEXT) : event.text;
        events.push({
          ...event,
          direction: outbound ? 'outbound' : 'inbound',
          text,
          // Old system notices (a number change months ago) must not move today's contact.
          newWaId: null,
          newBsuid: null,
          newParentBsuid: null,
          history: { status: h.data.history_context?.status ?? null, placeholder },
        });
        messages++;
      });
    });
    events.push({
      kind: 'history.chunk',
      businessNumberId: number.businessNumberId,
      phase: chunk.metadata?.phase ?? null,
      chunkOrder: chunk.metadata?.chunk_order ?? null,
      progress: chunk.metadata?.progress ?? null,
      threads: chunk.threads?.length ?? 0,
      messages,
      errors: toErrors(chunk.errors),
    });
    if (!chunk.metadata && !chunk.errors) problems.push(`${at}: a history chunk with neither metadata nor errors`);
  });
}

/**
 * `smb_app_state_sync`: the app's contacts, added or edited (`add`) or removed (`remove`).
 * https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/smb_app_state_sync/
 */
function parseAppStateSync(value: unknown, where: string, events: InboundEvent[], problems: string[]): void {
  const parsed = appStateSyncValue.safeParse(value);
  if (!parsed.success) {
    problems.push(`${where}: not an smb_app_state_sync value (${describeIssues(parsed.error)})`);
    return;
  }
  parsed.data.state_sync.forEach((raw, index) => {
    const item = appStateSyncItem.safeParse(raw);
    if (!item.success) {
      problems.push(`${where}.state_sync[${index}]: ${describeIssues(item.error)}`);
      return;
    }
    // Other kinds of app state may come one day: they concern no contact.
    if (item.data.type !== 'contact') return;
    const contact = item.data.contact;
    const customer: CustomerIdentity = {
      waId: contact?.phone_number ?? null,
      bsuid: contact?.user_id ?? null,
      parentBsuid: null,
      username: contact?.username?.trim().replace(/^@/, '') || null,
    };
    if (!customer.waId && !customer.bsuid) {
      problems.push(`${where}.state_sync[${index}]: a contact with neither phone_number nor user_id`);
      return;
    }
    events.push({
      kind: 'app.contact',
      businessNumberId: parsed.data.metadata.phone_number_id,
      customer,
      fullName: contact?.full_name?.trim() || null,
      firstName: contact?.first_name?.trim() || null,
      action: item.data.action,
      at: (item.data.metadata?.timestamp ?? 0) * 1000,
    });
  });
}

/**
 * JSON.parse's message quotes a piece of the body (a phone number, a message text), and problems
 * are logged: only where the error is and how long the body is are said.
 */
function notJsonProblem(body: string, error: unknown): string {
  const position = /position (\d+)/.exec(error instanceof Error ? error.message : '')?.[1];
  return `body is not valid JSON (${body.length} characters${position === undefined ? '' : `; the first error at position ${position}`})`;
}

/** Parses one webhook body (as received, before JSON parsing) into inbound events. */
export function parseWhatsAppDelivery(body: string, receivedAt = Date.now()): ParsedDelivery {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch (error) {
    return { events: [], problems: [notJsonProblem(body, error)] };
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
      } else if (change.field === 'history') {
        parseHistory(change.value, where, receivedAt, events, problems);
      } else if (change.field === 'smb_app_state_sync') {
        parseAppStateSync(change.value, where, events, problems);
      } else {
        if (change.field === 'user_preferences') parseUserPreferences(change.value, where, receivedAt, events, problems);
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
