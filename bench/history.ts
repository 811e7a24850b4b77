// Coexistence history import benchmark: 100,000 past messages of 200 customers in conversations of 25 (BENCH_HISTORY_MESSAGES
// to change the size, BENCH_HISTORY_SETTLE_MS for Zendesk's wait), in shuffled chunks of 1,000, sent as signed `history` webhooks to the real
// service (a child process with the service's heap flags) syncing to the HubSpot, Salesforce and
// Zendesk sandboxes, Zendesk importing solved tickets. Measured in one run: the import's time,
// messages per vendor call for each vendor, requests over HubSpot's limit, the service's peak RSS
// (VmHWM) against the memory target, and a live message's latency from webhook to HubSpot before
// the import and while it drains.
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { HubSpotSandbox } from '../sandbox/hubspot.js';
import { SalesforceSandbox } from '../sandbox/salesforce.js';
import { historyWebhooks, WhatsAppSandbox, type PastMessage } from '../sandbox/whatsapp.js';
import { ZendeskSandbox } from '../sandbox/zendesk.js';
import { textWebhook } from '../test/helpers/fixtures.js';
import { outboxOperations, serviceWith } from '../test/helpers/service-process.js';
import { percentile } from './load.js';

const MESSAGES = Number(process.env['BENCH_HISTORY_MESSAGES'] ?? 100_000);
const CUSTOMERS = 200;
const CHUNK = 1_000;
const PER_CONVERSATION = 25;
const LIVE_SAMPLES = 8;
/** Zendesk's historySettleMs: long enough for every chunk to arrive before a conversation's ticket is imported. */
const SETTLE_MS = Number(process.env['BENCH_HISTORY_SETTLE_MS'] ?? 180_000);
/** The memory target (README, `peak_rss_mb_1m_pending < 200`): the service's peak RSS under load. */
const RSS_TARGET_MB = 200;
/** The import gives up after this long and reports how far it got. */
const GIVE_UP_MS = 45 * 60_000;

function statusMb(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  const kb = Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
  return kb / 1024;
}

const peakRssMb = (pid: number) => statusMb(pid, 'VmHWM');

/**
 * The service's RSS sampled every 500 ms, so the peak can be placed: while webhooks come in,
 * while the import drains, or at one moment (a transaction of thousands of rows).
 */
