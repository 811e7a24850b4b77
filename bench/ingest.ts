// Ingest benchmark (issues 3 and 26): how fast and how steadily the service acknowledges signed
// WhatsApp webhooks, against a bare Express handler measured in the same run, and whether
// processing keeps up (the backlog of each burst drains, every delivery processed).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { intakeFileOf } from '../core/store/sqlite-files.js';
import { projectRoot, sign, textWebhook } from '../test/helpers/fixtures.js';
import { APP_SECRET, baseConfig, freePort, SERVICE_NODE_FLAGS, ServiceProcess, writeConfig } from '../test/helpers/service-process.js';
import { tempDir } from '../test/helpers/stores.js';
import { closedLoop, openLoop, percentile, type LoadTarget } from './load.js';

type Metric = (name: string, value: number, digits?: number) => void;

/** Rounds of the latency phase: the median is the figure, min and max show the noise. */
const LATENCY_ROUNDS = 3;
const RATE = 1000;
const BURST_MS = 5000;
/** Longest wait for a burst's backlog to be processed before the round counts as not drained. */
const DRAIN_LIMIT_MS = 60_000;
/** prom-client samples the event loop every 10 ms and records the whole interval: what is above it is delay. */
const EVENT_LOOP_SAMPLE_MS = 10;

export function webhookTarget(baseUrl: string, prefix: string): LoadTarget {
  return {
    url: `${baseUrl}/webhooks/whatsapp`,
    build: (i) => {
      const body = textWebhook({ from: `1555${String(1_000_000 + (i % 5000)).slice(1)}`, id: `wamid.${prefix}.${i}`, timestamp: 1_760_000_000 + i, body: 'bench' });
      return { body, headers: { 'content-type': 'application/json', 'x-hub-signature-256': sign(APP_SECRET, body) } };
    },
  };
}

