// `connectors.zendesk` in wa-crm-sync.yaml.
import { z } from 'zod';
import { recipeSettingsShape, sharedToken } from '../../core/outbound/recipe.js';
import { dispatchOverrides, vendorUrl } from '../../core/config/schema.js';

/** The workflow recipe's settings (README, "Workflow recipes"). */
export const triggerRecipeSettingsSchema = z
  .strictObject({
    ...recipeSettingsShape,
    /** `signature`: the webhook's signing secret; `bearer`: the webhook's "Bearer token" authentication. */
    auth: z.enum(['signature', 'bearer']).default('signature'),
    /** The recipe webhook's signing secret (Admin Center > Webhooks > the webhook > Reveal secret). */
    signingSecret: z.string().min(16, 'use the full signing secret Zendesk shows').optional(),
    bearerToken: sharedToken.optional(),
    /** Calls whose signed timestamp is further from now than this are refused (replays). */
    toleranceSeconds: z.number().int().min(30).max(3600).default(300),
  })
  .superRefine((recipe, ctx) => {
    if (recipe.enabled && recipe.auth === 'signature' && recipe.signingSecret === undefined) ctx.addIssue({ code: 'custom', path: ['signingSecret'], message: "required with auth: signature: the recipe webhook's signing secret" });
    if (recipe.enabled && recipe.auth === 'bearer' && recipe.bearerToken === undefined) ctx.addIssue({ code: 'custom', path: ['bearerToken'], message: "required with auth: bearer: the webhook's bearer token" });
  });

