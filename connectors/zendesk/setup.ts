// Setup and scope checks: which scopes the credentials grant, and the one-time setup an admin
// would otherwise click through (the user fields for BSUID, username and window; the webhook
// Zendesk calls on agent comments and the trigger that calls it, found by name on later runs).
import type { ExecutionContext, GrantedScopes } from '../../core/connector.js';
import { WEBHOOK_SECRET_REF } from '../../core/connector.js';
import type { ZendeskApi } from './client.js';
import { USER_FIELDS, WHATSAPP_TAG } from './mappers.js';
import { oauthToken, webhookSigningSecret, zendeskTriggers, zendeskUserFields, zendeskWebhook, zendeskWebhooks } from './responses.js';
import type { ZendeskSettings } from './settings.js';

export class ZendeskSetup {
  readonly #api: ZendeskApi;
  readonly #settings: ZendeskSettings;

  constructor(api: ZendeskApi, settings: ZendeskSettings) {
    this.#api = api;
    this.#settings = settings;
  }

  /**
   * OAuth tokens: the token's own scopes (`read`/`write` cover every resource). API tokens act
   * as their agent: an admin may do everything used here, an agent tickets and users only.
   * https://developer.zendesk.com/api-reference/ticketing/oauth/oauth_tokens/#show-token
   */
  async grantedScopes(context: ExecutionContext): Promise<GrantedScopes> {
    const resources = ['tickets', 'users', 'webhooks', 'triggers'];
    if (this.#settings.oauthToken) {
      // node-zendesk unwraps `{ token: {...} }` to the token itself.
      const token = await this.#api.read(context, 'reading the OAuth token', oauthToken, (c) => c.oauthtokens.get(['oauth', 'tokens', 'current']));
      const scopes = token.scopes ?? token.token?.scopes ?? [];
      return resources.flatMap((r) => ['read', 'write'].filter((a) => scopes.includes(a) || scopes.includes(`${r}:${a}`)).map((a) => `${r}:${a}`));
    }
    const me = await this.#api.integrationUser(context);
    const allowed = me.role === 'admin' ? resources : me.role === 'agent' ? ['tickets', 'users'] : [];
    return allowed.flatMap((r) => [`${r}:read`, `${r}:write`]);
  }

  /**
   * Creates the webhook Zendesk calls on agent comments and the trigger that calls it, once
   * (found by name on later runs), and keeps the webhook's signing secret for verification.
   * https://developer.zendesk.com/api-reference/webhooks/webhooks-api/webhooks/
   */
  async setup(context: ExecutionContext): Promise<string[]> {
    const name = 'wa-crm-sync agent replies';
    const fields = await this.#ensureUserFields(context);
    if (!this.#settings.publicUrl) {
      return [
        ...fields,
        'connectors.zendesk.publicUrl is not set, so no webhook was created. Either set it to this service\'s public https URL and run setup again, or in Admin Center > Apps and integrations > Webhooks create a webhook',
        `"${name}" (POST, JSON, endpoint https://YOUR-HOST/webhooks/zendesk), copy its signing secret into connectors.zendesk.webhookSecret, and add a trigger: conditions "Comment is Public", "Current user is (agent)", "Tags contain ${WHATSAPP_TAG}"; action "Notify webhook" with body {"ticket_id": "{{ticket.id}}", "external_id": "{{ticket.external_id}}"}`,
      ];
    }
    const done: string[] = [...fields];
    const endpoint = `${this.#settings.publicUrl.replace(/\/$/, '')}/webhooks/zendesk`;
    const webhooks = await this.#api.read(context, 'listing webhooks', zendeskWebhooks, (c) => c.webhooks.get(['webhooks', { 'filter[name_contains]': 'wa-crm-sync' }]));
    let webhook = webhooks.find((w) => w.name === name);
    if (!webhook) {
      webhook = await this.#api.read(context, 'creating the webhook', zendeskWebhook, (c) =>
        c.webhooks.post(['webhooks'], { webhook: { name, endpoint, http_method: 'POST', request_format: 'json', status: 'active', subscriptions: ['conditional_ticket_events'] } }),
      );
      done.push(`created the Zendesk webhook "${name}" calling ${endpoint}`);
    } else if (webhook.endpoint !== endpoint) {
      done.push(`the Zendesk webhook "${name}" calls ${webhook.endpoint}, not ${endpoint}: edit it in Admin Center > Webhooks`);
    }
    const webhookId = webhook.id;
    const secret = await this.#api.read(context, "reading the webhook's signing secret", webhookSigningSecret, (c) => c.webhooks.get(['webhooks', webhookId, 'signing_secret']));
    if (secret.signing_secret?.secret) await context.setRef(WEBHOOK_SECRET_REF.kind, WEBHOOK_SECRET_REF.localId, secret.signing_secret.secret);
    const title = 'wa-crm-sync: send agent replies to WhatsApp';
    const found = await this.#api.read(context, 'looking for the trigger', zendeskTriggers, (c) => c.triggers.get(['triggers', 'search', { query: title }]));
    if (!found.some((t) => t.title === title)) {
      const trigger = {
        title,
        conditions: {
          all: [
            { field: 'comment_is_public', operator: 'is', value: 'true' },
            { field: 'role', operator: 'is', value: 'agent' },
            { field: 'current_tags', operator: 'includes', value: WHATSAPP_TAG },
          ],
        },
        actions: [{ field: 'notification_webhook', value: [webhook.id, JSON.stringify({ ticket_id: '{{ticket.id}}', external_id: '{{ticket.external_id}}' })] }],
      };
      await this.#api.call(context, 'creating the trigger', (c) => c.triggers.post(['triggers'], { trigger }));
      done.push(`created the Zendesk trigger "${title}"`);
    }
    return done;
  }

  /**
   * The user fields holding each customer's BSUID and @username, readable and searchable by agents.
   * https://developer.zendesk.com/api-reference/ticketing/users/user_fields/
   */
  async #ensureUserFields(context: ExecutionContext): Promise<string[]> {
    const fields = await this.#api.read(context, 'listing user fields', zendeskUserFields, (c) => c.users.get(['user_fields']));
    const existing = new Set((Array.isArray(fields) ? fields : (fields.user_fields ?? [])).map((f) => f.key));
    const done: string[] = [];
    const written = 'Written by wa-crm-sync';
    for (const [key, title, description] of [
      [USER_FIELDS.bsuid, 'WhatsApp BSUID', written],
      [USER_FIELDS.username, 'WhatsApp username', written],
      ...(this.#settings.writeWindowOpenUntil
        ? ([[USER_FIELDS.windowOpenUntil, 'WhatsApp window open until (UTC)', `${written}: until when WhatsApp free text may be sent (24 hours after the customer last wrote, ISO 8601 UTC); after it, send a template`]] as const)
        : []),
    ] as const) {
      if (existing.has(key)) continue;
      await this.#api.call(context, `creating the user field ${key}`, (c) => c.users.post(['user_fields'], { user_field: { type: 'text', key, title, description } }));
      done.push(`created the Zendesk user field ${key}`);
    }
    return done;
  }
}
