// The HubSpot answers this connector reads, as zod schemas, each under the documentation of its
// endpoint. The client checks every answer it reads against its schema (HubSpotApi.read): an
// answer that does not match is a VendorError naming what was unexpected, never a crash on a
// missing field. Loose objects: HubSpot adds fields, and nothing here depends on their absence.
import { z } from 'zod';
import { checkedAnswer } from '../../core/vendor-answer.js';

/** `answer` checked against its schema (core/vendor-answer.ts): the parsed answer, or a VendorError saying where it departs. */
export function checkAnswer<S extends z.ZodType>(action: string, schema: S, answer: unknown): z.output<S> {
  return checkedAnswer('hubspot', action, schema, answer);
}

// ---- CRM objects ----

/** A property value: HubSpot answers every property as a string, or null where it is empty. */
const propertyValues = z.record(z.string(), z.string().nullable());

/** A CRM record (contact, communication, note, task) as batch and search answers carry it: its id and the properties asked for. */
export const crmRecord = z.looseObject({ id: z.string(), properties: propertyValues });
export type CrmRecord = z.infer<typeof crmRecord>;

/**
 * A batch answer: 200 with every result, or 207 (multi-status) with the results that worked and
 * an error per failed input, whose context names the inputs' ids:
 * https://developers.hubspot.com/docs/api-reference/latest/crm/objects/communications/batch/create-communications
 * https://developers.hubspot.com/docs/api-reference/latest/crm/objects/contacts/batch/upsert-contacts
 * https://developers.hubspot.com/docs/api-reference/latest/crm/objects/contacts/batch/update-contacts
 * https://developers.hubspot.com/docs/api-reference/latest/crm/objects/contacts/batch/read-contacts
 */
export const batchAnswer = z.looseObject({
  results: z.array(crmRecord),
  errors: z.array(z.looseObject({ message: z.string(), context: z.record(z.string(), z.array(z.string())).optional() })).optional(),
});
export type BatchAnswer = z.infer<typeof batchAnswer>;

/** A CRM search page, and the cursor of the next: https://developers.hubspot.com/docs/api/crm/search */
export const searchAnswer = z.looseObject({
  results: z.array(crmRecord),
  paging: z.looseObject({ next: z.looseObject({ after: z.string() }).optional() }).optional(),
});

/** A property's definition (its type, unique values, options): https://developers.hubspot.com/docs/api-reference/latest/crm/properties/get-property */
export const propertyAnswer = z.looseObject({
  type: z.string(),
  hasUniqueValue: z.boolean().optional(),
  options: z.array(z.looseObject({ value: z.string() })).optional(),
});
export type PropertyAnswer = z.infer<typeof propertyAnswer>;

// ---- account and tokens ----

/**
 * The account details: its time zone, id and app domain. Each field is optional and one of
 * another shape reads as absent (a time zone we do not know counts days in UTC, a missing
 * domain links to app.hubspot.com):
 * https://developers.hubspot.com/docs/api-reference/latest/account/account-information/get-account-details
 */
export const accountDetails = z.looseObject({
  timeZone: z.string().optional().catch(undefined),
  portalId: z.number().optional().catch(undefined),
  uiDomain: z.string().optional().catch(undefined),
});

/**
 * An OAuth token refresh's answer, or its refusal (RFC 6749 error fields; HubSpot's `message`).
 * Every field optional: a refusal without an access token is told apart by the client.
 * https://developers.hubspot.com/docs/api-reference/2026-03/authentication/oauth-tokens/refresh-oauth-token
 */
export const oauthTokenAnswer = z.looseObject({
  access_token: z.string().optional().catch(undefined),
  refresh_token: z.string().optional().catch(undefined),
  expires_in: z.number().optional().catch(undefined),
  error: z.string().optional().catch(undefined),
  error_description: z.string().optional().catch(undefined),
  message: z.string().optional().catch(undefined),
});

/**
 * Token introspection (RFC 7662): `scope` space-separated, HubSpot's metadata also lists `scopes`.
 * https://developers.hubspot.com/docs/api-reference/2026-03/authentication/oauth-tokens/token-introspect
 */
export const introspectionAnswer = z.looseObject({
  active: z.boolean().optional(),
  scopes: z.array(z.unknown()).optional().catch(undefined),
  scope: z.string().optional().catch(undefined),
});

/** A private app token's metadata, with its scopes (absent: told apart by the client). */
export const accessTokenInfo = z.looseObject({ scopes: z.array(z.unknown()).optional().catch(undefined) });

// ---- files ----

/** A file search's results (name and extension apart): https://developers.hubspot.com/docs/api/files/files */
export const fileSearchAnswer = z.looseObject({ results: z.array(z.looseObject({ id: z.string(), name: z.string().optional(), extension: z.string().optional() })) });

/** An upload's answer: the file, with its id (absent: told apart by the client). https://developers.hubspot.com/docs/api/files/files */
export const uploadedFile = z.looseObject({ id: z.string().optional() });

// ---- the inbox (Custom Channels and Conversations) ----

/** https://developers.hubspot.com/docs/api-reference/legacy/conversations/custom-channels/messages/create-custom-channel */
export const publishedMessage = z.looseObject({ id: z.string().min(1), conversationsThreadId: z.string().min(1) });

/** https://developers.hubspot.com/docs/api-reference/legacy/conversations/conversations/messages/get-conversation */
export const threadMessage = z.looseObject({
  id: z.string().min(1),
  direction: z.string().optional(),
  text: z.string().optional(),
  client: z.looseObject({ clientType: z.string().optional() }).optional(),
  // FILE attachments name a file in HubSpot Files; the other kinds (LOCATION, CONTACT, ...) are not files.
  attachments: z.array(z.looseObject({ type: z.string(), fileId: z.coerce.string().optional(), name: z.string().optional() })).optional(),
});

/** https://developers.hubspot.com/docs/api-reference/files-files-v3/files/get-files-v3-files-fileId-signed-url */
export const signedFileUrl = z.looseObject({ url: z.string().url(), name: z.string().optional(), extension: z.string().optional(), size: z.number().optional() });

/** https://developers.hubspot.com/docs/api-reference/legacy/conversations/custom-channels/channel-accounts/create-custom-channel */
export const channelAccount = z.looseObject({ id: z.string().min(1), name: z.string().optional(), deliveryIdentifier: z.looseObject({ value: z.string() }).nullish() });
export const channelAccountList = z.looseObject({ results: z.array(channelAccount) });

/** https://developers.hubspot.com/docs/api-reference/conversations-custom-channels-v3/external-channels/post-conversations-v3-custom-channels- */
export const channel = z.looseObject({ id: z.coerce.string(), name: z.string().optional() });
export const channelList = z.looseObject({ results: z.array(channel) });

/** The account's inboxes (conversations.read), to connect channel accounts to: https://developers.hubspot.com/docs/api-reference/legacy/conversations/custom-channels/guide */
export const inboxList = z.looseObject({ results: z.array(z.looseObject({ id: z.coerce.string(), name: z.string().optional() })) });

/** A status report's answer: nothing in it is read. https://developers.hubspot.com/docs/api-reference/latest/conversations/custom-channels/messages/update-custom-channel */
export const anyAnswer = z.unknown();
