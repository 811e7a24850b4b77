// Salesforce: WhatsApp customers as Leads or Contacts, conversations as Tasks.
import type { ConnectorFactory, ConnectorMetadata } from '../../core/connector.js';
import { SalesforceConnector } from './connector.js';
import { BATCH_SIZE } from './mappers.js';
import { salesforceSettingsSchema, type SalesforceSettings } from './settings.js';
import { salesforceFlowRecipe } from './flow-recipe.js';

export const salesforceMetadata: ConnectorMetadata = {
  id: 'salesforce',
  displayName: 'Salesforce',
  // Object and field permissions depend on the configuration: see SalesforceConnector.requiredScopes.
  featureScopes: { records: [], activity: [] },
  grantScopesHint:
    "give the integration user's profile or a permission set Create and Edit on the objects and Edit on the fields listed (Setup > Permission Sets > Object Settings)",
  maxBatch: BATCH_SIZE,
  // One customer's backlog in runs: a run of a thread's messages is one Task upsert.
  maxRun: 200,
  runsInSegments: true,
  // Salesforce has no per-second limit, only the daily allowance (watched per call) and about 25
  // concurrent long requests; keep a modest pace.
  defaultTuning: { concurrency: 4, rateLimit: { requests: 20, intervalMs: 1000 }, maxAttempts: 10, backoffBaseMs: 2000, backoffMaxMs: 30 * 60_000 },
};

export const salesforceConnector: ConnectorFactory<SalesforceSettings> = {
  metadata: salesforceMetadata,
  recipe: salesforceFlowRecipe,
  settingsSchema: salesforceSettingsSchema,
  create: (settings, deps) => new SalesforceConnector(salesforceMetadata, settings, deps.windowWriteSettleMs),
};
