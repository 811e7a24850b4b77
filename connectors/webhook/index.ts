// Generic HTTP forwarder: every contact, message and status as a signed JSON POST.
// Useful for in-house systems, and the loopback "recording vendor" of the crash tests.
import type { ConnectorFactory, ConnectorMetadata } from '../../core/connector.js';
import { WebhookConnector } from './connector.js';
import { KIND } from './mappers.js';
import { webhookSettingsSchema, type WebhookSettings } from './settings.js';

export const webhookMetadata: ConnectorMetadata = {
  id: 'webhook',
  displayName: 'HTTP webhook',
  featureScopes: { forward: [] },
  grantScopesHint: 'no scopes: the endpoint authenticates requests by the signature header',
  maxBatch: { [KIND.contact]: 1, [KIND.message]: 1, [KIND.status]: 1 },
  // One contact's backlog is posted back to back, in order, without a claim between posts.
  maxRun: 50,
  defaultTuning: { concurrency: 4, rateLimit: null, maxAttempts: 12, backoffBaseMs: 1000, backoffMaxMs: 15 * 60_000 },
};

export const webhookConnector: ConnectorFactory<WebhookSettings> = {
  metadata: webhookMetadata,
  settingsSchema: webhookSettingsSchema,
  create: (settings) => new WebhookConnector(webhookMetadata, settings),
};
