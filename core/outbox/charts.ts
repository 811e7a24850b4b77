// The console's charts, from the store (every instance draws the same): messages in from WhatsApp
// and operations written at each connector per hour, queue depth, oldest age and error rate per
// connector (sampled each minute, since the outbox keeps no history of them), and operations that
// died per day. Each read covers a bounded window through an index (migration 0015).
import { sql } from 'kysely';
import type { Db } from '../store/store.js';
import { connectorHealth } from './health.js';

export const CHART_HOURS = 24;
export const CHART_DAYS = 14;
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const MINUTE_MS = 60_000;
/** Samples older than the longest chart are removed when new ones are taken. */
export const SAMPLE_KEEP_MS = CHART_DAYS * DAY_MS;

export interface ConsoleCharts {
  /** Start of each hour of the last CHART_HOURS (ms), oldest first. */
  readonly hours: readonly number[];
  readonly messagesIn: readonly number[];
  readonly messagesOut: readonly number[];
  /** Operations written (done) per connector and hour. */
  readonly written: Readonly<Record<string, readonly number[]>>;
  /** Minute samples per connector over the last CHART_HOURS. */
  readonly queue: Readonly<Record<string, { readonly at: readonly number[]; readonly depth: readonly number[]; readonly oldestAgeSeconds: ReadonlyArray<number | null>; readonly errorRate: ReadonlyArray<number | null> }>>;
  /** Start of each UTC day of the last CHART_DAYS, oldest first, and operations that died on it per connector. */
  readonly days: readonly number[];
  readonly deadPerDay: Readonly<Record<string, readonly number[]>>;
}

function slots(from: number, step: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => from + i * step);
}

/** Counts per group and time bucket, placed on the buckets' axis. */
function place(rows: ReadonlyArray<{ grp: string; bucket: number | string; n: number | string }>, axis: readonly number[], step: number): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const row of rows) {
    const index = axis.indexOf(Number(row.bucket) * step);
    if (index < 0) continue;
    const series = out.get(row.grp) ?? axis.map(() => 0);
    series[index] = Number(row.n);
    out.set(row.grp, series);
  }
  return out;
}

export async function consoleCharts(db: Db, connectors: readonly string[], now = Date.now()): Promise<ConsoleCharts> {
  const firstHour = Math.floor(now / HOUR_MS) * HOUR_MS - (CHART_HOURS - 1) * HOUR_MS;
  const hours = slots(firstHour, HOUR_MS, CHART_HOURS);
  const firstDay = Math.floor(now / DAY_MS) * DAY_MS - (CHART_DAYS - 1) * DAY_MS;
  const days = slots(firstDay, DAY_MS, CHART_DAYS);
  // Integer division on both dialects (integer on SQLite, bigint on PostgreSQL).
  const bucket = (column: string, step: number) => sql<number>`${sql.ref(column)} / ${sql.lit(step)}`;
  const messages = await db
    .selectFrom('messages')
    .select(['direction as grp', bucket('created_at', HOUR_MS).as('bucket'), (eb) => eb.fn.countAll<number>().as('n')])
    .where('created_at', '>=', firstHour)
    .groupBy(['direction', 'bucket'])
    .execute();
  const written = await db
    .selectFrom('outbox')
    .select(['connector as grp', bucket('updated_at', HOUR_MS).as('bucket'), (eb) => eb.fn.countAll<number>().as('n')])
    .where('state', '=', 'done')
    .where('updated_at', '>=', firstHour)
    .groupBy(['connector', 'bucket'])
    .execute();
  const dead = await db
    .selectFrom('outbox')
    .select(['connector as grp', bucket('updated_at', DAY_MS).as('bucket'), (eb) => eb.fn.countAll<number>().as('n')])
    .where('state', '=', 'dead')
    .where('updated_at', '>=', firstDay)
    .groupBy(['connector', 'bucket'])
    .execute();
  const samples = await db.selectFrom('queue_samples').selectAll().where('at', '>=', firstHour).orderBy('at').execute();
  const byDirection = place(messages, hours, HOUR_MS);
  const writtenBy = place(written, hours, HOUR_MS);
  const deadBy = place(dead, days, DAY_MS);
  const zeros = (axis: readonly number[]) => axis.map(() => 0);
  const queue: Record<string, { at: number[]; depth: number[]; oldestAgeSeconds: Array<number | null>; errorRate: Array<number | null> }> = {};
  for (const connector of connectors) queue[connector] = { at: [], depth: [], oldestAgeSeconds: [], errorRate: [] };
  for (const s of samples) {
    const series = queue[s.connector];
    if (!series) continue;
    const at = Number(s.at);
    series.at.push(at);
    series.depth.push(Number(s.depth));
    series.oldestAgeSeconds.push(s.oldest_created_at === null ? null : Math.max(0, Math.round((at - Number(s.oldest_created_at)) / 1000)));
    series.errorRate.push(s.error_rate === null ? null : Number(s.error_rate));
  }
  return {
    hours,
    messagesIn: byDirection.get('inbound') ?? zeros(hours),
    messagesOut: byDirection.get('outbound') ?? zeros(hours),
    written: Object.fromEntries(connectors.map((c) => [c, writtenBy.get(c) ?? zeros(hours)])),
    queue,
    days,
    deadPerDay: Object.fromEntries(connectors.map((c) => [c, deadBy.get(c) ?? zeros(days)])),
  };
}

/**
 * Takes this minute's sample of each connector's queue (pending and in flight: how many, the
 * oldest) and error rate, once: instances sharing a store write the same minute's row once
 * (the first one wins). Drops samples older than SAMPLE_KEEP_MS.
 */
export async function sampleQueues(db: Db, connectors: readonly string[], now = Date.now()): Promise<void> {
  if (connectors.length === 0) return;
  const at = Math.floor(now / MINUTE_MS) * MINUTE_MS;
  const open = await db
    .selectFrom('outbox')
    .select(['connector', (eb) => eb.fn.countAll<number>().as('n'), (eb) => eb.fn.min('created_at').as('oldest')])
    .where('connector', 'in', [...connectors])
    .where('state', 'in', ['pending', 'in_flight'])
    .groupBy('connector')
    .execute();
  const health = await connectorHealth(db, connectors, now);
  const rows = connectors.map((connector) => {
    const o = open.find((r) => r.connector === connector);
    return {
      connector,
      at,
      depth: Number(o?.n ?? 0),
      oldest_created_at: o?.oldest === null || o?.oldest === undefined ? null : Number(o.oldest),
      error_rate: health.find((h) => h.connector === connector)?.errorRate ?? null,
    };
  });
  await db.insertInto('queue_samples').values(rows).onConflict((oc) => oc.columns(['at', 'connector']).doNothing()).execute();
  await db.deleteFrom('queue_samples').where('at', '<', now - SAMPLE_KEEP_MS).execute();
}
