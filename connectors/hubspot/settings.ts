// `connectors.hubspot` in wa-crm-sync.yaml.
import { z } from 'zod';
import { headerName, recipeSettingsShape, sharedToken } from '../../core/outbound/recipe.js';
import { dispatchOverrides, vendorUrl } from '../../core/config/schema.js';

/**
 * `connectors.hubspot.inbox`: the two-way inbox through HubSpot's Custom Channels API
 * (https://developers.hubspot.com/docs/api-reference/legacy/conversations/custom-channels/guide).
 * Off by default; timeline logging goes on beside it.
 */
export const inboxSettingsSchema = z.strictObject({
  enabled: z.boolean().default(false),
  /** The custom channel's id once registered (setup prints it); without it, setup registers one with developerApiKey and appId. */
  channelId: z.string().regex(/^\d+$/, 'the channel id HubSpot gave (digits)').optional(),
  /** The app that owns the channel, and a developer API key: registering a channel takes both (not the account token). */
  appId: z.number().int().positive().optional(),
  developerApiKey: z.string().min(1).optional(),
  /** The app's client secret: HubSpot signs the channel's webhooks with it (X-HubSpot-Signature-v3). */
  clientSecret: z.string().min(1).optional(),
  /** Where HubSpot reaches this service, exactly as registered as the channel's webhookUrl: `https://<host>/webhooks/hubspot`. Part of what is signed. */
  webhookUrl: vendorUrl.optional(),
  /** The channel's name in HubSpot's inbox settings. */
  channelName: z.string().min(1).max(100).default('WhatsApp'),
  /** The inbox (or help desk) new channel accounts connect to; setup lists the account's inboxes when it is missing. */
  inboxId: z.string().regex(/^\d+$/).optional(),
  /**
   * Business numbers (phone_number_id) setup connects, one channel account each. A number not
   * listed gets its channel account at its first message.
   */
  businessNumbers: z.array(z.string().regex(/^\d+$/, 'a phone_number_id (digits)')).default([]),
  /** A signed call older (or newer) than this is refused: HubSpot says to reject a timestamp older than 5 minutes. */
  signatureToleranceSeconds: z.number().int().min(30).max(600).default(300),
});
export type InboxSettings = z.infer<typeof inboxSettingsSchema>;

const propertyName = z.string().regex(/^[a-z][a-z0-9_]*$/, 'HubSpot property names are lower-case letters, digits and underscores');

/** The workflow recipe's settings (README, "Workflow recipes"). */
export const workflowRecipeSettingsSchema = z
  .strictObject({
    ...recipeSettingsShape,
    /** `signature`: "Include request signature in header" with the app's id; `apiKey`: "API key" placed in a request header. */
    auth: z.enum(['signature', 'apiKey']).default('signature'),
    /** The client secret of the app whose id the action names; default inbox.clientSecret. */
    clientSecret: z.string().min(1).optional(),
    /** The webhook URL exactly as entered in the action (`https://<host>/api/v1/recipes/hubspot-workflow`): part of what HubSpot signs. */
    url: vendorUrl.optional(),
    /** The API key's value (auth: apiKey) and the header HubSpot puts it in (the action's "API key name"). */
    apiKey: sharedToken.optional(),
    apiKeyHeader: headerName.default('x-wa-crm-sync-key'),
    /** HubSpot says to refuse a timestamp older than 5 minutes. */
    signatureToleranceSeconds: z.number().int().min(30).max(600).default(300),
  })
  .superRefine((recipe, ctx) => {
    if (recipe.enabled && recipe.auth === 'signature' && recipe.url === undefined) ctx.addIssue({ code: 'custom', path: ['url'], message: 'required with auth: signature: the webhook URL exactly as entered in the workflow action (HubSpot signs it)' });
    if (recipe.enabled && recipe.auth === 'apiKey' && recipe.apiKey === undefined) ctx.addIssue({ code: 'custom', path: ['apiKey'], message: 'required with auth: apiKey: the value entered as the action\'s API key' });
  });

