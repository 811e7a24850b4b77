// Prometheus metrics for /metrics. One registry per service instance (tests run several).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { outboxDepth } from './outbox/queries.js';
import type { Store } from './store/store.js';

export class Metrics {
  readonly registry = new Registry();
  readonly webhooks = new Counter({
    name: 'wa_crm_sync_webhooks_total',
    help: 'Webhook deliveries by source and result (stored, bad_signature, too_large, verify_ok, verify_failed)',
    labelNames: ['source', 'result'] as const,
    registers: [this.registry],
  });
  readonly operationLatency = new Histogram({
    name: 'wa_crm_sync_operation_seconds',
    help: 'Time from an operation being queued to its completion, by connector and outcome',
    labelNames: ['connector', 'outcome'] as const,
    buckets: [0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 1800, 7200],
    registers: [this.registry],
  });
  readonly vendorCalls = new Counter({
    name: 'wa_crm_sync_vendor_calls_total',
    help: 'Requests to vendor APIs by connector and HTTP status code (0 = no answer)',
    labelNames: ['connector', 'status'] as const,
    registers: [this.registry],
  });
  readonly rateLimited = new Counter({
    name: 'wa_crm_sync_vendor_429_total',
    help: 'HTTP 429 answers from vendor APIs by connector',
    labelNames: ['connector'] as const,
    registers: [this.registry],
  });
  readonly vendorQuotaRemaining = new Gauge({
    name: 'wa_crm_sync_vendor_quota_remaining',
    help: 'Vendor allowance left (e.g. a daily API request allowance), by connector',
    labelNames: ['connector'] as const,
    registers: [this.registry],
  });
  readonly vendorQuotaMax = new Gauge({
    name: 'wa_crm_sync_vendor_quota_max',
    help: 'Vendor allowance in total for the current period, by connector',
    labelNames: ['connector'] as const,
    registers: [this.registry],
  });
  readonly connectorUp: Gauge<'connector'>;
  readonly connectorState: Gauge<'connector' | 'state'>;
  readonly outboxDepth: Gauge<'connector' | 'state'>;
  readonly outboxOldestAge: Gauge<'connector' | 'state'>;

  /**
   * @param store read at scrape time for outbox depth (shared by all instances)
   * @param connectorStates read at scrape time, so a block between checks shows at once
   */
  constructor(store?: Store, connectorStates?: () => ReadonlyArray<{ connector: string; state: string }>) {
    // Unprefixed (process_cpu_seconds_total, nodejs_heap_size_used_bytes): the names stock Node.js
    // dashboards and alerts query.
    collectDefaultMetrics({ register: this.registry });
    // One read of the store per scrape, shared by the gauges it feeds: each shows this scrape's
    // figures, whichever of them the registry collects first.
    let inFlight: Promise<{ rows: Awaited<ReturnType<typeof outboxDepth>>; at: number }> | undefined;
    const snapshot = () =>
      (inFlight ??= (store ? outboxDepth(store.db) : Promise.resolve([])).then((rows) => ({ rows, at: Date.now() })).finally(() => (inFlight = undefined)));
    /** Connectors to show: every configured one (so a quiet one has its zeros), and any with operations. */
    const connectorsOf = (rows: ReadonlyArray<{ connector: string }>) => [...new Set([...(connectorStates?.() ?? []).map((c) => c.connector), ...rows.map((r) => r.connector)])].sort();
    this.connectorUp = new Gauge({
      name: 'wa_crm_sync_connector_up',
      help: '1 when the connector is dispatching; 0 when disabled, paused or blocked (wa_crm_sync_connector_state says which)',
      labelNames: ['connector'] as const,
      registers: [this.registry],
      collect() {
        if (!connectorStates) return;
        this.reset();
        for (const s of connectorStates()) this.set({ connector: s.connector }, s.state === 'running' ? 1 : 0);
      },
    });
    this.connectorState = new Gauge({
      name: 'wa_crm_sync_connector_state',
      help: `1 for the state each connector is in, 0 for the others (${CONNECTOR_STATES.join(', ')})`,
      labelNames: ['connector', 'state'] as const,
      registers: [this.registry],
      collect() {
        if (!connectorStates) return;
        this.reset();
        for (const s of connectorStates()) for (const state of CONNECTOR_STATES) this.set({ connector: s.connector, state }, s.state === state ? 1 : 0);
      },
    });
    this.outboxOldestAge = new Gauge({
      name: 'wa_crm_sync_outbox_oldest_age_seconds',
      help: 'Age of the oldest operation by connector and state (pending and in_flight; 0 when there is none)',
      labelNames: ['connector', 'state'] as const,
      registers: [this.registry],
      async collect() {
        if (!store) return;
        const { rows, at } = await snapshot();
        this.reset();
        for (const connector of connectorsOf(rows)) {
          for (const state of AGED_STATES) {
            const row = rows.find((r) => r.connector === connector && r.state === state);
            this.set({ connector, state }, row?.oldestCreatedAt == null ? 0 : Math.max(0, (at - row.oldestCreatedAt) / 1000));
          }
        }
      },
    });
    this.outboxDepth = new Gauge({
      name: 'wa_crm_sync_outbox_operations',
      help: 'Outbox operations by connector and state (every state of every connector, 0 included)',
      labelNames: ['connector', 'state'] as const,
      registers: [this.registry],
      // Read from the store at scrape time: the outbox is shared by all instances. States with no
      // operations stay as 0-valued series, so rate() and absent-series alerts keep working.
      async collect() {
        if (!store) return;
        const { rows } = await snapshot();
        this.reset();
        for (const connector of connectorsOf(rows)) {
          for (const state of OUTBOX_STATES) this.set({ connector, state }, 0);
        }
        for (const row of rows) this.set({ connector: row.connector, state: row.state }, row.count);
      },
    });
  }
}

const CONNECTOR_STATES = ['running', 'paused', 'blocked', 'disabled'] as const;
const OUTBOX_STATES = ['pending', 'in_flight', 'done', 'dead'] as const;
const AGED_STATES = ['pending', 'in_flight'] as const;
