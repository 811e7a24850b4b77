// The real service with HubSpot, Salesforce and Zendesk all on, against their sandboxes, retrying
// fast: what the end-to-end tests of cross-CRM features (consent, the service window) start.
import type { HubSpotSandbox } from '../../sandbox/hubspot.js';
import type { SalesforceSandbox } from '../../sandbox/salesforce.js';
import type { ZendeskSandbox } from '../../sandbox/zendesk.js';
import { serviceWith, type ServiceProcess } from './service-process.js';

export async function serviceWithThreeCrms(
  sandboxes: { readonly hubspot: HubSpotSandbox; readonly salesforce: SalesforceSandbox; readonly zendesk: ZendeskSandbox },
  options: { readonly accessToken: string; readonly extra?: Record<string, unknown> },
): Promise<{ service: ServiceProcess; configPath: string }> {
  const [hubspotUrl, instanceUrl, zendeskUrl] = await Promise.all([sandboxes.hubspot.start(), sandboxes.salesforce.start(), sandboxes.zendesk.start()]);
  const retry = { backoffBaseMs: 100, backoffMaxMs: 1000, maxAttempts: 100 };
  const { service, configPath } = await serviceWith(({ config, port }) => ({
    ...config,
    whatsapp: { ...config.whatsapp, accessToken: options.accessToken, graphBaseUrl: 'http://127.0.0.1:9/v23.0' },
    connectors: {
      hubspot: { enabled: true, accessToken: 'pat-sandbox', baseUrl: hubspotUrl, rateLimit: retry },
      salesforce: { enabled: true, instanceUrl, clientCredentials: { clientId: 'sandbox-client', clientSecret: 'sandbox-secret' }, rateLimit: retry },
      zendesk: { enabled: true, baseUrl: zendeskUrl, ...sandboxes.zendesk.credentials, publicUrl: `http://127.0.0.1:${port}`, rateLimit: retry },
    },
    ...options.extra,
  }));
  await service.start();
  return { service, configPath };
}
