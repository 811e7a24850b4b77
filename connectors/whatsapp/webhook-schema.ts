// zod schemas for the WhatsApp Cloud API webhook payload (Graph API v23.0,
// `/whatsapp/webhooks` in test/contract/specs/whatsapp/business-messaging-api_v23.0.yaml,
// Meta's OpenAPI description vendored from facebook/openapi, MIT).
// Loose objects: Meta adds fields often, and an unknown field must never lose a message.
// Identity fields (BSUIDs, parent BSUIDs, usernames; the phone withheld from username users):
// https://developers.facebook.com/documentation/business-messaging/whatsapp/business-scoped-user-ids/
import { z } from 'zod';

const errorDetail = z.looseObject({
  code: z.number(),
  title: z.string().optional(),
  message: z.string().optional(),
  error_data: z.looseObject({ details: z.string().optional() }).optional(),
});

/**
 * A Graph API media id: Meta's are digits; letters, `_` and `-` are allowed too, nothing else.
 * The id becomes a URL path segment (GET /{media-id}), so `..` or a slash would reach another
 * path on the Graph host. https://developers.facebook.com/docs/whatsapp/cloud-api/reference/media
 */
export const MEDIA_ID = /^[A-Za-z0-9_-]{1,128}$/;

const media = z.looseObject({
  id: z.string(),
  mime_type: z.string().optional(),
  sha256: z.string().optional(),
  caption: z.string().optional(),
  filename: z.string().optional(),
  voice: z.boolean().optional(),
  animated: z.boolean().optional(),
});

export const cloudApiMessage = z.looseObject({
  /** The sender's phone number; omitted when a username user withholds it. */
  from: z.string().optional(),
  id: z.string(),
  timestamp: z.string().regex(/^\d+$/),
  type: z.string(),
  /** The sender's business-scoped user id (BSUID), sent since April 2026. */
  from_user_id: z.string().optional(),
  /** The sender's parent BSUID, when the business has parent BSUIDs enabled. */
  from_parent_user_id: z.string().optional(),
  context: z
    .looseObject({
      from: z.string().optional(),
      id: z.string().optional(),
      forwarded: z.boolean().optional(),
      frequently_forwarded: z.boolean().optional(),
      referred_product: z.looseObject({ catalog_id: z.string(), product_retailer_id: z.string() }).optional(),
    })
    .optional(),
  referral: z
    .looseObject({
      source_url: z.string().optional(),
      source_id: z.string().optional(),
      source_type: z.string().optional(),
      headline: z.string().optional(),
      body: z.string().optional(),
    })
    .optional(),
  text: z.looseObject({ body: z.string() }).optional(),
  image: media.optional(),
  video: media.optional(),
  audio: media.optional(),
  document: media.optional(),
  sticker: media.optional(),
  location: z
    .looseObject({
      latitude: z.number(),
      longitude: z.number(),
      name: z.string().optional(),
      address: z.string().optional(),
      url: z.string().optional(),
    })
    .optional(),
  contacts: z
    .array(
      z.looseObject({
        name: z.looseObject({ formatted_name: z.string().optional() }).optional(),
        org: z.looseObject({ company: z.string().optional() }).optional(),
        // https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages/contacts
        phones: z.array(z.looseObject({ phone: z.string().optional(), wa_id: z.string().optional(), type: z.string().optional() })).optional(),
        emails: z.array(z.looseObject({ email: z.string().optional(), type: z.string().optional() })).optional(),
      }),
    )
    .optional(),
  interactive: z
    .looseObject({
      type: z.string().optional(),
      button_reply: z.looseObject({ id: z.string(), title: z.string() }).optional(),
      list_reply: z.looseObject({ id: z.string(), title: z.string(), description: z.string().optional() }).optional(),
      nfm_reply: z.looseObject({ name: z.string().optional(), body: z.string().optional() }).optional(),
      // The business's own interactive message (`button` or `list`), as an smb_message_echoes echo
      // carries it: the question a customer's button or list reply answers.
      // https://developers.facebook.com/documentation/business-messaging/whatsapp/messages/interactive-reply-buttons-messages
      body: z.looseObject({ text: z.string().optional() }).optional(),
      action: z
        .looseObject({
          buttons: z.array(z.looseObject({ reply: z.looseObject({ id: z.string().optional(), title: z.string().optional() }).optional() })).optional(),
          button: z.string().optional(),
          sections: z.array(z.looseObject({ title: z.string().optional(), rows: z.array(z.looseObject({ id: z.string().optional(), title: z.string().optional() })).optional() })).optional(),
        })
        .optional(),
    })
    .optional(),
  button: z.looseObject({ text: z.string().optional(), payload: z.string().optional() }).optional(),
  reaction: z.looseObject({ message_id: z.string(), emoji: z.string().optional() }).optional(),
  order: z
    .looseObject({
      catalog_id: z.string().optional(),
      text: z.string().optional(),
      product_items: z
        .array(
          z.looseObject({
            product_retailer_id: z.string(),
            quantity: z.union([z.number(), z.string()]),
            item_price: z.union([z.number(), z.string()]),
            currency: z.string(),
          }),
        )
        .optional(),
    })
    .optional(),
  // https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages/system/
  // `user_changed_number` gives the new number in `wa_id`; `user_changed_user_id` the new BSUID
  // in `user_id` (and `parent_user_id`) with the old ones in `previous_user_id` / `previous_parent_user_id`.
  system: z
    .looseObject({
      body: z.string().optional(),
      wa_id: z.string().optional(),
      new_wa_id: z.string().optional(),
      user_id: z.string().optional(),
      parent_user_id: z.string().optional(),
      previous_user_id: z.string().optional(),
      previous_parent_user_id: z.string().optional(),
      type: z.string().optional(),
    })
    .optional(),
  errors: z.array(errorDetail).optional(),
});
export type CloudApiMessage = z.infer<typeof cloudApiMessage>;

