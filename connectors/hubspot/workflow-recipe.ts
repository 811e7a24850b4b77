// The HubSpot workflow recipe: a workflow's "Send a webhook" action (POST, "Customize request
// body" with the recipe payload's keys) sends a WhatsApp template through the service.
// https://knowledge.hubspot.com/workflows/how-do-i-use-webhooks-with-hubspot-workflows
// Authentication is the action's choice: "Include request signature in header" (HubSpot signs with
// the app's client secret; v3 checked here, with its timestamp) or "API key" in a request header.
import { authenticateSharedToken, type WorkflowRecipe } from '../../core/outbound/recipe.js';
import { checkHubSpotSignatureV3 } from './request-signature.js';
import type { HubSpotSettings } from './settings.js';

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
