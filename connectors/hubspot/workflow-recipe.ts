// The HubSpot workflow recipe: a workflow's "Send a webhook" action (POST, "Customize request
// body" with the recipe payload's keys) sends a WhatsApp template through the service.
// https://knowledge.hubspot.com/workflows/how-do-i-use-webhooks-with-hubspot-workflows
// Authentication is the action's choice: "Include request signature in header" (HubSpot signs with
// the app's client secret; v3 checked here, with its timestamp) or "API key" in a request header.
import { z } from 'zod';
import { vendorUrl } from '../../core/config/schema.js';
import { authenticateSharedToken, headerName, recipeSettingsShape, sharedToken, type WorkflowRecipe } from '../../core/outbound/recipe.js';
import { checkHubSpotSignatureV3 } from './request-signature.js';
import type { HubSpotSettings } from './settings.js';

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

export const hubspotWorkflowRecipe: WorkflowRecipe<HubSpotSettings> = {
  path: 'hubspot-workflow',
  settingsKey: 'workflowRecipe',
  settings: (settings) => settings.workflowRecipe,
  authenticate(raw, headers, settings, now) {
    const recipe = settings.workflowRecipe;
    if (recipe.auth === 'apiKey') return authenticateSharedToken(headers, recipe.apiKeyHeader, recipe.apiKey, 'connectors.hubspot.workflowRecipe.apiKey');
    const secret = recipe.clientSecret ?? settings.inbox.clientSecret;
    if (secret === undefined) return { ok: false, reason: 'no_secret', error: 'no client secret to check the signature with', hint: "set connectors.hubspot.workflowRecipe.clientSecret to the client secret of the app whose id the action names" };
    const check = checkHubSpotSignatureV3(raw, headers, secret, recipe.url ?? '', recipe.signatureToleranceSeconds * 1000, now);
    if (check.ok) return { ok: true };
    return check.reason === 'stale'
      ? { ok: false, reason: 'stale', error: 'X-HubSpot-Request-Timestamp missing or too far from now', hint: 'a replay, or a clock off: check the clocks (NTP); HubSpot signs each attempt afresh' }
      : { ok: false, reason: 'bad_signature', error: 'wrong X-HubSpot-Signature-v3', hint: 'check workflowRecipe.clientSecret (the app whose id the action names) and that workflowRecipe.url is exactly the URL in the action' };
  },
};
