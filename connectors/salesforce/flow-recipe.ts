// The Salesforce Flow recipe: a record-triggered flow's HTTP Callout action (an external service
// made in Flow Builder from the recipe payload as its sample request) sends a WhatsApp template
// through the service.
// https://help.salesforce.com/s/articleView?id=platform.flow_http_callout_configuring.htm&type=5
// Salesforce signs nothing it sends this way: the named credential's external credential (Custom
// authentication) adds a custom header holding a shared token, checked here in constant time.
// https://help.salesforce.com/s/articleView?id=xcloud.nc_cred_custom_headers.htm&type=5
// https://help.salesforce.com/s/articleView?id=xcloud.nc_create_edit_custom_auth_ext_cred.htm&type=5
// (Outbound Messages are SOAP with no signature or custom header either; the HTTP callout is used.)
import { authenticateSharedToken, type WorkflowRecipe } from '../../core/outbound/recipe.js';
import type { SalesforceSettings } from './settings.js';

export const salesforceFlowRecipe: WorkflowRecipe<SalesforceSettings> = {
  path: 'salesforce-flow',
  settingsKey: 'flowRecipe',
  settings: (settings) => settings.flowRecipe,
  authenticate: (_raw, headers, settings) => authenticateSharedToken(headers, settings.flowRecipe.header, settings.flowRecipe.token, 'connectors.salesforce.flowRecipe.token'),
};