export const hubspotSettingsSchema = z
  .strictObject({
    enabled: z.boolean(),
    /** Private-app access token (Settings > Integrations > Private apps). */
    accessToken: z.string().optional(),
    /** OAuth app credentials instead of a private app: access tokens are refreshed automatically. */
    oauth: z.strictObject({ clientId: z.string().min(1), clientSecret: z.string().min(1), refreshToken: z.string().min(1) }).optional(),
    baseUrl: vendorUrl.default('https://api.hubapi.com'),
    /** Date version of HubSpot's OAuth endpoints (token refresh, introspection); v1 ends on 16 Feb 2027. */
    oauthApiVersion: z.string().regex(/^(\d{4}-\d{2}|v3)$/, 'a date version such as 2026-03').default('2026-03'),
    timeoutMs: z.number().int().min(1000).default(30_000),
    /**
     * Contact property holding our stable key per person (unique values; created by setup): the
     * WhatsApp id for contacts synced before BSUIDs, else the first BSUID (or number) seen. It
     * never changes, so number and BSUID changes keep one contact.
     */
    contactIdProperty: propertyName.default('whatsapp_id'),
    /**
     * Contact property (text, searchable) holding the current business-scoped user id; created by
     * setup. HubSpot refuses writes to a property that does not exist: with autoSetup off, create
     * it (and the two below) by hand, or set it to null to not write it.
     */
    bsuidProperty: propertyName.nullable().default('whatsapp_bsuid'),
    /** Contact property (text) holding the WhatsApp @username; created by setup; null: not written. */
    usernameProperty: propertyName.nullable().default('whatsapp_username'),
    /** Contact property (text) saying when WhatsApp withholds the number; created by setup; null: not written. */
    identityNoteProperty: propertyName.nullable().default('whatsapp_identity_note'),
    /** Contact property (dropdown: opted_in, opted_out) holding the person's WhatsApp marketing consent; created by setup. */
    consentProperty: propertyName.default('whatsapp_marketing_consent'),
    /** Contact property (date and time) holding when that consent last changed; created by setup. */
    consentChangedAtProperty: propertyName.default('whatsapp_consent_changed_at'),
    /**
     * Contact property (date and time) holding until when WhatsApp's 24-hour customer service
     * window is open (free text allowed until then, a template after); created by setup; null: not written.
     */
    windowOpenUntilProperty: propertyName.nullable().default('whatsapp_window_open_until'),
    /** Communication property holding the WhatsApp message id (unique values; makes logging idempotent). */
    messageIdProperty: propertyName.default('whatsapp_message_id'),
    /** One note or task per new conversation thread, for the contact's owner. */
    threadActivity: z.enum(['none', 'note', 'task']).default('none'),
    /** Property (unique values) on notes or tasks holding our thread id; created by setup. */
    threadIdProperty: propertyName.default('whatsapp_thread_id'),
    /** Upload received media to HubSpot Files and attach them to the logged message (needs the files scope). */
    mediaUpload: z.boolean().default(false),
    /** Files folder for uploaded media. */
    mediaFolder: z.string().regex(/^\/[\w\- /]*$/, 'a folder path such as /whatsapp').default('/whatsapp'),
    /** Create the two properties at start when missing (needs the schema scopes). */
    autoSetup: z.boolean().default(true),
    /** Burst limit of the account's tier: Free/Starter 100, Professional and Enterprise 190 per 10 s. */
    rateLimit: dispatchOverrides,
    /**
     * Requests per day this service may use. HubSpot's allowance is per account and shared by all
     * its apps (Free/Starter 250,000; Professional 625,000; Enterprise 1,000,000): leave room. The
     * day starts at midnight in the account's time zone, read from HubSpot at start.
     */
    dailyLimit: z.number().int().min(1).default(200_000),
    /**
     * Largest search request body, in characters: HubSpot refuses a search body over 3,000
     * (https://developers.hubspot.com/docs/api/crm/search#limitations). Lower it, never raise it.
     */
    searchBodyMaxChars: z.number().int().min(500).max(3000).default(3000),
    /**
     * How long after a write whose answer was lost we wait before searching for the record it may
     * have made: HubSpot's search shows new records only after a delay ("a few moments",
     * https://developers.hubspot.com/docs/api/crm/search). Used where no unique property can key
     * the write (communications in accounts that do not keep unique values on them).
     */
    searchIndexWaitSeconds: z.number().int().min(0).max(3600).default(30),
    /**
     * A write whose answer was lost (a reset, our timeout, a 502/504) may still land: HubSpot
     * documents no point after which it stops carrying out a request whose caller gave up. Until
     * this long after such a write (a communication or media-note create, a contact write, a
     * thread note or task upsert) the record's next write waits: a create is then looked for by
     * its message id (after searchIndexWaitSeconds more, for the index) before it is sent again,
     * and a contact or thread activity is read and written anew, so a late landing can neither
     * double a record nor put older values back over newer ones.
     */
    lostAnswerWaitSeconds: z.number().int().min(1).max(3600).default(60),
    /** The CRM search endpoints' own limit, per second. */
    searchRequestsPerSecond: z.number().int().min(1).max(20).default(4),
    /**
     * Approved WhatsApp template sent instead of an inbox agent's answer when the 24-hour window is
     * closed; without it the answer is not sent and shows FAILED, with the reason, in HubSpot.
     */
    outsideWindowTemplate: z.strictObject({ name: z.string().regex(/^[a-z0-9_]+$/, 'a template name: lower-case letters, digits and _'), language: z.string().default('en_US') }).optional(),
    /** WhatsApp conversations in HubSpot's inbox or help desk through a custom channel (see inboxSettingsSchema). */
    inbox: inboxSettingsSchema.prefault({}),
    /** The workflow recipe: a workflow's "Send a webhook" action sends a WhatsApp template (README, "Workflow recipes"). */
    workflowRecipe: workflowRecipeSettingsSchema.prefault({}),
  })
  .superRefine((settings, ctx) => {
    if (!settings.enabled) return;
    if (!settings.accessToken && !settings.oauth) {
      ctx.addIssue({ code: 'custom', path: ['accessToken'], message: 'required when enabled (a private-app token, or set oauth: { clientId, clientSecret, refreshToken })' });
    }
    if (settings.inbox.enabled) {
      if (!settings.inbox.webhookUrl) ctx.addIssue({ code: 'custom', path: ['inbox', 'webhookUrl'], message: "required with the inbox on: this service's public https://<host>/webhooks/hubspot, as HubSpot calls it (it is signed)" });
      if (!settings.inbox.clientSecret) ctx.addIssue({ code: 'custom', path: ['inbox', 'clientSecret'], message: "required with the inbox on: the app's client secret, which signs the channel's webhooks" });
      if (!settings.inbox.channelId && (!settings.inbox.appId || !settings.inbox.developerApiKey)) {
        ctx.addIssue({ code: 'custom', path: ['inbox', 'channelId'], message: 'give the channel id, or appId and developerApiKey so that setup can register the channel' });
      }
    }
    if (settings.accessToken && settings.oauth) {
      ctx.addIssue({ code: 'custom', path: ['oauth'], message: 'give either accessToken or oauth, not both' });
    }
  });
export type HubSpotSettings = z.infer<typeof hubspotSettingsSchema>;
