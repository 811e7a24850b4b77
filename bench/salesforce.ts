// Salesforce burst benchmark: 10,000 messages from 1,000 contacts through the real connector and
// jsforce against the local Salesforce sandbox; counts API calls per message.
import { salesforceConnector } from '../connectors/salesforce/index.js';
import { salesforceSettingsSchema } from '../connectors/salesforce/settings.js';
import { SalesforceSandbox } from '../sandbox/salesforce.js';
import { burstThroughConnector } from './burst.js';

export async function benchSalesforce(metric: (name: string, value: number, digits?: number) => void): Promise<void> {
  const sandbox = new SalesforceSandbox({ dailyMax: 100_000 });
  const instanceUrl = await sandbox.start();
  const result = await burstThroughConnector({
    name: 'salesforce',
    contacts: 1000,
    perContact: 10,
    create: (log, mediaDir) =>
      salesforceConnector.create(salesforceSettingsSchema.parse({ enabled: true, instanceUrl, accessToken: '00Dsandbox!token', rateLimit: { requests: 1000, intervalMs: 1000 } }), { log, mediaDir }),
  });
  const calls = sandbox.state.requests;
  metric('salesforce_calls_per_message', calls / 10_000, 4);
  metric('salesforce_calls_total', calls, 0);
  metric('salesforce_drain_seconds', result.drainMs / 1000, 1);
  metric('salesforce_leads_created', sandbox.state.records['Lead']!.length, 0);
  metric('salesforce_tasks', sandbox.state.records['Task']!.length, 0);
  metric('salesforce_dead_operations', result.dead, 0);
  await sandbox.stop();
}
