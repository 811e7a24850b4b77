// Zendesk burst benchmark: 10,000 messages from 1,000 contacts through the real connector and
// node-zendesk against the local Zendesk sandbox, which enforces the account, Update Ticket and
// per-ticket limits. Run at Enterprise Plus's 2,500 requests a minute so it ends in about a minute.
import { zendeskConnector } from '../connectors/zendesk/index.js';
import { zendeskSettingsSchema } from '../connectors/zendesk/settings.js';
import { ZendeskSandbox } from '../sandbox/zendesk.js';
import { burstThroughConnector } from './burst.js';

export async function benchZendesk(metric: (name: string, value: number, digits?: number) => void): Promise<void> {
  await burst(metric, 'zendesk', {});
  // Without the phone search per new customer (matchExistingByPhone: false).
  await burst(metric, 'zendesk_no_phone_match', { matchExistingByPhone: false });
}

async function burst(metric: (name: string, value: number, digits?: number) => void, prefix: string, settings: Record<string, unknown>): Promise<void> {
  const perMinute = 2500;
  const sandbox = new ZendeskSandbox({ requestsPerMinute: perMinute });
  const baseUrl = await sandbox.start();
  const result = await burstThroughConnector({
    name: 'zendesk',
    contacts: 1000,
    perContact: 10,
    create: (log, mediaDir) =>
      zendeskConnector.create(
        zendeskSettingsSchema.parse({ enabled: true, baseUrl, ...sandbox.credentials, autoSetup: false, ...settings, rateLimit: { requests: perMinute, intervalMs: 60_000 } }),
        { log, mediaDir },
      ),
  });
  const calls = sandbox.state.requests;
  const comments = sandbox.state.tickets.reduce((n, t) => n + t.comments.length, 0);
  metric(`${prefix}_calls_per_message`, calls / 10_000, 4);
  metric(`${prefix}_calls_total`, calls, 0);
  metric(`${prefix}_drain_seconds`, result.drainMs / 1000, 1);
  metric(`${prefix}_users_created`, sandbox.state.users.length, 0);
  metric(`${prefix}_tickets`, sandbox.state.tickets.length, 0);
  metric(`${prefix}_comments`, comments, 0);
  metric(`${prefix}_per_ticket_limit_violations`, sandbox.state.rateLimitedBy['per-ticket'] ?? 0, 0);
  metric(`${prefix}_429_total`, sandbox.state.rateLimited, 0);
  metric(`${prefix}_dead_operations`, result.dead, 0);
  await sandbox.stop();
}
