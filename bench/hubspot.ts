// HubSpot burst benchmark: 10,000 messages from 1,000 contacts through the real connector and
// SDK against the local HubSpot sandbox enforcing HubSpot's burst limit (100 per 10 s).
import { hubspotConnector } from '../connectors/hubspot/index.js';
import { hubspotSettingsSchema } from '../connectors/hubspot/settings.js';
import { HubSpotSandbox } from '../sandbox/hubspot.js';
import { burstThroughConnector } from './burst.js';

export async function benchHubSpot(metric: (name: string, value: number, digits?: number) => void): Promise<void> {
  const limit = { requests: 100, intervalMs: 10_000 };
  const sandbox = new HubSpotSandbox(limit);
  const baseUrl = await sandbox.start();
  const result = await burstThroughConnector({
    name: 'hubspot',
    contacts: 1000,
    perContact: 10,
    create: (log, mediaDir) => hubspotConnector.create(hubspotSettingsSchema.parse({ enabled: true, accessToken: 'pat-sandbox', baseUrl, rateLimit: limit }), { log, mediaDir }),
  });
  const calls = sandbox.state.requests;
  // With a rolling window, N calls need at least (ceil(N / limit) - 1) whole windows.
  const floorMs = Math.max(1, Math.ceil(calls / limit.requests) - 1) * limit.intervalMs;
  metric('hubspot_calls_per_message', calls / 10_000, 4);
  metric('hubspot_calls_total', calls, 0);
  metric('hubspot_drain_seconds', result.drainMs / 1000, 1);
  metric('hubspot_drain_ratio_vs_limit_floor', result.drainMs / floorMs);
  metric('hubspot_requests_over_limit', sandbox.state.overLimit, 0);
  for (const [policy, count] of Object.entries(sandbox.state.rateLimitedBy)) metric(`hubspot_429_${policy.toLowerCase()}`, count, 0);
  metric('hubspot_contacts_created', sandbox.state.objects['contacts']?.length ?? 0, 0);
  metric('hubspot_communications_logged', sandbox.state.objects['communications']?.length ?? 0, 0);
  metric('hubspot_dead_operations', result.dead, 0);
  await sandbox.stop();
}