export const zendeskSettingsSchema = z
  .strictObject({
    enabled: z.boolean(),
    /** The account's subdomain: `acme` for https://acme.zendesk.com. */
    subdomain: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'the part before .zendesk.com, e.g. acme').optional(),
    /** Instead of subdomain: the account's base URL (a sandbox, a host mapping), without /api/v2. */
    baseUrl: vendorUrl.optional(),
    /** API token authentication: the agent's email and a token from Admin Center > Apps and integrations > Zendesk API. */
    email: z.string().email('an email address, the agent the API token belongs to').optional(),
    apiToken: z.string().min(1).optional(),
    /** OAuth access token instead of an API token. */
    oauthToken: z.string().min(1).optional(),
    timeoutMs: z.number().int().min(1000).default(30_000),
    /**
     * Before creating an end user, look for one whose phone is the customer's number and adopt it
     * (one search per new customer). Switch off when the account holds no phone numbers yet.
     */
    matchExistingByPhone: z.boolean().default(true),
    brandId: z.number().int().positive().optional(),
    groupId: z.number().int().positive().optional(),
    /** Tags added to every ticket besides `whatsapp` (the trigger for agent replies looks for that one). */
    tags: z.array(z.string().regex(/^[\w:/-]+$/, 'Zendesk tags are letters, digits, _ - : /')).default([]),
    /** Ticket custom fields set on every new ticket. */
    customFields: z.array(z.strictObject({ id: z.number().int().positive(), value: z.union([z.string(), z.number(), z.boolean()]) })).default([]),
    /**
     * The webhook's signing secret (Admin Center > Webhooks > the webhook > Reveal secret).
     * Without it, the secret `wa-crm-sync setup zendesk` read when it created the webhook is used.
     */
    webhookSecret: z.preprocess((value) => (value === '' ? undefined : value), z.string().min(16, 'use the full signing secret Zendesk shows').optional()),
    /** Webhook calls whose signed timestamp is further from now than this are refused (replays). */
    webhookToleranceSeconds: z.number().int().min(30).max(3600).default(300),
    /** This service's public https URL, which Zendesk calls (setup registers `{publicUrl}/webhooks/zendesk`). */
    publicUrl: vendorUrl.optional(),
    /** Create the webhook and trigger at start when missing (needs webhooks and triggers access). */
    autoSetup: z.boolean().default(true),
    /** Tell the customer on WhatsApp their ticket number when a ticket is created. */
    autoAcknowledge: z
      .strictObject({
        enabled: z.boolean().default(false),
        /** `{{ticket}}` becomes the ticket number. */
        text: z.string().min(1).default('Thanks for your message. Your ticket number is #{{ticket}}; we will answer you here.'),
      })
      .prefault({}),
    /** Approved WhatsApp template sent instead of an agent's reply when the 24-hour window is closed. */
    outsideWindowTemplate: z
      .strictObject({
        name: z.string().regex(/^[a-z0-9_]+$/, 'a template name: lower-case letters, digits and _'),
        language: z.string().default('en_US'),
        /** Pass the ticket number as the template body's first parameter. */
        ticketNumberParameter: z.boolean().default(false),
      })
      .optional(),
    /** Largest file attached to a comment (Zendesk's limit is 50 MB); larger ones get a note instead. */
    maxAttachmentBytes: z.number().int().min(1).max(50 * 1024 * 1024).default(50 * 1024 * 1024),
    /**
     * How long a new message waits before its comment (or the ticket) is written, so a burst Meta
     * delivers out of order lands as one comment in the customer's order (a comment is never
     * moved once written). Every message's first write is this much later; 0 writes at once.
     */
    settleMs: z.number().int().min(0).max(60_000).default(2000),
    /**
     * What the WhatsApp Business app's past chats (coexistence onboarding) become in Zendesk.
     * `none` (the default): nothing, as before this option existed; a helpdesk queue and its
     * reports are for what needs an answer now, and importing needs an admin. `solved-tickets`:
     * one solved ticket per past conversation, imported with each message's original time and
     * author through the Ticket Import API, which runs no triggers (no notifications, no
     * acknowledgement, no ticket storm). Imported tickets carry the tag `whatsapp_history`, not
     * `whatsapp`, so an agent's later comment on one is never sent to WhatsApp.
     * https://developer.zendesk.com/api-reference/ticketing/tickets/ticket_import/
     */
    history: z.enum(['none', 'solved-tickets']).default('none'),
    /**
     * How long a past conversation's import waits after its first message is stored, so the
     * rest of it (chunks come in any order) goes into the same ticket. A message of that
     * conversation stored after its ticket was imported goes into a follow-on solved ticket.
     */
    historySettleMs: z.number().int().min(0).max(24 * 3_600_000).default(15 * 60_000),
    /** Comments per imported ticket at most (Zendesk allows 5,000 per ticket); a longer conversation continues in another. */
    historyCommentsPerTicket: z.number().int().min(1).max(5000).default(1000),
    /**
     * A write whose answer was lost (a reset, a timeout, a gateway's 502 or 504) may still be
     * carried out: the server goes on with a request its caller stopped waiting for (a creation or
     * update runs every trigger before it is answered), and Zendesk documents no point after which
     * it gives up. Until this long after such a write went out (a ticket creation or follow-up, a
     * comment update, an attachment comment, an internal note, a history import), the retry waits
     * instead of looking for it, or it could find nothing and write it again just before the first
     * one lands. The Idempotency-Key that guards creations lives 2 hours, and Zendesk does not say
     * what a repeat gets while the first is still being carried out:
     * https://developer.zendesk.com/api-reference/ticketing/introduction/#idempotency
     */
    lostAnswerWaitSeconds: z.number().int().min(1).max(3600).default(60),
    /** Update Ticket endpoint limit per minute for the account (100; 300 with the high-volume add-on). */
    ticketUpdatesPerMinute: z.number().int().min(1).default(100),
    /** Updates one ticket may take per 10 minutes (Zendesk allows 30). */
    updatesPerTicketPer10Minutes: z.number().int().min(1).max(30).default(30),
    /** Updates one end user may take per minute through Update User (Zendesk allows 5). */
    updatesPerUserPerMinute: z.number().int().min(1).max(5).default(5),
    /**
     * Write until when WhatsApp's 24-hour customer service window is open to the end user's text
     * field whatsapp_window_open_until (ISO 8601, UTC; created by setup).
     */
    writeWindowOpenUntil: z.boolean().default(true),
    /** The account's limit per minute by plan (Team 200, Growth and Professional 400, Enterprise 700, Enterprise Plus 2,500). */
    /** The workflow recipe: the CRM's automation sends a WhatsApp template (README, "Workflow recipes"). */
    triggerRecipe: triggerRecipeSettingsSchema.prefault({}),
    rateLimit: dispatchOverrides,
  })
  .superRefine((s, ctx) => {
    if (!s.enabled) return;
    if (!s.subdomain && !s.baseUrl) ctx.addIssue({ code: 'custom', path: ['subdomain'], message: 'required when enabled (the part before .zendesk.com, or baseUrl)' });
    if (s.oauthToken && s.apiToken) ctx.addIssue({ code: 'custom', path: ['oauthToken'], message: 'give either oauthToken or email and apiToken, not both' });
    if (!s.oauthToken && !s.apiToken) ctx.addIssue({ code: 'custom', path: ['apiToken'], message: 'required when enabled (with email), or give oauthToken' });
    if (s.apiToken && !s.email) ctx.addIssue({ code: 'custom', path: ['email'], message: "required with apiToken (the agent's email the token authenticates)" });
  });
export type ZendeskSettings = z.infer<typeof zendeskSettingsSchema>;

/** The API root: https://{subdomain}.zendesk.com/api/v2, or baseUrl + /api/v2. */
export function apiRoot(settings: ZendeskSettings): string {
  const base = settings.baseUrl ? settings.baseUrl.replace(/\/$/, '') : `https://${settings.subdomain}.zendesk.com`;
  return `${base}/api/v2`;
}
