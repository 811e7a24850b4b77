// The registry of connectors configurable under `connectors.<id>`: the built-in ones, and those
// WA_CRM_SYNC_CONNECTOR_MODULES names (connectors/modules.ts), imported once when this module loads.
// WhatsApp is not listed: it is the source, configured by the top-level `whatsapp` section.
import type { ConnectorFactory } from '../core/connector.js';
import type { ConnectorSettingsSchemas } from '../core/config/load.js';
import type { DeliveryParsers } from '../core/engine.js';
import { hubspotConnector } from './hubspot/index.js';
import { CONNECTOR_MODULES_VARIABLE, loadConnectorModules } from './modules.js';
import { salesforceConnector } from './salesforce/index.js';
import { webhookConnector } from './webhook/index.js';
import { parseWhatsAppDelivery } from './whatsapp/index.js';
import { zendeskConnector } from './zendesk/index.js';

// `any`: each factory has its own settings type; the config loader checks settings with the factory's own schema.
const builtIn: Readonly<Record<string, ConnectorFactory<any>>> = {
  hubspot: hubspotConnector,
  salesforce: salesforceConnector,
  webhook: webhookConnector,
  zendesk: zendeskConnector,
};

// Read here, once: the processing thread imports this module too, and sees the same environment.
const external = await loadConnectorModules(process.env[CONNECTOR_MODULES_VARIABLE], ['whatsapp', ...Object.keys(builtIn)]);

export const connectorRegistry: Readonly<Record<string, ConnectorFactory<any>>> = { ...builtIn, ...external };

/** Parsers of stored webhook deliveries, by the source they came in from: WhatsApp's, and each connector's inbound webhook's. */
export const deliveryParsers: DeliveryParsers = {
  whatsapp: parseWhatsAppDelivery,
  ...Object.fromEntries(Object.entries(connectorRegistry).flatMap(([id, factory]) => (factory.inbound ? [[id, factory.inbound.parse]] : []))),
};

export const connectorSettingsSchemas: ConnectorSettingsSchemas = Object.fromEntries(
  Object.entries(connectorRegistry).map(([id, factory]) => [id, { settings: factory.settingsSchema, sendsReplies: factory.metadata.capabilities?.sendsReplies === true }]),
);

export { whatsappConnector, parseWhatsAppDelivery } from './whatsapp/index.js';
