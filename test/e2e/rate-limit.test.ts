// A burst past the vendor's rate limit through the real service: the HubSpot sandbox allows 4
// requests per 2 s; 60 messages from 20 customers drain with no request over the limit.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HubSpotSandbox } from '../../sandbox/hubspot.js';
import { textWebhook } from '../helpers/fixtures.js';
import { serviceWith, type ServiceProcess, waitFor } from '../helpers/service-process.js';

describe('a burst past the rate limit end to end', () => {
  const limit = { requests: 4, intervalMs: 2000 };
  const hubspot = new HubSpotSandbox({ ...limit, searchPerSecond: 2 });
  let service: ServiceProcess;

  beforeAll(async () => {
    const baseUrl = await hubspot.start();
    ({ service } = await serviceWith(({ config }) => ({
      ...config,
      connectors: { hubspot: { enabled: true, accessToken: 'pat-sandbox', baseUrl, searchRequestsPerSecond: 2, rateLimit: { ...limit, backoffBaseMs: 100, backoffMaxMs: 2000 } } },
    })));
    await service.start();
  });
  afterAll(async () => {
    await service.kill('SIGTERM');
    await hubspot.stop();
  });

  it('drains with zero requests over the limit', { timeout: 90_000 }, async () => {
    const ids: string[] = [];
    for (let m = 0; m < 3; m++) {
      for (let c = 0; c < 20; c++) {
        const id = `wamid.rl.${c}.${m}`;
        ids.push(id);
        await service.deliver(textWebhook({ from: `4477009005${String(c).padStart(2, '0')}`, id, timestamp: 1_760_000_000 + m, body: `burst ${m}`, name: `Customer ${c}` }));
      }
    }
    await waitFor(() => (hubspot.state.objects['communications']?.length ?? 0) >= ids.length, 80_000, 'every message in HubSpot');
    // More requests than one window allows went out, and none arrived while the window was full.
    expect(hubspot.state.requests).toBeGreaterThan(limit.requests * 2);
    expect(hubspot.state.overLimit).toBe(0);
    expect(hubspot.state.objects['communications']!.map((c) => c.properties['whatsapp_message_id']).sort()).toEqual([...ids].sort());
  });
});
