// The static registry of connectors configurable under `connectors.<id>`.
// WhatsApp is not listed: it is the source, configured by the top-level `whatsapp` section.
import type { ConnectorFactory } from '../core/connector.js';
import type { ConnectorSettingsSchemas } from '../core/config/load.js';
import { hubspotConnector } from './hubspot/index.js';
import { salesforceConnector } from './salesforce/index.js';
import { webhookConnector } from './webhook/index.js';
import { parseWhatsAppDelivery } from './whatsapp/index.js';
import { zendeskConnector } from './zendesk/index.js';
import type { DeliveryParsers } from '../core/engine.js';

export const connectorRegistry: Readonly<Record<string, ConnectorFactory<any>>> = {
  // `any`: each factory has its own settings type; the config loader checks settings with the factory's own schema.
  hubspot: hubspotConnector,
  salesforce: salesforceConnector,
  webhook: webhookConnector,
  zendesk: zendeskConnector,
};

/** Parsers of stored webhook deliveries, by the source they came in from: WhatsApp's, and each connector's inbound webhook's. */
export const deliveryParsers: DeliveryParsers = {
  whatsapp: parseWhatsAppDelivery,
  ...Object.fromEntries(Object.entries(connectorRegistry).flatMap(([id, factory]) => (factory.inbound ? [[id, factory.inbound.parse]] : []))),
};

export const connectorSettingsSchemas: ConnectorSettingsSchemas = Object.fromEntries(
  Object.entries(connectorRegistry).map(([id, factory]) => [id, { settings: factory.settingsSchema, sendsReplies: factory.metadata.capabilities?.sendsReplies === true }]),
);

export { whatsappConnector, parseWhatsAppDelivery } from './whatsapp/index.js';
