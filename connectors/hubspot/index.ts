// HubSpot CRM: contacts keyed by WhatsApp id, conversations as WHATS_APP communications, and
// optionally the two-way inbox (a custom channel) beside them.
import type { ConnectorFactory, ConnectorMetadata } from '../../core/connector.js';
import { HubSpotConnector } from './connector.js';
import { BATCH_SIZE } from './mappers.js';
import { hubspotSettingsSchema, type HubSpotSettings } from './settings.js';
import { hubspotInbound } from './inbox-webhook.js';
import { hubspotWorkflowRecipe } from './workflow-recipe.js';

export const hubspotMetadata: ConnectorMetadata = {
  id: 'hubspot',
  displayName: 'HubSpot',
  featureScopes: {
    contacts: ['crm.objects.contacts.read', 'crm.objects.contacts.write'],
    // Communications are engagements on contacts: the contact scopes cover them.
    conversation: ['crm.objects.contacts.read', 'crm.objects.contacts.write'],
    setup: ['crm.schemas.contacts.read', 'crm.schemas.contacts.write'],
    media: ['files'],
    // https://developers.hubspot.com/docs/api-reference/legacy/conversations/custom-channels/guide (an app, not a legacy private app); files: customers' media go to HubSpot Files first
    inbox: ['conversations.custom_channels.read', 'conversations.custom_channels.write', 'conversations.read', 'files'],
  },
  grantScopesHint: 'in HubSpot, Settings > Integrations > Private apps > your app > Scopes, add them and use the new token (OAuth apps: add them to the app and reinstall)',
  maxBatch: BATCH_SIZE,
  // One contact's backlog in runs: its messages go in one communications batch call (up to 100
  // inputs), so a flooding customer drains at the burst limit, not one message per claim.
  maxRun: 100,
  runsInSegments: true,
  // Free/Starter private apps: 100 requests per 10 s; raise `rateLimit.requests` for higher tiers.
  defaultTuning: { concurrency: 4, rateLimit: { requests: 100, intervalMs: 10_000 }, maxAttempts: 10, backoffBaseMs: 2000, backoffMaxMs: 30 * 60_000 },
};

export const hubspotConnector: ConnectorFactory<HubSpotSettings> = {
  metadata: hubspotMetadata,
  settingsSchema: hubspotSettingsSchema,
  inbound: hubspotInbound,
  recipe: hubspotWorkflowRecipe,
  create: (settings, deps) => new HubSpotConnector(hubspotMetadata, settings, deps.mediaDir, deps.windowWriteSettleMs),
};
