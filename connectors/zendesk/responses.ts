// The Zendesk answers this connector reads, as zod schemas the client checks every answer
// against (ZendeskApi.call): an answer that does not match is a typed error naming what was
// unexpected, never a crash further on. node-zendesk hands back the body with its top-level
// record name taken off (`{ "users": [...] }` comes back as the list, `{ "ticket": {...} }` as
// the ticket) where that name is one its client knows; other bodies come back whole.
//
// Plain (stripping) objects: Zendesk adds fields to its answers over time, and only the fields
// named here are read. Fields Zendesk may leave out or send as null are `nullish`.
import { z } from 'zod';

/**
 * An end user (or agent) as Show User, Show Many Users and Search Users return it.
 * https://developer.zendesk.com/api-reference/ticketing/users/users/#json-format
 */
export const zendeskUser = z.object({
  id: z.number(),
  name: z.string().nullish(),
  phone: z.string().nullish(),
  notes: z.string().nullish(),
  user_fields: z.record(z.string(), z.unknown()).nullish(),
  external_id: z.string().nullish(),
  role: z.string().nullish(),
});
export type ZendeskUser = z.infer<typeof zendeskUser>;

/**
 * Show Many Users (by ids or external ids) and Search Users: `{ "users": [...] }`.
 * https://developer.zendesk.com/api-reference/ticketing/users/users/#show-many-users
 * https://developer.zendesk.com/api-reference/ticketing/users/users/#search-users
 */
export const zendeskUsers = z.array(zendeskUser);

/**
 * Show the Currently Authenticated User: `{ "user": {...} }`, whose id is null when the
 * credentials are not an agent's (Zendesk answers as the anonymous user).
 * https://developer.zendesk.com/api-reference/ticketing/users/users/#show-the-currently-authenticated-user
 */
export const currentUser = zendeskUser.extend({ id: z.number().nullable() });

/**
 * One task's result in a job status: `{ id, action, status, success }`, `error` and `details` on
 * failure; `index` where Zendesk gives it.
 * https://developer.zendesk.com/api-reference/ticketing/ticket-management/job_statuses/#results
 */
export const jobResult = z.object({
  id: z.number().nullish(),
  index: z.number().nullish(),
  action: z.string().nullish(),
  external_id: z.string().nullish(),
  status: z.string().nullish(),
  success: z.boolean().nullish(),
  error: z.string().nullish(),
  details: z.string().nullish(),
});
export type JobResult = z.infer<typeof jobResult>;

/**
 * A bulk job's status: queued, working, then completed, failed or killed, with a result per task.
 * https://developer.zendesk.com/api-reference/ticketing/ticket-management/job_statuses/#json-format
 */
export const jobStatus = z.object({
  id: z.string(),
  status: z.string(),
  message: z.string().nullish(),
  results: z.array(jobResult).nullish(),
});
export type JobStatus = z.infer<typeof jobStatus>;

/**
 * What Create Or Update Many Users, Update Many Users and Show Job Status answer: `{ "job_status": {...} }`.
 * https://developer.zendesk.com/api-reference/ticketing/users/users/#create-or-update-many-users
 * https://developer.zendesk.com/api-reference/ticketing/ticket-management/job_statuses/#show-job-status
 */
export const jobStatusAnswer = z.object({ job_status: jobStatus.nullish() });

/**
 * A ticket as Create Ticket, Ticket Import and List Tickets return it; only its id is read.
 * https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/#json-format
 */
export const zendeskTicket = z.object({ id: z.number() });

/**
 * List Tickets filtered by external_id: `{ "tickets": [...] }`.
 * https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/#list-tickets
 */
export const zendeskTickets = z.array(zendeskTicket);

/**
 * A ticket comment as List Comments returns it, with its attachments.
 * https://developer.zendesk.com/api-reference/ticketing/tickets/ticket_comments/#json-format
 */
export const zendeskComment = z.object({
  id: z.number(),
  author_id: z.number(),
  public: z.boolean(),
  body: z.string().nullish(),
  plain_body: z.string().nullish(),
  attachments: z
    .array(z.object({ id: z.number(), file_name: z.string(), content_url: z.string(), content_type: z.string(), size: z.number() }))
    .nullish(),
});
export type ZendeskComment = z.infer<typeof zendeskComment>;

/**
 * List Comments: `{ "comments": [...] }`.
 * https://developer.zendesk.com/api-reference/ticketing/tickets/ticket_comments/#list-comments
 */
export const zendeskComments = z.array(zendeskComment);

/**
 * Show Token (`current`): node-zendesk takes off `{ "token": ... }`, so the scopes are at the top;
 * `token.scopes` is read too, for a body that comes back whole.
 * https://developer.zendesk.com/api-reference/ticketing/oauth/oauth_tokens/#show-token
 */
export const oauthToken = z.object({
  scopes: z.array(z.string()).optional(),
  token: z.object({ scopes: z.array(z.string()).optional() }).optional(),
});

/**
 * A webhook as List Webhooks and Create or Clone Webhook return it.
 * https://developer.zendesk.com/api-reference/webhooks/webhooks-api/webhooks/#json-format
 */
export const zendeskWebhook = z.object({ id: z.string(), name: z.string(), endpoint: z.string() });

/** List Webhooks: `{ "webhooks": [...] }`. https://developer.zendesk.com/api-reference/webhooks/webhooks-api/webhooks/#list-webhooks */
export const zendeskWebhooks = z.array(zendeskWebhook);

/**
 * Show Webhook Signing Secret: `{ "signing_secret": { "algorithm", "secret" } }` (not unwrapped).
 * https://developer.zendesk.com/api-reference/webhooks/webhooks-api/webhooks/#show-webhook-signing-secret
 */
export const webhookSigningSecret = z.object({ signing_secret: z.object({ secret: z.string().nullish() }).nullish() });

/**
 * Search Triggers: `{ "triggers": [...] }`, each with its title.
 * https://developer.zendesk.com/api-reference/ticketing/business-rules/triggers/#search-triggers
 */
export const zendeskTriggers = z.array(z.object({ id: z.number(), title: z.string() }));

/**
 * List User Fields: `{ "user_fields": [...] }`, read through the users client (which does not
 * take that name off), or the bare list should it ever come back unwrapped.
 * https://developer.zendesk.com/api-reference/ticketing/users/user_fields/#list-user-fields
 */
const userField = z.object({ key: z.string() });
export const zendeskUserFields = z.union([z.array(userField), z.object({ user_fields: z.array(userField).nullish() })]);

/**
 * Upload Files: `{ "upload": { "token", ... } }`, read from our own request (not node-zendesk's).
 * https://developer.zendesk.com/api-reference/ticketing/tickets/ticket-attachments/#upload-files
 */
export const uploadAnswer = z.object({ upload: z.object({ token: z.string().nullish() }).nullish() });
