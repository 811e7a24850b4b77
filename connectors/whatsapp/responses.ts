// The Graph API answers the WhatsApp connector reads, as zod schemas checked in client.ts: an
// answer of another shape is a typed error naming the call and the field (core/vendor-answer.ts).
// Loose objects: Meta adds fields between Graph versions, and only the fields named here are read.
// Shapes follow Meta's OpenAPI description, vendored at
// test/contract/specs/whatsapp/business-messaging-api_v23.0.yaml (facebook/openapi, MIT).
import { z } from 'zod';

/**
 * A Graph API error answer, read by its code (not its text):
 * https://developers.facebook.com/docs/graph-api/guides/error-handling/
 * https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes
 */
export const graphError = z.looseObject({
  error: z.looseObject({ message: z.string(), type: z.string().optional(), code: z.number().optional(), error_subcode: z.number().optional() }),
});

/**
 * GET /{media-id}: a short-lived download URL and the file's facts.
 * https://developers.facebook.com/docs/whatsapp/cloud-api/reference/media#retrieve-media-url
 */
export const mediaInfo = z.looseObject({
  url: z.string().url(),
  mime_type: z.string(),
  sha256: z.string().optional(),
  file_size: z.union([z.number(), z.string()]).optional(),
  id: z.string(),
});
export type MediaInfo = z.infer<typeof mediaInfo>;

/**
 * POST /{phone-number-id}/messages: the sent message's wamid. `contacts[]` echoes the address:
 * `input`, and `wa_id` for a send to a phone or `user_id` for one to a BSUID.
 * https://developers.facebook.com/docs/whatsapp/cloud-api/reference/messages
 */
export const sendAnswer = z.looseObject({
  contacts: z.array(z.looseObject({ input: z.string().optional(), wa_id: z.string().optional(), user_id: z.string().optional() })).optional(),
  messages: z.array(z.looseObject({ id: z.string() })).min(1),
});

/**
 * POST /{phone-number-id}/media: the uploaded file's media id.
 * https://developers.facebook.com/docs/whatsapp/cloud-api/reference/media#upload-media
 */
export const uploadAnswer = z.looseObject({ id: z.string() });

/**
 * POST /{phone-number-id}/smb_app_data: the request id of a coexistence number's contacts or history sync.
 * https://developers.facebook.com/documentation/business-messaging/whatsapp/embedded-signup/onboarding-business-app-users/
 */
export const syncAnswer = z.looseObject({ request_id: z.string().optional() });

/**
 * GET /{waba-id}/message_templates: one page of the account's templates; `paging.next` is there while more follow.
 * https://developers.facebook.com/documentation/business-messaging/whatsapp/reference/whatsapp-business-account/message-template-api#get-version-waba-id-message-templates
 */
export const templatePage = z.looseObject({
  data: z.array(
    z.looseObject({
      name: z.string(),
      language: z.string(),
      status: z.string(),
      category: z.string(),
      parameter_format: z.enum(['POSITIONAL', 'NAMED']).optional(),
      components: z.array(z.looseObject({ type: z.string(), format: z.string().optional(), text: z.string().optional(), buttons: z.array(z.looseObject({ type: z.string(), url: z.string().optional() })).optional() })).optional(),
    }),
  ),
  paging: z.looseObject({ cursors: z.looseObject({ after: z.string().optional() }).optional(), next: z.string().optional() }).optional(),
});
export type TemplateRecord = z.infer<typeof templatePage>['data'][number];

/**
 * GET /debug_token: whether the access token is valid, and its scopes.
 * https://developers.facebook.com/docs/graph-api/reference/debug_token/
 */
export const tokenInfo = z.looseObject({
  data: z.looseObject({ is_valid: z.boolean().optional(), scopes: z.array(z.string()).optional() }),
});
