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
    help: "Vendor allowance left (e.g. Salesforce's daily API requests), by connector",
    labelNames: ['connector'] as const,
    registers: [this.registry],
  });
  readonly vendorQuotaMax = new Gauge({
    name: 'wa_crm_sync_vendor_quota_max',
    help: 'Vendor allowance in total for the current period, by connector',
    labelNames: ['connector'] as const,
    registers: [this.registry],
  });
  readonly connectorState: Gauge<'connector' | 'state'>;
  readonly outboxDepth: Gauge<'connector' | 'state'>;
  readonly outboxOldestAge: Gauge<'connector' | 'state'>;

  /**
   * @param store read at scrape time for outbox depth (shared by all instances)
   * @param connectorStates read at scrape time, so a block between checks shows at once
   */
  constructor(store?: Store, connectorStates?: () => ReadonlyArray<{ connector: string; state: string }>) {
    collectDefaultMetrics({ register: this.registry, prefix: 'wa_crm_sync_' });
    this.connectorState = new Gauge({
      name: 'wa_crm_sync_connector_up',
      help: '1 when the connector is dispatching; 0 when disabled or blocked (see the state label)',
      labelNames: ['connector', 'state'] as const,
      registers: [this.registry],
      collect() {
        if (!connectorStates) return;
        this.reset();
        for (const s of connectorStates()) this.set({ connector: s.connector, state: s.state }, s.state === 'running' ? 1 : 0);
      },
    });
    this.outboxOldestAge = new Gauge({
      name: 'wa_crm_sync_outbox_oldest_age_seconds',
      help: 'Age of the oldest operation by connector and state (pending and in_flight)',
      labelNames: ['connector', 'state'] as const,
      registers: [this.registry],
    });
    const age = this.outboxOldestAge;
    this.outboxDepth = new Gauge({
      name: 'wa_crm_sync_outbox_operations',
      help: 'Outbox operations by connector and state',
      labelNames: ['connector', 'state'] as const,
      registers: [this.registry],
      // Read from the store at scrape time: the outbox is shared by all instances.
      async collect() {
        if (!store) return;
        const rows = await outboxDepth(store.db);
        this.reset();
        age.reset();
        const now = Date.now();
        for (const row of rows) {
          this.set({ connector: row.connector, state: row.state }, row.count);
          if ((row.state === 'pending' || row.state === 'in_flight') && row.oldestCreatedAt !== null) {
            age.set({ connector: row.connector, state: row.state }, (now - row.oldestCreatedAt) / 1000);
          }
        }
      },
    });
  }
}