// https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages/status/
export const cloudApiStatus = z.looseObject({
  id: z.string(),
  status: z.enum(['sent', 'delivered', 'read', 'failed', 'deleted', 'warning']),
  timestamp: z.string().regex(/^\d+$/),
  /** The recipient's phone number; omitted when a message sent to a BSUID goes to a username user. */
  recipient_id: z.string().optional(),
  recipient_user_id: z.string().optional(),
  /** Meta's status reference names it `recipient_parent_user_id`; some pages write `parent_recipient_user_id`: both are read. */
  recipient_parent_user_id: z.string().optional(),
  parent_recipient_user_id: z.string().optional(),
  errors: z.array(errorDetail).optional(),
  // Echo of the sender's tag (at most 512 characters):
  // https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages/status/
  biz_opaque_callback_data: z.string().optional(),
});
export type CloudApiStatus = z.infer<typeof cloudApiStatus>;

/** `smb_message_echoes`: messages sent from the WhatsApp Business app on a coexistence number. */
export const cloudApiEcho = z.looseObject({
  from: z.string(),
  /**
   * The customer's number. `to_user_id` (their BSUID) is read when present, by analogy with
   * `from_user_id`; the echo reference we could check does not name it yet.
   */
  to: z.string().optional(),
  to_user_id: z.string().optional(),
  id: z.string(),
  timestamp: z.string().regex(/^\d+$/),
  type: z.string(),
});

/** `contacts[]` of a messages value: the phone (`wa_id`) is omitted when a username user withholds it. */
export const webhookContact = z.looseObject({
  wa_id: z.string().optional(),
  user_id: z.string().optional(),
  parent_user_id: z.string().optional(),
  profile: z.looseObject({ name: z.string().optional(), username: z.string().optional() }).optional(),
});
export type WebhookContact = z.infer<typeof webhookContact>;

/**
 * `user_preferences` (marketing message stop/resume), with the user's BSUID beside or instead of `wa_id`.
 * https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/user_preferences/
 */
export const userPreferencesValue = z.looseObject({
  messaging_product: z.literal('whatsapp'),
  metadata: z.looseObject({ display_phone_number: z.string(), phone_number_id: z.string() }),
  contacts: z.array(webhookContact).optional(),
  user_preferences: z.array(
    z.looseObject({
      wa_id: z.string().optional(),
      user_id: z.string().optional(),
      parent_user_id: z.string().optional(),
      category: z.string().optional(),
      value: z.string().optional(),
      detail: z.string().optional(),
      // An integer in the reference; a numeric string is accepted as Meta sends other timestamps so.
      timestamp: z.union([z.number(), z.string().regex(/^\d+$/)]).optional(),
    }),
  ),
});