function sampleRss(pid: number): { stop(): Array<{ at: number; mb: number }> } {
  const samples: Array<{ at: number; mb: number }> = [];
  const timer = setInterval(() => {
    try {
      samples.push({ at: Date.now(), mb: statusMb(pid, 'VmRSS') });
    } catch {
      // The process ended.
    }
  }, 500);
  return { stop: () => (clearInterval(timer), samples) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function benchHistory(metric: (name: string, value: number, digits?: number) => void): Promise<void> {
  const hubspotLimit = { requests: 100, intervalMs: 10_000 };
  const hubspot = new HubSpotSandbox(hubspotLimit);
  const salesforce = new SalesforceSandbox();
  const zendesk = new ZendeskSandbox({ requestsPerMinute: 700 });
  const whatsapp = new WhatsAppSandbox();
  const [hubspotUrl, instanceUrl, zendeskUrl, graphBaseUrl] = await Promise.all([hubspot.start(), salesforce.start(), zendesk.start(), whatsapp.start()]);
  const { service } = await serviceWith(({ config, port }) => ({
    ...config,
    log: { level: 'warn' },
    whatsapp: { ...config.whatsapp, accessToken: whatsapp.accessToken, graphBaseUrl },
    connectors: {
      hubspot: { enabled: true, accessToken: 'pat-sandbox', baseUrl: hubspotUrl, rateLimit: hubspotLimit },
      salesforce: { enabled: true, instanceUrl, clientCredentials: { clientId: 'sandbox-client', clientSecret: 'sandbox-secret' } },
      zendesk: { enabled: true, baseUrl: zendeskUrl, ...zendesk.credentials, publicUrl: `http://127.0.0.1:${port}`, history: 'solved-tickets', historySettleMs: SETTLE_MS, rateLimit: { requests: 700, intervalMs: 60_000 } },
    },
  }));
  // A loaded machine (the benches share it) can take well over 20 s to start the service.
  await service.start(90_000);
  const pid = service.child!.pid!;
  const rssSamples = sampleRss(pid);

  const communications = () => hubspot.state.objects['communications'] ?? [];
  const loggedLive = (id: string) => communications().some((c) => c.properties['whatsapp_message_id'] === id);
  let liveSeq = 0;
  async function liveLatency(): Promise<number> {
    const id = `wamid.LIVE.${liveSeq++}`;
    const started = Date.now();
    await service.deliver(textWebhook({ from: `4477009${String(90000 + liveSeq)}`, id, timestamp: Math.floor(started / 1000), body: 'live', name: 'Live' }));
    while (!loggedLive(id)) await sleep(20);
    return Date.now() - started;
  }
  const baseline: number[] = [];
  for (let i = 0; i < LIVE_SAMPLES; i++) baseline.push(await liveLatency());
  // Let the live customers' other writes (Salesforce, Zendesk) finish before counting calls.
  await sleep(5_000);

  const onboardedAt = Math.floor(Date.now() / 1000);
  // Each customer's past as conversations of 25 messages a minute apart, spread over 170 days.
  const conversations = Math.max(1, Math.ceil(MESSAGES / CUSTOMERS / PER_CONVERSATION));
  const past: PastMessage[] = Array.from({ length: MESSAGES }, (_, i) => {
    const customer = i % CUSTOMERS;
    const nth = Math.floor(i / CUSTOMERS);
    const conversation = Math.floor(nth / PER_CONVERSATION);
    return {
      id: `wamid.HIST.${i}`,
      customer: `4477008${String(10000 + customer).slice(1)}`,
      fromBusiness: i % 3 === 2,
      timestamp: onboardedAt - 175 * 86_400 + Math.floor((conversation * 170 * 86_400) / conversations) + customer * 37 + (nth % PER_CONVERSATION) * 60,
      text: `past message ${i}`,
    };
  });
  const bodies = historyWebhooks(past, { phoneNumberId: '214880073361540', displayNumber: '15550130147' }, { chunkSize: CHUNK, onboardedAt });
  for (let i = bodies.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [bodies[i], bodies[j]] = [bodies[j]!, bodies[i]!];
  }
  const before = { hubspot: hubspot.state.requests, salesforce: salesforce.state.requests, zendesk: zendesk.state.requests };
  const started = Date.now();
  for (const body of bodies) await service.deliver(body, 120_000);
  const ingestMs = Date.now() - started;

  const historyLogged = () => communications().filter((c) => String(c.properties['whatsapp_message_id']).startsWith('wamid.HIST.')).length;
  const imported = () => zendesk.state.tickets.filter((t) => t.external_id?.startsWith('wa-history:'));
  const zendeskComments = () => imported().reduce((n, t) => n + t.comments.length, 0);
  const settled = async () => {
    for (const connector of ['hubspot', 'salesforce', 'zendesk']) {
      if ((await outboxOperations(service, connector, 'pending')) + (await outboxOperations(service, connector, 'in_flight')) > 0) return false;
    }
    return true;
  };
  const during: number[] = [];
  let completed = false;
  let lastCheck = 0;
  while (Date.now() - started < GIVE_UP_MS) {
    if (during.length < LIVE_SAMPLES) {
      during.push(await liveLatency());
      await sleep(2_000);
    } else await sleep(1_000);
    if (Date.now() - lastCheck < 5_000) continue;
    lastCheck = Date.now();
    if (historyLogged() >= MESSAGES && zendeskComments() >= MESSAGES && (await settled())) {
      completed = true;
      break;
    }
  }
  const importMs = Date.now() - started;
  const calls = { hubspot: hubspot.state.requests - before.hubspot, salesforce: salesforce.state.requests - before.salesforce, zendesk: zendesk.state.requests - before.zendesk };
  const rss = peakRssMb(pid);
  const samples = rssSamples.stop();
  const peakIn = (from: number, to: number) => Math.max(0, ...samples.filter((x) => x.at >= from && x.at < to).map((x) => x.mb));
  const peakSample = samples.reduce((a, b) => (b.mb > a.mb ? b : a), { at: started, mb: 0 });
  let dead = 0;
  for (const connector of ['hubspot', 'salesforce', 'zendesk']) dead += await outboxOperations(service, connector, 'dead');
  await service.kill('SIGTERM');
  await Promise.all([hubspot.stop(), salesforce.stop(), zendesk.stop(), whatsapp.stop()]);
  // The floor HubSpot's burst limit sets for the calls it took.
  const floorMs = Math.max(1, Math.ceil(calls.hubspot / hubspotLimit.requests) - 1) * hubspotLimit.intervalMs;

  metric('history_messages', MESSAGES, 0);
  metric('history_import_completed', completed ? 1 : 0, 0);
  metric('history_ingest_seconds', ingestMs / 1000, 1);
  metric('history_import_seconds', importMs / 1000, 1);
  metric('history_hubspot_messages_logged', historyLogged(), 0);
  metric('history_zendesk_comments_imported', zendeskComments(), 0);
  metric('history_zendesk_solved_tickets', imported().filter((t) => t.status === 'solved').length, 0);
  // Live messages share these calls (a few); counted from the first history webhook to the end.
  metric('history_messages_per_vendor_call_hubspot', MESSAGES / Math.max(1, calls.hubspot));
  metric('history_messages_per_vendor_call_salesforce', MESSAGES / Math.max(1, calls.salesforce));
  metric('history_messages_per_vendor_call_zendesk', MESSAGES / Math.max(1, calls.zendesk));
  metric('history_hubspot_drain_ratio_vs_limit_floor', importMs / floorMs);
  metric('history_requests_over_limit', hubspot.state.overLimit, 0);
  metric('history_dead_operations', dead, 0);
  metric('history_peak_rss_mb', rss, 0);
  metric('history_peak_rss_target_mb', RSS_TARGET_MB, 0);
  metric('history_rss_mb_peak_before_import', peakIn(0, started), 0);
  metric('history_rss_mb_peak_while_ingesting', peakIn(started, started + ingestMs), 0);
  metric('history_rss_mb_peak_while_draining', peakIn(started + ingestMs, Infinity), 0);
  metric('history_rss_peak_at_seconds_after_first_webhook', (peakSample.at - started) / 1000, 1);
  // Bounded, not growing with the import's size: the import's last quarter against its first.
  const quarter = importMs / 4;
  metric('history_rss_mb_peak_first_quarter_of_import', peakIn(started, started + quarter), 0);
  metric('history_rss_mb_peak_last_quarter_of_import', peakIn(started + 3 * quarter, Infinity), 0);
  metric('history_live_latency_p50_ms_baseline', percentile(baseline, 50), 0);
  metric('history_live_latency_p50_ms_during_import', percentile(during, 50), 0);
  metric('history_live_latency_max_ms_during_import', Math.max(...during), 0);
  metric('history_live_latency_ratio_during_vs_baseline', percentile(during, 50) / Math.max(1, percentile(baseline, 50)));
  metric('history_live_latency_samples_during_import', during.length, 0);
  // The machine is shared: the load says how far these timings can be trusted.
  metric('history_load_average_1m_at_end', loadavg()[0]!);
}
