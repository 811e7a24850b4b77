// WhatsApp Business Platform (Cloud API). Inbound: webhook.ts parses deliveries.
// Outbound: connector.ts fetches media (and, with the Zendesk connector, sends replies).
import type { ConnectorFactory, ConnectorMetadata } from '../../core/connector.js';
import { whatsappSection, type WhatsAppSection } from '../../core/config/schema.js';
import { WhatsAppConnector } from './connector.js';
import { KIND } from './mappers.js';

export { parseWhatsAppDelivery } from './webhook.js';

export const whatsappMetadata: ConnectorMetadata = {
  id: 'whatsapp',
  displayName: 'WhatsApp Cloud API',
  featureScopes: { media: ['whatsapp_business_messaging'], send: ['whatsapp_business_messaging'] },
  grantScopesHint:
    'in Meta Business Settings > Users > System users, generate a token for the app with the listed permissions and assign the WhatsApp account to the system user',
  maxBatch: { [KIND.fetchMedia]: 1, [KIND.send]: 1 },
  // About 80 messages/s per number; media calls are lighter, keep well under the app limit.
  defaultTuning: { concurrency: 4, rateLimit: { requests: 50, intervalMs: 1000 }, maxAttempts: 10, backoffBaseMs: 2000, backoffMaxMs: 30 * 60_000 },
};

export const whatsappConnector: ConnectorFactory<WhatsAppSection> = {
  metadata: whatsappMetadata,
  settingsSchema: whatsappSection,
  create: (settings, deps) => new WhatsAppConnector(whatsappMetadata, settings, deps.mediaDir),
};