export async function startBareExpress(): Promise<{ url: string; stop: () => void }> {
  const port = await freePort();
  // Same runtime flags as the service, so the ratio compares handlers, not heap settings.
  const child = spawn(process.execPath, [...SERVICE_NODE_FLAGS, '--import', 'tsx', join(projectRoot, 'bench/bare-express.ts'), String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
  return { url: `http://127.0.0.1:${port}`, stop: () => child.kill('SIGTERM') };
}

export async function startService(extra: Record<string, unknown> = {}, storeUrl?: string): Promise<{ service: ServiceProcess; storeUrl: string }> {
  const dir = tempDir('wa-crm-sync-bench-');
  const port = await freePort();
  const configPath = join(dir, 'bench.yaml');
  const url = storeUrl ?? `sqlite:${join(dir, 'store.sqlite')}`;
  writeConfig(configPath, { ...baseConfig({ storeUrl: url, port, dir }), log: { level: 'warn' }, ...extra });
  const service = new ServiceProcess(configPath, port);
  await service.start();
  return { service, storeUrl: url };
}

/** The service's event-loop delay p99 since the last scrape (prom-client resets its histogram at each one), in ms. */
async function eventLoopDelayP99Ms(service: ServiceProcess): Promise<number> {
  const text = await (await fetch(`${service.baseUrl}/metrics`)).text();
  const p99 = Number(/^nodejs_eventloop_lag_p99_seconds (\S+)$/m.exec(text)?.[1] ?? NaN);
  return Math.max(0, p99 * 1000 - EVENT_LOOP_SAMPLE_MS);
}

/**
 * Waits until no stored delivery is pending, counting those acknowledged into the intake file and
 * not yet imported (core/store/intake.ts); the time it took from `since`, and how many deliveries
 * were stored and left pending.
 */
async function drain(storePath: string, since: number): Promise<{ ms: number; stored: number; pending: number }> {
  // Readers of their own: in WAL mode they never hold up the service's writers.
  const db = new SQLite(storePath, { readonly: true, fileMustExist: true });
  const intakePath = intakeFileOf(storePath);
  const intake = existsSync(intakePath) ? new SQLite(intakePath, { readonly: true, fileMustExist: true }) : undefined;
  try {
    const count = () => {
      // The intake's last id first: every row up to it is then either imported (and counted among
      // the store's pending ones if unprocessed) or above the cursor read after it.
      const acknowledged = intake ? ((intake.prepare("select seq from sqlite_sequence where name = 'intake'").get() as { seq: number } | undefined)?.seq ?? 0) : 0;
      const generation = intake ? (intake.prepare('select generation from intake_generation').get() as { generation: string }).generation : '';
      const cursorRow = db.prepare("select value from connector_state where connector = '_service' and key = 'intake-imported'").get() as { value: string } | undefined;
      const cursor = cursorRow ? (JSON.parse(cursorRow.value) as { generation: string; upTo: number }) : undefined;
      const imported = cursor?.generation === generation ? cursor.upTo : 0;
      const stored = db.prepare("select count(*) as total, sum(case when state = 'pending' then 1 else 0 end) as pending from webhook_deliveries").get() as { total: number; pending: number | null };
      const notImported = Math.max(0, acknowledged - imported);
      return { total: stored.total + notImported, pending: (stored.pending ?? 0) + notImported };
    };
    for (;;) {
      const { total, pending } = count();
      if (!pending || performance.now() - since > DRAIN_LIMIT_MS) return { ms: pending ? NaN : performance.now() - since, stored: total, pending };
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    intake?.close();
    db.close();
  }
}

function median(values: readonly number[]): number {
  return percentile(values, 50);
}

function stats(metric: Metric, name: string, values: readonly number[]): void {
  metric(`${name}_min`, Math.min(...values));
  metric(name, median(values));
  metric(`${name}_max`, Math.max(...values));
}

export async function benchIngest(metric: Metric): Promise<void> {
  const connections = 32;
  metric('load_average_1m_at_start', loadavg()[0]!);
  // Throughput: as fast as each answers, with 32 requests always in flight.
  const bare = await startBareExpress();
  await closedLoop(webhookTarget(bare.url, 'warm'), connections, 1000);
  const bareResult = await closedLoop(webhookTarget(bare.url, 'bare'), connections, BURST_MS);
  const { service } = await startService();
  await closedLoop(webhookTarget(service.baseUrl, 'warm'), connections, 1000);
  const serviceResult = await closedLoop(webhookTarget(service.baseUrl, 'closed'), connections, BURST_MS);
  metric('ingest_rps_bare_express', bareResult.rps, 0);
  metric('ingest_rps_service', serviceResult.rps, 0);
  metric('ingest_ratio_vs_bare_express', serviceResult.rps / bareResult.rps);
  await service.kill('SIGTERM');

  // Latency at a steady 1,000 requests/s, on a fresh store: each round measures bare Express and
  // then the service back to back, so both see the same neighbours on a shared machine.
  const fresh = await startService();
  const storePath = fresh.storeUrl.slice('sqlite:'.length);
  await openLoop(webhookTarget(bare.url, 'warm2'), 200, 1000);
  await openLoop(webhookTarget(fresh.service.baseUrl, 'warm'), 200, 1000);
  await drain(storePath, performance.now());
  const rounds: Array<{ bareP99: number; p50: number; p99: number; eventLoopP99: number; drainMs: number; errors: number }> = [];
  let unprocessed = 0;
  for (let round = 0; round < LATENCY_ROUNDS; round++) {
    const bareOpen = await openLoop(webhookTarget(bare.url, `bare${round}`), RATE, BURST_MS);
    await eventLoopDelayP99Ms(fresh.service);
    const open = await openLoop(webhookTarget(fresh.service.baseUrl, `open${round}`), RATE, BURST_MS);
    const burstEnd = performance.now();
    const eventLoopP99 = await eventLoopDelayP99Ms(fresh.service);
    const drained = await drain(storePath, burstEnd);
    unprocessed = drained.pending;
    rounds.push({ bareP99: percentile(bareOpen.latencies, 99), p50: percentile(open.latencies, 50), p99: percentile(open.latencies, 99), eventLoopP99, drainMs: drained.ms, errors: open.errors + bareOpen.errors });
    console.log(`# round ${round + 1}: service p99 ${rounds.at(-1)!.p99.toFixed(1)} ms, bare p99 ${rounds.at(-1)!.bareP99.toFixed(1)} ms, event-loop delay p99 ${eventLoopP99.toFixed(1)} ms, drained ${drained.ms.toFixed(0)} ms after the burst, load ${loadavg()[0]!.toFixed(2)}`);
  }
  bare.stop();
  await fresh.service.kill('SIGTERM');
  stats(metric, 'ingest_p99_ms_at_1000rps', rounds.map((r) => r.p99));
  stats(metric, 'ingest_bare_express_p99_ms_at_1000rps', rounds.map((r) => r.bareP99));
  stats(metric, 'ingest_p99_ratio_vs_bare_express', rounds.map((r) => r.p99 / r.bareP99));
  metric('ingest_p50_ms_at_1000rps', median(rounds.map((r) => r.p50)));
  stats(metric, 'ingest_event_loop_delay_p99_ms', rounds.map((r) => r.eventLoopP99));
  metric('ingest_drain_ms_after_burst_max', Math.max(...rounds.map((r) => r.drainMs)), 0);
  metric('ingest_deliveries_unprocessed_after_drain', unprocessed, 0);
  metric('ingest_errors_at_1000rps', rounds.reduce((sum, r) => sum + r.errors, 0), 0);
  metric('load_average_1m_at_end', loadavg()[0]!);
}
