// Zendesk: tickets from WhatsApp chats, agents' replies back to WhatsApp.
import type { ConnectorFactory, ConnectorMetadata } from '../../core/connector.js';
import { ZendeskConnector } from './connector.js';
import { BATCH_SIZE } from './mappers.js';
import { zendeskSettingsSchema, type ZendeskSettings } from './settings.js';
import { zendeskInbound } from './webhook.js';
import { zendeskTriggerRecipe } from './trigger-recipe.js';
export { parseZendeskDelivery } from './webhook.js';

export const zendeskMetadata: ConnectorMetadata = {
  id: 'zendesk',
  displayName: 'Zendesk',
  // OAuth scope names; an API token acts with its agent's role (see ZendeskConnector.grantedScopes).
  featureScopes: {
    tickets: ['tickets:read', 'tickets:write'],
    users: ['users:read', 'users:write'],
    setup: ['webhooks:read', 'webhooks:write', 'triggers:read', 'triggers:write'],
  },
  grantScopesHint:
    'for an API token, use an agent (an admin for the webhook and trigger setup); for OAuth, authorise the client with the listed scopes (or read and write)',
  maxBatch: BATCH_SIZE,
  // One customer's backlog in runs: the first comment of a run writes the thread's backlog in one
  // ticket update, and the rest follow without a claim between them.
  maxRun: 50,
  runsInSegments: true,
  capabilities: { sendsReplies: true },
  // The Team plan's 200 requests a minute; set rateLimit.requests to your plan's limit.
  defaultTuning: { concurrency: 4, rateLimit: { requests: 200, intervalMs: 60_000 }, maxAttempts: 10, backoffBaseMs: 2000, backoffMaxMs: 30 * 60_000 },
};

export const zendeskConnector: ConnectorFactory<ZendeskSettings> = {
  metadata: zendeskMetadata,
  recipe: zendeskTriggerRecipe,
  settingsSchema: zendeskSettingsSchema,
  inbound: zendeskInbound,
  create: (settings, deps) => new ZendeskConnector(zendeskMetadata, settings, deps.mediaDir, deps.windowWriteSettleMs),
};