export const messagesValue = z.looseObject({
  messaging_product: z.literal('whatsapp'),
  metadata: z.looseObject({ display_phone_number: z.string(), phone_number_id: z.string() }),
  contacts: z.array(webhookContact).optional(),
  // Each item is checked on its own so that one odd message does not hide the others.
  messages: z.array(z.unknown()).optional(),
  statuses: z.array(z.unknown()).optional(),
  message_echoes: z.array(z.unknown()).optional(),
  errors: z.array(errorDetail).optional(),
});

export const webhookEnvelope = z.looseObject({
  object: z.literal('whatsapp_business_account'),
  entry: z.array(
    z.looseObject({
      id: z.string(),
      time: z.number().optional(),
      changes: z.array(z.looseObject({ field: z.string(), value: z.unknown() })),
    }),
  ),
});

// ---- Coexistence onboarding: the WhatsApp Business app's past chats and its contacts ----

/**
 * One message of a `history` thread: a Cloud API message shape (`from`, `id`, device `timestamp`,
 * `type` and its content), with `to` on the business's own messages and `history_context.status`.
 * Media come first as `type: media_placeholder` (no media id); a later `history` webhook carries
 * the same wamid with its media id, for media of the last 14 days only.
 * https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/history/
 */
export const historyMessage = z.looseObject({
  from: z.string(),
  to: z.string().optional(),
  id: z.string(),
  timestamp: z.string().regex(/^\d+$/),
  type: z.string(),
  history_context: z.looseObject({ status: z.string().optional() }).optional(),
});

/** A `history` thread: one chat of the app, named by the customer's number, with the identifiers WhatsApp gives for them. */
export const historyThread = z.looseObject({
  id: z.string(),
  context: z
    .looseObject({
      wa_id: z.string().optional(),
      user_id: z.string().optional(),
      parent_user_id: z.string().optional(),
      username: z.string().optional(),
    })
    .optional(),
  // Each message is checked on its own: one odd message does not hide the thread's others.
  messages: z.array(z.unknown()),
});

/**
 * One chunk of a history phase (0: day 0-1, 1: day 1-90, 2: day 90-180). `chunk_order` orders a
 * phase's chunks, which may come out of order; `progress` (0-100) is the sync's overall progress,
 * 100 when it is complete. A business that declined sharing sends `errors` (code 2593109) instead.
 * https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/history/
 */
export const historyChunk = z.looseObject({
  metadata: z
    .looseObject({
      phase: z.coerce.number().int().min(0).max(2),
      chunk_order: z.coerce.number().int().min(0),
      progress: z.coerce.number().min(0).max(100),
    })
    .optional(),
  threads: z.array(historyThread).optional(),
  errors: z.array(errorDetail).optional(),
});

export const historyValue = z.looseObject({
  messaging_product: z.literal('whatsapp'),
  metadata: z.looseObject({ display_phone_number: z.string(), phone_number_id: z.string() }),
  history: z.array(historyChunk),
});

/**
 * `smb_app_state_sync`: the app's address book, once at onboarding and then on every edit.
 * `action` is `add` (added or edited) or `remove` (names are left out then).
 * https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/smb_app_state_sync/
 */
export const appStateSyncItem = z.looseObject({
  type: z.string(),
  contact: z
    .looseObject({
      full_name: z.string().optional(),
      first_name: z.string().optional(),
      phone_number: z.string().optional(),
      user_id: z.string().optional(),
      username: z.string().optional(),
    })
    .optional(),
  action: z.enum(['add', 'remove']),
  metadata: z.looseObject({ timestamp: z.coerce.number().int() }).optional(),
});

export const appStateSyncValue = z.looseObject({
  messaging_product: z.literal('whatsapp'),
  metadata: z.looseObject({ display_phone_number: z.string(), phone_number_id: z.string() }),
  state_sync: z.array(z.unknown()),
});
