// The Zendesk trigger recipe: a trigger's "Notify by > Active webhook" action, with the recipe
// payload as its JSON body (placeholders such as {{ticket.requester.phone}}), sends a WhatsApp
// template through the service. The webhook is one of its own (not the one setup made for agents'
// replies), connected to triggers, with its own signing secret or a bearer token.
// https://support.zendesk.com/hc/en-us/articles/4408839108378-Creating-webhooks-to-interact-with-third-party-systems
// https://developer.zendesk.com/documentation/webhooks/anatomy-of-a-webhook-request/
// https://developer.zendesk.com/documentation/webhooks/webhook-security-and-authentication
import { authenticateSharedToken, type WorkflowRecipe } from '../../core/outbound/recipe.js';
import type { ZendeskSettings } from './settings.js';
import { checkZendeskSignature } from './webhook.js';

/** Zendesk's id of one webhook invocation: its retries carry the same one. */
const INVOCATION_ID = /^[A-Za-z0-9_-]{1,100}$/;

export const zendeskTriggerRecipe: WorkflowRecipe<ZendeskSettings> = {
  path: 'zendesk-trigger',
  settingsKey: 'triggerRecipe',
  settings: (settings) => settings.triggerRecipe,
  authenticate(raw, headers, settings, now) {
    const recipe = settings.triggerRecipe;
    const invocation = headers('x-zendesk-webhook-invocation-id');
    const eventId = invocation !== undefined && INVOCATION_ID.test(invocation) ? { eventId: invocation } : {};
    if (recipe.auth === 'bearer') {
      const verdict = authenticateSharedToken(headers, 'authorization', recipe.bearerToken, 'connectors.zendesk.triggerRecipe.bearerToken');
      return verdict.ok ? { ok: true, ...eventId } : verdict;
    }
    if (recipe.signingSecret === undefined) return { ok: false, reason: 'no_secret', error: 'no signing secret', hint: 'set connectors.zendesk.triggerRecipe.signingSecret' };
    const check = checkZendeskSignature(raw, headers, recipe.signingSecret, recipe.toleranceSeconds * 1000, now);
    if (check.ok) return { ok: true, ...eventId };
    return check.reason === 'stale'
      ? { ok: false, reason: 'stale', error: 'X-Zendesk-Webhook-Signature-Timestamp missing or too far from now', hint: 'a replay, or a clock off: check the clocks (NTP)' }
      : { ok: false, reason: 'bad_signature', error: 'wrong X-Zendesk-Webhook-Signature', hint: "check connectors.zendesk.triggerRecipe.signingSecret: the recipe webhook's signing secret" };
  },
};
