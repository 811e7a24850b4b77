// The outbound API under a burst: 1,000 POST /api/v1/messages (100 callers at once, each message
// to its own customer, a tenth of them retried with the same key) against the real store, engine,
// WhatsApp connector and dispatcher, sending to the WhatsApp sandbox. Reports how fast requests
// are accepted, how fast sends go out against the configured send rate (never above it, in any
// one-second window), and that none is lost or sent twice.
import { startOutboundHarness } from '../test/helpers/outbound-harness.js';
import { waitFor } from '../test/helpers/service-process.js';
import { tempDir } from '../test/helpers/stores.js';
import { join } from 'node:path';

const REQUESTS = 1000;
const CALLERS = 100;
/** The configured send rate: whatsapp.rateLimit of 50 requests a second. */
const SEND_RATE = { requests: 50, intervalMs: 1000 };

export async function benchOutbound(metric: (name: string, value: number, digits?: number) => void): Promise<void> {
  const h = await startOutboundHarness('sqlite', {
    rateLimit: { ...SEND_RATE, concurrency: 8, maxAttempts: 10, backoffBaseMs: 50, backoffMaxMs: 1000 },
    // The sandbox allows more than the service is configured for: what limits the sends is the service.
    sandboxMessagesPerSecond: 1000,
    storeUrl: { url: `sqlite:${join(tempDir('wa-crm-sync-bench-'), 'outbound.sqlite')}`, drop: async () => {} },
  });
  try {
    const bearer = await h.token(['send']);
    const request = (i: number) => ({ to: { phone: `+4477009${String(10_000 + i).slice(-5)}` }, template: { name: 'order_shipped', language: 'en_US', parameters: [`Customer ${i}`, `A-${i}`] } });
    const ids = new Map<number, string>();
    let refused = 0;
    let next = 0;
    const started = Date.now();
    await Promise.all(
      Array.from({ length: CALLERS }, async () => {
        while (next < REQUESTS) {
          const i = next++;
          const answer = await h.post(bearer, request(i), `bench-${i}`);
          if (answer.status !== 202) refused++;
          else ids.set(i, answer.body['id'] as string);
          // Every tenth caller retries at once, as a workflow tool whose answer timed out would.
          if (i % 10 === 0) {
            const again = await h.post(bearer, request(i), `bench-${i}`);
            if (again.status !== 202 || again.body['id'] !== ids.get(i)) refused++;
          }
        }
      }),
    );
    const acceptedIn = (Date.now() - started) / 1000;
    await waitFor(() => h.sandbox.state.sent.length >= ids.size, 600_000, 'every send');
    await new Promise((r) => setTimeout(r, 1000));
    const sent = h.sandbox.state.sent;
    const times = sent.map((s) => s.at).sort((a, b) => a - b);
    let peakWindow = 0;
    for (let i = 0, j = 0; i < times.length; i++) {
      while (times[i]! - times[j]! >= SEND_RATE.intervalMs) j++;
      peakWindow = Math.max(peakWindow, i - j + 1);
    }
    const perRecipient = new Map<string, number>();
    for (const s of sent) perRecipient.set(s.to, (perRecipient.get(s.to) ?? 0) + 1);
    const doubled = [...perRecipient.values()].filter((n) => n > 1).length;
    const lost = [...ids.keys()].filter((i) => !perRecipient.has(`+4477009${String(10_000 + i).slice(-5)}`)).length;
    const drainSeconds = (times[times.length - 1]! - times[0]!) / 1000;
    metric('outbound_requests', REQUESTS + REQUESTS / 10, 0);
    metric('outbound_accepted_rps', (REQUESTS + REQUESTS / 10) / acceptedIn, 1);
    metric('outbound_refused', refused, 0);
    metric('outbound_sends_per_s', (sent.length - 1) / drainSeconds, 1);
    metric('outbound_configured_send_rate_per_s', (SEND_RATE.requests * 1000) / SEND_RATE.intervalMs, 0);
    metric('outbound_peak_sends_in_1s', peakWindow, 0);
    metric('outbound_peak_send_rate_ratio_vs_limit', peakWindow / SEND_RATE.requests, 2);
    metric('outbound_lost', lost, 0);
    metric('outbound_doubled', doubled, 0);
    metric('outbound_sandbox_throttled', h.sandbox.state.throttled, 0);
  } finally {
    await h.stop();
  }
}
