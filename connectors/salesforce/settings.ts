// `connectors.salesforce` in wa-crm-sync.yaml.
import { z } from 'zod';
import { headerName, recipeSettingsShape, sharedToken } from '../../core/outbound/recipe.js';
import { dispatchOverrides, vendorUrl } from '../../core/config/schema.js';

const apiName = z.string().regex(/^[A-Za-z][A-Za-z0-9_]*$/, 'a Salesforce API name such as WhatsApp_Id__c');

/** The workflow recipe's settings (README, "Workflow recipes"). */
export const flowRecipeSettingsSchema = z
  .strictObject({
    ...recipeSettingsShape,
    /** The token the external credential's custom header sends (its authentication parameter). */
    token: sharedToken.optional(),
    /** The custom header's name; `authorization` expects `Bearer <token>`. */
    header: headerName.default('x-wa-crm-sync-key'),
  })
  .superRefine((recipe, ctx) => {
    if (recipe.enabled && recipe.token === undefined) ctx.addIssue({ code: 'custom', path: ['token'], message: "required when enabled: the value of the external credential's custom header" });
  });

export const salesforceSettingsSchema = z
  .strictObject({
    enabled: z.boolean(),
    /** The org's My Domain URL, e.g. https://acme.my.salesforce.com. */
    instanceUrl: vendorUrl.optional(),
    apiVersion: z.string().regex(/^\d{2}\.0$/, 'like 62.0').default('62.0'),
    /** Authentication: one of a fixed access token, the client-credentials flow, or the JWT bearer flow. */
    accessToken: z.string().optional(),
    clientCredentials: z.strictObject({ clientId: z.string().min(1), clientSecret: z.string().min(1) }).optional(),
    jwt: z.strictObject({ clientId: z.string().min(1), username: z.string().min(1), privateKey: z.string().min(1), audience: vendorUrl.default('https://login.salesforce.com') }).optional(),
    /** How long a call waits for Salesforce's answer before it is treated as lost. */
    timeoutMs: z.number().int().min(1000).default(60_000),
    /**
     * A write whose answer was lost (a reset, a timeout) may still land: Salesforce goes on with a
     * REST call for up to 10 minutes ("The timeout limit for REST and SOAP API calls is 10
     * minutes", https://developer.salesforce.com/docs/platform/salesforce-app-limits-cheatsheet/guide/salesforce-app-limits-platform-api.html).
     * A file upload, a Task rewrite or a Lead/Contact write in doubt waits this long before it is
     * looked for and sent again, so a late landing can neither double the file nor overwrite a
     * newer transcript or newer identifiers.
     */
    lostAnswerWaitSeconds: z.number().int().min(1).max(3600).default(600),
    /** Where WhatsApp customers live: Lead or Contact. */
    target: z.enum(['Lead', 'Contact']).default('Lead'),
    /**
     * External-id field on the target object holding our stable key per person: the WhatsApp id for
     * people synced before BSUIDs, else the first BSUID (or number) seen. It never changes.
     */
    externalIdField: apiName.default('WhatsApp_Id__c'),
    /** Text field on the target object holding the current business-scoped user id (searchable). */
    bsuidField: apiName.default('WhatsApp_BSUID__c'),
    /** Text field on the target object holding the WhatsApp @username. */
    usernameField: apiName.default('WhatsApp_Username__c'),
    /** Picklist (opted_in, opted_out) on the target object holding the person's WhatsApp marketing consent; setup checks it. */
    consentField: apiName.default('WhatsApp_Marketing_Consent__c'),
    /** Date/Time field on the target object holding when that consent last changed; setup checks it. */
    consentChangedAtField: apiName.default('WhatsApp_Consent_Changed_At__c'),
    /**
     * Date/Time field on the target object holding until when WhatsApp's 24-hour customer service
     * window is open (free text until then, a template after); setup checks it; null: not written.
     */
    windowOpenUntilField: apiName.nullable().default('WhatsApp_Window_Open_Until__c'),
    /** External-id field on Task holding our thread id: one Task per thread, kept up to date. */
    taskExternalIdField: apiName.default('WhatsApp_Thread_Id__c'),
    /** Values for fields the org requires on create. Lead's Company is 'WhatsApp' unless set here. */
    defaults: z.record(apiName, z.string()).default({}),
    /** LastName when the WhatsApp profile has no name. */
    unknownLastName: z.string().default('(WhatsApp customer)'),
    taskStatus: z.string().default('Completed'),
    taskPriority: z.string().default('Normal'),
    /**
     * Save a Lead or Contact that an org's duplicate rule only *alerts* on (the Standard Lead
     * Duplicate Rule is on by default, "Allow" with an alert, and every Lead we create has the same
     * Company: two customers called "Budi Santoso" match). Sends `Sforce-Duplicate-Rule-Header:
     * allowSave=true` (REST API v52+). Rules set to Block still refuse, naming the rule.
     */
    saveOverDuplicateAlerts: z.boolean().default(true),
    /** Attach received media to the thread's Task as files (ContentVersion). */
    mediaFiles: z.boolean().default(false),
    /** Share of the org's daily API allowance left for its own users and other integrations. */
    dailyReserveShare: z.number().min(0).max(0.9).default(0.2),
    /** The workflow recipe: the CRM's automation sends a WhatsApp template (README, "Workflow recipes"). */
    flowRecipe: flowRecipeSettingsSchema.prefault({}),
    rateLimit: dispatchOverrides,
  })
  .superRefine((s, ctx) => {
    if (!s.enabled) return;
    if (!s.instanceUrl) ctx.addIssue({ code: 'custom', path: ['instanceUrl'], message: "required when enabled (your org's My Domain URL, https://NAME.my.salesforce.com)" });
    const methods = [s.accessToken, s.clientCredentials, s.jwt].filter((m) => m !== undefined).length;
    if (methods === 0) ctx.addIssue({ code: 'custom', path: ['accessToken'], message: 'required when enabled (or clientCredentials: { clientId, clientSecret }, or jwt: { clientId, username, privateKey })' });
    if (methods > 1) ctx.addIssue({ code: 'custom', path: ['accessToken'], message: 'give one of accessToken, clientCredentials or jwt' });
  });
export type SalesforceSettings = z.infer<typeof salesforceSettingsSchema>;
