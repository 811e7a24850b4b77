// The WhatsApp sandbox and the three CRM sandboxes together, and a service config pointing at
// them: for end-to-end suites where a message goes out through WhatsApp and is logged on every CRM.
import { HubSpotSandbox } from '../../sandbox/hubspot.js';
import { SalesforceSandbox } from '../../sandbox/salesforce.js';
import { WhatsAppSandbox, WhatsAppSimulator } from '../../sandbox/whatsapp.js';
import { ZendeskSandbox } from '../../sandbox/zendesk.js';
import { APP_SECRET, serviceWith } from './service-process.js';

export const SANDBOX_WABA_ID = '102290129340398';

export class CrmSandboxes {
  readonly whatsapp = new WhatsAppSandbox();
  readonly hubspot = new HubSpotSandbox({ requests: 100, intervalMs: 10_000 });
  readonly salesforce = new SalesforceSandbox();
  readonly zendesk = new ZendeskSandbox({ requestsPerMinute: 700 });
  readonly simulator = new WhatsAppSimulator(APP_SECRET);

  /**
   * Starts the sandboxes and writes a service config using them all; `connectors` adds settings
   * per connector id (merged over the sandbox's own), `adjust` changes anything else.
   */
  async serviceWith(connectors: (port: number) => Readonly<Record<string, Record<string, unknown>>> = () => ({}), adjust: (config: Record<string, unknown>) => Record<string, unknown> = (c) => c): ReturnType<typeof serviceWith> {
    const [graphUrl, hubspotUrl, instanceUrl, zendeskUrl] = await Promise.all([this.whatsapp.start(), this.hubspot.start(), this.salesforce.start(), this.zendesk.start()]);
    const retry = { backoffBaseMs: 100, backoffMaxMs: 1000, maxAttempts: 100 };
    return serviceWith(({ config, port }) => {
      const extra = connectors(port);
      return adjust({
        ...config,
        whatsapp: { ...config.whatsapp, accessToken: this.whatsapp.accessToken, graphBaseUrl: graphUrl, businessAccountId: SANDBOX_WABA_ID, phoneNumbers: [this.simulator.phoneNumberId], lostAnswerWaitSeconds: 30 },
        connectors: {
          hubspot: { enabled: true, accessToken: 'pat-sandbox', baseUrl: hubspotUrl, rateLimit: retry, ...extra['hubspot'] },
          salesforce: { enabled: true, instanceUrl, clientCredentials: { clientId: 'sandbox-client', clientSecret: 'sandbox-secret' }, rateLimit: retry, ...extra['salesforce'] },
          zendesk: { enabled: true, baseUrl: zendeskUrl, ...this.zendesk.credentials, publicUrl: `http://127.0.0.1:${port}`, rateLimit: retry, ...extra['zendesk'] },
        },
      });
    });
  }

  async stop(): Promise<void> {
    await Promise.all([this.whatsapp.stop(), this.hubspot.stop(), this.salesforce.stop(), this.zendesk.stop()]);
  }
}
